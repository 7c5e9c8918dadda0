"""Skill scoring with a Hugging Face causal LM in-process: naive, kv and packed modes.

* ``naive``: one forward pass per skill over prompt + skill, no cache (the reference).
* ``kv``: the prompt is encoded once; batches of skills run over copies of its key/value cache.
* ``packed``: the prompt is encoded once; all skills go into one sequence after it as a prefix
  tree (skills that begin alike share those tokens), with a mask that lets each token see the
  prompt and its own ancestors and position ids by depth (see saycan_ros.language.packing), split
  into a few chunks when the memory budget asks for it.

The prompt cache is carried between calls (``prefix_cache``): when a planning step's prompt starts
with the previous prompt's tokens (it grew by the chosen skill), only the new tokens are encoded.
All modes compute the same log-probabilities (to ~1e-5 in float32).
"""
from __future__ import annotations

import logging
import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

# With more busy threads than cores (2 cores shared by several processes here), OpenMP's default
# spin-waiting makes every forward pass ~6x slower; sleeping waits cost almost nothing on an idle
# machine. Takes effect only if torch was not imported yet; set it in the environment to be sure.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402

from saycan_ros.core.errors import ConfigError
from saycan_ros.language import packing
from saycan_ros.language.adapter import merge_adapter, resolve_adapter
from saycan_ros.language.base import (ModelLoadError, ScorerConfig, ScoreStats, ScoringError, SkillScore,
                                      SkillScorer, check_inputs, continuation, effective_adapter, make_score)

log = logging.getLogger(__name__)

_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
_LOGPROB_SLICE = 256  # positions per float32 log-softmax slice (bounds that temporary)
_CONT_CACHE_SIZE = 4096  # continuation token ids remembered per skill text


@dataclass
class LoadedModel:
    """A causal LM and its tokenizer, on a device, ready to score."""

    model: Any
    tokenizer: Any
    device: torch.device
    dtype: torch.dtype
    source: str  # what was loaded, for messages


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("scorer device 'cuda' asked for, but torch sees no CUDA GPU (use device cpu or auto)")
    return torch.device(name)


def load_causal_lm(config: ScorerConfig) -> LoadedModel:
    """Load the model the config names: "" = embedded SmolLM2, a folder, a .gguf file or a hub name."""
    os.environ.setdefault("TQDM_DISABLE", "1")
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    device = resolve_device(config.device)
    dtype = _DTYPES[config.dtype]
    if device.type == "cpu" and dtype == torch.float16:
        log.warning("float16 on CPU is slow and often inexact; bfloat16 or float32 are better there")
    kwargs: dict[str, Any] = {}
    name = config.model.strip()
    if not name:
        from saycan_ros.language.embedded import ensure_embedded_model

        source = str(ensure_embedded_model(config.cache_dir or None))
        kwargs["local_files_only"] = True
    else:
        path = Path(name).expanduser()
        looks_local = path.suffix == ".gguf" or name.startswith((".", "/", "~")) or path.exists()
        if looks_local and not path.exists():
            raise ModelLoadError(f"model not found: {path} (give a Hugging Face model folder, a .gguf file, "
                                 "a hub name, or '' for the embedded SmolLM2)")
        if path.is_file():
            if path.suffix != ".gguf":
                raise ModelLoadError(f"model file {path} is not a .gguf file; give a folder for other formats")
            source, kwargs["gguf_file"] = str(path.parent), path.name
            kwargs["local_files_only"] = True
        elif path.is_dir():
            if not (path / "config.json").is_file():
                raise ModelLoadError(f"model folder {path} has no config.json: not a Hugging Face model folder")
            source = str(path)
            kwargs["local_files_only"] = True
        else:
            source = name  # a hub name; works only where a hub can be reached (or it is in the HF cache)
    kwargs.update(config.extra)
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, **{k: v for k, v in kwargs.items()
                                                             if k in ("gguf_file", "local_files_only", "revision")})
        model = _load_model(AutoModelForCausalLM, source, dtype, kwargs)
    except ModelLoadError:
        raise
    except Exception as exc:  # OSError for missing files / no network, ValueError for bad configs ...
        hint = "" if kwargs.get("local_files_only") else " (hub downloads need network access; " \
            "HF_HUB_OFFLINE=1 allows only models already in the local cache)"
        raise ModelLoadError(f"cannot load language model '{source}': {str(exc).splitlines()[0]}{hint}") from None
    adapter = resolve_adapter(effective_adapter(config))
    if adapter is not None:
        merge_adapter(model, adapter)
        source += f" + adapter {adapter}"
    model.to(device)
    model.eval()
    return LoadedModel(model, tokenizer, device, dtype, source)


def _load_model(auto_cls: Any, source: str, dtype: torch.dtype, kwargs: dict[str, Any]) -> Any:
    # Packed scoring needs an attention that accepts an arbitrary 4D mask: SDPA (else eager).
    try:
        return auto_cls.from_pretrained(source, dtype=dtype, attn_implementation="sdpa", **kwargs)
    except (ValueError, ImportError) as exc:
        if "sdpa" not in str(exc).lower():
            raise
        return auto_cls.from_pretrained(source, dtype=dtype, attn_implementation="eager", **kwargs)


def model_dims(model: Any, dtype: torch.dtype) -> packing.ModelDims:
    cfg = model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
    hidden = int(getattr(cfg, "hidden_size", 1024))
    heads = int(getattr(cfg, "num_attention_heads", 16))
    return packing.ModelDims(
        layers=int(getattr(cfg, "num_hidden_layers", 24)), hidden=hidden,
        intermediate=int(getattr(cfg, "intermediate_size", 4 * hidden) or 4 * hidden), heads=heads,
        kv_heads=int(getattr(cfg, "num_key_value_heads", None) or heads),
        head_dim=int(getattr(cfg, "head_dim", None) or hidden // heads),
        vocab=int(getattr(cfg, "vocab_size", 50000)), elem_bytes=torch.finfo(dtype).bits // 8)


class TransformersScorer(SkillScorer):
    """SkillScorer over a transformers causal LM. Pass ``loaded`` to share one loaded model."""

    def __init__(self, config: ScorerConfig, loaded: LoadedModel | None = None, share_prefixes: bool = True):
        self.config = config.validate()
        # packed: skills that begin alike share their first tokens (False: a chain per skill, for benchmarks)
        self._share_prefixes = share_prefixes
        if config.threads:
            torch.set_num_threads(config.threads)
        self._loaded = loaded or load_causal_lm(config)
        self.model, self.tokenizer = self._loaded.model, self._loaded.tokenizer
        self.device, self.dtype = self._loaded.device, self._loaded.dtype
        self.dims = model_dims(self.model, self.dtype)
        self._lock = threading.Lock()
        self._cont_cache: OrderedDict[str, list[int]] = OrderedDict()
        self._split_safe = self._check_split_tokenization()
        # prefix cache: token ids, per-layer (keys, values), log-probs at the last position
        self._ids: list[int] = []
        self._kv: list[tuple[torch.Tensor, torch.Tensor]] | None = None
        self._last_logprobs: torch.Tensor | None = None
        self.last_stats = ScoreStats(mode=config.mode)
        attn = getattr(self.model.config, "_attn_implementation", "sdpa")
        self._bool_mask = attn != "eager"
        cfg = self.model.config
        # A block mask of ours has no sliding window: packed falls back to kv when a window could bite.
        self._sliding = getattr(cfg, "sliding_window", None) if getattr(cfg, "use_sliding_window", True) else None

    # ----------------------------------------------------------------------------------- public
    def score(self, prompt: str, skills: Sequence[str]) -> list[SkillScore]:
        prompt, skills = check_inputs(prompt, skills)
        with self._lock:
            if self.model is None:
                raise ScoringError("this scorer is closed")
            start = time.perf_counter()
            stats = ScoreStats(mode=self.config.mode, n_skills=len(skills))
            prompt_ids = self._prompt_ids(prompt)
            conts = self._continuations(prompt, prompt_ids, skills)
            stats.prompt_tokens = len(prompt_ids)
            stats.skill_tokens = sum(len(c) for c in conts)
            with torch.inference_mode():
                if self.config.mode == "naive":
                    token_lps = self._score_naive(prompt_ids, conts, stats)
                else:
                    mode = self.config.mode
                    if mode == "packed" and self._sliding and \
                            len(prompt_ids) + self.config.max_chunk_tokens > int(self._sliding):
                        mode = "kv"  # a packed chunk could reach past the sliding window
                    if mode == "packed":
                        first, rest = self._score_packed(prompt_ids, conts, stats)
                    else:
                        first = self._encode_prompt(prompt_ids, stats)
                        rest = self._score_kv(conts, stats)
                    heads = first[torch.tensor([c[0] for c in conts], device=self.device)].tolist() if conts else []
                    token_lps = [[h] + r for h, r in zip(heads, rest)]
            if self.device.type == "cuda":
                torch.cuda.synchronize(self.device)
            stats.elapsed_s = time.perf_counter() - start
            self.last_stats = stats
            return [make_score(s, lps) for s, lps in zip(skills, token_lps)]

    def close(self) -> None:
        with self._lock:
            self._kv = self._last_logprobs = None
            self._ids = []
            self.model = self.tokenizer = None
            self._loaded = None
            if self.device.type == "cuda":
                torch.cuda.empty_cache()

    def reset_cache(self) -> None:
        """Forget the cached prompt (the next call encodes its whole prompt)."""
        with self._lock:
            self._ids, self._kv, self._last_logprobs = [], None, None

    # ----------------------------------------------------------------------------- tokenizing
    def _prompt_ids(self, prompt: str) -> list[int]:
        ids = list(self.tokenizer(prompt, add_special_tokens=True)["input_ids"])
        if not ids:
            raise ScoringError("the prompt tokenizes to nothing")
        return ids

    def _check_split_tokenization(self) -> bool:
        """Does tokenizing " word" alone give the same ids as it gets after other text? True for
        byte-level BPE (GPT-2, SmolLM2, Llama 3, Qwen); not for SentencePiece with a dummy prefix."""
        tok = self.tokenizer
        a = tok("Robot: 1.", add_special_tokens=False)["input_ids"]
        b = tok(" find an apple", add_special_tokens=False)["input_ids"]
        return tok("Robot: 1. find an apple", add_special_tokens=False)["input_ids"] == a + b

    def _continuations(self, prompt: str, prompt_ids: list[int], skills: list[str]) -> list[list[int]]:
        """Token ids of " " + skill for every skill (join convention in saycan_ros.language.base)."""
        out: list[list[int] | None] = [self._cont_cache.get(s) for s in skills] if self._split_safe else [None] * len(skills)
        todo = [i for i, c in enumerate(out) if c is None]
        if todo and self._split_safe:
            enc = self.tokenizer([continuation(skills[i]) for i in todo], add_special_tokens=False)["input_ids"]
            for i, ids in zip(todo, enc):
                out[i] = list(ids)
                self._cont_cache[skills[i]] = out[i]
                if len(self._cont_cache) > _CONT_CACHE_SIZE:
                    self._cont_cache.popitem(last=False)
        elif todo:
            # Tokenize the joined text and take what follows the prompt's ids (lm-eval-harness style);
            # where the boundary merges, fall back to the continuation alone.
            joined = self.tokenizer([prompt + continuation(skills[i]) for i in todo], add_special_tokens=True)["input_ids"]
            alone = self.tokenizer([continuation(skills[i]) for i in todo], add_special_tokens=False)["input_ids"]
            n = len(prompt_ids)
            for i, ids, ids_alone in zip(todo, joined, alone):
                out[i] = list(ids[n:]) if list(ids[:n]) == prompt_ids and len(ids) > n else list(ids_alone)
        for s, ids in zip(skills, out):
            if not ids:
                raise ScoringError(f"the skill '{s}' tokenizes to nothing")
        return out  # type: ignore[return-value]

    # ------------------------------------------------------------------------------- the prompt
    def _prompt_plan(self, prompt_ids: list[int]) -> packing.PrefixPlan:
        cached = self._ids if (self.config.prefix_cache and self._kv is not None) else []
        return packing.plan_prefix(cached, prompt_ids)

    def _encode_prompt(self, prompt_ids: list[int], stats: ScoreStats) -> torch.Tensor:
        """Bring the prompt cache to prompt_ids (reusing the shared prefix); return the float32
        log-probabilities at the prompt's last position."""
        plan = self._prompt_plan(prompt_ids)
        if plan.reuse_all:
            return self._last_logprobs  # type: ignore[return-value]
        ids = torch.tensor([list(plan.encode)], device=self.device)
        pos = torch.arange(plan.keep, plan.keep + len(plan.encode), device=self.device).unsqueeze(0)
        out = self.model(input_ids=ids, position_ids=pos, past_key_values=self._kept_cache(plan.keep),
                         use_cache=True, logits_to_keep=1)
        stats.forward_passes += 1
        self._cache_prompt(prompt_ids, out, stats, len(plan.encode), out.logits[0, -1])
        return self._last_logprobs  # type: ignore[return-value]

    def _kept_cache(self, keep: int) -> Any:
        """The prompt cache cropped to its first keep tokens (empty when keep is 0)."""
        from transformers import DynamicCache

        if not keep:
            return DynamicCache()
        return DynamicCache(ddp_cache_data=[(k[:, :, :keep], v[:, :, :keep]) for k, v in self._kv])

    def _cache_prompt(self, prompt_ids: list[int], out: Any, stats: ScoreStats, encoded: int,
                      last_logits: torch.Tensor) -> None:
        """Keep the prompt's keys/values from a forward pass that encoded its last `encoded` tokens
        (anything the pass appended after the prompt is cropped off) and its last log-probs."""
        try:
            kv = [(layer.keys, layer.values) for layer in out.past_key_values.layers]
        except AttributeError:
            raise ScoringError(f"the model {self._loaded.source} does not return a standard key/value cache; "
                               "use scoring mode 'naive'") from None
        L = len(prompt_ids)
        self._ids, self._kv = list(prompt_ids), [(k[:, :, :L], v[:, :, :L]) for k, v in kv]
        self._last_logprobs = torch.log_softmax(last_logits.float(), dim=-1)
        stats.prompt_tokens_encoded += encoded

    def _prompt_cache(self, batch: int = 1) -> Any:
        from transformers import DynamicCache

        if batch == 1:
            return DynamicCache(ddp_cache_data=list(self._kv))
        return DynamicCache(ddp_cache_data=[(k.expand(batch, -1, -1, -1), v.expand(batch, -1, -1, -1))
                                            for k, v in self._kv])

    # ------------------------------------------------------------------------------- the modes
    def _budget_bytes(self) -> float:
        return self.config.memory_budget_mb * 2 ** 20

    def packed_chunks(self, conts: list[list[int]], prompt_len: int) -> tuple[int, list[list[int]]]:
        """Packed mode's plan for these continuations after a prompt of prompt_len tokens: the most
        skill tokens a forward pass may take (memory budget, max_chunk_tokens) and the skill indices
        of each pass."""
        max_tokens = packing.max_packed_tokens(self.dims, prompt_len, self._budget_bytes(),
                                               self.config.max_chunk_tokens)
        return max_tokens, packing.plan_tree_chunks(conts, max_tokens, self._share_prefixes)

    def _score_packed(self, prompt_ids: list[int], conts: list[list[int]],
                      stats: ScoreStats) -> tuple[torch.Tensor, list[list[float]]]:
        """The prompt's last log-probs and every skill's other token log-probs. The prompt's new
        tokens ride in the first chunk's forward pass: one pass a planning step while the skills
        fit one chunk (a pass reads all the weights, ~150 ms of the 135M model on 2 cores)."""
        L = len(prompt_ids)
        plan = self._prompt_plan(prompt_ids)
        lead = [] if plan.reuse_all else list(plan.encode)
        keep = L - len(lead)
        max_tokens, chunks = self.packed_chunks(conts, L)
        if lead and (not chunks or
                     packing.forward_bytes(self.dims, keep, 1, len(lead) + max_tokens) > self._budget_bytes()):
            self._encode_prompt(prompt_ids, stats)  # too long to ride along: a pass of its own
            lead, keep = [], L
        rest: list[list[float]] = [[0.0] * (len(c) - 1) for c in conts]
        for chunk in chunks:
            layout = packing.pack(conts, chunk, L, self._share_prefixes)
            n, T = len(lead), len(layout.input_ids)
            ids = torch.tensor([lead + layout.input_ids], device=self.device)
            pos = torch.tensor([list(range(keep, L)) + layout.position_ids], device=self.device)
            mask = torch.zeros(n + T, L + T, dtype=torch.bool, device=self.device)
            mask[:, :keep] = True  # everyone sees the cached prompt
            mask[:n, keep:L] = torch.ones(n, n, dtype=torch.bool, device=self.device).tril()  # the new prompt tokens, causal
            mask[n:, keep:L] = True  # skill tokens see the whole prompt ...
            mask[n:, L:] = torch.from_numpy(packing.tree_mask(layout.parents)).to(self.device)  # ... and their ancestors
            keep_logits = torch.arange(max(n - 1, 0), n + T, device=self.device)  # the prompt's last + every skill token
            out = self.model(input_ids=ids, position_ids=pos, attention_mask=self._mask(mask[None, None]),
                             past_key_values=self._kept_cache(keep) if n else self._prompt_cache(),
                             use_cache=True, logits_to_keep=keep_logits)
            stats.forward_passes += 1
            stats.skill_tokens_fed += T
            logits = out.logits[0]
            if n:
                self._cache_prompt(prompt_ids, out, stats, n, logits[0])
                logits, lead, keep = logits[1:], [], L
            rows = torch.tensor([t[0] for t in layout.targets], device=self.device)
            targets = torch.tensor([t[3] for t in layout.targets], device=self.device)
            lps = _target_logprobs(logits, targets, rows).tolist()
            for (_, s, j, _), lp in zip(layout.targets, lps):
                rest[s][j - 1] = lp
        return self._last_logprobs, rest  # type: ignore[return-value]

    def _score_kv(self, conts: list[list[int]], stats: ScoreStats) -> list[list[float]]:
        L = len(self._ids)
        fed = packing.fed_lengths(conts)
        longest = max(fed, default=0)
        batch = packing.max_batch(self.dims, L, max(longest, 1), self._budget_bytes(), self.config.batch_size)
        rest: list[list[float]] = [[0.0] * (len(c) - 1) for c in conts]
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        for group in packing.plan_batches(fed, batch):
            S = max(fed[s] for s in group)
            ids = torch.full((len(group), S), pad, dtype=torch.long, device=self.device)
            attn = torch.zeros(len(group), L + S, dtype=torch.long, device=self.device)
            attn[:, :L] = 1
            for r, s in enumerate(group):
                ids[r, :fed[s]] = torch.tensor(conts[s][:-1], device=self.device)
                attn[r, L:L + fed[s]] = 1
            pos = torch.arange(L, L + S, device=self.device).unsqueeze(0).expand(len(group), -1)
            out = self.model(input_ids=ids, attention_mask=attn, position_ids=pos,
                             past_key_values=self._prompt_cache(len(group)), use_cache=True)
            stats.forward_passes += 1
            stats.skill_tokens_fed += sum(fed[s] for s in group)
            rows = [(r, j) for r, s in enumerate(group) for j in range(fed[s])]
            logits = out.logits[[r for r, _ in rows], [j for _, j in rows]]
            targets = torch.tensor([conts[group[r]][j + 1] for r, j in rows], device=self.device)
            lps = _target_logprobs(logits, targets).tolist()
            for (r, j), lp in zip(rows, lps):
                rest[group[r]][j] = lp
        return rest

    def _score_naive(self, prompt_ids: list[int], conts: list[list[int]], stats: ScoreStats) -> list[list[float]]:
        """The reference: one full forward pass of prompt + skill per skill, nothing cached.
        Returns every token's log-probability (the first one included)."""
        L = len(prompt_ids)
        out_lps = []
        for cont in conts:
            ids = torch.tensor([prompt_ids + cont[:-1]], device=self.device)
            keep = torch.arange(L - 1, L - 1 + len(cont), device=self.device)
            out = self.model(input_ids=ids, use_cache=False, logits_to_keep=keep)
            stats.forward_passes += 1
            stats.prompt_tokens_encoded += L
            stats.skill_tokens_fed += len(cont) - 1
            out_lps.append(_target_logprobs(out.logits[0], torch.tensor(cont, device=self.device)).tolist())
        return out_lps

    def _mask(self, allowed: torch.Tensor) -> torch.Tensor:
        """The 4D mask in the form the model's attention takes: bool for SDPA, additive for eager."""
        if self._bool_mask:
            return allowed
        neg = torch.finfo(self.dtype).min
        return torch.zeros(allowed.shape, dtype=self.dtype, device=allowed.device).masked_fill(~allowed, neg)


def _target_logprobs(logits: torch.Tensor, targets: torch.Tensor, rows: torch.Tensor | None = None) -> torch.Tensor:
    """log_softmax(logits)[rows[i], targets[i]] in float32 (rows: every position in order when
    None). The normaliser is computed once per distinct row, a slice of rows at a time."""
    if rows is None:
        rows = torch.arange(len(targets), device=logits.device)
    distinct, inverse = torch.unique(rows, return_inverse=True)
    lse = torch.empty(len(distinct), dtype=torch.float32, device=logits.device)
    for a in range(0, len(distinct), _LOGPROB_SLICE):
        lse[a:a + _LOGPROB_SLICE] = logits[distinct[a:a + _LOGPROB_SLICE]].float().logsumexp(-1)
    return logits[rows, targets].float() - lse[inverse]
