"""The packaged robot configurations: parameter files that the nodes accept, and a ros_gz_bridge
topic file that carries every topic of docs/robot_interface.md with the types our nodes use."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from saycan_ros.core.robot_geometry import ARM, load_robot_geometry
from saycan_ros.ros_io.joint_map import JointMap

CONFIG = Path(__file__).resolve().parents[2] / "config"
# the ROS <-> Gazebo message pairs ros_gz_bridge converts (the ones this file may use)
BRIDGE_PAIRS = {
    "rosgraph_msgs/msg/Clock": "gz.msgs.Clock",
    "geometry_msgs/msg/Twist": "gz.msgs.Twist",
    "nav_msgs/msg/Odometry": "gz.msgs.Odometry",
    "sensor_msgs/msg/JointState": "gz.msgs.Model",
    "trajectory_msgs/msg/JointTrajectory": "gz.msgs.JointTrajectory",
    "sensor_msgs/msg/Image": "gz.msgs.Image",
    "sensor_msgs/msg/CameraInfo": "gz.msgs.CameraInfo",
}
# our side of the contract: topic -> (type, direction seen from Gazebo)
CONTRACT = {
    "/clock": ("rosgraph_msgs/msg/Clock", "GZ_TO_ROS"),
    "cmd_vel": ("geometry_msgs/msg/Twist", "ROS_TO_GZ"),
    "odom": ("nav_msgs/msg/Odometry", "GZ_TO_ROS"),
    "joint_states": ("sensor_msgs/msg/JointState", "GZ_TO_ROS"),
    "arm_controller/joint_trajectory": ("trajectory_msgs/msg/JointTrajectory", "ROS_TO_GZ"),
    "gripper_controller/joint_trajectory": ("trajectory_msgs/msg/JointTrajectory", "ROS_TO_GZ"),
    "camera/color/image_raw": ("sensor_msgs/msg/Image", "GZ_TO_ROS"),
    "camera/color/camera_info": ("sensor_msgs/msg/CameraInfo", "GZ_TO_ROS"),
    "camera/depth/image_raw": ("sensor_msgs/msg/Image", "GZ_TO_ROS"),
    "camera/depth/camera_info": ("sensor_msgs/msg/CameraInfo", "GZ_TO_ROS"),
}


def test_gazebo_bridge_entries_are_valid_and_cover_the_robot_interface():
    entries = yaml.safe_load((CONFIG / "gazebo/ros_gz_bridge.yaml").read_text())
    assert isinstance(entries, list) and entries
    keys = {"ros_topic_name", "gz_topic_name", "ros_type_name", "gz_type_name", "direction"}
    for entry in entries:
        assert set(entry) == keys, entry
        assert BRIDGE_PAIRS[entry["ros_type_name"]] == entry["gz_type_name"], entry
        assert entry["direction"] in ("GZ_TO_ROS", "ROS_TO_GZ", "BIDIRECTIONAL")
    bridged = {e["ros_topic_name"]: (e["ros_type_name"], e["direction"]) for e in entries}
    assert len(bridged) == len(entries), "a ROS topic is bridged twice"
    for topic, spec in CONTRACT.items():
        assert bridged.get(topic) == spec, topic


@pytest.mark.parametrize("robot", ["stretch", "tiago"])
def test_robot_parameter_files_give_both_nodes_the_same_valid_joint_map(robot):
    data = yaml.safe_load((CONFIG / f"robots/{robot}.yaml").read_text())
    executor, affordance = (data[n]["ros__parameters"] for n in ("skill_executor_node", "affordance_node"))
    keys = ("joint_names", "joint_scales", "joint_offsets", "robot_file")
    assert {k: executor.get(k) for k in keys} == {k: affordance.get(k) for k in keys}
    geometry = load_robot_geometry(executor.get("robot_file") or None)  # relative: the config folder
    JointMap.from_params(executor["joint_names"], executor["joint_scales"], executor["joint_offsets"],
                         {ARM: geometry.arm.min}, owner=robot)
    assert all(isinstance(v, float) for v in executor["joint_scales"] + executor["joint_offsets"])  # double arrays
    assert geometry.lift.min <= executor["travel_lift"] <= geometry.lift.max
