"""Build the skill scorer a ScorerConfig asks for. The interface (language/base.py) stays free of
its backends; this module is the one place that knows them all."""
from __future__ import annotations

from saycan_ros.language.base import ScorerConfig, SkillScorer


def make_scorer(config: ScorerConfig) -> SkillScorer:
    """Build the scorer the config asks for. Backends (and torch) are imported only when asked for."""
    config.validate()
    if config.backend == "transformers":
        from saycan_ros.language.transformers_scorer import TransformersScorer

        return TransformersScorer(config)
    from saycan_ros.language.openai_scorer import OpenAIScorer

    return OpenAIScorer(config)
