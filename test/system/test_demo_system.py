"""System test: the launch file's processes complete an instruction in the simulator.

Runs `saycan demo` exactly as a user would: seven node processes, the real embedded language
model, camera-based affordances, the skill executor driving the PyBullet robot, and the final
world state judged against the goal of the packaged episode. The run's episode.mcap is read back
and replayed (printing only) against the demo's own output.
"""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.system
ROOT = Path(__file__).resolve().parents[2]


def test_demo_throws_away_the_apple(tmp_path, capsys):
    saycan = ROOT / "install/saycan_ros/lib/saycan_ros/saycan"
    if not saycan.exists():
        pytest.skip("the workspace is not built (run make setup)")
    env = {**os.environ, "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST"}
    proc = subprocess.run([str(saycan), "demo", "throw away the apple", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=1200, env=env)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-4000:]
    assert "SUCCESS: yes (goal checked on the simulator's final world state)" in output, output[-4000:]
    rows = [json.loads(line) for line in (tmp_path / "episode.jsonl").read_text().splitlines()]
    result = rows[-1]
    assert result["status"] == "done"
    executed = result["executed"]
    assert executed[-1] == "done"
    # the apple was picked before it was put down, and the robot went to the trash can in between
    assert executed.index("pick up the apple") < executed.index("go to the trash can") < executed.index("put down the apple")
    assert result["judgement"]["final_objects"]["apple"] == "trash can"
    assert len(list(tmp_path.glob("step_*.png"))) == len(rows) - 2
    # the episode's topics were recorded: a decision per step on saycan/plan, and `saycan replay`
    # prints each step's table exactly as the demo printed it live
    from saycan_ros.replay import print_recording
    from saycan_ros.ros_io.recording import FEEDBACK_TOPIC, PLAN_TOPIC, read_recording

    recording = read_recording(tmp_path, decode_topics=[PLAN_TOPIC])
    assert set(recording.channels) == {"/camera/color/image_raw", "/odom", PLAN_TOPIC, FEEDBACK_TOPIC, "/saycan/command"}
    decided = [m.decoded.step_index for m in recording.on(PLAN_TOPIC) if m.decoded.state == "executing"]
    assert decided == [r["index"] for r in rows[1:-1] if r["chosen"] != "done"]
    assert recording.on(PLAN_TOPIC)[-1].decoded.state == "succeeded"
    assert len(recording.on("/odom")) > 100 and len(recording.on(FEEDBACK_TOPIC)) >= len(rows) - 2
    seconds = (recording.messages[-1].log_time_ns - recording.messages[0].log_time_ns) / 1e9
    assert 0 < len(recording.on("/camera/color/image_raw")) <= 2 * seconds + 2  # throttled to 2 Hz
    capsys.readouterr()
    replayed = print_recording(recording)
    replay_out = capsys.readouterr().out
    assert [s.chosen for s in replayed.steps] == [r["chosen"] for r in rows[1:-1]]
    for block in proc.stdout.split("\n  step ")[1:]:
        table = "  step " + block.split("\n    why:")[0]
        assert table in replay_out, (table, replay_out[-3000:])
    # every node shut down on SIGINT (nothing needed SIGKILL) and none crashed with a traceback
    for log in (tmp_path / "logs").glob("*.log"):
        assert "Traceback" not in log.read_text(errors="replace"), log.name
