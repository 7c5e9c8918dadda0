"""The skills as state machines over observations: go to, find, pick up, put down, bring, done.

Each skill is a generator: it yields a `Command` per control tick and is sent back the next
`Observation`; `return Outcome(...)` ends it, `raise SkillFailure(code, msg)` ends it with a
typed error. Primitives (move the arm, close the gripper, drive to a pose, take a look) are
generators too and compose with `yield from`. No ROS here: `SkillRunner` drives a skill from any
loop (the node's control loop, or a test feeding synthetic observations).

Success is judged from sensor evidence (SayCan / Inner Monologue style): the odometry pose for
navigation, the segmentation for find, the finger joints for grasping and releasing.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Generator, TypeVar

import numpy as np

from saycan_ros.core.kitchen import Kitchen
from saycan_ros.core.robot_geometry import (ARM, LEFT, LIFT, RIGHT, RobotGeometry, finger_opening,
                                            fingers_hold_something)
from saycan_ros.skills import surface
from saycan_ros.skills.config import ExecutorConfig
from saycan_ros.skills.controllers import GoToController
from saycan_ros.skills.perceive import thrown_away_check
from saycan_ros.core.pose import Pose2D
from saycan_ros.skills.types import (STOP, Command, ErrorCode, JointTarget, Observation, Outcome, Percept,
                                     SeenObject, SkillFailure, wrap_angle)

T = TypeVar("T")
Behaviour = Generator[Command, Observation, T]


@dataclass
class HeldObject:
    name: str
    grasp_above_bottom: float  # how far above the object's bottom the fingers hold it


class Skills:
    """Builds skill generators for one robot. Keeps what only the executor knows across goals: the
    last gripper command it sent and what it believes it holds."""

    def __init__(self, kitchen: Kitchen, robot: RobotGeometry, config: ExecutorConfig = ExecutorConfig()):
        self.kitchen = kitchen
        self.robot = robot
        self.cfg = config
        self.obs = Observation(t=0.0)
        self.gripper_target: float | None = None  # None: not commanded since start (unknown)
        self.held: HeldObject | None = None
        self._t_start = 0.0

    # ---------------------------------------------------------------------------- entry point
    def skill(self, kind: str, obj: str = "", location: str = "") -> Behaviour[Outcome]:
        """The behaviour for a validated goal (see goals.resolve_goal)."""
        makers: dict[str, Callable[[], Behaviour[Outcome]]] = {
            "go_to": lambda: self.go_to(location),
            "find": lambda: self.find(obj),
            "pick": lambda: self.pick(obj),
            "place": lambda: self.place(obj),
            "bring": lambda: self.bring(),
            "done": lambda: self.done(),
        }
        if kind not in makers:
            raise SkillFailure(ErrorCode.UNKNOWN_SKILL, f"unknown skill kind '{kind}'")
        return makers[kind]()

    # ---------------------------------------------------------------------------- state from sensors
    def finger_opening(self) -> float | None:
        return finger_opening(self.obs.joints)

    def holding(self) -> bool:
        """Something is between the fingers: they were told to close and stopped short of closed.

        Fully open fingers hold nothing; so do fully closed ones (a missed grasp). When the executor
        has not commanded the gripper since it started, the opening alone decides.
        """
        return fingers_hold_something(self.finger_opening(), self.gripper_target, self.robot.gripper.max,
                                      self.robot.closed_threshold, self.cfg.hold_min_opening, self.cfg.open_margin)

    def here(self) -> str | None:
        """The location whose pose the robot stands at (within at_location_radius), if any."""
        pose = self.obs.pose
        if pose is None:
            return None
        best = min(self.kitchen.locations.values(), key=lambda loc: math.hypot(loc.pose[0] - pose.x, loc.pose[1] - pose.y))
        d = math.hypot(best.pose[0] - pose.x, best.pose[1] - pose.y)
        return best.name if d <= self.cfg.at_location_radius else None

    # ---------------------------------------------------------------------------- primitives
    def _check_sensors(self, pose: bool = True, joints: bool = True) -> None:
        """NO_SENSOR_DATA once a needed stream has been silent for sensor_timeout_s (counting from
        the goal's start, so a node that just came up gets the full grace period)."""
        o = self.obs
        waited = o.t - self._t_start
        limit = self.cfg.sensor_timeout_s
        if pose and o.pose_age > limit and waited > limit:
            raise SkillFailure(ErrorCode.NO_SENSOR_DATA, f"no odometry ('odom') for {min(o.pose_age, waited):.1f} s")
        if joints and o.joints_age > limit and waited > limit:
            raise SkillFailure(ErrorCode.NO_SENSOR_DATA, f"no joint states ('joint_states') for {min(o.joints_age, waited):.1f} s")

    def wait_ready(self, phase: str, pose: bool = True, joints: bool = True) -> Behaviour[None]:
        """Wait until odom and joint_states (as needed) have arrived at least once."""
        self._t_start = self.obs.t
        while (pose and self.obs.pose is None) or (joints and (not self.obs.joints or self.finger_opening() is None
                                                                or LIFT not in self.obs.joints)):
            self._check_sensors(pose, joints)
            yield Command(phase=phase, progress=0.0)

    def hold_still(self, seconds: float, phase: str, progress: float) -> Behaviour[None]:
        t_end = self.obs.t + seconds
        while self.obs.t < t_end:
            yield Command(phase=phase, progress=progress)

    def move_arm(self, lift: float | None, arm: float | None, phase: str, progress: float) -> Behaviour[bool]:
        """Send lift/arm targets (clamped to the limits) and wait until reached; False if the joints
        stopped short (blocked) or took far longer than their speed limits allow."""
        self._check_sensors(pose=False)
        j = self.obs.joints
        lift = self.robot.lift.clamp(j[LIFT] if lift is None else lift)
        arm = self.robot.arm.clamp(j[ARM] if arm is None else arm)
        travel = max(abs(lift - j[LIFT]) / self.robot.lift.max_speed, abs(arm - j[ARM]) / self.robot.arm.max_speed)
        if abs(lift - j[LIFT]) <= self.cfg.joint_tolerance and abs(arm - j[ARM]) <= self.cfg.joint_tolerance:
            return True
        duration = 1.1 * travel + 0.1
        yield Command(arm=JointTarget(lift, arm, duration), phase=phase, progress=progress)
        t0 = self.obs.t
        last, last_change = (j[LIFT], j[ARM]), self.obs.t
        while True:
            self._check_sensors(pose=False)
            j = self.obs.joints
            now = (j[LIFT], j[ARM])
            if abs(now[0] - lift) <= self.cfg.joint_tolerance and abs(now[1] - arm) <= self.cfg.joint_tolerance:
                return True
            if max(abs(now[0] - last[0]), abs(now[1] - last[1])) > 0.002:
                last, last_change = now, self.obs.t
            elapsed = self.obs.t - t0
            if elapsed > duration + 0.5 and self.obs.t - last_change > self.cfg.joint_stall_s:
                return False  # stalled: something is in the way
            if elapsed > 2.0 * duration + 2.0 * self.cfg.joint_stall_s + 5.0:
                return False
            yield Command(phase=phase, progress=progress)

    def move_gripper(self, opening: float, phase: str, progress: float) -> Behaviour[float]:
        """Send a finger opening and wait until the fingers reach it or stop (on an object).
        Returns the final mean opening."""
        lim = self.robot.gripper
        opening = lim.clamp(opening)
        self.gripper_target = opening
        start = self.finger_opening() or 0.0
        duration = abs(opening - start) / lim.max_speed * 1.1 + 0.1
        yield Command(gripper=(opening, duration), phase=phase, progress=progress)
        t0 = self.obs.t
        last, last_change = start, self.obs.t
        while True:
            self._check_sensors(pose=False)
            now = self.finger_opening() or 0.0
            if abs(now - opening) <= 0.001:
                return now
            if abs(now - last) > 0.0005:
                last, last_change = now, self.obs.t
            elapsed = self.obs.t - t0
            if elapsed > 0.3 and self.obs.t - last_change > 0.5:
                return now  # stopped: fingers rest on an object (or the gripper is stuck)
            if elapsed > 2.0 * duration + 3.0:
                return now
            yield Command(phase=phase, progress=progress)

    def stow(self, phase: str, progress: float) -> Behaviour[None]:
        """Travel pose: arm retracted first (nothing sweeps over a counter while lifting), then the
        lift at travel height. The gripper keeps what it holds."""
        if not (yield from self.move_arm(None, self.robot.arm.min, phase, progress)):
            raise SkillFailure(ErrorCode.UNKNOWN, "the arm did not retract (blocked?)")
        if not (yield from self.move_arm(self.cfg.travel_lift, None, phase, progress)):
            raise SkillFailure(ErrorCode.UNKNOWN, "the lift did not reach travel height (blocked?)")

    def drive_to(self, goal: Pose2D, phase: str, p0: float, p1: float) -> Behaviour[None]:
        """Drive to a pose with the go-to controller; NAVIGATION_FAILED when stuck (no progress for
        stuck_timeout_s, e.g. against furniture)."""
        ctl = GoToController(goal, self.cfg.limits, self.cfg.tolerance)
        dt = 1.0 / self.cfg.control_rate_hz
        pose = self.obs.pose
        total = max(pose.distance_to(goal) + 0.3 * abs(wrap_angle(goal.yaw - pose.yaw)), 1e-3)
        best, best_t = math.inf, self.obs.t
        last_t = self.obs.t
        while True:
            self._check_sensors(joints=False)
            pose = self.obs.pose
            dt = max(1e-3, min(0.2, self.obs.t - last_t)) if self.obs.t > last_t else dt
            last_t = self.obs.t
            v, w = ctl.update(pose, dt)
            if ctl.done:
                yield Command(phase=f"{phase} (arrived)", progress=p1)  # stop here, also inside longer skills
                return
            d, yaw_err = ctl.remaining(pose)
            left = d + 0.3 * yaw_err
            if left < best - 0.01:
                best, best_t = left, self.obs.t
            elif self.obs.t - best_t > self.cfg.stuck_timeout_s:
                raise SkillFailure(ErrorCode.NAVIGATION_FAILED,
                                   f"stuck {d:.2f} m / {math.degrees(yaw_err):.0f} deg from the goal "
                                   f"(no progress for {self.cfg.stuck_timeout_s:.0f} s)")
            progress = p0 + (p1 - p0) * max(0.0, min(1.0, 1.0 - left / total))
            yield Command(twist=(v, w), phase=f"{phase} ({ctl.phase})", progress=progress)

    def turn_to(self, yaw: float, phase: str, progress: float) -> Behaviour[None]:
        pose = self.obs.pose
        yield from self.drive_to(Pose2D(pose.x, pose.y, wrap_angle(yaw)), phase, progress, progress)

    def drive_straight(self, distance: float, phase: str, progress: float) -> Behaviour[bool]:
        """Move the base forward (or back, distance < 0) keeping its heading; False if blocked."""
        pose = self.obs.pose
        x, y = pose.to_world(distance, 0.0)
        try:
            yield from self.drive_to(Pose2D(x, y, pose.yaw), phase, progress, progress)
        except SkillFailure as exc:
            if exc.code != ErrorCode.NAVIGATION_FAILED:
                raise
            return False
        return True

    def look(self, phase: str, progress: float) -> Behaviour[Percept]:
        """Stand still, then take one frame; NO_SENSOR_DATA if none comes."""
        yield from self.hold_still(self.cfg.settle_s, phase, progress)
        yield Command(look=True, phase=phase, progress=progress)
        t0 = self.obs.t
        while self.obs.percept is None:
            waited = self.obs.t - t0
            if waited > self.cfg.sensor_timeout_s:
                raise SkillFailure(ErrorCode.NO_SENSOR_DATA,
                                   f"no camera frame (depth + segmentation + camera_info) for {waited:.1f} s")
            yield Command(phase=phase, progress=progress)
        return self.obs.percept

    def scan_for(self, name: str, phase: str, progress: float, center_yaw: float | None = None) -> Behaviour[SeenObject | None]:
        """Look ahead, then left and right of `center_yaw` (default: the current heading)."""
        yaw0 = self.obs.pose.yaw if center_yaw is None else center_yaw
        for offset in (0.0, self.cfg.scan_angle, -self.cfg.scan_angle):
            if offset or abs(wrap_angle(yaw0 - self.obs.pose.yaw)) > self.cfg.tolerance.yaw:
                yield from self.turn_to(yaw0 + offset, f"{phase}: turning to look", progress)
            seen = self._usable(name, (yield from self.look(phase, progress)))
            if seen is not None:
                return seen
        return None

    def _usable(self, name: str, percept: Percept) -> SeenObject | None:
        """`name` as `percept` shows it, unless it lies in a container (within container_radius of a
        drop location's work point): thrown away, it is neither found nor picked up again."""
        seen = percept.find(name)
        if seen is None or seen.position_base is None or self.obs.pose is None:
            return seen
        thrown = thrown_away_check(self.kitchen, self.cfg, self.robot, self.obs.pose)
        return None if thrown is not None and thrown(seen.position_base) else seen

    # ---------------------------------------------------------------------------- skills
    def done(self) -> Behaviour[Outcome]:
        yield Command(phase="done: stopping", progress=1.0)
        return Outcome.ok("done")

    def go_to(self, location: str) -> Behaviour[Outcome]:
        yield from self.wait_ready(f"go to the {location}: waiting for odometry")
        yield from self.stow(f"go to the {location}: stowing the arm", 0.05)
        goal = Pose2D(*self.kitchen.locations[location].pose)
        yield from self.drive_to(goal, f"go to the {location}: driving", 0.1, 1.0)
        d, yaw_err = goal.distance_to(self.obs.pose), abs(wrap_angle(goal.yaw - self.obs.pose.yaw))
        return Outcome.ok(f"reached the {location} ({d * 100:.0f} cm, {math.degrees(yaw_err):.0f} deg off)")

    def bring(self) -> Behaviour[Outcome]:
        yield from self.wait_ready("bring it to you: waiting for sensors")
        if not self.holding():
            raise SkillFailure(ErrorCode.PRECONDITION_FAILED, "bring it to you: the gripper holds nothing")
        yield from self.go_to("user")
        if not self.holding():
            raise SkillFailure(ErrorCode.GRASP_FAILED, "dropped the object on the way to the user")
        return Outcome.ok(f"at the user, holding {self.held.name if self.held else 'the object'}")

    def search_plan(self) -> list[str]:
        """Locations to search: the nearest of the search order first, then the rest in order."""
        order = [n for n in self.cfg.search_order if n in self.kitchen.locations]
        if not order:
            return []
        pose = self.obs.pose
        nearest = min(order, key=lambda n: math.hypot(self.kitchen.locations[n].pose[0] - pose.x,
                                                       self.kitchen.locations[n].pose[1] - pose.y))
        return [nearest] + [n for n in order if n != nearest]

    def find(self, name: str) -> Behaviour[Outcome]:
        yield from self.wait_ready(f"find {name}: waiting for sensors")
        phase = f"find {name}"
        seen = self._usable(name, (yield from self.look(f"{phase}: looking", 0.02)))
        if seen is not None:
            closer = self._work_location_for(seen)
            if closer is None:
                return Outcome.ok(f"the {name} is in view")
            # In view but farther than pick's short approach can make up: 'find' leaves the robot
            # ready to manipulate, so go to the work location in front of it and look again.
            goal = Pose2D(*self.kitchen.locations[closer].pose)
            yield from self.stow(f"{phase}: stowing the arm", 0.05)
            try:
                yield from self.drive_to(goal, f"{phase}: going to the {closer} (in view, out of reach)", 0.1, 0.8)
                if (yield from self.scan_for(name, f"{phase}: looking at the {closer}", 0.9, goal.yaw)) is not None:
                    return Outcome.ok(f"the {name} is in view at the {closer}")
            except SkillFailure as exc:  # blocked on the way: search as if it had not been seen
                if exc.code != ErrorCode.NAVIGATION_FAILED:
                    raise
        here = self.here()
        plan = self.search_plan()
        if here in plan:  # search here first: no driving
            plan = [here] + [n for n in plan if n != here]
        for i, loc in enumerate(plan):
            p0, p1 = 0.05 + 0.95 * i / len(plan), 0.05 + 0.95 * (i + 1) / len(plan)
            goal = Pose2D(*self.kitchen.locations[loc].pose)
            if loc != here:
                yield from self.stow(f"{phase}: stowing the arm", p0)
                try:
                    yield from self.drive_to(goal, f"{phase}: going to the {loc}", p0, p0 + 0.7 * (p1 - p0))
                except SkillFailure as exc:  # an unreachable place doesn't end the search
                    if exc.code != ErrorCode.NAVIGATION_FAILED:
                        raise
                    continue
            seen = yield from self.scan_for(name, f"{phase}: looking at the {loc}", p0 + 0.8 * (p1 - p0), goal.yaw)
            if seen is not None:
                return Outcome.ok(f"the {name} is in view at the {loc}")
        raise SkillFailure(ErrorCode.OBJECT_NOT_FOUND,
                           f"the {name} was not seen at any of: {', '.join(plan) or '(no search locations)'}")

    def _work_location_for(self, seen: SeenObject) -> str | None:
        """The search location to stand at for manipulating `seen`, when it is beyond what pick's
        approach (max_approach_adjust past the arm's reach) covers from here; None when within it."""
        if seen.position_base is None:
            return None  # no depth: no distance to judge
        x, y = seen.position_base[0], seen.position_base[1]
        near, far = self._reach_x()
        if math.hypot(x, y) <= far + self.cfg.max_approach_adjust:
            return None
        xy = self.obs.pose.to_world(x, y)

        def miss(loc: str) -> float:
            return math.dist(self.kitchen.work_point(loc, 0.5 * (near + far)), xy)
        candidates = [n for n in self.cfg.search_order if n in self.kitchen.locations]
        best = min(candidates, key=miss, default=None)
        if best is None or best == self.here() or miss(best) > self.cfg.work_location_radius:
            return None  # on no search location's surface (e.g. in the trash can): leave it to pick
        return best

    def _reach_x(self) -> tuple[float, float]:
        near, far = self.robot.reach
        return near + self.cfg.reach_margin, far - self.cfg.reach_margin

    def _locate(self, name: str, phase: str, progress: float, scan: bool) -> Behaviour[surface.ObjectEstimate]:
        percept = yield from self.look(phase, progress)
        seen = self._usable(name, percept)
        if seen is None and scan:
            seen = yield from self.scan_for(name, phase, progress)
            percept = self.obs.percept or percept
        if seen is None:
            raise SkillFailure(ErrorCode.OBJECT_NOT_FOUND, f"the {name} is not in view")
        if seen.position_base is None:
            raise SkillFailure(ErrorCode.OBJECT_NOT_FOUND, f"the {name} is in view but has no depth")
        size = self.kitchen.objects[name].size
        cam = self.robot.camera.xyz
        return surface.estimate_object(seen.position_base, percept.object_points.get(name), percept.surface_points,
                                       0.5 * min(size[0], size[1]), (cam[0], cam[1]), self._gripper_view_x())

    def pick(self, name: str) -> Behaviour[Outcome]:
        phase = f"pick up the {name}"
        yield from self.wait_ready(f"{phase}: waiting for sensors")
        if self.holding():
            held = self.held.name if self.held else f"something (fingers at {self.finger_opening():.3f} m)"
            raise SkillFailure(ErrorCode.PRECONDITION_FAILED, f"already holding {held}")
        self.held = None
        yield from self.move_gripper(self.robot.gripper.max, f"{phase}: opening the gripper", 0.02)
        # Not in view: look around here, but don't wander off (that is what 'find' is for).
        est = yield from self._locate(name, f"{phase}: locating", 0.05, scan=True)
        last = self.obs.percept
        near, far = self._reach_x()
        for attempt in range(3):  # align / approach, then measure again from the new pose
            bearing = math.atan2(est.y, est.x)
            if abs(est.y) <= self.cfg.align_lateral and near <= est.x <= far:
                break
            if abs(est.y) > self.cfg.align_lateral:
                yield from self.turn_to(self.obs.pose.yaw + bearing, f"{phase}: turning to face it", 0.1)
            dist_x = math.hypot(est.x, est.y)
            if not near <= dist_x <= far:
                move = self._approach(dist_x - (near + far) / 2.0, self.obs.percept or last)
                if abs(move) >= 0.01:
                    yield from self.drive_straight(move, f"{phase}: moving into reach", 0.15)
            est = yield from self._locate(name, f"{phase}: locating", 0.2, scan=False)
            last = self.obs.percept
        if not near - self.cfg.reach_margin <= est.x <= far + self.cfg.reach_margin:
            raise SkillFailure(ErrorCode.GRASP_FAILED,
                               f"the {name} is {est.x:.2f} m ahead, outside the arm's reach [{near:.2f}, {far:.2f}]")
        height = self.kitchen.objects[name].size[2]
        support = est.support if est.support is not None else est.top - height
        grasp_z = support + max(self.cfg.min_grasp_height, 0.5 * (est.top - support))
        arm = est.x - self.robot.arm_offset
        if not (yield from self.move_arm(grasp_z + self.cfg.pre_grasp_clearance, None, f"{phase}: lift to the {name}", 0.3)):
            raise SkillFailure(ErrorCode.GRASP_FAILED, "the lift was blocked on the way to the grasp height")
        if not (yield from self.move_arm(None, arm, f"{phase}: reaching", 0.45)):
            yield from self.move_arm(None, self.robot.arm.min, f"{phase}: retracting", 0.5)
            raise SkillFailure(ErrorCode.GRASP_FAILED, "the arm was blocked while reaching")
        yield from self.move_arm(grasp_z, None, f"{phase}: lowering to grasp", 0.55)
        opening = yield from self.move_gripper(self.robot.gripper.min, f"{phase}: closing the gripper", 0.65)
        if opening <= self.cfg.hold_min_opening:
            yield from self.move_gripper(self.robot.gripper.max, f"{phase}: missed, opening", 0.7)
            yield from self.stow(f"{phase}: missed, retracting", 0.75)
            raise SkillFailure(ErrorCode.GRASP_FAILED,
                               f"the fingers closed fully ({opening * 1000:.1f} mm): missed the {name}")
        self.held = HeldObject(name, grasp_z - support)
        yield from self.move_arm(grasp_z + self.cfg.lift_after_grasp, None, f"{phase}: lifting", 0.75)
        yield from self.stow(f"{phase}: retracting to carry", 0.85)
        yield from self.hold_still(0.2, f"{phase}: checking the grasp", 0.95)
        if not self.holding():
            self.held = None
            raise SkillFailure(ErrorCode.GRASP_FAILED, f"lost the {name} while lifting it (fingers at "
                               f"{(self.finger_opening() or 0.0) * 1000:.1f} mm)")
        return Outcome.ok(f"holding the {name} (fingers at {self.finger_opening() * 1000:.0f} mm)")

    def _approach(self, move: float, percept: Percept | None) -> float:
        """A base move toward/away from a target, bounded by max_approach_adjust and, forward, by the
        free space the camera sees in front of the base (furniture edges, with a 5 cm margin)."""
        move = max(-self.cfg.max_approach_adjust, min(self.cfg.max_approach_adjust, move))
        if move > 0.0 and percept is not None:
            pts = np.concatenate([percept.points_base, *[p for p in percept.object_points.values() if len(p)]])
            free = surface.free_distance_ahead(pts, self.robot.base_radius + 0.03) - self.robot.base_radius - 0.05
            move = max(0.0, min(move, free))
        return move

    def _gripper_view_x(self) -> float:
        """Nearer than this (base x) the camera may see the robot's own retracted gripper: its points
        are no surface to measure."""
        return self.robot.arm_offset + 0.06

    def _footprint_radius(self, name: str) -> float:
        t = self.kitchen.objects[name]
        return 0.5 * math.hypot(t.size[0], t.size[1]) if t.shape == "box" else 0.5 * t.size[0]

    def _obstacle_points(self, percept: Percept, held: str) -> np.ndarray:
        """Every seen point but the held object's: other objects and the background."""
        others = [pts for n, pts in percept.object_points.items() if n != held and len(pts)]
        return np.concatenate(others + [percept.points_base]) if others else percept.points_base

    def _free_spot(self, percept: Percept, held: str, x_min: float, near: float,
                   far: float) -> tuple[float, tuple[float, float]] | None:
        """(surface height, spot x/y in base_link) for putting `held` down, from one frame."""
        top = surface.support_surface(percept.surface_points, x_min, far + 0.15, 0.35)
        if top is None:
            return None
        radius = self._footprint_radius(held)
        # Obstacles: other objects, and anything standing above the surface (rims, walls, people).
        others = [pts[:, :2] for n, pts in percept.object_points.items() if n != held and len(pts)]
        bg = percept.points_base
        raised = bg[(bg[:, 2] > top.height + 0.015) & (bg[:, 0] >= x_min)][:, :2] if len(bg) else np.zeros((0, 2))
        obstacles = np.concatenate(others + [raised]) if others or len(raised) else np.zeros((0, 2))
        # leave room beside it for the kitchen's largest object, where the surface allows (a tray)
        largest = max((self._footprint_radius(n) for n in self.kitchen.objects), default=0.0)
        spot = surface.free_spot(top, percept.surface_points, obstacles, reach=(near, far), radius=radius,
                                 preferred_x=top.near_x + self.cfg.place_inset, keep_room=largest)
        return None if spot is None else (top.height, spot)

    def place(self, name: str) -> Behaviour[Outcome]:
        phase = f"put down the {name}"
        yield from self.wait_ready(f"{phase}: waiting for sensors")
        if not self.holding():
            raise SkillFailure(ErrorCode.PRECONDITION_FAILED, "not holding anything to put down")
        if self.held is not None and self.held.name != name:
            raise SkillFailure(ErrorCode.PRECONDITION_FAILED, f"holding the {self.held.name}, not the {name}")
        height = self.kitchen.objects[name].size[2]
        hold = self.held.grasp_above_bottom if self.held else 0.5 * height
        near, far = self._reach_x()
        drop = self.here() in self.cfg.drop_locations
        percept = yield from self.look(f"{phase}: looking at the surface", 0.05)
        x_min = self._gripper_view_x()
        if drop:  # a container: release above the middle of its opening
            top = surface.rim(percept.points_base, x_min, far + 0.2, 0.3)
            if top is None:
                raise SkillFailure(ErrorCode.PLACE_FAILED, "no container in front of the robot to drop into")
            bearing = math.atan2(top.center[1], top.center[0])
            if abs(top.center[1]) > self.cfg.align_lateral:
                yield from self.turn_to(self.obs.pose.yaw + bearing, f"{phase}: turning to the opening", 0.1)
                percept = yield from self.look(f"{phase}: looking at the opening", 0.15)
                top = surface.rim(percept.points_base, x_min, far + 0.2, 0.3) or top
            target_x = math.hypot(*top.center)
            sweep_to = top.center
            if not near <= target_x <= far:  # the opening's middle out of reach: step the base
                move = self._approach(target_x - max(near, min(far, target_x)), percept)
                yield from self.drive_straight(move, f"{phase}: moving into reach", 0.2)
                target_x -= move
            release_z = top.height + self.cfg.drop_margin + hold
            what = "dropping"
        else:  # a surface: a free spot on it, in reach
            spot = self._free_spot(percept, name, x_min, near, far)
            if spot is None:  # maybe the surface starts beyond reach: step closer once and look again
                top = surface.support_surface(percept.surface_points, x_min, far + 0.6, 0.35)
                if top is not None and top.near_x + self.cfg.place_inset > far:
                    move = self._approach(top.near_x + self.cfg.place_inset - (near + far) / 2, percept)
                    yield from self.drive_straight(move, f"{phase}: moving closer", 0.1)
                    percept = yield from self.look(f"{phase}: looking at the surface", 0.15)
                    spot = self._free_spot(percept, name, x_min, near, far)
            if spot is None:
                raise SkillFailure(ErrorCode.PLACE_FAILED, "no free spot on a surface within reach in front of the robot")
            level, (sx, sy) = spot
            if abs(sy) > self.cfg.align_lateral:
                yield from self.turn_to(self.obs.pose.yaw + math.atan2(sy, sx), f"{phase}: turning to a free spot", 0.1)
            target_x = math.hypot(sx, sy)
            sweep_to = (sx, sy)
            release_z = level + self.cfg.place_margin + hold
            what = "placing"
        arm = max(near, min(far, target_x)) - self.robot.arm_offset
        # Carry the object over everything the arm sweeps across (other objects, rims), then lower.
        radius = self._footprint_radius(name)
        carry = release_z + self.cfg.pre_grasp_clearance
        highest = surface.highest_along(self._obstacle_points(percept, name), sweep_to, radius + 0.03, x_min)
        if highest is not None:
            carry = max(carry, highest + self.cfg.pre_grasp_clearance + hold)
        if not (yield from self.move_arm(max(carry, self.obs.joints[LIFT]), None, f"{phase}: lifting over the surface", 0.3)):
            raise SkillFailure(ErrorCode.PLACE_FAILED, "the lift was blocked")
        if not (yield from self.move_arm(None, arm, f"{phase}: reaching out", 0.45)):
            yield from self.move_arm(None, self.robot.arm.min, f"{phase}: retracting", 0.5)
            raise SkillFailure(ErrorCode.PLACE_FAILED, "the arm was blocked while reaching out")
        yield from self.move_arm(release_z, None, f"{phase}: lowering", 0.6)  # may stop early on the surface
        opening = yield from self.move_gripper(self.robot.gripper.max, f"{phase}: {what}: opening the gripper", 0.7)
        empty = opening >= self.robot.gripper.max - self.cfg.open_margin
        # Fingers up to the carry height before retracting: they'd sweep through whatever we passed over.
        yield from self.move_arm(max(carry, self.obs.joints[LIFT] + self.cfg.pre_grasp_clearance), None,
                                 f"{phase}: clearing", 0.8)
        yield from self.stow(f"{phase}: retracting", 0.9)
        if not empty:
            raise SkillFailure(ErrorCode.PLACE_FAILED,
                               f"the gripper did not open (fingers at {opening * 1000:.0f} mm): still holding?")
        self.held = None
        where = self.here() or "surface in front"
        return Outcome.ok(f"{'dropped' if drop else 'put'} the {name} {'into' if drop else 'on'} the {where}; gripper empty")


class SkillRunner:
    """Drives one skill generator: one `step(observation)` per control tick returns the tick's
    Command, or the final Outcome. Enforces the skill's deadline (`timeout_code` on expiry)."""

    def __init__(self, skills: Skills, behaviour: Behaviour[Outcome], timeout_s: float,
                 timeout_code: ErrorCode = ErrorCode.TIMEOUT, what: str = "skill"):
        self.skills = skills
        self.behaviour = behaviour
        self.timeout_s = timeout_s
        self.timeout_code = timeout_code
        self.what = what
        self.t0: float | None = None
        self.last = STOP
        self._started = False

    def step(self, obs: Observation) -> Command | Outcome:
        self.skills.obs = obs
        if self.t0 is None:
            self.t0 = obs.t
        if obs.t - self.t0 > self.timeout_s:
            self.behaviour.close()
            return Outcome.fail(self.timeout_code, f"{self.what}: not finished after {self.timeout_s:.0f} s")
        try:
            cmd = self.behaviour.send(obs) if self._started else next(self.behaviour)
            self._started = True
        except StopIteration as stop:
            return stop.value if isinstance(stop.value, Outcome) else Outcome.ok()
        except SkillFailure as exc:
            return Outcome.fail(exc.code, exc.message)
        self.last = cmd
        return cmd


def run_skill(skills: Skills, kind: str, obj: str = "", location: str = "", timeout_s: float | None = None) -> SkillRunner:
    """A runner for a validated goal with the configured per-kind timeout (go_to: NAVIGATION_FAILED)."""
    behaviour = skills.skill(kind, obj, location)
    timeout = timeout_s if timeout_s and timeout_s > 0 else skills.cfg.timeout(kind)
    code = ErrorCode.NAVIGATION_FAILED if kind in ("go_to", "bring") else ErrorCode.TIMEOUT
    what = {"go_to": f"go to the {location}", "bring": "bring it to you"}.get(kind, kind)
    return SkillRunner(skills, behaviour, timeout, code, what)
