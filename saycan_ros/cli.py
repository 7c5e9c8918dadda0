"""`saycan`: one command for the project's jobs.

  saycan demo ["instruction"]   bring up the simulated kitchen and carry out an instruction
  saycan launch sim|robot|FILE  start a launch file's nodes (no launch_ros needed; also stretch, tiago)
  saycan eval FILE              planning / execution success on an episode set
  saycan eval affordance DATA   learned vs hand-calibrated value functions on held-out experience (AUC, Brier)
  saycan replay RUN             a recorded episode again: its step tables, its topics re-published
  saycan view                   watch the robot live in a web browser (camera, kitchen from above, scores)
  saycan collect                labelled skill attempts in the simulated kitchen (for value functions)
  saycan bench scoring          language-model scoring speed (naive vs KV cache vs packed)
  saycan bench cancel           how fast a cancelled skill brings the simulated base to rest
  saycan bench faults           the fault matrix: cancel, preempt, e-stop, killed nodes, bad input, soak
  saycan bench voice            spoken instructions (espeak-ng, noise) -> recogniser WER and same first skills
  saycan bench soak --n 1000    instructions in a row (executor dry run): memory, threads, fds per node
  saycan train planner          adapt the language model to the kitchen (LoRA on generated plans)
  saycan train affordance DATA  fit the learned value function to collected experience
"""
from __future__ import annotations

import argparse
import sys
from typing import Sequence

from saycan_ros.core.errors import SayCanError


def _launch(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="saycan launch", description="Start the nodes of a YAML launch file as processes.")
    parser.add_argument("file", help="'sim', 'robot', 'stretch', 'tiago', or a path to a .launch.yaml")
    parser.add_argument("arguments", nargs="*", help="launch arguments as name:=value")
    args = parser.parse_args(argv)
    import time

    from saycan_ros.launch_runner import LaunchedGraph, find_launch_file, parse_launch_file

    overrides = {}
    for item in args.arguments:
        if ":=" not in item:
            raise SayCanError(f"launch arguments look like name:=value, got '{item}'")
        key, value = item.split(":=", 1)
        overrides[key] = value
    nodes = parse_launch_file(find_launch_file(args.file), overrides)
    print(f"[saycan] starting {len(nodes)} nodes: {', '.join(n.name for n in nodes)} (Ctrl-C stops them)")
    graph = LaunchedGraph(nodes).start()
    dead: dict[str, int] = {}
    try:
        while not dead:
            time.sleep(0.5)
            dead = graph.dead()
        print(f"[saycan] node(s) exited: {dead}; stopping the rest", file=sys.stderr)
    except KeyboardInterrupt:  # Ctrl-C, or SIGTERM/SIGHUP (LaunchedGraph turns them into this)
        pass
    codes = graph.shutdown()
    print(f"[saycan] stopped: {codes}")
    return 1 if dead else 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = {
        "demo": lambda rest: __import__("saycan_ros.demo", fromlist=["main"]).main(rest),
        "launch": _launch,
        "eval": _eval,
        "replay": lambda rest: __import__("saycan_ros.replay", fromlist=["main"]).main(rest),
        "view": lambda rest: __import__("saycan_ros.view", fromlist=["main"]).main(rest),
        "collect": lambda rest: __import__("saycan_ros.training.experience", fromlist=["main"]).main(rest),
        "bench": lambda rest: _bench(rest),
        "train": lambda rest: _train(rest),
    }
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in commands:
        print(__doc__.strip())
        if argv and argv[0] not in ("-h", "--help"):
            print(f"\nsaycan: unknown command '{argv[0]}'", file=sys.stderr)
            return 2
        return 0
    try:
        return int(commands[argv[0]](argv[1:]) or 0)
    except SayCanError as exc:
        print(f"saycan {argv[0]}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"saycan {argv[0]}: interrupted", file=sys.stderr)
        return 130


def _bench(argv: Sequence[str]) -> int:
    import importlib

    if not argv or argv[0] not in ("scoring", "cancel", "faults", "soak", "voice"):
        print("usage: saycan bench scoring|cancel|faults|soak|voice [options]   (see saycan bench faults --help)")
        return 2
    bench = importlib.import_module(f"saycan_ros.bench.{argv[0]}")
    return int(bench.main(list(argv[1:])) or 0)


def _eval(argv: Sequence[str]) -> int:
    if argv and argv[0] == "affordance":
        from saycan_ros.training.affordance_eval import main as eval_affordance

        return int(eval_affordance(list(argv[1:])) or 0)
    from saycan_ros.eval.harness import main as eval_plans

    return int(eval_plans(list(argv)) or 0)


def _train(argv: Sequence[str]) -> int:
    if not argv or argv[0] not in ("planner", "affordance"):
        print("usage: saycan train planner|affordance [options]   (see saycan train planner --help)")
        return 2
    if argv[0] == "affordance":
        from saycan_ros.training.affordance_training import main as train_affordance

        return int(train_affordance(list(argv[1:])) or 0)
    from saycan_ros.training.planner_training import main as train_planner

    return int(train_planner(list(argv[1:])) or 0)


if __name__ == "__main__":
    sys.exit(main())
