"""Injected skill failures for plan-mode evaluation of the closed loop (issue 9, Inner Monologue).

Two faults a robot meets in a kitchen, drawn from a seeded generator per episode:
- a grasp slips (`grasp_slip_p`): a pick that would have succeeded fails with GRASP_FAILED and
  the object stays where it was, so trying again can work;
- an object is moved during the task (`moved_after_find_p`): right after 'find X' succeeded, a
  person moves that X to another location (at most once per episode), so the pick that follows
  fails and the robot must look again.
The simulator's fault parameters (sim_node `fault_grasp_slip_p`, `fault_seed`) inject the first one
in exec mode, seeded per episode the same way.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Sequence

from saycan_ros.core.episode import SkillOutcome
from saycan_ros.core.errors import ConfigError
from saycan_ros.core.kitchen import base_object_name
from saycan_ros.core.world import DISPOSAL, GRIPPER, SKILL_GRASP_FAILED, USER, KitchenState, SymbolicRunner
from saycan_ros.eval.report import EpisodeResult


def episode_fault_seed(seed: int, episode_index: int) -> int:
    """The seed of one episode's draws: each episode meets its own faults, the same in every run."""
    return seed * 100_003 + episode_index


def faults_met_note(results: Sequence[EpisodeResult]) -> str:
    """How many injected faults the episodes met, and how many of those episodes still succeeded
    (a run whose episodes met none measured nothing about recovery)."""
    met = [r for r in results if r.meta.get("injected_faults")]
    count = sum(len(r.meta["injected_faults"]) for r in met)
    return (f"faults met: {count} injected into {len(met)} of {len(results)} episodes; "
            f"{sum(r.success for r in met)} of those {len(met)} succeeded")


@dataclass(frozen=True)
class FaultSpec:
    grasp_slip_p: float = 0.0
    moved_after_find_p: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("grasp_slip_p", "moved_after_find_p"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"{name} must be a probability in [0, 1], got {value}")

    @property
    def any(self) -> bool:
        return self.grasp_slip_p > 0 or self.moved_after_find_p > 0

    def describe(self) -> str:
        return f"injected faults: grasp slips p={self.grasp_slip_p:g}, object moved after find p={self.moved_after_find_p:g}, seed {self.seed}"


class FaultyRunner(SymbolicRunner):
    """A SymbolicRunner whose skills meet the faults of a FaultSpec. `.faults` lists what happened."""

    def __init__(self, kitchen, state: KitchenState, spec: FaultSpec, episode_index: int = 0):
        super().__init__(kitchen, state)
        self.spec = spec
        self.rng = random.Random(episode_fault_seed(spec.seed, episode_index))
        self.moved = False
        self.faults: list[str] = []

    def run(self, skill) -> SkillOutcome:
        before = self.state
        outcome = super().run(skill)
        if not outcome.success:
            return outcome
        if skill.kind == "pick" and self.rng.random() < self.spec.grasp_slip_p:
            self.state = before  # the object stays where it was
            message = f"lost the {skill.object} while lifting it (injected grasp slip)"
            self.history[-1] = (skill.text, False, message)
            self.faults.append(f"'{skill.text}': grasp slipped")
            return SkillOutcome(False, SKILL_GRASP_FAILED, message)
        if skill.kind == "find" and not self.moved and self.rng.random() < self.spec.moved_after_find_p:
            self._move_found(skill.object)
        return outcome

    def _move_found(self, kind: str) -> None:
        here = self.state.robot_at
        found = [n for n, at in self.state.objects.items() if at == here and at != GRIPPER and base_object_name(n) == kind]
        elsewhere = sorted(loc for loc in self.kitchen.locations if loc not in (here, USER, DISPOSAL))
        if not found or not elsewhere:
            return
        target, to = found[0], self.rng.choice(elsewhere)
        objects = dict(self.state.objects)
        objects[target] = to
        self.state = self.state.with_(objects=objects)
        self.moved = True
        self.faults.append(f"the {target} was moved from {here} to {to} after it was found")
