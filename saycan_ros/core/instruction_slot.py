"""One instruction at a time, and what happens to a new one while another runs.

`preempt=True` (like nav2): a new instruction asks the running one, and any still waiting, to stop
(`Run.preempted_by`), then takes the slot once it is free. `preempt=False`: a new instruction is
refused while one runs. Pure threading, no ROS: the planner node claims a run when a goal or a
command arrives, waits for its turn, polls `preempted_by` as a cancel request, and releases it.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass


@dataclass(eq=False)
class Run:
    instruction: str
    preempted_by: str | None = None  # the newer instruction that asked this one to stop


class InstructionSlot:
    def __init__(self, preempt: bool = True) -> None:
        self.preempt = preempt
        self._cond = threading.Condition()
        self._active: Run | None = None
        self._waiting: list[Run] = []

    def claim(self, instruction: str) -> Run | None:
        """A run for `instruction`; None when refused (preempt=False and another one runs)."""
        with self._cond:
            run = Run(instruction)
            if not self.preempt:
                if self._active is not None:
                    return None
                self._active = run
                return run
            for older in [*self._waiting, self._active]:
                if older is not None and older.preempted_by is None:
                    older.preempted_by = instruction
            self._waiting.append(run)
            self._cond.notify_all()
            return run

    def wait_turn(self, run: Run, timeout_s: float) -> bool:
        """Block until `run` holds the slot (True), or until it is preempted while waiting or the
        running one has not stopped within `timeout_s` (False; `run.preempted_by` tells which)."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while self._active is not None and self._active is not run and run.preempted_by is None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            if run in self._waiting:
                self._waiting.remove(run)
            if self._active is run:
                return True
            if run.preempted_by is not None or self._active is not None:
                return False
            self._active = run
            return True

    def release(self, run: Run) -> None:
        with self._cond:
            if self._active is run:
                self._active = None
            if run in self._waiting:
                self._waiting.remove(run)
            self._cond.notify_all()

    @property
    def active(self) -> Run | None:
        with self._cond:
            return self._active
