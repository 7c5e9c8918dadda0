"""MotionGuard: what reaches cmd_vel whatever the behaviour commands."""
from __future__ import annotations

import math

import pytest

from saycan_ros.skills.controllers import BaseLimits
from saycan_ros.skills.motion_guard import MotionGuard

LIMITS = BaseLimits(max_linear=0.4, max_angular=1.0, max_linear_accel=0.8, max_angular_accel=2.0)


def test_speeds_ramp_up_at_the_acceleration_limits_and_are_clamped():
    guard = MotionGuard(LIMITS)
    guard.filter(0.0, 0.0, 0.0)
    out = [guard.filter(5.0, -9.0, 0.1 * i) for i in range(1, 12)]
    assert out[0] == pytest.approx((0.08, -0.2))  # 0.8 m/s^2 and 2 rad/s^2 over 0.1 s
    assert out[1] == pytest.approx((0.16, -0.4))
    assert out[-1] == pytest.approx((0.4, -1.0))  # clamped to the speed limits
    assert all(abs(v) <= 0.4 + 1e-9 and abs(w) <= 1.0 + 1e-9 for v, w in out)


def test_stopping_is_immediate_and_a_reversal_starts_from_rest():
    guard = MotionGuard(LIMITS)
    guard.filter(0.0, 0.0, 0.0)
    for i in range(1, 10):
        guard.filter(0.4, 0.0, 0.1 * i)
    assert guard.filter(0.0, 0.0, 1.0) == (0.0, 0.0)  # braking is never limited
    for i in range(11, 20):
        guard.filter(0.4, 0.0, 0.1 * i)
    v, _ = guard.filter(-0.4, 0.0, 2.0)
    assert v == pytest.approx(-0.08)  # through zero, then the acceleration limit


def test_a_late_tick_does_not_jump_to_full_speed():
    guard = MotionGuard(LIMITS, max_dt=0.2)
    guard.filter(0.0, 0.0, 0.0)
    v, _ = guard.filter(0.4, 0.0, 30.0)  # the control loop stalled for 30 s
    assert v == pytest.approx(0.16)


def test_the_e_stop_latches_zero_until_released_and_bad_numbers_stop():
    guard = MotionGuard(LIMITS)
    guard.filter(0.3, 0.5, 0.0)
    guard.engage()
    assert all(guard.filter(0.4, 1.0, 0.1 * i) == (0.0, 0.0) for i in range(1, 20))
    guard.release()
    assert guard.filter(0.4, 0.0, 2.0)[0] == pytest.approx(0.08)  # ramps up again from rest
    assert guard.filter(math.nan, 0.2, 2.2) == (0.0, 0.0)
    assert guard.filter(math.inf, 0.0, 2.3) == (0.0, 0.0)
