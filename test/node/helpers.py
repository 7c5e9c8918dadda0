"""Helpers for in-process node tests on a real rclpy graph."""
from __future__ import annotations

import threading
import time
from typing import Callable

from rclpy.executors import MultiThreadedExecutor, SingleThreadedExecutor


class Spinner:
    """Spin nodes on a MultiThreadedExecutor in a background thread for the test's duration (with
    `single_threaded`, on rclpy's SingleThreadedExecutor, as run_node spins an awaiting node)."""

    def __init__(self, context, *nodes, threads: int = 4, single_threaded: bool = False):
        self.executor = (SingleThreadedExecutor(context=context) if single_threaded
                         else MultiThreadedExecutor(num_threads=threads, context=context))
        self.nodes = list(nodes)
        for node in nodes:
            self.executor.add_node(node)
        self.thread = threading.Thread(target=self.executor.spin, daemon=True)

    def add(self, node) -> None:
        """Spin one more node from now on (and remove it with the others at the end)."""
        self.executor.add_node(node)
        self.nodes.append(node)

    def __enter__(self) -> "Spinner":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        # Remove the nodes first: Kilted's executor shutdown can race with busy timers otherwise
        # ("cannot use Destroyable because destruction was requested").
        for node in self.nodes:
            self.executor.remove_node(node)
        time.sleep(0.2)  # let callbacks already handed to the worker threads finish (a 20 Hz control timer)
        self.executor.shutdown()
        self.thread.join(timeout=5)


def wait_for(condition: Callable[[], bool], timeout_s: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.02)


def wait_future(future, timeout_s: float = 30.0):
    wait_for(future.done, timeout_s, "a future")
    return future.result()


class RefusingPublisher:
    """Fakes a publisher whose middleware refuses the write, as Fast DDS does under load
    ("cannot publish data" when a reliable reader's history stays full)."""
    topic_name = "/odom"

    def __init__(self) -> None:
        self.calls = 0

    def publish(self, msg) -> None:
        from rclpy._rclpy_pybind11 import RCLError

        self.calls += 1
        raise RCLError("Failed to publish: cannot publish data")
