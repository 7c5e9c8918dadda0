"""Test fake of llm_scoring_node as its own process, so a test can SIGKILL it mid-call.

Serves `score_skills` from a script: for instruction I with k steps done, the skill
PLANS[I][k] (or "done") scores -0.5 and every other skill -6.0. An instruction containing
"hang" is not answered at step HANG_AT (default 0; -1: never hangs): the call stays open until
the process is killed.
Usage: python fake_score_server.py '{"instruction": ["skill", ...], ...}' [HANG_AT]
"""
from __future__ import annotations

import json
import sys
import threading

import rclpy
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
from rclpy.node import Node

from saycan_msgs.srv import ScoreSkills


def main() -> None:
    plans = json.loads(sys.argv[1])
    hang_at = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    rclpy.init()
    node = Node("fake_score_server")
    never = threading.Event()

    def score(req, res):
        if "hang" in req.instruction and len(req.steps_so_far) == hang_at:
            print("hanging", flush=True)
            never.wait()
        print(f"scoring {len(req.steps_so_far)}", flush=True)
        plan = plans.get(req.instruction, [])
        k = len(req.steps_so_far)
        wanted = plan[k] if k < len(plan) else "done"
        res.success = True
        res.log_likelihoods = [-0.5 if s == wanted else -6.0 for s in req.skills]
        res.mean_log_likelihoods = list(res.log_likelihoods)
        res.token_counts = [3] * len(req.skills)
        return res

    node.create_service(ScoreSkills, "score_skills", score, callback_group=ReentrantCallbackGroup())
    executor = MultiThreadedExecutor(num_threads=2)
    executor.add_node(node)
    print("ready", flush=True)
    try:
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass


if __name__ == "__main__":
    main()
