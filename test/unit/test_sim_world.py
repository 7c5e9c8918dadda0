"""KitchenWorld: layout, kinematic base, grasping, camera (PyBullet DIRECT, small images, few steps)."""
from __future__ import annotations

import math

import numpy as np
import pybullet
import pytest

from saycan_ros.core.camera_model import base_to_pixel
from saycan_ros.core.errors import ConfigError
from saycan_ros.core.kitchen import Kitchen, load_kitchen
from saycan_ros.core.robot_geometry import ARM, LEFT, LIFT, RIGHT, RobotGeometry, load_robot_geometry
from saycan_ros.sim.kitchen_world import CARRY_CLEARANCE, KitchenWorld

SIZE = (160, 120)


@pytest.fixture(scope="module")
def kitchen() -> Kitchen:
    return load_kitchen()


@pytest.fixture(scope="module")
def robot() -> RobotGeometry:
    return load_robot_geometry()


@pytest.fixture
def make_world(kitchen, robot):
    worlds = []

    def make(scene, **kwargs) -> KitchenWorld:
        kwargs.setdefault("image_size", SIZE)
        worlds.append(KitchenWorld(kitchen, robot, scene, **kwargs))
        return worlds[-1]

    yield make
    for w in worlds:
        w.close()


def _to_base(world: KitchenWorld, xyz) -> tuple[float, float, float]:
    x, y, yaw = world.base_pose()
    dx, dy = xyz[0] - x, xyz[1] - y
    return (math.cos(yaw) * dx + math.sin(yaw) * dy, -math.sin(yaw) * dx + math.cos(yaw) * dy, xyz[2])


def _drive_to(world: KitchenWorld, pose, dt: float = 0.05) -> None:
    """Turn toward the goal, drive, turn to its yaw: a crude controller, but only through cmd_vel."""
    def turn_to(target: float) -> None:
        for _ in range(400):
            err = math.atan2(math.sin(target - world.base_pose()[2]), math.cos(target - world.base_pose()[2]))
            if abs(err) < 0.01:
                break
            world.set_base_velocity(0.0, max(-1.0, min(1.0, err / dt)))
            world.step(dt)
        world.set_base_velocity(0.0, 0.0)

    x, y, _ = world.base_pose()
    turn_to(math.atan2(pose[1] - y, pose[0] - x))
    for _ in range(400):
        x, y, _ = world.base_pose()
        dist = math.hypot(pose[0] - x, pose[1] - y)
        if dist < 0.01:
            break
        world.set_base_velocity(min(0.5, dist / dt), 0.0)
        world.step(dt)
    world.set_base_velocity(0.0, 0.0)
    turn_to(pose[2])


def test_scene_objects_spawn_on_their_furniture(make_world, kitchen: Kitchen) -> None:
    scene = dict(kitchen.scene("default"), **{"coke can#2": "table", "sponge": "trash can", "tea": "user"})
    world = make_world(scene)
    world.step(0.5)  # they stay put once settled
    state = world.world_state()
    assert set(state["objects"]) == set(scene)
    for name, loc in scene.items():
        assert state["objects"][name]["location"] == loc, name
    positions = [np.array(o["xyz"][:2]) for o in state["objects"].values()]
    closest = min(np.linalg.norm(a - b) for i, a in enumerate(positions) for b in positions[i + 1:])
    assert closest > 0.06  # spread, not stacked on each other
    assert state["held_object"] is None and state["robot_location"] is None  # starts at the origin
    # on the counter's front part: within the arm's reach from the location pose
    world.reset(scene, start_pose=kitchen.locations["close counter"].pose)
    assert world.world_state()["robot_location"] == "close counter"
    for name in ("apple", "coke can"):
        ahead, side, z = _to_base(world, world.object_pose(name)[0])
        assert 0.3 < ahead < 0.7 and abs(side) < 0.3 and z == pytest.approx(0.9 + kitchen.objects[name].size[2] / 2,
                                                                             abs=0.01)


def test_base_velocity_moves_the_expected_distance(make_world) -> None:
    world = make_world({})
    world.set_base_velocity(0.4, 0.0)
    world.step(1.0)
    x, y, yaw = world.base_pose()
    assert (x, y, yaw) == pytest.approx((0.4, 0.0, 0.0), abs=1e-6)
    world.set_base_velocity(0.0, 0.5)
    world.step(1.0)
    assert world.base_pose()[2] == pytest.approx(0.5, abs=1e-6)
    world.set_base_velocity(0.2, 0.0)
    world.step(1.0)
    assert world.base_pose()[:2] == pytest.approx((0.4 + 0.2 * math.cos(0.5), 0.2 * math.sin(0.5)), abs=1e-6)
    world.set_base_velocity(9.0, -9.0)  # clamped to the robot's limits
    assert world.base_velocity() == (0.2, 0.0)  # not before a step
    world.step()
    assert world.base_velocity() == pytest.approx((0.5, -1.5))
    with pytest.raises(ValueError):
        world.set_base_velocity(math.nan, 0.0)


def test_base_stops_at_furniture(make_world, kitchen: Kitchen, robot: RobotGeometry) -> None:
    world = make_world({}, start_pose=kitchen.locations["close counter"].pose)
    world.set_base_velocity(0.5, 0.0)
    world.step(1.0)
    counter_edge = 1.2 + 0.55 - 0.25
    x = world.base_pose()[0]
    assert counter_edge - robot.base_radius - 0.01 < x < counter_edge - robot.base_radius
    assert world.base_blocked and world.base_velocity()[0] == 0.0
    world.set_base_velocity(-0.5, 0.0)  # backing away is allowed
    world.step(0.2)
    assert world.base_pose()[0] < x - 0.09 and not world.base_blocked


@pytest.mark.parametrize("destination, drop_lift", [("trash can", 0.75), ("user", 1.0), ("far counter", 0.99)])
def test_scripted_pick_and_place(make_world, kitchen: Kitchen, robot: RobotGeometry, destination: str,
                                 drop_lift: float) -> None:
    world = make_world({"coke can": "close counter", "apple": "close counter"},
                       start_pose=kitchen.locations["close counter"].pose)
    can = world.object_pose("coke can")[0]
    ahead, side, _ = _to_base(world, can)
    world.set_base_velocity(0.0, math.atan2(side, ahead) / 0.5)  # face the can
    world.step(0.5)
    world.set_base_velocity(0.0, 0.0)
    ahead, side, _ = _to_base(world, can)
    assert abs(side) < 0.005
    world.set_arm_targets(lift=can[2], arm=ahead - robot.arm_offset)
    world.step(1.5)
    assert world.joint_positions()[ARM] == pytest.approx(ahead - robot.arm_offset, abs=1e-6)
    world.set_gripper_target(0.0)
    world.step(0.6)
    joints = world.joint_positions()
    assert world.held_object == "coke can"
    assert joints[LEFT] == joints[RIGHT] == pytest.approx(0.033)  # stopped on the can, not closed
    world.set_arm_targets(lift=1.0, arm=0.0)
    world.step(1.5)
    state = world.world_state()
    assert state["held_object"] == "coke can" and state["objects"]["coke can"]["held"]
    assert state["objects"]["coke can"]["location"] is None
    assert state["objects"]["coke can"]["xyz"][2] == pytest.approx(1.0, abs=0.01)
    assert state["objects"]["apple"]["location"] == "close counter"  # the other one stayed

    _drive_to(world, kitchen.locations[destination].pose)
    assert world.world_state()["robot_location"] == destination
    assert world.held_object == "coke can"
    world.set_arm_targets(lift=drop_lift, arm=0.55 - robot.arm_offset)  # over the furniture's centre
    world.step(1.5)
    world.set_gripper_target(0.06)
    world.step(1.5)
    state = world.world_state()
    assert state["held_object"] is None and not state["objects"]["coke can"]["held"]
    assert state["objects"]["coke can"]["location"] == destination
    if destination == "trash can":
        assert state["objects"]["coke can"]["xyz"][2] < 0.5  # fell in, below the rim
    else:  # standing on the surface (0.9 m), not tipped over
        assert state["objects"]["coke can"]["xyz"][2] == pytest.approx(0.96, abs=0.005)


def test_closing_on_nothing_closes_fully(make_world, kitchen: Kitchen) -> None:
    world = make_world({"apple": "table"}, start_pose=kitchen.locations["close counter"].pose)
    world.set_arm_targets(lift=0.95, arm=0.15)
    world.set_gripper_target(0.0)
    world.step(1.0)
    assert world.held_object is None
    assert world.joint_positions()[LEFT] == pytest.approx(0.0)


def test_camera_sees_objects_with_class_ids_and_metric_depth(make_world, kitchen: Kitchen,
                                                             robot: RobotGeometry) -> None:
    world = make_world({"apple": "close counter", "coke can": "close counter", "orange": "table"},
                       start_pose=kitchen.locations["close counter"].pose)
    rgb, depth, seg = world.render()
    w, h = SIZE
    assert rgb.shape == (h, w, 3) and rgb.dtype == np.uint8
    assert depth.shape == (h, w) and depth.dtype == np.float32
    assert seg.shape == (h, w) and seg.dtype == np.uint16
    ids = set(np.unique(seg).tolist())
    assert ids == {0, kitchen.object_id("apple"), kitchen.object_id("coke can")}  # the orange is behind
    camera, mount = robot.camera.pinhole(w, h), robot.camera.mount()
    for name in ("apple", "coke can"):
        centre = world.object_pose(name)[0]
        u, v, z = base_to_pixel(*_to_base(world, centre), camera, mount)
        assert seg[round(v), round(u)] == kitchen.object_id(name), name
        radius = kitchen.objects[name].size[0] / 2
        assert z - radius - 0.02 < depth[round(v), round(u)] < z + 0.01, name  # the near surface
        ys, xs = np.nonzero(seg == kitchen.object_id(name))
        assert abs(xs.mean() - u) < 4 and abs(ys.mean() - v) < 6  # the mask sits where geometry says
        # the apple is red, the can red too: object pixels are red-dominant
        colour = rgb[ys, xs].mean(axis=0)
        assert colour[0] > 2 * colour[1] and colour[0] > 2 * colour[2]
    # the optical axis meets the counter top 0.35 m below the camera at 40 degrees
    pix = depth[(h - 1) // 2:(h + 2) // 2, (w - 1) // 2:(w + 2) // 2]
    background = seg[(h - 1) // 2:(h + 2) // 2, (w - 1) // 2:(w + 2) // 2] == 0
    assert np.all(background)
    assert float(pix.mean()) == pytest.approx(0.35 / math.sin(math.radians(40)), abs=0.01)
    assert np.all(np.isfinite(depth)) and 0.05 < float(depth.min()) and float(depth.max()) < 10.0


class _FullRender:
    """Test stand-in for the floor layer: the floor is rasterised with the rest and nothing is laid under."""

    def under(self, rgb, zbuf, seg_raw, floor_body) -> None:
        pass


def test_the_floor_layer_gives_the_frames_a_full_render_gives(make_world, kitchen: Kitchen) -> None:
    """render() lays a floor rendered once under each frame; a world that rasterises its floor every
    frame must see the same pixels, from anywhere in the room, with an object lying on the floor."""
    scene = {"apple": "close counter", "coke can": "table", "sponge": "far counter"}
    layered = make_world(scene, seed=3)
    full = make_world(scene, seed=3)
    full._p.changeVisualShape(full._floor_body, -1, rgbaColor=(0.74, 0.70, 0.62, 1))  # opaque again
    full._floor = _FullRender()
    for world in (layered, full):  # drop the orange next to the table (same physics in both)
        orange = world._p.createVisualShape(pybullet.GEOM_SPHERE, radius=0.04, rgbaColor=(1, 0.5, 0, 1))
        world._p.createMultiBody(0.0, -1, orange, (0.9, 0.4, 0.035))
    rng = np.random.default_rng(0)
    poses = [tuple(loc.pose) for loc in kitchen.locations.values()]
    poses += [(rng.uniform(-2.5, 2.5), rng.uniform(-2.5, 3.0), rng.uniform(-math.pi, math.pi)) for _ in range(6)]
    poses.append((-0.1, 0.4, 0.0))  # the orange on the floor 1 m ahead, in view
    floor_pixels = differing = 0
    for pose in poses:
        for world in (layered, full):
            world._pose = list(pose)
        (rgb_a, depth_a, seg_a), (rgb_b, depth_b, seg_b) = layered.render(), full.render()
        differing += int(np.any(rgb_a != rgb_b, axis=-1).sum() + (seg_a != seg_b).sum())
        floor_pixels += int(np.all(rgb_b == (176, 167, 148), axis=-1).sum())
        assert np.array_equal(np.isnan(depth_a), np.isnan(depth_b))
        assert float(np.nanmax(np.abs(depth_a - depth_b))) < 1e-3
    assert floor_pixels > 0.3 * len(poses) * SIZE[0] * SIZE[1]  # the floor was in the pictures
    assert differing <= 0.0001 * len(poses) * SIZE[0] * SIZE[1]  # at most z-ties where furniture meets the floor


def test_reset_restores_scene_and_robot(make_world, kitchen: Kitchen, robot: RobotGeometry) -> None:
    world = make_world({"apple": "table"}, seed=3)
    first = world.world_state()["objects"]["apple"]["xyz"]
    world.set_base_velocity(0.3, 0.2)
    world.set_arm_targets(lift=1.0, arm=0.4)
    world.step(0.5)
    world.reset({"apple": "table", "orange": "far counter"})
    state = world.world_state()
    assert state["robot_pose"] == [0.0, 0.0, 0.0]
    assert state["objects"]["apple"]["xyz"] == pytest.approx(first, abs=1e-3)  # same seed, same layout
    assert state["objects"]["orange"]["location"] == "far counter"
    assert world.joint_positions() == pytest.approx(robot.home)
    world.step(0.5)
    assert world.base_pose() == (0.0, 0.0, 0.0)  # the old command was cleared
    with pytest.raises(ConfigError, match="unknown object"):
        world.reset({"laptop": "table"})
    with pytest.raises(ConfigError, match="unknown location"):
        world.reset({"apple": "garage"})
    assert set(world.object_names()) == {"apple", "orange"}  # a bad reset changes nothing


def test_a_reset_can_start_with_an_object_in_the_gripper(make_world, kitchen: Kitchen) -> None:
    world = make_world({"apple": "table"}, start_pose=kitchen.locations["user"].pose, holding="coke can")
    world.step(1.0)  # held, not dropped: the constraint carries it and the fingers rest on it
    state = world.world_state()
    assert state["held_object"] == "coke can" and state["objects"]["coke can"]["location"] is None
    radius = kitchen.objects["coke can"].size[0] / 2
    assert world.joint_positions()[LEFT] == pytest.approx(radius, abs=1e-3)
    # carried as after a pick: clear of the highest surface top (the user's tray rim, 0.92 m)
    carry = max(f.top_z for f in world.furniture.values()) + kitchen.objects["coke can"].size[2] / 2 + CARRY_CLEARANCE
    assert state["objects"]["coke can"]["xyz"][2] == pytest.approx(carry, abs=0.02) and carry > 0.95
    world.set_gripper_target(0.06)  # opening drops it
    world.step(1.5)
    assert world.held_object is None and world.world_state()["objects"]["coke can"]["xyz"][2] < 0.1
    world.reset({"apple": "table"})  # the next reset without `holding` starts empty-handed
    assert world.held_object is None and "coke can" not in world.object_names()
    with pytest.raises(ConfigError, match="both in the gripper and at the table"):
        world.reset({"apple": "table"}, holding="apple")
    with pytest.raises(ConfigError, match="unknown object 'pizza'"):
        world.reset({"apple": "table"}, holding="pizza")


def test_instances_are_independent(make_world) -> None:
    a = make_world({"apple": "table"})
    b = make_world({"apple": "table"})
    a.set_base_velocity(0.5, 0.0)
    a.step(0.5)
    b.step(0.5)
    assert a.base_pose()[0] == pytest.approx(0.25) and b.base_pose()[0] == 0.0
    a.close()
    b.step(0.1)
    assert b.world_state()["objects"]["apple"]["location"] == "table"
    assert b.render()[0].shape == (SIZE[1], SIZE[0], 3)


def test_trajectory_points_are_followed(make_world) -> None:
    world = make_world({})
    world.follow_trajectory([(1.0, {LIFT: 0.7}), (2.0, {LIFT: 0.8, ARM: 0.2})])
    world.step(1.0)
    assert world.joint_positions()[LIFT] == pytest.approx(0.7, abs=1e-3)
    world.step(1.2)
    joints = world.joint_positions()
    assert joints[LIFT] == pytest.approx(0.8, abs=1e-6) and joints[ARM] == pytest.approx(0.2, abs=1e-6)
    with pytest.raises(ValueError, match="unknown joint"):
        world.follow_trajectory([(1.0, {"joint_wrist": 0.1})])
