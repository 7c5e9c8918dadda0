"""config/robot.yaml parsing and the joint trajectory follower (pure, no physics)."""
from __future__ import annotations

import copy
import math

import pytest
import yaml

from saycan_ros.core.camera_model import base_to_pixel
from saycan_ros.core.errors import ConfigError
from saycan_ros.core.kitchen import config_dir
from saycan_ros.core.robot_geometry import (ARM, JOINTS, LEFT, LIFT, RIGHT, JointLimits, load_robot_geometry,
                                            parse_robot_geometry)
from saycan_ros.sim.controllers import JointFollower


@pytest.fixture(scope="module")
def robot_data() -> dict:
    return yaml.safe_load((config_dir() / "robot.yaml").read_text())


def test_robot_file_loads_with_documented_values() -> None:
    g = load_robot_geometry()
    assert g.lift.min == pytest.approx(0.2) and g.lift.max == pytest.approx(1.1)
    assert g.reach == pytest.approx((0.25, 0.75))
    assert set(g.home) == set(JOINTS) and g.home[LEFT] == g.home[RIGHT] == pytest.approx(0.06)
    assert g.grasp_point(0.9, 0.2) == pytest.approx((0.45, 0.0, 0.9))
    cam = g.camera.pinhole(320, 240)
    assert cam.fx == pytest.approx(160 / math.tan(math.radians(35)))
    assert (cam.cx, cam.cy) == (159.5, 119.5)
    # the optical axis points ahead and 40 degrees down: a point on it projects to the centre
    d = 1.0
    ahead = (0.1 + d * math.cos(math.radians(40)), 0.0, 1.25 - d * math.sin(math.radians(40)))
    u, v, depth = base_to_pixel(*ahead, cam, g.camera.mount())
    assert (u, v, depth) == pytest.approx((159.5, 119.5, 1.0))


@pytest.mark.parametrize("path, value, message", [
    (("lift", "min"), 2.0, "min < max"),
    (("camera", "hfov_deg"), "wide", "camera.hfov_deg"),
    (("camera", "xyz"), [0.1, 0.0], "camera.xyz"),
    (("home", "lift"), 5.0, "outside"),
    (("gripper", "closed_threshold"), 0.5, "closed_threshold"),
    (("arm", "max_speed"), 0.0, "must be > 0"),
])
def test_bad_robot_values_name_the_key(robot_data: dict, path: tuple[str, str], value, message: str) -> None:
    data = copy.deepcopy(robot_data)
    data[path[0]][path[1]] = value
    with pytest.raises(ConfigError, match=message):
        parse_robot_geometry(data, source="bad.yaml")


def test_missing_robot_file_is_a_config_error(tmp_path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_robot_geometry(tmp_path / "nope.yaml")
    (tmp_path / "r.yaml").write_text("base: {radius: 0.2}\n")
    with pytest.raises(ConfigError, match="missing section"):
        load_robot_geometry(tmp_path / "r.yaml")


def _follower() -> JointFollower:
    lim = JointLimits(0.0, 1.0, 0.5)
    return JointFollower({LIFT: lim, ARM: lim}, {LIFT: 0.0, ARM: 0.0})


def test_follower_interpolates_trajectory_in_time() -> None:
    f = _follower()
    f.set_trajectory(0.0, [(1.0, {LIFT: 0.2}), (2.0, {LIFT: 0.4})])
    dt, t = 0.01, 0.0
    for _ in range(50):
        t += dt
        f.step(t, dt)
    assert f.position[LIFT] == pytest.approx(0.1, abs=1e-6)  # halfway to the first point
    for _ in range(100):
        t += dt
        f.step(t, dt)
    assert f.position[LIFT] == pytest.approx(0.3, abs=1e-6)
    assert f.velocity[LIFT] == pytest.approx(0.2, abs=1e-6)
    assert f.position[ARM] == 0.0  # a joint the trajectory does not name stays put


def test_follower_respects_speed_limit_and_joint_limits() -> None:
    f = _follower()
    f.set_trajectory(0.0, [(0.0, {ARM: 5.0})])  # clamped to 1.0, reached at 0.5 m/s
    assert f.target(ARM) == 1.0
    t = 0.0
    for _ in range(100):
        t += 0.01
        f.step(t, 0.01)
    assert f.position[ARM] == pytest.approx(0.5)
    assert f.moving()
    f.step(t + 1.0, 1.0)
    assert f.position[ARM] == pytest.approx(1.0) and not f.moving()


@pytest.mark.parametrize("points, message", [
    ([(0.0, {"joint_elbow": 0.1})], "unknown joint"),
    ([(0.0, {LIFT: math.nan})], "not finite"),
    ([(1.0, {LIFT: 0.1}), (0.5, {LIFT: 0.2})], "non-decreasing"),
])
def test_follower_rejects_bad_trajectories(points, message: str) -> None:
    f = _follower()
    with pytest.raises(ValueError, match=message):
        f.set_trajectory(0.0, points)
    assert f.target(LIFT) == 0.0  # nothing was half-applied
