"""Joint trajectory following for the simulated arm, lift and fingers (pure Python).

A trajectory is a list of (time_from_start, {joint: position}) points. The follower interpolates
linearly from where each joint was when the trajectory arrived through the points, and a velocity
limit per joint caps how fast the joint actually moves: an ideal position controller with a speed
limit, like a stiff position-controlled actuator. A new trajectory replaces the old one
(the `JointTrajectory` convention when it starts "now").
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping, Sequence

from saycan_ros.core.robot_geometry import JointLimits


@dataclass
class _Segment:
    start_time: float
    start: float
    points: list[tuple[float, float]] = field(default_factory=list)  # (time_from_start, position)

    def setpoint(self, now: float) -> float:
        t = now - self.start_time
        t0, p0 = 0.0, self.start
        for t1, p1 in self.points:
            if t < t1:
                return p0 + (p1 - p0) * (t - t0) / (t1 - t0) if t1 > t0 else p1
            t0, p0 = t1, p1
        return p0


class JointFollower:
    """Position + velocity state of a set of joints tracking trajectories under speed limits."""

    def __init__(self, limits: Mapping[str, JointLimits], initial: Mapping[str, float]):
        self.limits = dict(limits)
        self.position = {j: limits[j].clamp(float(initial[j])) for j in limits}
        self.velocity = {j: 0.0 for j in limits}
        self._plans: dict[str, _Segment] = {}

    def reset(self, positions: Mapping[str, float]) -> None:
        for j, value in positions.items():
            self.position[j] = self.limits[j].clamp(float(value))
            self.velocity[j] = 0.0
        self._plans.clear()

    def set_trajectory(self, now: float, points: Sequence[tuple[float, Mapping[str, float]]]) -> None:
        """Follow `points` from `now`. Positions are clamped to the joint limits.

        Raises ValueError for an unknown joint, a non-finite value, or times that go backwards.
        """
        last_t = -math.inf
        for t, positions in points:
            if not math.isfinite(t) or t < 0 or t < last_t:
                raise ValueError(f"trajectory times must be finite, >= 0 and non-decreasing (got {t})")
            last_t = t
            for j, value in positions.items():
                if j not in self.limits:
                    raise ValueError(f"unknown joint '{j}' (known: {', '.join(self.limits)})")
                if not math.isfinite(value):
                    raise ValueError(f"joint '{j}' position {value} is not finite")
        joints = {j for _, positions in points for j in positions}
        for j in joints:
            seg = _Segment(now, self.position[j])
            seg.points = [(float(t), self.limits[j].clamp(float(p[j]))) for t, p in points if j in p]
            self._plans[j] = seg

    def target(self, joint: str) -> float:
        """The final position the joint is heading to."""
        plan = self._plans.get(joint)
        return plan.points[-1][1] if plan and plan.points else self.position[joint]

    def setpoint(self, joint: str, now: float) -> float:
        plan = self._plans.get(joint)
        return plan.setpoint(now) if plan else self.position[joint]

    def step(self, now: float, dt: float, floors: Mapping[str, float] | None = None) -> None:
        """Advance every joint by dt toward its setpoint at time `now` (end of the step).

        `floors` optionally blocks a joint from going below a position (fingers on a grasped object).
        """
        for j, lim in self.limits.items():
            goal = self.setpoint(j, now)
            if floors and j in floors:
                goal = max(goal, floors[j])
            delta = goal - self.position[j]
            max_delta = lim.max_speed * dt
            delta = max(-max_delta, min(max_delta, delta))
            self.position[j] = lim.clamp(self.position[j] + delta)
            self.velocity[j] = delta / dt if dt > 0 else 0.0

    def moving(self, tolerance: float = 1e-4) -> bool:
        return any(abs(self.target(j) - p) > tolerance for j, p in self.position.items())
