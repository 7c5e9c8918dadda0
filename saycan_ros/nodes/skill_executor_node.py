"""skill_executor_node: the ExecuteSkill action server that carries out one SayCan skill on a robot.

It drives the robot only through the standard topics of docs/robot_interface.md (cmd_vel, odom,
joint_states, arm/gripper JointTrajectory, depth + segmentation images), so the same node runs the
PyBullet kitchen, Gazebo or a real robot. All behaviour lives in saycan_ros.skills (pure, tested
without ROS); this node only keeps the latest sensor messages, turns them into an Observation per
control tick, and turns the skill's Command into messages. A real robot's joint names and units
(joint_names/joint_scales/joint_offsets) and a TwistStamped cmd_vel (cmd_vel_stamped) are
parameters: config/robots/ and docs/bringup.md.

Concurrency: subscriptions only store the newest message under a lock. A skill runs in the control
timer (control_rate_hz on the node's clock, so simulated time under use_sim_time): each tick turns
the newest messages into an Observation, steps the skill and publishes its Command. The execute
callback is a coroutine that only awaits the skill's outcome, so no callback ever blocks and the
node's own process spins one thread (rclpy's SingleThreadedExecutor; run_node says why not the
EventsExecutor). On the MultiThreadedExecutor it ran on before, the node cost 56 s of CPU over
the single family in exec mode; now 33 s. An e-stop is handled between two control
ticks. Any other executor works too (the in-process tests use a MultiThreadedExecutor). One goal at
a time: a goal that arrives while another runs is rejected (the planner sends one skill at a time;
preempting mid-grasp would drop objects).

Safety that callers cannot bypass: every cmd_vel passes a MotionGuard (speed and acceleration
limits of this node's parameters; stopping is never delayed), and `e_stop` (std_msgs/Bool) true
latches all motion off: the base stops at once, the arm holds, a running skill ends with
EMERGENCY_STOP and new ones are refused with it, until `e_stop` false releases the latch.
`e_stop` is a latched topic (ros_io.qos.E_STOP_QOS: reliable, transient_local, depth 1): a restarted
executor receives the last value at once, so it starts stopped if the e-stop is still engaged. The
value lives in the publisher: a publisher that died takes it along, and a volatile publisher is not
matched at all (this node logs an error when one appears).

`dry_run` (never the default): skills are resolved and checked (typed errors for bad ones, the
e-stop refuses them) and then succeed at once without any motion: the whole graph plans with no
robot moving (soak tests, rehearsals). Logged as an error at start and on every skill.
"""
from __future__ import annotations

import math
import threading
import traceback
from dataclasses import dataclass, field
from typing import Any

from builtin_interfaces.msg import Duration
from geometry_msgs.msg import Twist, TwistStamped
from nav_msgs.msg import Odometry
from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.action.server import ServerGoalHandle
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.event_handler import SubscriptionEventCallbacks
from rclpy.node import Node
from rclpy.publisher import Publisher
from rclpy.task import Future
from rclpy.qos import QoSProfile, QoSReliabilityPolicy, qos_policy_name_from_kind, qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_msgs.msg import Bool
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from saycan_msgs.action import ExecuteSkill
from saycan_ros.core.camera_model import PinholeCamera
from saycan_ros.core.errors import ConfigError
from saycan_ros.core.kitchen import load_kitchen
from saycan_ros.core.robot_geometry import ARM, LEFT, LIFT, RIGHT, load_robot_geometry
from saycan_ros.core.skills import SkillLibrary
from saycan_ros.nodes.common import (Param, clock_seconds, declare_params, destroyed_if_init_fails, held_object_params,
                                     joint_map_from, joint_map_params, non_negative, one_of, positive, run_node)
from saycan_ros.ros_io.actions import destroy_actions
from saycan_ros.ros_io.images import depth_to_metres, segmentation_ids, stamp_to_sec
from saycan_ros.ros_io.poses import quaternion_to_yaw
from saycan_ros.ros_io.qos import E_STOP_QOS
from saycan_ros.skills.behaviours import SkillRunner, Skills, run_skill
from saycan_ros.skills.config import DEFAULT_TIMEOUTS, ExecutorConfig
from saycan_ros.skills.controllers import BaseLimits, GoToTolerance
from saycan_ros.skills.goals import resolve_goal
from saycan_ros.skills.motion_guard import MotionGuard
from saycan_ros.skills.perceive import make_percept, thrown_away_check
from saycan_ros.core.pose import Pose2D
from saycan_ros.skills.types import Command, ErrorCode, Observation, Outcome, Percept, SkillFailure

_D = ExecutorConfig()


def _names(value: Any) -> str | None:
    return None if all(str(v).strip() for v in value) else "must not contain empty names"


PARAMS = [
    Param("kitchen_file", "", "kitchen description (locations, objects); empty: the package's config/kitchen.yaml"),
    Param("robot_file", "", "robot geometry (lift/arm limits, camera mount); empty: config/robot.yaml"),
    Param("control_rate_hz", _D.control_rate_hz, "control loop rate (Hz); cmd_vel is published at this rate", positive),
    Param("max_linear_speed", _D.limits.max_linear, "base speed limit (m/s)", positive),
    Param("max_angular_speed", _D.limits.max_angular, "base turn rate limit (rad/s)", positive),
    Param("max_linear_accel", _D.limits.max_linear_accel, "base acceleration limit (m/s^2)", positive),
    Param("max_angular_accel", _D.limits.max_angular_accel, "base angular acceleration limit (rad/s^2)", positive),
    Param("min_angular_speed", _D.limits.min_angular, "smallest turn rate commanded (the base's deadband, rad/s)", non_negative),
    Param("position_tolerance", _D.tolerance.position, "go-to: arrival distance (m)", positive),
    Param("yaw_tolerance", _D.tolerance.yaw, "go-to: arrival heading error (rad)", positive),
    *[Param(f"timeout_{kind}", DEFAULT_TIMEOUTS[kind], f"default time limit of a '{kind}' skill (s) when the goal gives 0",
            positive) for kind in DEFAULT_TIMEOUTS],
    Param("sensor_timeout_s", _D.sensor_timeout_s, "NO_SENSOR_DATA when odom/joint_states/camera are silent this long (s)", positive),
    Param("stuck_timeout_s", _D.stuck_timeout_s, "NAVIGATION_FAILED after no progress toward a pose for this long (s)", positive),
    Param("settle_s", _D.settle_s, "stand still this long before using a camera frame (s)", non_negative),
    Param("search_order", list(_D.search_order), "locations 'find' searches; the nearest is visited first", _names),
    Param("drop_locations", list(_D.drop_locations), "locations where 'put down' releases into a container", _names),
    Param("container_radius", _D.container_radius, "an object seen this close to a drop location's work point lies in "
          "its container (thrown away): find and pick do not count it (m)", non_negative),
    Param("scan_angle", _D.scan_angle, "find/pick also look this far left and right (rad)", non_negative),
    Param("travel_lift", _D.travel_lift, "lift height while driving/carrying (m)", positive),
    Param("place_inset", _D.place_inset, "put objects this far beyond the surface's front edge (m)", non_negative),
    Param("min_pixels", _D.min_pixels, "smallest segmentation blob that counts as seeing an object (pixels)", positive),
    Param("image_qos", "sensor_data", "camera subscriptions: sensor_data (best effort, matches any publisher) or reliable",
          one_of("sensor_data", "reliable")),
    Param("sync_slop_s", 0.05, "depth and segmentation frames pair when their stamps differ by at most this (s)", non_negative),
    # a real robot's names and types (docs/bringup.md)
    Param("cmd_vel_stamped", False, "publish geometry_msgs/TwistStamped (frame base_frame) on cmd_vel instead of Twist "
          "(ros2_control's diff_drive_controller from Jazzy on)"),
    Param("base_frame", "base_link", "header frame_id of a stamped cmd_vel", lambda v: None if v.strip() else "must not be empty"),
    *joint_map_params(),
    *held_object_params(),
    Param("dry_run", False, "plan-only mode: check every skill, then report success without moving the robot "
          "(soak tests, rehearsals); never on a robot that should act"),
]


@dataclass
class _Frame:
    msg: Image
    stamp: float      # header stamp (s)
    received: float   # node clock when it arrived (s)


_SHUTTING_DOWN = Outcome.fail(ErrorCode.UNKNOWN, "the executor is shutting down")


@dataclass
class _RunningSkill:
    """The goal the control timer is stepping; `outcome` completes when the skill ends."""
    handle: ServerGoalHandle
    text: str
    runner: SkillRunner
    outcome: Future = field(default_factory=Future)
    reported: Future = field(default_factory=Future)  # done once the result went to the client
    feedback: ExecuteSkill.Feedback = field(default_factory=ExecuteSkill.Feedback)
    last_phase: str | None = None
    last_progress: float = -1.0
    last_sent: float = -math.inf


def _duration(seconds: float) -> Duration:
    seconds = max(0.0, seconds)
    return Duration(sec=int(seconds), nanosec=int((seconds - int(seconds)) * 1e9))


class SkillExecutorNode(Node):
    @destroyed_if_init_fails
    def __init__(self, **kwargs: Any):
        super().__init__("skill_executor_node", **kwargs)
        p = declare_params(self, PARAMS)
        self.kitchen = load_kitchen(p["kitchen_file"] or None)
        self.robot = load_robot_geometry(p["robot_file"] or None)
        for name in (*p["search_order"], *p["drop_locations"]):
            if name not in self.kitchen.locations:
                raise ConfigError(f"{self.get_name()}: location '{name}' (search_order/drop_locations) is not in "
                                  f"{self.kitchen.source}; known: {', '.join(self.kitchen.locations)}")
        self.config = ExecutorConfig(
            control_rate_hz=p["control_rate_hz"],
            limits=BaseLimits(min(p["max_linear_speed"], self.robot.max_linear_speed),
                              min(p["max_angular_speed"], self.robot.max_angular_speed),
                              p["max_linear_accel"], p["max_angular_accel"], p["min_angular_speed"]),
            tolerance=GoToTolerance(position=p["position_tolerance"], yaw=p["yaw_tolerance"]),
            timeouts={kind: p[f"timeout_{kind}"] for kind in DEFAULT_TIMEOUTS},
            sensor_timeout_s=p["sensor_timeout_s"], stuck_timeout_s=p["stuck_timeout_s"], settle_s=p["settle_s"],
            search_order=tuple(p["search_order"]), drop_locations=tuple(p["drop_locations"]),
            scan_angle=p["scan_angle"], travel_lift=self.robot.lift.clamp(p["travel_lift"]),
            hold_min_opening=p["hold_min_opening"], open_margin=p["open_margin"], place_inset=p["place_inset"],
            min_pixels=p["min_pixels"], container_radius=p["container_radius"])
        self.sync_slop = p["sync_slop_s"]
        self.joint_map = joint_map_from(self, p, self.robot.arm.min)
        self.stamped, self.base_frame = p["cmd_vel_stamped"], p["base_frame"]
        self.dry_run = p["dry_run"]
        self.library = SkillLibrary.from_kitchen(self.kitchen)
        self.skills = Skills(self.kitchen, self.robot, self.config)
        self.mount = self.robot.camera.mount()
        self.guard = MotionGuard(self.config.limits, max_dt=2.0 / self.config.control_rate_hz)
        # held across "check the latch, then publish" and across "latch, then publish the stop", so
        # the control loop cannot send motion after the e-stop's zero twist
        self._motion_lock = threading.Lock()

        self._lock = threading.Lock()
        self._busy = False
        self._closing = False
        self._stopped = False
        self._pose: tuple[Pose2D, float] | None = None
        self._joints: tuple[dict[str, float], float] | None = None
        self._depth: list[_Frame] = []
        self._seg: list[_Frame] = []
        self._info: CameraInfo | None = None
        self._look_after: float | None = None  # a look is pending: use a frame that arrived after this
        self._warned: set[str] = set()
        self._running: _RunningSkill | None = None

        sensors = MutuallyExclusiveCallbackGroup()
        image_qos = qos_profile_sensor_data if p["image_qos"] == "sensor_data" else QoSProfile(
            depth=2, reliability=QoSReliabilityPolicy.RELIABLE)
        self.create_subscription(Odometry, "odom", self._on_odom, 10, callback_group=sensors)
        self.create_subscription(JointState, "joint_states", self._on_joints, 10, callback_group=sensors)
        self.create_subscription(Image, "camera/depth/image_raw", self._on_depth, image_qos, callback_group=sensors)
        self.create_subscription(Image, "camera/segmentation/image_raw", self._on_seg, image_qos, callback_group=sensors)
        self.create_subscription(CameraInfo, "camera/depth/camera_info", self._on_info, image_qos, callback_group=sensors)
        # its own group (on a multi-threaded executor it runs beside a control tick; on the node's own
        # single thread it waits for the current tick at most); latched (E_STOP_QOS)
        self.create_subscription(Bool, "e_stop", self._on_e_stop, E_STOP_QOS, callback_group=MutuallyExclusiveCallbackGroup(),
                                 event_callbacks=SubscriptionEventCallbacks(incompatible_qos=self._on_incompatible_e_stop))
        self.cmd_pub = self.create_publisher(TwistStamped if self.stamped else Twist, "cmd_vel", 10)
        self.arm_pub = self.create_publisher(JointTrajectory, "arm_controller/joint_trajectory", 10)
        self.gripper_pub = self.create_publisher(JointTrajectory, "gripper_controller/joint_trajectory", 10)
        self.create_timer(1.0 / self.config.control_rate_hz, self._control_tick,
                          callback_group=MutuallyExclusiveCallbackGroup())
        self._server = ActionServer(
            self, ExecuteSkill, "execute_skill", execute_callback=self._execute, goal_callback=self._on_goal,
            cancel_callback=lambda _: CancelResponse.ACCEPT, callback_group=ReentrantCallbackGroup())
        self.create_service(Trigger, "~/reset", self._on_reset)
        if self.dry_run:
            self.get_logger().error("DRY RUN (parameter dry_run): skills are checked and reported as succeeded, "
                                    "the robot does not move")
        self.get_logger().info(
            f"ready: {len(self.library)} skills, {len(self.kitchen.locations)} locations; reach "
            f"{self.robot.reach[0]:.2f}-{self.robot.reach[1]:.2f} m, {self.config.control_rate_hz:g} Hz")

    # ------------------------------------------------------------------ sensors (store the newest)
    def _now(self) -> float:
        return clock_seconds(self)

    def _on_odom(self, msg: Odometry) -> None:
        q = msg.pose.pose.orientation
        yaw = quaternion_to_yaw(q.x, q.y, q.z, q.w)
        pose = Pose2D(msg.pose.pose.position.x, msg.pose.pose.position.y, yaw)
        with self._lock:
            self._pose = (pose, self._now())

    def _on_joints(self, msg: JointState) -> None:
        now = self._now()
        ours = self.joint_map.to_ours(msg.name, msg.position)
        if not ours:  # none of our joints (e.g. a wheels-only message): not news about the arm
            return
        with self._lock:
            joints = dict(self._joints[0]) if self._joints else dict(self.joint_map.fixed)
            joints.update(ours)  # partial messages merge
            self._joints = (joints, now)

    def _keep(self, frames: list[_Frame], msg: Image) -> None:
        with self._lock:
            frames.append(_Frame(msg, stamp_to_sec(msg.header.stamp), self._now()))
            del frames[:-4]

    def _on_depth(self, msg: Image) -> None:
        self._keep(self._depth, msg)

    def _on_seg(self, msg: Image) -> None:
        self._keep(self._seg, msg)

    def _on_info(self, msg: CameraInfo) -> None:
        with self._lock:
            self._info = msg

    def _on_e_stop(self, msg: Bool) -> None:
        with self._motion_lock:
            if msg.data:
                if not self.guard.e_stopped:
                    self.get_logger().error("EMERGENCY STOP engaged on e_stop: all motion off until e_stop is false")
                self.guard.engage()
                self._stop(hold_arm=True)  # at once, not at the next control tick
            elif self.guard.e_stopped:
                self.guard.release()
                self.get_logger().warning("emergency stop released on e_stop")

    def _on_incompatible_e_stop(self, event: Any) -> None:
        self.get_logger().error(f"a publisher on e_stop has an incompatible QoS ({qos_policy_name_from_kind(event.last_policy_kind)}): its "
                                "e-stops are NOT received; e_stop must be published reliable + transient_local")

    # ------------------------------------------------------------------ observation / command
    def _frame_pair(self, after: float) -> tuple[_Frame, _Frame, CameraInfo] | None:
        """The newest depth + segmentation pair (stamps within sync_slop) that arrived after `after`."""
        with self._lock:
            if self._info is None:
                return None
            for d in reversed(self._depth):
                if d.received <= after:
                    break
                for s in reversed(self._seg):
                    if s.received > after and abs(s.stamp - d.stamp) <= self.sync_slop:
                        return d, s, self._info
        return None

    def _percept(self) -> Percept | None:
        pair = self._frame_pair(self._look_after)
        if pair is None:
            return None
        depth_frame, seg_frame, info = pair
        try:
            depth, seg = depth_to_metres(depth_frame.msg), segmentation_ids(seg_frame.msg)
            camera = PinholeCamera.from_camera_info(info)
            if (camera.width, camera.height) != (depth.shape[1], depth.shape[0]):
                camera = camera.scaled(depth.shape[1], depth.shape[0])
            with self._lock:
                pose = self._pose[0] if self._pose else None
            percept = make_percept(seg, depth, camera, self.mount, self.kitchen, self.config.min_pixels,
                                   self.config.cloud_stride, thrown_away_check(self.kitchen, self.config, self.robot, pose))
        except ValueError as exc:  # bad encoding / sizes: drop the frame, keep waiting (then NO_SENSOR_DATA)
            self._warn_once(str(exc))
            with self._lock:
                self._depth[:] = [f for f in self._depth if f is not depth_frame]  # in place: _on_depth holds this list
            return None
        self._look_after = None
        return percept

    def _warn_once(self, text: str) -> None:
        if text not in self._warned:
            self._warned.add(text)
            self.get_logger().warning(text)

    def _observe(self) -> Observation:
        now = self._now()
        percept = self._percept() if self._look_after is not None else None
        with self._lock:
            pose, pose_t = self._pose or (None, -math.inf)
            joints, joints_t = self._joints or ({}, -math.inf)
            camera_t = self._depth[-1].received if self._depth else -math.inf
        return Observation(t=now, pose=pose, pose_age=now - pose_t, joints=joints, joints_age=now - joints_t,
                           camera_age=now - camera_t, percept=percept)

    def _apply(self, cmd: Command) -> None:
        with self._motion_lock:
            self._publish_twist(*self.guard.filter(float(cmd.twist[0]), float(cmd.twist[1]), self._now()))
            if self.guard.e_stopped:
                return  # the arm and gripper hold too
            if cmd.arm is not None:
                self._send_trajectory(self.arm_pub, {LIFT: cmd.arm.lift, ARM: cmd.arm.arm}, cmd.arm.duration)
            if cmd.gripper is not None:
                opening, duration = cmd.gripper
                self._send_trajectory(self.gripper_pub, {LEFT: opening, RIGHT: opening}, duration)
        if cmd.look:
            self._look_after = self._now()

    def _publish_twist(self, linear: float = 0.0, angular: float = 0.0) -> None:
        twist = Twist()
        twist.linear.x, twist.angular.z = float(linear), float(angular)
        if self.stamped:
            msg = TwistStamped(twist=twist)
            msg.header.stamp, msg.header.frame_id = self.get_clock().now().to_msg(), self.base_frame
            self.cmd_pub.publish(msg)
        else:
            self.cmd_pub.publish(twist)

    def _send_trajectory(self, publisher: Publisher, targets: dict[str, float], duration: float) -> None:
        """One-point trajectory to logical joint targets, in the robot's joint names and units."""
        names, positions = self.joint_map.to_robot(targets)
        if not names:  # the robot has none of these joints
            return
        msg = JointTrajectory()
        msg.joint_names = names
        msg.points = [JointTrajectoryPoint(positions=positions, time_from_start=_duration(duration))]
        publisher.publish(msg)

    def _stop(self, hold_arm: bool) -> None:
        """Zero twist; with hold_arm, also freeze lift and arm where they are (a cancel mid-move).
        During shutdown the context may be gone: then the robot's own cmd_vel watchdog stops it."""
        with self._lock:
            joints = self._joints[0] if self._joints else {}
        try:
            self._publish_twist()
            self.guard.stopped(self._now())
            if hold_arm and LIFT in joints and ARM in joints:
                self._send_trajectory(self.arm_pub, {LIFT: joints[LIFT], ARM: joints[ARM]}, 0.0)
        except Exception as exc:  # rclpy raises several types for an invalid context
            self._warn_once(f"could not stop the robot: {exc}")

    def _on_reset(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        """Forget the executor's beliefs (last gripper command, the object it thinks it holds): the
        world changed behind its back (a simulator reset, an object handed over). Refused mid-skill."""
        with self._lock:
            if self._busy:
                response.success, response.message = False, "a skill is running"
                return response
            self.skills.gripper_target, self.skills.held = None, None
        response.success, response.message = True, "forgot the gripper command and the held object"
        return response

    # ------------------------------------------------------------------ action
    def _on_goal(self, goal: ExecuteSkill.Goal) -> GoalResponse:
        with self._lock:
            if self._busy or self._closing:
                self.get_logger().warning(f"rejecting '{goal.skill.text}': another skill is running")
                return GoalResponse.REJECT
            self._busy = True
        return GoalResponse.ACCEPT

    async def _execute(self, handle: ServerGoalHandle) -> ExecuteSkill.Result:
        try:
            return await self._run(handle)
        finally:
            with self._lock:
                self._busy = False

    def _finish(self, handle: ServerGoalHandle, outcome: Outcome) -> ExecuteSkill.Result:
        result = ExecuteSkill.Result(success=outcome.success, error_code=int(outcome.code), error_msg=outcome.message)
        try:
            if outcome.code == ErrorCode.CANCELED:
                handle.canceled()
            elif outcome.success:
                handle.succeed()
            else:
                handle.abort()
        except Exception as exc:  # shutting down: the goal handle is gone with the context
            self._warn_once(f"could not report the result of '{handle.request.skill.text}': {exc}")
            return result
        text = handle.request.skill.text
        if outcome.success:
            self.get_logger().info(f"'{text}': success: {outcome.message}")
        else:
            self.get_logger().warning(f"'{text}': failed ({outcome.code.name}): {outcome.message}")
        return result

    async def _run(self, handle: ServerGoalHandle) -> ExecuteSkill.Result:
        req = handle.request
        try:
            goal = resolve_goal(self.kitchen, req.skill.text, req.skill.kind, req.skill.object, req.skill.location,
                                self.library)
            runner: SkillRunner = run_skill(self.skills, goal.kind, goal.object, goal.location, float(req.timeout_s))
        except SkillFailure as exc:
            return self._finish(handle, Outcome.fail(exc.code, exc.message))
        if self.guard.e_stopped:
            return self._finish(handle, Outcome.fail(ErrorCode.EMERGENCY_STOP, f"'{goal.text}' refused: the emergency "
                                                     "stop is engaged (publish false on e_stop to release it)"))
        if self.dry_run:
            self.get_logger().error(f"DRY RUN: '{goal.text}' reported as succeeded without moving")
            return self._finish(handle, Outcome.ok(f"dry run: '{goal.text}' not executed"))
        self.get_logger().info(f"executing '{goal.text}' ({goal.kind} {goal.object or goal.location})".rstrip())
        running = _RunningSkill(handle, goal.text, runner)
        with self._lock:
            self._look_after = None
            self._running = running if not self._closing else None
        if self._closing:
            return self._finish(handle, _SHUTTING_DOWN)
        try:
            outcome = await running.outcome  # the control timer steps the skill until it ends
            return self._finish(handle, outcome)
        finally:
            running.reported.set_result(True)

    def _control_tick(self) -> None:
        """One control step of the running skill, if any; ends it (stopped, outcome set) when it is over."""
        with self._lock:
            running = self._running
        if running is None or running.outcome.done():
            return
        outcome = self._step(running)
        if outcome is not None:
            self._end(running, outcome)

    def _end(self, running: _RunningSkill, outcome: Outcome) -> None:
        with self._lock:
            if self._running is running:
                self._running = None
        if not running.outcome.done():
            running.outcome.set_result(outcome)

    def _step(self, running: _RunningSkill) -> Outcome | None:
        """Check cancel / shutdown / e-stop, step the skill and publish its command and feedback.
        Returns the outcome when the skill is over (the robot already stopped), else None."""
        handle, text = running.handle, running.text
        if handle.is_cancel_requested:
            self._stop(hold_arm=True)
            return Outcome.fail(ErrorCode.CANCELED, f"'{text}' canceled")
        if self._closing or not self.context.ok():
            self._stop(hold_arm=True)
            return _SHUTTING_DOWN
        if self.guard.e_stopped:
            self._stop(hold_arm=True)
            return Outcome.fail(ErrorCode.EMERGENCY_STOP, f"'{text}' stopped by the emergency stop (e_stop)")
        try:
            out = running.runner.step(self._observe())
        except Exception as exc:  # a bug must not leave the base driving: stop, report, keep serving
            self.get_logger().error(traceback.format_exc())
            self._stop(hold_arm=True)
            return Outcome.fail(ErrorCode.UNKNOWN, f"internal error: {exc!r}")
        if isinstance(out, Outcome):
            self._stop(hold_arm=False)
            return out
        self._apply(out)
        if self._closing:  # stop() ran during this tick (another executor thread): its zero twist must be the last
            self._stop(hold_arm=True)
            return _SHUTTING_DOWN
        now = self._now()
        if out.phase != running.last_phase or abs(out.progress - running.last_progress) >= 0.05 \
                or now - running.last_sent >= 1.0:
            running.feedback.phase, running.feedback.progress = out.phase, float(out.progress)
            handle.publish_feedback(running.feedback)
            running.last_phase, running.last_progress, running.last_sent = out.phase, out.progress, now
        return None

    def stop(self) -> Future | None:
        """Stop the robot and end a running goal. run_node calls it before the executor shuts down
        (the control timer runs on a simulated clock that may have stopped with the simulator) and
        spins until the returned future is done: the goal's abort result then reaches its client."""
        if self._stopped:
            return None
        self._stopped = self._closing = True
        try:
            self._publish_twist()
        except Exception:  # the context may already be gone
            pass
        with self._lock:
            running = self._running
        if running is None:
            return None
        self._end(running, _SHUTTING_DOWN)
        return running.reported

    def close(self) -> None:
        """Called before destroy_node."""
        self.stop()

    def destroy_node(self) -> None:
        destroy_actions(self)
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    return run_node(SkillExecutorNode, args=args, single_threaded=True, awaits=True)  # no callback blocks


if __name__ == "__main__":
    raise SystemExit(main())
