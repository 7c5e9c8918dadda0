"""The SayCan reference-plan converter, on rows written here in the data set's style (the data
set itself is only read at run time; the last test uses it when it is beside the repository)."""
from __future__ import annotations

from pathlib import Path

import pytest

from saycan_ros.core.kitchen import load_kitchen
from saycan_ros.core.skills import SkillLibrary
from saycan_ros.core.world import apply_skill
from saycan_ros.eval.episodes import CountAt, Holding, ObjectAt, RobotAt, goal_satisfied
from saycan_ros.eval.oracle import shortest_plan
from saycan_ros.eval.reference_plans import (
    default_tsv_path, load_reference_checks, parse_step, read_rows, split_plan,
)

KITCHEN = load_kitchen()
LIB = SkillLibrary.from_kitchen(KITCHEN)

ROWS = [  # instruction, plan: in the data set's format, written for this test
    ("Please toss the coke.", "1. find a coke, 2. pick up the coke, 3. go to the trash, 4. put down the coke, 5. done."),
    ("Take the banana to the counter.", "1. pick up the banana, 2. go to the counter, 3. put down the banana, 4. done"),
    ("Put two oranges in the bin.", "1. find an orange, 2. pick up the orange, 3. go to the trash, 4. put down the orange, "
                                    "5. find an orange, 6. pick up the orange, 7. go to the trash, 8. put down the orange, 9. done"),
    ("Move the sprite off the table to the far counter.", "1. find a sprite can, 2. pick up the sprite can, "
                                                          "3. go to the far counter, 4. put down the sprite can, 5. done"),
    ("Drive to the table.", "1. go to the table, 2. done, and some trailing words."),
    ("Grab chips from the drawer.", "1. go to the drawer, 2. open the drawer, 3. done"),
]


def write_tsv(tmp_path: Path) -> Path:
    path = tmp_path / "plans.tsv"
    path.write_text("INPUT\tOUTPUT\n" + "".join(f"{i}\t{p}\n" for i, p in ROWS), encoding="utf-8")
    return path


def test_split_and_parse_steps_use_our_library_names():
    assert split_plan("1. find a coke, 2. pick up the coke, 3. done.") == ["find a coke", "pick up the coke", "done"]
    assert split_plan("1. go to the table, 2. done, I said so.") == ["go to the table", "done"]
    assert parse_step(KITCHEN, "find a orange").text == "find an orange"
    assert parse_step(KITCHEN, "pick up the redbull can").object == "redbull"
    assert parse_step(KITCHEN, "go to the trash").location == "trash can"
    assert parse_step(KITCHEN, "go to the counter").location == "close counter"
    assert parse_step(KITCHEN, "put down the sprite can").object == "7up can"
    for step in ("find a bag of chips", "bring it to you", "done"):
        assert parse_step(KITCHEN, step).text in LIB


def test_rows_become_checks_with_consistent_start_states(tmp_path):
    checks = load_reference_checks(write_tsv(tmp_path), KITCHEN)
    assert checks.rows == 6 and len(checks.episodes) == 5
    assert checks.skipped == [(7, "location 'drawer' is not in our kitchen")]
    toss, banana, oranges, sprite, drive = checks.episodes

    assert toss.id == "tsv-2" and toss.family == "ref-move"
    assert toss.start["objects"] == {"coke can": "close counter"}  # its kitchen scene place
    assert toss.goal == (ObjectAt("coke can", "trash can"), Holding(None))

    # picked first thing: the robot starts where the banana is, which is not where it goes
    assert banana.start["robot"]["at"] == banana.start["objects"]["banana"] == "far counter"
    assert banana.goal == (ObjectAt("banana", "close counter"), Holding(None))

    assert oranges.start["objects"] == {"orange": "table", "orange#2": "table"}
    assert oranges.goal == (CountAt(2, ("orange",), "trash can"), Holding(None))
    assert oranges.family == "ref-multi"

    assert sprite.start["objects"] == {"7up can": "table"}  # 'off the table' in the instruction
    assert drive.goal == (Holding(None), RobotAt("table")) and drive.family == "ref-navigate"
    assert drive.meta["reference_plan"] == ["go to the table", "done"]


def test_the_reference_plan_reaches_its_own_goal_and_our_oracle_does_too(tmp_path):
    for ep in load_reference_checks(write_tsv(tmp_path), KITCHEN).episodes:
        state = ep.initial_state(KITCHEN)
        for text in ep.meta["reference_plan"]:
            ok, state, reason = apply_skill(state, LIB.get(text), KITCHEN)
            assert ok, reason
        assert goal_satisfied(ep.goal, state), ep.id
        assert shortest_plan(ep.initial_state(KITCHEN), ep.goal, LIB, KITCHEN, ep.max_steps)


def test_missing_file_is_a_clear_error(tmp_path):
    from saycan_ros.core.errors import ConfigError

    with pytest.raises(ConfigError, match="reference plan file not found"):
        read_rows(tmp_path / "nope.tsv")


@pytest.mark.skipif(not default_tsv_path().is_file(), reason="SayCan data set not beside the repository")
def test_the_data_set_converts_except_the_drawer_rows():
    checks = load_reference_checks(None, KITCHEN)
    assert checks.rows == 99
    assert len(checks.episodes) == 93
    assert all("drawer" in why for _, why in checks.skipped)
    for ep in checks.episodes:
        state = ep.initial_state(KITCHEN)
        for text in ep.meta["reference_plan"]:
            ok, state, reason = apply_skill(state, LIB.get(text), KITCHEN)
            assert ok, f"{ep.id}: {reason}"
        assert goal_satisfied(ep.goal, state), ep.id
