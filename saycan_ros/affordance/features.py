"""The state description the affordance value function reads, whichever source filled it in."""
from __future__ import annotations

from dataclasses import dataclass, field

UNKNOWN_HELD = "?"  # the gripper holds something that could not be identified


@dataclass(frozen=True)
class AffordanceFeatures:
    robot_at: str | None                      # kitchen location the robot stands at, None = in between
    holding: str | None                       # canonical object name, None = empty, "?" = unidentified
    visible: dict[str, float | None] = field(default_factory=dict)  # object -> horizontal distance (m)
    reachable: frozenset[str] | set[str] = field(default_factory=frozenset)  # objects the arm can reach now
    # objects the robot knows are nowhere in the kitchen: it has looked at every location (e.g. a
    # failed "find") and never saw one
    known_absent: frozenset[str] | set[str] = field(default_factory=frozenset)
    # what the search memory holds (when there is one): the kinds seen since it was cleared, and the
    # fraction of the search locations looked at
    seen: frozenset[str] | set[str] = field(default_factory=frozenset)
    searched: float = 0.0

    @property
    def hands_empty(self) -> bool:
        return self.holding is None


def features_to_json(features: AffordanceFeatures) -> dict:
    """JSON-ready form (experience shards keep each attempt's features for the hand-calibrated baseline)."""
    return {"robot_at": features.robot_at, "holding": features.holding,
            "visible": {k: v for k, v in features.visible.items()}, "reachable": sorted(features.reachable),
            "known_absent": sorted(features.known_absent), "seen": sorted(features.seen), "searched": features.searched}


def features_from_json(data: dict) -> AffordanceFeatures:
    return AffordanceFeatures(data["robot_at"], data["holding"], dict(data["visible"]), frozenset(data["reachable"]),
                              frozenset(data.get("known_absent", ())), frozenset(data.get("seen", ())),
                              float(data.get("searched", 0.0)))
