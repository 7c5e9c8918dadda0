"""camera_node on a real rclpy graph: folder source, sim relay, watchdog diagnostics, bad sources."""
from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image

from saycan_ros.core.camera_model import PinholeCamera
from saycan_ros.core.errors import ConfigError, SayCanError
from saycan_ros.nodes.camera_node import CameraNode
from saycan_ros.ros_io.images import image_to_numpy, make_camera_info, numpy_to_image

sys.path.insert(0, str(Path(__file__).parent))
from helpers import Spinner, wait_for  # noqa: E402

QOS = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)


class Collector:
    """Keeps every message received on some topics."""

    def __init__(self, node: Node, topics: dict[str, type]):
        self.msgs: dict[str, list] = {t: [] for t in topics}
        self._lock = threading.Lock()
        for topic, msg_type in topics.items():
            node.create_subscription(msg_type, topic, lambda m, t=topic: self._add(t, m), QOS)

    def _add(self, topic, msg):
        with self._lock:
            self.msgs[topic].append(msg)

    def count(self, topic):
        with self._lock:
            return len(self.msgs[topic])

    def last(self, topic):
        with self._lock:
            return self.msgs[topic][-1]


def params(**values):
    return [Parameter(k, value=v) for k, v in values.items()]


def test_folder_source_publishes_rgb8_images_and_camera_info(ros_context, tmp_path):
    for i in range(2):
        bgr = np.zeros((48, 64, 3), np.uint8)
        bgr[:, :, 2] = 100 + i  # red in BGR order
        cv2.imwrite(str(tmp_path / f"{i}.png"), bgr)
    cam = CameraNode(context=ros_context, parameter_overrides=params(
        source="folder", uri=str(tmp_path), rate_hz=20.0, frame_id="head_cam", vertical_fov_deg=50.0))
    probe = Node("probe", context=ros_context)
    got = Collector(probe, {"camera/color/image_raw": Image, "camera/color/camera_info": CameraInfo})
    try:
        with Spinner(ros_context, cam, probe):
            wait_for(lambda: got.count("camera/color/image_raw") >= 3 and got.count("camera/color/camera_info") >= 3,
                     30, "images from the folder source")
        image, info = got.last("camera/color/image_raw"), got.last("camera/color/camera_info")
        assert (image.encoding, image.width, image.height, image.header.frame_id) == ("rgb8", 64, 48, "head_cam")
        reds = {int(image_to_numpy(m)[0, 0, 0]) for m in got.msgs["camera/color/image_raw"]}
        assert reds == {100, 101}  # both files, in RGB order
        assert int(image_to_numpy(image)[0, 0, 2]) == 0
        assert (info.width, info.height) == (64, 48)
        assert PinholeCamera.from_camera_info(info).vertical_fov_deg == pytest.approx(50.0)
    finally:
        cam.close()
        cam.destroy_node()
        probe.destroy_node()


def test_relay_republishes_sim_camera_and_watchdog_reports(ros_context):
    cam = CameraNode(context=ros_context, parameter_overrides=params(
        source="topic", stale_after_s=0.6, diagnostics_period_s=0.2, warn_throttle_s=0.5))
    sim = Node("fake_sim", context=ros_context)
    pubs = {t: sim.create_publisher(Image if "image" in t else CameraInfo, f"sim/{t}", QOS) for t in (
        "camera/color/image_raw", "camera/color/camera_info", "camera/depth/image_raw",
        "camera/depth/camera_info", "camera/segmentation/image_raw")}
    probe = Node("probe", context=ros_context)
    got = Collector(probe, {"camera/color/image_raw": Image, "camera/depth/image_raw": Image,
                            "camera/segmentation/image_raw": Image, "camera/depth/camera_info": CameraInfo,
                            "diagnostics": DiagnosticArray})

    def levels():
        if not got.count("diagnostics"):
            return {}
        return {s.name: s.level for s in got.last("diagnostics").status}

    rgb = np.full((24, 32, 3), (10, 20, 30), np.uint8)
    depth = np.full((24, 32), 1.5, np.float32)
    seg = np.zeros((24, 32), np.uint16)
    seg[5:10, 5:10] = 9
    cam_model = PinholeCamera.from_fov(32, 24, 50.0)

    def publish(sec: int):
        stamp = Time(sec=sec, nanosec=5)
        pubs["camera/color/image_raw"].publish(numpy_to_image(rgb, "rgb8", stamp, "cam"))
        pubs["camera/color/camera_info"].publish(make_camera_info(cam_model, stamp, "cam"))
        pubs["camera/depth/image_raw"].publish(numpy_to_image(depth, "32FC1", stamp, "cam"))
        pubs["camera/depth/camera_info"].publish(make_camera_info(cam_model, stamp, "cam"))
        pubs["camera/segmentation/image_raw"].publish(numpy_to_image(seg, "16UC1", stamp, "cam"))

    try:
        with Spinner(ros_context, cam, sim, probe):
            # Nothing published yet: the watchdog says so.
            wait_for(lambda: levels().get("camera_node: color") == DiagnosticStatus.WARN, 20, "'no frames' diagnostics")
            wait_for(lambda: probe.count_publishers("camera/color/image_raw") > 0
                     and sim.count_subscribers("sim/camera/segmentation/image_raw") > 0, 20, "discovery")
            sec, deadline = 100, time.monotonic() + 20.0
            while got.count("camera/segmentation/image_raw") < 2 or got.count("camera/depth/camera_info") < 2:
                assert time.monotonic() < deadline, "relay did not republish within 20 s"
                publish(sec)
                sec += 1
                time.sleep(0.05)  # pacing of the fake camera, not a wait for a result
            wait_for(lambda: levels().get("camera_node: color") == DiagnosticStatus.OK, 20, "'streaming' diagnostics")
            # Frames stop: the watchdog turns to ERROR; they resume: OK again.
            wait_for(lambda: levels().get("camera_node: depth") == DiagnosticStatus.ERROR, 20, "'stopped' diagnostics")
            publish(999)
            wait_for(lambda: levels().get("camera_node: depth") == DiagnosticStatus.OK, 20, "'resumed' diagnostics")
        out_seg = got.last("camera/segmentation/image_raw")
        np.testing.assert_array_equal(image_to_numpy(out_seg), seg)
        assert out_seg.encoding == "16UC1" and out_seg.header.frame_id == "cam"
        assert got.last("camera/depth/image_raw").header.stamp.sec >= 100  # stamps pass through unchanged
        np.testing.assert_array_equal(image_to_numpy(got.last("camera/color/image_raw")), rgb)
    finally:
        cam.destroy_node()
        sim.destroy_node()
        probe.destroy_node()


@pytest.mark.parametrize("overrides, error, match", [
    (dict(source="folder", uri="/nonexistent/images"), SayCanError, "image folder not found"),
    (dict(source="video", uri=""), ConfigError, "'uri' is required"),
    (dict(source="webcam"), ConfigError, "parameter 'source'='webcam' must be one of"),
    (dict(rate_hz=0.0), ConfigError, "'rate_hz'=0.0 must be > 0"),
])
def test_bad_configuration_is_one_clear_error(ros_context, overrides, error, match):
    with pytest.raises(error, match=match):
        CameraNode(context=ros_context, parameter_overrides=params(**overrides))
