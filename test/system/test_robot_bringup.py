"""System test: launch/<robot>.launch.yaml (robot.launch.yaml with a real robot's topic names and
parameters) drives that robot's driver interface.

The executor and the affordance node start as processes exactly as the robot's launch file starts
them; a fake driver (test/system/fake_drivers.py: a TEST FAKE, not a driver) publishes and
subscribes on the robot's real topic names and types. A 'go to' skill sent to the executor's
action must end in success with the fake's odometry at the location: with a wrong remap, type or
joint name nothing moves (or the torso never rises) and the skill fails.
"""
from __future__ import annotations

import contextlib
import math
import os
import random
import sys
import time
from pathlib import Path

import pytest

from saycan_ros.core.errors import ConfigError

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1] / "node"))
from fake_drivers import STRETCH, TIAGO, FakeDriver, RobotInterface  # noqa: E402
from helpers import Spinner, wait_future  # noqa: E402

pytestmark = pytest.mark.system
LAUNCHED = ("skill_executor_node", "affordance_node")  # the nodes that touch the robot's topics


def launched_nodes(robot: str):
    from saycan_ros.launch_runner import find_launch_file, parse_launch_file

    try:
        nodes = parse_launch_file(find_launch_file(robot))
    except ConfigError as exc:
        pytest.skip(f"the workspace is not built (run make setup): {exc}")
    return [n for n in nodes if n.name in LAUNCHED]


@pytest.fixture
def private_domain():
    """An rclpy context on a ROS domain of its own, for this test and the processes it launches:
    endpoints left behind by earlier in-process tests (an executor's `execute_skill` server among
    them) would otherwise satisfy the client's readiness check before the launched server is seen."""
    import rclpy

    current = os.environ.get("ROS_DOMAIN_ID")
    domain = random.choice([d for d in range(1, 102) if str(d) != current])
    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=domain)
    yield ctx, domain
    ctx.try_shutdown()


def wait_graph(graph, condition, timeout_s: float, what: str) -> None:
    """Wait for `condition`, failing at once (with its log) when a launched node dies."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        graph.check_alive()
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(0.05)


@contextlib.contextmanager
def launched_robot(robot: RobotInterface, private_domain, tmp_path):
    """The robot's launch file's nodes as processes, a fake of its driver and an ExecuteSkill
    client, all spinning, with the executor's action server up: yields (graph, driver, action)."""
    from rclpy.node import Node

    from saycan_msgs.action import ExecuteSkill
    from saycan_ros.launch_runner import LaunchedGraph
    from saycan_ros.ros_io.actions import ActionClient

    ros_context, domain = private_domain
    with LaunchedGraph(launched_nodes(robot.name), log_dir=tmp_path, env={"ROS_DOMAIN_ID": str(domain)}) as graph:
        driver = FakeDriver(robot, ros_context)
        client = Node("bringup_test_client", context=ros_context)
        action = ActionClient(client, ExecuteSkill, "execute_skill")
        try:
            with Spinner(ros_context, driver, client):
                wait_graph(graph, action.server_is_ready, 60, "the executor's action server")
                yield graph, driver, action
        finally:
            action.destroy()
            for node in (driver, client):
                node.destroy_node()


@pytest.mark.parametrize("robot", [STRETCH, TIAGO], ids=lambda r: r.name)
def test_go_to_drives_the_robot_through_its_own_driver_topics(robot: RobotInterface, private_domain, tmp_path):
    from saycan_msgs.action import ExecuteSkill
    from saycan_msgs.msg import Skill
    from saycan_ros.core.kitchen import load_kitchen

    target = load_kitchen().locations["close counter"].pose  # 1.2 m straight ahead of the start
    with launched_robot(robot, private_domain, tmp_path) as (graph, driver, action):
        # every stream of the robot reaches the nodes that need it (a wrong remap shows here)
        consumed = [robot.odom, robot.joint_states, robot.depth[0], robot.depth[1], robot.color[1]]
        wait_graph(graph, lambda: all(driver.count_subscribers(t) >= 1 for t in consumed), 30,
                   f"subscriptions on {consumed}")
        wait_graph(graph, lambda: driver.count_publishers(robot.cmd_vel) >= 1, 30, f"a publisher on {robot.cmd_vel}")
        goal = ExecuteSkill.Goal(skill=Skill(text="go to the close counter", kind="go_to", location="close counter"),
                                 timeout_s=40.0)
        handle = wait_future(action.send_goal_async(goal), 30.0)
        assert handle.accepted
        result = wait_future(handle.get_result_async(), 50.0).result
        x, y, yaw = driver.where()
        detail = (f"{robot.name}: result {result.error_code} '{result.error_msg}', fake at ({x:.2f}, {y:.2f}), "
                  f"{driver.moving_commands} moving cmd_vel, trajectories {driver.trajectories}, "
                  f"refused {driver.errors}; executor log:\n{graph.log_tail('skill_executor_node', 25)}")
        assert result.success, detail
        assert math.hypot(x - target[0], y - target[1]) < 0.1 and abs(yaw - target[2]) < 0.1, detail
        assert not driver.errors, detail
        if robot is TIAGO:  # the lift went up through the torso controller, in torso units
            assert driver.trajectories[0][:2] == ("/torso_controller/joint_trajectory", ["torso_lift_joint"]), detail
            assert driver.joints["torso_lift_joint"] == pytest.approx(0.95 - 0.72, abs=0.011), detail


def test_sigterm_mid_skill_aborts_the_goal_and_leaves_the_base_stopped(private_domain, tmp_path):
    """ros2 launch stops the executor with SIGINT/SIGTERM while a skill drives the base: the client
    must still get the goal's result (aborted, 'shutting down'), the last cmd_vel the driver saw
    must be a stop, and the process must exit 0 without a traceback."""
    import signal

    from action_msgs.msg import GoalStatus

    from saycan_msgs.action import ExecuteSkill
    from saycan_msgs.msg import Skill

    with launched_robot(STRETCH, private_domain, tmp_path) as (graph, driver, action):
        goal = ExecuteSkill.Goal(skill=Skill(text="go to the far counter", kind="go_to", location="far counter"),
                                 timeout_s=60.0)
        handle = wait_future(action.send_goal_async(goal), 30.0)
        assert handle.accepted
        result_future = handle.get_result_async()
        wait_graph(graph, lambda: driver.moving_commands >= 10, 30, "the base driving toward the far counter")
        graph.kill("skill_executor_node", signal.SIGTERM, wait_s=10.0)
        process = graph.processes["skill_executor_node"]
        log = graph.log_tail("skill_executor_node", 40)
        assert process.returncode == 0, log
        assert "Traceback" not in log, log
        response = wait_future(result_future, 5.0)
        assert response.status == GoalStatus.STATUS_ABORTED, (response.status, log)
        assert not response.result.success and "shutting down" in response.result.error_msg, log
        with driver.lock:
            assert driver.twist == (0.0, 0.0), (driver.twist, log)
            x, y, _ = driver.pose
        assert math.hypot(x, y) < 2.0  # stopped on the way, not at the far counter
