"""The symbolic kitchen: start states and each skill's preconditions and effects."""
from __future__ import annotations

import pytest

from saycan_ros.core.kitchen import load_kitchen
from saycan_ros.core.skills import SkillLibrary
from saycan_ros.core.world import (
    GRIPPER, SKILL_OBJECT_NOT_FOUND, SKILL_PRECONDITION_FAILED, KitchenState, SymbolicRunner, apply_skill,
    initial_state, instances_of,
)

KITCHEN = load_kitchen()
LIB = SkillLibrary.from_kitchen(KITCHEN)


def state(at="user", holding=None, **objects) -> KitchenState:
    objs = {k.replace("_", " "): v for k, v in objects.items()}
    return initial_state(KITCHEN, {"robot": {"at": at, "holding": holding}, "objects": objs})


def run(s: KitchenState, text: str):
    return apply_skill(s, LIB.get(text), KITCHEN)


def test_initial_state_from_spec_and_scene():
    s = state("table", "apple", coke_can="close counter")
    assert s.robot_at == "table" and s.holding == "apple"
    assert s.objects == {"coke can": "close counter", "apple": GRIPPER}
    scene = initial_state(KITCHEN, "default")
    assert scene.robot_at == "user" and scene.holding is None
    assert scene.objects["apple"] == "close counter"


@pytest.mark.parametrize("spec, match", [
    ({"objects": {"kettle": "table"}}, "unknown object 'kettle'"),
    ({"objects": {"apple": "fridge"}}, "unknown location 'fridge'"),
    ({"robot": {"at": "garage"}}, "unknown robot location"),
    ({"robot": {"holding": "apple"}, "objects": {"apple": "table"}}, "both held and placed"),
])
def test_initial_state_rejects_bad_specs(spec, match):
    with pytest.raises(ValueError, match=match):
        initial_state(KITCHEN, spec)


def test_find_moves_to_the_object_and_fails_when_absent():
    s = state(apple="far counter")
    ok, new, reason = run(s, "find an apple")
    assert ok and new.robot_at == "far counter" and reason == ""
    ok, same, reason = run(s, "find a coke can")
    assert not ok and same is s and "no coke can" in reason


def test_find_prefers_objects_not_yet_delivered_or_binned_and_ones_here():
    s = state("table", apple="trash can", **{"apple#2": "close counter", "apple#3": "table"})
    ok, new, _ = run(s, "find an apple")
    assert ok and new.robot_at == "table"          # one is right here
    s2 = state("user", apple="trash can", **{"apple#2": "close counter"})
    assert run(s2, "find an apple")[1].robot_at == "close counter"
    s3 = state("user", apple="trash can")
    assert run(s3, "find an apple")[1].robot_at == "trash can"  # only one left: still found


def test_pick_needs_an_empty_gripper_and_the_object_here():
    s = state("table", apple="table", orange="close counter")
    ok, new, _ = run(s, "pick up the apple")
    assert ok and new.holding == "apple" and new.objects["apple"] == GRIPPER
    ok, _, reason = run(new, "pick up the apple")
    assert not ok and "already holding" in reason
    ok, _, reason = run(s, "pick up the orange")
    assert not ok and "no orange at table" in reason and "close counter" in reason


def test_place_puts_the_held_object_where_the_robot_is():
    s = state("user", "banana")
    ok, new, _ = run(s, "put down the banana")
    assert ok and new.holding is None and new.objects["banana"] == "user"  # delivered
    ok, _, reason = run(s, "put down the apple")
    assert not ok and "holding the banana" in reason
    ok, _, reason = run(state("table"), "put down the apple")
    assert not ok and "gripper is empty" in reason


def test_go_to_bring_and_done():
    s = state("table", "orange")
    assert run(s, "go to the far counter")[1].robot_at == "far counter"
    ok, new, _ = run(s, "bring it to you")
    assert ok and new.robot_at == "user" and new.holding == "orange"
    ok, _, reason = run(state("table"), "bring it to you")
    assert not ok and "empty" in reason
    ok, new, _ = run(s, "done")
    assert ok and new == s


def test_instances_with_suffixes_are_one_kind():
    s = state("close counter", coke_can="close counter", **{"coke can#2": "close counter"})
    assert sorted(instances_of(s, "coke can")) == ["coke can", "coke can#2"]
    ok, s, _ = run(s, "pick up the coke can")
    ok, s, _ = run(s, "put down the coke can")
    ok, s, _ = run(s, "pick up the coke can")
    assert ok and s.holding in ("coke can", "coke can#2")


def test_symbolic_runner_reports_outcomes_and_exposes_state():
    runner = SymbolicRunner(KITCHEN, state(apple="table"))
    out = runner.run(LIB.get("pick up the apple"))
    assert not out.success and out.error_code == SKILL_OBJECT_NOT_FOUND and "no apple" in out.message
    assert runner.run(LIB.get("find an apple")).success
    assert runner.state.robot_at == "table"
    assert runner.run(LIB.get("pick up the apple")).success
    out = runner.run(LIB.get("pick up the apple"))
    assert out.error_code == SKILL_PRECONDITION_FAILED
    assert [ok for _, ok, _ in runner.history] == [False, True, True, False]


def test_a_failed_search_tells_the_robot_what_is_not_in_the_kitchen():
    from saycan_ros.affordance.features import AffordanceFeatures
    from saycan_ros.affordance.value_function import skill_affordance
    from saycan_ros.core.kitchen import load_kitchen
    from saycan_ros.core.skills import SkillLibrary
    from saycan_ros.core.world import SymbolicRunner, initial_state

    kitchen = load_kitchen()
    library = SkillLibrary.from_kitchen(kitchen)
    runner = SymbolicRunner(kitchen, initial_state(kitchen, {"robot": {"at": "user"},
                                                             "objects": {"pepsi can": "table", "apple": "close counter"}}))
    assert runner.known_absent() == frozenset()  # it has not looked anywhere yet
    runner.run(library.get("go to the table"))
    assert "pepsi can" in runner.seen and runner.known_absent() == frozenset()
    assert not runner.run(library.get("find a 7up can")).success
    absent = runner.known_absent()
    assert "7up can" in absent and "coke can" in absent and not {"pepsi can", "apple"} & absent
    find_7up, find_pepsi = library.get("find a 7up can"), library.get("find a pepsi can")
    features = AffordanceFeatures("table", None, known_absent=absent)
    assert skill_affordance(features, find_7up) < 0.05 < 0.5 < skill_affordance(features, find_pepsi)
