"""Pinhole + mount geometry: projection and deprojection are inverses, and the frames point the right way."""
from __future__ import annotations

import math

import numpy as np
import pytest

from saycan_ros.core.camera_model import CameraMount, PinholeCamera, base_to_pixel, in_image, pixel_to_base

CAM = PinholeCamera.from_fov(320, 240, 55.0)
MOUNT = CameraMount(0.1, 0.0, 1.25, math.radians(40.0))


def test_from_fov_and_from_k():
    assert CAM.cx == pytest.approx(159.5) and CAM.cy == pytest.approx(119.5)
    assert CAM.fx == pytest.approx(120.0 / math.tan(math.radians(27.5)))
    assert CAM.vertical_fov_deg == pytest.approx(55.0)
    k = [200.0, 0, 150.0, 0, 210.0, 100.0, 0, 0, 1]
    cam = PinholeCamera.from_k(k, 300, 200)
    assert (cam.fx, cam.fy, cam.cx, cam.cy, cam.width, cam.height) == (200.0, 210.0, 150.0, 100.0, 300, 200)
    with pytest.raises(ValueError, match="focal"):
        PinholeCamera.from_k([0.0] * 9, 300, 200)


def test_centre_pixel_looks_forward_and_down_by_pitch():
    # The optical axis drops 1 m for every 1/tan(40 deg) m forward from the mount.
    x, y, z = pixel_to_base(CAM.cx, CAM.cy, 1.0, CAM, MOUNT)
    assert x == pytest.approx(0.1 + math.cos(math.radians(40)))
    assert y == pytest.approx(0.0, abs=1e-12)
    assert z == pytest.approx(1.25 - math.sin(math.radians(40)))


def test_image_right_is_robot_right_and_image_up_is_higher():
    _, y_right, _ = pixel_to_base(CAM.width - 1, CAM.cy, 1.0, CAM, MOUNT)
    _, _, z_top = pixel_to_base(CAM.cx, 0, 1.0, CAM, MOUNT)
    _, _, z_bottom = pixel_to_base(CAM.cx, CAM.height - 1, 1.0, CAM, MOUNT)
    assert y_right < 0.0  # base_link y points left
    assert z_top > z_bottom


@pytest.mark.parametrize("mount", [MOUNT, CameraMount(-0.2, 0.05, 0.9, 0.3, yaw=0.4)])
def test_project_then_deproject_returns_the_point(mount):
    rng = np.random.default_rng(0)
    for _ in range(50):
        point = (rng.uniform(0.3, 1.5), rng.uniform(-0.5, 0.5), rng.uniform(0.0, 1.0))
        pixel = base_to_pixel(*point, CAM, mount)
        assert pixel is not None
        u, v, depth = pixel
        assert pixel_to_base(u, v, depth, CAM, mount) == pytest.approx(point, abs=1e-9)


def test_point_behind_camera_has_no_pixel():
    assert base_to_pixel(-1.0, 0.0, 1.25, CAM, MOUNT) is None
    u, v, _ = base_to_pixel(0.8, 0.0, 0.9, CAM, MOUNT)
    assert in_image(u, v, CAM) and not in_image(-1.0, v, CAM)
