"""`saycan demo`: the whole SayCan loop in the simulated kitchen, explained step by step.

Brings up the sim launch file's nodes as processes, sends the instruction as an
ExecuteInstruction goal, prints every decision as a table (LLM log-likelihood, affordance,
combined score), judges success from the simulator's final world state, writes the episode
(JSONL + one score plot per step) and shuts everything down.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any, Sequence

from saycan_ros.core.episode import EpisodeRecord, SkillOutcome, StepRecord
from saycan_ros.core.errors import SayCanError
from saycan_ros.core.scoring import Candidate

DEFAULT_INSTRUCTION = "throw away the apple"


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="saycan demo", description=__doc__.splitlines()[0])
    parser.add_argument("instruction", nargs="?", default=DEFAULT_INSTRUCTION, help=f"what the robot should do (default: '{DEFAULT_INSTRUCTION}')")
    parser.add_argument("--scene", default="default", help="start state from config/kitchen.yaml scenes (default: default)")
    parser.add_argument("--model", default="", help="language model: a local Hugging Face folder or .gguf file (default: embedded SmolLM2-135M)")
    parser.add_argument("--max-steps", type=bounded(int, 0, 1000), default=0, help="step limit, 1..1000 (default 0: the planner's parameter)")
    parser.add_argument("--top-k", type=bounded(int, 1, 57), default=5, help="candidates shown per step (default 5)")
    parser.add_argument("--out", default="", help="folder for the episode record (default: runs/demo-<time>)")
    parser.add_argument("--timeout", type=bounded(float, 1, 86400), default=900.0, help="give up after this many seconds")
    parser.add_argument("--startup-timeout", type=bounded(float, 1, 3600), default=240.0, help="seconds to wait for the nodes to come up")
    return parser.parse_args(argv)


def bounded(kind: type, low: float, high: float):
    """An argparse type that refuses values outside [low, high] before anything starts."""
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{text}' is not a {kind.__name__}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is outside {low}..{high}")
        return value
    return parse


def main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    from saycan_ros.core.prompt import normalize_instruction
    from saycan_ros.launch_runner import LaunchedGraph, find_launch_file, parse_launch_file

    instruction = normalize_instruction(args.instruction)  # refuse a bad instruction before starting anything
    out = Path(args.out or Path(os.environ.get("SAYCAN_ROOT", ".")) / "runs" / f"demo-{datetime.now():%Y%m%d-%H%M%S}")
    nodes = parse_launch_file(find_launch_file("sim"), {"scene": args.scene, "model": args.model, "top_k": str(args.top_k)})
    print(f"SayCan demo: \"{instruction}\"")
    print(f"  starting {len(nodes)} nodes as processes: {', '.join(n.name for n in nodes)}")
    print(f"  node logs: {out / 'logs'}")
    started = time.monotonic()
    with LaunchedGraph(nodes, log_dir=out / "logs") as graph:
        client = DemoClient(graph, top_k=args.top_k)
        try:
            client.wait_until_ready(args.startup_timeout)
            print(f"  graph ready in {time.monotonic() - started:.0f} s\n")
            episode, result = client.execute(instruction, args.max_steps, args.timeout)
            world = client.world_state()
        finally:
            client.close()
            print("\n  shutting the nodes down (SIGINT, then SIGTERM, then SIGKILL)")
    judgement = judge(instruction, episode, world)
    episode.judgement.update(judgement)
    report(episode, result, judgement, out, time.monotonic() - started, args.top_k)
    return 0 if judgement["success"] is not False else 1


class DemoClient:
    """An rclpy client node spinning in a background thread."""

    def __init__(self, graph, top_k: int):
        import rclpy
        from rclpy.action import ActionClient
        from rclpy.executors import MultiThreadedExecutor
        from rclpy.qos import DurabilityPolicy, QoSProfile
        from std_msgs.msg import String

        from saycan_msgs.action import ExecuteInstruction
        from saycan_msgs.msg import PlanStatus
        from saycan_msgs.srv import GetAffordances, ScoreSkills

        self.graph, self.top_k = graph, top_k
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node("saycan_demo", context=self.context)
        self.action = ActionClient(self.node, ExecuteInstruction, "execute_instruction")
        self.afford = self.node.create_client(GetAffordances, "get_affordances")
        self.score = self.node.create_client(ScoreSkills, "score_skills")
        self._world: dict[str, Any] | None = None
        self._outcomes: dict[int, str] = {}
        latched = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL)
        self.node.create_subscription(String, "sim/world_state", self._on_world, latched)
        self.node.create_subscription(PlanStatus, "saycan/plan", self._on_plan, 50)
        self.executor = MultiThreadedExecutor(num_threads=3, context=self.context)
        self.executor.add_node(self.node)
        self._spin = threading.Thread(target=self.executor.spin, daemon=True)
        self._spin.start()
        self._GetAffordances, self._ExecuteInstruction = GetAffordances, ExecuteInstruction

    def _on_world(self, msg) -> None:
        try:
            self._world = json.loads(msg.data)
        except ValueError:
            pass

    def _on_plan(self, msg) -> None:
        if msg.detail:
            self._outcomes[msg.step_index] = msg.detail

    def world_state(self) -> dict[str, Any] | None:
        time.sleep(0.6)  # one more world_state period so the final placement is in
        return self._world

    def wait_until_ready(self, timeout_s: float) -> None:
        """Every node answers and the camera is flowing: a probe GetAffordances succeeds."""
        deadline = time.monotonic() + timeout_s
        stages = [("planner action server", lambda: self.action.server_is_ready()),
                  ("language model service", lambda: self.score.service_is_ready()),
                  ("simulator world state", lambda: self._world is not None),
                  ("affordances from the camera", self._affordance_probe)]
        for label, ready in stages:
            print(f"  waiting for {label} ...", flush=True)
            while not ready():
                self.graph.check_alive()
                if time.monotonic() > deadline:
                    raise SayCanError(f"the graph did not come up within {timeout_s:.0f} s (waiting for {label}); see the node logs")
                time.sleep(0.25)

    def _affordance_probe(self) -> bool:
        if not self.afford.service_is_ready():
            return False
        future = self.afford.call_async(self._GetAffordances.Request(skills=["done"]))
        done = threading.Event()
        future.add_done_callback(lambda _: done.set())
        return done.wait(5.0) and future.result() is not None and future.result().success

    def execute(self, instruction: str, max_steps: int, timeout_s: float):
        episode = EpisodeRecord(instruction)
        printed: set[int] = set()
        last_phase = [""]

        def on_feedback(msg) -> None:
            fb = msg.feedback
            if fb.phase == "chosen" and fb.step_index not in printed:
                printed.add(fb.step_index)
                self._finish_previous(episode)
                step = StepRecord(fb.step_index, [Candidate(c.skill, c.llm_log_likelihood, c.affordance, c.combined)
                                                  for c in fb.candidates], fb.chosen_skill)
                episode.steps.append(step)
                print_step(step, self.top_k)
            elif fb.phase and fb.phase != "chosen" and fb.phase != last_phase[0]:
                print(f"      ... {fb.phase}", flush=True)
            last_phase[0] = fb.phase

        goal = self._ExecuteInstruction.Goal(instruction=instruction, max_steps=max_steps)
        send = self.action.send_goal_async(goal, feedback_callback=on_feedback)
        handle = _wait(send, 30.0, "the planner did not accept the goal")
        if not handle.accepted:
            raise SayCanError("the planner rejected the goal (is another instruction running?)")
        response = _wait(handle.get_result_async(), timeout_s, f"no result within {timeout_s:.0f} s", self.graph)
        time.sleep(0.3)  # the last PlanStatus may trail the result
        self._finish_previous(episode)
        result = response.result
        episode.status = "done" if result.success else _code_name(result.error_code).lower()
        episode.error_msg = result.error_msg
        episode.finished_at = time.time()
        return episode, result

    def _finish_previous(self, episode: EpisodeRecord) -> None:
        """Attach the executor's outcome (from saycan/plan) to the steps that lack one, and print it."""
        for step in episode.steps:
            if step.outcome is None and step.index in self._outcomes:
                detail = self._outcomes[step.index]
                step.outcome = SkillOutcome(detail == "ok", 0, detail)
                print(f"      -> {'succeeded' if detail == 'ok' else detail}", flush=True)

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        self.context.try_shutdown()


def _wait(future, timeout_s: float, message: str, graph=None):
    done = threading.Event()
    future.add_done_callback(lambda _: done.set())
    deadline = time.monotonic() + timeout_s
    while not done.wait(0.5):
        if graph is not None:
            graph.check_alive()
        if time.monotonic() > deadline:
            raise SayCanError(message)
    return future.result()


def _code_name(code: int) -> str:
    from saycan_msgs.action import ExecuteInstruction

    names = {getattr(ExecuteInstruction.Result, n): n for n in dir(ExecuteInstruction.Result)
             if n.isupper() and isinstance(getattr(ExecuteInstruction.Result, n), int)}
    return names.get(code, str(code))


def print_step(step: StepRecord, top_k: int) -> None:
    best_llm = max(step.candidates, key=lambda c: c.llm)
    print(f"  step {step.index}: chose \"{step.chosen}\"")
    print(f"    {'skill':<28} {'LLM log p':>10} {'affordance':>11} {'combined':>9}")
    for c in step.candidates:  # top-k by combined score, plus the LLM's favourite if it ranked lower
        mark = ">" if c.skill == step.chosen else " "
        print(f"  {mark} {c.skill:<28} {c.llm:>10.2f} {c.affordance:>11.2f} {c.combined:>9.2f}")
    chosen = step.candidates[0]
    if best_llm.skill != chosen.skill:
        print(f"    why: the language model liked \"{best_llm.skill}\" best (log p {best_llm.llm:.2f}), but its "
              f"affordance is {best_llm.affordance:.2f}; \"{chosen.skill}\" has the best product.")
    else:
        print(f"    why: most useful for the instruction (highest LLM score) and feasible (affordance {chosen.affordance:.2f}).")
    sys.stdout.flush()


def judge(instruction: str, episode: EpisodeRecord, world: dict[str, Any] | None) -> dict[str, Any]:
    """Success from the simulator's final world state against the instruction's goal, when known."""
    verdict: dict[str, Any] = {"planner_status": episode.status}
    if world is None:
        verdict.update(success=False, reason="no world state from the simulator")
        return verdict
    verdict["final_objects"] = {n: ("gripper" if o.get("held") else o.get("location"))
                                for n, o in world.get("objects", {}).items()}
    verdict["holding"] = world.get("held_object")
    goal = _known_goal(instruction)
    if goal is None:  # nothing to check the world against: say so rather than claim success
        verdict.update(success=None if episode.status == "done" else False,
                       reason="no goal is known for this instruction (not in config/eval/*.yaml); "
                              + ("the planner finished with 'done'" if episode.status == "done" else "the planner did not finish"))
        return verdict
    from saycan_ros.eval.episodes import goal_satisfied, state_from_world  # judged like the evaluation harness

    ok, failed = goal_satisfied(goal, state_from_world(world))
    verdict.update(success=bool(ok and episode.status == "done"), goal=str(goal), unmet=[str(f) for f in failed],
                   reason="goal checked on the simulator's final world state")
    return verdict


def _known_goal(instruction: str):
    """The goal of an episode with this instruction in the package's episode sets, if any."""
    from saycan_ros.core.kitchen import config_dir
    from saycan_ros.eval.episodes import load_episodes

    for path in sorted((config_dir() / "eval").glob("*.yaml")):
        try:
            for ep in load_episodes(path):
                if " ".join(ep.instruction.lower().split()) == instruction.lower():
                    return ep.goal
        except SayCanError:
            continue
    return None


def report(episode: EpisodeRecord, result, judgement: dict[str, Any], out: Path, wall_s: float, top_k: int) -> None:
    from saycan_ros.plots import plot_step

    print()
    print(f"  planner: {'finished with done' if result.success else _code_name(result.error_code)}"
          + (f" ({result.error_msg})" if result.error_msg else ""))
    print(f"  executed: {', '.join(result.executed_steps) or 'nothing'}")
    finals = judgement.get("final_objects", {})
    if finals:
        print("  final world state: " + "; ".join(f"{n}: {at or 'floor/robot'}" for n, at in sorted(finals.items()))
              + f"; holding: {judgement.get('holding') or 'nothing'}")
    if judgement.get("unmet"):
        print(f"  goal not met: {', '.join(judgement['unmet'])}")
    verdict = {True: "yes", False: "no", None: "not judged"}[judgement["success"]]
    print(f"  SUCCESS: {verdict} ({judgement['reason']})")
    path = episode.write_jsonl(out / "episode.jsonl", top_k=top_k)
    plots = [plot_step(step, out / f"step_{step.index:02d}.png", episode.instruction) for step in episode.steps]
    print(f"  episode record: {path}  (+ {len(plots)} score plot(s))")
    print(f"  wall time: {wall_s:.0f} s")
