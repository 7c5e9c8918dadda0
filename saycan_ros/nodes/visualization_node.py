"""visualization_node: what rviz shows of SayCan.

Publishes visualization_msgs/MarkerArray on `saycan/markers` (named locations, objects with
labels, the robot, the chosen skill's target highlighted, the plan so far as text; built by the
pure saycan_ros.viz.scene_markers) at `rate_hz` and on every decision, and the step's scores as an
rgb8 image on `saycan/score_image` (latched, so rviz opened mid-plan shows the last step).

Inputs: `saycan/plan` (PlanStatus), `odom` (the robot's pose) and, with objects_from
sim_world_state, the simulator's `sim/world_state` for object positions; on a real robot
(objects_from none) only locations, the robot and the plan are drawn.
"""
from __future__ import annotations

import json
import math
import sys

from nav_msgs.msg import Odometry
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
from std_msgs.msg import String
from visualization_msgs.msg import Marker, MarkerArray

from saycan_msgs.msg import PlanStatus
from saycan_ros.core.kitchen import load_kitchen
from saycan_ros.core.scoring import Candidate
from saycan_ros.core.skills import SkillLibrary
from saycan_ros.nodes.common import (Param, clock_seconds, declare_params, destroyed_if_init_fails, one_of, positive,
                                     run_node)
from saycan_ros.ros_io.codes import PLAN_REJECTED
from saycan_ros.ros_io.images import numpy_to_image
from saycan_ros.ros_io.poses import quaternion_to_yaw, yaw_to_quaternion
from saycan_ros.viz.scene_markers import DELETE, MarkerSpec, PlanView, SeenObject, build_scene
from saycan_ros.viz.score_chart import render_score_chart

OBJECTS_FROM_SIM = "sim_world_state"
PARAMS = (
    Param("kitchen_file", "", "kitchen description (locations, objects, skill templates); empty: the package's config/kitchen.yaml"),
    Param("frame_id", "odom", "fixed frame of the markers (where kitchen poses and odometry live)"),
    Param("rate_hz", 2.0, "marker publish rate (they also go out on every saycan/plan message)", positive),
    Param("objects_from", "none", "where object positions come from: none (a real robot: no object markers) "
          "or the simulator's sim/world_state (sim.launch.yaml)", one_of("none", OBJECTS_FROM_SIM)),
    Param("stale_after_s", 5.0, "an object missing from the world state this long is deleted from the display", positive),
    Param("chart_width", 640, "width of the score image in pixels", lambda v: None if v >= 400 else "must be >= 400"),
    Param("chart_row_height", 40, "height of one candidate's row in the score image", lambda v: None if v >= 12 else "must be >= 12"),
)


class VisualizationNode(Node):
    @destroyed_if_init_fails
    def __init__(self, **node_kwargs) -> None:
        super().__init__("visualization_node", **node_kwargs)
        self.p = declare_params(self, PARAMS)
        self.kitchen = load_kitchen(self.p["kitchen_file"] or None)
        self.library = SkillLibrary.from_kitchen(self.kitchen)
        self.plan = PlanView()
        self.robot_pose: tuple[float, float, float] | None = None
        self.objects: dict[str, SeenObject] = {}
        self._early_world_state: String | None = None
        reliable = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        latched = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.TRANSIENT_LOCAL)
        self.marker_pub = self.create_publisher(MarkerArray, "saycan/markers", reliable)
        self.image_pub = self.create_publisher(Image, "saycan/score_image", latched)
        # All callbacks share the node's default mutually exclusive group: the state needs no lock.
        self.create_subscription(PlanStatus, "saycan/plan", self._on_plan, reliable)
        self.create_subscription(Odometry, "odom", self._on_odom, QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE))
        if self.p["objects_from"] == OBJECTS_FROM_SIM:
            self.create_subscription(String, "sim/world_state", self._on_world_state, latched)
        self.create_timer(1.0 / self.p["rate_hz"], self.publish_markers)
        self.get_logger().info(f"publishing saycan/markers in '{self.p['frame_id']}' and saycan/score_image; "
                               f"objects from {self.p['objects_from']}")

    # -- inputs --------------------------------------------------------------------------
    def _on_plan(self, msg: PlanStatus) -> None:
        if msg.state == PLAN_REJECTED:  # a refused command says nothing about the running instruction
            return
        try:
            self.plan = PlanView(msg.instruction, int(msg.step_index), tuple(msg.executed_steps), msg.chosen,
                                 msg.state, msg.detail)
            if msg.candidates:
                self._publish_chart(msg)
        except Exception as exc:  # a bad message must not stop the display
            self._drop("saycan/plan", exc)
        self.publish_markers()

    def _on_odom(self, msg: Odometry) -> None:
        p, q = msg.pose.pose.position, msg.pose.pose.orientation
        pose = (p.x, p.y, quaternion_to_yaw(q.x, q.y, q.z, q.w))
        if all(math.isfinite(v) for v in pose):
            self.robot_pose = pose

    def _on_world_state(self, msg: String) -> None:
        now = clock_seconds(self)
        if now <= 0.0:  # use_sim_time before the first /clock: ages counted from 0 would expire at once
            self._early_world_state = msg
            return
        try:
            objects = json.loads(msg.data)["objects"]
            for name, state in objects.items():
                x, y, z = (float(v) for v in state["xyz"])
                if all(math.isfinite(v) for v in (x, y, z)):
                    self.objects[str(name)] = SeenObject((x, y, z), now)
        except Exception as exc:
            self._drop("sim/world_state", exc)

    def _drop(self, topic: str, exc: Exception) -> None:
        self.get_logger().warning(f"ignoring a bad {topic} message: {exc!r}")

    # -- outputs -------------------------------------------------------------------------
    def publish_markers(self) -> None:
        if self._early_world_state is not None and clock_seconds(self) > 0.0:
            msg, self._early_world_state = self._early_world_state, None
            self._on_world_state(msg)
        scene = build_scene(self.kitchen, self.library, self.robot_pose, self.objects, self.plan,
                            clock_seconds(self), self.p["stale_after_s"])
        self.objects = scene.objects
        stamp = self.get_clock().now().to_msg()
        self.marker_pub.publish(MarkerArray(markers=[self._marker(spec, stamp) for spec in scene.markers]))

    def _marker(self, spec: MarkerSpec, stamp) -> Marker:
        marker = Marker(ns=spec.namespace, id=spec.id, type=getattr(Marker, spec.type),
                        action=Marker.DELETE if spec.action == DELETE else Marker.ADD, text=spec.text)
        marker.header.frame_id, marker.header.stamp = self.p["frame_id"], stamp
        marker.pose.position.x, marker.pose.position.y, marker.pose.position.z = spec.position
        q = marker.pose.orientation
        q.x, q.y, q.z, q.w = yaw_to_quaternion(spec.yaw)
        marker.scale.x, marker.scale.y, marker.scale.z = spec.scale
        marker.color.r, marker.color.g, marker.color.b, marker.color.a = spec.rgba
        return marker

    def _publish_chart(self, msg: PlanStatus) -> None:
        candidates = [Candidate(c.skill, c.llm_log_likelihood, c.affordance, c.combined) for c in msg.candidates]
        title = f"step {msg.step_index}: {msg.chosen}"
        image = render_score_chart(candidates, msg.chosen, title, self.p["chart_width"], self.p["chart_row_height"])
        self.image_pub.publish(numpy_to_image(image, "rgb8", self.get_clock().now().to_msg()))


def main(args: list[str] | None = None) -> None:
    sys.exit(run_node(VisualizationNode, args))


if __name__ == "__main__":
    main()
