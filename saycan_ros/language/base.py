"""The language-model scorer interface: log p(skill text | prompt) for many skills at once.

Join convention (the same in every mode and every backend)
---------------------------------------------------------
The planner's prompt ends right before the next skill, e.g. ``"...Robot: 1. find an apple, 2."``.
A skill ``"pick up the apple"`` is scored as the continuation ``" pick up the apple"``:

* trailing spaces and tabs of the prompt are removed (``"2. "`` and ``"2."`` give the same prompt);
* the skill text is stripped and gets exactly one leading space;
* only the continuation's tokens count: ``sum_logprob`` is the sum of ``log p(token | prompt,
  earlier continuation tokens)`` over those tokens and ``mean_logprob`` is that sum divided by
  ``n_tokens``.

The transformers backend tokenizes the prompt and the continuation separately (prompt with the
tokenizer's special tokens such as BOS, continuation without) and scores the concatenated ids, so
the prompt's tokens are the same for every skill and can be cached. An OpenAI-compatible server
tokenizes the joined text ``prompt + " " + skill`` itself; that backend counts every token that
ends after the end of the prompt text (with byte-level BPE tokenizers, as used by SmolLM2, Llama 3
and Qwen, both give the same tokens because words are split before their leading space).

Nothing here imports torch or transformers, nor any backend: `saycan_ros.language.factory.make_scorer`
builds one (and imports torch only for the transformers backend).
"""
from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field, fields
from typing import Any, Mapping, Sequence

from saycan_ros.core.errors import ConfigError, SayCanError

BACKENDS = ("transformers", "openai")
DEVICES = ("cpu", "cuda", "auto")
DTYPES = ("float32", "bfloat16", "float16")
MODES = ("packed", "kv", "naive")
DEFAULT_ADAPTER = "auto"
ADAPTER_NAMES = ("auto", "none", "packaged", "feedback", "holding")  # any other adapter value is a folder


class ScoringError(SayCanError):
    """Scoring failed for a reason the user can fix: bad input, a model that cannot be loaded."""


class ModelLoadError(ScoringError):
    """The language model (folder, GGUF file, hub name, embedded package) cannot be loaded."""


class ServerError(ScoringError):
    """An OpenAI-compatible server is unreachable, timed out, or answered with unusable data."""


@dataclass(frozen=True)
class SkillScore:
    """The language model's score of one skill text as the continuation of the prompt."""

    text: str
    sum_logprob: float
    mean_logprob: float
    n_tokens: int


@dataclass
class ScoreStats:
    """What the last ``score`` call did, for diagnostics and the benchmark."""

    mode: str = ""
    n_skills: int = 0
    prompt_tokens: int = 0  # tokens of the whole prompt
    prompt_tokens_encoded: int = 0  # of those, how many were run through the model this call
    skill_tokens: int = 0  # continuation tokens scored (sum of n_tokens)
    skill_tokens_fed: int = 0  # skill tokens run through the model (packed: each shared prefix once)
    forward_passes: int = 0  # model forward calls (or HTTP requests for a server)
    elapsed_s: float = 0.0


def join_prompt(prompt: str) -> str:
    """The prompt as scored: trailing spaces and tabs removed (see the module's join convention)."""
    return prompt.rstrip(" \t")


def continuation(skill: str) -> str:
    """The continuation text scored for a skill: one leading space, then the stripped skill text."""
    return " " + skill.strip()


def check_inputs(prompt: object, skills: object) -> tuple[str, list[str]]:
    """Validate what a caller passes to ``score``; return the joined prompt and the skill list."""
    if not isinstance(prompt, str):
        raise ScoringError(f"the prompt must be text, not {type(prompt).__name__}")
    if isinstance(skills, str) or not isinstance(skills, Sequence):
        raise ScoringError("skills must be a list of skill texts")
    out = []
    for i, skill in enumerate(skills):
        if not isinstance(skill, str) or not skill.strip():
            raise ScoringError(f"skill #{i} is {skill!r}: every skill must be a non-empty text")
        out.append(skill)
    if not join_prompt(prompt).strip():
        raise ScoringError("the prompt is empty: a skill's likelihood needs a prompt to follow")
    return join_prompt(prompt), out


def make_score(text: str, logprobs: Sequence[float]) -> SkillScore:
    """A SkillScore from the per-token log-probabilities of one continuation."""
    n = len(logprobs)
    if n == 0:
        raise ScoringError(f"the skill '{text}' has no tokens to score")
    total = float(math.fsum(logprobs))
    return SkillScore(text=text, sum_logprob=total, mean_logprob=total / n, n_tokens=n)


class SkillScorer(ABC):
    """Scores skill texts as continuations of a prompt. Backends subclass this.

    Implementations are safe to call from several threads (calls are serialized) and keep
    whatever they can (a prompt cache, an HTTP session) between calls; ``close`` releases it.
    """

    last_stats: ScoreStats

    @abstractmethod
    def score(self, prompt: str, skills: Sequence[str]) -> list[SkillScore]:
        """log p(" " + skill | prompt) for every skill, continuation tokens only, in input order."""

    def close(self) -> None:
        """Release the model or connection. Calling it twice is harmless."""

    def __enter__(self) -> "SkillScorer":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


@dataclass
class ScorerConfig:
    """Everything that chooses and tunes a scorer; the llm_scoring_node's parameters map onto it."""

    backend: str = "transformers"  # transformers | openai
    # transformers: "" = the embedded SmolLM2-135M-Instruct; else a local HF folder, a .gguf file,
    # or a hub name (only where a hub can be reached). openai: the model name sent to the server
    # ("" = the first model the server lists).
    model: str = ""
    device: str = "cpu"  # cpu | cuda | auto
    dtype: str = "float32"  # float32 | bfloat16 | float16
    mode: str = "packed"  # packed | kv | naive (transformers only)
    memory_budget_mb: float = 1024.0  # bound on the extra memory one scoring forward may use
    max_chunk_tokens: int = 512  # packed: at most this many skill tokens per forward pass
    batch_size: int = 32  # kv: skills per forward; openai: prompts per request
    prefix_cache: bool = True  # reuse the previous call's prompt cache when the prompt only grew
    server_url: str = "http://127.0.0.1:8000/v1"  # openai: base URL up to and including /v1
    api_key: str = ""  # openai: sent as a Bearer token when set
    timeout_s: float = 30.0  # openai: per request
    retries: int = 2  # openai: extra tries after a failed request (with exponential backoff)
    backoff_s: float = 0.5  # openai: first backoff; doubles each retry
    concurrency: int = 1  # openai: requests in flight at once
    threads: int = 0  # transformers on CPU: torch threads (0 = torch's default)
    cache_dir: str = ""  # embedded model cache ("" = $SAYCAN_CACHE or ~/.cache/saycan_ros/models)
    # transformers: a LoRA adapter merged into the weights at load: "auto" (the packaged holding
    # adapter with the embedded model, none with any other), "none", "packaged" (models/planner-lora,
    # trained for config/kitchen.yaml by `saycan train planner`), "feedback"
    # (models/planner-lora-feedback: the same, continued on plans with outcome feedback), "holding"
    # (models/planner-lora-holding: feedback continued on hands-full starts, reads what the robot
    # holds from its prompt), or a folder
    adapter: str = DEFAULT_ADAPTER
    extra: dict[str, Any] = field(default_factory=dict)  # backend-specific from_pretrained kwargs

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> "ScorerConfig":
        """Build from a dict (e.g. ROS parameters); unknown keys are a ConfigError."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"unknown scorer setting(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        cfg = cls(**dict(values))
        cfg.validate()
        return cfg

    def validate(self) -> "ScorerConfig":
        """Raise ConfigError naming the first bad value; return self when all is fine."""
        for name, choices in (("backend", BACKENDS), ("device", DEVICES), ("dtype", DTYPES), ("mode", MODES)):
            value = getattr(self, name)
            if value not in choices:
                raise ConfigError(f"scorer {name} '{value}' must be one of {', '.join(choices)}")
        for name in ("memory_budget_mb", "timeout_s"):
            if not (isinstance(getattr(self, name), (int, float)) and getattr(self, name) > 0):
                raise ConfigError(f"scorer {name} must be > 0, got {getattr(self, name)!r}")
        for name in ("max_chunk_tokens", "batch_size", "concurrency"):
            if not (isinstance(getattr(self, name), int) and getattr(self, name) >= 1):
                raise ConfigError(f"scorer {name} must be an integer >= 1, got {getattr(self, name)!r}")
        for name in ("retries", "threads"):
            if not (isinstance(getattr(self, name), int) and getattr(self, name) >= 0):
                raise ConfigError(f"scorer {name} must be an integer >= 0, got {getattr(self, name)!r}")
        if not (isinstance(self.backoff_s, (int, float)) and self.backoff_s >= 0):
            raise ConfigError(f"scorer backoff_s must be >= 0, got {self.backoff_s!r}")
        if self.backend != "transformers" and self.adapter not in ("", "none", "auto"):
            raise ConfigError(f"scorer adapter '{self.adapter}': adapters are merged into an in-process model, "
                              "so they need backend transformers (serve the merged model for other backends)")
        if self.backend == "openai" and not self.server_url.startswith(("http://", "https://")):
            raise ConfigError(f"scorer server_url '{self.server_url}' must start with http:// or https://")
        return self


def effective_adapter(config: ScorerConfig) -> str:
    """The adapter the scorer really uses: 'auto' means the packaged holding adapter for the
    embedded model on the transformers backend (it was trained on that model, reads the planner's
    outcome feedback, on by default, and the held object planner_node sends) and none otherwise."""
    if config.adapter != "auto":
        return config.adapter
    return "holding" if config.backend == "transformers" and not config.model.strip() else "none"
