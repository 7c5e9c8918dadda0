"""Blocking service/action calls for code running in an executor worker thread.

The planner's SayCan loop is synchronous (pure core). It runs inside an action execute callback
on a MultiThreadedExecutor, so it may block on a future while *other* executor threads deliver
the response. It never nests spin_until_future_complete inside a callback.
"""
from __future__ import annotations

import math
import threading
import time
import weakref
from typing import Any, Callable

from saycan_ros.ros_io.actions import ActionClient
from rclpy.client import Client
from rclpy.task import Future

from saycan_ros.core.errors import SayCanError


class ServiceUnavailable(SayCanError):
    """The server of a service or action is not running."""


class CallTimeout(SayCanError):
    """A call did not complete in time."""


class CallCanceled(SayCanError):
    """A stop (cancel, preemption) was requested while a call waited for its server to come back."""


# How long a server may be missing from the ROS graph while we wait on it before the call is
# given up as ServiceUnavailable. Short enough to report a killed node within a few seconds, long
# enough to ride out a graph update that briefly drops and re-adds the server.
VANISHED_GRACE_S = 0.5

# Fast DDS drops a service's response when the server has not yet discovered the client's response
# reader: it waits 100 ms for that match, then logs "failed to send response (timeout): client will
# not receive response", and the caller would wait out its whole timeout. A loaded machine can miss
# those 100 ms just after a client or a server starts. So until a client has had an answer from the
# server now in the graph, a request without an answer after RESEND_AFTER_S is sent once more (the
# planner's services are queries) and the first answer of the two is taken. Later calls never
# resend: the path is proven, and a slow server is not given the same work twice.
RESEND_AFTER_S = 5.0  # far above a usual answer: a whole plan step takes 0.49 s (plan mode) to 0.64 s (exec) on 2 cores
_answered_clients: "weakref.WeakSet[Client]" = weakref.WeakSet()


def wait_future(future: Future, timeout_s: float, what: str, alive: Callable[[], bool] | None = None,
                on_poll: Callable[[], None] | None = None, poll_s: float = 0.1, *,
                resend: Callable[[], Future] | None = None, resend_after_s: float = math.inf) -> Any:
    """Wait for `future`; raise CallTimeout after `timeout_s`, or ServiceUnavailable as soon as
    `alive()` (the server is still in the graph) has been false for VANISHED_GRACE_S.
    `on_poll` runs every `poll_s` while waiting. `resend()`, when given, is called once after
    `resend_after_s` without an answer and returns a second future for the same request: the first
    of the two to complete is the answer, the other is cancelled."""
    done = threading.Event()
    futures = [future]
    future.add_done_callback(lambda _: done.set())
    started = time.monotonic()
    deadline = started + timeout_s
    missing_since: float | None = None

    def give_up(error: SayCanError) -> SayCanError:
        for pending in futures:
            pending.cancel()
        return error

    while not done.wait(poll_s):
        if on_poll is not None:
            on_poll()
        now = time.monotonic()
        if now > deadline:
            raise give_up(CallTimeout(f"{what} did not answer within {timeout_s:.0f} s"))
        if alive is not None and not alive():
            missing_since = now if missing_since is None else missing_since
            if now - missing_since >= VANISHED_GRACE_S:
                raise give_up(ServiceUnavailable(f"{what} vanished while we waited for its answer (did its node die?)"))
        else:
            missing_since = None
        if resend is not None and len(futures) == 1 and now - started >= resend_after_s:
            again = resend()
            again.add_done_callback(lambda _: done.set())
            futures.append(again)
    answer = next((f for f in futures if f.done()), None)
    for other in futures:
        if other is not answer:
            other.cancel()
    if answer is None:
        raise SayCanError(f"{what}: the call was cancelled before an answer came")
    if answer.exception() is not None:
        raise SayCanError(f"{what} failed: {answer.exception()}")
    return answer.result()


def await_server(ready: Callable[[], bool], what: str, wait_s: float, should_cancel: Callable[[], bool] | None = None,
                 on_waiting: Callable[[], None] | None = None, poll_s: float = 0.1) -> None:
    """Wait up to `wait_s` for a missing server (`ready()` false) to be back in the graph, after
    announcing it with `on_waiting()`. Raises ServiceUnavailable after `wait_s`, CallCanceled as
    soon as `should_cancel()` is true."""
    if on_waiting is not None:
        on_waiting()
    deadline = time.monotonic() + wait_s
    while not ready():
        if should_cancel is not None and should_cancel():
            raise CallCanceled(f"stopped on request while waiting for {what} to come back")
        if time.monotonic() >= deadline:
            raise ServiceUnavailable(f"{what} is gone and did not come back within {wait_s:.0f} s (is its node running?)")
        time.sleep(poll_s)


def call_service(client: Client, request: Any, timeout_s: float, wait_s: float = 2.0, *, restart_wait_s: float = 0.0,
                 should_cancel: Callable[[], bool] | None = None, on_waiting: Callable[[], None] | None = None,
                 resend_after_s: float = RESEND_AFTER_S) -> Any:
    """Call a service and return its response.

    A server that is absent (after `wait_s`) or vanishes mid-call (its node died) is waited for up
    to `restart_wait_s` more, announced by `on_waiting()`; when it is back the request is sent again
    (the planner's services are queries: re-sending is safe). Until the client's first answer from
    the server now in the graph, an unanswered request is also sent again once after
    `resend_after_s` (see RESEND_AFTER_S). Raises ServiceUnavailable after that (at once with
    restart_wait_s 0), CallCanceled when `should_cancel()` turns true while waiting, CallTimeout
    after `timeout_s` of one call."""
    name = client.srv_name
    what = f"service '{name}'"
    if not client.wait_for_service(timeout_sec=wait_s):
        if restart_wait_s <= 0:
            raise ServiceUnavailable(f"{what} is not available (is its node running?)")
        await_server(client.service_is_ready, what, restart_wait_s, should_cancel, on_waiting)
    while True:
        resend = None if client in _answered_clients else (lambda: client.call_async(request))
        try:
            response = wait_future(client.call_async(request), timeout_s, what, alive=client.service_is_ready,
                                   resend=resend, resend_after_s=resend_after_s)
        except ServiceUnavailable:
            _answered_clients.discard(client)  # a server that comes back is a new one to match
            if restart_wait_s <= 0:
                raise
            await_server(client.service_is_ready, what, restart_wait_s, should_cancel, on_waiting)
            continue
        _answered_clients.add(client)
        return response


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
    handle = wait_future(client.send_goal_async(goal, feedback_callback=feedback), wait_s + 5, f"action '{name}'",
                         alive=client.server_is_ready)
    if not handle.accepted:
        raise SayCanError(f"action '{name}' rejected the goal")
    result_future = handle.get_result_async()
    canceled = False

    def cancel_when_asked() -> None:
        nonlocal canceled
        if not canceled and should_cancel is not None and should_cancel():
            handle.cancel_goal_async()
            canceled = True

    try:
        response = wait_future(result_future, timeout_s, f"action '{name}'", alive=client.server_is_ready,
                               on_poll=cancel_when_asked, poll_s=poll_s)
    except CallTimeout:
        handle.cancel_goal_async()
        raise
    return response.status, response.result
