"""Word error rate (pure): the word-level edit distance between a reference and a hypothesis."""
from __future__ import annotations

from typing import Sequence


def word_edits(reference: Sequence[str], hypothesis: Sequence[str]) -> int:
    """Substitutions + deletions + insertions turning `reference` into `hypothesis` (Levenshtein)."""
    previous = list(range(len(hypothesis) + 1))
    for i, ref in enumerate(reference, 1):
        current = [i]
        for j, hyp in enumerate(hypothesis, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ref != hyp)))
        previous = current
    return previous[-1]


def word_error_rate(pairs: Sequence[tuple[Sequence[str], Sequence[str]]]) -> float:
    """Corpus WER: total edits over total reference words (NaN without reference words)."""
    words = sum(len(r) for r, _ in pairs)
    return sum(word_edits(r, h) for r, h in pairs) / words if words else float("nan")
