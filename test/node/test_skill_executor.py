"""skill_executor_node on a real rclpy graph, without a robot: typed errors for bad goals, no sensor
data, one goal at a time, parameter validation. (With the simulator: test_skill_executor_sim.py.)"""
from __future__ import annotations

import gc
import sys
import threading
import time
from pathlib import Path

import pytest
from geometry_msgs.msg import Twist
from nav_msgs.msg import Odometry
from rclpy.node import Node
from rclpy.parameter import Parameter
from sensor_msgs.msg import JointState
from std_msgs.msg import Bool
from std_srvs.srv import Trigger

from saycan_msgs.action import ExecuteSkill
from saycan_msgs.msg import Skill
from saycan_ros.core.errors import ConfigError
from saycan_ros.nodes.skill_executor_node import SkillExecutorNode
from saycan_ros.ros_io.actions import ActionClient
from saycan_ros.ros_io.qos import E_STOP_QOS
from saycan_ros.skills.behaviours import HeldObject
from saycan_ros.skills.types import ErrorCode

sys.path.insert(0, str(Path(__file__).parent))
from helpers import Spinner, wait_for, wait_future  # noqa: E402

R = ExecuteSkill.Result


class Client(Node):
    """The planner's side: sends ExecuteSkill goals, records feedback and cmd_vel."""

    def __init__(self, context):
        super().__init__("executor_test_client", context=context)
        self.action = ActionClient(self, ExecuteSkill, "execute_skill")
        self.feedback: list[tuple[str, float]] = []
        self.twists: list[tuple[float, float, float]] = []
        self.lock = threading.Lock()
        self.create_subscription(Twist, "cmd_vel", self._on_twist, 10)

    def _on_twist(self, msg: Twist) -> None:
        with self.lock:
            self.twists.append((time.monotonic(), msg.linear.x, msg.angular.z))

    def send(self, text: str, kind: str = "", obj: str = "", location: str = "", timeout_s: float = 0.0):
        """The accepted goal handle (None when rejected)."""
        goal = ExecuteSkill.Goal(skill=Skill(text=text, kind=kind, object=obj, location=location), timeout_s=timeout_s)
        handle = wait_future(self.action.send_goal_async(
            goal, feedback_callback=lambda fb: self.feedback.append((fb.feedback.phase, fb.feedback.progress))), 30.0)
        return handle if handle.accepted else None

    def run(self, *args, wait_s: float = 60.0, **kwargs):
        handle = self.send(*args, **kwargs)
        assert handle is not None, "goal rejected"
        return wait_future(handle.get_result_async(), wait_s).result


def executor_node(ctx, **params) -> SkillExecutorNode:
    overrides = [Parameter(k, value=v) for k, v in params.items()]
    return SkillExecutorNode(context=ctx, parameter_overrides=overrides)


@pytest.fixture
def graph(ros_context):
    node = executor_node(ros_context, sensor_timeout_s=1.0)
    client = Client(ros_context)
    with Spinner(ros_context, node, client):
        assert client.action.wait_for_server(timeout_sec=30.0)
        yield node, client
    node.close()
    node.destroy_node()
    client.destroy_node()


def test_error_codes_match_the_action_definition():
    for code in ErrorCode:
        assert getattr(R, code.name) == code.value


@pytest.mark.parametrize("text, kind, obj, location, code, words", [
    ("", "go_to", "", "table", R.UNKNOWN_SKILL, "empty"),
    ("fly to the moon", "fly", "", "", R.UNKNOWN_SKILL, "unknown skill kind 'fly'"),
    ("pick up the piano", "pick", "piano", "", R.UNKNOWN_SKILL, "unknown object 'piano'"),
    ("go to the garage", "go_to", "", "garage", R.UNKNOWN_SKILL, "unknown location 'garage'"),
    ("make coffee", "", "", "", R.UNKNOWN_SKILL, "not a skill of the library"),
])
def test_bad_goals_get_typed_errors_and_the_node_keeps_serving(graph, text, kind, obj, location, code, words):
    node, client = graph
    result = client.run(text, kind, obj, location, wait_s=20.0)
    assert not result.success and result.error_code == code
    assert words in result.error_msg
    ok = client.run("done", "done", wait_s=20.0)  # still serving
    assert ok.success and ok.error_code == R.NONE


def test_done_succeeds_from_text_alone_and_stops_the_base(graph):
    node, client = graph
    result = client.run("done", wait_s=20.0)
    assert result.success
    wait_for(lambda: client.twists, 10.0, "a cmd_vel")
    assert client.twists[-1][1:] == (0.0, 0.0)


def test_a_single_threaded_executor_serves_a_sequence_of_goals_and_a_cancel(ros_context):
    """The node's own process spins it on one thread (run_node: SingleThreadedExecutor): the execute
    callback awaits the outcome that the control timer sets, so goals after goals, a failure and a
    cancel mid-skill all end, and the node keeps serving until it stops."""
    from rclpy.executors import SingleThreadedExecutor

    node = executor_node(ros_context, sensor_timeout_s=3.0)
    client = Client(ros_context)
    single = SingleThreadedExecutor(context=ros_context)
    single.add_node(node)
    spinning = threading.Thread(target=single.spin, daemon=True)
    spinning.start()
    try:
        with Spinner(ros_context, client):
            assert client.action.wait_for_server(timeout_sec=30.0)
            assert client.run("done", wait_s=20.0).success
            no_odom = client.run("go to the table", "go_to", location="table", wait_s=20.0)
            assert no_odom.error_code == R.NO_SENSOR_DATA and "odom" in no_odom.error_msg
            bad = client.run("pick up the piano", "pick", "piano", wait_s=20.0)
            assert bad.error_code == R.UNKNOWN_SKILL and "piano" in bad.error_msg  # answered, nothing moved
            handle = client.send("go to the table", "go_to", location="table")
            assert handle is not None
            time.sleep(0.5)  # waiting for odometry: running, not finished
            assert len(wait_future(handle.cancel_goal_async(), 10.0).goals_canceling) == 1
            final = wait_future(handle.get_result_async(), 10.0)
            assert final.status == 5 and final.result.error_code == R.CANCELED  # STATUS_CANCELED
            assert client.run("done", wait_s=20.0).success  # still serving
            # Shutting down mid-skill (run_node: stop(), then spin until what it returns is done):
            # the client gets an abort with the reason, not silence.
            handle = client.send("go to the table", "go_to", location="table")
            assert handle is not None
            time.sleep(0.5)
            reported = node.stop()
            assert reported is not None
            final = wait_future(handle.get_result_async(), 10.0)
            assert final.status == 6 and "shutting down" in final.result.error_msg  # STATUS_ABORTED
            assert reported.done()
            assert client.send("done") is None  # no new goals once stopped
    finally:
        node.close()
        single.remove_node(node)
        time.sleep(0.2)
        single.shutdown()
        spinning.join(timeout=5)
        node.destroy_node()
        client.destroy_node()


def test_no_odometry_gives_no_sensor_data_not_a_hang(graph):
    node, client = graph
    t0 = time.monotonic()
    result = client.run("go to the table", "go_to", location="table", wait_s=20.0)
    assert result.error_code == R.NO_SENSOR_DATA, result.error_msg
    assert "odom" in result.error_msg
    assert time.monotonic() - t0 < 10.0


def test_no_camera_gives_no_sensor_data(ros_context):
    """Odometry and joints arrive, images never do: 'find' ends with NO_SENSOR_DATA."""
    node = executor_node(ros_context, sensor_timeout_s=1.0, settle_s=0.0)
    client = Client(ros_context)
    robot = Node("fake_robot_state", context=ros_context)
    odom_pub = robot.create_publisher(Odometry, "odom", 10)
    joint_pub = robot.create_publisher(JointState, "joint_states", 10)

    def publish() -> None:
        odom = Odometry()
        odom.pose.pose.orientation.w = 1.0
        odom_pub.publish(odom)
        js = JointState(name=["joint_lift", "joint_arm", "joint_gripper_left", "joint_gripper_right"],
                        position=[0.95, 0.0, 0.06, 0.06])
        joint_pub.publish(js)

    robot.create_timer(0.05, publish)
    try:
        with Spinner(ros_context, node, client, robot):
            assert client.action.wait_for_server(timeout_sec=30.0)
            result = client.run("find an apple", "find", "apple", wait_s=20.0)
            assert result.error_code == R.NO_SENSOR_DATA, result.error_msg
            assert "camera" in result.error_msg
            assert any("find apple" in phase for phase, _ in client.feedback)
    finally:
        node.close()
        for n in (node, client, robot):
            n.destroy_node()


def test_second_goal_is_rejected_while_one_runs(graph):
    node, client = graph
    first = client.send("go to the table", "go_to", location="table")  # waits for odom (none) ~1 s
    assert first is not None
    second = client.send("done", "done")
    assert second is None  # rejected: one skill at a time
    result = wait_future(first.get_result_async(), 20.0).result
    assert result.error_code == R.NO_SENSOR_DATA
    assert client.run("done", "done", wait_s=20.0).success  # free again


def test_reset_forgets_the_gripper_beliefs_but_not_mid_skill(ros_context):
    """~/reset (after a simulator reset or a hand-over): the last gripper command and the believed
    held object are dropped, so holding is judged from the fingers alone; refused while a skill runs."""
    node = executor_node(ros_context, sensor_timeout_s=4.0)
    client = Client(ros_context)
    reset = client.create_client(Trigger, "skill_executor_node/reset")
    try:
        with Spinner(ros_context, node, client):
            assert client.action.wait_for_server(timeout_sec=30.0)
            assert reset.wait_for_service(timeout_sec=20.0)
            node.skills.gripper_target, node.skills.held = 0.06, HeldObject("apple", 0.03)
            running = client.send("go to the table", "go_to", location="table")  # no odom: fails after 4 s
            assert running is not None
            refused = wait_future(reset.call_async(Trigger.Request()), 10.0)
            assert not refused.success and "running" in refused.message
            assert node.skills.held is not None
            assert wait_future(running.get_result_async(), 20.0).result.error_code == R.NO_SENSOR_DATA
            done = wait_future(reset.call_async(Trigger.Request()), 10.0)
            assert done.success
            assert node.skills.gripper_target is None and node.skills.held is None
    finally:
        node.close()
        node.destroy_node()
        client.destroy_node()


def test_e_stop_latches_motion_off_until_released_and_limits_hold_whatever_is_commanded(ros_context):
    """A 'go to' drives (fake odometry that never moves: it keeps driving); e_stop true stops the
    base at once and ends the skill with EMERGENCY_STOP, new skills are refused until e_stop false.
    Every cmd_vel respects the node's speed limit and starts with the acceleration limit."""
    node = executor_node(ros_context, sensor_timeout_s=2.0, max_linear_speed=0.2, max_angular_speed=0.5,
                         max_linear_accel=0.5, max_angular_accel=1.0)
    client = Client(ros_context)
    robot = Node("fake_robot_state", context=ros_context)
    odom_pub = robot.create_publisher(Odometry, "odom", 10)
    joint_pub = robot.create_publisher(JointState, "joint_states", 10)
    stop_pub = robot.create_publisher(Bool, "e_stop", E_STOP_QOS)  # latched: the executor subscribes so

    def publish() -> None:
        odom = Odometry()
        odom.pose.pose.position.x, odom.pose.pose.position.y = 1.0, 0.0
        odom.pose.pose.orientation.w = 1.0
        odom_pub.publish(odom)
        joint_pub.publish(JointState(name=["joint_lift", "joint_arm", "joint_gripper_left", "joint_gripper_right"],
                                     position=[node.config.travel_lift, 0.0, 0.06, 0.06]))  # arm stowed

    robot.create_timer(0.05, publish)
    try:
        with Spinner(ros_context, node, client, robot):
            assert client.action.wait_for_server(timeout_sec=30.0)
            wait_for(lambda: stop_pub.get_subscription_count() > 0, 20, "the executor's e_stop subscription")
            running = client.send("go to the far counter", "go_to", location="far counter", timeout_s=60.0)
            assert running is not None
            wait_for(lambda: any(abs(v) > 0.01 or abs(w) > 0.01 for _, v, w in client.twists), 20,
                     f"the base moving (phases: {client.feedback[-3:]})")
            time.sleep(1.0)
            moving = [(v, w) for _, v, w in client.twists]
            assert max(abs(v) for v, _ in moving) <= 0.2 + 1e-6 and max(abs(w) for _, w in moving) <= 0.5 + 1e-6
            first = next((v, w) for v, w in moving if abs(v) > 1e-6 or abs(w) > 1e-6)
            # one or two control ticks of acceleration at most (1 rad/s^2, 0.5 m/s^2)
            assert abs(first[1]) <= 1.0 * 2.0 / node.config.control_rate_hz + 1e-6
            engaged = time.monotonic()
            stop_pub.publish(Bool(data=True))
            result = wait_future(running.get_result_async(), 10.0).result
            assert result.error_code == R.EMERGENCY_STOP and "emergency stop" in result.error_msg
            time.sleep(0.3)
            with client.lock:
                after = [(t, v, w) for t, v, w in client.twists if t > engaged]
            assert after and after[-1][1:] == (0.0, 0.0)
            zero_at = next(t for t, v, w in after if v == 0.0 and w == 0.0)
            assert zero_at - engaged < 0.5  # a zero twist at once, not at the skill's end
            assert all(v == 0.0 and w == 0.0 for t, v, w in after if t > engaged + 0.2)
            refused = client.run("go to the table", "go_to", location="table", wait_s=10.0)
            assert refused.error_code == R.EMERGENCY_STOP and "release" in refused.error_msg
            stop_pub.publish(Bool(data=False))
            wait_for(lambda: not node.guard.e_stopped, 10, "the latch released")
            assert client.run("done", "done", wait_s=20.0).success
    finally:
        node.close()
        for n in (node, client, robot):
            n.destroy_node()


def test_bad_parameters_give_one_clear_error(ros_context):
    with pytest.raises(ConfigError, match="control_rate_hz"):
        executor_node(ros_context, control_rate_hz=0.0)
    with pytest.raises(ConfigError, match="'garage'"):
        executor_node(ros_context, search_order=["table", "garage"])


def test_robot_joint_names_units_and_stamped_cmd_vel(ros_context):
    """A TIAGo-like robot: the lift is torso_lift_joint with an offset, no telescoping joint, a
    TwistStamped cmd_vel. 'go to' raises the lift through the robot's joint name and units, then
    drives with stamped twists in the configured frame."""
    from geometry_msgs.msg import TwistStamped
    from trajectory_msgs.msg import JointTrajectory

    names = ["torso_lift_joint", "", "gripper_left_finger_joint", "gripper_right_finger_joint"]
    node = executor_node(ros_context, sensor_timeout_s=2.0, cmd_vel_stamped=True, base_frame="base_footprint",
                         joint_names=names, joint_scales=[1.0, 1.0, 1.0, 1.0], joint_offsets=[-0.72, 0.0, 0.0, 0.0])
    robot = Node("fake_tiago", context=ros_context)  # also the action client (Client would subscribe Twist)
    action = ActionClient(robot, ExecuteSkill, "execute_skill")
    torso = [0.1]  # our lift 0.82: below travel height
    sent: list[JointTrajectory] = []
    stamped: list[TwistStamped] = []
    odom_pub = robot.create_publisher(Odometry, "odom", 10)
    joint_pub = robot.create_publisher(JointState, "joint_states", 10)

    def on_trajectory(msg: JointTrajectory) -> None:
        sent.append(msg)
        torso[0] = msg.points[-1].positions[0]  # reached at once

    robot.create_subscription(JointTrajectory, "arm_controller/joint_trajectory", on_trajectory, 10)
    robot.create_subscription(TwistStamped, "cmd_vel", stamped.append, 10)

    def publish() -> None:
        odom = Odometry()
        odom.pose.pose.orientation.w = 1.0
        odom_pub.publish(odom)
        joint_pub.publish(JointState(name=["wheel_left_joint", "torso_lift_joint", "arm_1_joint",
                                           "gripper_left_finger_joint", "gripper_right_finger_joint"],
                                     position=[3.0, torso[0], 0.2, 0.04, 0.04]))

    robot.create_timer(0.05, publish)
    try:
        with Spinner(ros_context, node, robot):
            assert action.wait_for_server(timeout_sec=30.0)
            goal = ExecuteSkill.Goal(skill=Skill(text="go to the far counter", kind="go_to", location="far counter"))
            running = wait_future(action.send_goal_async(goal), 30.0)
            assert running.accepted
            wait_for(lambda: any(abs(m.twist.linear.x) > 0.01 or abs(m.twist.angular.z) > 0.01 for m in stamped), 20,
                     "stamped twists that move")
            assert sent and list(sent[0].joint_names) == ["torso_lift_joint"]  # no arm joint on this robot
            assert sent[0].points[-1].positions[0] == pytest.approx(node.config.travel_lift - 0.72)
            assert all(m.header.frame_id == "base_footprint" for m in stamped)
            wait_future(running.cancel_goal_async(), 10.0)
            assert wait_future(running.get_result_async(), 10.0).result.error_code == R.CANCELED
    finally:
        node.close()
        action.destroy()
        for n in (node, robot):
            n.destroy_node()


@pytest.mark.parametrize("params, words", [
    ({"joint_names": ["a", "b", "c"]}, "needs 4 entries"),
    ({"joint_names": ["", "b", "c", "d"]}, "'joint_lift' must map to a robot joint"),
    ({"joint_names": ["a", "b", "c", "c"]}, "twice"),
    ({"joint_scales": [1.0, 0.0, 1.0, 1.0]}, "must not contain 0"),
    ({"base_frame": " "}, "base_frame"),
])
def test_bad_robot_mapping_gives_one_clear_error(ros_context, params, words):
    with pytest.raises(ConfigError, match=words):
        executor_node(ros_context, **params)


def test_dry_run_checks_each_skill_and_succeeds_without_moving(ros_context):
    """No odometry, no camera: a real run would end with NO_SENSOR_DATA; a dry run succeeds at
    once, says so, sends no motion, and still gives bad skills their typed errors."""
    node = executor_node(ros_context, dry_run=True, sensor_timeout_s=1.0)
    client = Client(ros_context)
    try:
        with Spinner(ros_context, node, client):
            assert client.action.wait_for_server(timeout_sec=30.0)
            started = time.monotonic()
            result = client.run("go to the table", "go_to", location="table", wait_s=20.0)
            assert result.success and result.error_code == R.NONE and "dry run" in result.error_msg
            assert time.monotonic() - started < 5.0
            assert client.run("pick up the apple", "pick", obj="apple", wait_s=20.0).success
            bad = client.run("pick up the piano", "pick", obj="piano", wait_s=20.0)
            assert bad.error_code == R.UNKNOWN_SKILL and "piano" in bad.error_msg
            time.sleep(0.3)
        with client.lock:
            assert all(v == 0.0 and w == 0.0 for _, v, w in client.twists)
    finally:
        node.close()
        node.destroy_node()
        client.destroy_node()


def test_a_restarted_executor_starts_stopped_while_the_e_stop_is_latched(ros_context):
    """e_stop true is published once, while the first executor runs; that executor is destroyed and
    a new one created (a restart): it hears the latched true at once and refuses skills until false."""
    operator = Node("operator_console", context=ros_context)
    stop_pub = operator.create_publisher(Bool, "e_stop", E_STOP_QOS)
    client = Client(ros_context)
    first = executor_node(ros_context, dry_run=True)
    with Spinner(ros_context, first, operator):
        wait_for(lambda: stop_pub.get_subscription_count() > 0, 20, "the executor's e_stop subscription")
        stop_pub.publish(Bool(data=True))
        wait_for(lambda: first.guard.e_stopped, 10, "the first executor's latch")
    first.close()
    first.destroy_node()
    second = executor_node(ros_context, dry_run=True)
    try:
        with Spinner(ros_context, second, client, operator):
            assert client.action.wait_for_server(timeout_sec=30.0)
            wait_for(lambda: second.guard.e_stopped, 10, "the restarted executor to hear the latched e_stop")
            refused = client.run("go to the table", "go_to", location="table", wait_s=20.0)
            assert refused.error_code == R.EMERGENCY_STOP and "release" in refused.error_msg
            stop_pub.publish(Bool(data=False))
            wait_for(lambda: not second.guard.e_stopped, 10, "the latch released")
            assert client.run("go to the table", "go_to", location="table", wait_s=20.0).success
    finally:
        second.close()
        for n in (second, client, operator):
            n.destroy_node()


def test_destroy_node_takes_the_action_server_out_of_the_graph_at_once(ros_context):
    """rclpy's destroy_node leaves a node's action servers alive, in a reference cycle with the node,
    until the cyclic GC runs: their endpoints (and the context's DDS participant) stayed in the
    graph meanwhile. The GC is held off here, as it may be for a long while in a busy process."""
    node = executor_node(ros_context)
    client = Client(ros_context)
    gc.disable()
    try:
        with Spinner(ros_context, node, client):
            assert client.action.wait_for_server(timeout_sec=30.0)
        node.close()
        node.destroy_node()
        del node
        wait_for(lambda: not client.action.server_is_ready(), 10.0, "execute_skill to leave the graph")
    finally:
        gc.enable()
        client.destroy_node()
