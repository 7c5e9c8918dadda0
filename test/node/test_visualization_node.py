"""visualization_node on a real rclpy graph: markers for locations, objects, the robot, the chosen
skill's target and the plan on saycan/markers; the step's scores as an rgb8 image on
saycan/score_image; ids stable across steps; an object gone from the world state deleted."""
from __future__ import annotations

import json
import sys
import threading
from pathlib import Path

from nav_msgs.msg import Odometry
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
from std_msgs.msg import String
from visualization_msgs.msg import Marker, MarkerArray

from saycan_msgs.msg import PlanStatus, SkillCandidate
from saycan_ros.core.kitchen import load_kitchen
from saycan_ros.nodes.visualization_node import VisualizationNode
from saycan_ros.viz.scene_markers import object_marker_id
from saycan_ros.viz.score_chart import chart_size

sys.path.insert(0, str(Path(__file__).parent))
from helpers import Spinner, wait_for  # noqa: E402

KITCHEN = load_kitchen()
LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
RELIABLE = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
APPLE, COKE = [1.55, 0.05, 0.93], [1.6, -0.3, 0.9]


def world_state(objects: dict) -> String:
    return String(data=json.dumps({"sim_time": 1.0, "objects": {
        name: {"xyz": xyz, "location": "close counter", "held": False} for name, xyz in objects.items()}}))


def plan(step: int, executed: list[str], chosen: str, others: list[str]) -> PlanStatus:
    candidates = [SkillCandidate(skill=chosen, llm_log_likelihood=-0.5, affordance=0.9, combined=-0.6)]
    candidates += [SkillCandidate(skill=s, llm_log_likelihood=-2.0 - i, affordance=0.5, combined=-2.7 - i)
                   for i, s in enumerate(others)]
    return PlanStatus(instruction="throw away the apple", step_index=step, executed_steps=executed,
                      candidates=candidates, chosen=chosen, state="executing")


class Viewer(Node):
    """Plays planner, simulator and odometry, and records what an rviz would receive."""

    def __init__(self, context):
        super().__init__("viewer", context=context)
        self.plan_pub = self.create_publisher(PlanStatus, "saycan/plan", RELIABLE)
        self.odom_pub = self.create_publisher(Odometry, "odom", RELIABLE)
        self.world_pub = self.create_publisher(String, "sim/world_state", LATCHED)
        self.world: dict[str, list[float]] | None = None  # republished like sim_node's 2 Hz world state
        self.create_timer(0.1, self._publish_world)
        self.lock = threading.Lock()
        self.arrays: list[MarkerArray] = []
        self.images: list[Image] = []
        self.create_subscription(MarkerArray, "saycan/markers", lambda m: self._keep(self.arrays, m), RELIABLE)
        self.create_subscription(Image, "saycan/score_image", lambda m: self._keep(self.images, m), LATCHED)

    def _publish_world(self) -> None:
        if self.world is not None:
            self.world_pub.publish(world_state(self.world))

    def wait_connected(self) -> None:
        wait_for(lambda: self.count_subscribers("sim/world_state") > 0 and self.count_subscribers("saycan/plan") > 0
                 and self.count_subscribers("odom") > 0 and self.count_publishers("saycan/markers") > 0,
                 20, "the node's subscriptions")

    def _keep(self, into: list, msg) -> None:
        with self.lock:
            into.append(msg)

    def latest(self, where: list):
        with self.lock:
            return where[-1] if where else None

    def publish_odom(self, x: float, y: float) -> None:
        odom = Odometry()
        odom.header.frame_id = "odom"
        odom.pose.pose.position.x, odom.pose.pose.position.y = x, y
        odom.pose.pose.orientation.z, odom.pose.pose.orientation.w = 0.0, 1.0
        self.odom_pub.publish(odom)

    def wait_markers(self, condition, what: str, timeout_s: float = 20.0) -> dict[tuple[str, int], Marker]:
        """The first published array, from now on, whose markers (by namespace and id) satisfy `condition`."""
        with self.lock:
            start = len(self.arrays)
        found: list = []

        def check() -> bool:
            with self.lock:
                arrays = self.arrays[start:]
            for array in arrays:
                markers = {(m.ns, m.id): m for m in array.markers}
                if condition(markers):
                    found.append((array, markers))
                    return True
            return False

        wait_for(check, timeout_s, what)
        return found[0][1]


def test_markers_and_score_image_follow_the_plan(ros_context):
    node = VisualizationNode(context=ros_context, parameter_overrides=[
        Parameter("objects_from", value="sim_world_state"), Parameter("stale_after_s", value=1.0),
        Parameter("rate_hz", value=10.0)])
    viewer = Viewer(ros_context)
    try:
        with Spinner(ros_context, node, viewer):
            viewer.wait_connected()
            viewer.world = {"apple": APPLE, "coke can": COKE}

            def robot_at(x: float, y: float):
                return lambda ms: (("robot", 0) in ms and ms[("robot", 0)].pose.position.x == x
                                   and ms[("robot", 0)].pose.position.y == y)

            def with_step(text: str):
                return lambda ms: ("plan", 0) in ms and f"> {text}" in ms[("plan", 0)].text

            apple_id = object_marker_id(KITCHEN, "apple")
            viewer.publish_odom(0.3, -0.4)
            viewer.plan_pub.publish(plan(1, [], "find an apple", ["go to the table", "done"]))
            step1 = viewer.wait_markers(lambda ms: robot_at(0.3, -0.4)(ms) and with_step("find an apple")(ms)
                                        and ("objects", apple_id) in ms, "step 1's markers")

            for marker in step1.values():
                assert marker.header.frame_id == "odom"
                assert marker.header.stamp.sec > 0 or marker.header.stamp.nanosec > 0
            labels = {m.text: m for (ns, _), m in step1.items() if ns == "location_labels"}
            assert set(labels) == set(KITCHEN.locations)
            for name, loc in KITCHEN.locations.items():
                assert (labels[name].pose.position.x, labels[name].pose.position.y) == loc.pose[:2]
                assert labels[name].type == Marker.TEXT_VIEW_FACING
            apple = next(m for (ns, _), m in step1.items() if ns == "objects" and m.text == "apple")
            assert [apple.pose.position.x, apple.pose.position.y, apple.pose.position.z] == APPLE
            assert apple.type == Marker.SPHERE and apple.action == Marker.ADD
            highlight = step1[("highlight", 0)]
            assert highlight.action == Marker.ADD and highlight.pose.position.x == APPLE[0]

            wait_for(lambda: viewer.latest(viewer.images) is not None, 20, "a score image")
            image = viewer.latest(viewer.images)
            height, width = chart_size(3)
            assert (image.encoding, image.height, image.width, image.step) == ("rgb8", height, width, width * 3)
            assert len(image.data) == height * width * 3

            # step 2: the robot moved, picks up the apple; then it goes to the trash can
            viewer.publish_odom(1.2, 0.0)
            viewer.plan_pub.publish(plan(2, ["find an apple"], "pick up the apple", ["done"]))
            step2 = viewer.wait_markers(lambda ms: robot_at(1.2, 0.0)(ms) and with_step("pick up the apple")(ms),
                                        "step 2's markers")
            assert step2[("plan", 0)].text.splitlines() == ['"throw away the apple"', "1. find an apple",
                                                            "> pick up the apple"]
            assert step2[("highlight", 0)].pose.position.x == APPLE[0]
            for key, marker in step1.items():  # the same entities under the same ids
                if key[0] in ("locations", "location_labels", "objects", "object_labels"):
                    assert step2[key].text == marker.text and step2[key].action == Marker.ADD, key
            wait_for(lambda: viewer.latest(viewer.images).height == chart_size(2)[0], 20, "step 2's score image")

            viewer.plan_pub.publish(plan(3, ["find an apple", "pick up the apple"], "go to the trash can", ["done"]))
            step3 = viewer.wait_markers(with_step("go to the trash can"), "step 3's markers")
            trash = KITCHEN.locations["trash can"].pose
            assert (step3[("highlight", 0)].pose.position.x, step3[("highlight", 0)].pose.position.y) == trash[:2]
            assert step3[("plan", 0)].text.splitlines()[1:3] == ["1. find an apple", "2. pick up the apple"]

            # the apple leaves the world state: after stale_after_s its marker is deleted, once
            viewer.world = {"coke can": COKE}
            apple_key = ("objects", apple_id)
            deleted = viewer.wait_markers(lambda ms: apple_key in ms and ms[apple_key].action == Marker.DELETE,
                                          "the apple's DELETE marker")
            assert deleted[("object_labels", apple_id)].action == Marker.DELETE
            coke = next(m for (ns, _), m in step1.items() if ns == "objects" and m.text == "coke can")
            assert deleted[("objects", coke.id)].action == Marker.ADD  # it is still in the world state
            later = viewer.wait_markers(lambda ms: True, "markers after the delete")
            assert apple_key not in later
    finally:
        node.destroy_node()
        viewer.destroy_node()


def test_a_bad_world_state_is_ignored_and_the_node_keeps_publishing(ros_context):
    node = VisualizationNode(context=ros_context, parameter_overrides=[
        Parameter("objects_from", value="sim_world_state"), Parameter("rate_hz", value=10.0)])
    viewer = Viewer(ros_context)
    try:
        with Spinner(ros_context, node, viewer):
            viewer.wait_connected()
            viewer.world_pub.publish(String(data="{not json"))
            viewer.plan_pub.publish(PlanStatus(instruction="x", state="rejected"))  # another command refused
            markers = viewer.wait_markers(lambda ms: ("plan", 0) in ms, "markers")
            assert markers[("plan", 0)].text == "waiting for an instruction"
            assert not any(ns == "objects" for ns, _ in markers)
            viewer.world = {"apple": APPLE}
            viewer.wait_markers(lambda ms: any(ns == "objects" for ns, _ in ms), "the apple after a good world state")
    finally:
        node.destroy_node()
        viewer.destroy_node()


def test_a_real_robot_has_no_world_state_subscription(ros_context):
    node = VisualizationNode(context=ros_context)  # objects_from defaults to none
    try:
        topics = {name for name, _ in node.get_subscriber_names_and_types_by_node("visualization_node", "/")}
        assert {"/saycan/plan", "/odom"} <= topics and "/sim/world_state" not in topics
    finally:
        node.destroy_node()
