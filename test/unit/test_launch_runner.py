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
    bad.write_text("launch:\n- group: {scoped: true}\n")
    with pytest.raises(ConfigError, match="unsupported launch entry 'group'"):
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


def test_include_passes_only_its_args_and_checks_them(tmp_path):
    inner = tmp_path / "inner.launch.yaml"
    inner.write_text("launch:\n- arg: {name: topic, default: /a}\n- arg: {name: other, default: x}\n"
                     "- node: {pkg: p, exec: e, name: n, remap: [{from: t, to: $(var topic)}],"
                     " param: [{name: o, value: $(var other)}]}\n")
    outer = tmp_path / "outer.launch.yaml"
    outer.write_text(f"launch:\n- arg: {{name: topic, default: /robot/t}}\n"
                     f"- include:\n    file: {inner}\n    arg:\n    - {{name: topic, value: $(var topic)}}\n")
    (node,) = parse_launch_file(outer)
    assert node.remaps == [("t", "/robot/t")] and node.params == [("o", "x")]
    assert parse_launch_file(outer, {"topic": "/mine"})[0].remaps == [("t", "/mine")]
    with pytest.raises(ConfigError, match="unknown launch argument"):
        parse_launch_file(outer, {"other": "y"})  # not declared by the outer file
    typo = tmp_path / "typo.launch.yaml"
    typo.write_text(f"launch:\n- include: {{file: {inner}, arg: [{{name: topik, value: /x}}]}}\n")
    with pytest.raises(ConfigError, match=r"inner.launch.yaml: unknown launch argument\(s\): topik"):
        parse_launch_file(typo)
    cycle = tmp_path / "cycle.launch.yaml"
    cycle.write_text(f"launch:\n- include: {{file: {cycle}}}\n")
    with pytest.raises(ConfigError, match="include cycle"):
        parse_launch_file(cycle)


@pytest.mark.parametrize("robot, expected", [
    ("stretch", {"cmd_vel": "/stretch/cmd_vel", "odom": "/odom", "joint_states": "/stretch/joint_states",
                 "camera/depth/image_raw": "/camera/aligned_depth_to_color/image_raw"}),
    ("tiago", {"cmd_vel": "/mobile_base_controller/cmd_vel_unstamped", "odom": "/mobile_base_controller/odom",
               "arm_controller/joint_trajectory": "/torso_controller/joint_trajectory",
               "camera/depth/image_raw": "/head_front_camera/depth_registered/image_raw"}),
])
def test_robot_launch_files_remap_to_the_drivers_topics_and_load_the_robot_parameters(robot, expected):
    from saycan_ros.launch_runner import find_launch_file, package_share

    try:
        share = package_share("saycan_ros")
    except ConfigError:
        pytest.skip("the workspace is not built (run make setup)")
    nodes = parse_launch_file(find_launch_file(robot))
    assert [n.name for n in nodes] == ["llm_scoring_node", "affordance_node", "skill_executor_node", "planner_node",
                                       "visualization_node"]
    executor = next(n for n in nodes if n.name == "skill_executor_node")
    assert dict(executor.remaps).items() >= expected.items()
    files = [value for key, value in executor.params if key == "file"]
    assert files == [str(share / "config/saycan.yaml"), str(share / f"config/robots/{robot}.yaml")]
    assert Path(files[1]).is_file()  # installed by setup.py
    overridden = parse_launch_file(find_launch_file(robot), {"cmd_vel": "/other"})
    assert ("cmd_vel", "/other") in next(n for n in overridden if n.name == "skill_executor_node").remaps
