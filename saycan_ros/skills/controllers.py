"""Feedback controllers for the base, without ROS: pose in, (v, w) out.

`GoToController` drives a differential (unicycle) base to a pose in three phases: turn toward
the goal point, drive with heading correction, turn to the goal yaw. It re-enters the turn phase
when the heading error grows too large, limits speeds and accelerations, and can back up for
short moves behind the robot (small approach corrections in front of a counter).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from saycan_ros.core.pose import Pose2D
from saycan_ros.skills.types import wrap_angle


@dataclass(frozen=True)
class BaseLimits:
    max_linear: float = 0.4       # m/s
    max_angular: float = 1.0      # rad/s
    max_linear_accel: float = 0.8   # m/s^2
    max_angular_accel: float = 2.0  # rad/s^2
    min_angular: float = 0.05     # rad/s: below this a real base does not move at all (deadband)


@dataclass(frozen=True)
class GoToTolerance:
    position: float = 0.04        # m
    yaw: float = 0.04             # rad
    heading_to_drive: float = 0.15  # rad: turn in place until the goal point is this close to ahead
    heading_to_rotate: float = 0.7  # rad: while driving, stop and turn again beyond this
    reverse_distance: float = 0.5   # m: goals behind the robot closer than this are reached backwards


class RateLimiter:
    """Limits how fast a command may change per second (acceleration limit)."""

    def __init__(self, max_rate: float, value: float = 0.0):
        self.max_rate = max_rate
        self.value = value

    def __call__(self, target: float, dt: float) -> float:
        step = self.max_rate * max(dt, 0.0)
        self.value += max(-step, min(step, target - self.value))
        return self.value


def _clip(value: float, limit: float) -> float:
    return max(-limit, min(limit, value))


class GoToController:
    ROTATE, DRIVE, ALIGN, DONE = "rotate", "drive", "align", "done"

    def __init__(self, goal: Pose2D, limits: BaseLimits = BaseLimits(), tol: GoToTolerance = GoToTolerance(),
                 k_linear: float = 1.2, k_angular: float = 2.0):
        self.goal = goal
        self.limits = limits
        self.tol = tol
        self.k_linear = k_linear
        self.k_angular = k_angular
        self.phase = self.ROTATE
        self.reverse = False
        self._v = RateLimiter(limits.max_linear_accel)
        self._w = RateLimiter(limits.max_angular_accel)

    @property
    def done(self) -> bool:
        return self.phase == self.DONE

    def remaining(self, pose: Pose2D) -> tuple[float, float]:
        """(distance to the goal point, |yaw error|)."""
        return pose.distance_to(self.goal), abs(wrap_angle(self.goal.yaw - pose.yaw))

    def update(self, pose: Pose2D, dt: float) -> tuple[float, float]:
        """The (v, w) command for this tick; speeds already rate-limited."""
        v, w = self._target(pose)
        if self.phase == self.DONE:  # stop at once: the goal is reached, don't coast past it
            self._v.value = self._w.value = 0.0
            return 0.0, 0.0
        return self._v(v, dt), self._w(w, dt)

    def _turn(self, error: float) -> float:
        w = _clip(self.k_angular * error, self.limits.max_angular)
        # Braking: never faster than what the acceleration limit can stop within the remaining angle.
        w = math.copysign(min(abs(w), math.sqrt(2.0 * self.limits.max_angular_accel * abs(error))), error)
        if 0.0 < abs(w) < self.limits.min_angular:
            w = math.copysign(self.limits.min_angular, error)
        return w

    def _target(self, pose: Pose2D) -> tuple[float, float]:
        dist = pose.distance_to(self.goal)
        yaw_err = wrap_angle(self.goal.yaw - pose.yaw)
        if self.phase in (self.ALIGN, self.DONE) and dist > 2.0 * self.tol.position:
            self.phase = self.ROTATE  # pushed off the goal: go back to it
        if self.phase in (self.ROTATE, self.DRIVE) and dist <= self.tol.position:
            self.phase = self.ALIGN
        if self.phase == self.DONE:
            if abs(yaw_err) > 2.0 * self.tol.yaw:
                self.phase = self.ALIGN
            else:
                return 0.0, 0.0
        if self.phase == self.ALIGN:
            if abs(yaw_err) <= self.tol.yaw:
                self.phase = self.DONE
                return 0.0, 0.0
            return 0.0, self._turn(yaw_err)

        bearing = math.atan2(self.goal.y - pose.y, self.goal.x - pose.x)
        heading_err = wrap_angle(bearing - pose.yaw)
        if self.phase == self.ROTATE:
            # Decide the direction once per turn: short moves to a point behind are driven backwards.
            self.reverse = abs(heading_err) > math.pi / 2 and dist < self.tol.reverse_distance
        if self.reverse:
            heading_err = wrap_angle(heading_err + math.pi)
        if self.phase == self.ROTATE:
            if abs(heading_err) <= self.tol.heading_to_drive:
                self.phase = self.DRIVE
            else:
                return 0.0, self._turn(heading_err)
        if abs(heading_err) > self.tol.heading_to_rotate:
            if dist <= 2.0 * self.tol.position:  # overshot by a hair: turning back would dither
                self.phase = self.ALIGN
                return 0.0, self._turn(yaw_err)
            self.phase = self.ROTATE
            return 0.0, self._turn(heading_err)
        # Drive: slow down near the goal (P + braking distance) and when not pointing at it.
        speed = min(self.limits.max_linear, self.k_linear * dist,
                    math.sqrt(2.0 * self.limits.max_linear_accel * dist))
        speed *= max(0.0, math.cos(heading_err))
        w = _clip(self.k_angular * heading_err, self.limits.max_angular)
        return (-speed if self.reverse else speed), w


def simulate_unicycle(pose: Pose2D, v: float, w: float, dt: float) -> Pose2D:
    """One exact step of the unicycle model (used by tests and by dry runs)."""
    if abs(w) < 1e-9:
        return Pose2D(pose.x + v * dt * math.cos(pose.yaw), pose.y + v * dt * math.sin(pose.yaw), pose.yaw)
    yaw = pose.yaw + w * dt
    r = v / w
    return Pose2D(pose.x + r * (math.sin(yaw) - math.sin(pose.yaw)),
                  pose.y - r * (math.cos(yaw) - math.cos(pose.yaw)), wrap_angle(yaw))
