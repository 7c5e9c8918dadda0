"""How far one control tick of a simulation paced to wall-clock time may run (no ROS here)."""
from __future__ import annotations


def tick_advance(due_s: float, max_catch_up_s: float, max_backlog_s: float) -> tuple[float, float]:
    """(simulated seconds to run this tick, simulated seconds to give up).

    `due_s` is how far the simulation is behind its schedule (wall-clock time x real-time factor).
    One tick never runs more than max_catch_up_s, so control and camera always see small steps; a
    backlog (a render, a busy moment) up to max_backlog_s is made up on the following ticks, and
    anything beyond it is given up: a machine that cannot keep up runs the simulation slower than
    asked instead of piling up work.
    """
    dropped = max(0.0, due_s - max(max_backlog_s, 0.0))
    return max(0.0, min(due_s - dropped, max_catch_up_s)), dropped
