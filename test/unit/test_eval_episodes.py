"""The episode file format: parsing, validation with file:line errors, and goal checks."""
from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from saycan_ros.core.kitchen import load_kitchen
from saycan_ros.core.skills import SkillLibrary
from saycan_ros.core.world import GRIPPER, KitchenState
from saycan_ros.eval.episodes import (
    AnyOf, CountAt, EpisodeFormatError, Holding, Not, ObjectAt, RobotAt, entry_holds, failed_entries,
    families, goal_satisfied, load_episodes, parse_episodes,
)
from saycan_ros.eval.harness import default_episode_file
from saycan_ros.eval.oracle import shortest_plan
from saycan_ros.eval.reference_plans import default_tsv_path

KITCHEN = load_kitchen()

EXAMPLE = """\
- id: throw-apple            # unique
  family: single             # free text; results are grouped by it
  instruction: "throw away the apple"
  start:
    robot: {at: user, holding: null}       # at: a location name; holding: an object or null
    objects: {apple: close counter, coke can: table}   # object -> location; objects not listed are absent
  goal:                      # every entry must hold at the end
    - {object: apple, at: trash can}
  max_steps: 10              # optional
"""


def parse(text: str):
    return parse_episodes(textwrap.dedent(text), KITCHEN, source="eps.yaml")


def one(goal_yaml: str, objects: str = "{apple: table, orange: table, coke can: table}", holding="null"):
    text = f"""\
    - id: e
      instruction: do it
      start:
        robot: {{at: table, holding: {holding}}}
        objects: {objects}
      goal:
        - {goal_yaml}
    """
    return parse(text)[0]


def st(at="table", holding=None, **objects) -> KitchenState:
    objs = {k.replace("_", " ").replace("#", "#"): v for k, v in objects.items()}
    if holding:
        objs[holding] = GRIPPER
    return KitchenState(at, holding, objs)


def test_the_issue_example_parses_exactly():
    [ep] = parse_episodes(EXAMPLE, KITCHEN, source="x.yaml")
    assert (ep.id, ep.family, ep.instruction, ep.max_steps, ep.line) == ("throw-apple", "single", "throw away the apple", 10, 1)
    assert ep.start == {"robot": {"at": "user", "holding": None}, "objects": {"apple": "close counter", "coke can": "table"}}
    assert ep.goal == (ObjectAt("apple", "trash can"),)
    s = ep.initial_state(KITCHEN)
    assert not goal_satisfied(ep.goal, s)
    assert goal_satisfied(ep.goal, s.with_(objects={**s.objects, "apple": "trash can"}))


def test_object_at_and_user_means_delivered():
    ep = one("{object: apple, at: user}")
    assert ep.goal == (ObjectAt("apple", "user"),)
    assert goal_satisfied(ep.goal, st(apple="user"))
    assert not goal_satisfied(ep.goal, st("user", holding="apple"))  # held is not delivered


def test_robot_at_and_holding_entries():
    assert one("{robot_at: far counter}").goal == (RobotAt("far counter"),)
    assert entry_holds(RobotAt("far counter"), st("far counter"))
    assert one("{holding: orange}").goal == (Holding("orange"),)
    assert one("{holding: null}").goal == (Holding(None),)
    assert entry_holds(Holding("orange"), st(holding="orange"))
    assert entry_holds(Holding(None), st()) and not entry_holds(Holding(None), st(holding="apple"))


def test_any_count_and_not_entries():
    g = one("{any: [{object: coke can, at: user}, {object: apple, at: user}]}").goal[0]
    assert isinstance(g, AnyOf) and len(g.entries) == 2
    assert entry_holds(g, st(apple="user")) and not entry_holds(g, st(apple="table"))
    c = one("{count: 2, of: [apple, orange], at: trash can}").goal[0]
    assert c == CountAt(2, ("apple", "orange"), "trash can")
    assert entry_holds(c, st(apple="trash can", orange="trash can"))
    assert not entry_holds(c, st(apple="trash can", orange="table"))
    n = one("{not: {object: apple, at: trash can}}").goal[0]
    assert n == Not(ObjectAt("apple", "trash can"))
    assert entry_holds(n, st(apple="table")) and not entry_holds(n, st(apple="trash can"))


def test_failed_entries_lists_what_is_unmet():
    goal = [ObjectAt("apple", "user"), RobotAt("table"), Holding(None)]
    assert failed_entries(goal, st("table", apple="table")) == [ObjectAt("apple", "user")]


def test_suffixes_name_several_objects_of_one_kind():
    ep = one("{count: 3, of: [apple], at: trash can}",
             objects='{apple: table, "apple#2": table, "apple # 3": close counter}')
    assert set(ep.start["objects"]) == {"apple", "apple#2", "apple#3"}
    s = st(apple="trash can", **{"apple#2": "trash can", "apple#3": "close counter"})
    assert not goal_satisfied(ep.goal, s)
    assert goal_satisfied(ep.goal, s.with_(objects={**s.objects, "apple#3": "trash can"}))
    # a suffixed goal name means that one object; a bare one means any of the kind
    assert entry_holds(ObjectAt("apple", "trash can"), st(**{"apple#2": "trash can"}))
    assert not entry_holds(ObjectAt("apple#3", "trash can"), st(**{"apple#2": "trash can"}))


def test_aliases_are_made_canonical():
    ep = one("{object: 7up, at: trash}", objects="{7up: counter}")
    assert ep.start["objects"] == {"7up can": "close counter"}
    assert ep.goal == (ObjectAt("7up can", "trash can"),)


@pytest.mark.parametrize("goal, objects, line, match", [
    ("{object: kettle, at: user}", "{apple: table}", 7, "unknown object 'kettle'"),
    ("{object: apple, at: garage}", "{apple: table}", 7, "unknown location 'garage'"),
    ("{object: apple}", "{apple: table}", 7, "needs 'at: L'"),
    ("{object: apple, at: user, robot_at: table}", "{apple: table}", 7, "cannot also have robot_at"),
    ("{pick: apple}", "{apple: table}", 7, "unknown goal entry"),
    ("{count: 0, of: [apple], at: user}", "{apple: table}", 7, "positive whole number"),
    ("{count: 2, of: [apple], at: user}", "{apple: table}", 7, "has only 1"),
    ("{object: banana, at: user}", "{apple: table}", 7, "not in the start state"),
    ("{object: 'apple#x', at: user}", "{apple: table}", 7, "bad object suffix"),
    ("{any: []}", "{apple: table}", 7, "at least one entry"),
    ("{object: apple, at: user}", "{apple: fridge}", 5, "unknown location 'fridge'"),
    ("{object: apple, at: user}", "{apple: table, kettle: table}", 5, "unknown object 'kettle'"),
])
def test_errors_name_the_file_and_line(goal, objects, line, match):
    with pytest.raises(EpisodeFormatError, match=rf"^eps\.yaml:{line}: .*{match}"):
        one(goal, objects)


def test_unknown_object_on_its_own_line_reports_that_line(tmp_path: Path):
    path = tmp_path / "set.yaml"
    path.write_text(EXAMPLE + textwrap.dedent("""\
    - id: second
      instruction: bring me the kettle
      start:
        objects:
          apple: table
          kettle: far counter
      goal:
        - {object: apple, at: user}
    """))
    with pytest.raises(EpisodeFormatError) as err:
        load_episodes(path, KITCHEN)
    assert str(err.value).startswith(f"{path}:15: unknown object 'kettle'")


def test_duplicate_ids_missing_keys_and_unknown_keys():
    doubled = EXAMPLE + EXAMPLE.replace("# unique", "")
    with pytest.raises(EpisodeFormatError, match=r"eps\.yaml:10: duplicate episode id 'throw-apple' \(first at line 1\)"):
        parse(doubled)
    with pytest.raises(EpisodeFormatError, match="missing 'goal'"):
        parse("- {id: a, instruction: x, start: {}}")
    with pytest.raises(EpisodeFormatError, match=r"eps\.yaml:1: unknown episode key 'goals'"):
        parse("- {id: a, instruction: x, start: {}, goals: []}")
    with pytest.raises(EpisodeFormatError, match="lists 'apple' twice"):
        one("{object: apple, at: user}", objects="{apple: table, apple: far counter}")
    with pytest.raises(EpisodeFormatError, match="held by the robot and also placed"):
        one("{object: apple, at: user}", objects="{apple: table}", holding="apple")
    with pytest.raises(EpisodeFormatError, match="not valid YAML"):
        parse("- id: [")
    with pytest.raises(EpisodeFormatError, match="a list of episodes"):
        parse("id: a")


def test_robot_defaults_to_the_user_with_an_empty_gripper():
    [ep] = parse("- {id: a, instruction: go, start: {objects: {apple: table}}, goal: [{robot_at: table}]}")
    assert ep.start["robot"] == {"at": "user", "holding": None} and ep.family == "default" and ep.max_steps is None


# ------------------------------------------------------------------ the development set

DEV = load_episodes(default_episode_file(), KITCHEN)


def test_dev_set_is_large_covers_the_families_and_every_episode_is_solvable():
    assert len(DEV) >= 60
    assert families(DEV) == ["single", "noun", "verb", "structured", "embodiment", "crowd", "long", "feasibility"]
    library = SkillLibrary.from_kitchen(KITCHEN)
    for ep in DEV:
        limit = ep.max_steps or 12
        plan = shortest_plan(ep.initial_state(KITCHEN), ep.goal, library, KITCHEN, max_len=limit)
        assert plan is not None, f"{ep.id} cannot be solved within {limit} steps"
        assert len(plan) + 2 <= limit, f"{ep.id}: step limit {limit} leaves no slack for {plan}"


@pytest.mark.skipif(not default_tsv_path().is_file(), reason="SayCan data set not beside the repository")
def test_dev_set_does_not_copy_the_data_set_or_the_prompt():
    import yaml

    from saycan_ros.core.kitchen import config_dir

    def norm(s: str) -> str:
        return re.sub(r"[^a-z0-9 ]", "", s.lower()).strip()

    tsv = {norm(line.split("\t")[0]) for line in default_tsv_path().read_text(encoding="utf-8").splitlines()}
    prompt = {norm(e["instruction"]) for e in yaml.safe_load((config_dir() / "prompts.yaml").read_text())["examples"]}
    copied = [ep.id for ep in DEV if norm(ep.instruction) in tsv | prompt]
    assert not copied


def test_goal_check_is_truthy_and_unpacks():
    goal = [ObjectAt("apple", "user"), RobotAt("table")]
    check = goal_satisfied(goal, st("table", apple="table"))
    assert not check
    ok, failed = check
    assert ok is False and failed == [ObjectAt("apple", "user")]
    assert goal_satisfied(goal, st("table", apple="user"))


def test_state_from_the_simulators_world_state():
    from saycan_ros.eval.episodes import state_from_world

    world = {"robot_location": "table", "held_object": "coke can",
             "objects": {"coke can": {"location": None, "held": True},
                         "apple": {"location": "trash can", "held": False},
                         "apple#2": {"location": None, "held": False}}}
    s = state_from_world(world)
    assert s == KitchenState("table", "coke can", {"coke can": GRIPPER, "apple": "trash can", "apple#2": None})
    assert goal_satisfied([Holding("coke can"), ObjectAt("apple", "trash can")], s)


def test_demo_episode_is_the_default_scene():
    from saycan_ros.core.kitchen import config_dir

    episodes = load_episodes(config_dir() / "eval" / "demo.yaml", KITCHEN)
    assert all(ep.start["objects"] == KITCHEN.scene("default") for ep in episodes)
    assert episodes[0].instruction == "throw away the apple"
    assert episodes[0].goal == (ObjectAt("apple", "trash can"),)
