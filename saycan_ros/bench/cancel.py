"""`saycan bench cancel`: how fast a cancelled skill brings the base to rest, in simulated time.

Starts sim_node and skill_executor_node from launch/sim.launch.yaml in a private ROS domain, sends
"go to" skills between the kitchen's locations and cancels each at a random moment while the base
drives. Latency is measured on the simulator's clock, from the moment the cancel request is sent
to the first odometry message (stamped in simulated time) whose measured base speed is at rest:
what a person next to the robot would see, whatever the real-time factor of this machine.
The last line is machine-readable:
``cancel n=.. p50_ms=.. max_ms=.. within_500ms=../.. rtf=..``
"""
from __future__ import annotations

import argparse
import math
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Sequence

from saycan_ros.core.errors import SayCanError

REST_LINEAR, REST_ANGULAR = 0.01, 0.02  # m/s, rad/s: "at rest" in the odometry's measured twist
TARGET_S = 0.5


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="saycan bench cancel", description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=20, help="number of cancels")
    p.add_argument("--seed", type=int, default=0, help="seed of the cancel moments and destinations")
    p.add_argument("--min-delay", type=float, default=0.5, help="earliest cancel after the base starts moving (sim s)")
    p.add_argument("--max-delay", type=float, default=3.0, help="latest cancel after the base starts moving (sim s)")
    p.add_argument("--logs", default="", help="folder for the nodes' logs (default: a temporary folder)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.n < 1 or not 0 <= args.min_delay <= args.max_delay:
        print("saycan bench cancel: error: need --n >= 1 and 0 <= --min-delay <= --max-delay", file=sys.stderr)
        return 2
    try:
        latencies, rtf = run(args)
    except SayCanError as exc:
        print(f"saycan bench cancel: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    ms = sorted(1000 * t for t in latencies)  # inf: a cancel that did not cancel
    within = sum(t <= TARGET_S * 1000 for t in ms)
    print(f"\n{len(ms)} cancels: p50 {statistics.median(ms):.0f} ms, max {ms[-1]:.0f} ms of simulated time; "
          f"{within}/{len(ms)} at rest within {TARGET_S * 1000:.0f} ms (real-time factor {rtf:.2f})")
    print(f"cancel n={len(ms)} p50_ms={statistics.median(ms):.0f} max_ms={ms[-1]:.0f} "
          f"within_500ms={within}/{len(ms)} rtf={rtf:.2f}")
    return 0


class BaseWatch:
    """The simulated clock and the base's measured speed, from /clock and odom, on a node that is
    spun elsewhere."""

    def __init__(self, node) -> None:
        from nav_msgs.msg import Odometry
        from rosgraph_msgs.msg import Clock

        from saycan_ros.ros_io.images import stamp_to_sec

        self._seconds = stamp_to_sec  # imported once, not in every 50 Hz callback
        self._lock = threading.Lock()
        self._clock: float | None = None
        self._odom: list[tuple[float, float, float]] = []  # (stamp, |v|, |w|)
        self.peak_linear = 0.0  # the highest |v| since reset_peak()
        node.create_subscription(Clock, "/clock", self._on_clock, 10)
        node.create_subscription(Odometry, "odom", self._on_odom, 50)

    def _on_clock(self, msg) -> None:
        with self._lock:
            self._clock = self._seconds(msg.clock)

    def _on_odom(self, msg) -> None:
        t = msg.twist.twist
        with self._lock:
            self._odom.append((self._seconds(msg.header.stamp), abs(t.linear.x), abs(t.angular.z)))
            del self._odom[:-500]
            self.peak_linear = max(self.peak_linear, abs(t.linear.x))

    def reset_peak(self) -> None:
        with self._lock:
            self.peak_linear = 0.0

    def ready(self) -> bool:
        with self._lock:
            return self._clock is not None and bool(self._odom)

    def sim_now(self) -> float:
        with self._lock:
            return self._clock if self._clock is not None else math.nan

    def moving(self) -> bool:
        with self._lock:
            return bool(self._odom) and (self._odom[-1][1] > REST_LINEAR or self._odom[-1][2] > REST_ANGULAR)

    def at_rest_since(self, t: float, hold_s: float = 0.5) -> float | None:
        """The stamp (simulated time, at or after `t`) from which the base stayed at rest for at
        least `hold_s` in the odometry received so far; None if it has not yet."""
        with self._lock:
            odom = [o for o in self._odom if o[0] >= t]
        for i, (start, v, w) in enumerate(odom):
            if v > REST_LINEAR or w > REST_ANGULAR:
                continue
            after = odom[i:]
            still = all(vv <= REST_LINEAR and ww <= REST_ANGULAR for s, vv, ww in after if s <= start + hold_s)
            if still and after[-1][0] >= start + hold_s:
                return start
        return None


def measure_cancels(client, watch: BaseWatch, places: Sequence[str], n: int, rng: random.Random,
                    min_delay: float, max_delay: float, wait, log=print) -> list[float]:
    """Send 'go to' skills to the executor's action and cancel each at a random moment of the drive;
    returns the latencies (simulated s) from each cancel request to the base at rest.
    `wait(predicate, timeout_s, what)` waits (and checks the graph's health meanwhile)."""
    from saycan_msgs.action import ExecuteSkill
    from saycan_msgs.msg import Skill

    def done(future, timeout_s: float, what: str):
        wait(future.done, timeout_s, what)
        return future.result()

    latencies: list[float] = []
    here = None
    for i in range(n):
        dest = rng.choice([p for p in places if p != here])
        delay = rng.uniform(min_delay, max_delay)
        goal = ExecuteSkill.Goal(skill=Skill(text=f"go to the {dest}", kind="go_to", location=dest))
        handle = done(client.send_goal_async(goal), 30, "the goal to be accepted")
        if not handle.accepted:
            raise SayCanError(f"the executor refused 'go to the {dest}'")
        result = handle.get_result_async()
        wait(lambda: watch.moving() or result.done(), 60, f"the base to move toward the {dest}")
        start = watch.sim_now()
        wait(lambda: result.done() or watch.sim_now() - start >= delay, 120, "the cancel moment")
        if result.done():  # arrived before the cancel moment: nothing to measure
            here = dest
            log(f"  {i + 1:2d}/{n} reached the {dest} before the cancel at {delay:.2f} s: skipped")
            continue
        t_cancel = watch.sim_now()
        done(handle.cancel_goal_async(), 30, "the cancel to be answered")
        wait(lambda: watch.at_rest_since(t_cancel) is not None, 60, "the base to come to rest")
        latency = watch.at_rest_since(t_cancel) - t_cancel
        code = done(result, 30, "the cancelled goal's result").result.error_code
        here = None  # somewhere between places
        if code != ExecuteSkill.Result.CANCELED:  # the skill went on to its own end: the cancel failed
            latencies.append(math.inf)
            log(f"  {i + 1:2d}/{n} go to the {dest}: NOT cancelled (result code {code})")
            continue
        latencies.append(latency)
        log(f"  {i + 1:2d}/{n} go to the {dest}: cancelled after {delay:.2f} s, at rest after {latency * 1000:.0f} ms "
            "(result: canceled)")
    return latencies


def run(args) -> tuple[list[float], float]:
    import rclpy
    from saycan_ros.ros_io.actions import ActionClient
    from rclpy.executors import SingleThreadedExecutor

    from saycan_msgs.action import ExecuteSkill
    from saycan_ros.core.kitchen import load_kitchen
    from saycan_ros.launch_runner import LaunchedGraph, find_launch_file, parse_launch_file, use_private_ros_domain
    from saycan_ros.nodes.common import use_package_dds_profile

    kitchen = load_kitchen()
    places = [n for n in kitchen.locations if n != "user"]
    nodes = [n for n in parse_launch_file(find_launch_file("sim")) if n.name in ("sim_node", "skill_executor_node")]
    use_private_ros_domain()
    use_package_dds_profile()
    logs = Path(args.logs) if args.logs else Path(tempfile.mkdtemp(prefix="saycan-bench-cancel-"))
    with LaunchedGraph(nodes, log_dir=logs) as graph:
        context = rclpy.Context()
        rclpy.init(context=context)
        node = rclpy.create_node("saycan_bench_cancel", context=context)
        watch = BaseWatch(node)
        client = ActionClient(node, ExecuteSkill, "execute_skill")
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(node)
        threading.Thread(target=executor.spin, daemon=True).start()

        def wait(predicate, timeout_s: float, what: str) -> None:
            deadline = time.monotonic() + timeout_s
            while not predicate():
                graph.check_alive()
                if time.monotonic() > deadline:
                    raise SayCanError(f"timed out after {timeout_s:.0f} s waiting for {what} (logs: {logs})")
                time.sleep(0.01)

        try:
            wait(lambda: client.server_is_ready() and watch.ready(), 120, "the simulator and the executor")
            wall0, sim0 = time.monotonic(), watch.sim_now()
            latencies = measure_cancels(client, watch, places, args.n, random.Random(args.seed), args.min_delay,
                                        args.max_delay, wait, log=lambda line: print(line, flush=True))
            rtf = (watch.sim_now() - sim0) / max(1e-6, time.monotonic() - wall0)
        finally:
            executor.shutdown()
            node.destroy_node()
            rclpy.shutdown(context=context)
    if not latencies:
        raise SayCanError("no cancel was measured (every skill ended first); raise --max-delay or lower --min-delay")
    return latencies, rtf


if __name__ == "__main__":
    raise SystemExit(main())
