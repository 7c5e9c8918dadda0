"""`saycan demo`: the whole SayCan loop in the simulated kitchen, explained step by step.

Brings up the sim launch file's nodes as processes, sends the instruction as an
ExecuteInstruction goal, prints every decision as a table (LLM log-likelihood, affordance,
combined score), judges success from the simulator's final world state, writes the episode
(JSONL + one score plot per step + episode.mcap with the topics, see `saycan replay`) and shuts
everything down.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any, Sequence

from saycan_ros.cli_types import bounded
from saycan_ros.core.episode import EpisodeRecord, StepRecord
from saycan_ros.core.errors import SayCanError

DEFAULT_INSTRUCTION = "throw away the apple"


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="saycan demo", description=__doc__.splitlines()[0])
    parser.add_argument("instruction", nargs="?", default=DEFAULT_INSTRUCTION, help=f"what the robot should do (default: '{DEFAULT_INSTRUCTION}')")
    parser.add_argument("--scene", default="default", help="start state from config/kitchen.yaml scenes (default: default)")
    parser.add_argument("--model", default="", help="language model: a local Hugging Face folder or .gguf file (default: embedded SmolLM2-135M)")
    parser.add_argument("--affordance", choices=("perception", "learned", "none"), default=None,
                        help="affordance_node's value function: hand-calibrated (perception), learned from the "
                             "robot's experience (learned, models/affordance), or none (default: config/saycan.yaml)")
    parser.add_argument("--max-steps", type=bounded(int, 0, 1000), default=0, help="step limit, 1..1000 (default 0: the planner's parameter)")
    parser.add_argument("--top-k", type=bounded(int, 1, 57), default=5, help="candidates shown per step (default 5)")
    parser.add_argument("--out", default="", help="folder for the episode record (default: runs/demo-<time>)")
    parser.add_argument("--timeout", type=bounded(float, 1, 86400), default=900.0, help="give up after this many seconds")
    parser.add_argument("--domain-id", type=bounded(int, 0, 101), default=None,
                        help="ROS_DOMAIN_ID of the demo's graph (default: a free one, printed, so nothing else on the machine interferes)")
    parser.add_argument("--view", action="store_true",
                        help="also serve the live browser view (see `saycan view`) and print its URL")
    parser.add_argument("--view-port", type=bounded(int, 1, 65535), default=9090,
                        help="HTTP port of the browser view (default 9090; its data stream uses the next free of 9876..)")
    parser.add_argument("--startup-timeout", type=bounded(float, 1, 3600), default=240.0, help="seconds to wait for the nodes to come up")
    return parser.parse_args(argv)


def main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    from saycan_ros.core.prompt import normalize_instruction
    from saycan_ros.graph_client import GraphClient
    from saycan_ros.launch_runner import LaunchedGraph, find_launch_file, parse_launch_file, use_private_ros_domain
    from saycan_ros.ros_io.recording import record_episode

    instruction = normalize_instruction(args.instruction)  # refuse a bad instruction before starting anything
    out = Path(args.out or Path(os.environ.get("SAYCAN_ROOT", ".")) / "runs" / f"demo-{datetime.now():%Y%m%d-%H%M%S}")
    nodes = parse_launch_file(find_launch_file("sim"), {"scene": args.scene, "model": args.model, "top_k": str(args.top_k)})
    if args.affordance:
        next(n for n in nodes if n.name == "affordance_node").params.append(("model", args.affordance))
    view_url = add_viewer(nodes, args.view_port) if args.view else ""
    print(f"SayCan demo: \"{instruction}\"")
    print(f"  starting {len(nodes)} nodes as processes: {', '.join(n.name for n in nodes)}")
    print(f"  node logs: {out / 'logs'}")
    domain = use_private_ros_domain(args.domain_id)
    print(f"  ROS_DOMAIN_ID={domain} (localhost only): export it to watch, e.g. ros2 topic echo /saycan/plan, "
          "or rviz2 -d config/saycan.rviz")
    if view_url:
        print(f"  browser view: {view_url}")
    started = time.monotonic()
    with LaunchedGraph(nodes, log_dir=out / "logs") as graph:
        client = GraphClient(graph, "saycan_demo")
        last_phase = [""]

        def on_phase(phase: str) -> None:
            # the executor's phases ("pick up the apple: lifting"), each once; the planner's own
            # (scoring, affordances, executing) would only interleave with the tables
            if ":" in phase and phase != last_phase[0]:
                print(f"      ... {phase}", flush=True)
            last_phase[0] = phase

        client.on_step = print_step
        client.on_phase = on_phase
        client.on_outcome = lambda index, detail: print_outcome(detail)
        recorder = None
        try:
            client.wait_until_ready(args.startup_timeout, lambda label: print(f"  waiting for the {label} ...", flush=True))
            print(f"  graph ready in {time.monotonic() - started:.0f} s\n")
            recorder = record_episode(client.node, out / "episode.mcap", {"instruction": instruction})
            episode = client.execute(instruction, args.max_steps, args.timeout)
            world = client.world()[0]
            if view_url and sys.stdin.isatty():
                linger(view_url)
        finally:
            if recorder is not None:
                recorder.close()
            client.close()
            print("\n  shutting the nodes down (SIGINT, then SIGTERM, then SIGKILL)")
    judgement = judge(instruction, episode, world)
    episode.judgement.update(judgement)
    report(episode, judgement, out, time.monotonic() - started, args.top_k)
    return 0 if judgement["success"] is not False else 1


def add_viewer(nodes: list, web_port: int) -> str:
    """Append viewer_node to the demo's nodes (refusing first when rerun-sdk is missing or the port
    is taken); the page's URL."""
    from saycan_ros.launch_runner import NodeSpec
    from saycan_ros.view import check_can_serve
    from saycan_ros.viz.rerun_view import viewer_url
    from saycan_ros.viz.web_view import free_port_error

    grpc_port = next((p for p in range(9876, 9976) if p != web_port and free_port_error({"": p}) is None), 9876)
    check_can_serve(web_port, grpc_port)
    nodes.append(NodeSpec("saycan_ros", "viewer_node", "viewer_node",
                          params=[("web_port", str(web_port)), ("grpc_port", str(grpc_port))]))
    return viewer_url(web_port, grpc_port)


def linger(url: str) -> None:
    """Keep the graph (and the page) up after the episode until Ctrl-C, at an interactive terminal."""
    print(f"\n  the episode is over; the browser view stays at {url} until Ctrl-C", flush=True)
    try:
        while True:
            time.sleep(1.0)
    except KeyboardInterrupt:
        pass


def probability_text(p: float) -> str:
    """Two decimals, or three below 0.01, so an impossible skill's 0.001 does not read as zero."""
    return f"{p:.3f}" if 0.0 < p < 0.01 else f"{p:.2f}"


def print_step(step: StepRecord) -> None:
    best_llm = max(step.candidates, key=lambda c: c.llm)
    print(f"  step {step.index}: chose \"{step.chosen}\"")
    print(f"    {'skill':<28} {'LLM log p':>10} {'affordance':>11} {'combined':>9}")
    for c in step.candidates:  # top-k by combined score, plus the LLM's favourite if it ranked lower
        mark = ">" if c.skill == step.chosen else " "
        print(f"  {mark} {c.skill:<28} {c.llm:>10.2f} {probability_text(c.affordance):>11} {c.combined:>9.2f}")
    chosen = step.candidates[0]
    if best_llm.skill != chosen.skill:
        print(f"    why: the language model liked \"{best_llm.skill}\" best (log p {best_llm.llm:.2f}), but its "
              f"affordance is {probability_text(best_llm.affordance)}; \"{chosen.skill}\" has the best product.")
    elif chosen.affordance >= 0.5:
        print(f"    why: most useful for the instruction (highest LLM score) and feasible (affordance {probability_text(chosen.affordance)}).")
    else:
        print(f"    why: the language model's clear favourite; the value function doubts it (affordance "
              f"{probability_text(chosen.affordance)}), but no likelier skill has a better product.")
    sys.stdout.flush()


def print_outcome(detail: str) -> None:
    """A skill's outcome under its step's table ('ok' from saycan/plan reads 'succeeded')."""
    print(f"      -> {'succeeded' if detail == 'ok' else detail}", flush=True)
    if detail != "ok":
        print("      -> replanning: the prompt now says this step failed and why (planner_node outcome_feedback), "
              "and the skill's affordance is lowered (failure_penalty)", flush=True)


def judge(instruction: str, episode: EpisodeRecord, world: dict[str, Any] | None) -> dict[str, Any]:
    """Success from the simulator's final world state against the instruction's goal, when known."""
    verdict: dict[str, Any] = {"planner_status": episode.status}
    if world is None:
        verdict.update(success=False, reason="no world state from the simulator")
        return verdict
    verdict["final_objects"] = {n: ("gripper" if o.get("held") else o.get("location"))
                                for n, o in world.get("objects", {}).items()}
    verdict["holding"] = world.get("held_object")
    goal = _known_goal(instruction)
    if goal is None:  # nothing to check the world against: say so rather than claim success
        verdict.update(success=None if episode.status == "done" else False,
                       reason="no goal is known for this instruction (not in config/eval/*.yaml); "
                              + ("the planner finished with 'done'" if episode.status == "done" else "the planner did not finish"))
        return verdict
    from saycan_ros.eval.episodes import goal_satisfied, state_from_world  # judged like the evaluation harness

    ok, failed = goal_satisfied(goal, state_from_world(world))
    verdict.update(success=bool(ok and episode.status == "done"), goal=str(goal), unmet=[str(f) for f in failed],
                   reason="goal checked on the simulator's final world state")
    return verdict


def _known_goal(instruction: str):
    """The goal of an episode with this instruction in the package's episode sets, if any."""
    from saycan_ros.core.kitchen import config_dir
    from saycan_ros.eval.episodes import load_episodes

    for path in sorted((config_dir() / "eval").glob("*.yaml")):
        try:
            for ep in load_episodes(path):
                if " ".join(ep.instruction.lower().split()) == instruction.lower():
                    return ep.goal
        except SayCanError:
            continue
    return None


def report(episode: EpisodeRecord, judgement: dict[str, Any], out: Path, wall_s: float, top_k: int) -> None:
    from saycan_ros.plots import plot_step

    print()
    print(f"  planner: {'finished with done' if episode.status == 'done' else episode.status}"
          + (f" ({episode.error_msg})" if episode.error_msg else ""))
    print(f"  executed: {', '.join(s.chosen for s in episode.steps if s.outcome and s.outcome.success) or 'nothing'}")
    finals = judgement.get("final_objects", {})
    if finals:
        print("  final world state: " + "; ".join(f"{n}: {at or 'floor/robot'}" for n, at in sorted(finals.items()))
              + f"; holding: {judgement.get('holding') or 'nothing'}")
    if judgement.get("unmet"):
        print(f"  goal not met: {', '.join(judgement['unmet'])}")
    verdict = {True: "yes", False: "no", None: "not judged"}[judgement["success"]]
    print(f"  SUCCESS: {verdict} ({judgement['reason']})")
    path = episode.write_jsonl(out / "episode.jsonl", top_k=top_k)
    plots = [plot_step(step, out / f"step_{step.index:02d}.png", episode.instruction) for step in episode.steps]
    print(f"  episode record: {path}  (+ {len(plots)} score plot(s); topics in {out / 'episode.mcap'}: "
          f"saycan replay {out})")
    print(f"  wall time: {wall_s:.0f} s")
