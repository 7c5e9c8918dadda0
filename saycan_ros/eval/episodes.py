"""Evaluation episodes: the YAML episode file format, its validation, and goal checks.

The format (see docs/evaluation.md) is a YAML list of episodes::

    - id: throw-apple            # unique
      family: single             # free text; results are grouped by it
      instruction: "throw away the apple"
      start:
        robot: {at: user, holding: null}
        objects: {apple: close counter, coke can: table}
      goal:
        - {object: apple, at: trash can}
      max_steps: 10              # optional

Goal entries: ``{object: X, at: L}``, ``{robot_at: L}``, ``{holding: X}`` / ``{holding: null}``,
``{any: [entry, ...]}``, ``{count: N, of: [X, ...], at: L}``, ``{not: entry}``.

Names are checked against the kitchen (aliases are accepted and made canonical); a name may
carry a ``#n`` suffix for several objects of one kind. Every error names the file and line.

Object names in goals: a name with a suffix (``coke can#2``) means that one object; a name
without one means *any* object of that kind (the robot cannot tell two apples apart).
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, NamedTuple, Sequence, Union

import yaml

from saycan_ros.core.errors import ConfigError
from saycan_ros.core.kitchen import Kitchen, base_object_name, config_dir, load_kitchen
from saycan_ros.core.prompt import instruction_key
from saycan_ros.core.world import GRIPPER, KitchenState, initial_state

EPISODE_KEYS = ("id", "family", "instruction", "start", "goal", "max_steps")
_SUFFIX = re.compile(r"^(?P<base>[^#]+?)\s*#\s*(?P<n>\d+)$")


class EpisodeFormatError(ConfigError):
    """An episode file that does not follow the format; the message starts with 'file:line:'."""


# ---------------------------------------------------------------------------------------------
# Goal entries


@dataclass(frozen=True)
class ObjectAt:
    object: str
    at: str

    def describe(self) -> str:
        return f"{self.object} at {self.at}"


@dataclass(frozen=True)
class RobotAt:
    at: str

    def describe(self) -> str:
        return f"robot at {self.at}"


@dataclass(frozen=True)
class Holding:
    object: str | None  # None: the gripper is empty

    def describe(self) -> str:
        return f"holding {self.object}" if self.object else "gripper empty"


@dataclass(frozen=True)
class AnyOf:
    entries: tuple["GoalEntry", ...]

    def describe(self) -> str:
        return "any of (" + "; ".join(e.describe() for e in self.entries) + ")"


@dataclass(frozen=True)
class CountAt:
    count: int
    of: tuple[str, ...]
    at: str

    def describe(self) -> str:
        return f"at least {self.count} of [{', '.join(self.of)}] at {self.at}"


@dataclass(frozen=True)
class Not:
    entry: "GoalEntry"

    def describe(self) -> str:
        return f"not ({self.entry.describe()})"


GoalEntry = Union[ObjectAt, RobotAt, Holding, AnyOf, CountAt, Not]


def _matches(name: str, pattern: str) -> bool:
    """A goal name matches an object instance: exact with a '#n' suffix, else by kind."""
    if "#" in pattern:
        return name == pattern
    return base_object_name(name) == pattern


def entry_holds(entry: GoalEntry, state: KitchenState) -> bool:
    if isinstance(entry, ObjectAt):
        return any(_matches(n, entry.object) and at == entry.at for n, at in state.objects.items())
    if isinstance(entry, RobotAt):
        return state.robot_at == entry.at
    if isinstance(entry, Holding):
        if entry.object is None:
            return state.holding is None
        return state.holding is not None and _matches(state.holding, entry.object)
    if isinstance(entry, AnyOf):
        return any(entry_holds(e, state) for e in entry.entries)
    if isinstance(entry, CountAt):
        n = sum(1 for name, at in state.objects.items()
                if at == entry.at and any(_matches(name, p) for p in entry.of))
        return n >= entry.count
    if isinstance(entry, Not):
        return not entry_holds(entry.entry, state)
    raise TypeError(f"not a goal entry: {entry!r}")


def failed_entries(goal: Iterable[GoalEntry], state: KitchenState) -> list[GoalEntry]:
    """The goal entries that do not hold in `state` (empty: the goal is satisfied)."""
    return [e for e in goal if not entry_holds(e, state)]


class GoalCheck(NamedTuple):
    """Whether a goal holds, and the entries that do not. Truthy exactly when `ok`, so both
    ``if goal_satisfied(goal, state):`` and ``ok, failed = goal_satisfied(goal, state)`` work."""

    ok: bool
    failed: list

    def __bool__(self) -> bool:
        return self.ok


def goal_satisfied(goal: Iterable[GoalEntry], state: KitchenState) -> GoalCheck:
    """Every goal entry holds in `state`? (see GoalCheck: use as a bool or unpack (ok, failed))."""
    failed = failed_entries(goal, state)
    return GoalCheck(not failed, failed)


def state_from_world(world: Mapping[str, Any]) -> KitchenState:
    """A KitchenState from the simulator's sim/world_state JSON (robot_location, held_object,
    objects: {name: {location, held}}); objects off every surface map to None."""
    objects: dict[str, str | None] = {}
    for name, obj in (world.get("objects") or {}).items():
        objects[str(name)] = GRIPPER if obj.get("held") else obj.get("location")
    held = world.get("held_object") or None
    return KitchenState(robot_at=world.get("robot_location"), holding=held, objects=objects)


# ---------------------------------------------------------------------------------------------
# Episodes


@dataclass(frozen=True)
class Episode:
    id: str
    family: str
    instruction: str
    start: dict          # {'robot': {'at': L, 'holding': X | None}, 'objects': {X: L}} (canonical names)
    goal: tuple[GoalEntry, ...]
    max_steps: int | None = None
    source: str = "<memory>"
    line: int = 0
    meta: dict = field(default_factory=dict, compare=False)  # free data (e.g. a reference plan)

    def initial_state(self, kitchen: Kitchen) -> KitchenState:
        return initial_state(kitchen, self.start)

    def where(self) -> str:
        return f"{self.source}:{self.line}"


class _Parser:
    """Turns composed YAML nodes into episodes, reporting errors at the node's line."""

    def __init__(self, kitchen: Kitchen, source: str):
        self.kitchen, self.source = kitchen, source

    # -- helpers ------------------------------------------------------------------------------
    def fail(self, node: yaml.Node | None, msg: str) -> EpisodeFormatError:
        line = node.start_mark.line + 1 if node is not None else 0
        return EpisodeFormatError(f"{self.source}:{line}: {msg}")

    def scalar(self, node: yaml.Node) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            raise self.fail(node, "expected a single value, not a list or mapping")
        return _construct_scalar(node)

    def mapping(self, node: yaml.Node, what: str) -> dict[str, tuple[yaml.Node, yaml.Node]]:
        if not isinstance(node, yaml.MappingNode):
            raise self.fail(node, f"{what} must be a mapping")
        out: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        for key_node, value_node in node.value:
            key = self.scalar(key_node)
            key = str(key) if key is not None else ""
            if key in out:
                raise self.fail(key_node, f"{what} has '{key}' twice")
            out[key] = (key_node, value_node)
        return out

    def sequence(self, node: yaml.Node, what: str) -> list[yaml.Node]:
        if not isinstance(node, yaml.SequenceNode):
            raise self.fail(node, f"{what} must be a list")
        return list(node.value)

    def text(self, node: yaml.Node, what: str) -> str:
        value = self.scalar(node)
        if value is None or (isinstance(value, str) and not value.strip()):
            raise self.fail(node, f"{what} must not be empty")
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise self.fail(node, f"{what} must be text")
        return " ".join(str(value).split())

    def object_name(self, node: yaml.Node, *, allow_null: bool = False) -> str | None:
        value = self.scalar(node)
        if value is None:
            if allow_null:
                return None
            raise self.fail(node, "expected an object name, got null")
        word = " ".join(str(value).split())
        suffix = ""
        m = _SUFFIX.match(word)
        if m:
            word, suffix = m.group("base"), f"#{int(m.group('n'))}"
        elif "#" in word:
            raise self.fail(node, f"bad object suffix in '{value}': use 'name#<number>'")
        name = self.kitchen.resolve_object(word)
        if name is None:
            raise self.fail(node, f"unknown object '{value}'; known: {', '.join(self.kitchen.objects)}")
        return name + suffix

    def location(self, node: yaml.Node) -> str:
        value = self.scalar(node)
        name = self.kitchen.resolve_location(str(value)) if value is not None else None
        if name is None:
            raise self.fail(node, f"unknown location '{value}'; known: {', '.join(self.kitchen.locations)}")
        return name

    # -- goal ---------------------------------------------------------------------------------
    def goal_entry(self, node: yaml.Node) -> GoalEntry:
        fields = self.mapping(node, "a goal entry")
        keys = set(fields)

        def only(*allowed: str) -> None:
            extra = keys - set(allowed)
            if extra:
                raise self.fail(node, f"goal entry with {'/'.join(allowed)} cannot also have "
                                      f"{', '.join(sorted(extra))}")

        if "object" in keys:
            only("object", "at")
            if "at" not in keys:
                raise self.fail(node, "goal entry {object: X} needs 'at: L'")
            return ObjectAt(self.object_name(fields["object"][1]), self.location(fields["at"][1]))
        if "robot_at" in keys:
            only("robot_at")
            return RobotAt(self.location(fields["robot_at"][1]))
        if "holding" in keys:
            only("holding")
            return Holding(self.object_name(fields["holding"][1], allow_null=True))
        if "any" in keys:
            only("any")
            items = self.sequence(fields["any"][1], "'any'")
            if not items:
                raise self.fail(fields["any"][1], "'any' needs at least one entry")
            return AnyOf(tuple(self.goal_entry(n) for n in items))
        if "count" in keys:
            only("count", "of", "at")
            if "of" not in keys or "at" not in keys:
                raise self.fail(node, "goal entry {count: N} needs 'of: [X, ...]' and 'at: L'")
            count = self.scalar(fields["count"][1])
            if isinstance(count, bool) or not isinstance(count, int) or count < 1:
                raise self.fail(fields["count"][1], f"count must be a positive whole number, got {count!r}")
            of_node = fields["of"][1]
            names = ([self.object_name(of_node)] if isinstance(of_node, yaml.ScalarNode)
                     else [self.object_name(n) for n in self.sequence(of_node, "'of'")])
            if not names:
                raise self.fail(of_node, "'of' needs at least one object")
            return CountAt(count, tuple(names), self.location(fields["at"][1]))
        if "not" in keys:
            only("not")
            return Not(self.goal_entry(fields["not"][1]))
        raise self.fail(node, "unknown goal entry; expected one of object/at, robot_at, holding, "
                              "any, count/of/at, not")

    def check_reachable(self, entry: GoalEntry, node: yaml.Node, state: KitchenState) -> None:
        """Top-level positive entries must name objects that exist at the start."""
        def present(pattern: str) -> int:
            return sum(1 for name in state.objects if _matches(name, pattern))

        if isinstance(entry, (ObjectAt, Holding)) and entry.object is not None and not present(entry.object):
            raise self.fail(node, f"goal names '{entry.object}', which is not in the start state")
        if isinstance(entry, CountAt):
            available = sum(1 for name in state.objects if any(_matches(name, p) for p in entry.of))
            if available < entry.count:
                raise self.fail(node, f"goal counts {entry.count} of [{', '.join(entry.of)}] but the start "
                                      f"state has only {available}")

    # -- episode ------------------------------------------------------------------------------
    def start(self, node: yaml.Node) -> dict:
        fields = self.mapping(node, "start")
        extra = set(fields) - {"robot", "objects"}
        if extra:
            raise self.fail(node, f"start has unknown key(s) {', '.join(sorted(extra))}; expected robot, objects")
        at, holding = "user", None
        if "robot" in fields:
            robot = self.mapping(fields["robot"][1], "start.robot")
            extra = set(robot) - {"at", "holding"}
            if extra:
                raise self.fail(fields["robot"][1], f"start.robot has unknown key(s) {', '.join(sorted(extra))}")
            if "at" in robot:
                at = self.location(robot["at"][1])
            if "holding" in robot:
                holding = self.object_name(robot["holding"][1], allow_null=True)
        objects: dict[str, str] = {}
        objects_node = fields["objects"][1] if "objects" in fields else None
        if objects_node is not None and not _is_null(objects_node):
            if not isinstance(objects_node, yaml.MappingNode):
                raise self.fail(objects_node, "start.objects must be a mapping object -> location")
            for key_node, value_node in objects_node.value:
                name = self.object_name(key_node)
                if name in objects:
                    raise self.fail(key_node, f"start.objects lists '{name}' twice (use '{name}#2' for a second one)")
                objects[name] = self.location(value_node)
                if name == holding:
                    raise self.fail(key_node, f"'{name}' is held by the robot and also placed at {objects[name]}")
        return {"robot": {"at": at, "holding": holding}, "objects": objects}

    def episode(self, node: yaml.Node) -> Episode:
        fields = self.mapping(node, "an episode")
        extra = set(fields) - set(EPISODE_KEYS)
        if extra:
            bad = sorted(extra)[0]
            raise self.fail(fields[bad][0], f"unknown episode key '{bad}'; expected {', '.join(EPISODE_KEYS)}")
        for key in ("id", "instruction", "start", "goal"):
            if key not in fields:
                raise self.fail(node, f"episode is missing '{key}'")
        ep_id = self.text(fields["id"][1], "id")
        family = self.text(fields["family"][1], "family") if "family" in fields else "default"
        instruction = self.text(fields["instruction"][1], "instruction")
        start = self.start(fields["start"][1])
        state = initial_state(self.kitchen, start)
        goal_nodes = self.sequence(fields["goal"][1], "goal")
        if not goal_nodes:
            raise self.fail(fields["goal"][1], "goal needs at least one entry")
        goal = []
        for g in goal_nodes:
            entry = self.goal_entry(g)
            self.check_reachable(entry, g, state)
            goal.append(entry)
        max_steps = None
        if "max_steps" in fields:
            max_steps = self.scalar(fields["max_steps"][1])
            if max_steps is not None and (isinstance(max_steps, bool) or not isinstance(max_steps, int)
                                          or max_steps < 1):
                raise self.fail(fields["max_steps"][1], f"max_steps must be a positive whole number, got {max_steps!r}")
        return Episode(ep_id, family, instruction, start, tuple(goal), max_steps,
                       self.source, node.start_mark.line + 1)


def _is_null(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and _construct_scalar(node) is None


_CONSTRUCTOR = yaml.constructor.SafeConstructor()


def _construct_scalar(node: yaml.ScalarNode) -> Any:
    return _CONSTRUCTOR.construct_object(node, deep=True)


def parse_episodes(text: str, kitchen: Kitchen | None = None, source: str = "<memory>") -> list[Episode]:
    """Parse an episode file's text. Raises EpisodeFormatError('source:line: ...')."""
    kitchen = kitchen or load_kitchen()
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 0
        raise EpisodeFormatError(f"{source}:{line}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    parser = _Parser(kitchen, source)
    if root is None:
        raise EpisodeFormatError(f"{source}:1: the file has no episodes")
    nodes = parser.sequence(root, "an episode file (a list of episodes)")
    episodes, seen = [], {}
    for node in nodes:
        ep = parser.episode(node)
        if ep.id in seen:
            raise EpisodeFormatError(f"{source}:{ep.line}: duplicate episode id '{ep.id}' "
                                     f"(first at line {seen[ep.id]})")
        seen[ep.id] = ep.line
        episodes.append(ep)
    if not episodes:
        raise EpisodeFormatError(f"{source}:1: the file has no episodes")
    return episodes


def load_episodes(path: str | os.PathLike, kitchen: Kitchen | None = None) -> list[Episode]:
    """Read and validate an episode file."""
    path = Path(path)
    if not path.is_file():
        raise EpisodeFormatError(f"{path}:0: episode file not found")
    return parse_episodes(path.read_text(), kitchen, source=str(path))


def evaluation_instructions(kitchen: Kitchen | None = None) -> set[str]:
    """The instructions of every episode set in config/eval (as `instruction_key`s): never example
    bank entries or training data."""
    kitchen = kitchen or load_kitchen()
    return {instruction_key(e.instruction) for f in sorted((config_dir() / "eval").glob("*.yaml"))
            for e in load_episodes(f, kitchen)}


def families(episodes: Sequence[Episode]) -> list[str]:
    """Family names in first-seen order."""
    return list(dict.fromkeys(ep.family for ep in episodes))


def state_summary(state: KitchenState) -> str:
    """One line: where the robot is, what it holds, where each object is."""
    placed = ", ".join(f"{n}@{at}" for n, at in sorted(state.objects.items()) if at != GRIPPER)
    return f"robot@{state.robot_at} holding={state.holding or '-'} | {placed}"
