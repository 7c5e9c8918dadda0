"""sim_node on a real rclpy graph: the robot topics of docs/robot_interface.md and sim/reset."""
from __future__ import annotations

import contextlib
import json
import math
import sys
import threading
import time
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest
import rclpy
from builtin_interfaces.msg import Duration
from geometry_msgs.msg import Twist
from nav_msgs.msg import Odometry
from rosgraph_msgs.msg import Clock
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_msgs.msg import String
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from saycan_ros.core.errors import ConfigError
from saycan_ros.core.kitchen import load_kitchen
from saycan_ros.nodes.sim_node import RESET_WAIT_S, SimNode, trajectory_points
from saycan_ros.ros_io.images import image_to_numpy, stamp_to_sec

sys.path.insert(0, str(Path(__file__).parent))
from helpers import RefusingPublisher, Spinner, wait_for, wait_future  # noqa: E402

W, H = 160, 120
COUNTER = [1.2, 0.0, 0.0]


class Probe(Node):
    """Test side of the robot interface: keeps the latest message per topic."""

    def __init__(self, context):
        super().__init__("sim_probe", context=context)
        self.latest: dict[str, object] = {}
        self.lock = threading.Lock()
        latched = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
        for topic, kind, qos in (("odom", Odometry, 10), ("joint_states", JointState, 10),
                                 ("camera/color/image_raw", Image, 2), ("camera/color/camera_info", CameraInfo, 2),
                                 ("camera/depth/image_raw", Image, 2), ("camera/segmentation/image_raw", Image, 2),
                                 ("sim/world_state", String, latched), ("/clock", Clock, 10)):
            self.create_subscription(kind, topic, lambda m, t=topic: self._keep(t, m), qos)
        self.cmd_pub = self.create_publisher(Twist, "cmd_vel", 10)
        self.arm_pub = self.create_publisher(JointTrajectory, "arm_controller/joint_trajectory", 10)
        self.reset_client = self.create_client(Trigger, "sim/reset")

    def _keep(self, topic: str, msg) -> None:
        with self.lock:
            self.latest[topic] = msg

    def get(self, topic: str):
        with self.lock:
            return self.latest.get(topic)

    def world_state(self) -> dict | None:
        msg = self.get("sim/world_state")
        return json.loads(msg.data) if msg else None


def make_sim(context, single_threaded: bool = False, **overrides) -> SimNode:
    params = {"image_width": W, "image_height": H, "camera_rate_hz": 5.0, "stats_period_s": 0.0,
              "start_pose": COUNTER, **overrides}
    return SimNode(single_threaded, context=context,
                   parameter_overrides=[rclpy.parameter.Parameter(k, value=v) for k, v in params.items()])


@contextlib.contextmanager
def running(context, sim: SimNode, *others: Node) -> Iterator[Spinner]:
    """Spin the simulator with other nodes; afterwards close its world and destroy every node,
    nodes added during the test included."""
    spinner = Spinner(context, sim, *others)
    try:
        with spinner:
            yield spinner
    finally:
        sim.close()
        for node in spinner.nodes:
            node.destroy_node()


def odom_x(probe: Probe) -> float | None:
    msg = probe.get("odom")
    return msg.pose.pose.position.x if msg else None


def test_sim_node_speaks_the_robot_interface(ros_context) -> None:
    kitchen = load_kitchen()
    sim, probe = make_sim(ros_context), Probe(ros_context)
    with running(ros_context, sim, probe):
        # ground truth arrives (latched) and matches the default scene
        wait_for(lambda: probe.world_state() is not None, 30.0, "sim/world_state")
        state = probe.world_state()
        assert state["scene"] == "default" and state["robot_location"] == "close counter"
        assert {n: o["location"] for n, o in state["objects"].items()} == kitchen.scene("default")

        # camera: right encodings and sizes; the counter's objects are in the segmentation
        for topic in ("camera/color/image_raw", "camera/depth/image_raw", "camera/segmentation/image_raw",
                      "camera/color/camera_info"):
            wait_for(lambda t=topic: probe.get(t) is not None, 30.0, topic)
        color, depth, seg = (probe.get(f"camera/{k}/image_raw") for k in ("color", "depth", "segmentation"))
        assert (color.encoding, color.width, color.height, color.step) == ("rgb8", W, H, 3 * W)
        assert (depth.encoding, seg.encoding) == ("32FC1", "16UC1")
        assert color.header.frame_id == depth.header.frame_id == "camera_color_optical_frame"
        info = probe.get("camera/color/camera_info")
        assert (info.width, info.height) == (W, H)
        assert info.k[0] == pytest.approx((W / 2) / math.tan(math.radians(35)))
        seg_ids = set(np.unique(image_to_numpy(seg)).tolist())
        assert {kitchen.object_id("apple"), kitchen.object_id("coke can")} <= seg_ids
        d = image_to_numpy(depth)
        assert 0.3 < float(np.nanmedian(d)) < 3.0

        # cmd_vel moves the base (backwards, away from the counter); odom follows
        wait_for(lambda: odom_x(probe) is not None, 20.0, "odom")
        x0 = odom_x(probe)
        assert x0 == pytest.approx(COUNTER[0])
        back = Twist()
        back.linear.x = -0.4
        wait_for(lambda: probe.cmd_pub.publish(back) or odom_x(probe) < x0 - 0.1, 20.0, "odom to move back")
        odom = probe.get("odom")
        assert odom.header.frame_id == "odom" and odom.child_frame_id == "base_link"
        assert odom.twist.twist.linear.x == pytest.approx(-0.4)
        # watchdog: without further cmd_vel the base stops by itself (a cmd_vel still queued on a
        # loaded machine may restart it briefly, so compare with the newest odom, not the first stop)
        wait_for(lambda: probe.get("odom").twist.twist.linear.x == 0.0, 10.0, "the cmd_vel watchdog")
        assert odom_x(probe) < x0 - 0.1
        wait_for(lambda: probe.get("odom").twist.twist.linear.x == 0.0 and probe.world_state()["robot_pose"][0]
                 == pytest.approx(odom_x(probe), abs=1e-3), 15.0, "world_state to follow the robot")

        # simulated time: /clock advances, and odom and images carry it (not the wall clock)
        wait_for(lambda: probe.get("/clock") is not None, 10.0, "/clock")
        t0 = stamp_to_sec(probe.get("/clock").clock)
        wait_for(lambda: stamp_to_sec(probe.get("/clock").clock) > t0 + 0.1, 10.0, "/clock to advance")
        sim_now = probe.world_state()["sim_time"]
        assert 0.0 < sim_now < 600.0
        for topic in ("odom", "camera/depth/image_raw"):
            assert stamp_to_sec(probe.get(topic).header.stamp) == pytest.approx(sim_now, abs=5.0), topic

        # an arm trajectory moves joint_lift; a bad one is refused without harming the node
        bad = JointTrajectory(joint_names=["joint_elbow"], points=[JointTrajectoryPoint(positions=[1.0])])
        probe.arm_pub.publish(bad)
        traj = JointTrajectory(joint_names=["joint_lift", "joint_arm"], points=[
            JointTrajectoryPoint(positions=[0.9, 0.1], time_from_start=Duration(sec=0, nanosec=500_000_000))])
        probe.arm_pub.publish(traj)

        def lift() -> float:
            js = probe.get("joint_states")
            return dict(zip(js.name, js.position))["joint_lift"] if js else 0.0
        wait_for(lambda: abs(lift() - 0.9) < 1e-3, 20.0, "joint_lift to reach 0.9")
        js = probe.get("joint_states")
        assert list(js.name) == ["joint_lift", "joint_arm", "joint_gripper_left", "joint_gripper_right"]
        assert js.position[1] == pytest.approx(0.1, abs=1e-3)

        # sim/reset puts the robot back at its start pose, and takes the fault parameters of the
        # next episode (an evaluation sets a fault seed per episode)
        sim.set_parameters([rclpy.parameter.Parameter("fault_grasp_slip_p", value=0.3),
                            rclpy.parameter.Parameter("fault_seed", value=7)])
        assert probe.reset_client.wait_for_service(timeout_sec=20.0)
        res = wait_future(probe.reset_client.call_async(Trigger.Request()))
        assert res.success, res.message
        assert (sim.world.grasp_slip_p, sim.world.fault_seed) == (0.3, 7)
        wait_for(lambda: odom_x(probe) == pytest.approx(COUNTER[0]), 10.0, "odom after reset")
        wait_for(lambda: lift() == pytest.approx(0.6), 10.0, "joints back home")

        # bad scene at reset: a clear failure, the world stays as it was
        sim.set_parameters([rclpy.parameter.Parameter("scene", value="no such scene")])
        res = wait_future(probe.reset_client.call_async(Trigger.Request()))
        assert not res.success and "unknown scene" in res.message
        assert probe.world_state()["scene"] == "default"

        # the statistics count what happened: simulated time and frames both moved in the window.
        # How fast they move is the machine's business and is measured by benchmarks, not here.
        stats = sim.measure()
        assert stats["window_s"] > 0.0 and stats["real_time_factor"] > 0.0 and stats["camera_fps"] > 0.0


@pytest.mark.parametrize("overrides, message", [
    ({"image_width": 5}, "image_width"),
    ({"scene": "nowhere"}, "unknown scene"),
    ({"start_pose": [0.0, 1.0]}, "start_pose"),
    ({"robot_file": "/nonexistent/robot.yaml"}, "robot file not found"),
    ({"start_holding": "apple"}, "both in the gripper"),  # the default scene has the apple on the counter
    ({"start_holding": "pizza"}, "unknown object"),
])
def test_bad_parameters_are_one_clear_error(ros_context, overrides: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        make_sim(ros_context, **overrides)


def test_trajectory_messages_are_validated() -> None:
    ok = JointTrajectory(joint_names=["joint_gripper_left", "joint_gripper_right"], points=[
        JointTrajectoryPoint(positions=[0.03, 0.03], time_from_start=Duration(sec=1)),
        JointTrajectoryPoint(positions=[0.0, 0.0], time_from_start=Duration(sec=1, nanosec=500_000_000))])
    allowed = ("joint_gripper_left", "joint_gripper_right")
    assert trajectory_points(ok, allowed) == [
        (1.0, {"joint_gripper_left": 0.03, "joint_gripper_right": 0.03}),
        (1.5, {"joint_gripper_left": 0.0, "joint_gripper_right": 0.0})]
    for msg, why in (
            (JointTrajectory(joint_names=["joint_lift"], points=[JointTrajectoryPoint(positions=[0.5])]), "unknown"),
            (JointTrajectory(joint_names=list(allowed), points=[]), "no points"),
            (JointTrajectory(joint_names=list(allowed), points=[JointTrajectoryPoint(positions=[0.1])]), "1 positions"),
            (JointTrajectory(joint_names=list(allowed), points=[
                JointTrajectoryPoint(positions=[0.1, math.nan])]), "non-finite"),
            (JointTrajectory(joint_names=list(allowed), points=list(reversed(ok.points))), "backwards")):
        with pytest.raises(ValueError, match=why):
            trajectory_points(msg, allowed)


class FrameStamps(Node):
    """Collects the simulated-time stamps of the color frames."""

    def __init__(self, context):
        super().__init__("frame_stamps", context=context)
        self.stamps: list[float] = []
        self.create_subscription(Image, "camera/color/image_raw", lambda m: self.stamps.append(stamp_to_sec(m.header.stamp)), 20)


@pytest.mark.parametrize("rtf", [1.0, 4.0])
def test_camera_frames_are_due_in_simulated_time_whatever_the_real_time_factor(ros_context, rtf) -> None:
    # a simulation run faster than real time must give perception the same frames per simulated
    # second (a wall-clock camera timer would give 4x fewer at rtf 4)
    sim, frames = make_sim(ros_context, real_time_factor=rtf), FrameStamps(ros_context)
    with running(ros_context, sim, frames):
        wait_for(lambda: len(frames.stamps) >= 12, 60.0, "12 camera frames")
        gaps = np.diff(frames.stamps[1:12])
        # 5 Hz in simulated time: 0.2 s apart on average, each within a tick's catch-up (0.05 s);
        # a machine that cannot hold the factor slows the simulation down, the frames stay due
        assert np.mean(gaps) == pytest.approx(0.2, abs=0.01) and np.all(np.abs(gaps - 0.2) <= 0.051), gaps


def test_a_single_threaded_sim_node_lays_the_scene_out_itself(ros_context) -> None:
    # Its own process spins sim_node on rclpy's EventsExecutor (one thread, a third less CPU per
    # tick). sim/reset must then reset the world itself: handing it to a tick and waiting for it
    # would wait for a callback that cannot run until the service returns.
    # The executor is spun here from the test's thread, as in the node's process: publishing from
    # another thread of the same process into a spinning EventsExecutor can deadlock.
    from rclpy.experimental import EventsExecutor

    def spin_until(condition, timeout_s: float, what: str) -> None:
        deadline = time.monotonic() + timeout_s
        while not condition():
            assert time.monotonic() < deadline, f"timed out after {timeout_s} s waiting for {what}"
            executor.spin_once(timeout_sec=0.02)

    sim, probe = make_sim(ros_context, single_threaded=True), Probe(ros_context)
    executor = EventsExecutor(context=ros_context)
    executor.add_node(sim)
    try:
        with Spinner(ros_context, probe):
            spin_until(lambda: odom_x(probe) is not None, 30.0, "odom")
            assert odom_x(probe) == pytest.approx(COUNTER[0])
            away = (COUNTER[0] - 0.5, COUNTER[1], COUNTER[2])
            sim.set_parameters([rclpy.parameter.Parameter("start_pose", value=list(away))])
            spin_until(probe.reset_client.service_is_ready, 20.0, "sim/reset")
            started = time.monotonic()
            future = probe.reset_client.call_async(Trigger.Request())
            spin_until(future.done, 10.0, "the reset's answer")
            assert future.result().success, future.result().message
            assert time.monotonic() - started < RESET_WAIT_S / 2  # answered by the reset, not a timeout
            spin_until(lambda: odom_x(probe) == pytest.approx(away[0]), 10.0, "odom at the new start pose")
            # and the world runs on: simulated time moves after the reset
            t0 = stamp_to_sec(probe.get("/clock").clock)
            spin_until(lambda: stamp_to_sec(probe.get("/clock").clock) > t0 + 0.5, 20.0, "the clock to move on")
            sim.set_parameters([rclpy.parameter.Parameter("scene", value="no such scene")])
            future = probe.reset_client.call_async(Trigger.Request())
            spin_until(future.done, 10.0, "the failed reset's answer")
            assert not future.result().success and "unknown scene" in future.result().message
    finally:
        executor.remove_node(sim)
        executor.shutdown()
        sim.close()
        sim.destroy_node()
        probe.destroy_node()


def test_pause_between_skills_holds_the_world_still_until_a_skill_runs(ros_context) -> None:
    from action_msgs.msg import GoalInfo, GoalStatus, GoalStatusArray
    from rclpy.qos import qos_profile_action_status_default

    sim = make_sim(ros_context, pause_between_skills=True, settle_s=0.5, real_time_factor=2.0)
    probe = Probe(ros_context)
    status = probe.create_publisher(GoalStatusArray, "execute_skill/_action/status", qos_profile_action_status_default)

    def skill(state: int) -> None:
        status.publish(GoalStatusArray(status_list=[GoalStatus(goal_info=GoalInfo(), status=state)]))

    def clock() -> float:
        return sim.world.sim_time

    start = clock()  # the world has settled its objects before the node starts
    with running(ros_context, sim, probe) as spinner:
        # it settles for 0.5 s of simulated time, then holds still
        wait_for(lambda: clock() >= start + 0.5, 20.0, "the settling time")
        time.sleep(0.5)
        held = clock()
        time.sleep(1.0)
        assert clock() == held and held < start + 0.5 + 0.1
        # a node that subscribes during the pause still gets the held frame, stamped with the held time
        late = FrameStamps(ros_context)
        spinner.add(late)
        wait_for(lambda: len(late.stamps) >= 1, 10.0, "the held frame")
        assert late.stamps[-1] <= held

        skill(GoalStatus.STATUS_EXECUTING)  # a skill runs: so does the world
        wait_for(lambda: clock() > held + 1.0, 20.0, "the world to run during a skill")
        skill(GoalStatus.STATUS_SUCCEEDED)
        ended = clock()
        wait_for(lambda: clock() >= ended + 0.5, 20.0, "settling after the skill")
        time.sleep(0.5)
        held = clock()
        assert held < ended + 0.5 + 0.2
        time.sleep(1.0)
        assert clock() == held

        # a reset lays the scene out while paused, and the world settles again before holding still
        assert probe.reset_client.wait_for_service(timeout_sec=20.0)
        assert wait_future(probe.reset_client.call_async(Trigger.Request())).success
        wait_for(lambda: clock() >= held + 0.5, 20.0, "settling after the reset")


def test_a_refused_publish_drops_that_message_and_the_simulation_goes_on(ros_context) -> None:
    """The middleware refusing odometry (RefusingPublisher fakes Fast DDS's "cannot publish data")
    must not end the simulator: it ended an evaluation run once. The clock keeps going."""
    sim, probe = make_sim(ros_context), Probe(ros_context)
    refusing = RefusingPublisher()
    with running(ros_context, sim, probe):
        wait_for(lambda: probe.get("/clock") is not None, 30.0, "the clock")
        sim.odom_pub = refusing
        started = stamp_to_sec(probe.get("/clock").clock)
        wait_for(lambda: stamp_to_sec(probe.get("/clock").clock) > started + 1.0, 30.0, "one more simulated second")
        assert refusing.calls > 10
