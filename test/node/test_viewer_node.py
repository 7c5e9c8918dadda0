"""viewer_node on a real rclpy graph, drawing into a recording fake view: visualization_node's markers
become the top-down scene (changes only, deletes cleared), saycan/plan the score bars and table,
the camera frames (throttled, bgr8 turned to RGB); bad messages are dropped, the node goes on."""
from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
from visualization_msgs.msg import Marker, MarkerArray

from saycan_msgs.msg import PlanStatus, SkillCandidate
from saycan_ros.core.errors import ConfigError
from saycan_ros.nodes.viewer_node import ViewerNode
from saycan_ros.ros_io.images import numpy_to_image
from saycan_ros.viz.web_view import Shape2D, Text

sys.path.insert(0, str(Path(__file__).parent))
from helpers import Spinner, wait_for  # noqa: E402

RELIABLE = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)


class FakeView:
    """Records what the node draws, like RerunView would receive it."""

    url = "http://fake"

    def __init__(self, params):
        self.params = params
        self.lock = threading.Lock()
        self.scenes, self.scores, self.frames = [], [], []

    def draw_scene(self, update):
        with self.lock:
            self.scenes.append(update)

    def draw_scores(self, view):
        with self.lock:
            self.scores.append(view)

    def draw_camera(self, rgb):
        with self.lock:
            self.frames.append(rgb)

    def count(self, what) -> int:
        with self.lock:
            return len(getattr(self, what))


def marker(ns: str, marker_id: int, kind: int, x: float, y: float, action: int = Marker.ADD, text: str = "") -> Marker:
    m = Marker(ns=ns, id=marker_id, type=kind, action=action, text=text)
    m.header.frame_id = "odom"
    m.pose.position.x, m.pose.position.y, m.pose.orientation.w = x, y, 1.0
    m.scale.x = m.scale.y = m.scale.z = 0.4
    m.color.r, m.color.a = 1.0, 1.0
    return m


def test_viewer_draws_markers_scores_and_camera(ros_context):
    views = []
    node = ViewerNode(make_view=lambda p: views.append(FakeView(p)) or views[-1], context=ros_context,
                      parameter_overrides=[Parameter("camera_rate_hz", value=2.0), Parameter("web_port", value=9191)])
    view = views[0]
    assert view.params["web_port"] == 9191 and view.params["grpc_port"] == 9876
    pub = Node("graph", context=ros_context)
    markers = pub.create_publisher(MarkerArray, "saycan/markers", RELIABLE)
    plans = pub.create_publisher(PlanStatus, "saycan/plan", RELIABLE)
    camera = pub.create_publisher(Image, "camera/color/image_raw", RELIABLE)
    with Spinner(ros_context, node, pub):
        wait_for(lambda: all(pub.count_subscribers(t) for t in ("saycan/markers", "saycan/plan", "camera/color/image_raw")),
                 20, "the viewer's subscriptions")
        scene = [marker("robot", 0, Marker.CYLINDER, 1.0, 0.5, text="robot"),
                 marker("objects", 3, Marker.SPHERE, 1.5, 0.0, text="apple"),
                 marker("object_labels", 3, Marker.TEXT_VIEW_FACING, 1.5, 0.0, text="apple"),
                 marker("plan", 0, Marker.TEXT_VIEW_FACING, 0.0, 0.0, text='"throw away the apple"')]
        markers.publish(MarkerArray(markers=scene))
        wait_for(lambda: view.count("scenes") >= 1, 10, "the first scene")
        first = view.scenes[0]
        assert set(first.changed) == {"kitchen/robot/0", "kitchen/objects/3", "plan/plan/0"}
        robot = first.changed["kitchen/robot/0"]
        assert isinstance(robot, Shape2D) and robot.origin == (1.0, -0.5) and robot.rgba[:1] == (255,)
        assert first.changed["plan/plan/0"] == Text('"throw away the apple"')

        # the same array again, then the robot moved and the apple deleted
        markers.publish(MarkerArray(markers=scene))
        moved = [marker("robot", 0, Marker.CYLINDER, 1.2, 0.5, text="robot"),
                 marker("objects", 3, Marker.SPHERE, 0, 0, action=Marker.DELETE)]
        markers.publish(MarkerArray(markers=moved))
        wait_for(lambda: view.count("scenes") >= 3, 10, "three scenes")
        assert view.scenes[1].changed == {} and view.scenes[1].cleared == []
        assert set(view.scenes[2].changed) == {"kitchen/robot/0"} and view.scenes[2].cleared == ["kitchen/objects/3"]

        candidates = [SkillCandidate(skill="pick up the apple", llm_log_likelihood=-0.5, affordance=0.9, combined=-0.6),
                      SkillCandidate(skill="go to the table", llm_log_likelihood=-2.0, affordance=0.5, combined=-2.7)]
        plans.publish(PlanStatus(instruction="throw away the apple", step_index=2, candidates=candidates,
                                 chosen="pick up the apple", state="executing"))
        plans.publish(PlanStatus(instruction="other", state="rejected", candidates=candidates, chosen="x"))
        plans.publish(PlanStatus(instruction="throw away the apple", state="succeeded"))  # no candidates: no bars
        wait_for(lambda: view.count("scores") >= 1, 10, "the scores")
        time.sleep(0.5)
        assert view.count("scores") == 1
        scores = view.scores[0]
        assert scores.chart.shape == (120, 640, 3)
        assert "| > | pick up the apple | -0.50 | 0.90 | -0.60 |" in scores.table.splitlines()

        bgr = np.zeros((24, 32, 3), np.uint8)
        bgr[:, :, 0] = 200  # blue in bgr8
        camera.publish(Image(height=5, width=5, encoding="rgb8", step=15, data=b"\x00" * 7))  # malformed: dropped
        for _ in range(5):  # a burst: at 2 Hz at most one frame of it is drawn
            camera.publish(numpy_to_image(bgr, "bgr8"))
        wait_for(lambda: view.count("frames") >= 1, 10, "a camera frame")
        time.sleep(0.3)
        assert view.count("frames") == 1
        frame = view.frames[0]
        assert frame.shape == (24, 32, 3) and tuple(frame[0, 0]) == (0, 0, 200)  # shown as RGB
        time.sleep(0.6)
        camera.publish(numpy_to_image(bgr, "bgr8"))
        wait_for(lambda: view.count("frames") >= 2, 10, "a second frame after the throttle window")
    node.destroy_node()
    pub.destroy_node()


def test_a_view_that_cannot_start_is_one_clear_error_and_no_node_is_left(ros_context):
    """make_view fails (as RerunView does on a port in use): that error arrives unchanged (not an
    AttributeError from destroy_node) and the half-built node is gone from the graph."""
    def busy_port(params):
        raise ConfigError(f"port {params['web_port']} is in use")

    with pytest.raises(ConfigError, match="is in use"):
        ViewerNode(make_view=busy_port, context=ros_context)
    observer = Node("observer", context=ros_context)
    try:
        assert "viewer_node" not in observer.get_node_names()
    finally:
        observer.destroy_node()
