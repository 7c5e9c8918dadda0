"""Planar rotations as the quaternions ROS messages carry (rotation about z only). Pure math."""
from __future__ import annotations

import math


def yaw_to_quaternion(yaw: float) -> tuple[float, float, float, float]:
    """(x, y, z, w) of a rotation by `yaw` about z."""
    return 0.0, 0.0, math.sin(yaw / 2.0), math.cos(yaw / 2.0)


def quaternion_to_yaw(x: float, y: float, z: float, w: float) -> float:
    """The heading (rotation about z) of a quaternion, e.g. an Odometry pose's orientation."""
    return math.atan2(2.0 * (w * z + x * y), 1.0 - 2.0 * (y * y + z * z))
