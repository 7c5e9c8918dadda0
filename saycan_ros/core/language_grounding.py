"""Task grounding from an in-process language model scorer and the prompt builder."""
from __future__ import annotations

from typing import Protocol, Sequence

from saycan_ros.core.errors import ConfigError
from saycan_ros.core.prompt import PromptBuilder

SCORE_MODES = ("sum", "mean")


class _Score(Protocol):  # saycan_ros.language.base.SkillScore, without importing torch-side code
    sum_logprob: float
    mean_logprob: float


class _Scorer(Protocol):
    def score(self, prompt: str, skills: Sequence[str]) -> Sequence[_Score]: ...


def pick_scores(scores: Sequence[_Score], mode: str) -> list[float]:
    """Sum of token log-probs (SayCan) or the per-token mean (less bias against long skills)."""
    if mode not in SCORE_MODES:
        raise ConfigError(f"score mode '{mode}' must be one of {SCORE_MODES}")
    return [s.sum_logprob if mode == "sum" else s.mean_logprob for s in scores]


class PromptedTaskGrounding:
    """TaskGrounding: build the prompt for the steps so far and score every skill after it."""

    def __init__(self, scorer: _Scorer, prompt: PromptBuilder, score: str = "sum"):
        if score not in SCORE_MODES:
            raise ConfigError(f"score mode '{score}' must be one of {SCORE_MODES}")
        self.scorer, self.prompt, self.mode = scorer, prompt, score

    def score(self, instruction: str, steps: Sequence[str], skills: Sequence[str],
              holding: str | None = None) -> list[float]:
        return pick_scores(self.scorer.score(self.prompt.build(instruction, steps, holding), skills), self.mode)
