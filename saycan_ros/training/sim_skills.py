"""The skill state machines closed-loop on the PyBullet kitchen, in-process and on simulated time.

One loop does per tick what skill_executor_node does (observation from odometry and joints; a
depth + segmentation Percept when the skill asks to look; the command to base velocity and joint
targets), without ROS and as fast as the CPU allows. Used by experience collection (`saycan
collect`) and by tests. Success is judged by the caller from the simulator's ground truth, which
the skills never see.
"""
from __future__ import annotations

from saycan_ros.core.kitchen import Kitchen
from saycan_ros.core.robot_geometry import RobotGeometry
from saycan_ros.perception.robot_adapter import PerceptionGeometry, perception_geometry
from saycan_ros.sim.kitchen_world import KitchenWorld
from saycan_ros.skills.behaviours import Skills, run_skill
from saycan_ros.skills.config import ExecutorConfig
from saycan_ros.skills.perceive import make_percept, thrown_away_check
from saycan_ros.core.pose import Pose2D
from saycan_ros.skills.types import Observation, Outcome

CONTROL_DT = 0.05  # the executor's control period (s of simulated time)


class SimSkillLoop:
    """A KitchenWorld plus the executor's Skills, stepped together."""

    def __init__(self, kitchen: Kitchen, robot: RobotGeometry, world: KitchenWorld,
                 config: ExecutorConfig | None = None, dt: float = CONTROL_DT) -> None:
        self.kitchen, self.robot, self.world, self.dt = kitchen, robot, world, dt
        self.config = config or ExecutorConfig()
        self.skills = Skills(kitchen, robot, self.config)
        self.geometry: PerceptionGeometry = perception_geometry(robot)

    def new_skills(self) -> Skills:
        """Forget what the executor believed (held object, last gripper command): a fresh executor."""
        self.skills = Skills(self.kitchen, self.robot, self.config)
        return self.skills

    def observation(self) -> Observation:
        x, y, yaw = self.world.base_pose()
        return Observation(t=self.world.sim_time, pose=Pose2D(x, y, yaw), pose_age=0.0,
                           joints=self.world.joint_positions(), joints_age=0.0, camera_age=0.0)

    def run(self, kind: str, obj: str = "", location: str = "", timeout_s: float | None = None) -> Outcome:
        """Run one skill to its outcome (the executor's per-kind timeout unless given), base stopped after."""
        runner = run_skill(self.skills, kind, obj, location, timeout_s)
        percept = None
        while True:
            obs = self.observation()
            if percept is not None:
                obs = Observation(obs.t, obs.pose, obs.pose_age, obs.joints, obs.joints_age, obs.camera_age, percept)
            percept = None
            out = runner.step(obs)
            if isinstance(out, Outcome):
                self.world.set_base_velocity(0.0, 0.0)
                return out
            self.world.set_base_velocity(*out.twist)
            if out.arm:
                self.world.set_arm_targets(out.arm.lift, out.arm.arm, out.arm.duration)
            if out.gripper:
                self.world.set_gripper_target(out.gripper[0], duration=out.gripper[1])
            self.world.step(self.dt)
            if out.look:
                _, depth, seg = self.world.render()
                percept = make_percept(seg, depth, self.world.camera, self.geometry.mount, self.kitchen,
                                       self.config.min_pixels, self.config.cloud_stride,
                                       thrown_away_check(self.kitchen, self.config, self.robot,
                                                         Pose2D(*self.world.base_pose())))
