"""affordance_node on a real rclpy graph: answers GetAffordances from published synthetic images and
robot state, and turns unknown skills, stale or missing camera data and bad images into error results."""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pytest
from builtin_interfaces.msg import Time
from nav_msgs.msg import Odometry
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_srvs.srv import Trigger

from saycan_msgs.srv import GetAffordances
from saycan_ros.affordance.value_function import AffordanceParams
from saycan_ros.core.kitchen import load_kitchen
from saycan_ros.nodes.affordance_node import AffordanceNode
from saycan_ros.perception.robot_adapter import load_perception_geometry
from saycan_ros.perception.synthetic import render_scene
from saycan_ros.ros_io.codes import NO_OBSERVATION_YET
from saycan_ros.ros_io.images import make_camera_info, numpy_to_image

sys.path.insert(0, str(Path(__file__).parent))
from helpers import Spinner, wait_for, wait_future  # noqa: E402

QOS = QoSProfile(depth=2, reliability=ReliabilityPolicy.RELIABLE)
KITCHEN = load_kitchen()
GEOM = load_perception_geometry()
P = AffordanceParams()
SCENE = {"apple": (0.55, 0.05, 0.90, 0.0375), "coke can": (1.6, -0.3, 0.90, 0.033)}


class FakeRobot(Node):
    """Publishes what a robot's camera and state topics would: synthetic seg/depth of SCENE, joints, odom."""

    def __init__(self, context):
        super().__init__("fake_robot", context=context)
        self.seg_pub = self.create_publisher(Image, "camera/segmentation/image_raw", QOS)
        self.depth_pub = self.create_publisher(Image, "camera/depth/image_raw", QOS)
        self.info_pub = self.create_publisher(CameraInfo, "camera/depth/camera_info", QOS)
        self.joint_pub = self.create_publisher(JointState, "joint_states", 10)
        self.odom_pub = self.create_publisher(Odometry, "odom", 10)
        self.client = self.create_client(GetAffordances, "get_affordances")
        self.seg, self.depth = render_scene(SCENE, GEOM.default_camera, GEOM.mount, KITCHEN)
        self.sec = 50

    def publish_frame(self, depth_encoding: str = "32FC1", gripper: float = 0.06, joints: bool = True) -> None:
        self.sec += 1
        stamp = Time(sec=self.sec, nanosec=0)
        frame = "camera_color_optical_frame"
        self.info_pub.publish(make_camera_info(GEOM.default_camera, stamp, frame))
        if joints:
            self.joint_pub.publish(JointState(name=["joint_lift", "joint_arm", "joint_gripper_left",
                                                    "joint_gripper_right"], position=[0.6, 0.0, gripper, gripper]))
        odom = Odometry()
        odom.pose.pose.position.x, odom.pose.pose.orientation.w = 1.2, 1.0  # at the close counter
        self.odom_pub.publish(odom)
        self.seg_pub.publish(numpy_to_image(self.seg, "16UC1", stamp, frame))
        depth = self.depth if depth_encoding == "32FC1" else np.zeros((4, 4, 3), np.uint8)
        self.depth_pub.publish(numpy_to_image(depth, depth_encoding, stamp, frame))

    def ask(self, texts):
        return wait_future(self.client.call_async(GetAffordances.Request(skills=list(texts))), 20)


def make_node(ctx, **values):
    return AffordanceNode(context=ctx, parameter_overrides=[Parameter(k, value=v) for k, v in values.items()])


def publish_until_served(robot: FakeRobot, texts, timeout_s: float = 30.0):
    """Publish frames until the node answers from the latest one, and at least from the second one:
    odom and joint_states travel on other topics and may arrive after the first images."""
    deadline = time.monotonic() + timeout_s
    first = robot.sec + 1
    while True:
        robot.publish_frame()
        res = robot.ask(texts)
        if res.success and res.observation_stamp.sec == robot.sec > first:
            return res
        assert time.monotonic() < deadline, f"no answer from a fresh frame: {res.error_msg}"
        time.sleep(0.05)  # frame pacing of the fake camera


def test_answers_from_published_images_then_errors_without_dying(ros_context):
    node = make_node(ros_context, max_observation_age_s=3.0)  # generous: CI machines stall
    robot = FakeRobot(ros_context)
    texts = ["pick up the apple", "pick up the coke can", "pick up the sponge", "find an apple",
             "go to the close counter", "go to the table", "put down the apple", "done"]
    try:
        with Spinner(ros_context, node, robot):
            wait_for(lambda: robot.client.service_is_ready(), 20, "the get_affordances service")
            # Before any image: a clear error, not a crash.
            res = robot.ask(["done"])
            assert not res.success and "no camera observation yet" in res.error_msg

            res = publish_until_served(robot, texts)
            assert res.success, res.error_msg
            probs = dict(zip(texts, res.probabilities))
            assert probs["pick up the apple"] == pytest.approx(P.pick_reachable)
            assert probs["pick up the coke can"] == pytest.approx(P.pick_visible)
            assert probs["pick up the sponge"] == pytest.approx(P.pick_unseen)
            assert probs["pick up the apple"] > probs["pick up the coke can"] > probs["pick up the sponge"]
            assert probs["find an apple"] == pytest.approx(P.find_in_reach)
            assert probs["go to the close counter"] < probs["go to the table"]
            assert probs["put down the apple"] == pytest.approx(P.place_other)
            assert probs["done"] == 1.0
            assert res.observation_stamp.sec > 50  # the stamp of a published image

            # Unknown skill texts: error naming them; the next valid request still succeeds.
            bad = robot.ask(["pick up the apple", "juggle the oranges", "fly"])
            assert not bad.success and "'juggle the oranges'" in bad.error_msg and "'fly'" in bad.error_msg
            assert list(bad.probabilities) == []
            robot.publish_frame()
            assert robot.ask(["pick up the apple"]).success

            # A depth image in a wrong encoding is dropped with a warning; the node keeps serving.
            robot.publish_frame(depth_encoding="rgb8")
            assert robot.ask(["done"]).success

            # Camera stops: after max_observation_age_s the answer is a 'stale' error.
            wait_for(lambda: "stale" in robot.ask(["done"]).error_msg, 20, "a stale-camera error")
            # ... and it recovers when frames come back.
            assert publish_until_served(robot, ["pick up the apple"]).success
    finally:
        node.destroy_node()
        robot.destroy_node()


def test_the_answer_says_what_the_gripper_holds(ros_context):
    """The planner asks with no skills at the start of an instruction to learn what is held (the
    language model's prompt may show it): '' when the fingers are open, the object once known."""
    node = make_node(ros_context, max_observation_age_s=3.0)
    robot = FakeRobot(ros_context)
    try:
        with Spinner(ros_context, node, robot):
            wait_for(lambda: robot.client.service_is_ready(), 20, "the get_affordances service")
            res = publish_until_served(robot, [])
            assert res.success and list(res.probabilities) == [] and res.holding == ""

            def held() -> str:
                robot.publish_frame(gripper=0.02)  # fingers stopped part-way: something between them
                node.model._held_memory = "apple"  # identified as it was picked up (set again: an
                return robot.ask([]).holding       # open-gripper frame still queued clears it)
            wait_for(lambda: held() == "apple", 20, "the held apple in the answer")
            wait_for(lambda: (robot.publish_frame(), robot.ask([]).holding)[1] == "", 20, "the open gripper")
    finally:
        node.destroy_node()
        robot.destroy_node()


def test_none_model_needs_no_camera(ros_context):
    node = make_node(ros_context, model="none")
    probe = Node("probe", context=ros_context)
    client = probe.create_client(GetAffordances, "get_affordances")
    try:
        with Spinner(ros_context, node, probe):
            wait_for(client.service_is_ready, 20, "the get_affordances service")
            res = wait_future(client.call_async(GetAffordances.Request(skills=["pick up the apple", "done"])), 20)
            assert res.success and list(res.probabilities) == [1.0, 1.0]
    finally:
        node.destroy_node()
        probe.destroy_node()


def test_reset_forgets_the_gripper_command_the_held_object_and_the_frames_of_the_world_before(ros_context):
    """A reset means the world changed (a simulator reset, a hand-over): the next answer must come
    from a frame received after it. Answering from the frame before told the planner the gripper
    held what the previous instruction had left in it."""
    node = make_node(ros_context, max_observation_age_s=3.0)
    robot = FakeRobot(ros_context)
    reset = robot.create_client(Trigger, "affordance_node/reset")
    try:
        with Spinner(ros_context, node, robot):
            wait_for(reset.service_is_ready, 20, "the affordance_node/reset service")
            wait_for(robot.client.service_is_ready, 20, "the get_affordances service")
            before = publish_until_served(robot, ["done"])
            node._gripper_command, node.model._held_memory = 0.06, "apple"
            node.model.search_memory.seen.add("apple")
            res = wait_future(reset.call_async(Trigger.Request()), 20)
            assert res.success
            assert node._gripper_command is None and node.model._held_memory is None
            assert not node.model.search_memory.seen
            stale = robot.ask(["done"])
            assert not stale.success and stale.error_msg.startswith(NO_OBSERVATION_YET), stale.error_msg
            for _ in range(5):  # frames of the new world without its joint states: still no answer
                robot.publish_frame(joints=False)
                time.sleep(0.1)
            early = robot.ask(["done"])
            assert not early.success and early.error_msg.startswith(NO_OBSERVATION_YET), early.error_msg
            after = publish_until_served(robot, ["done"])
            assert after.success and after.observation_stamp.sec > before.observation_stamp.sec
    finally:
        node.destroy_node()
        robot.destroy_node()


def test_searches_are_remembered_until_the_instruction_ends_on_saycan_plan(ros_context):
    """After every search location was looked at, a kind never seen is unlikely to be found; an
    instruction's end on saycan/plan (not a refused command's) clears the memory."""
    from saycan_msgs.msg import PlanStatus

    node = make_node(ros_context, max_observation_age_s=30.0)
    robot = FakeRobot(ros_context)
    plan_pub = robot.create_publisher(PlanStatus, "saycan/plan", 10)
    texts = ["find a sea salt chips", "find an apple"]
    try:
        with Spinner(ros_context, node, robot):
            wait_for(lambda: robot.client.service_is_ready(), 20, "the get_affordances service")
            assert list(publish_until_served(robot, texts).probabilities) == pytest.approx([P.find, P.find_in_reach])
            memory = node.model.search_memory

            def looked() -> bool:  # two frames at the same odometry pose: standing still, facing it
                robot.publish_frame()
                time.sleep(0.1)
                return "close counter" in memory.looked_at
            wait_for(looked, 20, "the close counter counted as looked at")
            assert "apple" in memory.seen
            memory.looked_at |= {"far counter", "table"}  # as if the robot had searched them too
            assert list(robot.ask(texts).probabilities) == pytest.approx([P.find_known_absent, P.find_in_reach])
            plan_pub.publish(PlanStatus(instruction="x", state="rejected"))  # another command refused
            time.sleep(0.5)
            assert robot.ask(texts).probabilities[0] == pytest.approx(P.find_known_absent)
            plan_pub.publish(PlanStatus(instruction="bring me something salty", state="failed"))
            wait_for(lambda: not memory.looked_at, 20, "the memory cleared by the instruction's end")
            assert robot.ask(texts).probabilities[0] == pytest.approx(P.find)
    finally:
        node.destroy_node()
        robot.destroy_node()


def test_value_parameters_reach_the_value_function_and_bad_ones_are_refused(ros_context):
    from saycan_ros.core.errors import ConfigError

    node = make_node(ros_context, **{"value.pick_unseen": 0.2})
    try:
        assert node.model.params.pick_unseen == 0.2
    finally:
        node.destroy_node()
    with pytest.raises(ConfigError, match="'value.go_to'=1.5 must be within"):
        make_node(ros_context, **{"value.go_to": 1.5})
    with pytest.raises(ConfigError, match="robot file not found"):
        make_node(ros_context, robot_file="/nonexistent/robot.yaml")


def test_learned_model_ranks_skills_from_the_same_topics(ros_context):
    """model:=learned with the packaged value function (models/affordance): same topics, same
    service; the ranking follows what the camera shows."""
    node = make_node(ros_context, model="learned", max_observation_age_s=3.0)
    robot = FakeRobot(ros_context)
    texts = ["pick up the apple", "pick up the coke can", "pick up the sponge", "go to the close counter",
             "go to the table", "put down the apple", "bring it to you", "done"]
    try:
        with Spinner(ros_context, node, robot):
            wait_for(lambda: robot.client.service_is_ready(), 20, "the get_affordances service")
            res = publish_until_served(robot, texts)
            assert res.success, res.error_msg
            probs = dict(zip(texts, res.probabilities))
            assert probs["pick up the apple"] > 0.5 > probs["pick up the sponge"]
            assert probs["pick up the apple"] > probs["pick up the coke can"]
            assert probs["go to the table"] > 0.5 > probs["go to the close counter"]  # already there
            assert probs["put down the apple"] < 0.5 and probs["bring it to you"] < 0.5  # hands empty
            assert probs["done"] == 1.0
            assert all(0.0 < p <= 1.0 for p in res.probabilities)
    finally:
        node.destroy_node()
        robot.destroy_node()


def test_learned_model_without_its_file_is_a_clear_startup_error(ros_context, tmp_path):
    from saycan_ros.core.errors import ConfigError

    with pytest.raises(ConfigError, match="saycan train affordance"):
        make_node(ros_context, model="learned", value_function=str(tmp_path))
