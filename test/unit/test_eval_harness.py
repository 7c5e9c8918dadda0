"""The plan-mode harness with scripted task grounding (no language model): judging, failure
analysis, the report, the output files and the summary line."""
from __future__ import annotations

import json

import pytest

from saycan_ros.core.kitchen import load_kitchen
from saycan_ros.core.skills import SkillLibrary
from saycan_ros.eval import harness
from saycan_ros.eval.episodes import parse_episodes
from saycan_ros.eval.faults import episode_fault_seed
from saycan_ros.eval.oracle import OracleGrounding, shortest_plan
from saycan_ros.eval.report import parse_summary_line, summarize

KITCHEN = load_kitchen()
LIB = SkillLibrary.from_kitchen(KITCHEN)

SET = """\
- id: toss
  family: a
  instruction: toss the apple
  start: {robot: {at: user, holding: null}, objects: {apple: table, orange: table}}
  goal: [{object: apple, at: trash can}]
- id: fetch
  family: a
  instruction: fetch the orange
  start: {robot: {at: user, holding: null}, objects: {apple: table, orange: far counter}}
  goal: [{object: orange, at: user}]
- id: walk
  family: b
  instruction: walk to the table
  start: {robot: {at: user, holding: null}, objects: {apple: table}}
  goal: [{robot_at: table}]
"""


def episodes():
    return parse_episodes(SET, KITCHEN, source="set.yaml")


def oracle_plans(eps):
    return {e.instruction: shortest_plan(e.initial_state(KITCHEN), e.goal, LIB, KITCHEN) for e in eps}


def symbolic():
    return harness.make_world_factory("symbolic", KITCHEN)


def test_an_oracle_plan_succeeds_everywhere():
    eps = episodes()
    results = harness.run_plan_mode(eps, KITCHEN, LIB, OracleGrounding(oracle_plans(eps)), symbolic())
    assert [r.success for r in results] == [True, True, True]
    assert results[0].plan == ["find an apple", "pick up the apple", "go to the trash can", "put down the apple", "done"]
    rows = summarize(results)
    assert [(r.name, r.n, r.successes) for r in rows] == [("a", 2, 2), ("b", 1, 1), ("overall", 3, 3)]
    assert rows[-1].mean_steps == pytest.approx((5 + 5 + 2) / 3)


def test_failures_say_which_step_went_wrong():
    eps = episodes()
    plans = oracle_plans(eps)
    plans["toss the apple"] = ["find an orange", "pick up the orange", "go to the trash can", "put down the orange", "done"]
    plans["fetch the orange"] = ["pick up the orange", "pick up the orange", "pick up the orange"]
    plans["walk to the table"] = ["done"]
    results = harness.run_plan_mode(eps, KITCHEN, LIB, OracleGrounding(plans), symbolic(), max_steps=6)
    toss, fetch, walk = results
    # finding the orange brings the robot to the table (closer); picking it up does not help
    assert not toss.success and toss.wrong_step == 2 and "does not bring the goal closer" in toss.reason
    assert toss.failed_goals == ["apple at trash can"]
    assert not fetch.success and fetch.wrong_step == 1 and "failed" in fetch.reason and "no orange" in fetch.reason
    assert fetch.status == "skill_failed"
    assert not walk.success and walk.wrong_step == 1 and "chose 'done'" in walk.reason


def test_no_affordance_world_gives_ones():
    world = harness.make_world_factory("none", KITCHEN)(None)
    assert world.affordances(list(LIB)[:3]) == [1.0, 1.0, 1.0]
    from saycan_ros.core.errors import ConfigError

    with pytest.raises(ConfigError, match="not available in plan mode"):
        harness.make_world_factory("perception", KITCHEN)


class _Scorer:
    closed = False

    def close(self):
        _Scorer.closed = True


@pytest.fixture
def scripted(monkeypatch):
    """main() with an oracle in place of the language model."""
    def fake(args):
        eps = episodes()
        return OracleGrounding(oracle_plans(eps)), _Scorer()

    monkeypatch.setattr(harness, "make_task_grounding", fake)


def test_main_writes_report_json_plot_and_ends_with_the_summary_line(tmp_path, capsys, scripted):
    path = tmp_path / "set.yaml"
    path.write_text(SET)
    out = tmp_path / "out"
    assert harness.main([str(path), "--out", str(out), "--quiet"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1] == f"eval file={path} mode=plan n=3 success=1.000 mean_steps=4.00 step_ms={lines[-1].split('step_ms=')[1]}"
    summary = parse_summary_line(lines[-1])
    assert summary["n"] == 3 and summary["success"] == 1.0 and summary["mode"] == "plan"
    assert "| **overall** | 3 | 3 | 100% |" in (out / "report.md").read_text()
    data = json.loads((out / "results.json").read_text())
    assert data["config"]["affordance"] == "symbolic" and len(data["episodes"]) == 3
    # the report names the prompt the scorer used: the default adapter's own, not config/prompts.yaml
    assert data["config"]["prompts"].endswith("planner-lora-holding/prompt.yaml")
    assert (out / "success.png").stat().st_size > 1000
    assert _Scorer.closed


def test_main_filters_and_ablations(tmp_path, capsys, scripted):
    path = tmp_path / "set.yaml"
    path.write_text(SET)
    assert harness.main([str(path), "--family", "b", "--no-affordance", "--out", str(tmp_path / "o"), "--quiet"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert parse_summary_line(last)["n"] == 1
    data = json.loads((tmp_path / "o" / "results.json").read_text())
    assert data["config"]["affordance"] == "none"
    assert harness.main([str(path), "--adapter", "none", "--out", str(tmp_path / "q"), "--quiet"]) == 0
    assert json.loads((tmp_path / "q" / "results.json").read_text())["config"]["prompts"] == "config/prompts.yaml"
    assert harness.main([str(path), "--limit", "2", "--out", str(tmp_path / "p"), "--quiet"]) == 0
    assert parse_summary_line(capsys.readouterr().out.strip().splitlines()[-1])["n"] == 2


def test_main_reports_bad_input_in_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text(SET.replace("orange: far counter", "orange: fridge"))
    assert harness.main([str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"saycan eval: error: {bad}:9: unknown location 'fridge'; known: close counter, far counter, table, trash can, user"
    assert harness.main([str(bad), "--family", "zzz"]) == 2
    assert harness.main([str(tmp_path / "missing.yaml")]) == 2
    assert "episode file not found" in capsys.readouterr().err
    assert harness.main(["--mode", "exec", "--real-time-factor", "0"]) == 2
    assert "--real-time-factor must be within [0.05, 20]" in capsys.readouterr().err
    assert harness.main(["--mode", "exec", "--sim-time-limit", "-1"]) == 2
    assert "must be positive" in capsys.readouterr().err
    assert harness.main(["--mode", "exec", "--grasp-slip", "0.3", "--fault-seed", "-1"]) == 2
    assert "--fault-seed must be 0 or more, got -1" in capsys.readouterr().err


def test_main_reference_tsv_mode_credits_the_data_set(tmp_path, capsys, monkeypatch):
    tsv = tmp_path / "plans.tsv"
    tsv.write_text("INPUT\tOUTPUT\nPlease toss the apple.\t1. find an apple, 2. pick up the apple, "
                   "3. go to the trash, 4. put down the apple, 5. done.\n", encoding="utf-8")
    plans = {"Please toss the apple.": ["find an apple", "pick up the apple", "go to the trash can", "put down the apple", "done"]}
    monkeypatch.setattr(harness, "make_task_grounding", lambda args: (OracleGrounding(plans), _Scorer()))
    assert harness.main(["--reference-tsv", str(tsv), "--out", str(tmp_path / "r"), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "Ahn et al. 2022" in out and "CC BY 4.0" in out
    assert out.strip().splitlines()[-1].startswith(f"eval file={tsv} mode=plan n=1 success=1.000")
    assert "CC BY 4.0" in (tmp_path / "r" / "report.md").read_text()


def test_exec_mode_scenes_overrides_and_unsupported_starts(tmp_path, monkeypatch):
    import argparse

    import yaml

    from saycan_ros.core.kitchen import default_kitchen_file, load_kitchen as load
    from saycan_ros.eval.exec_mode import (graph_nodes, recording_path, scene_name, unsupported_reason,
                                           write_eval_kitchen)

    eps = episodes()
    path = write_eval_kitchen(default_kitchen_file(), eps, tmp_path)
    written = load(path)
    assert written.scene(scene_name(2)) == {"apple": "table", "orange": "far counter"}
    assert written.scene("default") == KITCHEN.scene("default") and written.objects == KITCHEN.objects
    assert all(unsupported_reason(e) is None for e in eps)
    held = parse_episodes(SET.replace("holding: null}, objects: {apple: table, orange: table}",
                                      "holding: orange}, objects: {apple: table}"), KITCHEN)[0]
    assert unsupported_reason(held) is None  # sim/reset starts it with the orange in the gripper
    bare = parse_episodes(SET.replace("holding: null}, objects: {apple: table, orange: table}",
                                      "holding: apple}, objects: {}"), KITCHEN)[0]
    assert "no objects" in unsupported_reason(bare)

    args = argparse.Namespace(model="", score="mean", scorer="transformers", server_url=None, grasp_slip=0.25,
                              outcome_feedback="off", failure_penalty=0.5, real_time_factor=3.0,
                              no_pause_between_skills=False, adapter="feedback", examples=0, prompts=None,
                              example_bank=None)
    nodes = {n.name: n for n in graph_nodes(args, path, "none")}
    # nobody watches an evaluation: no relay between the simulator's camera and the nodes that use it
    assert set(nodes) == {"sim_node", "llm_scoring_node", "affordance_node", "skill_executor_node", "planner_node"}
    assert not [r for r in nodes["sim_node"].remaps if "camera" in r[0]]
    assert ("kitchen_file", str(path)) in nodes["sim_node"].params
    assert {("fault_grasp_slip_p", 0.25), ("real_time_factor", 3.0), ("pause_between_skills", True)} <= set(nodes["sim_node"].params)
    assert {("score_mode", "mean"), ("outcome_feedback", False), ("failure_penalty", 0.5)} <= set(nodes["planner_node"].params)
    assert ("model", "none") in nodes["affordance_node"].params
    assert {("backend", "transformers"), ("adapter", "feedback"), ("retrieved_examples", 0)} <= set(nodes["llm_scoring_node"].params)
    # a trained adapter, a prompt and an example bank reach the language-model node, as absolute paths
    # (an exec run once scored with the default adapter while its report named the one asked for)
    monkeypatch.chdir(tmp_path)
    args = argparse.Namespace(**{**vars(args), "adapter": "runs/my-adapter", "examples": 3, "prompts": "p.yaml",
                                 "example_bank": ["a.yaml", "b.yaml"], "server_url": "http://localhost:8000/v1"})
    params = dict(next(n for n in graph_nodes(args, path, "none") if n.name == "llm_scoring_node").params)
    assert params["adapter"] == str(tmp_path / "runs/my-adapter") and params["retrieved_examples"] == 3
    assert params["prompt_file"] == str(tmp_path / "p.yaml")
    assert params["example_bank"] == f"{tmp_path / 'a.yaml'},{tmp_path / 'b.yaml'}"
    assert params["server_url"] == "http://localhost:8000/v1"
    assert yaml.safe_load(path.read_text())["scenes"][scene_name(1)] == {"apple": "table", "orange": "table"}
    # each episode's topics go to its own file, named so that any id makes a safe file name
    import dataclasses
    assert recording_path(tmp_path, 3, eps[0]) == tmp_path / "episodes" / f"03-{eps[0].id}.mcap"
    assert recording_path(tmp_path, 12, dataclasses.replace(eps[0], id="../a b")).name == "12-.._a_b.mcap"


def test_exec_mode_keeps_the_episodes_that_ran_when_a_node_dies_mid_run(tmp_path, monkeypatch, capsys):
    """Fakes stand in for the launched graph and its client (no processes, no ROS): the first
    episode runs to 'done', then the simulator 'dies'. The report and results.json keep the first
    episode, a note says where the run stopped, and the exit status is 1 (not a lost run)."""
    from saycan_ros import launch_runner
    from saycan_ros.core.episode import EpisodeRecord, StepRecord
    from saycan_ros.core.errors import SayCanError
    from saycan_ros.eval import exec_mode

    (tmp_path / "set.yaml").write_text(SET)

    class FakeGraph:
        def __init__(self, nodes, log_dir):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    class FakeClient:
        episodes = 0
        fault_seeds = []

        def __init__(self, graph, name):
            self.node = None

        def wait_until_ready(self, timeout_s):
            pass

        def set_scene(self, name, pose, holding, fault_seed=None):
            FakeClient.episodes += 1
            FakeClient.fault_seeds.append(fault_seed)
            if FakeClient.episodes == 2:
                raise SayCanError("node 'sim_node' exited with code 2")
            return {"robot_location": "user", "held_object": None}

        def sim_time(self):
            return 0.0

        def execute(self, instruction, max_steps, timeout_s, sim_time_limit_s=None):
            return EpisodeRecord(instruction, steps=[StepRecord(1, [], "done")], status="done")

        def world(self):
            return {"robot_location": "user", "held_object": None, "injected_faults": ["the apple slipped"],
                    "objects": {"apple": {"location": "trash can"}, "orange": {"location": "table"}}}, 0.0

        def close(self):
            pass

    class FakeRecorder:
        def next_file(self, writer):
            pass

        def close(self):
            pass

    monkeypatch.setattr(launch_runner, "LaunchedGraph", FakeGraph)
    monkeypatch.setattr(launch_runner, "use_private_ros_domain", lambda: 0)
    monkeypatch.setattr(exec_mode, "GraphClient", FakeClient)
    monkeypatch.setattr(exec_mode, "record_episode", lambda node, path, meta: FakeRecorder())
    monkeypatch.setattr(exec_mode, "RecordingWriter", lambda path, meta: None)
    out = tmp_path / "run"
    assert harness.main([str(tmp_path / "set.yaml"), "--mode", "exec", "--grasp-slip", "0.3", "--out", str(out),
                         "--quiet"]) == 1
    captured = capsys.readouterr()
    assert "the run ended early after 1 of 3 episodes: node 'sim_node' exited with code 2" in captured.err
    saved = json.loads((out / "results.json").read_text())
    assert [(e["id"], e["success"]) for e in saved["episodes"]] == [("toss", True)]
    # each episode meets its own injected slips: the simulator's fault seed is set per episode
    assert FakeClient.fault_seeds == [episode_fault_seed(0, 1), episode_fault_seed(0, 2)] == [1, 2]
    assert "the run ended early after 1 of 3 episodes" in (out / "report.md").read_text()
    # the slips the simulator injected are counted per episode, so a run that met none says so
    assert saved["episodes"][0]["meta"]["injected_faults"] == ["the apple slipped"]
    assert "faults met: 1 injected into 1 of 1 episodes; 1 of those 1 succeeded" in (out / "report.md").read_text()
