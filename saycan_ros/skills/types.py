"""Plain data the skill state machines exchange with the node: observations in, commands out.

No rclpy and no message types here. The node turns odom / joint_states / camera messages into an
`Observation` each control tick and turns the returned `Command` into cmd_vel and trajectory
messages, so every behaviour is testable with synthetic observations.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Mapping, Sequence

import numpy as np

from saycan_ros.core.pose import Pose2D


class ErrorCode(IntEnum):
    """The result codes of saycan_msgs/action/ExecuteSkill (kept equal by a node test)."""

    NONE = 0
    UNKNOWN_SKILL = 201
    PRECONDITION_FAILED = 202
    NAVIGATION_FAILED = 203
    OBJECT_NOT_FOUND = 204
    GRASP_FAILED = 205
    PLACE_FAILED = 206
    TIMEOUT = 207
    CANCELED = 208
    NO_SENSOR_DATA = 209
    EMERGENCY_STOP = 210
    UNKNOWN = 299


class SkillFailure(Exception):
    """Raised inside a behaviour to end the skill with a typed error."""

    def __init__(self, code: ErrorCode, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Outcome:
    success: bool
    code: ErrorCode = ErrorCode.NONE
    message: str = ""

    @classmethod
    def ok(cls, message: str = "") -> "Outcome":
        return cls(True, ErrorCode.NONE, message)

    @classmethod
    def fail(cls, code: ErrorCode, message: str) -> "Outcome":
        return cls(False, code, message)


def wrap_angle(a: float) -> float:
    """Angle in (-pi, pi]."""
    a = math.fmod(a + math.pi, 2.0 * math.pi)
    if a <= 0.0:
        a += 2.0 * math.pi
    return a - math.pi


@dataclass(frozen=True)
class SeenObject:
    """One detected object, as the behaviours need it (built from perception's Detection)."""

    name: str
    pixels: int
    position_base: tuple[float, float, float] | None  # base_link metres


OTHER_INSTANCES = " (others)"  # Percept.object_points key suffix: the other objects of a kind in view


@dataclass(frozen=True)
class Percept:
    """What one camera frame showed, taken after the robot stood still.

    `points_base` is an (N, 3) float array of background (non-object) depth points in base_link,
    subsampled; `surface_points` the subset on horizontal surfaces (counter tops, trays, floor):
    what the behaviours measure support heights from.
    """

    objects: tuple[SeenObject, ...]
    points_base: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    surface_points: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    # name -> (M, 3) in base_link: the detected object's points; name + OTHER_INSTANCES: those of
    # the other objects of its kind in view
    object_points: Mapping[str, np.ndarray] = field(default_factory=dict)

    def find(self, name: str) -> SeenObject | None:
        for obj in self.objects:
            if obj.name == name:
                return obj
        return None


@dataclass(frozen=True)
class Observation:
    """The robot as the executor sees it at one control tick. Ages are seconds since the last message
    (math.inf when none ever came)."""

    t: float
    pose: Pose2D | None = None
    pose_age: float = math.inf
    joints: Mapping[str, float] = field(default_factory=dict)  # name -> position
    joints_age: float = math.inf
    camera_age: float = math.inf
    percept: Percept | None = None  # set on the tick a requested look completes


@dataclass(frozen=True)
class JointTarget:
    """An arm goal (lift and arm extension, metres) and how long the move should take."""

    lift: float
    arm: float
    duration: float


@dataclass(frozen=True)
class Command:
    """What the node should do this tick.

    `twist` is published every tick (so a real base's cmd_vel watchdog stays fed; (0, 0) = stop).
    `arm` / `gripper` are sent once when set. `look` asks for a Percept from the next camera frame
    that arrives after this tick.
    """

    twist: tuple[float, float] = (0.0, 0.0)
    arm: JointTarget | None = None
    gripper: tuple[float, float] | None = None  # (finger opening m, duration s)
    look: bool = False
    phase: str = ""
    progress: float = 0.0


STOP = Command()


def joint_positions(names: Sequence[str], positions: Sequence[float]) -> dict[str, float]:
    return {n: float(p) for n, p in zip(names, positions)}
