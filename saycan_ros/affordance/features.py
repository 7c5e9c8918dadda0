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

    @property
    def hands_empty(self) -> bool:
        return self.holding is None
