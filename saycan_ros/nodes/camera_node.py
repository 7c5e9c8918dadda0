"""camera_node: publishes camera/color/image_raw (rgb8) + camera_info from a camera source, or relays
the simulator's camera (`source: topic`).

Sources: `device` (OpenCV index or /dev/videoN), `video` (file), `folder` (images in name order),
`topic` (relay sim/camera/{color,depth,segmentation}/... to camera/..., as a camera driver would
publish them). A watchdog warns (throttled) and reports on `diagnostics` when frames stop for more
than stale_after_s, and says so again when they resume.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.clock import Clock, ClockType
from rclpy.event_handler import SubscriptionEventCallbacks
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image

from saycan_ros.core.errors import ConfigError
from saycan_ros.nodes.common import (Param, declare_params, destroyed_if_init_fails, non_negative, one_of, positive,
                                     run_node)
from saycan_ros.perception.camera_sources import CameraSource, CameraSourceError, make_camera_source
from saycan_ros.ros_io.images import make_camera_info, numpy_to_image

STREAMS = ("color", "depth", "segmentation")
# relay: stream -> (image, camera_info or None); inputs are these names under `sim/`
RELAYED = {"color": ("camera/color/image_raw", "camera/color/camera_info"),
           "depth": ("camera/depth/image_raw", "camera/depth/camera_info"),
           "segmentation": ("camera/segmentation/image_raw", None)}

PARAMS = (
    Param("source", "topic", "frame source: device (OpenCV), video (file), folder (images), topic (relay sim/camera/...)",
          one_of("device", "video", "folder", "topic")),
    Param("uri", "", "device index or path, video file, or image folder (unused for topic)"),
    Param("loop", True, "video/folder: start again at the end instead of stopping"),
    Param("rate_hz", 15.0, "publishing rate for device/video/folder sources", positive),
    Param("frame_id", "camera_color_optical_frame", "frame_id of published images (device/video/folder)"),
    Param("vertical_fov_deg", 55.0, "vertical field of view for CameraInfo when intrinsics are not given",
          lambda v: None if 0.0 < v < 180.0 else "must be in (0, 180)"),
    Param("intrinsics", [0.0, 0.0, 0.0, 0.0], "[fx, fy, cx, cy] in pixels; all zero: derive from vertical_fov_deg",
          lambda v: None if len(v) == 4 and (all(x == 0 for x in v) or (v[0] > 0 and v[1] > 0))
          else "must be [fx, fy, cx, cy] with fx, fy > 0, or all zero"),
    Param("width", 0, "device: requested capture width (0 = driver default)", non_negative),
    Param("height", 0, "device: requested capture height (0 = driver default)", non_negative),
    Param("input_qos", "reliable", "relay: reliability of the sim/ subscriptions (must match the publisher)",
          one_of("reliable", "best_effort")),
    Param("qos_depth", 2, "queue depth of image publishers and subscriptions", positive),
    Param("stale_after_s", 2.0, "frames older than this count as stopped (watchdog)", positive),
    Param("diagnostics_period_s", 1.0, "period of the watchdog and of diagnostics messages", positive),
    Param("warn_throttle_s", 10.0, "at most one 'frames stopped' warning per stream in this period", positive),
    Param("reopen_after_s", 5.0, "device: close and reopen a stalled device this often (0 = never)", non_negative),
)


@dataclass
class StreamHealth:
    """Frame bookkeeping of one stream for the watchdog (monotonic times)."""

    frames: int = 0
    last: float | None = None
    stale: bool = False
    last_warn: float = -1e9
    window_start: float = 0.0
    window_frames: int = 0
    rate_hz: float = 0.0

    def tick(self, now: float) -> None:
        self.frames += 1
        self.window_frames += 1
        self.last = now


class CameraNode(Node):
    @destroyed_if_init_fails
    def __init__(self, **kwargs) -> None:
        super().__init__("camera_node", **kwargs)
        self.p = declare_params(self, PARAMS)
        self._source: CameraSource | None = None
        self._start = time.monotonic()
        self._ended_logged = False
        self._last_reopen = self._start
        qos = QoSProfile(depth=self.p["qos_depth"], reliability=ReliabilityPolicy.RELIABLE)
        self._diag_pub = self.create_publisher(DiagnosticArray, "diagnostics", 10)

        # Capture and the frame watchdog run on the steady clock: under use_sim_time a stopped
        # simulator would otherwise also stop the watchdog that should report it.
        steady = Clock(clock_type=ClockType.STEADY_TIME)
        if self.p["source"] == "topic":
            self.health = {s: StreamHealth(window_start=self._start) for s in STREAMS}
            self._relay(qos)
            what = "relaying sim/camera/{color,depth,segmentation} to camera/..."
        else:
            self.health = {"color": StreamHealth(window_start=self._start)}
            self._source = self._open_source()
            self._image_pub = self.create_publisher(Image, "camera/color/image_raw", qos)
            self._info_pub = self.create_publisher(CameraInfo, "camera/color/camera_info", qos)
            # A device read blocks until a frame arrives: keep it off the watchdog's callback group.
            self.create_timer(1.0 / self.p["rate_hz"], self._capture, MutuallyExclusiveCallbackGroup(), clock=steady)
            what = f"publishing {self.p['source']} '{self.p['uri']}' at {self.p['rate_hz']:g} Hz"
        self.create_timer(self.p["diagnostics_period_s"], self._watchdog, MutuallyExclusiveCallbackGroup(),
                          clock=steady)
        self.get_logger().info(f"camera_node: {what}")

    # ------------------------------------------------------------------ sources
    def _open_source(self) -> CameraSource:
        intrinsics = self.p["intrinsics"]
        intrinsics = None if all(v == 0 for v in intrinsics) else list(intrinsics)
        if not self.p["uri"]:
            raise ConfigError(f"camera_node: parameter 'uri' is required for source '{self.p['source']}'")
        return make_camera_source(self.p["source"], self.p["uri"], loop=self.p["loop"], width=self.p["width"],
                                  height=self.p["height"], vertical_fov_deg=self.p["vertical_fov_deg"],
                                  intrinsics=intrinsics)

    def _capture(self) -> None:
        if self._source is None:
            self._maybe_reopen()
            return
        try:
            frame = self._source.read()
        except Exception as exc:  # a driver error must not kill the node: the watchdog reports it
            self.get_logger().error(f"reading the camera failed: {exc}", throttle_duration_sec=10.0)
            frame = None
        if frame is None:
            if getattr(self._source, "ended", False) and not self._ended_logged:
                self._ended_logged = True
                self.get_logger().warning(f"camera source '{self.p['uri']}' has ended (loop is false)")
            self._maybe_reopen()
            return
        stamp = self.get_clock().now().to_msg()
        try:
            image = numpy_to_image(frame, "rgb8", stamp, self.p["frame_id"])
        except ValueError as exc:
            self.get_logger().error(f"cannot publish frame: {exc}", throttle_duration_sec=10.0)
            return
        self._image_pub.publish(image)
        self._info_pub.publish(make_camera_info(self._source.camera(), stamp, self.p["frame_id"]))
        self.health["color"].tick(time.monotonic())

    def _maybe_reopen(self) -> None:
        """A stalled USB camera often comes back after being reopened (unplugged and replugged)."""
        period = self.p["reopen_after_s"]
        now = time.monotonic()
        h = self.health["color"]
        if self.p["source"] != "device" or period <= 0 or now - self._last_reopen < period:
            return
        if h.last is not None and now - h.last < self.p["stale_after_s"]:
            return
        self._last_reopen = now
        if self._source is not None:
            self._source.close()
            self._source = None
        try:
            self._source = self._open_source()
            self.get_logger().info(f"reopened camera device '{self.p['uri']}'")
        except CameraSourceError as exc:
            self.get_logger().warning(f"{exc}; retrying in {period:g} s", throttle_duration_sec=30.0)

    # ------------------------------------------------------------------ relay
    def _relay(self, out_qos: QoSProfile) -> None:
        reliability = (ReliabilityPolicy.RELIABLE if self.p["input_qos"] == "reliable"
                       else ReliabilityPolicy.BEST_EFFORT)
        in_qos = QoSProfile(depth=self.p["qos_depth"], reliability=reliability)
        events = SubscriptionEventCallbacks(incompatible_qos=self._incompatible_qos)
        group = MutuallyExclusiveCallbackGroup()
        self._relay_pubs = []
        for stream, (image_topic, info_topic) in RELAYED.items():
            pub = self.create_publisher(Image, image_topic, out_qos)
            self._relay_pubs.append(pub)
            self.create_subscription(Image, f"sim/{image_topic}", self._forward(pub, stream), in_qos,
                                     callback_group=group, event_callbacks=events)
            if info_topic:
                info_pub = self.create_publisher(CameraInfo, info_topic, out_qos)
                self.create_subscription(CameraInfo, f"sim/{info_topic}", self._forward(info_pub), in_qos,
                                         callback_group=group, event_callbacks=events)

    def _forward(self, pub, stream: str | None = None):
        def callback(msg) -> None:
            pub.publish(msg)  # pass through unchanged: same stamp, frame and encoding as the simulator's
            if stream is not None:
                self.health[stream].tick(time.monotonic())
        return callback

    def _incompatible_qos(self, event) -> None:
        self.get_logger().error(
            f"a sim/camera publisher has incompatible QoS (policy {event.last_policy_kind}); set input_qos to "
            "match it (reliable/best_effort)", throttle_duration_sec=30.0)

    # ------------------------------------------------------------------ watchdog
    def _watchdog(self) -> None:
        now = time.monotonic()
        stale_after = self.p["stale_after_s"]
        array = DiagnosticArray()
        array.header.stamp = self.get_clock().now().to_msg()
        for stream, h in self.health.items():
            window = now - h.window_start
            if window > 0:
                h.rate_hz = h.window_frames / window
            h.window_start, h.window_frames = now, 0
            age = None if h.last is None else now - h.last
            stale = (age if age is not None else now - self._start) > stale_after
            topic = RELAYED[stream][0]
            if stale:
                if now - h.last_warn >= self.p["warn_throttle_s"]:
                    h.last_warn = now
                    since = "no frame received yet" if age is None else f"last frame {age:.1f} s ago"
                    self.get_logger().warning(f"{topic}: frames stopped ({since}; stale after {stale_after:g} s)")
            elif h.stale:
                self.get_logger().info(f"{topic}: frames resumed")
            h.stale = stale
            status = DiagnosticStatus()
            status.name = f"camera_node: {stream}"
            status.hardware_id = self.p["uri"] or "sim/camera"
            if stale:
                status.level = DiagnosticStatus.ERROR if h.last is not None else DiagnosticStatus.WARN
                status.message = "no frames yet" if h.last is None else f"frames stopped {age:.1f} s ago"
            else:
                status.level, status.message = DiagnosticStatus.OK, "streaming"
            status.values = [KeyValue(key="frames", value=str(h.frames)),
                             KeyValue(key="rate_hz", value=f"{h.rate_hz:.2f}"),
                             KeyValue(key="age_s", value="" if age is None else f"{age:.3f}")]
            array.status.append(status)
        self._diag_pub.publish(array)

    def close(self) -> None:
        if self._source is not None:
            self._source.close()
            self._source = None


def main(args=None) -> int:
    return run_node(CameraNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
