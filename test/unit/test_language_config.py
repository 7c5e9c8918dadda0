"""ScorerConfig validation and the factory's lazy imports."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from saycan_ros.core.errors import ConfigError
from saycan_ros.language.base import ScorerConfig, ScoringError, check_inputs, continuation, join_prompt, make_score

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("field,value", [("backend", "tensorflow"), ("device", "tpu"), ("dtype", "int8"),
                                         ("mode", "fast"), ("memory_budget_mb", 0), ("batch_size", 0),
                                         ("max_chunk_tokens", -1), ("retries", -1), ("timeout_s", 0),
                                         ("concurrency", 0)])
def test_bad_values_name_the_setting(field, value):
    with pytest.raises(ConfigError, match=field):
        ScorerConfig(**{field: value}).validate()


def test_from_mapping_rejects_unknown_keys():
    with pytest.raises(ConfigError, match="unknown scorer setting.*bogus"):
        ScorerConfig.from_mapping({"mode": "kv", "bogus": 1})
    assert ScorerConfig.from_mapping({"mode": "kv"}).mode == "kv"


def test_openai_url_must_be_http():
    with pytest.raises(ConfigError, match="server_url"):
        ScorerConfig(backend="openai", server_url="localhost:8000").validate()


def test_join_convention():
    assert join_prompt("Robot: 1. find an apple, 2. \t") == "Robot: 1. find an apple, 2."
    assert join_prompt("a\n") == "a\n"
    assert continuation("  pick up the apple ") == " pick up the apple"
    assert check_inputs("p ", ("a", "b")) == ("p", ["a", "b"])


def test_make_score_sum_and_mean():
    s = make_score("x", [-1.0, -2.0, -3.0])
    assert (s.sum_logprob, s.mean_logprob, s.n_tokens) == (-6.0, -2.0, 3)
    with pytest.raises(ScoringError):
        make_score("x", [])


def test_openai_backend_and_core_import_without_torch():
    code = ("import sys\n"
            "from saycan_ros.language.base import ScorerConfig\nfrom saycan_ros.language.factory import make_scorer\n"
            "s = make_scorer(ScorerConfig(backend='openai', server_url='http://127.0.0.1:9/v1'))\n"
            "s.close()\n"
            "assert 'torch' not in sys.modules and 'transformers' not in sys.modules, 'torch imported'\n")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
