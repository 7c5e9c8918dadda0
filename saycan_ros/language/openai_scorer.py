"""Skill scoring through an OpenAI-compatible ``/v1/completions`` server (vLLM, llama.cpp, ...).

For each skill the server gets the text ``prompt + " " + skill`` with ``echo=true``,
``logprobs=1`` and ``max_tokens=1``: it returns the log-probability of every token of the text it
was sent (the first is null) plus one generated token, which is dropped. ``max_tokens=0`` is not
used because servers disagree on it (llama-cpp-python reads 0 as "no limit"). The continuation's
tokens are found with ``text_offset``: every token that ends after the prompt text and starts
before the end of the sent text.

Several skills go in one request (``batch_size`` prompts, as vLLM takes them); a server that takes
one prompt per request only (llama-cpp-python) is detected on the first failure and then sent one
prompt per request, ``concurrency`` at a time. Requests time out after ``timeout_s`` and are
retried ``retries`` times with exponential backoff on connection errors, timeouts, 429 and 5xx.
Anything else, or a reply that is not a completions answer with logprobs, raises ServerError.
Only the standard library is used (urllib), so this backend needs no extra package.
"""
from __future__ import annotations

import json
import logging
import math
import socket
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Sequence

from saycan_ros.language.base import (ScorerConfig, ScoreStats, ServerError, SkillScore, SkillScorer, check_inputs,
                                      continuation, make_score)

log = logging.getLogger(__name__)

_RETRY_STATUS = {408, 429, 500, 502, 503, 504}
_MAX_ERROR_TEXT = 300


class OpenAIScorer(SkillScorer):
    """SkillScorer over an OpenAI-compatible completions endpoint."""

    def __init__(self, config: ScorerConfig):
        self.config = config.validate()
        self.base_url = config.server_url.rstrip("/")
        self._model = config.model.strip() or None
        self._lists_ok: bool | None = None  # does the server take several prompts per request?
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=config.concurrency, thread_name_prefix="saycan-openai")
        self._closed = False
        self.last_stats = ScoreStats(mode="openai")

    # ----------------------------------------------------------------------------------- public
    def score(self, prompt: str, skills: Sequence[str]) -> list[SkillScore]:
        prompt, skills = check_inputs(prompt, skills)
        with self._lock:
            if self._closed:
                raise ServerError("this scorer is closed")
            start = time.perf_counter()
            stats = ScoreStats(mode="openai", n_skills=len(skills))
            model = self._model or self._first_model()
            texts = [prompt + continuation(s) for s in skills]
            lps = self._score_texts(model, prompt, texts, stats)
            scores = [make_score(s, lp) for s, lp in zip(skills, lps)]
            stats.skill_tokens = sum(s.n_tokens for s in scores)
            stats.elapsed_s = time.perf_counter() - start
            self.last_stats = stats
            return scores

    def close(self) -> None:
        self._closed = True
        self._pool.shutdown(wait=False, cancel_futures=True)

    def models(self) -> list[str]:
        """The model names the server lists at /v1/models."""
        data = self._request("GET", "/models", None)
        try:
            return [str(m["id"]) for m in data["data"]]
        except (KeyError, TypeError):
            raise ServerError(f"{self.base_url}/models answered without a model list: {_short(data)}") from None

    # ------------------------------------------------------------------------------ internals
    def _first_model(self) -> str:
        names = self.models()
        if not names:
            raise ServerError(f"{self.base_url} serves no model")
        self._model = names[0]
        return self._model

    def _score_texts(self, model: str, prompt: str, texts: list[str], stats: ScoreStats) -> list[list[float]]:
        if self._lists_ok is not False and len(texts) > 1 and self.config.batch_size > 1:
            groups = [list(range(i, min(i + self.config.batch_size, len(texts))))
                      for i in range(0, len(texts), self.config.batch_size)]
            try:  # the first list request finds out whether the server takes lists (no retries then)
                first = self._completions(model, [texts[i] for i in groups[0]], stats,
                                          retries=None if self._lists_ok else 0)
                self._lists_ok = True
            except ServerError as exc:
                if self._lists_ok is True or getattr(exc, "unreachable", False):
                    raise
                log.warning("the server at %s did not take %d prompts in one request (%s); sending one prompt "
                            "per request from now on", self.base_url, len(groups[0]), exc)
                self._lists_ok = False
            else:
                rest = list(self._pool.map(lambda g: self._completions(model, [texts[i] for i in g], stats), groups[1:]))
                choices = first + [c for r in rest for c in r]
                return [_continuation_logprobs(prompt, t, c, self.base_url) for t, c in zip(texts, choices)]
        choices = list(self._pool.map(lambda t: self._completions(model, [t], stats)[0], texts))
        return [_continuation_logprobs(prompt, t, c, self.base_url) for t, c in zip(texts, choices)]

    def _completions(self, model: str, texts: list[str], stats: ScoreStats, retries: int | None = None) -> list[dict]:
        body = {"model": model, "prompt": texts if len(texts) > 1 else texts[0], "max_tokens": 1, "echo": True,
                "logprobs": 1, "temperature": 0.0, "n": 1, "stream": False}
        data = self._request("POST", "/completions", body, retries)
        stats.forward_passes += 1
        choices = data.get("choices") if isinstance(data, dict) else None
        if not isinstance(choices, list) or len(choices) != len(texts):
            raise ServerError(f"{self.base_url}/completions: expected {len(texts)} choice(s), got {_short(data)}")
        if all(isinstance(c, dict) and isinstance(c.get("index"), int) for c in choices):
            choices = sorted(choices, key=lambda c: c["index"])
        return choices

    def _request(self, method: str, path: str, body: dict | None, retries: int | None = None) -> Any:
        url = self.base_url + path
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.config.api_key:
            headers["Authorization"] = f"Bearer {self.config.api_key}"
        payload = json.dumps(body).encode() if body is not None else None
        delay = self.config.backoff_s
        tries = (self.config.retries if retries is None else retries) + 1
        for attempt in range(1, tries + 1):
            try:
                req = urllib.request.Request(url, data=payload, headers=headers, method=method)
                with urllib.request.urlopen(req, timeout=self.config.timeout_s) as resp:
                    raw = resp.read()
                break
            except urllib.error.HTTPError as exc:
                detail = _error_text(exc)
                if exc.code not in _RETRY_STATUS or attempt == tries:
                    raise ServerError(f"{url} answered HTTP {exc.code}: {detail}"
                                      + (f" (after {attempt} tries)" if attempt > 1 else "")) from None
                why = f"HTTP {exc.code}: {detail}"
            except (urllib.error.URLError, socket.timeout, TimeoutError, ConnectionError, OSError) as exc:
                reason = getattr(exc, "reason", exc)
                if isinstance(reason, (socket.timeout, TimeoutError)):
                    why = f"no answer within {self.config.timeout_s:g} s"
                else:
                    why = f"{reason}"
                if attempt == tries:
                    err = ServerError(f"cannot reach the scoring server at {url}: {why} (after {tries} "
                                      f"tr{'y' if tries == 1 else 'ies'}; is the server running?)")
                    err.unreachable = True  # type: ignore[attr-defined]
                    raise err from None
            log.warning("scoring request to %s failed (%s); retry %d of %d in %.1f s", url, why, attempt,
                        tries - 1, delay)
            time.sleep(delay)
            delay *= 2
        try:
            return json.loads(raw)
        except ValueError:
            raise ServerError(f"{url} answered with something that is not JSON: {_short(raw)}") from None


def _continuation_logprobs(prompt: str, text: str, choice: Any, where: str) -> list[float]:
    """The log-probabilities of the tokens of text after prompt, from one echoed choice."""
    lp = choice.get("logprobs") if isinstance(choice, dict) else None
    if not isinstance(lp, dict):
        raise ServerError(f"{where}: a choice has no logprobs (does the server support echo and logprobs?): "
                          f"{_short(choice)}")
    offsets, values = lp.get("text_offset"), lp.get("token_logprobs")
    if not (isinstance(offsets, list) and isinstance(values, list) and len(offsets) == len(values) and offsets):
        raise ServerError(f"{where}: logprobs lack text_offset/token_logprobs of equal length: {_short(lp)}")
    if not all(isinstance(o, int) for o in offsets) or any(b < a for a, b in zip(offsets, offsets[1:])):
        raise ServerError(f"{where}: text_offset is not a non-decreasing list of integers: {_short(offsets)}")
    start, end = len(prompt), len(text)
    out = []
    for i, (off, value) in enumerate(zip(offsets, values)):
        tok_end = offsets[i + 1] if i + 1 < len(offsets) else end
        if off >= end:
            break  # the generated token (and anything after the sent text)
        if tok_end <= start and off < start:
            continue  # a prompt token; a token across the boundary counts for the skill
        if not isinstance(value, (int, float)) or not math.isfinite(value) or value > 1e-3:
            raise ServerError(f"{where}: token {i} of '{text[-40:]}' has log-probability {value!r}")
        out.append(float(value))
    if not out:
        raise ServerError(f"{where}: found no tokens of the skill after the prompt in the echoed text "
                          f"(offsets {_short(offsets)}; prompt length {start}, text length {end})")
    return out


def _error_text(exc: urllib.error.HTTPError) -> str:
    try:
        raw = exc.read()
        data = json.loads(raw)
        msg = data.get("error", data) if isinstance(data, dict) else data
        if isinstance(msg, dict):
            msg = msg.get("message") or msg
        return _short(msg) or exc.reason
    except Exception:
        return str(exc.reason)


def _short(value: Any) -> str:
    text = value.decode(errors="replace") if isinstance(value, bytes) else (
        value if isinstance(value, str) else json.dumps(value, default=str))
    return text if len(text) <= _MAX_ERROR_TEXT else text[:_MAX_ERROR_TEXT] + "..."
