"""A symbolic model of the kitchen: where the robot is, what it holds, where each object is.

Used to judge episodes (goal checks) and, in plan-mode evaluation, as the world the skills act
on. The perception-based affordance model never sees this: it works from camera images.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

from saycan_ros.core.episode import SkillOutcome
from saycan_ros.core.kitchen import base_object_name

GRIPPER = "gripper"  # the 'location' of an object the robot holds


@dataclass(frozen=True)
class KitchenState:
    robot_at: str | None                         # a location name, or None between locations
    holding: str | None                          # an object instance name ('coke can#2'), or None
    objects: dict[str, str | None] = field(default_factory=dict)  # instance -> location / GRIPPER / None

    @property
    def held_kind(self) -> str | None:
        """The kind of the held object ('coke can' for 'coke can#2'), or None."""
        return base_object_name(self.holding) if self.holding else None

    def objects_at(self, location: str) -> list[str]:
        return [name for name, at in self.objects.items() if at == location]

    def with_(self, **changes) -> "KitchenState":
        return replace(self, **changes)


# ---------------------------------------------------------------------------------------------
# The symbolic kitchen model: a start state from a spec, and each skill's effect applied at once.
# A failed precondition means the skill fails and the state is unchanged.

USER = "user"
DISPOSAL = "trash can"
# m: an object this close to a container location's work point lies in the container (thrown away)
CONTAINER_RADIUS = 0.35

# Result codes of a symbolic skill run; the same numbers as saycan_msgs/action/ExecuteSkill
# (the pure core does not import message types).
SKILL_OK = 0
SKILL_UNKNOWN = 201
SKILL_PRECONDITION_FAILED = 202
SKILL_OBJECT_NOT_FOUND = 204
SKILL_GRASP_FAILED = 205  # never from the symbolic kitchen itself: injected slips (eval.faults)


def initial_state(kitchen, start_spec) -> KitchenState:
    """The state an episode starts in.

    `start_spec` is the `start:` mapping of an episode file,
    ``{robot: {at: L, holding: X | None}, objects: {X: L, ...}}``, or a scene name of the kitchen
    (objects from the scene, the robot at the user, empty gripper). Objects not listed are
    absent. Names must already be canonical (instances may carry '#n'); raises ValueError.
    """
    if isinstance(start_spec, str):
        start_spec = {"robot": {"at": USER, "holding": None}, "objects": kitchen.scene(start_spec)}
    start_spec = start_spec or {}
    robot = start_spec.get("robot") or {}
    at = robot.get("at", USER)
    holding = robot.get("holding")
    objects: dict[str, str | None] = {}
    for name, loc in (start_spec.get("objects") or {}).items():
        _check_object(kitchen, name)
        if loc not in kitchen.locations:
            raise ValueError(f"unknown location '{loc}' for object '{name}'")
        objects[str(name)] = str(loc)
    if at is not None and at not in kitchen.locations:
        raise ValueError(f"unknown robot location '{at}'")
    if holding is not None:
        _check_object(kitchen, holding)
        if holding in objects:
            raise ValueError(f"'{holding}' is both held and placed at {objects[holding]}")
        objects[str(holding)] = GRIPPER
    return KitchenState(robot_at=at, holding=holding, objects=objects)


def _check_object(kitchen, name: str) -> None:
    if base_object_name(str(name)) not in kitchen.objects:
        raise ValueError(f"unknown object '{name}'")


def instances_of(state: KitchenState, kind: str) -> list[str]:
    """Instances of an object kind ('coke can' -> ['coke can', 'coke can#2']) present in the state."""
    return [name for name, at in state.objects.items() if at is not None and base_object_name(name) == kind]


def apply_skill(state: KitchenState, skill, kitchen=None) -> tuple[bool, KitchenState, str]:
    """Apply one skill's effect: (success, new state, reason).

    - find X: some instance of X is present; the robot moves to it (one already in the gripper
      counts as found). Instances not yet at the user or in the trash are preferred, and one
      where the robot stands is preferred over moving.
    - pick up X: empty gripper, and an instance of X where the robot stands.
    - put down X: holding an instance of X; it goes where the robot stands (at the user:
      delivered).
    - go to L: the robot moves to L.
    - bring it to you: holding something; the robot moves to the user.
    - done: no change.
    The state is unchanged when a precondition fails. `reason` explains a failure ('' on success).
    """
    ok, new_state, reason, _ = _apply(state, skill, kitchen)
    return ok, new_state, reason


def _apply(state: KitchenState, skill, kitchen) -> tuple[bool, KitchenState, str, int]:
    kind, obj, loc = skill.kind, skill.object, skill.location
    if kind == "done":
        return True, state, "", SKILL_OK
    if kind == "go_to":
        if kitchen is not None and loc not in kitchen.locations:
            return False, state, f"unknown location '{loc}'", SKILL_UNKNOWN
        return True, state.with_(robot_at=loc), "", SKILL_OK
    if kind == "bring":
        if state.holding is None:
            return False, state, "bring it to you: the gripper is empty", SKILL_PRECONDITION_FAILED
        return True, state.with_(robot_at=USER), "", SKILL_OK
    if kind == "find":
        if state.holding is not None and base_object_name(state.holding) == obj:
            return True, state, "", SKILL_OK
        found = [n for n in instances_of(state, obj) if state.objects[n] != GRIPPER]
        if not found:
            return False, state, f"find: there is no {obj} in the kitchen", SKILL_OBJECT_NOT_FOUND
        open_items = [n for n in found if state.objects[n] not in (USER, DISPOSAL)] or found
        here = [n for n in open_items if state.objects[n] == state.robot_at]
        target = (here or open_items)[0]
        return True, state.with_(robot_at=state.objects[target]), "", SKILL_OK
    if kind == "pick":
        if state.holding is not None:
            return False, state, f"pick up the {obj}: already holding the {state.holding}", SKILL_PRECONDITION_FAILED
        here = [n for n in instances_of(state, obj) if state.objects[n] == state.robot_at]
        if not here:
            where = sorted({state.objects[n] for n in instances_of(state, obj)})
            detail = f"it is at {', '.join(where)}" if where else "there is none"
            return (False, state, f"pick up the {obj}: no {obj} at {state.robot_at} ({detail})",
                    SKILL_OBJECT_NOT_FOUND)
        target = here[0]
        objects = dict(state.objects)
        objects[target] = GRIPPER
        return True, state.with_(holding=target, objects=objects), "", SKILL_OK
    if kind == "place":
        if state.holding is None or base_object_name(state.holding) != obj:
            held = f"holding the {state.holding}" if state.holding else "the gripper is empty"
            return False, state, f"put down the {obj}: {held}", SKILL_PRECONDITION_FAILED
        if state.robot_at is None:
            return False, state, f"put down the {obj}: the robot is not at a location", SKILL_PRECONDITION_FAILED
        objects = dict(state.objects)
        objects[state.holding] = state.robot_at
        return True, state.with_(holding=None, objects=objects), "", SKILL_OK
    return False, state, f"the symbolic kitchen has no effect for skill kind '{kind}'", SKILL_UNKNOWN


class SymbolicRunner:
    """A SkillRunner over the symbolic kitchen: each skill's effect applies at once.

    `.state` is the current state (read it to ground affordances on it); `.history` lists
    (skill text, success, reason) for every run.
    """

    def __init__(self, kitchen, state: KitchenState):
        self.kitchen = kitchen
        self.state = state
        self.history: list[tuple[str, bool, str]] = []
        # What the robot could have observed: the kinds it has seen and the locations it has
        # looked at (where it stood; every location after a search that found nothing).
        self.seen: set[str] = set()
        self.looked_at: set[str] = set()
        self._observe()

    def run(self, skill):
        ok, self.state, reason, code = _apply(self.state, skill, self.kitchen)
        self.history.append((skill.text, ok, reason))
        if skill.kind == "find" and not ok:  # a search that found nothing has looked everywhere
            self._observe(everywhere=True)
        self._observe()
        return SkillOutcome(success=ok, error_code=code, message=reason)

    def _observe(self, everywhere: bool = False) -> None:
        places = set(self.kitchen.locations) if everywhere and self.kitchen is not None else (
            {self.state.robot_at} if self.state.robot_at else set())
        self.looked_at |= places
        self.seen |= {base_object_name(n) for n, at in self.state.objects.items() if at in places or at == GRIPPER}

    def known_absent(self) -> frozenset[str]:
        """Object kinds the robot knows are not in the kitchen: it has looked at every location
        and seen none of them (empty until it has looked everywhere)."""
        if self.kitchen is None or not set(self.kitchen.locations) <= self.looked_at:
            return frozenset()
        return frozenset(set(self.kitchen.objects) - self.seen)
