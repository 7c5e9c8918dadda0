"""The OpenAI backend against a real OpenAI-compatible server process: llama-cpp-python's server
serving the embedded SmolLM2-135M GGUF (the same weights as the in-process model).

llama-cpp-python 0.3.36 aligns echoed prompt log-probabilities correctly only when the model adds
a BOS token (it drops prompt_tokens[0] as BOS; otherwise every value is shifted by one token). The
shipped GGUF says add_bos_token=false, so the server gets a copy whose metadata says true; the
in-process reference then scores the same token sequence with the BOS token in front.

Skipped, saying why, when llama-cpp-python[server] is not installed (requirements-server.txt).
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads (see transformers_scorer)

pytest.importorskip("llama_cpp", reason="llama-cpp-python[server] is not installed: pip install -r requirements-server.txt")
pytest.importorskip("uvicorn", reason="llama-cpp-python's server extra is not installed: pip install -r requirements-server.txt")

from saycan_ros.language.base import ScorerConfig, ServerError  # noqa: E402
from saycan_ros.language.embedded import embedded_gguf_path  # noqa: E402
from saycan_ros.language.factory import make_scorer  # noqa: E402

PROMPT = ("Human: throw away the coke can\nRobot: 1. find a coke can, 2. pick up the coke can, "
          "3. go to the trash can, 4. put down the coke can, 5. done.\nHuman: throw away the apple\n"
          "Robot: 1. find an apple, 2.")
SKILLS = ["pick up the apple", "go to the trash can", "done", "find a sponge"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def gguf_with_bos(tmp: Path) -> Path:
    import gguf

    path = tmp / "smollm2-135m-bos.gguf"
    shutil.copyfile(embedded_gguf_path(), path)
    reader = gguf.GGUFReader(path, "r+")
    field = reader.fields["tokenizer.ggml.add_bos_token"]
    field.parts[field.data[0]][0] = True
    del reader  # flush the memory map
    return path


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    model = gguf_with_bos(tmp_path_factory.mktemp("gguf"))
    port = free_port()
    log = open(tmp_path_factory.mktemp("log") / "server.log", "w+")
    proc = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--model_alias", "smollm2-135m",
         "--host", "127.0.0.1", "--port", str(port), "--logits_all", "true", "--n_ctx", "1024",
         "--n_threads", "2", "--verbose", "false"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 120
    while True:
        try:
            urllib.request.urlopen(url + "/models", timeout=2).read()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                proc.kill()
                pytest.fail(f"llama.cpp server did not start (exit {proc.poll()}):\n{log.read()[-2000:]}")
            time.sleep(0.5)
    yield url, proc
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    log.close()


def test_server_scores_match_the_in_process_model(server):
    url, _ = server
    remote = make_scorer(ScorerConfig(backend="openai", server_url=url, timeout_s=120, batch_size=4))
    got = remote.score(PROMPT, SKILLS)
    assert remote.last_stats.forward_passes >= len(SKILLS)  # llama-cpp-python takes one prompt per request
    local = make_scorer(ScorerConfig(mode="packed", adapter="none"))  # the server runs the plain GGUF
    want = local.score("<|im_start|>" + PROMPT, SKILLS)  # the BOS token the server puts in front
    local.close()
    for g, w in zip(got, want):
        assert g.n_tokens == w.n_tokens, g.text
        # llama.cpp computes with the 4-bit weights and 8-bit activations; transformers with the
        # dequantized weights in float32: close, not equal
        assert g.sum_logprob == pytest.approx(w.sum_logprob, abs=0.15 * g.n_tokens + 0.1), g.text
    assert max(got, key=lambda s: s.sum_logprob).text == "pick up the apple"
    remote.close()


def test_server_that_goes_down_is_a_clear_error(server):
    url, proc = server
    scorer = make_scorer(ScorerConfig(backend="openai", server_url=url, timeout_s=30, retries=1, backoff_s=0.1))
    assert scorer.score(PROMPT, ["done"])[0].n_tokens == 1
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(20)
    with pytest.raises(ServerError, match="cannot reach the scoring server at .*is the server running"):
        scorer.score(PROMPT, ["done"])
