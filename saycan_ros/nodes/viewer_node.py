"""viewer_node: SayCan live in a web browser, for people without rviz (`saycan view`).

Serves Rerun's web viewer (page on `web_port`, data on `grpc_port`) and draws into it what the
graph publishes: `saycan/markers` (visualization_node's scene) as the kitchen seen from above,
`camera/color/image_raw` (at most `camera_rate_hz`), and from `saycan/plan` the step's score bars
and table. It only subscribes, so it shows a replay (`saycan replay`) as it shows a live graph.
"""
from __future__ import annotations

import sys
import threading
import time
from typing import Any, Callable

from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import Image
from visualization_msgs.msg import Marker, MarkerArray

from saycan_msgs.msg import PlanStatus
from saycan_ros.core.kitchen import load_kitchen
from saycan_ros.core.scoring import Candidate
from saycan_ros.nodes.common import Param, declare_params, destroyed_if_init_fails, positive, run_node
from saycan_ros.ros_io.codes import PLAN_REJECTED
from saycan_ros.ros_io.images import image_to_numpy
from saycan_ros.ros_io.poses import quaternion_to_yaw
from saycan_ros.viz.scene_markers import ADD, DELETE, MarkerSpec
from saycan_ros.viz.web_view import TopDownScene, every, kitchen_bounds, score_view

MARKER_TYPES = {getattr(Marker, name): name for name in ("ARROW", "CUBE", "SPHERE", "CYLINDER", "TEXT_VIEW_FACING")}
DELETE_ACTIONS = (Marker.DELETE, Marker.DELETEALL)


def port(value: int) -> str | None:
    return None if 1 <= value <= 65535 else "must be in 1..65535"


PARAMS = (
    Param("kitchen_file", "", "kitchen description (the top-down view's extent); empty: the package's config/kitchen.yaml"),
    Param("web_port", 9090, "HTTP port of the page (Rerun's web viewer)", port),
    Param("grpc_port", 9876, "port of the viewer's data stream (gRPC), which the page connects to", port),
    Param("camera_rate_hz", 2.0, "camera frames drawn per second at most (0: every frame)",
          lambda v: None if v >= 0 else "must be >= 0"),
    Param("memory_limit", "512MiB", "data the server keeps for pages opened later (oldest dropped first)"),
    Param("chart_width", 640, "width of the score chart in pixels", lambda v: None if v >= 400 else "must be >= 400"),
    Param("chart_row_height", 40, "height of one candidate's row in the score chart", positive),
)


def marker_spec(marker: Marker) -> MarkerSpec | None:
    """A Marker as plain data (None for types the view does not draw; DELETEALL is not mapped)."""
    kind = MARKER_TYPES.get(marker.type)
    if kind is None:
        return None
    p, q, s, c = marker.pose.position, marker.pose.orientation, marker.scale, marker.color
    return MarkerSpec(marker.ns, int(marker.id), kind, DELETE if marker.action in DELETE_ACTIONS else ADD,
                      (p.x, p.y, p.z), quaternion_to_yaw(q.x, q.y, q.z, q.w), (s.x, s.y, s.z),
                      (c.r, c.g, c.b, c.a), marker.text)


def camera_rgb(msg: Image):
    """An (H, W, 3) RGB array from rgb8, bgr8 or mono8 (ValueError for other encodings)."""
    array = image_to_numpy(msg)
    if msg.encoding == "rgb8":
        return array
    if msg.encoding == "bgr8":
        return array[:, :, ::-1].copy()
    if msg.encoding == "mono8":
        return array[:, :, None].repeat(3, axis=2)
    raise ValueError(f"camera encoding {msg.encoding} is not drawn (rgb8, bgr8, mono8)")


class ViewerNode(Node):
    @destroyed_if_init_fails
    def __init__(self, make_view: Callable[[dict[str, Any]], Any] | None = None, **node_kwargs) -> None:
        super().__init__("viewer_node", **node_kwargs)
        self.p = declare_params(self, PARAMS)
        if make_view is None:
            from saycan_ros.viz.rerun_view import RerunView

            def make_view(p: dict[str, Any]):
                bounds = kitchen_bounds(load_kitchen(p["kitchen_file"] or None))
                return RerunView(p["web_port"], p["grpc_port"], p["memory_limit"], bounds)
        self.view = make_view(self.p)
        self.scene = TopDownScene()
        self._lock = threading.Lock()  # the view and the scene are shared by the callbacks
        self._next_frame = 0.0
        self._warned: set[str] = set()
        reliable = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        self.create_subscription(MarkerArray, "saycan/markers", self._on_markers, reliable)
        self.create_subscription(PlanStatus, "saycan/plan", self._on_plan, reliable)
        self.create_subscription(Image, "camera/color/image_raw", self._on_camera, qos_profile_sensor_data)
        # the camera relay may publish reliably; a best-effort subscription accepts both
        url = getattr(self.view, "url", "")
        self.get_logger().info(f"browser view at {url}" if url else "browser view started")

    def _on_markers(self, msg: MarkerArray) -> None:
        try:
            specs = [s for s in (marker_spec(m) for m in msg.markers) if s is not None]
            with self._lock:
                self.view.draw_scene(self.scene.update(specs))
        except Exception as exc:  # a bad message must not stop the view
            self._drop("saycan/markers", exc)

    def _on_plan(self, msg: PlanStatus) -> None:
        if msg.state == PLAN_REJECTED or not msg.candidates:
            return
        try:
            candidates = [Candidate(c.skill, c.llm_log_likelihood, c.affordance, c.combined) for c in msg.candidates]
            view = score_view(candidates, msg.chosen, int(msg.step_index), self.p["chart_width"],
                              self.p["chart_row_height"])
            with self._lock:
                self.view.draw_scores(view)
        except Exception as exc:
            self._drop("saycan/plan", exc)

    def _on_camera(self, msg: Image) -> None:
        now = time.monotonic()
        if now < self._next_frame:
            return
        try:
            rgb = camera_rgb(msg)
            with self._lock:
                self.view.draw_camera(rgb)
        except Exception as exc:
            self._drop("camera/color/image_raw", exc)
            return
        self._next_frame = now + every(self.p["camera_rate_hz"])  # a bad frame does not use up the slot

    def _drop(self, topic: str, exc: Exception) -> None:
        if topic not in self._warned:  # once per topic: a camera at 30 Hz would flood the log
            self._warned.add(topic)
            self.get_logger().warning(f"ignoring a bad {topic} message (said once): {exc!r}")

    def destroy_node(self) -> None:
        close = getattr(getattr(self, "view", None), "close", None)  # None when the constructor failed
        if callable(close):
            close()
        super().destroy_node()


def main(args: list[str] | None = None) -> None:
    sys.exit(run_node(ViewerNode, args))


if __name__ == "__main__":
    main()
