"""TEST FAKES of two robots' ROS 2 drivers, for test_robot_bringup.py. Not drivers, not product code.

Each fake speaks one real robot's driver interface as far as the bring-up files of
config/robots/ and launch/<robot>.launch.yaml rely on it: the same topic names and message types,
the same joint names and units, the frames. It integrates the velocity it receives on the robot's
cmd_vel topic into the odometry it publishes (with a driver-style 0.5 s command watchdog), moves
the joints its trajectory controllers are sent (refusing joints a controller does not own, as
ros2_control's joint_trajectory_controller does), and publishes a small constant RGB-D frame
(16UC1 millimetre depth, as RealSense and OpenNI drivers publish raw) with camera_info.

What they leave out: Stretch's FollowJointTrajectory action (control_msgs has no wheel here; the
bring-up does not use it, see docs/bringup.md), mode services, TF, and any physics.
"""
from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field

import numpy as np
from geometry_msgs.msg import Twist, TwistStamped
from nav_msgs.msg import Odometry
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image, JointState
from trajectory_msgs.msg import JointTrajectory

from saycan_ros.core.camera_model import PinholeCamera
from saycan_ros.ros_io.images import make_camera_info, numpy_to_image
from saycan_ros.ros_io.poses import yaw_to_quaternion


@dataclass(frozen=True)
class RobotInterface:
    """One robot driver's topics, types and joints (as its real driver names them)."""

    name: str                      # launch/<name>.launch.yaml
    cmd_vel: str
    cmd_vel_type: type             # Twist or TwistStamped
    odom: str
    base_frame: str                # odometry child frame
    joint_states: str
    joints: dict[str, float]       # every joint the driver reports -> its start position
    controllers: dict[str, tuple[str, ...]] = field(default_factory=dict)  # JointTrajectory topic -> joints it owns
    color: tuple[str, str] = ("", "")  # image, camera_info
    depth: tuple[str, str] = ("", "")
    camera_frame: str = "camera_color_optical_frame"


# Hello Robot Stretch, stretch_ros2 (Humble): stretch_driver + realsense2_camera, robot stowed
STRETCH = RobotInterface(
    name="stretch", cmd_vel="/stretch/cmd_vel", cmd_vel_type=Twist, odom="/odom", base_frame="base_link",
    joint_states="/stretch/joint_states",
    joints={"joint_lift": 0.23, "wrist_extension": 0.0, "joint_arm_l3": 0.0, "joint_arm_l2": 0.0,
            "joint_arm_l1": 0.0, "joint_arm_l0": 0.0, "joint_wrist_yaw": 3.0, "joint_head_pan": 0.0,
            "joint_head_tilt": -0.7, "joint_gripper_finger_left": 0.0, "joint_gripper_finger_right": 0.0},
    color=("/camera/color/image_raw", "/camera/color/camera_info"),
    depth=("/camera/aligned_depth_to_color/image_raw", "/camera/aligned_depth_to_color/camera_info"))

# PAL TIAGo, tiago_robot (Humble, ros2_control): torso low, so 'go to' must raise it first
_TIAGO_ARM = tuple(f"arm_{i}_joint" for i in range(1, 8))
TIAGO = RobotInterface(
    name="tiago", cmd_vel="/mobile_base_controller/cmd_vel_unstamped", cmd_vel_type=Twist,
    odom="/mobile_base_controller/odom", base_frame="base_footprint", joint_states="/joint_states",
    joints={"wheel_left_joint": 0.0, "wheel_right_joint": 0.0, "torso_lift_joint": 0.1,
            **{j: 0.0 for j in _TIAGO_ARM}, "head_1_joint": 0.0, "head_2_joint": -0.7,
            "gripper_left_finger_joint": 0.044, "gripper_right_finger_joint": 0.044},
    controllers={"/torso_controller/joint_trajectory": ("torso_lift_joint",),
                 "/arm_controller/joint_trajectory": _TIAGO_ARM,
                 "/head_controller/joint_trajectory": ("head_1_joint", "head_2_joint"),
                 "/gripper_controller/joint_trajectory": ("gripper_left_finger_joint", "gripper_right_finger_joint")},
    color=("/head_front_camera/rgb/image_raw", "/head_front_camera/rgb/camera_info"),
    depth=("/head_front_camera/depth_registered/image_raw", "/head_front_camera/depth_registered/camera_info"),
    camera_frame="head_front_camera_rgb_optical_frame")


class FakeDriver(Node):
    """A robot's driver topics on a kinematic base; joints reach a trajectory's last point in its
    time_from_start (see module doc)."""

    WATCHDOG_S = 0.5

    def __init__(self, robot: RobotInterface, context) -> None:
        super().__init__(f"fake_{robot.name}_driver", context=context)
        self.robot = robot
        self.lock = threading.Lock()
        self.pose = [0.0, 0.0, 0.0]  # x, y, yaw in odom
        self.twist = (0.0, 0.0)
        self.twist_at = -math.inf
        self.moving_commands = 0  # cmd_vel messages that asked for motion
        self.joints = dict(robot.joints)
        self.motions: dict[str, tuple[float, float]] = {}  # joint -> (target, speed)
        self.trajectories: list[tuple[str, list[str], list[float]]] = []
        self.errors: list[str] = []  # what the real driver would have refused
        self.last = time.monotonic()
        self.create_subscription(robot.cmd_vel_type, robot.cmd_vel, self._on_cmd_vel, 10)
        for topic, owned in robot.controllers.items():
            self.create_subscription(JointTrajectory, topic, lambda m, t=topic, o=owned: self._on_trajectory(t, o, m), 10)
        self.odom_pub = self.create_publisher(Odometry, robot.odom, 10)
        self.joint_pub = self.create_publisher(JointState, robot.joint_states, 10)
        self.color_pub, self.depth_pub = (self.create_publisher(Image, t, 5) for t in (robot.color[0], robot.depth[0]))
        self.color_info_pub, self.depth_info_pub = (self.create_publisher(CameraInfo, t, 5)
                                                    for t in (robot.color[1], robot.depth[1]))
        camera = PinholeCamera(40.0, 40.0, 31.5, 23.5, 64, 48)
        self.info = make_camera_info(camera, frame_id=robot.camera_frame)
        self.color = np.zeros((48, 64, 3), np.uint8)
        self.depth = np.full((48, 64), 1500, np.uint16)  # 1.5 m everywhere
        self.create_timer(0.02, self._tick)
        self.create_timer(0.05, self._publish_joints)
        self.create_timer(0.2, self._publish_camera)

    # -- commands ----------------------------------------------------------------------------
    def _on_cmd_vel(self, msg) -> None:
        twist = msg.twist if isinstance(msg, TwistStamped) else msg
        with self.lock:
            self.twist, self.twist_at = (twist.linear.x, twist.angular.z), time.monotonic()
            self.moving_commands += abs(twist.linear.x) > 1e-3 or abs(twist.angular.z) > 1e-3

    def _on_trajectory(self, topic: str, owned: tuple[str, ...], msg: JointTrajectory) -> None:
        names = list(msg.joint_names)
        with self.lock:
            foreign = [n for n in names if n not in owned]
            if foreign or not msg.points or len(msg.points[-1].positions) != len(names):
                self.errors.append(f"{topic}: refused {names} (controller owns {list(owned)})")
                return
            point = msg.points[-1]
            duration = max(0.05, point.time_from_start.sec + point.time_from_start.nanosec * 1e-9)
            self.trajectories.append((topic, names, list(point.positions)))
            for name, target in zip(names, point.positions):
                self.motions[name] = (float(target), abs(float(target) - self.joints[name]) / duration)

    # -- state -------------------------------------------------------------------------------
    def _tick(self) -> None:
        now = time.monotonic()
        with self.lock:
            dt, self.last = now - self.last, now
            v, w = self.twist if now - self.twist_at < self.WATCHDOG_S else (0.0, 0.0)
            x, y, yaw = self.pose
            self.pose = [x + v * math.cos(yaw) * dt, y + v * math.sin(yaw) * dt, yaw + w * dt]
            for name, (target, speed) in list(self.motions.items()):
                step = speed * dt
                current = self.joints[name]
                self.joints[name] = target if abs(target - current) <= step else current + math.copysign(step, target - current)
                if self.joints[name] == target:
                    del self.motions[name]
            x, y, yaw = self.pose
        odom = Odometry()
        odom.header.stamp = self.get_clock().now().to_msg()
        odom.header.frame_id, odom.child_frame_id = "odom", self.robot.base_frame
        odom.pose.pose.position.x, odom.pose.pose.position.y = x, y
        q = odom.pose.pose.orientation
        q.x, q.y, q.z, q.w = yaw_to_quaternion(yaw)
        odom.twist.twist.linear.x, odom.twist.twist.angular.z = v, w
        self.odom_pub.publish(odom)

    def _publish_joints(self) -> None:
        with self.lock:
            names, positions = list(self.joints), list(self.joints.values())
        msg = JointState(name=names, position=positions)
        msg.header.stamp = self.get_clock().now().to_msg()
        self.joint_pub.publish(msg)

    def _publish_camera(self) -> None:
        stamp = self.get_clock().now().to_msg()
        self.info.header.stamp = stamp
        self.color_pub.publish(numpy_to_image(self.color, "rgb8", stamp, self.robot.camera_frame))
        self.depth_pub.publish(numpy_to_image(self.depth, "16UC1", stamp, self.robot.camera_frame))
        self.color_info_pub.publish(self.info)
        self.depth_info_pub.publish(self.info)

    def where(self) -> tuple[float, float, float]:
        with self.lock:
            return tuple(self.pose)
