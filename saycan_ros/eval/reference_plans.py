"""Plan-comparison checks from the SayCan reference plans.

Reads ``../shared/datasets/saycan_plan_v0_l.tsv`` (relative to the repository root) at run time:
99 instruction -> reference plan pairs published with "Do As I Can, Not As I Say: Grounding
Language in Robotic Affordances" (Ahn et al., 2022), SayCan dataset v0, CC BY 4.0. Nothing from
the file is copied into the project.

For each row the converter
1. maps the plan's steps onto our skill library (the data set's names through the kitchen's
   aliases plus a few of its own spellings: 'trash' -> trash can, 'counter' -> close counter,
   'coke' -> coke can, 'sprite' -> 7up can, 'bag of chips' -> multigrain chips, ...);
2. infers a start state consistent with the plan: an object picked up right after 'go to L'
   starts at L, one picked up first thing starts where the robot starts, a found object starts
   at a place the plan does not take it to (its kitchen scene place, or a place the instruction
   says it comes 'from'/'off'); only the objects the plan touches are present;
3. runs the reference plan in the symbolic kitchen to get the reference end state;
4. turns that into a goal: every object the reference moved ends where it did (per kind, with
   counts for several of a kind), the gripper holds the same kind (or nothing); when the plan
   moves no object, the robot ends at the same place.
A row whose plan uses something our kitchen lacks (the drawer) is skipped with the reason.
"""
from __future__ import annotations

import csv
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from saycan_ros.core.kitchen import Kitchen, base_object_name
from saycan_ros.core.skills import Skill
from saycan_ros.core.world import GRIPPER, USER, KitchenState, apply_skill
from saycan_ros.eval.episodes import CountAt, Episode, Holding, ObjectAt, RobotAt

TSV_NAME = "saycan_plan_v0_l.tsv"
CREDIT = ("SayCan dataset v0 (saycan_plan_v0_l.tsv), Ahn et al. 2022, \"Do As I Can, Not As I Say: "
          "Grounding Language in Robotic Affordances\", CC BY 4.0")

# The data set's names for things our kitchen calls otherwise (beyond kitchen.yaml's aliases).
DATASET_OBJECTS = {
    "coke": "coke can",
    "pepsi": "pepsi can",
    "redbull can": "redbull",
    "sprite": "7up can",        # the data set's lemon-lime soda; our kitchen's is the 7up can
    "sprite can": "7up can",
    "bag of chips": "multigrain chips",  # an unspecified bag of chips: one concrete kind
    "chips bag": "multigrain chips",
    "chips": "multigrain chips",
    "water": "water bottle",
}
DATASET_LOCATIONS = {"trash": "trash can", "counter": "close counter"}
PLACES = ("close counter", "far counter", "table")  # where objects can start


def default_tsv_path() -> Path:
    """../shared/datasets/saycan_plan_v0_l.tsv relative to the repository root."""
    return Path(__file__).resolve().parents[2].parent / "shared" / "datasets" / TSV_NAME


class UnsupportedRow(Exception):
    """A row that cannot be turned into a check (its reason is reported)."""


@dataclass
class ReferenceChecks:
    episodes: list[Episode]
    skipped: list[tuple[int, str]]  # (row number in the file, reason)
    rows: int
    source: str


@dataclass
class _Inference:
    kitchen: Kitchen
    instruction: str
    objects: dict[str, str] = field(default_factory=dict)  # instance -> start location
    robot_start: str | None = None


def read_rows(path: str | Path) -> list[tuple[int, str, str]]:
    """(line number, instruction, plan text) for every data row of the TSV."""
    path = Path(path)
    if not path.is_file():
        from saycan_ros.core.errors import ConfigError

        raise ConfigError(f"reference plan file not found: {path} (expected the SayCan data set at "
                          f"../shared/datasets/{TSV_NAME} beside the repository; give --reference-tsv PATH)")
    rows = []
    with path.open(newline="", encoding="utf-8") as f:
        for i, row in enumerate(csv.reader(f, delimiter="\t"), 1):
            if i == 1 and row and row[0].strip().upper() == "INPUT":
                continue
            if len(row) < 2 or not row[0].strip():
                continue
            rows.append((i, row[0].strip(), row[1].strip()))
    return rows


_STEP = re.compile(r"(?:^|,)\s*\d+\.\s*")


def split_plan(text: str) -> list[str]:
    """'1. find a coke, 2. pick up the coke, 3. done.' -> ['find a coke', 'pick up the coke', 'done']."""
    parts = [p.strip().rstrip(".").strip() for p in _STEP.split(text) if p.strip()]
    out = []
    for p in parts:
        if p.lower().startswith("done"):  # 'done' sometimes carries trailing text in the file
            out.append("done")
            break
        out.append(p)
    return out


def _object(kitchen: Kitchen, words: str) -> str:
    words = " ".join(words.lower().split())
    name = kitchen.resolve_object(words) or DATASET_OBJECTS.get(words)
    if name is None:
        raise UnsupportedRow(f"object '{words}' is not in our kitchen")
    return name


def _location(kitchen: Kitchen, words: str) -> str:
    words = " ".join(words.lower().split())
    name = DATASET_LOCATIONS.get(words) or kitchen.resolve_location(words)
    if name is None or name == USER:
        raise UnsupportedRow(f"location '{words}' is not in our kitchen")
    return name


def parse_step(kitchen: Kitchen, text: str) -> Skill:
    """A reference step as the Skill of our library that does the same."""
    t = " ".join(text.lower().split())
    if t == "done":
        return _library_skill(kitchen, "done")
    if t == "bring it to you":
        return _library_skill(kitchen, "bring")
    for pattern, kind in ((r"find (?:a|an|the) (.+)", "find"), (r"pick up (?:the |a |an )?(.+)", "pick"),
                          (r"put down (?:the |a |an )?(.+)", "place")):
        m = re.fullmatch(pattern, t)
        if m:
            return _library_skill(kitchen, kind, obj=_object(kitchen, m.group(1)))
    m = re.fullmatch(r"go to (?:the )?(.+)", t)
    if m:
        return _library_skill(kitchen, "go_to", loc=_location(kitchen, m.group(1)))
    raise UnsupportedRow(f"step '{text}' has no skill in our library")


_LIBRARIES: dict[int, dict] = {}


def _library_skill(kitchen: Kitchen, kind: str, obj: str = "", loc: str = "") -> Skill:
    from saycan_ros.core.skills import SkillLibrary

    table = _LIBRARIES.get(id(kitchen))
    if table is None:
        table = {(s.kind, s.object, s.location): s for s in SkillLibrary.from_kitchen(kitchen)}
        _LIBRARIES[id(kitchen)] = table
    skill = table.get((kind, obj, loc))
    if skill is None:
        raise UnsupportedRow(f"our skill library has no {kind} skill for '{obj or loc}'")
    return skill


def _destinations(plan: list[Skill]) -> set[str]:
    """Places where the reference puts things down (after a 'go to')."""
    out, target = set(), None
    for s in plan:
        if s.kind == "go_to":
            target = s.location
        elif s.kind in ("find", "bring"):
            target = None
        elif s.kind == "place" and target is not None:
            out.add(target)
    return out


def _source_hint(inf: _Inference) -> str | None:
    """A place the instruction says things come from ('from the table', 'off the close counter')."""
    m = re.search(r"\b(?:from|off(?: of)?)\s+(?:the\s+)?(close counter|far counter|counter|table)\b",
                  inf.instruction.lower())
    return _location(inf.kitchen, m.group(1)) if m else None


def _start_place(inf: _Inference, kind: str, destinations: set[str]) -> str:
    """Where a found object starts: not where the plan takes things, preferring the instruction's
    'from' place, then the kitchen scene's place for it, then the first free place."""
    hint = _source_hint(inf)
    scene = inf.kitchen.scenes.get("default", {}).get(kind)
    for place in (hint, scene, *PLACES):
        if place in PLACES and place not in destinations:
            return place
    return PLACES[0]


def _new_instance(inf: _Inference, kind: str, place: str, state: KitchenState) -> tuple[str, KitchenState]:
    n = sum(1 for name in inf.objects if base_object_name(name) == kind)
    name = kind if n == 0 else f"{kind}#{n + 1}"
    inf.objects[name] = place
    objects = dict(state.objects)
    objects[name] = place
    return name, state.with_(objects=objects)


def infer_start(kitchen: Kitchen, instruction: str, plan: list[Skill]) -> tuple[KitchenState, KitchenState]:
    """(start state, reference end state) for a reference plan; raises UnsupportedRow."""
    inf = _Inference(kitchen, instruction)
    destinations = _destinations(plan)
    # Where the robot starts: at the first object's place when the plan picks it up first thing.
    first = plan[0] if plan else None
    if first is not None and first.kind == "pick":
        place = _start_place(inf, first.object, destinations)
        inf.robot_start = place
    else:
        inf.robot_start = USER
    state = KitchenState(robot_at=inf.robot_start, holding=None, objects={})
    for i, skill in enumerate(plan, 1):
        if skill.kind == "find":
            # A fresh object unless one of that kind is still waiting somewhere (not delivered/binned).
            waiting = [n for n, at in state.objects.items()
                       if base_object_name(n) == skill.object and at in PLACES]
            if not waiting:
                _, state = _new_instance(inf, skill.object, _start_place(inf, skill.object, destinations), state)
        elif skill.kind == "pick":
            here = [n for n, at in state.objects.items()
                    if base_object_name(n) == skill.object and at == state.robot_at]
            if not here:
                if state.robot_at not in PLACES:
                    raise UnsupportedRow(f"step {i} picks up the {skill.object} at {state.robot_at}")
                _, state = _new_instance(inf, skill.object, state.robot_at, state)
        ok, state, reason = apply_skill(state, skill, kitchen)
        if not ok:
            raise UnsupportedRow(f"reference step {i} '{skill.text}' fails in the symbolic kitchen: {reason}")
    start = KitchenState(robot_at=inf.robot_start, holding=None, objects=dict(inf.objects))
    return start, state


def reference_goal(start: KitchenState, end: KitchenState) -> list:
    """Goal entries: moved objects end where the reference put them, same held kind; robot place
    when nothing moved."""
    moved = {n: end.objects[n] for n in start.objects if end.objects.get(n) != start.objects[n]}
    goal: list = []
    per_place = Counter((base_object_name(n), at) for n, at in moved.items() if at != GRIPPER)
    total = Counter(base_object_name(n) for n in start.objects)
    for (kind, at), count in sorted(per_place.items()):
        goal.append(ObjectAt(kind, at) if count == 1 and total[kind] == 1 else CountAt(count, (kind,), at))
    goal.append(Holding(end.held_kind))
    if not moved:
        goal.append(RobotAt(end.robot_at))
    return goal


def plan_family(plan: list[Skill], start: KitchenState, end: KitchenState) -> str:
    """Group checks by what the reference plan does (the file has no family column)."""
    moved = [n for n in start.objects if end.objects.get(n) != start.objects[n]]
    if not moved:
        return "ref-navigate"
    if all(end.objects[n] == GRIPPER for n in moved) and len(moved) == 1:
        return "ref-pick"
    if len(moved) == 1:
        return "ref-deliver" if end.objects[moved[0]] == USER else "ref-move"
    return "ref-multi"


def row_to_episode(kitchen: Kitchen, line: int, instruction: str, plan_text: str, source: str) -> Episode:
    steps = split_plan(plan_text)
    if not steps:
        raise UnsupportedRow("empty plan")
    plan = [parse_step(kitchen, s) for s in steps]
    if plan[-1].kind != "done":
        plan.append(Skill("done", "done"))
    start, end = infer_start(kitchen, instruction, plan)
    goal = reference_goal(start, end)
    n_moves = len(plan)
    start_spec = {"robot": {"at": start.robot_at, "holding": None}, "objects": dict(start.objects)}
    return Episode(
        id=f"tsv-{line}", family=plan_family(plan, start, end), instruction=instruction, start=start_spec,
        goal=tuple(goal), max_steps=max(12, n_moves + 4), source=source, line=line,
        meta={"reference_plan": [s.text for s in plan]})


def load_reference_checks(path: str | Path | None = None, kitchen: Kitchen | None = None) -> ReferenceChecks:
    """Every convertible row of the TSV as an Episode; the others with the reason they were skipped."""
    from saycan_ros.core.kitchen import load_kitchen

    kitchen = kitchen or load_kitchen()
    path = Path(path) if path else default_tsv_path()
    rows = read_rows(path)
    episodes, skipped = [], []
    for line, instruction, plan_text in rows:
        try:
            episodes.append(row_to_episode(kitchen, line, instruction, plan_text, str(path)))
        except UnsupportedRow as exc:
            skipped.append((line, str(exc)))
    return ReferenceChecks(episodes, skipped, len(rows), str(path))
