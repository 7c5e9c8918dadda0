"""OpenAI backend: parsing and error paths.

The happy path runs against a real llama.cpp server in test/system/test_openai_server.py. Here a
FAKE server (http.server in a thread) plays a broken or flaky server; every test says what it fakes.
"""
from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from saycan_ros.language.base import ScorerConfig, ServerError
from saycan_ros.language.openai_scorer import OpenAIScorer, _continuation_logprobs

PROMPT = "Robot: 1."


def echo_choice(text: str, index: int = 0) -> dict:
    """What a correct server returns for `text`: one token per word, -0.5 each, plus one generated token."""
    offsets, pos = [], 0
    for word in text.replace(" ", "\0 ").split("\0"):
        offsets.append(pos)
        pos += len(word)
    offsets.append(len(text))  # the generated token
    values = [None] + [-0.5] * (len(offsets) - 1)
    return {"index": index, "text": text + "!", "logprobs": {"text_offset": offsets, "token_logprobs": values,
                                                            "tokens": ["?"] * len(offsets)}}


class Fake:
    """A fake OpenAI server whose behaviour per request comes from `script` (a list of callables)."""

    def __init__(self, script):
        self.script, self.requests = list(script), []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                fake.requests.append(("GET", self.path, None))
                self._send(200, {"data": [{"id": "fake-model"}]})

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.requests.append(("POST", self.path, body))
                action = fake.script.pop(0) if fake.script else ok
                action(self, body)

            def _send(self, code, data, raw=None):
                payload = raw if raw is not None else json.dumps(data).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                try:
                    self.wfile.write(payload)
                except BrokenPipeError:  # the client gave up (the timeout test)
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def ok(handler, body):
    prompts = body["prompt"] if isinstance(body["prompt"], list) else [body["prompt"]]
    handler._send(200, {"choices": [echo_choice(p, i) for i, p in enumerate(prompts)]})


def status(code, message="boom"):
    return lambda handler, body: handler._send(code, {"error": {"message": message}})


def raw(payload: bytes):
    return lambda handler, body: handler._send(200, None, raw=payload)


@pytest.fixture
def fake():
    servers = []

    def make(*script):
        servers.append(Fake(script))
        return servers[-1]

    yield make
    for s in servers:
        s.close()


def scorer(url, **kw) -> OpenAIScorer:
    return OpenAIScorer(ScorerConfig(backend="openai", server_url=url, backoff_s=0.01, **kw))


def test_parses_continuation_tokens_by_text_offset(fake):
    server = fake(ok)
    got = scorer(server.url, batch_size=8).score(PROMPT, ["pick up the apple", "done"])
    assert [(s.n_tokens, s.sum_logprob) for s in got] == [(4, -2.0), (1, -0.5)]
    _, path, body = server.requests[-1]
    assert path == "/v1/completions" and body["echo"] is True and body["max_tokens"] == 1
    assert body["prompt"] == ["Robot: 1. pick up the apple", "Robot: 1. done"]
    assert body["model"] == "fake-model"  # the first model of /v1/models


def test_token_across_the_boundary_counts_for_the_skill():
    text = "ab cd"
    choice = {"logprobs": {"text_offset": [0, 1, 5], "token_logprobs": [None, -1.0, -9.0]}}
    assert _continuation_logprobs("ab", text, choice, "x") == [-1.0]  # "b cd" straddles; "!" is generated


def test_server_down_is_a_clear_error():
    with socket.socket() as s:  # a port that nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sc = scorer(f"http://127.0.0.1:{port}/v1", retries=1, model="m")
    with pytest.raises(ServerError, match=rf"cannot reach the scoring server at http://127.0.0.1:{port}/v1/completions.*2 tries"):
        sc.score(PROMPT, ["done"])


def test_retries_after_server_errors_then_succeeds(fake):
    server = fake(status(503), status(500), ok)  # fakes a server that fails twice, then answers
    got = scorer(server.url, retries=2, model="m").score(PROMPT, ["done"])
    assert got[0].n_tokens == 1 and len(server.requests) == 3


def test_gives_up_after_the_retries(fake):
    server = fake(status(503), status(503), status(503))
    with pytest.raises(ServerError, match="HTTP 503: boom.*3 tries"):
        scorer(server.url, retries=2, model="m").score(PROMPT, ["done"])


def test_client_errors_are_not_retried(fake):
    server = fake(status(400, "model 'm' does not exist"))
    with pytest.raises(ServerError, match="HTTP 400: model 'm' does not exist"):
        scorer(server.url, retries=3, model="m").score(PROMPT, ["done"])
    assert len(server.requests) == 1


def test_malformed_json_is_a_clear_error(fake):
    server = fake(raw(b"<html>gateway</html>"))
    with pytest.raises(ServerError, match="not JSON: <html>gateway"):
        scorer(server.url, model="m").score(PROMPT, ["done"])


@pytest.mark.parametrize("reply,match", [
    ({"choices": []}, "expected 1 choice"),
    ({"choices": [{"index": 0, "text": "x"}]}, "no logprobs"),
    ({"choices": [{"index": 0, "logprobs": {"text_offset": [0, 3], "token_logprobs": [None]}}]}, "equal length"),
    ({"choices": [{"index": 0, "logprobs": {"text_offset": [0, 9, 14], "token_logprobs": [None, "x", -1]}}]},
     "log-probability 'x'"),
    ({"choices": [{"index": 0, "logprobs": {"text_offset": [0, 9, 14], "token_logprobs": [None, 0.7, -1]}}]},
     "log-probability 0.7"),
    ({"choices": [{"index": 0, "logprobs": {"text_offset": [5, 2], "token_logprobs": [None, -1]}}]}, "non-decreasing"),
    # no echo: only the generated token comes back
    ({"choices": [{"index": 0, "logprobs": {"text_offset": [14], "token_logprobs": [-1]}}]}, "no tokens of the skill"),
])
def test_malformed_completions_are_clear_errors(fake, reply, match):
    server = fake(lambda h, b: h._send(200, reply))  # fakes a server answering wrong shapes
    with pytest.raises(ServerError, match=match):
        scorer(server.url, model="m").score(PROMPT, ["done"])


def test_timeout_is_a_clear_error(fake):
    def slow(handler, body):  # fakes a server that answers too late
        time.sleep(1.0)
        ok(handler, body)

    server = fake(slow, slow)
    start = time.perf_counter()
    with pytest.raises(ServerError, match=r"no answer within 0.2 s"):
        scorer(server.url, timeout_s=0.2, retries=1, model="m").score(PROMPT, ["done"])
    assert time.perf_counter() - start < 3


def test_falls_back_to_one_prompt_per_request(fake):
    def one_at_a_time(handler, body):  # fakes a server that takes one prompt per request (llama-cpp-python)
        if isinstance(body["prompt"], list):
            return status(500, "")(handler, body)
        return ok(handler, body)

    server = fake(*[one_at_a_time] * 8)
    sc = scorer(server.url, batch_size=4, concurrency=2, model="m")
    got = sc.score(PROMPT, ["pick up the apple", "done", "go to the table"])
    assert [s.n_tokens for s in got] == [4, 1, 4]
    assert isinstance(server.requests[0][2]["prompt"], list)  # tried once, not retried
    assert all(not isinstance(b["prompt"], list) for _, _, b in server.requests[1:])
    sc.score(PROMPT, ["done", "done"])  # remembered: no list request any more
    assert not isinstance(server.requests[-1][2]["prompt"], list)
