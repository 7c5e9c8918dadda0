"""The one place that knows the field names of the robot description (saycan_ros.core.robot_geometry).

Perception and affordance code use `PerceptionGeometry`; if robot.yaml or RobotGeometry change
shape, only this adapter changes.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from saycan_ros.core.camera_model import CameraMount, PinholeCamera
from saycan_ros.core.robot_geometry import load_robot_geometry


@dataclass(frozen=True)
class PerceptionGeometry:
    """What perception needs to know about the robot."""

    mount: CameraMount                      # head camera optical frame in base_link
    default_camera: PinholeCamera           # intrinsics at the configured size (CameraInfo overrides)
    arm_offset: float                       # grasp point x = arm_offset + joint_arm (y = 0, z = joint_lift)
    arm_range: tuple[float, float]          # joint_arm min, max (m)
    lift_range: tuple[float, float]         # joint_lift min, max (m) = grasp point height range
    grasp_tolerance: float                  # object centre this close to the grasp point can be grasped
    gripper_open: float                     # finger opening when open (m)
    gripper_closed_threshold: float         # finger targets below this command a grasp

    def grasp_point(self, lift: float, arm: float) -> tuple[float, float, float]:
        return (self.arm_offset + arm, 0.0, lift)

    @property
    def reach(self) -> tuple[float, float]:
        """Nearest and farthest horizontal grasp distance ahead of base_link."""
        return (self.arm_offset + self.arm_range[0], self.arm_offset + self.arm_range[1])


def perception_geometry(geom: Any) -> PerceptionGeometry:
    """From a saycan_ros.core.robot_geometry.RobotGeometry (duck-typed)."""
    cam = geom.camera
    return PerceptionGeometry(
        mount=CameraMount(float(cam.xyz[0]), float(cam.xyz[1]), float(cam.xyz[2]), float(cam.pitch)),
        default_camera=cam.pinhole(),
        arm_offset=float(geom.arm_offset),
        arm_range=(float(geom.arm.min), float(geom.arm.max)),
        lift_range=(float(geom.lift.min), float(geom.lift.max)),
        grasp_tolerance=float(geom.grasp_tolerance),
        gripper_open=float(geom.gripper.max),
        gripper_closed_threshold=float(geom.closed_threshold),
    )


def load_perception_geometry(robot_file: str | os.PathLike | None = None) -> PerceptionGeometry:
    """Read config/robot.yaml (or `robot_file`); ConfigError on a missing or invalid file."""
    return perception_geometry(load_robot_geometry(robot_file or None))

