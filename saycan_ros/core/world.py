"""A symbolic model of the kitchen: where the robot is, what it holds, where each object is.

Used to judge episodes (goal checks) and, in plan-mode evaluation, as the world the skills act
on. The perception-based affordance model never sees this: it works from camera images.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

GRIPPER = "gripper"  # the 'location' of an object the robot holds


@dataclass(frozen=True)
class KitchenState:
    robot_at: str | None                         # a location name, or None between locations
    holding: str | None                          # an object instance name ('coke can#2'), or None
    objects: dict[str, str | None] = field(default_factory=dict)  # instance -> location / GRIPPER / None

    def objects_at(self, location: str) -> list[str]:
        return [name for name, at in self.objects.items() if at == location]

    def with_(self, **changes) -> "KitchenState":
        return replace(self, **changes)
