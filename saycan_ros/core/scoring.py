"""SayCan score combination: log p_LLM(skill) + log p_affordance(skill), ranked."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

from saycan_ros.core.errors import SayCanError

# log(0) would make a skill with zero affordance tie with every other impossible skill at -inf;
# flooring keeps the language model's order among them (useful in the printout) while the
# floor is far below any feasible skill.
AFFORDANCE_FLOOR = 1e-6


@dataclass(frozen=True)
class Candidate:
    skill: str
    llm: float         # log-likelihood from the language model
    affordance: float  # success probability, 0..1
    combined: float    # llm + log(affordance)

    @property
    def probability_product(self) -> float:
        """p_LLM * p_affordance, SayCan's score outside log space."""
        return math.exp(self.combined)


def combine(skills: Sequence[str], llm: Sequence[float], affordance: Sequence[float]) -> list[Candidate]:
    """Score every skill and return candidates best first.

    Ties (equal combined score) are broken by the higher affordance, then by the library order,
    so that the choice is deterministic and prefers what the robot can surely do.
    """
    if not (len(skills) == len(llm) == len(affordance)):
        raise SayCanError(f"score lengths differ: {len(skills)} skills, {len(llm)} LLM, {len(affordance)} affordance")
    candidates = []
    for order, (skill, lm, aff) in enumerate(zip(skills, llm, affordance)):
        if math.isnan(lm) or math.isnan(aff):
            raise SayCanError(f"NaN score for skill '{skill}'")
        aff = min(max(float(aff), 0.0), 1.0)
        combined = float(lm) + math.log(max(aff, AFFORDANCE_FLOOR))
        candidates.append((-combined, -aff, order, Candidate(skill, float(lm), aff, combined)))
    candidates.sort(key=lambda c: c[:3])
    return [c[3] for c in candidates]
