"""The launch_ros-free runner: parsing the project's YAML launch files and staged shutdown."""
from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

import pytest

from saycan_ros.core.errors import ConfigError
from saycan_ros.launch_runner import LaunchedGraph, NodeSpec, parse_launch_file, spawn_process

LAUNCH = Path(__file__).resolve().parents[2] / "launch"


def test_sim_launch_has_the_seven_nodes_with_params_and_remaps():
    nodes = parse_launch_file(LAUNCH / "sim.launch.yaml", {"scene": "other", "model": "/models/x", "params_file": "/p.yaml"})
    assert [n.name for n in nodes] == ["sim_node", "camera_node", "llm_scoring_node", "affordance_node",
                                       "skill_executor_node", "planner_node", "visualization_node"]
    sim = nodes[0]
    assert ("file", "/p.yaml") in sim.params and ("scene", "other") in sim.params
    assert ("camera/color/image_raw", "sim/camera/color/image_raw") in sim.remaps
    args = nodes[2].ros_args()
    assert args[:3] == ["--ros-args", "-r", "__node:=llm_scoring_node"]
    assert "model:=/models/x" in args and "--params-file" in args
    assert ("objects_from", "sim_world_state") in nodes[-1].params  # object markers from the simulator


def test_empty_string_parameter_stays_a_string():
    assert "model:=''" in NodeSpec("p", "e", "n", params=[("model", "")]).ros_args()


def test_robot_launch_remaps_to_the_robots_topics():
    nodes = parse_launch_file(LAUNCH / "robot.launch.yaml", {"cmd_vel": "/base/cmd_vel", "params_file": "/p.yaml"})
    executor = next(n for n in nodes if n.name == "skill_executor_node")
    assert ("cmd_vel", "/base/cmd_vel") in executor.remaps
    assert "sim_node" not in [n.name for n in nodes]
    viz = next(n for n in nodes if n.name == "visualization_node")
    assert ("objects_from", "none") in viz.params and ("odom", "/odom") in viz.remaps


def test_bad_launch_input_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="unknown launch argument"):
        parse_launch_file(LAUNCH / "sim.launch.yaml", {"no_such_arg": "1", "params_file": "/p.yaml"})
    bad = tmp_path / "bad.launch.yaml"
    bad.write_text("launch:\n- include: {file: x}\n")
    with pytest.raises(ConfigError, match="unsupported launch entry 'include'"):
        parse_launch_file(bad)
    with pytest.raises(ConfigError, match="not found"):
        parse_launch_file(tmp_path / "missing.launch.yaml")


def test_shutdown_escalates_from_sigint_to_sigterm(tmp_path):
    """A process that ignores SIGINT is stopped by SIGTERM; a polite one by SIGINT, even when this
    launcher itself runs with SIGINT ignored (started in the background by a script)."""
    stubborn = NodeSpec("x", "stubborn", "stubborn")
    polite = NodeSpec("x", "polite", "polite")
    graph = LaunchedGraph([stubborn, polite], log_dir=tmp_path)
    import subprocess

    ignore = "import signal, time; signal.signal(signal.SIGINT, signal.SIG_IGN); print('up', flush=True); time.sleep(60)"
    graph.processes["stubborn"] = spawn_process([sys.executable, "-c", ignore], stdout=subprocess.PIPE)
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # what a background launcher inherits
    try:
        graph.processes["polite"] = spawn_process(
            [sys.executable, "-c", "import time; print('up', flush=True); time.sleep(60)"], stdout=subprocess.PIPE)
    finally:
        signal.signal(signal.SIGINT, previous)
    for p in graph.processes.values():
        assert p.stdout.readline().strip() == b"up"  # handlers installed before we signal
    started = time.monotonic()
    codes = graph.shutdown(grace_s=3.0)  # room for a loaded machine to run the KeyboardInterrupt exit
    assert codes["polite"] == -signal.SIGINT or codes["polite"] == 1  # KeyboardInterrupt exit
    assert codes["stubborn"] == -signal.SIGTERM
    assert time.monotonic() - started < 8
