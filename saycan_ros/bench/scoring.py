"""`saycan bench scoring`: milliseconds per planning step for naive, kv, packed scoring and the limit.

All numbers come from one run on one loaded model:

* naive  - one forward pass of prompt + skill per skill (with ``--naive-sample K``, K skills are
  timed and the per-skill mean is multiplied by N: printed as extrapolated);
* kv     - the prompt encoded once, its key/value cache reused for batches of skills;
* chains - packed without shared prefixes: the prompt and all skills in one sequence, a chain of
  tokens per skill under a block-diagonal mask (chunked by the memory budget);
* packed - the same with the skills as a prefix tree: a token that several skills begin with
  ("find a", "pick up the") is fed once, under a mask that shows each token its ancestors;
* limit  - plain forward passes over the prompt and the tree's tokens concatenated, with the
  ordinary causal mask (no tree mask, no per-skill positions): the work packing cannot avoid. It
  feeds the same tokens as packed in as many passes. Printed beside it: ``limit 1 pass`` (all
  those tokens in a single pass; slower than chunks for long libraries because attention grows
  with the square of the sequence).

Each fast method's step starts from an empty prompt cache (step 1). Step k>1 is measured too: the
prompt grows by the chosen skill and the cached prefix is reused, so only the new tokens are
encoded. The last line is one machine-readable summary per N (the last N last):
``scoring N=<n> naive_ms=.. kv_ms=.. chains_ms=.. packed_ms=.. limit_ms=.. speedup=<naive/best>
tree_gain=<chains/packed> limit_ratio=<best/limit> max_abs_diff=..``
"""
from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from saycan_ros.core.errors import ConfigError, SayCanError
from saycan_ros.core.kitchen import load_kitchen
from saycan_ros.core.prompt import PromptBuilder
from saycan_ros.core.skills import SkillLibrary

INSTRUCTION = "throw away the apple"
FIRST_STEP = "find an apple"

# Templates, objects and places that extend the kitchen's library to hundreds of skills (the
# paper's library has 551). Deterministic: the same N always gives the same skills.
EXTRA_OBJECTS = (
    "bowl", "cup", "plate", "mug", "fork", "spoon", "knife", "paper towel", "glass", "bottle opener",
    "lemon", "pear", "peach", "avocado", "tomato", "potato", "onion", "carrot", "cucumber", "kiwi",
    "yogurt", "milk carton", "cereal box", "bag of rice", "can of soup", "jar of jam", "ketchup bottle",
    "cookie box", "cracker box", "chocolate bar", "granola bar", "dish soap", "towel", "napkin",
    "toothbrush", "remote control", "phone", "book", "pen", "notebook",
)
EXTRA_LOCATIONS = ("sink", "fridge", "top drawer", "middle drawer", "bottom drawer", "dishwasher", "shelf",
                   "stove", "microwave", "cabinet")
OPENABLE = ("fridge", "top drawer", "middle drawer", "bottom drawer", "dishwasher", "microwave", "cabinet")
SURFACES = ("close counter", "far counter", "table", "sink", "shelf", "stove")
CONTAINERS = ("trash can", "fridge", "top drawer", "middle drawer", "bottom drawer", "dishwasher", "microwave",
              "cabinet")


def _article(text: str) -> str:
    return re.sub(r"\ba (?=[aeiou])", "an ", text)


def skill_library(n: int, kitchen_file: str | None = None) -> list[str]:
    """N skill texts: the kitchen's library first, then template-generated ones."""
    if n < 1:
        raise ConfigError("--n must be at least 1")
    kitchen = load_kitchen(kitchen_file)
    skills = SkillLibrary.from_kitchen(kitchen).texts
    if len(skills) >= n:
        return skills[:n]
    objects = list(kitchen.objects) + list(EXTRA_OBJECTS)
    new_objects = list(EXTRA_OBJECTS)
    families: list[list[str]] = [
        [_article(f"find a {o}") for o in new_objects],
        [f"pick up the {o}" for o in new_objects],
        [f"put down the {o}" for o in new_objects],
        [f"go to the {loc}" for loc in EXTRA_LOCATIONS],
        [f"open the {loc}" for loc in OPENABLE] + [f"close the {loc}" for loc in OPENABLE],
        [f"place the {o} on the {s}" for s in SURFACES for o in objects],
        [f"put the {o} in the {c}" for c in CONTAINERS for o in objects],
        [f"bring the {o} to you" for o in objects],
    ]
    seen = set(skills)
    # Round-robin over the families so that every N mixes all kinds of skills.
    for k in range(max(len(f) for f in families)):
        for fam in families:
            if k < len(fam) and fam[k] not in seen:
                skills.append(fam[k])
                seen.add(fam[k])
                if len(skills) == n:
                    return skills
    raise ConfigError(f"--n {n} is more than the {len(skills)} skills the templates generate")


def bench_prompt(target_tokens: int, count_tokens: Callable[[str], int]) -> tuple[PromptBuilder, str]:
    """The project's few-shot prompt with as many examples as fit in about target_tokens."""
    full = PromptBuilder.from_file()
    best = None
    for k in range(1, len(full.examples) + 1):
        builder = PromptBuilder(full.preamble, full.examples[:k], full.fmt)
        if best is not None and count_tokens(builder.build(INSTRUCTION, [FIRST_STEP])) > target_tokens:
            break
        best = builder
    assert best is not None
    return best, best.build(INSTRUCTION, [FIRST_STEP])


class PeakMemory:
    """Peak memory above the level at entry: process RSS sampled every 2 ms on CPU (after handing
    freed heap back to the OS), the allocator's peak on CUDA."""

    def __init__(self, device: Any):
        self.device, self.peak_mb = device, 0.0

    def __enter__(self) -> "PeakMemory":
        if self.device.type == "cuda":
            import torch

            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self._base = torch.cuda.memory_allocated(self.device)
            return self
        import psutil

        _trim_heap()  # give freed memory back to the OS, so that RSS growth shows this run's peak
        self._proc, self._stop = psutil.Process(), threading.Event()
        self._base = self._max = self._proc.memory_info().rss
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.002):
            self._max = max(self._max, self._proc.memory_info().rss)

    def __exit__(self, *exc: Any) -> None:
        if self.device.type == "cuda":
            import torch

            torch.cuda.synchronize(self.device)
            self.peak_mb = (torch.cuda.max_memory_allocated(self.device) - self._base) / 2 ** 20
            return
        self._stop.set()
        self._thread.join()
        self._max = max(self._max, self._proc.memory_info().rss)
        self.peak_mb = (self._max - self._base) / 2 ** 20


def _trim_heap() -> None:
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: the RSS figure may then under-report
        pass


@dataclass
class Timing:
    name: str
    ms: list[float] = field(default_factory=list)
    peak_mb: float = 0.0
    note: str = ""
    forward_passes: int = 0
    prompt_encoded: int = 0

    @property
    def median(self) -> float:
        return statistics.median(self.ms)


def _sync(device: Any) -> None:
    if device.type == "cuda":
        import torch

        torch.cuda.synchronize(device)


def run_one_n(n: int, args: argparse.Namespace, loaded: Any) -> dict[str, float]:
    import torch

    from saycan_ros.language import packing
    from saycan_ros.language.base import ScorerConfig
    from saycan_ros.language.transformers_scorer import TransformersScorer, _target_logprobs

    tok = loaded.tokenizer
    skills = skill_library(n)
    builder, prompt = bench_prompt(args.prompt_tokens, lambda s: len(tok(s)["input_ids"]))
    prompt2 = builder.build(INSTRUCTION, [FIRST_STEP, "pick up the apple"])

    def scorer(mode: str, **kw: Any) -> TransformersScorer:
        cfg = ScorerConfig(model=args.model, device=args.device, dtype=args.dtype, mode=mode,
                           memory_budget_mb=args.memory_budget_mb, max_chunk_tokens=args.max_chunk_tokens,
                           batch_size=args.batch_size, **kw)
        return TransformersScorer(cfg, loaded)

    naive, kv, packed = scorer("naive"), scorer("kv"), scorer("packed")
    chains = TransformersScorer(packed.config, loaded, share_prefixes=False)
    prompt_len = len(naive._prompt_ids(prompt))
    conts = naive._continuations(prompt, naive._prompt_ids(prompt), skills)
    skill_tokens = sum(len(c) for c in conts)
    tree_chunks = [packing.pack(conts, c, prompt_len).input_ids for c in packed.packed_chunks(conts, prompt_len)[1]]
    print(f"\n== N={n} skills ({skill_tokens} skill tokens, {sum(len(c) - 1 for c in conts)} fed, "
          f"{sum(map(len, tree_chunks))} in the prefix tree), prompt {prompt_len} tokens, model {loaded.source}, "
          f"{loaded.device.type} {args.dtype}, torch threads {torch.get_num_threads()}")

    results: dict[str, Timing] = {}
    scores: dict[str, list[Any]] = {}
    stats: dict[str, Any] = {}

    def timed(name: str, fn: Callable[[], Any], before: Callable[[], None] | None = None) -> tuple[Any, float]:
        """One timed run of fn (after an untimed `before`); its result and milliseconds."""
        t = results.setdefault(name, Timing(name))
        if before:
            before()
        with PeakMemory(loaded.device) as mem:
            _sync(loaded.device)
            start = time.perf_counter()
            out = fn()
            _sync(loaded.device)
            ms = (time.perf_counter() - start) * 1000
        t.peak_mb = max(t.peak_mb, mem.peak_mb)
        return out, ms

    # Warm-up (first-call allocations, lazy kernels), not timed.
    packed.score(prompt, skills[:4])
    packed.reset_cache()

    # naive: all skills, or a sample that is extrapolated to N; split over the rounds below
    sample = n if args.naive_sample == 0 or args.naive_sample >= n else args.naive_sample
    sample_idx = sorted(set(round(i * (n - 1) / max(sample - 1, 1)) for i in range(sample)))
    sample_skills = [skills[i] for i in sample_idx]
    naive_parts = [sample_skills[r::args.repeats] for r in range(args.repeats)]
    scores["naive"], naive_ms_total, naive_fwd = [], 0.0, 0

    # The limit: plain forward passes over the prompt and the prefix tree's tokens concatenated (the
    # ordinary causal mask, consecutive positions: no tree mask, no per-skill positions), as many
    # passes as packed makes, the prompt riding in the first. The same matrix work as packed without
    # what packing adds. "limit 1 pass" is the literal single pass over all tokens: on long
    # libraries it is slower than chunking (attention grows with the square of its length).
    from transformers import DynamicCache

    p_ids = naive._prompt_ids(prompt)
    p2_ids = torch.tensor([naive._prompt_ids(prompt2)], device=loaded.device)
    tree = [t for ids in tree_chunks for t in ids]
    packed.score(prompt, skills)
    n_chunks = packed.last_stats.forward_passes
    packed.reset_cache()

    def limit(chunks: int) -> None:
        size = -(-len(tree) // chunks)
        parts = [tree[a:a + size] for a in range(0, len(tree), size)] or [[]]
        with torch.inference_mode():
            prompt_kv = None
            for k, part in enumerate(parts):
                lead = p_ids if k == 0 else []
                ids = torch.tensor([lead + part], device=loaded.device)
                keep = torch.arange(max(len(lead) - 1, 0), len(lead) + len(part), device=loaded.device)
                cache = DynamicCache() if k == 0 else DynamicCache(ddp_cache_data=prompt_kv)
                out = loaded.model(input_ids=ids, past_key_values=cache, use_cache=True, logits_to_keep=keep)
                if k == 0:
                    prompt_kv = [(layer.keys[:, :, :len(p_ids)], layer.values[:, :, :len(p_ids)])
                                 for layer in out.past_key_values.layers]
                # the same amount of log-prob work per position as packed (targets only need the right count)
                _target_logprobs(out.logits[0], torch.tensor(part + p_ids[-1:] if k == 0 else part, device=loaded.device))

    def prompt2_pass() -> None:
        with torch.inference_mode():
            loaded.model(input_ids=p2_ids, use_cache=True, logits_to_keep=1)

    def warm_step1() -> None:
        packed.reset_cache()
        packed.score(prompt, skills)

    # step k>1: the prompt grew by one step; with the prefix cache only the new tokens are encoded
    jobs: list[tuple[str, Callable[[], Any], Callable[[], None] | None]] = [
        ("kv", lambda: kv.score(prompt, skills), kv.reset_cache),
        ("chains", lambda: chains.score(prompt, skills), chains.reset_cache),
        ("packed", lambda: packed.score(prompt, skills), packed.reset_cache),
        ("limit", lambda: limit(n_chunks), None),
        ("limit 1 pass", lambda: limit(1), None),
        ("packed step 2 (prefix reused)", lambda: packed.score(prompt2, skills), warm_step1),
        ("packed step 2 (no cache)", lambda: packed.score(prompt2, skills), packed.reset_cache),
        ("prompt pass, step-2 prompt", prompt2_pass, None),
    ]
    # Rounds: every method once per round, so a change in machine load hits all of them alike.
    for r in range(args.repeats):
        if naive_parts[r]:
            out, ms = timed("naive", lambda: naive.score(prompt, naive_parts[r]))
            scores["naive"] += out
            naive_ms_total += ms
            naive_fwd += naive.last_stats.forward_passes
        for name, fn, before in jobs:
            out, ms = timed(name, fn, before)
            results[name].ms.append(ms)
            if name in ("kv", "chains", "packed") or name.startswith("packed step 2"):
                scores[name], stats[name] = out, {"kv": kv, "chains": chains}.get(name, packed).last_stats
    t = results["naive"]
    t.ms = [naive_ms_total * n / len(sample_skills)]
    t.forward_passes = naive_fwd
    if len(sample_skills) < n:
        t.note = f"extrapolated from {len(sample_skills)} of {n} skills"
    for name in ("kv", "chains", "packed"):
        results[name].forward_passes = stats[name].forward_passes
    results["chains"].note = f"{stats['chains'].skill_tokens_fed} skill tokens fed, a chain per skill"
    results["packed"].note = f"{stats['packed'].skill_tokens_fed} skill tokens fed, shared prefixes once"
    results["limit"].forward_passes = n_chunks
    results["limit 1 pass"].forward_passes = 1
    results["prompt pass, step-2 prompt"].forward_passes = 1
    results["limit"].note = "same tokens and passes as packed, plain causal mask"
    results["limit 1 pass"].note = "all of them in one plain pass"
    for name in ("packed step 2 (prefix reused)", "packed step 2 (no cache)"):
        st = stats[name]
        results[name].forward_passes = st.forward_passes
        results[name].note = f"encoded {st.prompt_tokens_encoded} of {st.prompt_tokens} prompt tokens"
    results["prompt pass, step-2 prompt"].note = "what prefix reuse can save at most"

    # equality with naive on the naive sample
    pos = {s: i for i, s in enumerate(skills)}
    diffs = {}
    for name in ("kv", "chains", "packed"):
        diffs[name] = max(abs(a.sum_logprob - scores[name][pos[a.text]].sum_logprob) for a in scores["naive"])
    max_diff = max(diffs.values())

    naive_ms, kv_ms, packed_ms = results["naive"].median, results["kv"].median, results["packed"].median
    limit_ms = results["limit"].median
    best = min(kv_ms, packed_ms)
    print(f"{'method':32} {'ms/step':>10} {'vs naive':>9} {'vs limit':>9} {'peak MB':>8} {'fwd':>5}  note")
    for name, t in results.items():
        spread = f" (runs: {', '.join(f'{m:.0f}' for m in t.ms)})" if len(t.ms) > 1 else ""
        print(f"{name:32} {t.median:10.1f} {naive_ms / t.median:8.1f}x {t.median / limit_ms:8.2f}x "
              f"{t.peak_mb:8.0f} {t.forward_passes or '':>5}  {t.note}{spread}")
    print(f"max |sum log p - naive| over {len(sample_skills)} skills: kv {diffs['kv']:.2e}, "
          f"chains {diffs['chains']:.2e}, packed {diffs['packed']:.2e}")
    reused, fresh = results["packed step 2 (prefix reused)"], results["packed step 2 (no cache)"]
    saved = [f - u for f, u in zip(fresh.ms, reused.ms)]
    print(f"step 2: the prefix cache saves {statistics.median(saved):.0f} ms per step (per round: "
          f"{', '.join(f'{x:.0f}' for x in saved)}); the whole step-2 prompt pass takes "
          f"{results['prompt pass, step-2 prompt'].median:.0f} ms")
    chains_ms = results["chains"].median
    summary = {"naive_ms": naive_ms, "kv_ms": kv_ms, "chains_ms": chains_ms, "packed_ms": packed_ms,
               "limit_ms": limit_ms, "speedup": naive_ms / best, "tree_gain": chains_ms / packed_ms,
               "limit_ratio": best / limit_ms, "max_abs_diff": max_diff}
    for sc in (naive, kv, chains, packed):
        sc._kv = None  # drop prompt caches, keep the shared model
    return summary


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="saycan bench scoring", description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, nargs="+", default=[60, 551], help="library sizes (default: 60 551)")
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda", "auto"))
    p.add_argument("--model", default="", help="'' = embedded SmolLM2-135M; a HF folder, .gguf file or hub name")
    p.add_argument("--dtype", default="float32", choices=("float32", "bfloat16", "float16"))
    p.add_argument("--repeats", type=int, default=3, help="timed runs of each fast method (median is reported)")
    p.add_argument("--naive-sample", type=int, default=-1,
                   help="time naive on K skills and extrapolate to N (0: all; default: all up to 64, else 32)")
    p.add_argument("--prompt-tokens", type=int, default=420, help="few-shot prompt size to aim for")
    p.add_argument("--memory-budget-mb", type=float, default=1024.0)
    p.add_argument("--max-chunk-tokens", type=int, default=512)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    if args.repeats < 1:
        print("saycan bench scoring: --repeats must be >= 1", file=sys.stderr)
        return 2
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see saycan_ros.language.transformers_scorer
    try:
        import torch

        from saycan_ros.language.base import ScorerConfig
        from saycan_ros.language.transformers_scorer import load_causal_lm

        if args.threads:
            torch.set_num_threads(args.threads)
        start = time.perf_counter()
        loaded = load_causal_lm(ScorerConfig(model=args.model, device=args.device, dtype=args.dtype).validate())
        print(f"model loaded in {time.perf_counter() - start:.1f} s")
        lines = []
        for n in args.n:
            if args.naive_sample < 0:
                args_n = argparse.Namespace(**{**vars(args), "naive_sample": 0 if n <= 64 else 32})
            else:
                args_n = args
            s = run_one_n(n, args_n, loaded)
            lines.append(f"scoring N={n} naive_ms={s['naive_ms']:.1f} kv_ms={s['kv_ms']:.1f} "
                         f"chains_ms={s['chains_ms']:.1f} packed_ms={s['packed_ms']:.1f} limit_ms={s['limit_ms']:.1f} "
                         f"speedup={s['speedup']:.1f} tree_gain={s['tree_gain']:.2f} "
                         f"limit_ratio={s['limit_ratio']:.2f} max_abs_diff={s['max_abs_diff']:.2e}")
        print()
        for line in lines:
            print(line)
    except SayCanError as exc:
        print(f"saycan bench scoring: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
