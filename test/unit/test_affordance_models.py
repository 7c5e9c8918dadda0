"""Affordance models: the factory, the symbolic (privileged) source and the perception source."""
from __future__ import annotations

import math

import numpy as np
import pytest

from saycan_ros.affordance.base import AffordanceUnavailable, NoAffordance, SymbolicAffordance
from saycan_ros.affordance.factory import make_affordance_model
from saycan_ros.affordance.features import UNKNOWN_HELD
from saycan_ros.affordance.perception_model import PerceptionAffordance, PerceptionFeatureSource, PerceptionObservation
from saycan_ros.affordance.value_function import AffordanceParams
from saycan_ros.core.errors import ConfigError
from saycan_ros.core.kitchen import load_kitchen
from saycan_ros.core.skills import SkillLibrary
from saycan_ros.core.world import GRIPPER, KitchenState
from saycan_ros.perception.robot_adapter import load_perception_geometry
from saycan_ros.perception.synthetic import render_scene

KITCHEN = load_kitchen()
LIB = SkillLibrary.from_kitchen(KITCHEN)
GEOM = load_perception_geometry()  # config/robot.yaml
CAM = GEOM.default_camera
P = AffordanceParams()


def skills(*texts):
    return [LIB.get(t) for t in texts]


# ---------------------------------------------------------------- factory, none
def test_factory_kinds_and_errors():
    assert isinstance(make_affordance_model("none"), NoAffordance)
    assert isinstance(make_affordance_model("symbolic", kitchen=KITCHEN), SymbolicAffordance)
    assert isinstance(make_affordance_model("perception", kitchen=KITCHEN, geometry=GEOM), PerceptionAffordance)
    with pytest.raises(ConfigError, match="unknown affordance model 'clip'"):
        make_affordance_model("clip", kitchen=KITCHEN)
    with pytest.raises(ConfigError, match="needs the kitchen"):
        make_affordance_model("perception")
    with pytest.raises(ConfigError, match="robot file not found"):
        make_affordance_model("perception", kitchen=KITCHEN, robot_file="/nonexistent/robot.yaml")


def test_none_model_is_all_ones():
    assert NoAffordance().estimate(skills("pick up the apple", "done", "go to the table")) == [1.0, 1.0, 1.0]


# ---------------------------------------------------------------- symbolic
def test_symbolic_features_and_estimates():
    model = SymbolicAffordance(KITCHEN)
    state = KitchenState("close counter", None, {"apple": "close counter", "coke can#2": "close counter",
                                                  "orange": "table"})
    f = model.features(state)
    assert f.robot_at == "close counter" and f.holding is None
    assert set(f.visible) == {"apple", "coke can"} and f.reachable == {"apple", "coke can"}
    probs = model.estimate_state(state, skills("pick up the apple", "pick up the orange", "go to the close counter",
                                               "put down the apple", "done"))
    assert probs == [P.pick_reachable, P.pick_unseen, P.go_to_here, P.place_other, 1.0]

    held = state.with_(holding="apple", objects={"apple": GRIPPER, "orange": "table"})
    assert model.estimate_state(held, skills("put down the apple", "bring it to you")) == [
        P.place_holding, P.bring_holding]
    # A state that records the object in the gripper but not `holding` still counts as held.
    assert model.features(held.with_(holding=None)).holding == "apple"
    # Between locations nothing is in view.
    assert model.features(state.with_(robot_at=None)).visible == {}


def test_symbolic_as_model_needs_a_state():
    model = SymbolicAffordance(KITCHEN)
    with pytest.raises(AffordanceUnavailable):
        model.estimate(skills("done"))
    model.set_state(KitchenState("table", None, {"orange": "table"}))
    assert model.estimate(skills("pick up the orange")) == [P.pick_reachable]
    provided = SymbolicAffordance(KITCHEN, state_provider=lambda: KitchenState("user", "apple", {"apple": GRIPPER}))
    assert provided.estimate(skills("bring it to you")) == [P.bring_at_user]


# ---------------------------------------------------------------- perception
def observation(scene, lift=0.6, arm=0.0, fingers=0.06, command=None, odom=(1.2, 0.02, 0.0)):
    seg, depth = render_scene(scene, CAM, GEOM.mount, KITCHEN)
    joints = {"joint_lift": lift, "joint_arm": arm, "joint_gripper_left": fingers, "joint_gripper_right": fingers}
    return PerceptionObservation(seg, depth, CAM, joints, odom, command, stamp=12.5)


COUNTER_SCENE = {
    "apple": (0.55, 0.05, 0.90, 0.0375),        # on the counter, within reach (0.25..0.75 m)
    "coke can": (1.6, -0.3, 0.90, 0.033),      # seen, too far for the arm
}


def test_perception_features_from_synthetic_images():
    source = PerceptionFeatureSource(KITCHEN, GEOM)
    result = source.analyse(observation(COUNTER_SCENE))
    f = result.features
    assert f.robot_at == "close counter"
    assert set(f.visible) == {"apple", "coke can"}
    assert f.visible["apple"] == pytest.approx(math.hypot(0.55, 0.05), abs=0.02)
    assert f.reachable == {"apple"}
    assert f.holding is None
    assert source.robot_at((5.0, 5.0, 0.0)) is None and source.robot_at(None) is None


def test_perception_reach_envelope_limits():
    source = PerceptionFeatureSource(KITCHEN, GEOM, reach_margin=0.0)
    near, far = GEOM.reach
    low, high = GEOM.lift_range
    assert source.in_reach((far - 0.01, 0.0, 0.8)) and not source.in_reach((far + 0.05, 0.0, 0.8))
    assert not source.in_reach((near - 0.05, 0.0, 0.8))
    assert source.in_reach((0.0, far - 0.01, 0.8))  # to the side: the base turns in place
    assert not source.in_reach((0.5, 0.0, high + 0.05)) and not source.in_reach((0.5, 0.0, low - 0.05))


def test_perception_holding_identifies_the_object_at_the_grasp_point():
    source = PerceptionFeatureSource(KITCHEN, GEOM)
    lift, arm = 0.95, 0.3
    grasp = GEOM.grasp_point(lift, arm)
    scene = {"apple": (*grasp, 0.0375), "coke can": (1.6, -0.3, 0.9, 0.033)}
    # Fingers stopped at the apple's half-width after a close command: holding the apple.
    f = source.features(observation(scene, lift, arm, fingers=0.035, command=0.0))
    assert f.holding == "apple"
    # Without a command, a partly closed gripper still counts as holding.
    assert source.features(observation(scene, lift, arm, fingers=0.035)).holding == "apple"
    # Closed all the way: nothing between the fingers.
    assert source.features(observation(scene, lift, arm, fingers=0.0, command=0.0)).holding is None
    # Opening commanded: letting go, not holding.
    assert source.features(observation(scene, lift, arm, fingers=0.035, command=0.06)).holding is None
    # Something blocks the fingers but no object class is at the grasp point: unidentified.
    empty_tip = {"coke can": (1.6, -0.3, 0.9, 0.033)}
    assert source.features(observation(empty_tip, lift, arm, fingers=0.02, command=0.0)).holding == UNKNOWN_HELD


def test_perception_model_estimates_and_errors():
    model = PerceptionAffordance(KITCHEN, geometry=GEOM)
    with pytest.raises(AffordanceUnavailable, match="no camera observation"):
        model.estimate(skills("done"))
    model.update(observation(COUNTER_SCENE))
    probs = model.estimate(skills("pick up the apple", "pick up the coke can", "pick up the sponge",
                                  "find an apple", "go to the close counter", "done"))
    assert probs == [P.pick_reachable, P.pick_visible, P.pick_unseen, P.find_in_reach, P.go_to_here, 1.0]
    assert model.last_result is not None and model.last_result.grasp_pixel is None  # stowed: below the view
    model.update(observation(COUNTER_SCENE, lift=0.95, arm=0.3))
    model.estimate(skills("done"))
    u, v = model.last_result.grasp_pixel
    assert 0 <= u < CAM.width and 0 <= v < CAM.height
    # Images that disagree with the camera info: a clear error, not a crash.
    bad = observation(COUNTER_SCENE)
    model.update(PerceptionObservation(bad.segmentation[:100], bad.depth[:100], CAM, bad.joints, bad.odom_pose))
    with pytest.raises(AffordanceUnavailable, match="unusable observation"):
        model.estimate(skills("done"))


def test_an_apple_in_the_trash_does_not_hide_another_apple_in_view():
    """At the trash can: the binned apple is the largest apple blob, but it is thrown away; the one
    farther off, outside the container, counts: as for the executor (skills.perceive)."""
    mid = 0.5 * sum(GEOM.reach)
    scene = {"apple": (mid, 0.0, 0.5, 0.0375)}
    beyond = {"apple": (1.3, -0.45, 0.9, 0.0375)}
    odom = KITCHEN.locations["trash can"].pose
    binned, other = observation(scene, odom=odom), observation(beyond, odom=odom)
    both = PerceptionObservation(np.where(binned.segmentation > 0, binned.segmentation, other.segmentation),
                                 np.where(binned.segmentation > 0, binned.depth, other.depth), CAM,
                                 binned.joints, odom, None, 1.0)
    f = PerceptionFeatureSource(KITCHEN, GEOM).features(both)
    assert f.visible["apple"] == pytest.approx(math.hypot(1.3, 0.45), abs=0.03)
    assert "apple" not in f.reachable
    assert PerceptionFeatureSource(KITCHEN, GEOM).features(binned).visible == {}


def test_perception_without_gripper_joints_assumes_empty():
    source = PerceptionFeatureSource(KITCHEN, GEOM)
    obs = observation(COUNTER_SCENE)
    obs = PerceptionObservation(obs.segmentation, obs.depth, CAM, {}, None)
    f = source.features(obs)
    assert f.holding is None and f.robot_at is None and "apple" in f.reachable
    assert np.all(obs.segmentation >= 0)


def test_perception_model_remembers_the_held_object_out_of_view():
    model = PerceptionAffordance(KITCHEN, geometry=GEOM)
    lift, arm = 0.95, 0.3
    grasped = {"apple": (*GEOM.grasp_point(lift, arm), 0.0375)}
    model.update(observation(grasped, lift, arm, fingers=0.035, command=0.0))
    assert model.current_features().holding == "apple"
    # Stowed (grasp point below the camera's view): a single image says '?', the memory says apple.
    stowed = observation({}, lift=0.6, arm=0.0, fingers=0.035, command=0.0)
    assert PerceptionFeatureSource(KITCHEN, GEOM).features(stowed).holding == UNKNOWN_HELD
    model.update(stowed)
    assert model.estimate(skills("put down the apple", "put down the orange")) == [P.place_holding, P.place_other]
    # Released: memory cleared; a later unidentified grasp stays '?'.
    model.update(observation({}, lift=0.6, arm=0.0, fingers=0.06, command=0.06))
    assert model.current_features().holding is None
    model.update(stowed)
    assert model.current_features().holding == UNKNOWN_HELD
