"""saycan_ros.ros_io.actions.ActionClient on a real rclpy graph: many goals in sequence while an
executor thread spins, as the planner, `saycan demo` and the benchmarks use it.

rclpy 9.1.2's own send_goal_async registers each goal twice: one Future per goal leaks, and a goal
response taken between the two registrations crashes the caller or loses the goal (CI saw
`ValueError: list.remove(x): x not in list` in `saycan demo`). The first test fails on
rclpy's class (301 Futures left after 300 goals); the second shows the fix keeps feedback.
"""
from __future__ import annotations

import sys
from pathlib import Path

from rclpy.action import ActionServer
from rclpy.node import Node

from saycan_msgs.action import ExecuteSkill
from saycan_ros.ros_io.actions import ActionClient

sys.path.insert(0, str(Path(__file__).parent))
from helpers import Spinner, wait_for, wait_future  # noqa: E402


class EchoServer(Node):
    """Succeeds every goal at once, after one feedback message naming the goal's skill."""

    def __init__(self, context):
        super().__init__("echo_skill_server", context=context)
        self.server = ActionServer(self, ExecuteSkill, "echo_skill", self.execute)

    def execute(self, goal_handle):
        feedback = ExecuteSkill.Feedback()
        feedback.phase = goal_handle.request.skill.text
        goal_handle.publish_feedback(feedback)
        goal_handle.succeed()
        result = ExecuteSkill.Result()
        result.success = True
        result.error_msg = goal_handle.request.skill.text
        return result


def goal(text: str) -> ExecuteSkill.Goal:
    g = ExecuteSkill.Goal()
    g.skill.text = text
    return g


def test_a_sequence_of_goals_leaves_no_pending_futures_and_every_result_matches(ros_context):
    server = EchoServer(ros_context)
    user = Node("sequence_user", context=ros_context)
    client = ActionClient(user, ExecuteSkill, "echo_skill")
    with Spinner(ros_context, server, user):
        assert client.wait_for_server(timeout_sec=10.0)
        for i in range(300):
            handle = wait_future(client.send_goal_async(goal(f"goal {i}")), 10.0)
            assert handle.accepted
            response = wait_future(handle.get_result_async(), 10.0)
            assert response.result.success and response.result.error_msg == f"goal {i}"
        assert client._futures == []  # rclpy 9.1.2's own class leaves one per goal
        assert client._pending_goal_requests == {} and client._goal_sequence_number_to_goal_id == {}


def test_feedback_reaches_the_callback_given_with_each_goal(ros_context):
    server = EchoServer(ros_context)
    user = Node("feedback_user", context=ros_context)
    client = ActionClient(user, ExecuteSkill, "echo_skill")
    seen: list[str] = []
    with Spinner(ros_context, server, user):
        assert client.wait_for_server(timeout_sec=10.0)
        for i in range(20):
            handle = wait_future(client.send_goal_async(goal(f"step {i}"),
                                                        feedback_callback=lambda m: seen.append(m.feedback.phase)), 10.0)
            wait_future(handle.get_result_async(), 10.0)
        wait_for(lambda: len(seen) >= 20, 10.0, "the last feedback (a topic: it may trail the result)")
    assert seen == [f"step {i}" for i in range(20)]
