"""The rviz scene as plain data: stable ids, the highlight following the chosen skill, stale objects
deleted once, the plan text, and the score chart image."""
from __future__ import annotations

import numpy as np
import pytest

from saycan_ros.core.kitchen import load_kitchen
from saycan_ros.core.scoring import combine
from saycan_ros.core.skills import SkillLibrary
from saycan_ros.viz.scene_markers import (
    ADD, DELETE, NS_HIGHLIGHT, NS_LOCATION_LABELS, NS_OBJECTS, NS_PLAN, NS_ROBOT, PlanView, SeenObject,
    build_scene, object_marker_id, plan_text,
)
from saycan_ros.ros_io.poses import quaternion_to_yaw, yaw_to_quaternion
from saycan_ros.viz.score_chart import BARS, chart_size, render_score_chart

KITCHEN = load_kitchen()
LIBRARY = SkillLibrary.from_kitchen(KITCHEN)
APPLE_XYZ = (1.55, 0.05, 0.93)
OBJECTS = {"apple": SeenObject(APPLE_XYZ, 10.0), "coke can": SeenObject((1.6, -0.3, 0.9), 10.0),
           "coke can#2": SeenObject((-1.6, 0.2, 0.9), 10.0)}
STEP1 = PlanView("throw away the apple", 1, (), "find an apple", "executing")
STEP2 = PlanView("throw away the apple", 2, ("find an apple",), "pick up the apple", "executing")
STEP3 = PlanView("throw away the apple", 3, ("find an apple", "pick up the apple"), "go to the trash can", "executing")


def scene(plan: PlanView, objects=OBJECTS, now: float = 10.5, pose=(1.2, 0.0, 0.0), stale_after_s: float = 5.0):
    return build_scene(KITCHEN, LIBRARY, pose, objects, plan, now, stale_after_s)


def by_key(markers):
    keys = [m.key for m in markers]
    assert len(keys) == len(set(keys)), "a (namespace, id) pair is used twice"
    return {m.key: m for m in markers}


def test_every_entity_keeps_its_id_across_steps():
    first, second = by_key(scene(STEP1).markers), by_key(scene(STEP3, now=12.0, pose=(0.0, -1.6, -1.57)).markers)
    assert first.keys() == second.keys()
    for key, marker in first.items():
        if key[0] != NS_PLAN and key[0] != NS_HIGHLIGHT:
            assert second[key].text == marker.text, key  # same id, same entity
    assert object_marker_id(KITCHEN, "coke can") != object_marker_id(KITCHEN, "coke can#2")
    assert object_marker_id(KITCHEN, "unicorn") is None


def test_locations_are_named_and_the_robot_is_where_odometry_says():
    markers = by_key(scene(STEP1, pose=(0.3, -0.4, 1.0)).markers)
    labels = {m.text: m for (ns, _), m in markers.items() if ns == NS_LOCATION_LABELS}
    assert set(labels) == set(KITCHEN.locations)
    x, y, _ = KITCHEN.locations["trash can"].pose
    assert labels["trash can"].position[:2] == (x, y)
    robot = [m for (ns, _), m in markers.items() if ns == NS_ROBOT]
    assert robot and all(m.position[:2] == (0.3, -0.4) and m.yaw == 1.0 for m in robot)
    assert not any(m.namespace == NS_ROBOT for m in scene(STEP1, pose=None).markers)


def test_highlight_follows_the_chosen_skill():
    def highlight(plan: PlanView, objects=OBJECTS):
        return by_key(scene(plan, objects).markers)[(NS_HIGHLIGHT, 0)]

    assert highlight(STEP1).position == APPLE_XYZ and highlight(STEP1).action == ADD  # find: the object, if seen
    assert highlight(STEP2).position == APPLE_XYZ
    trash_x, trash_y, _ = KITCHEN.locations["trash can"].pose
    assert highlight(STEP3).position[:2] == (trash_x, trash_y)
    user_x, user_y, _ = KITCHEN.locations["user"].pose
    bring = PlanView("bring me an apple", 4, (), "bring it to you", "executing")
    assert highlight(bring).position[:2] == (user_x, user_y)
    # an object not seen, 'done', and an instruction's end highlight nothing
    assert highlight(STEP1, {"coke can": OBJECTS["coke can"]}).action == DELETE
    assert highlight(PlanView("x", 5, ("find an apple",), "done", "succeeded")).action == DELETE
    assert highlight(PlanView("x", 5, (), "", "failed", "max steps")).action == DELETE
    # an instance of the kind counts as the object
    assert highlight(STEP2, {"apple#2": SeenObject((0.0, 2.5, 0.9), 10.0)}).position == (0.0, 2.5, 0.9)


def test_a_stale_object_is_deleted_exactly_once_then_forgotten():
    objects = {"apple": SeenObject(APPLE_XYZ, 1.0), "coke can": SeenObject((1.6, -0.3, 0.9), 9.0)}
    apple_id = object_marker_id(KITCHEN, "apple")
    fresh = scene(STEP1, objects, now=5.0)
    assert by_key(fresh.markers)[(NS_OBJECTS, apple_id)].action == ADD and set(fresh.objects) == set(objects)

    stale = scene(STEP1, fresh.objects, now=6.5)  # 5.5 s since the apple was seen
    apple = [m for m in stale.markers if m.id == apple_id and m.namespace in (NS_OBJECTS, "object_labels")]
    assert [m.action for m in apple] == [DELETE, DELETE]
    assert set(stale.objects) == {"coke can"}
    assert by_key(stale.markers)[(NS_HIGHLIGHT, 0)].action == DELETE  # the apple is no longer known

    later = scene(STEP1, stale.objects, now=7.0)
    assert not any(m.id == apple_id and m.namespace == NS_OBJECTS for m in later.markers)


def test_plan_text_lists_the_executed_steps_in_order():
    text = plan_text(STEP3)
    assert text.splitlines() == ['"throw away the apple"', "1. find an apple", "2. pick up the apple",
                                 "> go to the trash can"]
    failed = plan_text(PlanView("x", 2, ("find an apple",), "pick up the apple", "planning", "failed (203): slipped"))
    assert failed.splitlines()[-1] == "x pick up the apple: failed (203): slipped"
    assert plan_text(PlanView()) == "waiting for an instruction"
    assert by_key(scene(STEP3).markers)[(NS_PLAN, 0)].text == text


def test_quaternion_round_trip():
    for yaw in (-3.0, -1.0, 0.0, 0.5, 2.9):
        assert quaternion_to_yaw(*yaw_to_quaternion(yaw)) == pytest.approx(yaw)


def test_score_chart_shape_and_chosen_row():
    skills = ["go to the trash can", "go to the table", "put down the apple", "done"]
    candidates = combine(skills, [-0.9, -2.6, -4.4, -6.0], [0.9, 0.9, 0.95, 1.0])
    image = render_score_chart(candidates, "go to the table", "step 3", width=640, row_height=40)
    assert image.shape == (*chart_size(4, 640, 40), 3) == (200, 640, 3) and image.dtype == np.uint8
    row_colours = [tuple(image[40 * row + 20, 2]) for row in range(1, 5)]  # left margin of each row
    chosen_row = [c.skill for c in candidates].index("go to the table")
    assert len({row_colours[chosen_row]} | {c for i, c in enumerate(row_colours) if i != chosen_row}) == 2
    assert all(c == row_colours[(chosen_row + 1) % 4] for i, c in enumerate(row_colours) if i != chosen_row)

    # the best product gets the full-length product bar; a worse one a shorter bar
    def bar_length(row: int, bar: int) -> int:
        y = 40 * row + 4 + bar * 10 + 3  # inside the bar: rows of 40 px, bars of 10 px from 4 px down
        return int(np.count_nonzero(np.all(image[y] == BARS[bar][1], axis=1)))
    assert bar_length(1, 2) == 640 - 240 - 56 > bar_length(3, 2) > 0
    with pytest.raises(ValueError):
        render_score_chart(candidates, "done", width=100)


def test_the_rviz_config_shows_the_markers_and_images_in_odom():
    import yaml

    from saycan_ros.core.kitchen import config_dir

    manager = yaml.safe_load((config_dir() / "saycan.rviz").read_text())["Visualization Manager"]
    assert manager["Global Options"]["Fixed Frame"] == "odom"
    topics = {(d["Class"], d.get("Topic", {}).get("Value")) for d in manager["Displays"]}
    assert {("rviz_default_plugins/MarkerArray", "/saycan/markers"), ("rviz_default_plugins/Image", "/saycan/score_image"),
            ("rviz_default_plugins/Image", "/camera/color/image_raw")} <= topics
