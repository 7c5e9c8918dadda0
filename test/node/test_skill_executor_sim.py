"""skill_executor_node driving sim_node (the PyBullet kitchen) over the standard robot topics, both
nodes on one in-process rclpy graph: the 'throw away the apple' skills end with the apple in the
trash can (judged from sim/world_state), and a cancelled go-to stops the base."""
from __future__ import annotations

import json
import math
import os
import sys
import time
from pathlib import Path

import pytest
from nav_msgs.msg import Odometry
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from std_msgs.msg import String

from saycan_msgs.action import ExecuteSkill
from saycan_ros.nodes.sim_node import SimNode

sys.path.insert(0, str(Path(__file__).parent))
from helpers import Spinner, wait_for, wait_future  # noqa: E402
from test_skill_executor import Client, executor_node  # noqa: E402

R = ExecuteSkill.Result
# Simulated seconds per wall second. The executor runs on the simulator's /clock (use_sim_time, as
# in sim.launch.yaml), so this only makes the test quicker (SAYCAN_TEST_RTF=1: real time).
RTF = float(os.environ.get("SAYCAN_TEST_RTF", "2.0"))


class Watcher(Client):
    """The test client plus what the simulator reports: ground truth and odometry."""

    def __init__(self, context):
        super().__init__(context)
        self.state: dict | None = None
        self.odom: Odometry | None = None
        latched = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
        self.create_subscription(String, "sim/world_state", self._on_state, latched)
        self.create_subscription(Odometry, "odom", self._on_odom, 10)

    def _on_state(self, msg: String) -> None:
        self.state = json.loads(msg.data)

    def _on_odom(self, msg: Odometry) -> None:
        self.odom = msg


@pytest.fixture
def sim_graph(ros_context):
    sim = SimNode(context=ros_context, parameter_overrides=[
        Parameter("real_time_factor", value=RTF), Parameter("camera_rate_hz", value=5.0),
        Parameter("stats_period_s", value=0.0)])
    node = executor_node(ros_context, use_sim_time=True)
    client = Watcher(ros_context)
    with Spinner(ros_context, sim, node, client, threads=6) as spinner:
        assert client.action.wait_for_server(timeout_sec=30.0)
        wait_for(lambda: client.state is not None and client.odom is not None, 30.0, "the simulator's topics")
        yield sim, node, client, spinner
    node.close()
    for n in (node, sim, client):
        n.destroy_node()
    sim.close()


def test_throw_away_the_apple(sim_graph):
    sim, node, client, _ = sim_graph
    steps = [("go to the close counter", "go_to", "", "close counter"), ("pick up the apple", "pick", "apple", ""),
             ("go to the trash can", "go_to", "", "trash can"), ("put down the apple", "place", "apple", "")]
    timings = []
    for text, kind, obj, location in steps:
        t0 = time.monotonic()
        result = client.run(text, kind, obj, location, wait_s=120.0)
        timings.append(f"{text}: {time.monotonic() - t0:.1f} s")
        assert result.success, f"'{text}' failed: {result.error_code} {result.error_msg}"
        if kind == "pick":
            wait_for(lambda: client.state["held_object"] == "apple", 5.0, "the sim to report the apple held")
    print(f"skill wall times at real-time factor {RTF}: " + "; ".join(timings))
    wait_for(lambda: client.state["objects"]["apple"]["location"] == "trash can", 10.0, "the apple in the trash can")
    assert client.state["held_object"] is None
    assert client.state["objects"]["coke can"]["location"] == "close counter"  # nothing else disturbed
    phases = [p for p, _ in client.feedback]
    assert any("closing the gripper" in p for p in phases) and any("opening the gripper" in p for p in phases)
    assert all(0.0 <= p <= 1.0 for _, p in client.feedback)


def test_pick_without_the_object_in_view_fails_cleanly(sim_graph):
    """At the start pose the close counter's objects are far off; the banana is on the far counter."""
    sim, node, client, _ = sim_graph
    result = client.run("pick up the banana", "pick", "banana", wait_s=60.0)
    assert result.error_code == R.OBJECT_NOT_FOUND, result.error_msg
    result = client.run("put down the banana", "place", "banana", wait_s=30.0)
    assert result.error_code == R.PRECONDITION_FAILED, result.error_msg  # holding nothing


def test_cancel_stops_the_base(sim_graph):
    sim, node, client, _ = sim_graph
    handle = client.send("go to the far counter", "go_to", location="far counter")
    assert handle is not None
    wait_for(lambda: abs(client.odom.twist.twist.angular.z) > 0.05 or abs(client.odom.twist.twist.linear.x) > 0.05,
             30.0, "the base to move")
    result = wait_future(handle.cancel_goal_async(), 10.0)
    assert len(result.goals_canceling) == 1
    final = wait_future(handle.get_result_async(), 10.0)
    assert final.status == 5  # GoalStatus.STATUS_CANCELED
    assert final.result.error_code == R.CANCELED and not final.result.success
    t_cancel = time.monotonic()
    with client.lock:
        assert client.twists[-1][1:] == (0.0, 0.0)  # the executor's last command: stop
    # The base stops at once (the sim's 0.5 s cmd_vel watchdog would be slower).
    wait_for(lambda: client.odom.twist.twist.linear.x == 0.0 and client.odom.twist.twist.angular.z == 0.0
             and client.odom.header.stamp.sec + client.odom.header.stamp.nanosec * 1e-9 > 0, 2.0, "the base to stop")
    pose = client.state["robot_pose"]
    time.sleep(1.0)
    wait_for(lambda: client.state is not None, 1.0)
    moved = math.hypot(client.state["robot_pose"][0] - pose[0], client.state["robot_pose"][1] - pose[1])
    assert moved < 0.02
    assert time.monotonic() - t_cancel < 5.0
    assert client.run("done", "done", wait_s=20.0).success  # the executor serves the next goal


def test_a_paused_simulation_pauses_the_executors_clock(sim_graph):
    """A loaded machine can starve the simulator for seconds (CI saw 2.7 s). On the simulated clock
    that is no time at all: no sensor timeout, no stall, the skill carries on once physics resumes."""
    sim, node, client, spinner = sim_graph
    handle = client.send("go to the table", "go_to", location="table")
    assert handle is not None
    wait_for(lambda: abs(client.odom.twist.twist.angular.z) > 0.05 or abs(client.odom.twist.twist.linear.x) > 0.05,
             30.0, "the base to move")
    sensor_timeout = node.get_parameter("sensor_timeout_s").value
    spinner.executor.remove_node(sim)  # physics, odom, joint_states and /clock stop
    try:
        time.sleep(sensor_timeout + 1.5)
    finally:
        spinner.executor.add_node(sim)
    final = wait_future(handle.get_result_async(), 120.0)
    assert final.result.success, f"{final.result.error_code} {final.result.error_msg}"
    wait_for(lambda: client.state["robot_location"] == "table", 10.0, "the robot at the table")
