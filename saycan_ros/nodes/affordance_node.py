"""affordance_node: serves GetAffordances — p(success) per skill from the latest camera images and robot state.

model `perception`: segmentation + depth (+ CameraInfo), joint_states, odom and the last gripper
command become a PerceptionObservation; the value function turns its features into probabilities
(saycan_ros/affordance). model `learned`: the same observation, scored by the value function learned
from the robot's experience (`value_function` folder; affordance/learned.py). model `none`: every
skill 1.0 (language-only ablation).

With `absence_memory` the node also remembers which object kinds the camera has shown and which
search locations it has looked at; once it has looked at all of them, kinds never seen get the value
function's `find_known_absent` (a second search for them would fail again). The memory is cleared by
~/reset and when an instruction ends on saycan/plan: what is absent now may be brought in later.

Errors are results, never crashes: unknown skill texts, no or stale camera data, or images that
cannot be decoded give success=false and an error_msg naming the cause.
"""
from __future__ import annotations

import math
import threading
from collections import deque
from dataclasses import fields

import numpy as np
from builtin_interfaces.msg import Time
from nav_msgs.msg import Odometry
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory

from saycan_msgs.msg import PlanStatus
from saycan_msgs.srv import GetAffordances
from saycan_ros.affordance.base import AffordanceUnavailable
from saycan_ros.affordance.features import UNKNOWN_HELD
from saycan_ros.affordance.factory import make_affordance_model
from saycan_ros.affordance.perception_model import PerceptionAffordance, PerceptionObservation, SearchMemory
from saycan_ros.affordance.value_function import AffordanceParams
from saycan_ros.core.camera_model import PinholeCamera
from saycan_ros.core.errors import SayCanError
from saycan_ros.core.kitchen import load_kitchen
from saycan_ros.core.robot_geometry import GRIPPER_JOINTS
from saycan_ros.core.skills import SkillLibrary
from saycan_ros.nodes.common import (Param, clock_seconds, declare_params, destroyed_if_init_fails, held_object_params,
                                     joint_map_from, joint_map_params, non_negative, one_of, positive, probability,
                                     run_node)
from saycan_ros.perception.robot_adapter import load_perception_geometry
from saycan_ros.ros_io.codes import NO_OBSERVATION_YET, PLAN_END_STATES, PLAN_REJECTED, PLAN_SUCCEEDED
from saycan_ros.ros_io.images import depth_to_metres, segmentation_ids, stamp_to_sec
from saycan_ros.ros_io.poses import quaternion_to_yaw
from saycan_ros.skills.config import ExecutorConfig

VALUE_PREFIX = "value."  # AffordanceParams fields as parameters value.<field>

_EXECUTOR = ExecutorConfig()  # containers and search places default to the executor's
PARAMS = (
    Param("kitchen_file", "", "kitchen description; empty: the package's config/kitchen.yaml"),
    Param("robot_file", "", "robot geometry (camera mount, arm reach); empty: the package's config/robot.yaml"),
    Param("model", "perception", "perception (hand-calibrated value function over camera + robot state), learned "
          "(value function learned from experience, same inputs) or none (all 1.0: language-only ablation)",
          one_of("perception", "learned", "none")),
    Param("value_function", "", "model learned: folder of value_function.safetensors/.json; empty: the "
          "package's models/affordance"),
    Param("max_observation_age_s", 2.0, "refuse to answer from camera data received longer ago than this", positive),
    Param("sync_tolerance_s", 0.02, "segmentation and depth images pair up when their stamps differ by at most this",
          non_negative),
    Param("at_location_radius", 0.5, "the robot is 'at' a kitchen location within this xy distance (m)", positive),
    Param("reach_margin", -1.0, "added to the arm's reach envelope (m); < 0: the robot file's grasp_tolerance"),
    Param("min_pixels", 20, "smallest segmentation blob counted as a seen object (pixels)", positive),
    Param("qos_depth", 2, "queue depth of the image subscriptions (reliable)", positive),
    Param("absence_memory", True, "remember what the camera showed while searching: kinds never seen after "
          "every search location was looked at get value.find_known_absent"),
    Param("search_locations", list(_EXECUTOR.search_order),
          "locations the absence memory must have looked at (the executor's search_order)",
          lambda v: None if v and all(str(n).strip() for n in v) else "must list location names"),
    Param("facing_tolerance", 0.35, "a location counts as looked at when the robot stands there facing its "
          "pose's yaw within this (rad)", positive),
    Param("containers", list(_EXECUTOR.drop_locations), "locations whose contents are thrown away: an object seen "
          "within container_radius of their work point is neither visible nor reachable (keep equal to the executor's "
          "drop_locations)"),
    Param("container_radius", _EXECUTOR.container_radius, "see containers (m; keep equal to the executor's)", positive),
    *joint_map_params(),
    *held_object_params(),
) + tuple(Param(VALUE_PREFIX + f.name, float(f.default), f"value function: {f.name.replace('_', ' ')} probability",
                probability) for f in fields(AffordanceParams))


class AffordanceNode(Node):
    @destroyed_if_init_fails
    def __init__(self, **kwargs) -> None:
        super().__init__("affordance_node", **kwargs)
        self.p = declare_params(self, PARAMS)
        kitchen = load_kitchen(self.p["kitchen_file"] or None)
        self.library = SkillLibrary.from_kitchen(kitchen)
        values = AffordanceParams.from_mapping(
            {k[len(VALUE_PREFIX):]: v for k, v in self.p.items() if k.startswith(VALUE_PREFIX)})
        self.geometry = None
        self.perception: PerceptionAffordance | None = None  # tracks the observation (perception, learned)
        if self.p["model"] in ("perception", "learned"):
            self.geometry = load_perception_geometry(self.p["robot_file"] or None)
            margin = self.p["reach_margin"]
            memory = None
            if self.p["absence_memory"]:
                try:
                    memory = SearchMemory(kitchen, tuple(self.p["search_locations"]), self.p["facing_tolerance"])
                except ValueError as exc:
                    raise SayCanError(f"affordance_node: parameter 'search_locations': {exc}") from None
            unknown = [n for n in self.p["containers"] if n not in kitchen.locations]
            if unknown:
                raise SayCanError(f"affordance_node: parameter 'containers': not in the kitchen: {', '.join(unknown)}")
            self.perception = make_affordance_model(
                "perception", kitchen=kitchen, params=values, geometry=self.geometry, search_memory=memory,
                at_location_radius=self.p["at_location_radius"], reach_margin=None if margin < 0 else margin,
                min_pixels=self.p["min_pixels"], hold_min_opening=self.p["hold_min_opening"],
                open_margin=self.p["open_margin"],
                containers=tuple(self.p["containers"]), container_radius=self.p["container_radius"])
            self.model = self.perception
            if self.p["model"] == "learned":
                self.model = make_affordance_model("learned", kitchen=kitchen, perception=self.perception,
                                                   folder=self.p["value_function"] or None, texts=self.library.texts)
        else:
            self.model = make_affordance_model("none")
        self.joint_map = joint_map_from(self, self.p, self.geometry.arm_range[0] if self.geometry else 0.0)

        self._lock = threading.Lock()  # guards the latest-message state below
        self._seg: deque[tuple[float, Time, np.ndarray]] = deque(maxlen=4)
        self._depth: deque[tuple[float, Time, np.ndarray]] = deque(maxlen=4)
        self._info: dict[str, CameraInfo] = {}
        self._joints: dict[str, float] = dict(self.joint_map.fixed)  # logical names (robot_interface.md)
        self._joints_stale = False  # after ~/reset until the next joint_states message
        self._odom: tuple[float, float, float] | None = None
        self._gripper_command: float | None = None
        self._used_pair: tuple[np.ndarray, np.ndarray] | None = None
        self._obs_stamp: Time | None = None
        self._obs_received: float | None = None  # node-clock time the newest observation arrived
        self._warned_default_camera = False

        sensors = MutuallyExclusiveCallbackGroup()  # one at a time: they build one observation together
        qos = QoSProfile(depth=self.p["qos_depth"], reliability=ReliabilityPolicy.RELIABLE)
        if self.perception is not None:
            for msg_type, topic, callback, q in (
                    (Image, "camera/segmentation/image_raw", lambda m: self._on_image(m, "segmentation"), qos),
                    (Image, "camera/depth/image_raw", lambda m: self._on_image(m, "depth"), qos),
                    (CameraInfo, "camera/depth/camera_info", lambda m: self._on_info(m, "depth"), qos),
                    (CameraInfo, "camera/color/camera_info", lambda m: self._on_info(m, "color"), qos),
                    (JointState, "joint_states", self._on_joints, 10),
                    (Odometry, "odom", self._on_odom, 10),
                    (JointTrajectory, "gripper_controller/joint_trajectory", self._on_gripper_command, 10)):
                self.create_subscription(msg_type, topic, callback, q, callback_group=sensors)
        self.create_service(GetAffordances, "get_affordances", self._serve, callback_group=ReentrantCallbackGroup())
        self.create_service(Trigger, "~/reset", self._on_reset)
        if self.perception is not None and self.p["absence_memory"]:
            self.create_subscription(PlanStatus, "saycan/plan", self._on_plan, 10, callback_group=sensors)
        self.get_logger().info(f"affordance_node: model '{self.p['model']}', {len(self.library)} skills")

    # ------------------------------------------------------------------ sensor input
    def _on_image(self, msg: Image, kind: str) -> None:
        try:
            array = segmentation_ids(msg) if kind == "segmentation" else depth_to_metres(msg)
        except ValueError as exc:
            self.get_logger().warning(f"dropping camera/{kind}/image_raw message: {exc}", throttle_duration_sec=10.0)
            return
        with self._lock:
            (self._seg if kind == "segmentation" else self._depth).append(
                (stamp_to_sec(msg.header.stamp), msg.header.stamp, array))
            self._try_observation()

    def _on_info(self, msg: CameraInfo, kind: str) -> None:
        with self._lock:
            self._info[kind] = msg

    def _on_joints(self, msg: JointState) -> None:
        ours = self.joint_map.to_ours(msg.name, msg.position)
        with self._lock:
            self._joints.update({name: pos for name, pos in ours.items() if math.isfinite(pos)})
            self._joints_stale = False

    def _on_odom(self, msg: Odometry) -> None:
        p, q = msg.pose.pose.position, msg.pose.pose.orientation
        yaw = quaternion_to_yaw(q.x, q.y, q.z, q.w)
        with self._lock:
            self._odom = (p.x, p.y, yaw)

    def _on_gripper_command(self, msg: JointTrajectory) -> None:
        if not msg.points:
            return
        ours = self.joint_map.to_ours(msg.joint_names, msg.points[-1].positions)
        targets = [ours[name] for name in GRIPPER_JOINTS if name in ours]
        if targets:
            with self._lock:
                self._gripper_command = float(sum(targets) / len(targets))

    def _camera_for(self, height: int, width: int) -> PinholeCamera | None:
        info = self._info.get("depth") or self._info.get("color")
        camera = None
        if info is not None:
            try:
                camera = PinholeCamera.from_camera_info(info)
            except ValueError as exc:
                self.get_logger().warning(f"ignoring camera_info: {exc}", throttle_duration_sec=10.0)
        if camera is None:
            if self.geometry is None:
                return None
            camera = self.geometry.default_camera
            if not self._warned_default_camera:
                self._warned_default_camera = True
                self.get_logger().warning("no usable camera_info yet: using the robot file's camera intrinsics")
        if (camera.width, camera.height) != (width, height):
            camera = camera.scaled(width, height)  # e.g. info for another resolution of the same optics
        return camera

    def _try_observation(self) -> None:
        """Pair the newest segmentation and depth images with matching stamps into an observation (lock held)."""
        if self._joints_stale:
            return  # a frame of the new world read with the fingers of the old one (see _on_reset)
        tolerance = self.p["sync_tolerance_s"]
        for seg_t, seg_stamp, seg in reversed(self._seg):
            match = next(((t, d) for t, _, d in reversed(self._depth) if abs(t - seg_t) <= tolerance), None)
            if match is None:
                continue
            _, depth = match
            if self._used_pair is not None and self._used_pair[0] is seg and self._used_pair[1] is depth:
                return  # the newest pair is already in use (identity, not stamps: a sim clock may restart)
            if seg.shape != depth.shape:
                self.get_logger().warning(f"segmentation {seg.shape} and depth {depth.shape} differ in size: "
                                          "not registered, ignoring the pair", throttle_duration_sec=10.0)
                return
            camera = self._camera_for(*seg.shape)
            if camera is None:
                return
            obs = PerceptionObservation(seg, depth, camera, dict(self._joints), self._odom,
                                        self._gripper_command, seg_t)
            try:
                self.perception.update(obs)
            except Exception as exc:  # a bad frame must not kill the sensor callbacks
                self.get_logger().error(f"cannot use observation: {exc}", throttle_duration_sec=10.0)
                return
            self._used_pair, self._obs_stamp, self._obs_received = (seg, depth), seg_stamp, clock_seconds(self)
            return

    def _on_reset(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        """Forget what was inferred over time (last gripper command, remembered held object, what
        the searches showed) and the frames received so far: the world changed behind the robot's
        back (a simulator reset, an object handed over). Answering from a frame of the world before
        told the planner the gripper held what the previous instruction had left in it. The joint
        states too are waited for again: a new frame paired with the fingers read before the reset
        (an object placed in them, fingers still open) told it the gripper held nothing."""
        with self._lock:
            self._joints_stale = True
            self._gripper_command = None
            self._seg.clear()
            self._depth.clear()
            self._used_pair = self._obs_stamp = self._obs_received = None
            if self.perception is not None:
                self.perception.forget()
        response.success, response.message = True, ("forgot the gripper command, the held object, the searches "
                                                     "and the camera frames so far")
        return response

    def _on_plan(self, msg: PlanStatus) -> None:
        """An instruction ended: forget what its searches showed (the next one starts afresh)."""
        if msg.state == PLAN_SUCCEEDED or (msg.state in PLAN_END_STATES and msg.state != PLAN_REJECTED):
            with self._lock:
                memory = self.perception.search_memory if self.perception is not None else None
                if memory is not None:
                    memory.clear()

    # ------------------------------------------------------------------ service
    def _serve(self, request: GetAffordances.Request, response: GetAffordances.Response) -> GetAffordances.Response:
        response.success = False
        unknown = [t for t in request.skills if t not in self.library]
        if unknown:
            response.error_msg = (f"unknown skill{'s' if len(unknown) > 1 else ''}: "
                                  + ", ".join(repr(t) for t in unknown))
            self.get_logger().warning(f"GetAffordances: {response.error_msg}")
            return response
        skills = [self.library.get(t) for t in request.skills]
        try:
            if self.perception is not None:
                # under the lock: the estimate and its stamp come from the same observation
                with self._lock:
                    received, stamp = self._obs_received, self._obs_stamp
                    if received is None:
                        raise AffordanceUnavailable(
                            NO_OBSERVATION_YET + "waiting for camera/segmentation/image_raw and "
                            "camera/depth/image_raw with matching stamps")
                    age = clock_seconds(self) - received
                    if age > self.p["max_observation_age_s"]:
                        raise AffordanceUnavailable(
                            f"camera observation is stale: the newest arrived {age:.1f} s ago "
                            f"(max_observation_age_s={self.p['max_observation_age_s']:g}); has the camera stopped?")
                    probabilities = self.model.estimate(skills)
                response.observation_stamp = stamp
                features = self.perception.last_result.features if self.perception.last_result else None
                self.get_logger().debug(f"features: {features}")
                if features is not None and features.holding not in (None, UNKNOWN_HELD):
                    response.holding = features.holding
            else:
                probabilities = self.model.estimate(skills)
                response.observation_stamp = self.get_clock().now().to_msg()
        except SayCanError as exc:
            response.error_msg = str(exc)
            self.get_logger().warning(f"GetAffordances: {exc}", throttle_duration_sec=5.0)
            return response
        except Exception as exc:  # a bug must surface as an error result, not a dead service
            response.error_msg = f"internal error: {type(exc).__name__}: {exc}"
            self.get_logger().error(f"GetAffordances failed: {response.error_msg}")
            return response
        response.probabilities = [float(p) for p in probabilities]
        response.success = True
        return response


def main(args=None) -> int:
    return run_node(AffordanceNode, args, single_threaded=True)  # no callback blocks


if __name__ == "__main__":
    raise SystemExit(main())
