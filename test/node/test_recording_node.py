"""Record and replay on a real rclpy graph: the episode recorder subscribes to the episode topics,
a test node publishes odometry, images, decisions and feedback; the recording is then re-published
(twice as fast) to a listener that compares contents, order and spacing with what was sent."""
from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import numpy as np
from nav_msgs.msg import Odometry
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import Image
from unique_identifier_msgs.msg import UUID

from saycan_msgs.action import ExecuteInstruction
from saycan_msgs.msg import PlanStatus, SkillCandidate
from saycan_ros.replay import publish_recording
from saycan_ros.ros_io.images import numpy_to_image
from saycan_ros.ros_io.recording import FEEDBACK_TOPIC, IMAGE_PERIOD_S, PLAN_TOPIC, read_recording, record_episode

sys.path.insert(0, str(Path(__file__).parent))
from helpers import Spinner, wait_for  # noqa: E402

FEEDBACK = ExecuteInstruction.Impl.FeedbackMessage
RELIABLE = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
TYPES = {"/odom": Odometry, "/camera/color/image_raw": Image, PLAN_TOPIC: PlanStatus, FEEDBACK_TOPIC: FEEDBACK}


def odom(x: float) -> Odometry:
    msg = Odometry()
    msg.header.frame_id = "odom"
    msg.pose.pose.position.x = x
    return msg


def image(value: int) -> Image:
    return numpy_to_image(np.full((24, 32, 3), value, np.uint8), "rgb8", frame_id="camera")


def plan(step: int, chosen: str, state: str = "executing", detail: str = "") -> PlanStatus:
    return PlanStatus(instruction="throw away the apple", step_index=step, chosen=chosen, state=state, detail=detail,
                      candidates=[SkillCandidate(skill=chosen, llm_log_likelihood=-0.4, affordance=0.8, combined=-0.62)])


class Talker(Node):
    def __init__(self, context):
        super().__init__("talker", context=context)
        self.pubs = {topic: self.create_publisher(cls, topic, qos_profile_sensor_data if cls is Image else RELIABLE)
                     for topic, cls in TYPES.items()}


class Listener(Node):
    def __init__(self, context):
        super().__init__("listener", context=context)
        self.lock = threading.Lock()
        self.got: list[tuple[str, object, float]] = []
        for topic, cls in TYPES.items():
            self.create_subscription(cls, topic, lambda m, t=topic: self._keep(t, m),
                                     qos_profile_sensor_data if cls is Image else RELIABLE)

    def _keep(self, topic: str, msg) -> None:
        with self.lock:
            self.got.append((topic, msg, time.monotonic()))


def test_record_then_replay_gives_the_same_messages_in_order_and_time(ros_context, tmp_path):
    recorder_node = Node("recorder", context=ros_context)
    talker, listener, player = Talker(ros_context), Listener(ros_context), Node("player", context=ros_context)
    sent: list[tuple[str, object, float]] = []
    script = [("/odom", odom(0.1)), ("/camera/color/image_raw", image(10)), (PLAN_TOPIC, plan(1, "pick up the apple")),
              (FEEDBACK_TOPIC, FEEDBACK(goal_id=UUID(uuid=[7] * 16), feedback=ExecuteInstruction.Feedback(
                  step_index=1, chosen_skill="pick up the apple", phase="pick up the apple: lifting"))),
              ("/odom", odom(0.2)), ("/camera/color/image_raw", image(20)),
              (PLAN_TOPIC, plan(1, "pick up the apple", "planning", "ok")), ("/odom", odom(0.3)),
              (PLAN_TOPIC, plan(2, "done", "succeeded"))]
    try:
        with Spinner(ros_context, recorder_node, talker, listener):
            recorder = record_episode(recorder_node, tmp_path / "episode.mcap", {"instruction": "throw away the apple"})
            wait_for(lambda: all(p.get_subscription_count() >= 2 for p in talker.pubs.values()), 20, "subscriptions")
            # spaced past the image throttle so every message counts; then a burst the throttle thins
            for topic, msg in script:
                talker.pubs[topic].publish(msg)
                sent.append((topic, msg, time.monotonic()))
                time.sleep(IMAGE_PERIOD_S + 0.1 if topic == "/camera/color/image_raw" else 0.2)
            wait_for(lambda: len(listener.got) >= len(script), 10, "the listener to hear the script")
            for i in range(5):
                talker.pubs["/camera/color/image_raw"].publish(image(100 + i))
                time.sleep(0.02)
            time.sleep(0.5)
            counts = recorder.close()
            listener.got.clear()

            recording = read_recording(tmp_path)
            assert counts == {topic: len(recording.on(topic)) for topic in recording.channels}
            images = recording.on("/camera/color/image_raw")
            assert 3 <= len(images) <= 4, "5 images within 0.1 s: the 0.5 s throttle keeps one (two at worst)"
            played = [m for m in recording.messages if m.log_time_ns <= images[2].log_time_ns][:-1]  # the script
            assert [m.topic for m in played] == [t for t, _, _ in sent]
            from rclpy.serialization import deserialize_message
            assert [deserialize_message(m.data, TYPES[m.topic]) for m in played] == [m for _, m, _ in sent]
            recorded_gaps = np.diff([m.log_time_ns / 1e9 for m in played])
            assert np.allclose(recorded_gaps, np.diff([s for _, _, s in sent]), atol=0.1)

            # replay twice as fast to the listener
            assert publish_recording(player, recording.channels, played, rate=2.0, delay_s=10.0) == len(played)
            wait_for(lambda: len(listener.got) >= len(played), 10, "the replayed messages")
    finally:
        for node in (recorder_node, talker, listener, player):
            node.destroy_node()
    got = listener.got
    assert [t for t, _, _ in got] == [t for t, _, _ in sent]
    assert [m for _, m, _ in got] == [m for _, m, _ in sent]
    assert np.allclose(np.diff([s for _, _, s in got]), recorded_gaps / 2, atol=0.1)


def test_one_recorder_goes_on_into_the_next_file_with_every_message_in_its_episode(ros_context, tmp_path):
    # exec-mode evaluation records 76 episodes with one recorder: its subscriptions stay, the file changes
    from saycan_ros.ros_io.recording import RecordingWriter

    recorder_node, talker = Node("recorder", context=ros_context), Talker(ros_context)
    try:
        with Spinner(ros_context, recorder_node, talker):
            recorder = record_episode(recorder_node, tmp_path / "a" / "episode.mcap", {"episode": "a"})
            wait_for(lambda: talker.pubs["/odom"].get_subscription_count() >= 1, 20, "the recorder's subscription")
            for round_ in range(3):  # a, b, c: three odometry messages each
                for i in range(3):
                    talker.pubs["/odom"].publish(odom(round_ + i / 10))
                    time.sleep(0.1)
                time.sleep(0.3)
                if round_ < 2:
                    counts = recorder.next_file(RecordingWriter(tmp_path / "abc"[round_ + 1] / "episode.mcap",
                                                                {"episode": "abc"[round_ + 1]}))
                    assert counts["/odom"] == 3
            assert recorder.close()["/odom"] == 3
    finally:
        recorder_node.destroy_node()
        talker.destroy_node()
    for round_, name in enumerate("abc"):
        recording = read_recording(tmp_path / name)
        from rclpy.serialization import deserialize_message
        xs = [deserialize_message(m.data, Odometry).pose.pose.position.x for m in recording.on("/odom")]
        assert xs == [round_ + i / 10 for i in range(3)]
