"""The simulated SayCan kitchen: PyBullet furniture, objects and a Stretch-like robot (no rclpy).

What is simulated and how (honest list of the stand-ins):

- Furniture stands at every location of config/kitchen.yaml, ~0.55 m ahead of the location's pose
  (the pose is where the robot stands, facing it): counters (0.9 m boxes), a table (0.75 m, legs),
  an open-top trash can (0.5 m) that objects fall into, and the user (a cylinder "person" holding
  a rimmed tray at 0.9 m where delivered objects rest). Static rigid bodies.
- Objects are primitive shapes (size, colour, shape from kitchen.yaml) under full rigid-body
  physics (gravity, friction, contacts with furniture and each other).
- The robot is kinematic: the base integrates (v, w) from cmd_vel each step (a wheel-torque
  base stalls in PyBullet), and stops at furniture/walls via a 2-D footprint check (a bumper).
  Lift, arm and fingers follow trajectories as ideal position controllers under speed limits.
  The robot's bodies carry no collision shapes: it never pushes objects, it only shows in
  the camera and moves what it holds.
- Grasping is a stand-in for friction grasping (standard in simulation benchmarks): when the
  finger targets are closed (< `closed_threshold`) and an object's centre lies within
  `grasp_tolerance` of the grasp point, between the fingers, the fingers stop at the object's
  width and the object is attached to the gripper with a fixed constraint (limited force, so
  furniture still blocks it). Opening the fingers removes the constraint; the object then
  falls under physics. Closing on nothing closes the fingers fully, so joint_states tell a
  grasp (fingers stopped apart) from a miss (fingers at 0), as on a real gripper.
- The head camera renders with PyBullet's CPU tiny renderer: RGB, depth (metres along the optical
  axis, NaN where nothing is within `far`), and segmentation (class id = Kitchen.object_id).
  The floor is not rasterised every frame (it covered ~60 % of the pixels and cost ~60 % of a
  render): the camera sits at a fixed height and pitch, so the flat floor looks the same from every
  base pose. It is rendered once per camera into a layer (colour + z-buffer) and laid under each
  frame by the same depth test the renderer applies (`_FloorLayer`); frames match a full render to
  the pixel except z-ties where furniture meets the floor (1 pixel in 45 poses, depth < 0.1 mm).

world_state() (the ground truth published on sim/world_state, used only to judge episodes):
    {"sim_time": s, "robot_pose": [x, y, yaw], "robot_location": name | None (within 0.5 m),
     "base_blocked": bool, "held_object": name | None,
     "injected_faults": ["the apple slipped", ...] (since the last reset),
     "objects": {name: {"xyz": [x, y, z], "location": name | None (None: held or on the floor),
                        "held": bool}}}
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np
import pybullet
from pybullet_utils.bullet_client import BulletClient

from saycan_ros.core.errors import ConfigError
from saycan_ros.core.kitchen import Kitchen, ObjectType, base_object_name
from saycan_ros.core.robot_geometry import ARM, GRIPPER_JOINTS, JOINTS, LEFT, LIFT, RIGHT, RobotGeometry
from saycan_ros.sim.controllers import JointFollower

FURNITURE_DISTANCE = 0.55  # furniture centre ahead of its location pose
LOCATION_RADIUS = 0.5  # robot counts as "at" a location within this distance of its pose
ROOM = (-3.0, 3.0, -3.0, 3.5)  # walls: x_min, x_max, y_min, y_max
GRASP_FORCE = 60.0  # N: the grasp constraint's force limit
SLIP_AFTER_S = 0.6  # an injected slip lets go this long after the grasp closed (during the lift)
CARRY_CLEARANCE = 0.03  # m: an object held at the start clears the highest surface top by this

_COLOURS = {
    "counter": (0.86, 0.86, 0.83, 1), "table": (0.58, 0.40, 0.24, 1), "trash": (0.28, 0.30, 0.32, 1),
    "person": (0.25, 0.35, 0.62, 1), "skin": (0.90, 0.74, 0.60, 1), "tray": (0.92, 0.92, 0.92, 1),
    "floor": (0.74, 0.70, 0.62, 1), "wall": (0.93, 0.93, 0.90, 1), "robot": (0.15, 0.15, 0.17, 1),
    "robot_light": (0.55, 0.56, 0.60, 1), "finger": (0.35, 0.35, 0.38, 1),
}


class _FloorLayer:
    """The room's floor plane (top at z = 0) as the head camera sees it from any base pose.

    The camera's height and pitch are fixed and the base only moves and turns in the plane, so the
    floor's colour and z-buffer are the same in every frame; they are rendered once here, on a floor
    far larger than the room, in a private client. Where the floor would show outside the room a
    wall is nearer and wins the depth test.
    """

    HALF_SIZE = 100.0  # m

    def __init__(self, width: int, height: int, camera_z: float, pitch: float, projection: Sequence[float]):
        client = BulletClient(connection_mode=pybullet.DIRECT)
        try:
            vis = client.createVisualShape(pybullet.GEOM_BOX, halfExtents=(self.HALF_SIZE, self.HALF_SIZE, 0.01),
                                           rgbaColor=_COLOURS["floor"])
            client.createMultiBody(0.0, -1, vis, (0.0, 0.0, -0.01))
            eye = (0.0, 0.0, camera_z)
            cp, sp = math.cos(pitch), math.sin(pitch)
            view = client.computeViewMatrix(eye, (cp, 0.0, camera_z - sp), (sp, 0.0, cp))
            _, _, rgba, zbuf, _ = client.getCameraImage(width, height, view, projection, shadow=0,
                                                        renderer=pybullet.ER_TINY_RENDERER)
        finally:
            client.disconnect()
        self.rgb = np.ascontiguousarray(np.reshape(rgba, (height, width, 4))[:, :, :3]).astype(np.uint8)
        self.zbuf = np.reshape(zbuf, (height, width)).astype(np.float64)

    def under(self, rgb: np.ndarray, zbuf: np.ndarray, seg_raw: np.ndarray, floor_body: int) -> None:
        """Lay the floor under a frame rendered without it (in place): where the floor is nearer."""
        shows = self.zbuf < zbuf
        np.copyto(rgb, self.rgb, where=shows[:, :, None])
        np.copyto(zbuf, self.zbuf, where=shows)
        np.copyto(seg_raw, floor_body, where=shows)


@dataclass
class Furniture:
    """One location's furniture, in its own frame: origin on the floor at its centre, x pointing
    away from the robot's work pose, y to the robot's left."""

    location: str
    kind: str  # counter | table | trash | person
    centre: tuple[float, float]
    yaw: float
    half: tuple[float, float]  # half extents of the support region (x, y)
    support_z: float  # height objects rest at (inner floor for the trash can)
    top_z: float  # highest rim: objects below it (in the region) are "in" a container
    footprint: tuple[float, float, float, float]  # x_min, x_max, y_min, y_max the base may not enter
    body_ids: list[int] = field(default_factory=list)

    def to_local(self, x: float, y: float) -> tuple[float, float]:
        dx, dy = x - self.centre[0], y - self.centre[1]
        c, s = math.cos(self.yaw), math.sin(self.yaw)
        return (c * dx + s * dy, -s * dx + c * dy)

    def to_world(self, lx: float, ly: float) -> tuple[float, float]:
        c, s = math.cos(self.yaw), math.sin(self.yaw)
        return (self.centre[0] + c * lx - s * ly, self.centre[1] + s * lx + c * ly)

    def holds(self, xyz: Sequence[float], margin: float = 0.03) -> bool:
        """Is a point on (or, for a container, in) this furniture's support region?"""
        lx, ly = self.to_local(xyz[0], xyz[1])
        if abs(lx) > self.half[0] + margin or abs(ly) > self.half[1] + margin:
            return False
        if self.kind == "trash":
            return xyz[2] < self.top_z + 0.1
        return self.support_z - 0.03 <= xyz[2] <= self.support_z + 0.4


@dataclass
class _SimObject:
    name: str
    type: ObjectType
    body: int
    class_id: int


def furniture_kind(location: str) -> str:
    """Which furniture stands at a location, by name (unknown names get a counter)."""
    name = location.lower()
    if "trash" in name or "bin" in name:
        return "trash"
    if "user" in name or "person" in name:
        return "person"
    if "table" in name and "counter" not in name:
        return "table"
    return "counter"


def _yaw_quat(yaw: float) -> tuple[float, float, float, float]:
    return (0.0, 0.0, math.sin(yaw / 2.0), math.cos(yaw / 2.0))


def _wrap(angle: float) -> float:
    return (angle + math.pi) % (2.0 * math.pi) - math.pi


class KitchenWorld:
    """A PyBullet kitchen in its own DIRECT client (several may coexist in one process)."""

    def __init__(self, kitchen: Kitchen, robot: RobotGeometry, scene: Mapping[str, str], seed: int = 0,
                 image_size: tuple[int, int] = (320, 240), physics_dt: float = 1.0 / 120.0,
                 start_pose: tuple[float, float, float] = (0.0, 0.0, 0.0), holding: str | None = None):
        if physics_dt <= 0 or physics_dt > 0.05:
            raise ConfigError(f"physics_dt must be in (0, 0.05] s, got {physics_dt}")
        width, height = (int(v) for v in image_size)
        if not (16 <= width <= 4096 and 16 <= height <= 4096):
            raise ConfigError(f"image size must be within 16..4096 pixels, got {width}x{height}")
        self.kitchen, self.robot = kitchen, robot
        self.image_size = (width, height)
        self.camera = robot.camera.pinhole(width, height)
        self.physics_dt = float(physics_dt)
        self.sim_time = 0.0
        self._seed = int(seed)
        self._start_pose = tuple(float(v) for v in start_pose)
        self._p = BulletClient(connection_mode=pybullet.DIRECT)
        self._p.setGravity(0.0, 0.0, -9.81)
        self._p.setPhysicsEngineParameter(fixedTimeStep=self.physics_dt, numSolverIterations=30)
        self._shape_cache: dict[str, tuple[int, int]] = {}
        self._floor: _FloorLayer | None = None  # built at the first render
        self._objects: dict[str, _SimObject] = {}
        self.furniture: dict[str, Furniture] = {}
        self._build_room()
        for name, loc in kitchen.locations.items():
            self.furniture[name] = self._build_furniture(name, loc.pose)
        self._robot_body, self._robot_joint_index = self._build_robot()
        limits = {j: robot.limits(j) for j in JOINTS}
        self.joints = JointFollower(limits, robot.home)
        self._pose = list(self._start_pose)
        self._cmd = (0.0, 0.0)
        self._twist = (0.0, 0.0)  # what the base actually did last step
        self.base_blocked = False
        self._held: str | None = None
        self._held_offset: tuple | None = None
        self._held_constraint: int | None = None
        self._finger_floor: float | None = None
        self._scene: dict[str, str] = {}
        # Fault injection (evaluation of the closed loop): a grasp slips with this probability; the
        # draws restart from `fault_seed` at every reset (an evaluation sets one per episode).
        self.grasp_slip_p = 0.0
        self.fault_seed = 0
        self.injected_faults: list[str] = []  # since the last reset
        self._slip_at: float | None = None
        self._slipped = False  # no new grasp until the fingers open again
        self.reset(scene, holding=holding)

    # ------------------------------------------------------------------ lifecycle
    def set_faults(self, grasp_slip_p: float, fault_seed: int) -> None:
        """Inject grasp slips with this probability from now on, drawn from `fault_seed` (and drawn
        from it afresh at every reset)."""
        self.grasp_slip_p, self.fault_seed = float(grasp_slip_p), int(fault_seed)
        self._slip_rng = random.Random(self.fault_seed)

    def reset(self, scene: Mapping[str, str], seed: int | None = None,
              start_pose: tuple[float, float, float] | None = None, holding: str | None = None) -> None:
        """Put the robot home at the start pose and lay out `scene` (object -> location) afresh;
        with `holding`, that object (not also in the scene) starts grasped in the closed gripper.

        Raises ConfigError for an unknown object or location (the world is left unchanged).
        """
        scene = {str(k): str(v) for k, v in scene.items()}
        if holding is not None:
            if base_object_name(holding) not in self.kitchen.objects:
                raise ConfigError(f"cannot start holding unknown object '{holding}'")
            if holding in scene:
                raise ConfigError(f"'{holding}' cannot start both in the gripper and at the {scene[holding]}")
        for obj, loc in scene.items():
            if base_object_name(obj) not in self.kitchen.objects:
                raise ConfigError(f"scene places unknown object '{obj}'")
            if loc not in self.furniture:
                raise ConfigError(f"scene uses unknown location '{loc}' for '{obj}'")
        if seed is not None:
            self._seed = int(seed)
        if start_pose is not None:
            self._start_pose = tuple(float(v) for v in start_pose)
        self._release()
        self._slip_rng = random.Random(self.fault_seed)  # the same slips after every reset with one seed
        self.injected_faults = []
        for obj in self._objects.values():
            self._p.removeBody(obj.body)
        self._objects.clear()
        self._pose = list(self._start_pose)
        self._cmd, self._twist, self.base_blocked = (0.0, 0.0), (0.0, 0.0), False
        self.joints.reset(self.robot.home)
        self._scene = dict(scene)
        rng = np.random.default_rng(self._seed)
        by_location: dict[str, list[str]] = {}
        for obj, loc in scene.items():
            by_location.setdefault(loc, []).append(obj)
        for loc, names in by_location.items():
            self._spawn_on(self.furniture[loc], names, rng)
        if holding is not None:
            self._spawn_in_gripper(holding)
        for _ in range(int(round(0.25 / self.physics_dt))):  # let objects settle on their surfaces
            self._p.stepSimulation()

    def close(self) -> None:
        """Disconnect the physics client (idempotent)."""
        if getattr(self, "_p", None) is not None:
            try:
                self._p.disconnect()
            except pybullet.error:
                pass
            self._p = None

    def __enter__(self) -> "KitchenWorld":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------ commands
    def set_base_velocity(self, v: float, w: float) -> None:
        """Commanded base velocity (m/s forward, rad/s left), clamped to the robot's limits."""
        if not (math.isfinite(v) and math.isfinite(w)):
            raise ValueError(f"base velocity must be finite, got v={v}, w={w}")
        vmax, wmax = self.robot.max_linear_speed, self.robot.max_angular_speed
        self._cmd = (max(-vmax, min(vmax, float(v))), max(-wmax, min(wmax, float(w))))

    def set_arm_targets(self, lift: float | None = None, arm: float | None = None, duration: float = 0.0) -> None:
        """Move lift and/or arm to positions, arriving after `duration` s (or as fast as allowed)."""
        target = {j: v for j, v in ((LIFT, lift), (ARM, arm)) if v is not None}
        if target:
            self.joints.set_trajectory(self.sim_time, [(max(0.0, duration), target)])

    def set_gripper_target(self, left: float, right: float | None = None, duration: float = 0.0) -> None:
        """Finger openings (m): 0.0 closed, 0.06 open. `right` defaults to `left`."""
        right = left if right is None else right
        self.joints.set_trajectory(self.sim_time, [(max(0.0, duration), {LEFT: left, RIGHT: right})])

    def follow_trajectory(self, points: Sequence[tuple[float, Mapping[str, float]]]) -> None:
        """Follow (time_from_start, {joint: position}) points starting now. ValueError on bad input."""
        self.joints.set_trajectory(self.sim_time, points)

    # ------------------------------------------------------------------ simulation
    def step(self, dt: float | None = None) -> int:
        """Advance by `dt` seconds (default one physics step) in fixed physics steps; returns the count."""
        n = 1 if dt is None else max(1, int(round(dt / self.physics_dt)))
        for _ in range(n):
            self._substep()
        return n

    def _substep(self) -> None:
        dt = self.physics_dt
        self._move_base(dt)
        self.sim_time += dt
        self._step_gripper_and_joints(dt)
        if self._slip_at is not None and self.sim_time >= self._slip_at:
            self.injected_faults.append(f"the {self._held} slipped")
            self._release()  # the fingers, still commanded closed, now close on nothing
            self._slipped = True
        if self._held is not None:
            pos, orn = self._held_target()
            self._p.changeConstraint(self._held_constraint, jointChildPivot=pos,
                                     jointChildFrameOrientation=orn, maxForce=GRASP_FORCE)
        self._p.stepSimulation()

    def _move_base(self, dt: float) -> None:
        v, w = self._cmd
        x, y, yaw = self._pose
        mid = yaw + 0.5 * w * dt  # exact enough unicycle integration for small dt
        nx, ny = x + v * math.cos(mid) * dt, y + v * math.sin(mid) * dt
        blocked = v != 0.0 and self._footprint_hits(nx, ny) and not self._footprint_hits(x, y)
        if not blocked:
            x, y = nx, ny
        self._pose = [x, y, _wrap(yaw + w * dt)]
        self.base_blocked = blocked
        self._twist = (0.0 if blocked else v, w)

    def _footprint_hits(self, x: float, y: float) -> bool:
        r = self.robot.base_radius
        if not (ROOM[0] + r <= x <= ROOM[1] - r and ROOM[2] + r <= y <= ROOM[3] - r):
            return True
        for f in self.furniture.values():
            lx, ly = f.to_local(x, y)
            x0, x1, y0, y1 = f.footprint
            dx, dy = max(x0 - lx, 0.0, lx - x1), max(y0 - ly, 0.0, ly - y1)
            if dx * dx + dy * dy < r * r:
                return True
        return False

    def _step_gripper_and_joints(self, dt: float) -> None:
        closing = all(self.joints.target(j) < self.robot.closed_threshold for j in GRIPPER_JOINTS)
        if self._held is not None and not closing and min(
                self.joints.target(j) for j in GRIPPER_JOINTS) > (self._finger_floor or 0.0) + 0.005:
            self._release()
        candidate = None
        self._slipped = self._slipped and closing
        if self._held is None and closing and not self._slipped:
            candidate = self._grasp_candidate()
        floor = self._finger_floor if self._held is not None else (candidate[1] if candidate else None)
        self.joints.step(self.sim_time, dt, {j: floor for j in GRIPPER_JOINTS} if floor is not None else None)
        if candidate and min(self.joints.position[j] for j in GRIPPER_JOINTS) <= candidate[1] + 1e-6:
            self._attach(candidate[0], candidate[1])

    def _grasp_frame(self) -> tuple[tuple[float, float, float], float]:
        gx, _, gz = self.robot.grasp_point(self.joints.position[LIFT], self.joints.position[ARM])
        x, y, yaw = self._pose
        return (x + gx * math.cos(yaw), y + gx * math.sin(yaw), gz), yaw

    def _grasp_candidate(self) -> tuple[str, float] | None:
        """The nearest object between the fingers within tolerance, with the finger stop opening."""
        (gx, gy, gz), yaw = self._grasp_frame()
        opening = min(self.joints.position[j] for j in GRIPPER_JOINTS)
        c, s = math.cos(yaw), math.sin(yaw)
        best = None
        for obj in self._objects.values():
            pos, orn = self._p.getBasePositionAndOrientation(obj.body)
            dx, dy, dz = pos[0] - gx, pos[1] - gy, pos[2] - gz
            dist = math.sqrt(dx * dx + dy * dy + dz * dz)
            lateral = -s * dx + c * dy
            if dist > self.robot.grasp_tolerance or abs(lateral) >= opening:
                continue
            half_width = self._half_width_across(obj, orn, yaw)
            if half_width > opening + 1e-6:  # fingers already inside it: they closed too early
                continue
            if best is None or dist < best[0]:
                best = (dist, obj.name, half_width)
        return (best[1], best[2]) if best else None

    def _half_width_across(self, obj: _SimObject, orn: Sequence[float], gripper_yaw: float) -> float:
        """Half the object's width along the finger closing axis (gripper y)."""
        sx, sy, _ = obj.type.size
        if obj.type.shape != "box":
            return sx / 2.0
        obj_yaw = self._p.getEulerFromQuaternion(orn)[2]
        rel = obj_yaw - gripper_yaw
        return abs(math.sin(rel)) * sx / 2.0 + abs(math.cos(rel)) * sy / 2.0

    def _attach(self, name: str, half_width: float, may_slip: bool = True) -> None:
        body = self._objects[name].body
        pos, orn = self._p.getBasePositionAndOrientation(body)
        grip_pos, yaw = self._grasp_frame()
        inv_pos, inv_orn = self._p.invertTransform(grip_pos, _yaw_quat(yaw))
        self._held_offset = self._p.multiplyTransforms(inv_pos, inv_orn, pos, orn)
        self._held_constraint = self._p.createConstraint(
            body, -1, -1, -1, pybullet.JOINT_FIXED, [0, 0, 0], [0, 0, 0], pos, childFrameOrientation=orn)
        self._p.changeConstraint(self._held_constraint, maxForce=GRASP_FORCE)
        self._held, self._finger_floor = name, half_width
        if may_slip and self.grasp_slip_p > 0 and self._slip_rng.random() < self.grasp_slip_p:
            self._slip_at = self.sim_time + SLIP_AFTER_S

    def _held_target(self) -> tuple:
        grip_pos, yaw = self._grasp_frame()
        return self._p.multiplyTransforms(grip_pos, _yaw_quat(yaw), *self._held_offset)

    def _release(self) -> None:
        if self._held_constraint is not None:
            self._p.removeConstraint(self._held_constraint)
        self._held, self._held_offset, self._held_constraint, self._finger_floor = None, None, None, None
        self._slip_at = None

    # ------------------------------------------------------------------ state
    @property
    def held_object(self) -> str | None:
        return self._held

    def base_pose(self) -> tuple[float, float, float]:
        return (self._pose[0], self._pose[1], self._pose[2])

    def base_velocity(self) -> tuple[float, float]:
        """What the base did in the last step: (v, w); v is 0 while the bumper blocks it."""
        return self._twist

    def joint_positions(self) -> dict[str, float]:
        return dict(self.joints.position)

    def joint_velocities(self) -> dict[str, float]:
        return dict(self.joints.velocity)

    def object_pose(self, name: str) -> tuple[tuple[float, float, float], tuple[float, float, float, float]]:
        """World position and quaternion (x, y, z, w) of an object; KeyError if absent."""
        pos, orn = self._p.getBasePositionAndOrientation(self._objects[name].body)
        return tuple(pos), tuple(orn)

    def object_names(self) -> list[str]:
        return list(self._objects)

    def location_of(self, xyz: Sequence[float]) -> str | None:
        for f in self.furniture.values():
            if f.holds(xyz):
                return f.location
        return None

    def robot_location(self) -> str | None:
        x, y, _ = self._pose
        best, best_d = None, LOCATION_RADIUS
        for name, loc in self.kitchen.locations.items():
            d = math.hypot(x - loc.pose[0], y - loc.pose[1])
            if d <= best_d:
                best, best_d = name, d
        return best

    def world_state(self) -> dict:
        """Ground truth as JSON-ready data (see the module docstring for the layout)."""
        objects = {}
        for name, obj in self._objects.items():
            pos, _ = self._p.getBasePositionAndOrientation(obj.body)
            held = name == self._held
            objects[name] = {"xyz": [round(v, 4) for v in pos],
                             "location": None if held else self.location_of(pos), "held": held}
        return {
            "sim_time": round(self.sim_time, 4),
            "robot_pose": [round(v, 4) for v in self._pose],
            "robot_location": self.robot_location(),
            "base_blocked": self.base_blocked,
            "held_object": self._held,
            "injected_faults": list(self.injected_faults),
            "objects": objects,
        }

    # ------------------------------------------------------------------ camera
    def render(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(rgb uint8 HxWx3, depth float32 HxW metres along the optical axis, seg uint16 HxW class ids)."""
        self._sync_robot_visual()
        cam = self.robot.camera
        width, height = self.image_size
        x, y, yaw = self._pose
        cx, cy, cz = cam.xyz
        c, s = math.cos(yaw), math.sin(yaw)
        eye = (x + c * cx - s * cy, y + s * cx + c * cy, cz)
        cp, sp = math.cos(cam.pitch), math.sin(cam.pitch)
        forward = (cp * c, cp * s, -sp)
        up = (sp * c, sp * s, cp)
        view = self._p.computeViewMatrix(eye, [eye[i] + forward[i] for i in range(3)], up)
        proj = self._p.computeProjectionMatrixFOV(
            fov=math.degrees(cam.vertical_fov(width, height)), aspect=width / height, nearVal=cam.near, farVal=cam.far)
        if self._floor is None:
            self._floor = _FloorLayer(width, height, cz, cam.pitch, proj)
        _, _, rgba, zbuf, seg_raw = self._p.getCameraImage(
            width, height, view, proj, shadow=0, renderer=pybullet.ER_TINY_RENDERER)
        rgb = np.ascontiguousarray(np.reshape(rgba, (height, width, 4))[:, :, :3]).astype(np.uint8, copy=False)
        zbuf = np.reshape(zbuf, (height, width)).astype(np.float64)
        seg_raw = np.reshape(seg_raw, (height, width)).astype(np.int64)
        self._floor.under(rgb, zbuf, seg_raw, self._floor_body)
        near, far = cam.near, cam.far
        depth = (far * near / (far - (far - near) * zbuf)).astype(np.float32)
        depth[zbuf >= 1.0 - 1e-7] = np.nan  # nothing within `far`
        lut = np.zeros(max(int(seg_raw.max()), max((o.body for o in self._objects.values()), default=0)) + 2,
                       dtype=np.uint16)
        for obj in self._objects.values():
            lut[obj.body + 1] = obj.class_id
        seg = lut[seg_raw + 1]  # -1 (background) -> index 0 -> 0
        return rgb, depth, seg

    def _sync_robot_visual(self) -> None:
        x, y, yaw = self._pose
        self._p.resetBasePositionAndOrientation(self._robot_body, (x, y, 0.0), _yaw_quat(yaw))
        for joint, index in self._robot_joint_index.items():
            self._p.resetJointState(self._robot_body, index, self.joints.position[joint])

    # ------------------------------------------------------------------ building
    def _box(self, half: Sequence[float], pos: Sequence[float], rgba: Sequence[float], yaw: float = 0.0,
             collide: bool = True) -> int:
        col = self._p.createCollisionShape(pybullet.GEOM_BOX, halfExtents=half) if collide else -1
        vis = self._p.createVisualShape(pybullet.GEOM_BOX, halfExtents=half, rgbaColor=rgba)
        return self._p.createMultiBody(0.0, col, vis, pos, _yaw_quat(yaw))

    def _build_room(self) -> None:
        x0, x1, y0, y1 = ROOM
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        hx, hy = (x1 - x0) / 2, (y1 - y0) / 2
        # collides but is invisible to the renderer: render() lays `_FloorLayer` under each frame
        self._floor_body = self._box((hx + 0.1, hy + 0.1, 0.01), (cx, cy, -0.01), (*_COLOURS["floor"][:3], 0.0))
        for pos, half in (((x0 - 0.05, cy, 1.2), (0.05, hy, 1.2)), ((x1 + 0.05, cy, 1.2), (0.05, hy, 1.2)),
                          ((cx, y0 - 0.05, 1.2), (hx, 0.05, 1.2)), ((cx, y1 + 0.05, 1.2), (hx, 0.05, 1.2))):
            self._box(half, pos, _COLOURS["wall"])

    def _build_furniture(self, name: str, pose: Sequence[float]) -> Furniture:
        x, y, yaw = pose
        centre = (x + FURNITURE_DISTANCE * math.cos(yaw), y + FURNITURE_DISTANCE * math.sin(yaw))
        kind = furniture_kind(name)
        f = Furniture(name, kind, centre, yaw, (0, 0), 0.0, 0.0, (0, 0, 0, 0))

        def part(half: Sequence[float], local: Sequence[float], colour: str) -> None:
            wx, wy = f.to_world(local[0], local[1])
            f.body_ids.append(self._box(half, (wx, wy, local[2]), _COLOURS[colour], yaw))

        if kind == "counter":
            f.half, f.support_z, f.top_z = (0.25, 0.6), 0.9, 0.9
            part((0.25, 0.6, 0.45), (0, 0, 0.45), "counter")
            f.footprint = (-0.25, 0.25, -0.6, 0.6)
        elif kind == "table":
            f.half, f.support_z, f.top_z = (0.3, 0.5), 0.75, 0.75
            part((0.3, 0.5, 0.02), (0, 0, 0.73), "table")
            for sx in (-1, 1):
                for sy in (-1, 1):
                    part((0.025, 0.025, 0.355), (sx * 0.26, sy * 0.46, 0.355), "table")
            f.footprint = (-0.3, 0.3, -0.5, 0.5)
        elif kind == "trash":
            wall, height, h = 0.02, 0.5, 0.2
            f.half, f.support_z, f.top_z = (h - wall, h - wall), wall, height
            part((h, h, wall / 2), (0, 0, wall / 2), "trash")
            for sx, sy, hx, hy in ((1, 0, wall / 2, h), (-1, 0, wall / 2, h), (0, 1, h, wall / 2), (0, -1, h, wall / 2)):
                part((hx, hy, height / 2), (sx * (h - wall / 2), sy * (h - wall / 2), height / 2), "trash")
            f.footprint = (-h, h, -h, h)
        else:  # person holding a rimmed tray at 0.9 m out to the robot, room for two things side by side
            f.half, f.support_z, f.top_z = (0.18, 0.22), 0.9, 0.92
            wx, wy = f.to_world(0.42, 0.0)
            col = self._p.createCollisionShape(pybullet.GEOM_CYLINDER, radius=0.18, height=1.55)
            vis = self._p.createVisualShape(pybullet.GEOM_CYLINDER, radius=0.18, length=1.55,
                                            rgbaColor=_COLOURS["person"])
            f.body_ids.append(self._p.createMultiBody(0.0, col, vis, (wx, wy, 0.775)))
            head_vis = self._p.createVisualShape(pybullet.GEOM_SPHERE, radius=0.11, rgbaColor=_COLOURS["skin"])
            f.body_ids.append(self._p.createMultiBody(0.0, -1, head_vis, (wx, wy, 1.68)))
            part((0.2, 0.24, 0.01), (0.0, 0.0, 0.89), "tray")
            for lx, ly, hx, hy in ((0.19, 0, 0.01, 0.24), (-0.19, 0, 0.01, 0.24), (0, 0.23, 0.2, 0.01),
                                   (0, -0.23, 0.2, 0.01)):
                part((hx, hy, 0.02), (lx, ly, 0.91), "tray")
            part((0.03, 0.03, 0.03), (0.23, 0.0, 0.9), "skin")  # forearm from the body to the tray
            f.footprint = (0.24, 0.6, -0.18, 0.18)
        return f

    def _shapes(self, t: ObjectType) -> tuple[int, int]:
        if t.name not in self._shape_cache:
            sx, sy, sz = t.size
            if t.shape == "box":
                col = self._p.createCollisionShape(pybullet.GEOM_BOX, halfExtents=(sx / 2, sy / 2, sz / 2))
                vis = self._p.createVisualShape(pybullet.GEOM_BOX, halfExtents=(sx / 2, sy / 2, sz / 2),
                                                rgbaColor=t.rgba)
            elif t.shape == "cylinder":
                col = self._p.createCollisionShape(pybullet.GEOM_CYLINDER, radius=sx / 2, height=sz)
                vis = self._p.createVisualShape(pybullet.GEOM_CYLINDER, radius=sx / 2, length=sz, rgbaColor=t.rgba)
            else:
                col = self._p.createCollisionShape(pybullet.GEOM_SPHERE, radius=sx / 2)
                vis = self._p.createVisualShape(pybullet.GEOM_SPHERE, radius=sx / 2, rgbaColor=t.rgba)
            self._shape_cache[t.name] = (col, vis)
        return self._shape_cache[t.name]

    def _spawn_on(self, f: Furniture, names: list[str], rng: np.random.Generator) -> None:
        """Lay objects out in rows from the robot's side of the surface, left to right, centred;
        rows that run out of depth start a new layer on top (a full trash can)."""
        gap, margin = 0.10, 0.06
        types = [self.kitchen.objects[base_object_name(n)] for n in names]
        x_start = -f.half[0] + (margin if f.kind in ("counter", "table") else 0.0)
        rows: list[list[int]] = [[]]
        width = 0.0
        for i, t in enumerate(types):
            w = t.size[1]
            if rows[-1] and width + gap + w > 2 * (f.half[1] - margin / 2):
                rows.append([])
                width = 0.0
            width += (gap if rows[-1] else 0.0) + w
            rows[-1].append(i)
        x_row, z_layer, layer_height = x_start, f.support_z, 0.0
        for row in rows:
            depth = max(types[i].size[0] for i in row)
            if x_row + depth > f.half[0] and x_row > x_start:  # no depth left: next layer up
                x_row, z_layer = x_start, z_layer + layer_height + 0.01
                layer_height = 0.0
            total = sum(types[i].size[1] for i in row) + gap * (len(row) - 1)
            ly = total / 2
            for i in row:
                t = types[i]
                ly -= t.size[1] / 2
                lx = x_row + t.size[0] / 2 + rng.uniform(0.0, 0.02)
                wx, wy = f.to_world(lx, ly + rng.uniform(-0.015, 0.015))
                z = z_layer + t.size[2] / 2 + 0.002
                self._add_object(names[i], (wx, wy, z), f.yaw + rng.uniform(-0.15, 0.15))
                ly -= t.size[1] / 2 + gap
                layer_height = max(layer_height, t.size[2])
            x_row += depth + 0.04

    def _add_object(self, name: str, position: tuple[float, float, float], yaw: float) -> _SimObject:
        t = self.kitchen.objects[base_object_name(name)]
        col, vis = self._shapes(t)
        sx, sy, sz = t.size
        mass = float(np.clip(sx * sy * sz * 600.0, 0.03, 0.5))
        body = self._p.createMultiBody(mass, col, vis, position, _yaw_quat(yaw))
        self._p.changeDynamics(body, -1, lateralFriction=0.9, rollingFriction=0.003,
                               spinningFriction=0.003, restitution=0.0)
        obj = self._objects[name] = _SimObject(name, t, body, self.kitchen.object_id(name))
        return obj

    def _spawn_in_gripper(self, name: str) -> None:
        """The object centred between the fingers, which are closed on it, carried as after a pick:
        the lift raised until the object clears every surface top (the executor carries at its
        travel_lift for the same reason). At the home height a long object held beside a table
        reached under its top and was dragged through it by the next lift."""
        clear = max((f.top_z for f in self.furniture.values()), default=0.0)
        carry = clear + 0.5 * self.kitchen.objects[base_object_name(name)].size[2] + CARRY_CLEARANCE
        self.joints.reset({LIFT: max(self.joints.position[LIFT], carry)})
        position, yaw = self._grasp_frame()
        obj = self._add_object(name, position, yaw)
        half = min(self._half_width_across(obj, _yaw_quat(yaw), yaw), self.robot.gripper.max)
        self.joints.reset({LEFT: half, RIGHT: half})
        closed = self.robot.gripper.min
        self.joints.set_trajectory(self.sim_time, [(0.0, {LEFT: closed, RIGHT: closed})])
        self._attach(name, half, may_slip=False)  # an episode's start state, not a grasp that can fail

    def _build_robot(self) -> tuple[int, dict[str, int]]:
        """A visual-only multibody: base, mast, head camera, lift carriage, telescoping arm, fingers."""
        g, p = self.robot, self._p
        mast_x = -0.08
        fl = g.finger_length

        def vis_box(half, offset=(0, 0, 0), colour="robot") -> int:
            return p.createVisualShape(pybullet.GEOM_BOX, halfExtents=half, visualFramePosition=offset,
                                       rgbaColor=_COLOURS[colour])

        base_vis = p.createVisualShape(pybullet.GEOM_CYLINDER, radius=g.base_radius, length=g.base_height,
                                       visualFramePosition=(0, 0, g.base_height / 2), rgbaColor=_COLOURS["robot"])
        cam_x, cam_y, cam_z = g.camera.xyz
        mast_h = cam_z + 0.03
        palm_x = g.arm_offset - fl  # palm front in the arm link frame (x = joint_arm in base_link)
        head_half = (cam_x - 0.01 - mast_x) / 2  # from the mast to just behind the optical centre
        # the carriage carries a fixed sleeve; the arm's inner tube slides out of it (telescoping)
        sleeve_len = palm_x - mast_x - 0.01
        carriage_vis = p.createVisualShapeArray(
            [pybullet.GEOM_BOX, pybullet.GEOM_BOX], halfExtents=[[0.05, 0.06, 0.05], [sleeve_len / 2, 0.025, 0.02]],
            visualFramePositions=[[0, 0, 0], [sleeve_len / 2, 0, 0]],
            rgbaColors=[_COLOURS["robot"], _COLOURS["robot"]])
        tube_len = g.arm.max + 0.02
        arm_vis = p.createVisualShapeArray(
            [pybullet.GEOM_BOX, pybullet.GEOM_BOX],
            halfExtents=[[tube_len / 2, 0.02, 0.015], [0.015, 0.08, 0.025]],
            visualFramePositions=[[palm_x - tube_len / 2, 0, 0], [palm_x - 0.015, 0, 0]],
            rgbaColors=[_COLOURS["robot_light"], _COLOURS["robot"]])
        links = [  # (visual, parent (0 = base, i = link i-1), position in parent, joint type, axis)
            (vis_box((0.04, 0.04, mast_h / 2), (0, 0, mast_h / 2)), 0, (mast_x, 0, 0), pybullet.JOINT_FIXED, (0, 0, 1)),
            (vis_box((head_half, 0.07, 0.03), (-head_half - 0.01, 0, 0)), 0, (cam_x, cam_y, cam_z),
             pybullet.JOINT_FIXED, (0, 0, 1)),
            (carriage_vis, 0, (mast_x, 0, 0), pybullet.JOINT_PRISMATIC, (0, 0, 1)),  # lift carriage
            (arm_vis, 3, (-mast_x, 0, 0), pybullet.JOINT_PRISMATIC, (1, 0, 0)),  # arm
            (vis_box((fl / 2, 0.006, 0.02), (0, 0.006, 0), "finger"), 4, (g.arm_offset - fl / 2, 0, 0),
             pybullet.JOINT_PRISMATIC, (0, 1, 0)),
            (vis_box((fl / 2, 0.006, 0.02), (0, -0.006, 0), "finger"), 4, (g.arm_offset - fl / 2, 0, 0),
             pybullet.JOINT_PRISMATIC, (0, -1, 0)),
        ]
        n = len(links)
        body = p.createMultiBody(
            baseMass=0.0, baseCollisionShapeIndex=-1, baseVisualShapeIndex=base_vis,
            basePosition=(self._start_pose[0], self._start_pose[1], 0.0), baseOrientation=_yaw_quat(self._start_pose[2]),
            linkMasses=[0.1] * n, linkCollisionShapeIndices=[-1] * n, linkVisualShapeIndices=[v for v, *_ in links],
            linkPositions=[pos for _, _, pos, _, _ in links], linkOrientations=[(0, 0, 0, 1)] * n,
            linkInertialFramePositions=[(0, 0, 0)] * n, linkInertialFrameOrientations=[(0, 0, 0, 1)] * n,
            linkParentIndices=[parent for _, parent, _, _, _ in links],
            linkJointTypes=[jt for *_, jt, _ in links], linkJointAxis=[axis for *_, axis in links])
        return body, {LIFT: 2, ARM: 3, LEFT: 4, RIGHT: 5}
