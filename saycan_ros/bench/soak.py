"""`saycan bench soak`: N instructions in a row through the simulated kitchen's node graph, every
node's resident memory, threads and open file descriptors sampled from /proc as it goes.

By default the executor runs in dry-run mode (parameter `dry_run`: skills are checked, reported as
succeeded, nothing moves), so an instruction costs two language-model calls instead of seconds of
simulated driving and 1,000 of them fit in an hour on 2 cores; `--sim` drives the simulator instead.
Growth is measured from the warm-up sample (after N/10 instructions: caches, pools and lazily
imported modules have settled by then) to the last. The last line is machine-readable:
``soak n=.. done=.. rss_growth=.. worst_node=.. threads_growth=.. fds_growth=.. s_per_instruction=..``
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Sequence

from saycan_ros.core.errors import SayCanError

PLACES = ("table", "close counter", "far counter", "trash can")
RSS_LIMIT = 0.05     # relative RSS growth after warm-up that fails the soak
COUNT_SLACK = 2      # threads / fds a node may gain after warm-up (a lazily started worker, a log file)


@dataclass(frozen=True)
class Sample:
    """One node's resources at one moment of the soak."""

    after: int        # instructions completed when it was taken
    rss_mb: float
    threads: int
    fds: int


@dataclass(frozen=True)
class Growth:
    """One node's growth from the warm-up sample to the last one."""

    rss: float        # relative: 0.03 is +3 %
    threads: int
    fds: int

    def ok(self) -> bool:
        return self.rss < RSS_LIMIT and self.threads <= COUNT_SLACK and self.fds <= COUNT_SLACK


def process_sample(pid: int, after: int = 0) -> Sample:
    """RSS (MB), threads and open file descriptors of a process, from /proc."""
    status = Path(f"/proc/{pid}/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return Sample(after, int(fields["VmRSS"].split()[0]) / 1024, int(fields["Threads"]),
                  len(os.listdir(f"/proc/{pid}/fd")))


def warm_up_count(n: int) -> int:
    """Instructions run before the baseline sample: a tenth, at least one."""
    return max(1, n // 10)


def sample_points(n: int, points: int = 10) -> list[int]:
    """After how many instructions to sample: the first (for the log only), the warm-up, about
    `points` evenly spaced after it, the end."""
    warm = warm_up_count(n)
    step = max(1, (n - warm) // points)
    return sorted({1, warm, *range(warm, n, step), n})


def growth(samples: Sequence[Sample], warm_up: int) -> Growth:
    """Growth of one node from its first sample at or after `warm_up` instructions to its last.
    ValueError when there are not two such samples (nothing to compare)."""
    after = [s for s in samples if s.after >= warm_up]
    if len(after) < 2:
        raise ValueError(f"need two samples after the warm-up ({warm_up} instructions), got {len(after)}")
    first, last = after[0], after[-1]
    if first.rss_mb <= 0:
        raise ValueError(f"a sample with RSS {first.rss_mb} MB cannot be a baseline")
    return Growth((last.rss_mb - first.rss_mb) / first.rss_mb, last.threads - first.threads, last.fds - first.fds)


def growth_by_node(samples: Mapping[str, Sequence[Sample]], warm_up: int) -> dict[str, Growth]:
    return {name: growth(s, warm_up) for name, s in samples.items()}


def summary_line(n: int, done: int, growths: Mapping[str, Growth], seconds: float) -> str:
    worst = max(growths, key=lambda name: growths[name].rss)
    return (f"soak n={n} done={done} rss_growth={growths[worst].rss:.3f} worst_node={worst} "
            f"threads_growth={max(g.threads for g in growths.values())} "
            f"fds_growth={max(g.fds for g in growths.values())} s_per_instruction={seconds / max(n, 1):.2f}")


def table(samples: Mapping[str, Sequence[Sample]], warm_up: int) -> list[str]:
    """A markdown row per node: its warm-up and last samples and whether its growth is within limits."""
    lines = ["| node | RSS MB warm-up -> end | growth | threads | fds | ok |", "|---|---|---|---|---|---|"]
    for name, g in growth_by_node(samples, warm_up).items():
        first, last = next(s for s in samples[name] if s.after >= warm_up), samples[name][-1]
        lines.append(f"| {name} | {first.rss_mb:.1f} -> {last.rss_mb:.1f} | {g.rss * 100:+.1f} % | "
                     f"{first.threads} -> {last.threads} | {first.fds} -> {last.fds} | {'yes' if g.ok() else 'NO'} |")
    return lines


def run_soak(pids: Callable[[], Mapping[str, int]], execute: Callable[[str], bool], n: int,
             log: Callable[[str], None]) -> tuple[dict[str, list[Sample]], int, float]:
    """Run N instructions ("go to the <place>" in turn) through `execute` (True: it ended in done),
    sampling every node of `pids()` at sample_points(n). Returns (samples, instructions done, seconds)."""
    samples: dict[str, list[Sample]] = {name: [] for name in pids()}
    points = set(sample_points(n))
    done, started = 0, time.monotonic()
    for i in range(n):
        done += execute(f"go to the {PLACES[i % len(PLACES)]}")
        if i + 1 in points:
            for name, pid in pids().items():
                samples[name].append(process_sample(pid, i + 1))
            elapsed = time.monotonic() - started
            log(f"  soak {i + 1}/{n}: {done} done, {elapsed / (i + 1):.2f} s per instruction; " + ", ".join(
                f"{name} {s[-1].rss_mb:.0f} MB/{s[-1].threads}t/{s[-1].fds}fd" for name, s in samples.items()))
    return samples, done, time.monotonic() - started


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="saycan bench soak", description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=1000, help="instructions in a row (at least 2)")
    p.add_argument("--sim", action="store_true", help="drive the simulator instead of the executor's dry run")
    p.add_argument("--logs", default="", help="folder for the nodes' logs (default: a temporary folder)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.n < 2:
        print("saycan bench soak: error: need --n >= 2", file=sys.stderr)
        return 2
    try:
        samples, done, seconds = soak_graph(args.n, dry_run=not args.sim, logs=args.logs)
    except SayCanError as exc:
        print(f"saycan bench soak: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    growths = growth_by_node(samples, warm_up_count(args.n))
    print("\n".join(["", *table(samples, warm_up_count(args.n))]))
    print(summary_line(args.n, done, growths, seconds))
    return 0 if done == args.n and all(g.ok() for g in growths.values()) else 1


def soak_graph(n: int, dry_run: bool, logs: str = "") -> tuple[dict[str, list[Sample]], int, float]:
    """Bring up launch/sim.launch.yaml (executor in dry run unless told otherwise) and soak it."""
    from saycan_ros.core.kitchen import load_kitchen
    from saycan_ros.graph_client import GraphClient
    from saycan_ros.launch_runner import LaunchedGraph, find_launch_file, parse_launch_file, use_private_ros_domain

    kitchen = load_kitchen()
    nodes = parse_launch_file(find_launch_file("sim"), {"dry_run": "true" if dry_run else "false"})
    use_private_ros_domain()
    log_dir = Path(logs) if logs else Path(tempfile.mkdtemp(prefix="saycan-bench-soak-"))
    log = lambda line: print(line, flush=True)  # noqa: E731
    log(f"soak: {n} instructions, executor {'in DRY RUN' if dry_run else 'driving the simulator'}; logs in {log_dir}")
    with LaunchedGraph(nodes, log_dir=log_dir) as graph:
        client = GraphClient(graph, "saycan_bench_soak")
        try:
            client.wait_until_ready(300.0)
            client.set_scene("default", kitchen.locations["user"].pose)

            def execute(instruction: str) -> bool:
                try:
                    return client.execute(instruction, 4, 180.0).status == "done"
                except SayCanError as exc:
                    log(f"    '{instruction}': {exc}")
                    return False

            return run_soak(lambda: {name: p.pid for name, p in graph.processes.items()}, execute, n, log)
        finally:
            client.close()


if __name__ == "__main__":
    raise SystemExit(main())
