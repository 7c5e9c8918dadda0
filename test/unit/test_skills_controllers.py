"""The go-to controller on a simulated unicycle: converges from any start, respects the limits."""
from __future__ import annotations

import math

import numpy as np
import pytest

from saycan_ros.skills.controllers import (BaseLimits, GoToController, GoToTolerance, RateLimiter,
                                           simulate_unicycle)
from saycan_ros.core.pose import Pose2D
from saycan_ros.skills.types import wrap_angle

DT = 0.05


def drive(start: Pose2D, goal: Pose2D, limits=BaseLimits(), tol=GoToTolerance(), max_time=60.0, lag=0):
    """Run the controller against a unicycle; `lag` ticks of command delay model a real base."""
    ctl = GoToController(goal, limits, tol)
    pose, t, queue, trace = start, 0.0, [(0.0, 0.0)] * lag, []
    while t < max_time:
        v, w = ctl.update(pose, DT)
        trace.append((v, w))
        if ctl.done:
            break
        queue.append((v, w))
        pose = simulate_unicycle(pose, *queue.pop(0), DT)
        t += DT
    return ctl, pose, t, np.array(trace)


@pytest.mark.parametrize("start, goal", [
    (Pose2D(0, 0, 0), Pose2D(1.2, 0.0, 0.0)),
    (Pose2D(0, 0, 0), Pose2D(-1.2, 0.0, math.pi)),
    (Pose2D(1.2, 0, 0), Pose2D(0.0, -1.6, -math.pi / 2)),
    (Pose2D(0.0, 2.2, 1.5708), Pose2D(-0.6, -1.2, -2.3562)),
    (Pose2D(0.3, -0.2, 3.0), Pose2D(0.3, -0.2, -3.0)),  # turn in place across +-pi
])
def test_converges_within_tolerance(start, goal):
    tol = GoToTolerance()
    ctl, pose, t, trace = drive(start, goal)
    assert ctl.done, f"not done after {t:.1f} s at {pose}"
    assert pose.distance_to(goal) <= tol.position
    assert abs(wrap_angle(goal.yaw - pose.yaw)) <= tol.yaw
    d = start.distance_to(goal)
    assert t < d / BaseLimits().max_linear + 8.0  # no dithering: close to the straight-line time


def test_respects_speed_and_acceleration_limits():
    limits = BaseLimits(max_linear=0.3, max_angular=0.8, max_linear_accel=0.5, max_angular_accel=1.5)
    _, _, _, trace = drive(Pose2D(0, 0, 0), Pose2D(2.0, 1.0, 1.0), limits)
    assert np.abs(trace[:, 0]).max() <= limits.max_linear + 1e-9
    assert np.abs(trace[:, 1]).max() <= limits.max_angular + 1e-9
    dv = np.abs(np.diff(trace[:-1, 0])) / DT  # the last command is the hard stop at the goal
    dw = np.abs(np.diff(trace[:-1, 1])) / DT
    assert dv.max() <= limits.max_linear_accel + 1e-6
    assert dw.max() <= limits.max_angular_accel + 1e-6


def test_short_move_behind_is_driven_backwards():
    ctl, pose, _, trace = drive(Pose2D(0, 0, 0), Pose2D(-0.2, 0.0, 0.0))
    assert ctl.done
    assert trace[:, 0].min() < 0.0  # backed up
    assert np.abs(trace[:, 1]).max() < 0.2  # without turning around


def test_converges_with_command_lag():
    ctl, pose, _, _ = drive(Pose2D(0, 0, 0), Pose2D(1.0, -1.0, 0.5), lag=2)
    assert ctl.done and pose.distance_to(Pose2D(1.0, -1.0, 0.5)) <= GoToTolerance().position


def test_pushed_off_goal_resumes_driving():
    goal = Pose2D(0.5, 0.0, 0.0)
    ctl, pose, _, _ = drive(Pose2D(0, 0, 0), goal)
    assert ctl.done
    v, w = ctl.update(Pose2D(0.3, 0.1, 0.0), DT)  # something shoved the robot
    assert not ctl.done


def test_rate_limiter():
    r = RateLimiter(1.0)
    assert r(10.0, 0.1) == pytest.approx(0.1)
    assert r(-10.0, 0.1) == pytest.approx(0.0)


def test_unicycle_model_exact_circle():
    pose = Pose2D(0, 0, 0)
    for _ in range(100):
        pose = simulate_unicycle(pose, 0.5, 0.5, 2 * math.pi / 50)  # one full circle of radius 1
    assert pose.x == pytest.approx(0.0, abs=1e-9) and pose.y == pytest.approx(0.0, abs=1e-9)
