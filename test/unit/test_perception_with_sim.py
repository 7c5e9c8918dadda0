"""Perception against the PyBullet kitchen's renderer: the camera conventions agree end to end.

The simulator renders with its own view matrix from config/robot.yaml; detect_objects and the
perception feature source must recover where objects really are and what the gripper holds.
Ground truth (object poses, held object) is read here only to check the estimates.
"""
from __future__ import annotations

import math

import pytest

from saycan_ros.affordance.perception_model import PerceptionAffordance, PerceptionObservation
from saycan_ros.core.kitchen import load_kitchen
from saycan_ros.core.robot_geometry import load_robot_geometry
from saycan_ros.perception.robot_adapter import perception_geometry
from saycan_ros.sim.kitchen_world import KitchenWorld

KITCHEN = load_kitchen()
ROBOT = load_robot_geometry()
GEOM = perception_geometry(ROBOT)


@pytest.fixture
def world():
    w = KitchenWorld(KITCHEN, ROBOT, KITCHEN.scene("default"), start_pose=KITCHEN.locations["close counter"].pose)
    yield w
    w.close()


def observe(world, model, command):
    rgb, depth, seg = world.render()
    model.update(PerceptionObservation(seg, depth, world.camera, world.joint_positions(), world.base_pose(), command))
    return model.current_features()


def test_detections_match_simulated_object_positions(world):
    model = PerceptionAffordance(KITCHEN, geometry=GEOM)
    f = observe(world, model, None)
    expected = {o for o, loc in KITCHEN.scene("default").items() if loc == "close counter"}
    assert f.robot_at == "close counter"
    assert set(f.visible) == expected and f.reachable == expected
    x, y, yaw = world.base_pose()
    c, s = math.cos(yaw), math.sin(yaw)
    for det in model.last_result.detections:
        (ox, oy, oz), _ = world.object_pose(det.name)
        truth = (c * (ox - x) + s * (oy - y), -s * (ox - x) + c * (oy - y), oz)
        # Depth sees the object's near surface, so estimates sit up to a few cm in front of/above the centre.
        assert det.position_base == pytest.approx(truth, abs=0.06), det.name


def test_grasp_is_recognised_and_remembered_while_stowed(world):
    model = PerceptionAffordance(KITCHEN, geometry=GEOM)
    (ox, oy, oz), _ = world.object_pose("coke can")
    reach = ox - world.base_pose()[0] - ROBOT.arm_offset  # the robot faces +x at the close counter
    world.set_arm_targets(lift=oz + 0.1)
    world.step(2.0)
    world.set_arm_targets(arm=reach)
    world.step(2.0)
    world.set_arm_targets(lift=oz)
    world.step(2.0)
    assert observe(world, model, 0.06).holding is None
    world.set_gripper_target(0.0)
    world.step(1.5)
    assert world.held_object == "coke can"  # the simulator agrees a grasp happened
    assert observe(world, model, 0.0).holding == "coke can"
    world.set_arm_targets(lift=0.6, arm=0.0)  # stowed: the grasp point leaves the camera's view
    world.step(3.0)
    f = observe(world, model, 0.0)
    assert model.last_result.grasp_pixel is None and f.holding == "coke can"
    world.set_gripper_target(0.06)
    world.step(1.5)
    assert observe(world, model, 0.06).holding is None


def test_a_search_of_every_location_makes_the_kinds_never_seen_known_absent(world):
    """The camera's memory of a search (exec mode's counterpart of the symbolic kitchen's): after
    looking at all three places, the sea salt chips (not in the default scene) are known absent,
    and "find the sea salt chips" drops to value.find_known_absent; what was seen stays findable."""
    from saycan_ros.affordance.perception_model import SearchMemory
    from saycan_ros.core.skills import SkillLibrary

    library = SkillLibrary.from_kitchen(KITCHEN)
    find_chips, find_apple = library.get("find a sea salt chips"), library.get("find an apple")
    model = PerceptionAffordance(KITCHEN, geometry=GEOM, search_memory=SearchMemory(KITCHEN))
    scene = KITCHEN.scene("default")
    for i, place in enumerate(("close counter", "far counter")):
        world.reset(scene, start_pose=KITCHEN.locations[place].pose)
        world.step(0.2)
        rgb, depth, seg = world.render()
        for t in (float(i), i + 0.5):  # two frames standing still
            model.update(PerceptionObservation(seg, depth, world.camera, world.joint_positions(), world.base_pose(),
                                               None, stamp=t))
        assert model.current_features().known_absent == frozenset()  # the table not looked at yet
    x, y, yaw = KITCHEN.locations["table"].pose
    world.reset(scene, start_pose=(x, y, yaw + 1.2))  # at the table, but facing away: not looked at
    world.step(0.2)
    rgb, depth, seg = world.render()
    for t in (2.0, 2.5):
        model.update(PerceptionObservation(seg, depth, world.camera, world.joint_positions(), world.base_pose(), None, t))
    assert model.current_features().known_absent == frozenset()
    world.reset(scene, start_pose=(x, y, yaw))
    world.step(0.2)
    rgb, depth, seg = world.render()
    for t in (3.0, 3.5):
        model.update(PerceptionObservation(seg, depth, world.camera, world.joint_positions(), world.base_pose(), None, t))
    absent = model.current_features().known_absent
    assert absent == frozenset(KITCHEN.objects) - set(scene)
    chips, apple = model.estimate([find_chips, find_apple])  # the apple: seen at the close counter
    assert chips == pytest.approx(model.params.find_known_absent) and apple == pytest.approx(model.params.find)
    model.forget()
    assert model.current_features().known_absent == frozenset()


def test_objects_in_the_trash_can_are_thrown_away_neither_visible_nor_reachable(world):
    """Standing at a full trash can: the camera shows what lies on top, but it counts as gone, as for
    the executor (which neither finds nor picks it): not visible, not reachable, not seen by the
    search memory (a kind whose only copy was thrown away can still become known absent)."""
    from saycan_ros.affordance.perception_model import SearchMemory

    full = dict.fromkeys(("apple", "banana", "orange", "coke can", "sponge"), "trash can")
    world.reset(full, start_pose=KITCHEN.locations["trash can"].pose)
    world.step(0.5)
    without_rule = PerceptionAffordance(KITCHEN, geometry=GEOM, containers=())
    shown = observe(world, without_rule, None)
    assert {"coke can", "orange"} <= set(shown.visible)  # in view: only the rule hides them
    model = PerceptionAffordance(KITCHEN, geometry=GEOM, search_memory=SearchMemory(KITCHEN))
    f = observe(world, model, None)
    assert f.robot_at == "trash can" and not f.visible and not f.reachable and not f.seen
