"""A breadth-first planner over the symbolic kitchen: the shortest skill sequence that reaches a
goal. Used to check that every episode is solvable within its step limit, and by tests as a
scripted task grounding that always knows the right next skill."""
from __future__ import annotations

from collections import deque
from typing import Sequence

from saycan_ros.core.kitchen import Kitchen
from saycan_ros.core.skills import SkillLibrary
from saycan_ros.core.world import KitchenState, apply_skill
from saycan_ros.eval.episodes import GoalEntry, goal_satisfied


def _key(state: KitchenState) -> tuple:
    return state.robot_at, state.holding, tuple(sorted(state.objects.items(), key=lambda kv: kv[0]))


def shortest_plan(start: KitchenState, goal: Sequence[GoalEntry], library: SkillLibrary, kitchen: Kitchen,
                  max_len: int = 16) -> list[str] | None:
    """Skill texts (ending with 'done') of a shortest plan, or None if none within max_len steps."""
    skills = [s for s in library if not s.is_done]
    done = next((s.text for s in library if s.is_done), "done")
    if goal_satisfied(goal, start):
        return [done]
    seen = {_key(start)}
    queue: deque[tuple[KitchenState, list[str]]] = deque([(start, [])])
    while queue:
        state, plan = queue.popleft()
        if len(plan) + 1 >= max_len:
            continue
        for skill in skills:
            ok, new, _ = apply_skill(state, skill, kitchen)
            if not ok:
                continue
            k = _key(new)
            if k in seen:
                continue
            seen.add(k)
            if goal_satisfied(goal, new):
                return plan + [skill.text, done]
            queue.append((new, plan + [skill.text]))
    return None


def remaining_steps(state: KitchenState, goal: Sequence[GoalEntry], library: SkillLibrary, kitchen: Kitchen,
                    max_len: int = 16) -> int | None:
    """Skills (not counting 'done') still needed to reach the goal; None if not within max_len."""
    key = (_key(state), tuple(goal), id(library), id(kitchen), max_len)
    if key not in _REMAINING:
        if len(_REMAINING) > 50_000:
            _REMAINING.clear()
        plan = shortest_plan(state, goal, library, kitchen, max_len)
        _REMAINING[key] = None if plan is None else len(plan) - 1
    return _REMAINING[key]


_REMAINING: dict[tuple, int | None] = {}


class OracleGrounding:
    """A TaskGrounding that scores the next skill of a fixed plan high (tests, upper bounds)."""

    def __init__(self, plans: dict[str, Sequence[str]]):
        self.plans = plans  # instruction -> plan

    def score(self, instruction: str, steps: Sequence[str], skills: Sequence[str],
              holding: str | None = None) -> list[float]:
        plan = list(self.plans.get(instruction, []))
        want = plan[len(steps)] if len(steps) < len(plan) else "done"
        return [0.0 if s == want else -20.0 for s in skills]
