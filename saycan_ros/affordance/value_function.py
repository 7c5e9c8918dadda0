"""The affordance value function: p(skill succeeds | features).

Hand-designed and calibrated, not learned: SayCan trains value functions with RL (MT-Opt) per
skill; we have no such data here, so each skill kind gets a small table of probabilities over
the features that decide its success (is the object seen, within reach, what the gripper holds,
where the robot is). The values are tunable parameters (`AffordanceParams`, node parameters).
A learned model drops in behind the `AffordanceModel` interface (affordance/base.py).

Scores are in (0, 1]: a floor keeps an "impossible" skill from zeroing the product with the
language model completely, so a mis-perception can still be overruled by a very confident LLM.
What the gripper's state rules out (picking with a full hand, putting down or bringing what is not
held) sits at 0.001: about 6.9 nats, so a language model that likes such a skill a few nats more
than a feasible one (as the embedded model likes "bring it to you" after a failed search) loses.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Mapping

from saycan_ros.affordance.features import UNKNOWN_HELD, AffordanceFeatures
from saycan_ros.core.errors import ConfigError
from saycan_ros.core.skills import Skill


@dataclass(frozen=True)
class AffordanceParams:
    """Probabilities of success per situation; every value in [0, 1]."""

    pick_reachable: float = 0.95     # object in the arm's reach, gripper empty
    pick_visible: float = 0.40       # seen but out of reach (the executor must approach first)
    pick_unseen: float = 0.05        # not in view
    pick_hands_full: float = 0.001   # already holding something
    place_holding: float = 0.95      # holding exactly this object
    place_unknown: float = 0.50      # holding something unidentified
    place_other: float = 0.001       # holding another object, or nothing
    go_to: float = 0.90              # go to another location
    go_to_here: float = 0.05         # already there
    find: float = 0.90               # object neither in reach nor held
    find_in_reach: float = 0.10      # already in reach or in the gripper: nothing to search
    find_known_absent: float = 0.01  # every location was searched and none was seen
    bring_holding: float = 0.95      # holding something, not at the user
    bring_at_user: float = 0.30      # holding something, already at the user
    bring_empty: float = 0.001       # nothing to bring
    floor: float = 0.001             # lower bound of every score

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
                raise ConfigError(f"affordance parameter '{f.name}'={value!r} must be within [0, 1]")

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> "AffordanceParams":
        """Build from a dict (node parameters), ignoring keys that are not fields."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: float(v) for k, v in values.items() if k in names})


USER_LOCATION = "user"


def gripper_rules_out(features: AffordanceFeatures, skill: Skill, params: AffordanceParams) -> float | None:
    """The table's value for a skill that what the gripper holds rules out (the executor refuses it:
    pick with full fingers, put down with empty ones or of another object, bring with nothing), or
    None when the gripper allows it. An unidentified held object allows a put-down."""
    held = features.holding
    if skill.kind == "pick" and held is not None:
        return params.pick_hands_full
    if skill.kind == "place" and held not in (skill.object, UNKNOWN_HELD):
        return params.place_other
    if skill.kind == "bring" and held is None:
        return params.bring_empty
    return None


def skill_affordance(features: AffordanceFeatures, skill: Skill, params: AffordanceParams | None = None,
                     user_location: str = USER_LOCATION) -> float:
    """Probability in (0, 1] that `skill` succeeds from the state described by `features`."""
    p = params or AffordanceParams()
    held, obj = features.holding, skill.object
    ruled_out = gripper_rules_out(features, skill, p)
    if skill.kind == "done":
        return 1.0  # stopping is always possible; when to stop is the language model's decision
    if ruled_out is not None:
        value = ruled_out
    elif skill.kind == "pick":
        if obj in features.reachable:
            value = p.pick_reachable
        elif obj in features.visible:
            value = p.pick_visible
        else:
            value = p.pick_unseen
    elif skill.kind == "place":
        value = p.place_holding if held == obj else p.place_unknown
    elif skill.kind == "go_to":
        value = p.go_to_here if features.robot_at == skill.location else p.go_to
    elif skill.kind == "find":
        if held == obj or obj in features.reachable:
            value = p.find_in_reach
        else:
            value = p.find_known_absent if obj in features.known_absent else p.find
    elif skill.kind == "bring":
        value = p.bring_at_user if features.robot_at == user_location else p.bring_holding
    else:  # a kind added to the kitchen file without a row here: neutral, not fatal
        value = 0.5
    return min(1.0, max(p.floor, value, 1e-6))
