"""The hand-designed value function: every skill kind in the situations that decide its success."""
from __future__ import annotations

import math

import pytest

from saycan_ros.affordance.features import UNKNOWN_HELD, AffordanceFeatures
from saycan_ros.affordance.value_function import AffordanceParams, skill_affordance
from saycan_ros.core.errors import ConfigError
from saycan_ros.core.skills import Skill

P = AffordanceParams()
PICK = Skill("pick up the apple", "pick", object="apple")
PLACE = Skill("put down the apple", "place", object="apple")
FIND = Skill("find an apple", "find", object="apple")
GO_TABLE = Skill("go to the table", "go_to", location="table")
BRING = Skill("bring it to you", "bring")
DONE = Skill("done", "done")


def feats(robot_at=None, holding=None, visible=(), reachable=()):
    return AffordanceFeatures(robot_at, holding, {n: 0.7 for n in visible}, frozenset(reachable))


@pytest.mark.parametrize("features, expected", [
    (feats(visible=["apple"], reachable=["apple"]), P.pick_reachable),
    (feats(visible=["apple"]), P.pick_visible),
    (feats(visible=["orange"], reachable=["orange"]), P.pick_unseen),
    (feats(holding="orange", visible=["apple"], reachable=["apple"]), P.pick_hands_full),
    (feats(holding=UNKNOWN_HELD, visible=["apple"], reachable=["apple"]), P.pick_hands_full),
])
def test_pick(features, expected):
    assert skill_affordance(features, PICK, P) == expected


def test_pick_ordering_reachable_beats_visible_beats_unseen():
    reach = skill_affordance(feats(visible=["apple"], reachable=["apple"]), PICK)
    seen = skill_affordance(feats(visible=["apple"]), PICK)
    unseen = skill_affordance(feats(), PICK)
    assert reach > seen > unseen > 0.0


@pytest.mark.parametrize("holding, expected", [
    ("apple", P.place_holding), (UNKNOWN_HELD, P.place_unknown), ("orange", P.place_other), (None, P.place_other)])
def test_place(holding, expected):
    assert skill_affordance(feats(holding=holding), PLACE, P) == expected


def test_go_to():
    assert skill_affordance(feats(robot_at="close counter"), GO_TABLE, P) == P.go_to
    assert skill_affordance(feats(robot_at=None), GO_TABLE, P) == P.go_to
    assert skill_affordance(feats(robot_at="table"), GO_TABLE, P) == P.go_to_here


@pytest.mark.parametrize("features, expected", [
    (feats(), P.find),
    (feats(visible=["apple"]), P.find),               # seen far away: finding = approaching still helps
    (feats(visible=["apple"], reachable=["apple"]), P.find_in_reach),
    (feats(holding="apple"), P.find_in_reach),
    (feats(holding="orange"), P.find),
])
def test_find(features, expected):
    assert skill_affordance(features, FIND, P) == expected


@pytest.mark.parametrize("features, expected", [
    (feats(holding="apple", robot_at="table"), P.bring_holding),
    (feats(holding=UNKNOWN_HELD), P.bring_holding),
    (feats(holding="apple", robot_at="user"), P.bring_at_user),
    (feats(robot_at="table"), P.bring_empty),
])
def test_bring(features, expected):
    assert skill_affordance(features, BRING, P) == expected


@pytest.mark.parametrize("features", [feats(), feats(holding="apple", robot_at="user")])
def test_done_is_always_possible(features):
    assert skill_affordance(features, DONE, P) == 1.0


def test_floor_and_overrides():
    params = AffordanceParams.from_mapping({"pick_unseen": 0.0, "floor": 0.03, "not_a_field": 5})
    assert skill_affordance(feats(), PICK, params) == 0.03
    assert skill_affordance(feats(), Skill("open the drawer", "open"), params) == 0.5  # unknown kind: neutral
    with pytest.raises(ConfigError, match="'go_to'=1.5"):
        AffordanceParams(go_to=1.5)


def test_an_impossible_skill_loses_to_a_feasible_one_the_language_model_likes_far_less():
    """'bring me something salty' in the default scene, after the sea salt chips were not found
    (measured: LLM log p -2.00 for 'bring it to you' with an empty gripper, -7.44 for picking the
    rice chips in reach). SayCan's product must pick the rice chips; at 0.02 it chose to bring nothing."""
    here = feats(visible=["rice chips"], reachable=["rice chips"], robot_at="table")
    pick_chips = Skill("pick up the rice chips", "pick", object="rice chips")
    bring = math.log(skill_affordance(here, BRING, P)) - 2.00
    pick = math.log(skill_affordance(here, pick_chips, P)) - 7.44
    assert pick > bring
    # a skill the gripper's state rules out stays below every merely unlikely one
    assert P.bring_empty < P.find_known_absent and P.pick_hands_full < P.pick_unseen
