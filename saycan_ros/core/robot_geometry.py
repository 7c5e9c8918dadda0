"""The robot's geometry (config/robot.yaml) as validated, immutable data.

Shared by the simulator (builds the robot), the executor (arm limits, reach) and perception
(camera intrinsics and mount). Pure: numpy + yaml only.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from saycan_ros.core.camera_model import CameraMount, PinholeCamera
from saycan_ros.core.errors import ConfigError
from saycan_ros.core.kitchen import config_dir, read_yaml_file

LIFT, ARM, LEFT, RIGHT = "joint_lift", "joint_arm", "joint_gripper_left", "joint_gripper_right"
ARM_JOINTS = (LIFT, ARM)
GRIPPER_JOINTS = (LEFT, RIGHT)
JOINTS = ARM_JOINTS + GRIPPER_JOINTS


@dataclass(frozen=True)
class JointLimits:
    min: float
    max: float
    max_speed: float

    def clamp(self, value: float) -> float:
        return min(self.max, max(self.min, value))


@dataclass(frozen=True)
class CameraSpec:
    xyz: tuple[float, float, float]  # optical centre in base_link
    pitch: float  # rad, > 0 looks down
    hfov: float  # rad, horizontal
    width: int
    height: int
    near: float
    far: float

    def pinhole(self, width: int | None = None, height: int | None = None) -> PinholeCamera:
        """Intrinsics at a resolution (default: the configured one); square pixels."""
        w, h = int(width or self.width), int(height or self.height)
        f = (w / 2.0) / math.tan(self.hfov / 2.0)
        return PinholeCamera(f, f, (w - 1) / 2.0, (h - 1) / 2.0, w, h)

    def mount(self) -> CameraMount:
        return CameraMount(self.xyz[0], self.xyz[1], self.xyz[2], self.pitch)

    def vertical_fov(self, width: int | None = None, height: int | None = None) -> float:
        """Vertical field of view (rad) at a resolution: the hfov stays fixed, pixels square."""
        w, h = int(width or self.width), int(height or self.height)
        return 2.0 * math.atan(math.tan(self.hfov / 2.0) * h / w)


@dataclass(frozen=True)
class RobotGeometry:
    base_radius: float
    base_height: float
    max_linear_speed: float
    max_angular_speed: float
    lift: JointLimits  # joint_lift = grasp point height above the floor
    arm: JointLimits  # joint_arm = extension; grasp x in base_link = arm_offset + joint_arm
    arm_offset: float
    gripper: JointLimits  # per-finger opening
    finger_length: float
    closed_threshold: float
    grasp_tolerance: float
    home: dict[str, float]  # joint name -> position after start/reset
    camera: CameraSpec
    source: str = "<memory>"

    def limits(self, joint: str) -> JointLimits:
        """Limits of one of JOINTS; KeyError for an unknown name."""
        return {LIFT: self.lift, ARM: self.arm, LEFT: self.gripper, RIGHT: self.gripper}[joint]

    def grasp_point(self, lift: float, arm: float) -> tuple[float, float, float]:
        """The grasp point (between the fingertips) in base_link for the given joint positions."""
        return (self.arm_offset + arm, 0.0, lift)

    @property
    def reach(self) -> tuple[float, float]:
        """Nearest and farthest grasp-point distance ahead of base_link along x."""
        return (self.arm_offset + self.arm.min, self.arm_offset + self.arm.max)


# Whether the fingers hold something, judged the same way by perception (affordance_node) and the
# skill executor: if they disagreed, the planner would choose skills the executor then refuses.
HOLD_MIN_OPENING = 0.003  # m per finger: closed fingers stopped above this = something between them
OPEN_MARGIN = 0.008       # m: fingers within this of fully open = open, holding nothing


def finger_opening(joints: Mapping[str, float]) -> float | None:
    """Mean finger opening (m) from joint positions; None without a finite finger joint."""
    fingers = [joints[j] for j in GRIPPER_JOINTS if j in joints and math.isfinite(joints[j])]
    return sum(fingers) / len(fingers) if fingers else None


def fingers_hold_something(opening: float | None, command: float | None, gripper_open: float,
                           closed_threshold: float, min_opening: float = HOLD_MIN_OPENING,
                           open_margin: float = OPEN_MARGIN) -> bool:
    """Something is between the fingers: they stopped short of closed, and short of open.

    `opening` is the mean finger opening (None: no gripper state, so nothing is assumed held);
    `command` the last commanded opening, if known: fingers told to open hold nothing, whatever
    their position on the way. Fully closed fingers missed; fully open ones hold nothing.
    """
    if opening is None or not math.isfinite(opening):
        return False
    if command is not None and command >= closed_threshold:
        return False
    return min_opening < opening < gripper_open - open_margin


def default_robot_file() -> Path:
    env = os.environ.get("SAYCAN_ROBOT_FILE")
    return Path(env) if env else config_dir() / "robot.yaml"


def load_robot_geometry(path: str | os.PathLike | None = None) -> RobotGeometry:
    """Read and validate a robot file. Raises ConfigError naming the file and the bad key.
    A relative path not found from the working directory is looked up in the package's config
    folder (so a parameter file can say `robot_file: robots/tiago_geometry.yaml`)."""
    path = Path(path) if path else default_robot_file()
    if not path.is_absolute() and not path.exists() and (config_dir() / path).is_file():
        path = config_dir() / path
    return parse_robot_geometry(read_yaml_file(path, "robot file"), source=str(path))


def parse_robot_geometry(data: Any, source: str = "<memory>") -> RobotGeometry:
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping with base, lift, arm, gripper, home, camera")

    def section(name: str) -> dict:
        value = data.get(name)
        if not isinstance(value, dict):
            raise ConfigError(f"{source}: missing section '{name}'")
        return value

    def num(sec: dict, sec_name: str, key: str, positive: bool = False) -> float:
        value = sec.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ConfigError(f"{source}: '{sec_name}.{key}' must be a number, got {value!r}")
        if positive and value <= 0:
            raise ConfigError(f"{source}: '{sec_name}.{key}' must be > 0, got {value}")
        return float(value)

    def limits(name: str) -> JointLimits:
        sec = section(name)
        lo, hi = num(sec, name, "min"), num(sec, name, "max")
        if lo >= hi:
            raise ConfigError(f"{source}: '{name}' needs min < max, got {lo} >= {hi}")
        return JointLimits(lo, hi, num(sec, name, "max_speed", positive=True))

    base, arm, grip, home, cam = (section(n) for n in ("base", "arm", "gripper", "home", "camera"))
    lift_l, arm_l, grip_l = limits("lift"), limits("arm"), limits("gripper")
    if grip_l.min < 0:
        raise ConfigError(f"{source}: 'gripper.min' must be >= 0 (a finger's opening)")

    home_pos = {}
    for key, joint, lim in (("lift", LIFT, lift_l), ("arm", ARM, arm_l), ("gripper", LEFT, grip_l)):
        value = num(home, "home", key)
        if not lim.min <= value <= lim.max:
            raise ConfigError(f"{source}: 'home.{key}'={value} is outside [{lim.min}, {lim.max}]")
        home_pos[joint] = value
    home_pos[RIGHT] = home_pos[LEFT]

    xyz = cam.get("xyz")
    if not (isinstance(xyz, list) and len(xyz) == 3 and all(isinstance(v, (int, float)) for v in xyz)):
        raise ConfigError(f"{source}: 'camera.xyz' must be [x, y, z], got {xyz!r}")
    hfov = num(cam, "camera", "hfov_deg", positive=True)
    if hfov >= 170:
        raise ConfigError(f"{source}: 'camera.hfov_deg' must be < 170, got {hfov}")
    width, height = num(cam, "camera", "width", True), num(cam, "camera", "height", True)
    near, far = num(cam, "camera", "near", True), num(cam, "camera", "far", True)
    if near >= far:
        raise ConfigError(f"{source}: camera needs near < far, got {near} >= {far}")
    camera = CameraSpec(tuple(float(v) for v in xyz), math.radians(num(cam, "camera", "pitch_deg")),
                        math.radians(hfov), int(width), int(height), near, far)

    closed = num(grip, "gripper", "closed_threshold", positive=True)
    if closed >= grip_l.max:
        raise ConfigError(f"{source}: 'gripper.closed_threshold' must be < gripper.max")
    return RobotGeometry(
        base_radius=num(base, "base", "radius", True), base_height=num(base, "base", "height", True),
        max_linear_speed=num(base, "base", "max_linear_speed", True),
        max_angular_speed=num(base, "base", "max_angular_speed", True),
        lift=lift_l, arm=arm_l, arm_offset=num(arm, "arm", "offset", True), gripper=grip_l,
        finger_length=num(grip, "gripper", "finger_length", True), closed_threshold=closed,
        grasp_tolerance=num(grip, "gripper", "grasp_tolerance", True), home=home_pos, camera=camera,
        source=source)
