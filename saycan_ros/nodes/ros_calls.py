"""Blocking service/action calls for code running in an executor worker thread.

The planner's SayCan loop is synchronous (pure core). It runs inside an action execute callback
on a MultiThreadedExecutor, so it may block on a future while *other* executor threads deliver
the response. It never nests spin_until_future_complete inside a callback.
"""
from __future__ import annotations

import threading
from typing import Any, Callable

from rclpy.action import ActionClient
from rclpy.client import Client
from rclpy.task import Future

from saycan_ros.core.errors import SayCanError


class ServiceUnavailable(SayCanError):
    """The server of a service or action is not running."""


class CallTimeout(SayCanError):
    """A call did not complete in time."""


def wait_future(future: Future, timeout_s: float, what: str) -> Any:
    done = threading.Event()
    future.add_done_callback(lambda _: done.set())
    if not done.wait(timeout_s):
        future.cancel()
        raise CallTimeout(f"{what} did not answer within {timeout_s:.0f} s")
    if future.exception() is not None:
        raise SayCanError(f"{what} failed: {future.exception()}")
    return future.result()


def call_service(client: Client, request: Any, timeout_s: float, wait_s: float = 2.0) -> Any:
    name = client.srv_name
    if not client.wait_for_service(timeout_sec=wait_s):
        raise ServiceUnavailable(f"service '{name}' is not available (is its node running?)")
    return wait_future(client.call_async(request), timeout_s, f"service '{name}'")


def run_action(client: ActionClient, goal: Any, timeout_s: float, *, wait_s: float = 2.0,
               on_feedback: Callable[[Any], None] | None = None,
               should_cancel: Callable[[], bool] | None = None, poll_s: float = 0.05) -> tuple[int, Any]:
    """Send a goal and wait for its result; cancel it when `should_cancel()` turns true.

    Returns (GoalStatus code, result message). Raises ServiceUnavailable / CallTimeout / SayCanError.
    """
    name = client._action_name  # rclpy keeps it private; used for messages only
    if not client.wait_for_server(timeout_sec=wait_s):
        raise ServiceUnavailable(f"action server '{name}' is not available (is its node running?)")
    feedback = (lambda msg: on_feedback(msg.feedback)) if on_feedback else None
    handle = wait_future(client.send_goal_async(goal, feedback_callback=feedback), wait_s + 5, f"action '{name}'")
    if not handle.accepted:
        raise SayCanError(f"action '{name}' rejected the goal")
    result_future = handle.get_result_async()
    done = threading.Event()
    result_future.add_done_callback(lambda _: done.set())
    waited, canceled = 0.0, False
    while not done.wait(poll_s):
        waited += poll_s
        if not canceled and should_cancel is not None and should_cancel():
            handle.cancel_goal_async()
            canceled = True
        if waited > timeout_s:
            handle.cancel_goal_async()
            raise CallTimeout(f"action '{name}' did not finish within {timeout_s:.0f} s")
    response = result_future.result()
    return response.status, response.result
