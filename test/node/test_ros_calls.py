"""call_service against a scripted client (no ROS graph): what the planner does when a service's
response is lost, as Fast DDS loses it when the server has not matched the client's response reader
yet ("failed to send response (timeout)"). The fake stands for rclpy's Client only; the futures are
rclpy's own."""
from __future__ import annotations

import threading
import time

import pytest
from rclpy.task import Future

from saycan_ros.core.errors import SayCanError
from saycan_ros.nodes.ros_calls import CallTimeout, ServiceUnavailable, call_service


class ScriptedClient:
    """rclpy Client's calling surface. `answers[i]` says what becomes of the i-th request: a
    response sent at once, ("after", seconds, response) sent later, or None: lost."""

    srv_name = "/scripted"

    def __init__(self, *answers) -> None:
        self.answers = list(answers)
        self.futures: list[Future] = []
        self.ready = True

    def wait_for_service(self, timeout_sec: float) -> bool:
        return self.ready

    def service_is_ready(self) -> bool:
        return self.ready

    def call_async(self, request) -> Future:
        future = Future()
        answer = self.answers[len(self.futures)] if len(self.futures) < len(self.answers) else None
        self.futures.append(future)
        if isinstance(answer, tuple):
            threading.Timer(answer[1], lambda: future.done() or future.set_result(answer[2])).start()
        elif answer is not None:
            future.set_result(answer)
        return future


def test_a_lost_first_response_is_asked_again_and_answered():
    client = ScriptedClient(None, "scores")
    started = time.monotonic()
    assert call_service(client, "request", timeout_s=10.0, resend_after_s=0.3) == "scores"
    assert 0.3 <= time.monotonic() - started < 2.0  # not the 10 s timeout
    assert len(client.futures) == 2
    assert client.futures[0].cancelled()  # the lost one leaves no pending request behind


def test_a_client_that_has_had_an_answer_never_sends_twice():
    client = ScriptedClient("first", None)
    assert call_service(client, "request", timeout_s=5.0, resend_after_s=0.1) == "first"
    with pytest.raises(CallTimeout):
        call_service(client, "request", timeout_s=0.6, resend_after_s=0.1)
    assert len(client.futures) == 2  # one request per call: a slow server is not given the work twice
    assert client.futures[1].cancelled()


def test_a_slow_first_answer_is_taken_and_the_resent_request_dropped():
    client = ScriptedClient(("after", 0.5, "slow"), None)
    assert call_service(client, "request", timeout_s=5.0, resend_after_s=0.1) == "slow"
    assert len(client.futures) == 2
    assert client.futures[1].cancelled()


def test_a_server_that_vanished_is_a_new_one_to_match():
    client = ScriptedClient("first", ("after", 5.0, "never heard"), None, "second")
    assert call_service(client, "request", timeout_s=5.0, resend_after_s=0.2) == "first"
    threading.Timer(0.3, lambda: setattr(client, "ready", False)).start()
    with pytest.raises(ServiceUnavailable):
        call_service(client, "request", timeout_s=5.0, resend_after_s=0.2)
    client.ready = True  # back (a restarted node): its first response may be lost again
    assert call_service(client, "request", timeout_s=5.0, resend_after_s=0.2) == "second"
    assert len(client.futures) == 4


def test_a_call_cancelled_from_outside_is_an_error_not_a_none():
    client = ScriptedClient(None)
    threading.Timer(0.2, lambda: client.futures[0].cancel()).start()
    with pytest.raises(SayCanError, match="cancelled before an answer came"):
        call_service(client, "request", timeout_s=5.0, resend_after_s=3.0)
