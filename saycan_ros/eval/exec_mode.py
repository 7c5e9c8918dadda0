"""exec mode of `saycan eval`: every episode runs in the simulator through the node graph.

The sim launch file's nodes start once (saycan_ros.launch_runner). The simulator gets a kitchen
file with one extra scene per episode (eval-<n>, the episode's start objects). Per episode the
harness sets sim_node's `scene`, `start_pose` and `start_holding` parameters, calls `sim/reset`, checks the
laid-out world against the episode's start, sends the instruction as an ExecuteInstruction goal,
records every decision from the action feedback and every outcome from `saycan/plan`, and judges
the goal on the simulator's final `sim/world_state`. Each episode's topics are recorded to
`<out>/episodes/<nn>-<id>.mcap` (saycan_ros.ros_io.recording; `saycan replay` shows one again).

Episodes the simulator cannot start as written (no objects, or a robot the reset does not put
where the episode says) are skipped and listed, not counted as failures.
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Callable, Sequence

import yaml

from saycan_ros.core.errors import ConfigError, SayCanError
from saycan_ros.core.kitchen import Kitchen, default_kitchen_file
from saycan_ros.core.skills import SkillLibrary
from saycan_ros.core.world import USER
from saycan_ros.eval.episodes import Episode, state_from_world
from saycan_ros.eval.faults import episode_fault_seed
from saycan_ros.eval.report import EpisodeResult
from saycan_ros.graph_client import GraphClient
from saycan_ros.language.base import ADAPTER_NAMES
from saycan_ros.ros_io.recording import RecordingWriter, record_episode

STARTUP_TIMEOUT_S = 300.0


ENDED_EARLY = "the run ended early"


def scene_name(index: int) -> str:
    return f"eval-{index}"


def write_eval_kitchen(kitchen_file: Path, episodes: Sequence[Episode], folder: Path) -> Path:
    """A copy of the kitchen file with one scene per episode (its start objects)."""
    data = yaml.safe_load(Path(kitchen_file).read_text())
    scenes = dict(data.get("scenes") or {})
    for i, ep in enumerate(episodes, 1):
        scenes[scene_name(i)] = dict(ep.start["objects"])
    data["scenes"] = scenes
    path = folder / "eval_kitchen.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def recording_path(out_dir: Path, n: int, ep: Episode) -> Path:
    """Where an episode's topics are recorded: <out>/episodes/<nn>-<id>.mcap (`saycan replay` reads it)."""
    safe_id = "".join(c if c.isalnum() or c in "-_." else "_" for c in ep.id)
    return out_dir / "episodes" / f"{n:02d}-{safe_id}.mcap"


def unsupported_reason(ep: Episode) -> str | None:
    """Why the simulator cannot start this episode as written, or None."""
    if not ep.start["objects"]:
        return "no objects in the start state (the simulator needs a scene)"
    return None


def graph_nodes(args, kitchen_path: Path, affordance: str):
    """The sim launch file's nodes with the evaluation's overrides."""
    from saycan_ros.launch_runner import find_launch_file, parse_launch_file

    # Nobody watches an evaluation: no visualization_node, and no camera_node relaying the simulator's
    # camera (the simulator publishes straight onto camera/...). The nodes that decide see the same
    # frames; two processes fewer on the sensor path leave the cores to the simulation.
    nodes = [n for n in parse_launch_file(find_launch_file("sim"), {"model": args.model or ""})
             if n.name not in ("visualization_node", "camera_node")]
    for node in nodes:
        if node.name == "sim_node":
            node.remaps = [(src, dst) for src, dst in node.remaps if dst != f"sim/{src}"]
            node.params += [("kitchen_file", str(kitchen_path)), ("fault_grasp_slip_p", float(args.grasp_slip)),
                            ("real_time_factor", float(args.real_time_factor)),
                            ("pause_between_skills", not args.no_pause_between_skills)]
        elif node.name == "planner_node":
            node.params += [("score_mode", args.score), ("outcome_feedback", args.outcome_feedback == "on"),
                            ("failure_penalty", args.failure_penalty)]
        elif node.name == "affordance_node" and affordance in ("none", "learned"):
            node.params.append(("model", affordance))
            if affordance == "learned" and args.value_function:
                node.params.append(("value_function", str(Path(args.value_function).resolve())))
        elif node.name == "llm_scoring_node":
            node.params += language_params(args)
    return nodes


def language_params(args) -> list[tuple[str, object]]:
    """llm_scoring_node's parameters for the language options of `saycan eval`, so exec mode scores
    with the adapter, prompt and examples that plan mode would (paths made absolute: nodes are
    processes of their own)."""
    def absolute(path: str) -> str:
        return str(Path(path).expanduser().resolve())

    adapter = args.adapter if args.adapter in ADAPTER_NAMES else absolute(args.adapter)
    params: list[tuple[str, object]] = [("backend", args.scorer), ("adapter", adapter),
                                        ("retrieved_examples", int(args.examples))]
    if args.server_url:
        params.append(("server_url", args.server_url))
    if args.prompts:
        params.append(("prompt_file", absolute(args.prompts)))
    if args.example_bank:
        params.append(("example_bank", ",".join(absolute(f) for f in args.example_bank)))
    return params


def run_exec_mode(episodes: Sequence[Episode], kitchen: Kitchen, args, affordance: str, out_dir: Path,
                  progress: Callable[[int, int, EpisodeResult], None] | None = None
                  ) -> tuple[list[EpisodeResult], list[str]]:
    """Run every episode through the graph; returns (results, notes about skipped episodes). If the
    graph breaks after some episodes ran, those results come back with a note that starts with
    ENDED_EARLY; if it breaks before any, the SayCanError is raised."""
    from saycan_ros.eval.judging import judge
    from saycan_ros.launch_runner import LaunchedGraph, use_private_ros_domain

    if affordance not in ("graph", "perception", "learned", "none"):
        raise ConfigError(f"exec mode uses the graph's camera-based affordance model (or none with --no-affordance); "
                          f"'{affordance}' is a plan-mode model")
    library = SkillLibrary.from_kitchen(kitchen)
    runnable = [(i, ep) for i, ep in enumerate(episodes, 1) if unsupported_reason(ep) is None]
    notes = [f"skipped {ep.id}: {unsupported_reason(ep)}" for ep in episodes if unsupported_reason(ep)]
    work = Path(tempfile.mkdtemp(prefix="saycan-eval-"))
    kitchen_path = write_eval_kitchen(Path(args.kitchen) if args.kitchen else default_kitchen_file(), episodes, work)
    nodes = graph_nodes(args, kitchen_path, affordance)
    results: list[EpisodeResult] = []
    print(f"exec mode: starting {len(nodes)} nodes ({', '.join(n.name for n in nodes)}); logs in {out_dir / 'logs'}",
          flush=True)
    use_private_ros_domain()  # no other graph on this machine may answer our goals
    with LaunchedGraph(nodes, log_dir=out_dir / "logs") as graph:
        client = GraphClient(graph, "saycan_eval")
        recorder = None  # one for the run, a file per episode
        try:
            client.wait_until_ready(STARTUP_TIMEOUT_S)
            for n, (index, ep) in enumerate(runnable, 1):
                at = ep.start["robot"]["at"]
                pose = kitchen.locations[at].pose if at in kitchen.locations else None
                holding = ep.start["robot"]["holding"]
                world = client.set_scene(scene_name(index), pose, holding,
                                         fault_seed=episode_fault_seed(args.fault_seed, index))
                where = world.get("robot_location")
                if at != USER and where != at:
                    notes.append(f"skipped {ep.id}: the robot should start at the {at} but sim/reset put it at "
                                 f"{where or 'no location'}")
                    continue
                if world.get("held_object") != holding:
                    notes.append(f"skipped {ep.id}: the robot should start holding {holding or 'nothing'} but "
                                 f"holds {world.get('held_object') or 'nothing'} after sim/reset")
                    continue
                started, sim_started = time.perf_counter(), client.sim_time()
                path, meta = recording_path(out_dir, n, ep), {"instruction": ep.instruction, "episode": ep.id}
                if recorder is None:
                    recorder = record_episode(client.node, path, meta)
                else:
                    recorder.next_file(RecordingWriter(path, meta))
                record = client.execute(ep.instruction, ep.max_steps or args.max_steps, args.timeout,
                                        sim_time_limit_s=args.sim_time_limit)
                final, _ = client.world()
                result = judge(ep, record, state_from_world(final or {}), library, kitchen)
                if args.grasp_slip:
                    result.meta["injected_faults"] = list((final or {}).get("injected_faults", []))
                result.elapsed_s = time.perf_counter() - started
                sim_now = client.sim_time()
                if sim_started is not None and sim_now is not None:
                    result.meta["sim_s"] = round(sim_now - sim_started, 2)
                results.append(result)
                if progress:
                    progress(n, len(runnable), result)
        except SayCanError as exc:  # the graph broke mid-run (a node died): keep what was measured
            if not results:
                raise
            notes.append(f"{ENDED_EARLY} after {len(results)} of {len(runnable)} episodes: {exc}")
        finally:
            if recorder is not None:
                recorder.close()
            client.close()
    notes.append(speed_note(results, args.real_time_factor))
    return results, notes


def speed_note(results: Sequence[EpisodeResult], asked: float) -> str:
    """How fast the simulation ran: simulated and wall-clock seconds over the timed episodes."""
    timed = [r for r in results if "sim_s" in r.meta]
    wall, sim = sum(r.elapsed_s for r in timed), sum(r.meta["sim_s"] for r in timed)
    achieved = f"{sim / wall:.2f}" if wall > 0 else "n/a"
    return (f"simulation: {sim:.0f} s simulated in {wall:.0f} s of wall-clock time over {len(timed)} episodes "
            f"({achieved} simulated seconds per second; real-time factor {asked:g} asked while skills run)")
