"""Episode recordings (MCAP, ros2msg schemas, CDR) without a ROS graph: definitions, a write/read
roundtrip of real messages, the replay's step tables, and clear errors for bad files."""
from __future__ import annotations

import re

import numpy as np
import pytest
from nav_msgs.msg import Odometry
from rclpy.serialization import deserialize_message, serialize_message
from sensor_msgs.msg import Image
from std_msgs.msg import String
from unique_identifier_msgs.msg import UUID

from saycan_msgs.action import ExecuteInstruction
from saycan_msgs.msg import PlanStatus, SkillCandidate
from saycan_ros.cli import main as cli_main
from saycan_ros.core.episode import StepRecord
from saycan_ros.core.scoring import Candidate
from saycan_ros.demo import print_step
from saycan_ros.replay import print_recording
from saycan_ros.ros_io.images import numpy_to_image
from saycan_ros.ros_io.recording import (FEEDBACK_TOPIC, PLAN_TOPIC, RecordingError, RecordingWriter,
                                        message_class, message_definition, read_recording, type_name_of)

FEEDBACK = ExecuteInstruction.Impl.FeedbackMessage
T0 = 1_700_000_000_000_000_000


def test_a_definition_lists_each_used_type_once_after_the_main_text():
    text = message_definition("nav_msgs/msg/Odometry")
    assert text.startswith("# This represents an estimate")  # nav_msgs' own .msg file comes first
    names = re.findall(r"^MSG: (\S+)$", text, flags=re.MULTILINE)
    assert names[:3] == ["std_msgs/Header", "geometry_msgs/PoseWithCovariance", "geometry_msgs/TwistWithCovariance"]
    assert sorted(set(names)) == sorted(names)
    assert {"builtin_interfaces/Time", "geometry_msgs/Pose", "geometry_msgs/Point", "geometry_msgs/Quaternion",
            "geometry_msgs/Twist", "geometry_msgs/Vector3"} <= set(names)
    assert text.count("=" * 80) == len(names)


def test_the_action_feedback_wrapper_is_built_from_the_action_file():
    text = message_definition("saycan_msgs/action/ExecuteInstruction_FeedbackMessage")
    assert text.startswith("unique_identifier_msgs/UUID goal_id\nExecuteInstruction_Feedback feedback\n")
    feedback = text.split("MSG: saycan_msgs/ExecuteInstruction_Feedback\n", 1)[1]
    assert feedback.startswith("uint16 step_index")
    assert "string phase" in feedback and "error_code" not in feedback.split("=" * 80)[0]
    assert "MSG: saycan_msgs/SkillCandidate" in text and "MSG: unique_identifier_msgs/UUID" in text


def test_type_names_and_classes_map_both_ways():
    for cls in (Odometry, Image, String, PlanStatus, FEEDBACK):
        assert message_class(type_name_of(cls)) is cls
    assert type_name_of(FEEDBACK) == "saycan_msgs/action/ExecuteInstruction_FeedbackMessage"
    with pytest.raises(RecordingError, match="not a message type name"):
        message_definition("std_msgs/String")
    with pytest.raises(RecordingError, match="not installed"):
        message_definition("no_such_msgs/msg/Thing")
    with pytest.raises(RecordingError, match="not installed here"):
        message_class("std_msgs/msg/NoSuchType")


def plan(step: int, chosen: str, state: str = "executing", detail: str = "", executed=()) -> PlanStatus:
    return PlanStatus(instruction="throw away the apple", step_index=step, executed_steps=list(executed), chosen=chosen,
                      state=state, detail=detail, candidates=[
                          SkillCandidate(skill=chosen, llm_log_likelihood=-0.5, affordance=0.9, combined=-0.61),
                          SkillCandidate(skill="go to the table", llm_log_likelihood=-2.25, affordance=0.4, combined=-3.17)])


def odom(x: float) -> Odometry:
    msg = Odometry()
    msg.header.frame_id, msg.child_frame_id = "odom", "base_link"
    msg.header.stamp.sec = 7
    msg.pose.pose.position.x = x
    msg.twist.twist.angular.z = -0.25
    return msg


def feedback(phase: str) -> FEEDBACK:
    return FEEDBACK(goal_id=UUID(uuid=list(range(16))),
                    feedback=ExecuteInstruction.Feedback(step_index=1, chosen_skill="pick up the apple", phase=phase))


def episode_messages():
    """(topic, message, log time) of a small two-step episode, in time order."""
    image = numpy_to_image(np.arange(24 * 32 * 3, dtype=np.uint8).reshape(24, 32, 3) % 251, "rgb8", frame_id="camera")
    ms = 1_000_000
    return [("/saycan/command", String(data="throw away the apple"), T0),
            ("/camera/color/image_raw", image, T0 + 10 * ms),
            ("/odom", odom(0.5), T0 + 20 * ms),
            (PLAN_TOPIC, plan(1, "pick up the apple"), T0 + 900 * ms),
            (FEEDBACK_TOPIC, feedback("pick up the apple: lifting"), T0 + 1000 * ms),
            ("/odom", odom(0.75), T0 + 1100 * ms),
            (PLAN_TOPIC, plan(1, "pick up the apple", "planning", "ok"), T0 + 2000 * ms),
            (PLAN_TOPIC, plan(2, "done", "succeeded", executed=["pick up the apple"]), T0 + 3000 * ms)]


def write_episode(path, messages=None, payloads=None):
    """Write `messages` (default: the small episode); the CDR bytes written go to `payloads`."""
    messages = episode_messages() if messages is None else messages
    with RecordingWriter(path, {"instruction": "throw away the apple"}) as writer:
        for topic, msg, _ in messages:
            writer.add_channel(topic, type_name_of(type(msg)))
        for topic, msg, stamp in messages:
            data = serialize_message(msg)  # CDR padding bytes are not deterministic: keep what went in
            writer.write(topic, data, stamp)
            if payloads is not None:
                payloads.append(data)
    return path


def test_roundtrip_keeps_bytes_order_times_and_decodes_with_the_ros2_schemas(tmp_path):
    written, payloads = episode_messages(), []
    path = write_episode(tmp_path / "episode.mcap", written, payloads)
    # mcap-ros2-support parses the schema text we wrote for every plain message type (it refuses the
    # action wrapper's rosidl name, ExecuteInstruction_FeedbackMessage, for its underscore)
    topics = {topic for topic, _, _ in written} - {FEEDBACK_TOPIC}
    recording = read_recording(tmp_path, decode_topics=topics)  # the run folder works as well as the file
    assert recording.path == path
    assert recording.metadata == {"instruction": "throw away the apple"}
    assert recording.channels == {topic: type_name_of(type(msg)) for topic, msg, _ in written}
    assert [(m.topic, m.log_time_ns) for m in recording.messages] == [(t, s) for t, _, s in written]
    for (topic, original, _), data, got in zip(written, payloads, recording.messages):
        assert got.data == data
        assert deserialize_message(got.data, type(original)) == original
    # mcap-ros2-support decodes every channel from the schema text we wrote
    first_odom, image, plan_1 = recording.on("/odom")[0].decoded, recording.on("/camera/color/image_raw")[0].decoded, \
        recording.on(PLAN_TOPIC)[0].decoded
    assert (first_odom.pose.pose.position.x, first_odom.twist.twist.angular.z, first_odom.child_frame_id) == (0.5, -0.25, "base_link")
    assert (image.width, image.height, image.encoding, bytes(image.data)) == (32, 24, "rgb8", bytes(written[1][1].data))
    assert [(c.skill, c.llm_log_likelihood, c.affordance) for c in plan_1.candidates] == [
        ("pick up the apple", -0.5, 0.9), ("go to the table", -2.25, 0.4)]
    assert recording.on(FEEDBACK_TOPIC)[0].decoded is None
    assert recording.on("/saycan/command")[0].decoded.data == "throw away the apple"


def test_replay_prints_the_demos_step_tables(tmp_path, capsys):
    write_episode(tmp_path / "episode.mcap")
    episode = print_recording(read_recording(tmp_path, decode_topics=(PLAN_TOPIC,)))
    out = capsys.readouterr().out
    assert [(s.index, s.chosen) for s in episode.steps] == [(1, "pick up the apple"), (2, "done")]
    assert episode.status == "done" and episode.executed == ["pick up the apple", "done"]
    for step in episode.steps:  # exactly what the demo printed live for the same decision
        print_step(StepRecord(step.index, [Candidate(c.skill, c.llm, c.affordance, c.combined) for c in step.candidates],
                              step.chosen))
        table = capsys.readouterr().out
        assert table in out
    assert '  step 1: chose "pick up the apple"\n' in out
    assert "  > pick up the apple                 -0.50        0.90     -0.61" in out
    # the outcome under step 1's table, before step 2's
    assert out.index("step 1: chose") < out.index("      -> succeeded\n") < out.index("step 2: chose")
    assert "planner: finished with done" in out and "executed: pick up the apple, done" in out
    assert "/odom" in out and "nav_msgs/msg/Odometry" in out and "3.0 s recorded" in out


def test_a_step_table_shows_an_impossible_skills_affordance_as_such(capsys):
    """0.001 (gripper empty, nothing to bring) must not print as 0.00, a value the scores never take."""
    print_step(StepRecord(3, [Candidate("pick up the rice chips", -7.44, 0.95, -7.49),
                              Candidate("bring it to you", -2.0, 0.001, -8.91)], "pick up the rice chips"))
    out = capsys.readouterr().out
    assert "  > pick up the rice chips            -7.44        0.95     -7.49" in out
    assert "    bring it to you                   -2.00       0.001     -8.91" in out
    assert 'liked "bring it to you" best (log p -2.00), but its affordance is 0.001;' in out


def test_cli_replay_no_publish_prints_and_returns_zero(tmp_path, capsys):
    write_episode(tmp_path / "episode.mcap")
    assert cli_main(["replay", str(tmp_path / "episode.mcap"), "--no-publish"]) == 0
    assert 'step 2: chose "done"' in capsys.readouterr().out


def damaged(source, target):
    """A copy of a recording with 100 bytes inside its first chunk overwritten."""
    data = bytearray(source.read_bytes())
    data[1500:1600] = b"\xff" * 100
    target.write_bytes(bytes(data))
    return target


@pytest.mark.parametrize("make, message", [
    (lambda d: d / "nothing-here", "does not exist"),
    (lambda d: d, "no recording at"),  # a folder without episode.mcap
    (lambda d: (d / "x.mcap").write_bytes(b"not an mcap file at all" * 10) and d / "x.mcap", "not a readable MCAP"),
    (lambda d: (d / "t.mcap").write_bytes(write_episode(d / "full.mcap").read_bytes()[:3000]) and d / "t.mcap",
     "truncated or damaged"),
    (lambda d: damaged(write_episode(d / "full.mcap"), d / "d.mcap"), "truncated or damaged"),  # chunk CRC
])
def test_a_missing_or_broken_recording_is_one_clear_line(tmp_path, capsys, make, message):
    path = make(tmp_path)
    with pytest.raises(RecordingError, match=message):
        read_recording(path)
    assert cli_main(["replay", str(path), "--no-publish"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("saycan replay: error: ") and "Traceback" not in err and message in err


def test_writing_to_an_unregistered_topic_a_bad_rate_or_an_unknown_topic_is_refused(tmp_path, capsys):
    with RecordingWriter(tmp_path / "a.mcap") as writer:
        with pytest.raises(RecordingError, match="was not added"):
            writer.write("/odom", serialize_message(odom(0.0)))
    write_episode(tmp_path / "episode.mcap")
    assert cli_main(["replay", str(tmp_path), "--topic", "odom", "--topic", "/cmd_vel"]) == 2
    captured = capsys.readouterr()
    assert "error: not in the recording: /cmd_vel (it has /camera/color/image_raw" in captured.err
    assert captured.out == ""  # refused before printing or publishing anything
    with pytest.raises(SystemExit):
        cli_main(["replay", str(tmp_path), "--rate", "0"])
    assert "outside" in capsys.readouterr().err
