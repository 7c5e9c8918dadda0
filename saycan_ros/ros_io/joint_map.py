"""Our four logical joints <-> a real robot's joint names and units.

The executor thinks in the joints of docs/robot_interface.md (joint_lift, joint_arm,
joint_gripper_left, joint_gripper_right; metres). A robot names and scales them its own way
(Stretch: `wrist_extension`, finger angles in radians; TIAGo: `torso_lift_joint` with an offset,
no telescoping joint at all). Per logical joint: the robot's name ("" = the robot has none) and
a linear map `robot = offset + scale * ours`. Pure: no rclpy, no messages.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

from saycan_ros.core.errors import ConfigError
from saycan_ros.core.robot_geometry import JOINTS


@dataclass(frozen=True)
class JointMap:
    names: tuple[str, ...]    # robot joint name per logical joint (order of JOINTS); "" = absent
    scales: tuple[float, ...]
    offsets: tuple[float, ...]
    fixed: Mapping[str, float]  # logical joint -> the value it reads as when the robot has no such joint

    @classmethod
    def identity(cls) -> "JointMap":
        return cls(tuple(JOINTS), (1.0,) * len(JOINTS), (0.0,) * len(JOINTS), {})

    @classmethod
    def from_params(cls, names: Sequence[str], scales: Sequence[float], offsets: Sequence[float],
                    fixed: Mapping[str, float], owner: str = "joint map") -> "JointMap":
        """Validate parameter values; `fixed` gives the reading of each logical joint the robot may
        lack (only the arm extension may be absent: every skill needs the lift and the fingers)."""
        n = len(JOINTS)
        for label, values in (("joint_names", names), ("joint_scales", scales), ("joint_offsets", offsets)):
            if len(values) != n:
                raise ConfigError(f"{owner}: '{label}' needs {n} entries (for {', '.join(JOINTS)}), got {len(values)}")
        if any(s == 0 for s in scales):
            raise ConfigError(f"{owner}: 'joint_scales' must not contain 0 (got {list(scales)})")
        present = [str(name).strip() for name in names]
        for logical, name in zip(JOINTS, present):
            if not name and logical not in fixed:
                raise ConfigError(f"{owner}: '{logical}' must map to a robot joint (joint_names); only "
                                  f"{', '.join(fixed) or 'none'} may be empty")
        given = [name for name in present if name]
        if len(set(given)) != len(given):
            raise ConfigError(f"{owner}: 'joint_names' lists a robot joint twice: {list(names)}")
        return cls(tuple(present), tuple(float(s) for s in scales), tuple(float(o) for o in offsets),
                   {j: float(v) for j, v in fixed.items() if j in JOINTS and not present[JOINTS.index(j)]})

    def to_ours(self, names: Iterable[str], positions: Iterable[float]) -> dict[str, float]:
        """A robot JointState (names, positions) -> the logical joints it contains, in our units."""
        by_name = dict(zip(names, positions))
        out = {}
        for logical, name, scale, offset in zip(JOINTS, self.names, self.scales, self.offsets):
            if name and name in by_name:
                out[logical] = (float(by_name[name]) - offset) / scale
        return out

    def to_robot(self, targets: Mapping[str, float]) -> tuple[list[str], list[float]]:
        """Logical joint targets -> (robot joint names, robot positions); absent joints are left out."""
        names, positions = [], []
        for logical, name, scale, offset in zip(JOINTS, self.names, self.scales, self.offsets):
            if logical in targets and name:
                names.append(name)
                positions.append(offset + scale * float(targets[logical]))
        return names, positions
