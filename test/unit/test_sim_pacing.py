"""How far a paced simulation tick runs: never more than max_catch_up_s, a backlog up to
max_backlog_s made up on later ticks, anything beyond given up."""
from __future__ import annotations

import pytest

from saycan_ros.sim.pacing import tick_advance


def test_on_schedule_a_tick_runs_what_is_due():
    assert tick_advance(0.02, 0.05, 0.25) == (pytest.approx(0.02), 0.0)
    assert tick_advance(-0.01, 0.05, 0.25) == (0.0, 0.0)  # ahead: nothing to run yet


def test_a_backlog_is_made_up_over_several_ticks_one_step_at_a_time():
    # a render took 21 ms of wall time at 8x: 168 ms of simulated time came due in one tick
    due, ran = 0.168, []
    while due > 1e-9:
        step, dropped = tick_advance(due, 0.05, 0.25)
        assert dropped == 0.0 and step <= 0.05
        ran.append(step)
        due -= step
    assert sum(ran) == pytest.approx(0.168) and len(ran) == 4


def test_beyond_the_backlog_bound_the_rest_is_given_up():
    step, dropped = tick_advance(0.4, 0.05, 0.25)
    assert step == pytest.approx(0.05) and dropped == pytest.approx(0.15)
    # without a backlog (the old rule) everything beyond one step is given up at once
    step, dropped = tick_advance(0.168, 0.05, 0.05)
    assert step == pytest.approx(0.05) and dropped == pytest.approx(0.118)
