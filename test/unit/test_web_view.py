"""The browser view's pure part: markers seen from above, only changes sent, the score bars and
table, the view's extent, port checks."""
from __future__ import annotations

import math
import socket

import numpy as np
import pytest

from saycan_ros.core.kitchen import load_kitchen
from saycan_ros.core.scoring import Candidate
from saycan_ros.core.skills import SkillLibrary
from saycan_ros.viz.scene_markers import (
    DELETE, HEADING_RGBA, NS_HIGHLIGHT, NS_ROBOT, PlanView, SeenObject, build_scene,
)
from saycan_ros.viz.score_chart import BARS, CHOSEN_BACKGROUND
from saycan_ros.viz.web_view import (
    ARROW, BOX, DISC, DRAW_ORDER, Shape2D, Text, TopDownScene, entity_path, free_port_error, kitchen_bounds,
    score_view, to_entity,
)
from saycan_ros.viz.scene_markers import MarkerSpec

KITCHEN = load_kitchen()
LIBRARY = SkillLibrary.from_kitchen(KITCHEN)


def scene(robot=(0.5, 0.25, math.pi / 2), objects=None, plan=PlanView(), now=10.0):
    return build_scene(KITCHEN, LIBRARY, robot, objects or {}, plan, now, 5.0)


def test_robot_is_a_disc_with_an_orange_heading_arrow_in_top_down_coordinates():
    shapes = {entity_path(m): to_entity(m) for m in scene().markers}
    base, heading = shapes[f"kitchen/{NS_ROBOT}/0"], shapes[f"kitchen/{NS_ROBOT}/1"]
    assert base.kind == DISC and base.origin == (0.5, -0.25) and base.radius == pytest.approx(0.2)
    assert base.label == "robot" and base.draw_order == DRAW_ORDER[NS_ROBOT]
    # facing +y (yaw 90 deg) is "up" on the page, whose y axis points down
    assert heading.kind == ARROW and heading.vector == pytest.approx((0.0, -0.5), abs=1e-4)
    assert heading.rgba == tuple(round(255 * c) for c in HEADING_RGBA)


def test_locations_are_labelled_arrows_and_label_markers_are_left_to_the_shapes():
    entities = [to_entity(m) for m in scene().markers]
    arrows = [e for e in entities if isinstance(e, Shape2D) and e.kind == ARROW and e.label in KITCHEN.locations]
    assert sorted(a.label for a in arrows) == sorted(KITCHEN.locations)
    trash = next(a for a in arrows if a.label == "trash can")  # pose (0, -1.6), facing -y: down on the page
    assert trash.origin == (0.0, 1.6) and trash.vector == pytest.approx((0.0, 0.4), abs=1e-3)
    texts = [e for e in entities if isinstance(e, Text)]
    assert [t.text for t in texts] == ["waiting for an instruction"]  # the plan; no name labels twice


def test_objects_boxes_and_the_highlight_under_everything():
    objects = {"apple": SeenObject((1.55, 0.05, 0.93), 9.0), "sponge": SeenObject((1.5, -0.3, 0.9), 9.0)}
    plan = PlanView("throw away the apple", 1, (), "pick up the apple", "executing")
    shapes = {entity_path(m): to_entity(m) for m in scene(objects=objects, plan=plan).markers}
    highlight = shapes[f"kitchen/{NS_HIGHLIGHT}/0"]
    assert highlight.kind == DISC and highlight.origin == (1.55, -0.05)
    assert highlight.draw_order < min(s.draw_order for s in shapes.values() if isinstance(s, Shape2D) and s is not highlight)
    kinds = {s.label: s.kind for s in shapes.values() if isinstance(s, Shape2D)}
    assert kinds["apple"] == DISC and kinds["sponge"] == (BOX if KITCHEN.objects["sponge"].shape == "box" else DISC)
    plan_text = next(s for s in shapes.values() if isinstance(s, Text))
    assert plan_text.text.splitlines() == ['"throw away the apple"', "> pick up the apple"]


def test_only_changes_are_sent_and_deleted_markers_are_cleared():
    view = TopDownScene()
    apple = {"apple": SeenObject((1.55, 0.05, 0.93), 9.0)}
    first = view.update(scene(objects=apple).markers)
    assert "kitchen/robot/0" in first.changed and not first.cleared
    assert view.update(scene(objects=apple).markers).changed == {}  # same scene: nothing to send again
    moved = view.update(scene(robot=(0.6, 0.25, math.pi / 2), objects=apple).markers)
    assert set(moved.changed) == {"kitchen/robot/0", "kitchen/robot/1"}
    # the apple unseen for longer than stale_after_s: visualization_node sends DELETE, the view clears it
    gone = view.update(scene(robot=(0.6, 0.25, math.pi / 2), objects={"apple": SeenObject((1.55, 0.05, 0.93), 1.0)}).markers)
    apple_path = next(p for p in first.changed if p.startswith("kitchen/objects/"))
    assert gone.cleared == [apple_path] and apple_path not in view.shown
    # a DELETE for something never shown clears nothing
    assert view.update([MarkerSpec("objects", 424242, "CUBE", DELETE)]).cleared == []


def test_score_view_has_the_bars_and_a_table_best_first():
    candidates = [Candidate("go to the trash can", -0.86, 0.9, -0.97), Candidate("go to the table", -2.62, 0.9, -2.72)]
    view = score_view(candidates, "go to the trash can", 3, width=640, row_height=40)
    assert view.chart.shape == (120, 640, 3) and view.chart.dtype == np.uint8
    chosen_row = view.chart[40:80]
    assert (chosen_row == CHOSEN_BACKGROUND).all(axis=2).any()
    for _, colour in BARS:  # every bar colour is drawn
        assert (view.chart == colour).all(axis=2).sum() > 50
    lines = view.table.splitlines()
    assert lines[0] == "**step 3: go to the trash can**"
    assert lines[-2] == "| > | go to the trash can | -0.86 | 0.90 | -0.97 |"
    assert lines[-1] == "|  | go to the table | -2.62 | 0.90 | -2.72 |"


def test_kitchen_bounds_cover_every_location():
    (x0, x1), (y0, y1) = kitchen_bounds(KITCHEN, margin=0.5)
    for loc in KITCHEN.locations.values():
        x, y = loc.pose[0], -loc.pose[1]
        assert x0 + 0.5 <= x + 1e-9 and x <= x1 - 0.5 + 1e-9 and y0 + 0.5 <= y + 1e-9 and y <= y1 - 0.5 + 1e-9
    assert (x0, x1) == pytest.approx((-1.7, 1.7)) and (y0, y1) == pytest.approx((-2.7, 2.1))


def test_port_checks_name_the_taken_port():
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = taken.getsockname()[1]
        problem = free_port_error({"web": port})
        assert problem is not None and f"web port {port} is not free" in problem
    assert free_port_error({"gRPC": 70000}) == "gRPC port 70000 is outside 1..65535"
