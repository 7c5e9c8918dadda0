"""The executor's last word on base motion: an emergency-stop latch and speed/acceleration limits.

Whatever a behaviour (or a bug in one) commands, what reaches cmd_vel passes `MotionGuard.filter`:
zero while the e-stop is latched; speeds clamped to the limits; speed increases limited by the
acceleration limits over the time since the last command. Slowing down is never limited: a stop
(cancel, e-stop, end of a skill) must take effect at once. Pure: no ROS.
"""
from __future__ import annotations

import math

from saycan_ros.skills.controllers import BaseLimits


class MotionGuard:
    def __init__(self, limits: BaseLimits, max_dt: float = 0.2) -> None:
        # max_dt bounds the step a late control tick may take (a stalled loop must not jump to full speed)
        self.limits, self.max_dt = limits, max_dt
        self.e_stopped = False
        self._last: tuple[float, float] = (0.0, 0.0)
        self._last_t: float | None = None

    def engage(self) -> None:
        """Latch every motion off until `release()`."""
        self.e_stopped = True
        self._last = (0.0, 0.0)

    def release(self) -> None:
        self.e_stopped = False

    def filter(self, v: float, w: float, now: float) -> tuple[float, float]:
        """The (linear, angular) velocity that may be sent now for the commanded (v, w)."""
        if self.e_stopped or not (math.isfinite(v) and math.isfinite(w)):
            v = w = 0.0
        lim = self.limits
        v = max(-lim.max_linear, min(lim.max_linear, v))
        w = max(-lim.max_angular, min(lim.max_angular, w))
        dt = self.max_dt if self._last_t is None else max(0.0, min(self.max_dt, now - self._last_t))
        v = _toward(self._last[0], v, lim.max_linear_accel * dt)
        w = _toward(self._last[1], w, lim.max_angular_accel * dt)
        self._last, self._last_t = (v, w), now
        return v, w

    def stopped(self, now: float) -> None:
        """Record that a zero command was sent outside `filter` (the next start ramps up from rest)."""
        self._last, self._last_t = (0.0, 0.0), now


def _toward(previous: float, target: float, max_increase: float) -> float:
    """`target`, except that its speed may exceed the previous one's (same direction) by at most
    `max_increase`; reversing goes through zero. Slowing down is immediate."""
    if abs(target) <= abs(previous) and target * previous >= 0:
        return target  # slowing down (or holding) in the same direction
    base = previous if target * previous > 0 else 0.0  # a reversal starts from rest
    step = math.copysign(min(abs(target) - abs(base), max_increase), target)
    return base + step
