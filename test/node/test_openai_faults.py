"""The openai scoring backend's server down or slow, seen through the node graph: llm_scoring_node
(backend openai) answers ScoreSkills with a clear error and lives on, and the planner ends the
instruction with SERVICE_UNAVAILABLE naming the server; a slow server is a timeout, not a hang.

The server is a FAKE: an http.server in a thread that answers /v1/completions the way llama.cpp's
server does with echo and logprobs (every token -0.5, except that "done" is made unlikely so the
plan takes a step first), and can be made slow or shut down. (The real llama.cpp server runs in
test/system/test_openai_server.py.)"""
from __future__ import annotations

import json
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import rclpy
from action_msgs.msg import GoalStatus

from saycan_msgs.srv import ScoreSkills
from saycan_ros.nodes.llm_scoring_node import LlmScoringNode
from saycan_ros.ros_io.codes import BACKEND_UNAVAILABLE

sys.path.insert(0, str(Path(__file__).parent))
from helpers import Spinner, wait_future  # noqa: E402
from test_planner_node import FakeRobotSide, Result, User, check, make_planner, send  # noqa: E402

pytestmark = pytest.mark.flaky(reruns=2, only_rerun=["wait_for_server", "is not available"])


def echo_choice(text: str, index: int) -> dict:
    """One token per word, -0.5 each ("done": -20, so a real skill comes first), one generated token."""
    offsets, pos = [], 0
    for word in text.replace(" ", "\0 ").split("\0"):
        offsets.append(pos)
        pos += len(word)
    values = [None] + [-20.0 if text.endswith(" done") else -0.5] * (len(offsets) - 1) + [-0.5]
    return {"index": index, "text": text + "!",
            "logprobs": {"text_offset": offsets + [len(text)], "token_logprobs": values, "tokens": ["?"] * len(values)}}


class FakeCompletionsServer:
    def __init__(self, delay_s: float = 0.0):
        self.delay_s, self.requests = delay_s, 0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.requests += 1
                time.sleep(fake.delay_s)
                prompts = body["prompt"] if isinstance(body["prompt"], list) else [body["prompt"]]
                payload = json.dumps({"choices": [echo_choice(p, i) for i, p in enumerate(prompts)]}).encode()
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout)
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def free_port_url() -> str:
    with socket.socket() as s:  # nothing listens on it afterwards
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/v1"


def scoring_node(ctx, url: str, timeout_s: float = 5.0) -> LlmScoringNode:
    params = {"backend": "openai", "server_url": url, "model": "fake-model", "timeout_s": timeout_s, "retries": 1,
              "backoff_s": 0.05, "batch_size": 64, "retrieved_examples": 0}
    return LlmScoringNode(context=ctx, parameter_overrides=[rclpy.parameter.Parameter(k, value=v)
                                                            for k, v in params.items()])


def test_server_down_at_start_is_service_unavailable_naming_the_server_and_the_node_lives(ros_context):
    url = free_port_url()
    scorer = scoring_node(ros_context, url)
    fake = FakeRobotSide(ros_context, serve_scores=False)
    planner = make_planner(ros_context)
    user = User(ros_context)
    probe = user.node.create_client(ScoreSkills, "score_skills")
    try:
        with Spinner(ros_context, scorer, fake, planner, user.node):
            user.ready()
            response = wait_future(send(user.client, "throw away the apple").get_result_async(), 30)
            assert probe.wait_for_service(timeout_sec=10)  # still serving
            direct = wait_future(probe.call_async(ScoreSkills.Request(instruction="x", skills=["done"])), 30)
    finally:
        scorer.close()
    check(response, GoalStatus.STATUS_ABORTED, Result.SERVICE_UNAVAILABLE, [], message=url)
    assert "is the server running" in response.result.error_msg and fake.executed == []
    assert not direct.success and direct.error_msg.startswith(BACKEND_UNAVAILABLE) and url in direct.error_msg


def test_server_down_mid_plan_ends_with_service_unavailable_after_the_executed_step(ros_context):
    server = FakeCompletionsServer()
    scorer = scoring_node(ros_context, server.url)
    fake = FakeRobotSide(ros_context, serve_scores=False, skill_seconds=1.0)
    planner = make_planner(ros_context)
    user = User(ros_context)
    try:
        with Spinner(ros_context, scorer, fake, planner, user.node):
            user.ready()
            handle = user.running("throw away the apple")  # step 1 scored by the server, its skill runs
            server.stop()
            response = wait_future(handle.get_result_async(), 30)
    finally:
        scorer.close()
    assert server.requests >= 1 and len(fake.executed) == 1
    check(response, GoalStatus.STATUS_ABORTED, Result.SERVICE_UNAVAILABLE, fake.executed, message=server.url)


def test_a_slow_server_is_a_timeout_not_a_hang(ros_context):
    server = FakeCompletionsServer(delay_s=3.0)  # answers, but later than the node's timeout_s
    scorer = scoring_node(ros_context, server.url, timeout_s=0.5)
    fake = FakeRobotSide(ros_context, serve_scores=False)
    planner = make_planner(ros_context)
    user = User(ros_context)
    try:
        with Spinner(ros_context, scorer, fake, planner, user.node):
            user.ready()
            started = time.monotonic()
            response = wait_future(send(user.client, "throw away the apple").get_result_async(), 30)
            took = time.monotonic() - started
    finally:
        scorer.close()
        server.stop()
    check(response, GoalStatus.STATUS_ABORTED, Result.SERVICE_UNAVAILABLE, [], message="no answer within 0.5 s")
    assert server.url in response.result.error_msg and took < 10.0  # two tries of 0.5 s, not the 3 s answer
