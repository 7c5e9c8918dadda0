"""Surface estimates from depth points (support level, rims, free spots) and goal validation."""
from __future__ import annotations

import math

import numpy as np
import pytest

from saycan_ros.core.camera_model import CameraMount, PinholeCamera
from saycan_ros.core.kitchen import load_kitchen
from saycan_ros.skills import surface
from saycan_ros.skills.goals import resolve_goal
from saycan_ros.skills.types import ErrorCode, SkillFailure

CAMERA = PinholeCamera.from_fov(160, 120, 55.0)
MOUNT = CameraMount(0.1, 0.0, 1.25, math.radians(40.0))


def render_depth(planes) -> np.ndarray:
    """Optical-axis depth of the nearest of `planes` ((axis, value, bounds) in base_link) per pixel."""
    rows, cols = np.mgrid[0:CAMERA.height, 0:CAMERA.width].astype(float)
    rays = np.stack([(cols - CAMERA.cx) / CAMERA.fx, (rows - CAMERA.cy) / CAMERA.fy, np.ones_like(cols)], axis=-1)
    d = rays @ MOUNT.rotation().T  # base_link direction per unit optical depth
    depth = np.full(cols.shape, np.inf)
    for axis, value, bounds in planes:
        with np.errstate(divide="ignore", invalid="ignore"):
            t = (value - MOUNT.translation[axis]) / d[..., axis]
        p = MOUNT.translation + d * t[..., None]
        ok = t > 0
        for ax, (lo, hi) in bounds.items():
            ok &= (p[..., ax] >= lo) & (p[..., ax] <= hi)
        depth = np.where(ok & (t < depth), t, depth)
    return np.where(np.isfinite(depth), depth, np.nan).astype(np.float32)


def counter_scene() -> np.ndarray:
    """A 0.9 m counter from 0.35 m ahead (top and front face) over a floor."""
    return render_depth([(2, 0.0, {}), (2, 0.9, {0: (0.35, 0.85)}), (0, 0.35, {2: (0.0, 0.9)})])


def test_organized_points_and_horizontal_mask_tell_tops_from_faces():
    depth = counter_scene()
    grid = surface.organized_points(depth, CAMERA, MOUNT)
    flat = surface.horizontal_mask(grid)
    valid = np.isfinite(grid[..., 2])
    top = valid & (np.abs(grid[..., 2] - 0.9) < 1e-6) & (grid[..., 0] > 0.37)
    face = valid & (np.abs(grid[..., 0] - 0.35) < 1e-6) & (grid[..., 2] < 0.85) & (grid[..., 2] > 0.05)
    assert top.sum() > 500 and face.sum() > 100
    interior = np.zeros_like(flat)
    interior[2:-2, 2:-2] = True
    assert flat[top & interior].mean() > 0.97
    assert flat[face & interior].mean() < 0.05


def test_support_surface_finds_the_counter_not_its_front_or_the_floor():
    grid = surface.organized_points(counter_scene(), CAMERA, MOUNT)
    pts = grid[surface.horizontal_mask(grid)]
    top = surface.support_surface(pts, 0.3, 0.9, 0.3)
    assert top is not None
    assert top.height == pytest.approx(0.9, abs=0.005)
    assert top.near_x == pytest.approx(0.35, abs=0.03)
    assert surface.support_surface(pts[pts[:, 2] < 0.5], 0.3, 0.9, 0.3) is None  # the floor alone is no support


def test_rim_of_an_open_box():
    # trash-can-like: four walls 0.5 high around (0.55, 0), 0.4 wide, open top, seen from the robot
    walls = [(0, 0.35, {1: (-0.2, 0.2), 2: (0, 0.5)}), (0, 0.75, {1: (-0.2, 0.2), 2: (0, 0.5)}),
             (1, 0.2, {0: (0.35, 0.75), 2: (0, 0.5)}), (1, -0.2, {0: (0.35, 0.75), 2: (0, 0.5)}),
             (2, 0.0, {})]
    grid = surface.organized_points(render_depth(walls), CAMERA, MOUNT)
    pts = grid[np.isfinite(grid[..., 2])]
    r = surface.rim(pts, 0.3, 0.95, 0.3)
    assert r is not None
    assert r.height == pytest.approx(0.5, abs=0.02)
    assert r.center[0] == pytest.approx(0.55, abs=0.08) and r.center[1] == pytest.approx(0.0, abs=0.05)


def flat_points(x0=0.35, x1=0.85, y0=-0.4, y1=0.4, z=0.9, step=0.01) -> np.ndarray:
    gx, gy = np.meshgrid(np.arange(x0, x1, step), np.arange(y0, y1, step), indexing="ij")
    return np.column_stack([gx.ravel(), gy.ravel(), np.full(gx.size, z)])


def test_free_spot_avoids_objects_and_edges():
    pts = flat_points()
    top = surface.support_surface(pts, 0.3, 0.9, 0.4)
    spot = surface.free_spot(top, pts, np.zeros((0, 2)), reach=(0.28, 0.72), radius=0.04, preferred_x=0.47)
    assert spot == pytest.approx((0.47, 0.0), abs=0.011)  # empty counter: straight ahead at the preferred depth
    can = np.array([[0.47 + 0.03 * math.cos(a), 0.03 * math.sin(a)] for a in np.linspace(0, 2 * math.pi, 20)])
    spot = surface.free_spot(top, pts, can, reach=(0.28, 0.72), radius=0.04, preferred_x=0.47)
    assert spot is not None
    assert np.min(np.hypot(can[:, 0] - spot[0], can[:, 1] - spot[1])) >= 0.04 + 0.03 - 1e-9
    assert spot[0] - 0.04 >= 0.35  # the whole footprint on the counter
    # a hole in the seen surface (hidden behind something) is not a place to put things
    holed = pts[np.hypot(pts[:, 0] - 0.47, pts[:, 1]) > 0.05]
    spot = surface.free_spot(top, holed, np.zeros((0, 2)), reach=(0.28, 0.72), radius=0.04, preferred_x=0.47)
    assert math.hypot(spot[0] - 0.47, spot[1]) > 0.05
    # everything blocked
    wall = flat_points(z=0.0)[:, :2]
    assert surface.free_spot(top, pts, wall, reach=(0.28, 0.72), radius=0.04) is None


def test_free_spot_on_a_tray_leaves_room_for_one_more_beside_it():
    """The user's rimmed tray (0.36 x 0.44 m): an apple put straight ahead in its middle left no
    spot for a banana (footprint 0.09 m, exec mode 'I'd like two pieces of fruit'); with keep_room
    it goes where one still fits beside it, and on a wide counter nothing changes."""
    x0, x1, y0, y1 = 0.35, 0.71, -0.22, 0.22
    tray = flat_points(x0=x0, x1=x1, y0=y0, y1=y1)
    rim = np.array([[x, y] for x in np.arange(x0, x1, 0.01) for y in (y0 - 0.01, y1)]
                   + [[x, y] for y in np.arange(y0, y1, 0.01) for x in (x0 - 0.01, x1)])
    top = surface.support_surface(tray, 0.3, 0.9, 0.4)

    def with_apple_at(spot) -> np.ndarray:
        return np.concatenate([rim, [[spot[0] + 0.0375 * math.cos(a), spot[1] + 0.0375 * math.sin(a)]
                                     for a in np.linspace(0, 2 * math.pi, 24)]])

    def banana_spot(apple):
        return surface.free_spot(top, tray, with_apple_at(apple), reach=(0.28, 0.72), radius=0.092, preferred_x=0.47)

    middle = surface.free_spot(top, tray, rim, reach=(0.28, 0.72), radius=0.0375, preferred_x=0.47)
    assert banana_spot(middle) is None
    apple = surface.free_spot(top, tray, rim, reach=(0.28, 0.72), radius=0.0375, preferred_x=0.47, keep_room=0.092)
    assert apple != middle and banana_spot(apple) is not None
    counter = flat_points()
    wide = surface.support_surface(counter, 0.3, 0.9, 0.4)
    assert surface.free_spot(wide, counter, np.zeros((0, 2)), reach=(0.28, 0.72), radius=0.0375, preferred_x=0.47,
                             keep_room=0.092) == pytest.approx((0.47, 0.0), abs=0.011)


def test_support_height_and_object_centre():
    pts = flat_points()
    apple = np.array([[0.45 - 0.03 * math.cos(a), 0.03 * math.sin(a), z]
                      for a in np.linspace(-1.2, 1.2, 9) for z in (0.91, 0.94, 0.97)])
    est = surface.estimate_object((0.44, 0.0, 0.94), apple, pts, 0.0375, (0.1, 0.0))
    assert est.support == pytest.approx(0.9, abs=0.005)
    assert est.top == pytest.approx(0.97, abs=0.005)
    assert est.x > float(np.median(apple[:, 0]))  # pushed back along the view ray
    assert est.y == pytest.approx(0.0, abs=0.01)


KITCHEN = load_kitchen()


@pytest.mark.parametrize("args, expect", [
    (("pick up the coke can", "pick", "coke can#2", ""), ("pick", "coke can", "")),
    (("go to the trash", "go_to", "", "bin"), ("go_to", "", "trash can")),
    (("find an apple", "", "", ""), ("find", "apple", "")),
    (("bring it to you", "bring", "", ""), ("bring", "", "")),
    (("done", "", "", ""), ("done", "", "")),
])
def test_resolve_goal(args, expect):
    g = resolve_goal(KITCHEN, *args)
    assert (g.kind, g.object, g.location) == expect


@pytest.mark.parametrize("args, words", [
    (("", "done", "", ""), "empty"),
    (("   ", "", "", ""), "empty"),
    (("jump", "jump", "", ""), "unknown skill kind"),
    (("pick up the", "pick", "", ""), "needs an object"),
    (("pick up the piano", "pick", "piano", ""), "unknown object 'piano'"),
    (("go to the moon", "go_to", "", "moon"), "unknown location 'moon'"),
    (("make tea", "", "", ""), "not a skill of the library"),
])
def test_resolve_goal_errors(args, words):
    with pytest.raises(SkillFailure) as info:
        resolve_goal(KITCHEN, *args)
    assert info.value.code == ErrorCode.UNKNOWN_SKILL and words in info.value.message
