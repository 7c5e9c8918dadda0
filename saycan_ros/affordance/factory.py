"""Build an AffordanceModel by kind (affordance/base.py lists the kinds). The interface stays free of
its backends; this module is the one place that knows them all, and imports each only when used."""
from __future__ import annotations

from typing import Any

from saycan_ros.affordance.base import MODEL_KINDS, AffordanceModel, NoAffordance, SymbolicAffordance
from saycan_ros.affordance.value_function import AffordanceParams
from saycan_ros.core.errors import ConfigError
from saycan_ros.core.kitchen import Kitchen


def make_affordance_model(kind: str, *, kitchen: Kitchen | None = None, params: AffordanceParams | None = None,
                          **kwargs: Any) -> AffordanceModel:
    """Build an AffordanceModel by kind; extra keyword arguments go to the model's constructor.

    perception: kitchen (required), geometry (RobotPerceptionGeometry, default from config/robot.yaml),
    plus PerceptionFeatureSource options; learned: kitchen, perception (a PerceptionAffordance), folder; symbolic: kitchen (required), state_provider; none: nothing.
    """
    if kind == "none":
        return NoAffordance()
    if kind not in MODEL_KINDS:
        raise ConfigError(f"unknown affordance model '{kind}' (expected one of {', '.join(MODEL_KINDS)})")
    if kitchen is None:
        raise ConfigError(f"affordance model '{kind}' needs the kitchen description")
    if kind == "learned":
        from saycan_ros.affordance.learned import LearnedAffordance  # torch only when used

        if kwargs.get("perception") is None:
            raise ConfigError("affordance model 'learned' needs the perception model that tracks the observation")
        return LearnedAffordance(**kwargs)
    if kind == "symbolic":
        return SymbolicAffordance(kitchen, params, **kwargs)
    from saycan_ros.affordance.perception_model import PerceptionAffordance  # numpy/cv2 only when used

    return PerceptionAffordance(kitchen, params=params, **kwargs)
