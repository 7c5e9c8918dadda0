"""Pinhole camera intrinsics, the camera's mount on the robot, and pixel <-> base_link conversion.

Frames: base_link is x forward, y left, z up. The optical frame (REP 103 `*_optical_frame`) is
z along the optical axis, x right, y down. Depth images hold the distance along the optical
axis (z), in metres, as ROS depth images do.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np


@dataclass(frozen=True)
class PinholeCamera:
    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int

    def __post_init__(self) -> None:
        if self.fx <= 0 or self.fy <= 0:
            raise ValueError(f"focal lengths must be > 0 (fx={self.fx}, fy={self.fy})")
        if self.width <= 0 or self.height <= 0:
            raise ValueError(f"image size must be > 0 ({self.width}x{self.height})")

    @classmethod
    def from_fov(cls, width: int, height: int, vertical_fov_deg: float) -> "PinholeCamera":
        """Square pixels, principal point at the centre (OpenGL/PyBullet style: fov is vertical)."""
        if not 0.0 < vertical_fov_deg < 180.0:
            raise ValueError(f"vertical field of view must be in (0, 180) degrees, got {vertical_fov_deg}")
        f = (height / 2.0) / math.tan(math.radians(vertical_fov_deg) / 2.0)
        return cls(f, f, (width - 1) / 2.0, (height - 1) / 2.0, int(width), int(height))

    @classmethod
    def from_k(cls, k: Sequence[float], width: int, height: int) -> "PinholeCamera":
        """From a row-major 3x3 K (CameraInfo.k). Raises ValueError for an all-zero (uncalibrated) K."""
        k = [float(v) for v in k]
        if len(k) != 9:
            raise ValueError(f"K must have 9 values, got {len(k)}")
        return cls(k[0], k[4], k[2], k[5], int(width), int(height))

    @classmethod
    def from_camera_info(cls, info: Any) -> "PinholeCamera":
        """From a sensor_msgs/CameraInfo (duck-typed: needs .k, .width, .height)."""
        return cls.from_k(info.k, info.width, info.height)

    @property
    def vertical_fov_deg(self) -> float:
        return math.degrees(2.0 * math.atan((self.height / 2.0) / self.fy))

    def scaled(self, width: int, height: int) -> "PinholeCamera":
        """The same optics at another resolution (e.g. a device that delivers a different size)."""
        sx, sy = width / self.width, height / self.height
        return PinholeCamera(self.fx * sx, self.fy * sy, (self.cx + 0.5) * sx - 0.5,
                             (self.cy + 0.5) * sy - 0.5, int(width), int(height))


@dataclass(frozen=True)
class CameraMount:
    """Pose of the camera optical frame in base_link: position and a downward tilt.

    pitch > 0 tilts the optical axis down from horizontal; yaw > 0 turns it left (default forward).
    """

    x: float
    y: float
    z: float
    pitch: float
    yaw: float = 0.0

    def rotation(self) -> np.ndarray:
        """3x3 rotation taking optical-frame vectors into base_link."""
        # optical (x right, y down, z forward) -> camera body (x forward, y left, z up)
        optical_to_body = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])
        cp, sp = math.cos(self.pitch), math.sin(self.pitch)
        pitch_down = np.array([[cp, 0.0, sp], [0.0, 1.0, 0.0], [-sp, 0.0, cp]])  # about +y: nose down
        cy, sy = math.cos(self.yaw), math.sin(self.yaw)
        yaw = np.array([[cy, -sy, 0.0], [sy, cy, 0.0], [0.0, 0.0, 1.0]])
        return yaw @ pitch_down @ optical_to_body

    @property
    def translation(self) -> np.ndarray:
        return np.array([self.x, self.y, self.z])


def pixel_to_base(u: float, v: float, depth_m: float, camera: PinholeCamera,
                  mount: CameraMount) -> tuple[float, float, float]:
    """Deproject pixel (u, v) (column, row) at optical-axis depth `depth_m` into base_link (x, y, z)."""
    point_optical = np.array([(u - camera.cx) / camera.fx * depth_m, (v - camera.cy) / camera.fy * depth_m, depth_m])
    point = mount.rotation() @ point_optical + mount.translation
    return float(point[0]), float(point[1]), float(point[2])


def base_to_pixel(x: float, y: float, z: float, camera: PinholeCamera,
                  mount: CameraMount) -> tuple[float, float, float] | None:
    """Project a base_link point to (u, v, depth_m); None when it lies behind the camera.

    The pixel may fall outside the image; callers check `in_image` when they need it inside.
    """
    p = mount.rotation().T @ (np.array([x, y, z]) - mount.translation)
    if p[2] <= 1e-6:
        return None
    return (float(camera.fx * p[0] / p[2] + camera.cx), float(camera.fy * p[1] / p[2] + camera.cy), float(p[2]))


def in_image(u: float, v: float, camera: PinholeCamera) -> bool:
    return 0.0 <= u <= camera.width - 1 and 0.0 <= v <= camera.height - 1
