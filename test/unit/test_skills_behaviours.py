"""The skill state machines against a small kinematic fake robot with synthetic percepts: the pick
sequence's targets, grasp verification, preconditions, search order, sensor loss and timeouts."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pytest

from saycan_ros.core.kitchen import load_kitchen
from saycan_ros.core.robot_geometry import ARM, LEFT, LIFT, RIGHT, load_robot_geometry
from saycan_ros.skills.behaviours import HeldObject, Skills, run_skill
from saycan_ros.skills.config import ExecutorConfig
from saycan_ros.skills.controllers import simulate_unicycle
from saycan_ros.core.pose import Pose2D
from saycan_ros.skills.types import Command, ErrorCode, Observation, Outcome, Percept, SeenObject, wrap_angle

KITCHEN = load_kitchen()
ROBOT = load_robot_geometry()
DT = 0.05
COUNTER_Z = 0.9


@dataclass
class Thing:
    name: str
    xyz: list[float]   # world centre
    radius: float
    height: float


@dataclass
class FakeRobot:
    """A unicycle base, speed-limited joints, a gripper that stops on an object between its fingers,
    and a camera that sees things within 35 deg and 2 m. A counter top at COUNTER_Z spans the
    world region `counter` (x0, x1, y0, y1)."""

    pose: Pose2D = Pose2D(0.0, 0.0, 0.0)
    joints: dict = field(default_factory=lambda: {LIFT: 0.95, ARM: 0.0, LEFT: 0.06, RIGHT: 0.06})
    things: list[Thing] = field(default_factory=list)
    counter: tuple[float, float, float, float] = (0.3, 0.8, -0.6, 0.6)
    odom: bool = True
    camera: bool = True
    stuck: bool = False
    t: float = 0.0
    held: Thing | None = None
    targets: dict = field(default_factory=dict)
    log: list[Command] = field(default_factory=list)
    _percept_due: bool = False

    def observe(self) -> Observation:
        percept = self._percept() if self._percept_due and self.camera else None
        if percept is not None:
            self._percept_due = False
        return Observation(t=self.t, pose=self.pose if self.odom else None, pose_age=0.0 if self.odom else math.inf,
                           joints=dict(self.joints), joints_age=0.0, camera_age=0.0, percept=percept)

    def grasp_point(self) -> tuple[float, float, float]:
        x, y = self.pose.to_world(ROBOT.arm_offset + self.joints[ARM], 0.0)
        return x, y, self.joints[LIFT]

    def apply(self, cmd: Command) -> None:
        self.log.append(cmd)
        if not self.stuck:
            self.pose = simulate_unicycle(self.pose, *cmd.twist, DT)
        if cmd.arm:
            self.targets.update({LIFT: cmd.arm.lift, ARM: cmd.arm.arm})
        if cmd.gripper:
            self.targets.update({LEFT: cmd.gripper[0], RIGHT: cmd.gripper[0]})
        for j, target in self.targets.items():
            speed = ROBOT.limits(j).max_speed
            floor = None
            if j in (LEFT, RIGHT) and target < ROBOT.closed_threshold:
                thing = self.held or self._between_fingers()
                if thing is not None:
                    self.held, floor = thing, thing.radius
            elif j in (LEFT, RIGHT):
                self.held = None
            goal = max(target, floor) if floor is not None else target
            self.joints[j] += max(-speed * DT, min(speed * DT, goal - self.joints[j]))
        if self.held is not None:
            self.held.xyz = list(self.grasp_point())
        if cmd.look:
            self._percept_due = True
        self.t += DT

    def _between_fingers(self) -> Thing | None:
        gx, gy, gz = self.grasp_point()
        for thing in self.things:
            if math.dist((gx, gy, gz), thing.xyz) < ROBOT.grasp_tolerance:
                return thing
        return None

    def _percept(self) -> Percept:
        objects, object_points = [], {}
        for thing in self.things:
            bx, by = self.pose.to_base(thing.xyz[0], thing.xyz[1])
            if thing is self.held or not (0.2 < bx < 2.0 and abs(math.atan2(by, bx)) < math.radians(35)):
                continue
            # visible points: the near half of the object, a little in front of its centre
            ang = np.linspace(-1.2, 1.2, 9)
            pts = np.array([[bx - thing.radius * math.cos(a) * 0.6, by + thing.radius * math.sin(a),
                             thing.xyz[2] + dz] for a in ang for dz in (-0.5 * thing.height, 0.0, 0.45 * thing.height)])
            objects.append(SeenObject(thing.name, 900, (bx - 0.5 * thing.radius, by, thing.xyz[2])))
            object_points[thing.name] = pts
        x0, x1, y0, y1 = self.counter
        gx, gy = np.meshgrid(np.arange(x0, x1, 0.01), np.arange(y0, y1, 0.01), indexing="ij")
        world = np.stack([gx.ravel(), gy.ravel()], axis=1)
        for thing in self.things:  # objects hide the counter under them
            world = world[np.hypot(world[:, 0] - thing.xyz[0], world[:, 1] - thing.xyz[1]) > thing.radius]
        base = np.array([self.pose.to_base(x, y) for x, y in world]).reshape(-1, 2)
        keep = (base[:, 0] > 0.2) & (np.abs(np.arctan2(base[:, 1], base[:, 0])) < math.radians(35))
        top = np.column_stack([base[keep], np.full(keep.sum(), COUNTER_Z)])
        return Percept(tuple(objects), top, top, object_points)


def run(robot: FakeRobot, skills: Skills, kind: str, obj: str = "", location: str = "", timeout: float = 120.0) -> Outcome:
    runner = run_skill(skills, kind, obj, location, timeout)
    while True:
        out = runner.step(robot.observe())
        if isinstance(out, Outcome):
            return out
        robot.apply(out)


def counter_robot(**kw) -> FakeRobot:
    """The robot at the close counter pose (1.2, 0, 0), the counter 0.3..0.8 m ahead."""
    kw.setdefault("counter", (1.5, 2.0, -0.6, 0.6))
    return FakeRobot(pose=Pose2D(1.2, 0.0, 0.0), **kw)


def apple_at(bx: float, by: float) -> Thing:
    return Thing("apple", [1.2 + bx, by, COUNTER_Z + 0.0375], 0.0375, 0.075)


def arm_targets(robot: FakeRobot) -> list[tuple[float, float]]:
    return [(round(c.arm.lift, 3), round(c.arm.arm, 3)) for c in robot.log if c.arm]


@pytest.fixture
def skills() -> Skills:
    return Skills(KITCHEN, ROBOT, ExecutorConfig(settle_s=0.1))


def test_pick_issues_the_expected_lift_arm_gripper_targets(skills):
    robot = counter_robot(things=[apple_at(0.45, 0.0)])
    out = run(robot, skills, "pick", "apple")
    assert out.success, out.message
    grasp_z = COUNTER_Z + 0.0375  # half way up the apple, measured from the counter seen around it
    targets = arm_targets(robot)
    lifts = [lift for lift, _ in targets]
    assert lifts[0] == pytest.approx(grasp_z + skills.cfg.pre_grasp_clearance, abs=0.01)  # above the grasp height
    reach = targets[1][1]
    assert ROBOT.arm_offset + reach == pytest.approx(1.2 + 0.45 - robot.pose.x, abs=0.03)  # to the apple's centre
    assert lifts[2] == pytest.approx(grasp_z, abs=0.01)  # lower onto it
    grips = [c.gripper[0] for c in robot.log if c.gripper]
    assert grips == [ROBOT.gripper.max, ROBOT.gripper.min]  # open, then close
    assert lifts[3] == pytest.approx(grasp_z + skills.cfg.lift_after_grasp, abs=0.01)  # lift it off
    assert targets[-2][1] == ROBOT.arm.min and targets[-1][0] == skills.cfg.travel_lift  # carry pose
    assert robot.held is not None and skills.holding()
    assert max(abs(c.twist[0]) for c in robot.log) == 0.0  # in reach and straight ahead: no base motion


def test_pick_turns_to_an_object_off_to_the_side(skills):
    robot = counter_robot(things=[apple_at(0.4, 0.15)])
    out = run(robot, skills, "pick", "apple")
    assert out.success, out.message
    assert max(c.twist[1] for c in robot.log) > 0.05  # turned left, toward it
    assert robot.pose.yaw == pytest.approx(math.atan2(0.15, 0.4), abs=0.06)


def test_pick_moves_the_base_when_the_object_is_out_of_reach(skills):
    robot = counter_robot(things=[apple_at(0.95, 0.0)], counter=(1.8, 2.3, -0.6, 0.6))  # a deep counter
    out = run(robot, skills, "pick", "apple")
    assert out.success, out.message
    assert robot.pose.x > 1.3  # drove forward
    assert robot.pose.x - 1.2 <= 0.6 - ROBOT.base_radius - 0.05 + 0.01  # but not into the counter's edge


def test_pick_out_of_reach_behind_a_counter_edge_fails_without_bumping(skills):
    robot = counter_robot(things=[apple_at(0.95, 0.0)], counter=(1.5, 2.3, -0.6, 0.6))  # edge 0.3 m ahead
    out = run(robot, skills, "pick", "apple")
    assert out.code == ErrorCode.GRASP_FAILED and "reach" in out.message
    assert robot.pose.x - 1.2 <= 0.3 - ROBOT.base_radius - 0.05 + 0.01


def test_grasp_that_closes_on_nothing_is_a_grasp_failure(skills):
    robot = counter_robot(things=[apple_at(0.45, 0.0)])
    robot._between_fingers = lambda: None  # seen, but not there when the fingers close (e.g. a bad estimate)
    out = run(robot, skills, "pick", "apple")
    assert out.code == ErrorCode.GRASP_FAILED and "missed" in out.message
    assert robot.joints[LEFT] == pytest.approx(ROBOT.gripper.max, abs=0.002)  # opened again
    assert robot.joints[ARM] == pytest.approx(ROBOT.arm.min, abs=0.01)  # and retracted
    assert not skills.holding()


def test_pick_while_holding_is_a_precondition_failure(skills):
    robot = counter_robot(things=[apple_at(0.45, 0.0)])
    robot.joints[LEFT] = robot.joints[RIGHT] = 0.033  # fingers stopped on something
    skills.gripper_target = 0.0
    out = run(robot, skills, "pick", "apple")
    assert out.code == ErrorCode.PRECONDITION_FAILED
    assert not any(c.arm or c.gripper for c in robot.log)


def test_pick_scans_then_reports_object_not_found(skills):
    robot = counter_robot(things=[])
    out = run(robot, skills, "pick", "apple")
    assert out.code == ErrorCode.OBJECT_NOT_FOUND
    yaws = {round(c.twist[1], 1) > 0 for c in robot.log if abs(c.twist[1]) > 0.05}
    assert yaws == {True, False}  # looked left and right
    assert max(abs(c.twist[0]) for c in robot.log) == 0.0  # but did not drive off


@pytest.mark.parametrize("opening, target, holding", [
    (0.06, None, False),     # open
    (0.0, None, False),      # fully closed: missed
    (0.0375, None, True),    # stopped on something
    (0.0375, 0.0, True),
    (0.0375, 0.06, False),   # we commanded open: still opening, not a grasp
    (0.002, 0.0, False),
])
def test_holding_from_the_finger_joints(skills, opening, target, holding):
    skills.obs = Observation(t=0.0, joints={LIFT: 0.9, ARM: 0.0, LEFT: opening, RIGHT: opening})
    skills.gripper_target = target
    assert skills.holding() is holding


def test_perception_and_the_executor_judge_holding_alike(skills):
    """The affordance node's features and the executor's checks must agree on whether the fingers hold
    something: otherwise the planner picks skills (put down, bring) that the executor refuses."""
    from saycan_ros.affordance.perception_model import PerceptionFeatureSource
    from saycan_ros.perception.robot_adapter import perception_geometry

    source = PerceptionFeatureSource(KITCHEN, perception_geometry(ROBOT))
    openings = [0.0, 0.002, 0.003, 0.0035, 0.02, 0.0375, 0.051, 0.0515, 0.053, 0.055, 0.06]
    for opening in openings:
        for command in (None, ROBOT.gripper.min, ROBOT.gripper.max):
            joints = {LIFT: 0.9, ARM: 0.0, LEFT: opening, RIGHT: opening}
            skills.obs, skills.gripper_target = Observation(t=0.0, joints=joints), command
            assert source.gripper_closed_on_something(joints, command) is skills.holding(), (opening, command)
    # the band between closed and open, as both read it
    held = [o for o in openings if source.gripper_closed_on_something({LEFT: o, RIGHT: o}, ROBOT.gripper.min)]
    assert held == [0.0035, 0.02, 0.0375, 0.051, 0.0515]


def test_put_down_on_the_counter_then_gripper_empty(skills):
    apple = apple_at(0.45, 0.0)
    robot = counter_robot(things=[apple])
    assert run(robot, skills, "pick", "apple").success
    out = run(robot, skills, "place", "apple")
    assert out.success, out.message
    assert robot.held is None and not skills.holding() and skills.held is None
    assert robot.joints[LEFT] == pytest.approx(ROBOT.gripper.max, abs=0.002)
    release = [c.arm.lift for c in robot.log if c.arm][-4]  # lower, (open), clear, retract, stow
    assert release == pytest.approx(COUNTER_Z + skills.cfg.place_margin + 0.0375, abs=0.01)
    assert apple.xyz[2] == pytest.approx(release, abs=0.01)


def test_put_down_needs_the_object_in_hand(skills):
    robot = counter_robot(things=[apple_at(0.45, 0.0)])
    out = run(robot, skills, "place", "apple")
    assert out.code == ErrorCode.PRECONDITION_FAILED
    robot.joints[LEFT] = robot.joints[RIGHT] = 0.033
    skills.gripper_target, skills.held = 0.0, HeldObject("coke can", 0.06)
    out = run(robot, skills, "place", "apple")
    assert out.code == ErrorCode.PRECONDITION_FAILED and "coke can" in out.message


def test_go_to_stows_the_arm_before_driving_and_arrives(skills):
    robot = FakeRobot(joints={LIFT: 0.5, ARM: 0.3, LEFT: 0.06, RIGHT: 0.06})
    out = run(robot, skills, "go_to", location="table")
    assert out.success, out.message
    first_drive = next(i for i, c in enumerate(robot.log) if c.twist != (0.0, 0.0))
    assert robot.joints[ARM] == pytest.approx(0.0, abs=0.01) or any(c.arm for c in robot.log[:first_drive])
    assert [c.arm.arm for c in robot.log[:first_drive] if c.arm][0] == ROBOT.arm.min  # retract first
    goal = Pose2D(*KITCHEN.locations["table"].pose)
    assert robot.pose.distance_to(goal) <= skills.cfg.tolerance.position
    assert abs(wrap_angle(goal.yaw - robot.pose.yaw)) <= skills.cfg.tolerance.yaw
    assert robot.log[-1].twist == (0.0, 0.0)


def test_go_to_blocked_is_a_navigation_failure(skills):
    robot = FakeRobot(stuck=True)
    robot.pose = Pose2D(0.0, 0.0, 0.0)  # facing the close counter already: only driving is needed
    out = run(robot, skills, "go_to", location="close counter")
    assert out.code == ErrorCode.NAVIGATION_FAILED and "stuck" in out.message


def test_go_to_without_odometry_is_no_sensor_data(skills):
    robot = FakeRobot(odom=False)
    out = run(robot, skills, "go_to", location="table")
    assert out.code == ErrorCode.NO_SENSOR_DATA and "odom" in out.message
    assert robot.t == pytest.approx(skills.cfg.sensor_timeout_s, abs=0.2)


def test_timeouts_per_kind(skills):
    robot = FakeRobot()
    out = run(robot, skills, "go_to", location="far counter", timeout=2.0)
    assert out.code == ErrorCode.NAVIGATION_FAILED and "not finished after 2 s" in out.message
    robot = counter_robot(things=[apple_at(0.45, 0.0)])
    out = run(robot, skills, "pick", "apple", timeout=1.0)
    assert out.code == ErrorCode.TIMEOUT


def test_find_an_object_already_in_view_does_not_move(skills):
    robot = counter_robot(things=[apple_at(0.45, 0.1)])
    out = run(robot, skills, "find", "apple")
    assert out.success
    assert all(c.twist == (0.0, 0.0) and c.arm is None for c in robot.log)


def test_find_goes_to_an_object_in_view_but_out_of_reach(skills):
    # From the start pose the apple on the close counter is in view, 1.7 m off: more than pick's
    # short approach covers. find ends at the close counter, where pick then works first time.
    robot = FakeRobot(counter=(1.5, 2.0, -0.6, 0.6), things=[apple_at(0.5, 0.05)])
    out = run(robot, skills, "find", "apple")
    assert out.success and "close counter" in out.message, out.message
    assert robot.pose.distance_to(Pose2D(*KITCHEN.locations["close counter"].pose)) < 0.1
    assert run(robot, skills, "pick", "apple").success


def test_find_searches_the_nearest_location_first(skills):
    # The apple is on the table; the robot starts next to the far counter (the table is not nearest).
    table = KITCHEN.locations["table"].pose
    ahead = (table[0] + 0.45 * math.cos(table[2]), table[1] + 0.45 * math.sin(table[2]))
    apple = Thing("apple", [ahead[0], ahead[1], 0.8], 0.0375, 0.075)
    robot = FakeRobot(pose=Pose2D(0.3, 1.8, 0.0), things=[apple], counter=(0, 0, 0, 0))
    skills.obs = robot.observe()
    assert skills.search_plan() == ["far counter", "close counter", "table"]
    out = run(robot, skills, "find", "apple")
    assert out.success and "table" in out.message
    assert robot.pose.distance_to(Pose2D(*table)) < 0.1


def test_an_object_in_the_trash_is_thrown_away_not_found_or_picked(skills):
    # After an apple went into the trash can, "find an apple" saw it there at once and pick tried
    # to grasp it from the bin (exec mode, throw away the three apples: three misses). An object in
    # a drop location's container counts as gone: find searches on, pick reports it not in view.
    x, y, yaw = KITCHEN.locations["trash can"].pose
    binned = Thing("apple", [x + 0.5 * math.cos(yaw), y + 0.5 * math.sin(yaw), 0.06], 0.0375, 0.075)
    robot = FakeRobot(pose=Pose2D(x, y, yaw), things=[binned], counter=(0, 0, 0, 0))
    skills.obs = robot.observe()
    picked = run(robot, skills, "pick", "apple")
    assert picked.code == ErrorCode.OBJECT_NOT_FOUND and "not in view" in picked.message, picked.message
    robot.things.append(apple_at(0.5, 0.05))  # another on the close counter
    found = run(robot, skills, "find", "apple")
    assert found.success and "close counter" in found.message, found.message
    assert robot.pose.distance_to(Pose2D(*KITCHEN.locations["close counter"].pose)) < 0.1


def test_find_gives_object_not_found_after_all_locations(skills):
    skills = Skills(KITCHEN, ROBOT, ExecutorConfig(settle_s=0.0, search_order=("close counter", "table")))
    robot = FakeRobot(things=[], counter=(0, 0, 0, 0))
    out = run(robot, skills, "find", "sponge")
    assert out.code == ErrorCode.OBJECT_NOT_FOUND
    assert "close counter, table" in out.message


def test_bring_needs_an_object_in_hand(skills):
    out = run(FakeRobot(), skills, "bring")
    assert out.code == ErrorCode.PRECONDITION_FAILED


def test_done_succeeds_at_once_and_stops(skills):
    robot = FakeRobot()
    out = run(robot, skills, "done")
    assert out.success and robot.log == [Command(phase="done: stopping", progress=1.0)]
