"""InstructionSlot: preempt or reject a new instruction while one runs."""
from __future__ import annotations

import threading
import time

from saycan_ros.core.instruction_slot import InstructionSlot


def test_reject_mode_refuses_while_one_runs_and_frees_on_release():
    slot = InstructionSlot(preempt=False)
    first = slot.claim("a")
    assert first is not None and slot.wait_turn(first, 0.1) and slot.active is first
    assert slot.claim("b") is None
    slot.release(first)
    second = slot.claim("b")
    assert second is not None and slot.wait_turn(second, 0.1)


def test_preempt_mode_stops_the_running_one_and_takes_over_when_it_has_ended():
    slot = InstructionSlot(preempt=True)
    first = slot.claim("a")
    assert slot.wait_turn(first, 0.1)
    second = slot.claim("b")
    assert first.preempted_by == "b" and second.preempted_by is None
    got = []
    waiter = threading.Thread(target=lambda: got.append(slot.wait_turn(second, 5.0)))
    waiter.start()
    time.sleep(0.2)
    assert not got  # still waiting: the first has not ended yet
    slot.release(first)  # the first noticed preempted_by and ended
    waiter.join(5.0)
    assert got == [True] and slot.active is second


def test_a_third_instruction_preempts_one_still_waiting():
    slot = InstructionSlot(preempt=True)
    first = slot.claim("a")
    slot.wait_turn(first, 0.1)
    second = slot.claim("b")
    results = {}
    waiter = threading.Thread(target=lambda: results.setdefault("b", slot.wait_turn(second, 5.0)))
    waiter.start()
    time.sleep(0.1)
    third = slot.claim("c")
    waiter.join(5.0)
    assert results["b"] is False and second.preempted_by == "c"  # never started
    slot.release(second)  # its caller releases it anyway: harmless
    slot.release(first)
    assert slot.wait_turn(third, 1.0) and slot.active is third


def test_a_run_that_does_not_stop_times_the_newcomer_out():
    slot = InstructionSlot(preempt=True)
    first = slot.claim("a")
    slot.wait_turn(first, 0.1)
    second = slot.claim("b")
    t0 = time.monotonic()
    assert slot.wait_turn(second, 0.3) is False
    assert 0.25 < time.monotonic() - t0 < 2.0
    assert second.preempted_by is None and slot.active is first
