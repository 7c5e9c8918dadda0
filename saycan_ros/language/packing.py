"""Pure planning for prefix-cached scoring: prefix reuse, packing skills into chunks, memory sizes.

No torch here: these functions work on token-id lists and numbers, so they are unit-tested
without a model. The transformers scorer turns their plans into tensors.

Packed scoring feeds, after the cached prompt of length L, the tokens of many skills in one
sequence. Skill i with continuation tokens c_i = (t_0 .. t_{n-1}) needs its first n-1 tokens fed:
the prompt's last logits predict t_0, and the output at t_j predicts t_{j+1}; the output at the
last token is not needed, so that token is never fed. Skills that begin with the same tokens
("find a coke can", "find a pepsi can") share them: the fed tokens form a prefix tree, each token
fed once, and each token attends to the whole prompt and to its own ancestors in the tree only,
with position id L + its depth, exactly as if its skill followed the prompt alone. The outputs at
a shared token serve every skill below it. A 60-skill kitchen library feeds 87 tokens this way
instead of 231 (one chain per skill, the block-diagonal layout that ``share_prefixes=False``
still builds).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np


def common_prefix_len(a: Sequence[int], b: Sequence[int]) -> int:
    """Number of leading tokens that a and b share."""
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


@dataclass(frozen=True)
class PrefixPlan:
    """How to bring a cached prompt to a new prompt: keep `keep` tokens, then encode the rest."""

    keep: int  # cached tokens to keep (the cache is cropped to this length)
    encode: tuple[int, ...]  # tokens to run through the model after the kept ones
    reuse_all: bool  # the new prompt is exactly the cached one: nothing to run at all


def plan_prefix(cached: Sequence[int], new: Sequence[int]) -> PrefixPlan:
    """Reuse the longest shared prefix; always encode at least one token unless nothing changed.

    The new prompt's last-position logits are needed to score each skill's first token, so when
    the new prompt is a strict prefix of the cached one, its last token is encoded again.
    """
    if not new:
        raise ValueError("the new prompt has no tokens")
    if list(cached) == list(new):
        return PrefixPlan(keep=len(new), encode=(), reuse_all=True)
    keep = min(common_prefix_len(cached, new), len(new) - 1)
    return PrefixPlan(keep=keep, encode=tuple(new[keep:]), reuse_all=False)


def fed_lengths(continuations: Sequence[Sequence[int]]) -> list[int]:
    """Tokens each skill puts into a forward pass: all but its last (see the module docstring)."""
    return [max(len(c) - 1, 0) for c in continuations]


def plan_chunks(lengths: Sequence[int], max_tokens: int) -> list[list[int]]:
    """Group skill indices into chunks of at most max_tokens fed tokens (a skill is never split).

    Skills that feed no token (one-token continuations) are left out: their score comes from the
    prompt's last logits alone. Starting from the fewest chunks that could hold all tokens, skills
    are dealt longest first to the least-filled chunk (balanced chunks); when one overflows, one
    more chunk is tried. A single skill longer than max_tokens gets a chunk of its own. Indices
    within a chunk keep their input order.
    """
    if max_tokens < 1:
        raise ValueError("max_tokens must be >= 1")
    items = sorted(((n, i) for i, n in enumerate(lengths) if n > 0), key=lambda t: (-t[0], t[1]))
    if not items:
        return []
    oversized = [[i] for n, i in items if n > max_tokens]
    items = [(n, i) for n, i in items if n <= max_tokens]
    chunks: list[list[int]] = []
    if items:
        k = max(1, math.ceil(sum(n for n, _ in items) / max_tokens))
        while True:
            loads, chunks = [0] * k, [[] for _ in range(k)]
            for n, i in items:
                c = min(range(k), key=lambda j: (loads[j], j))
                loads[c] += n
                chunks[c].append(i)
            if max(loads) <= max_tokens:
                break
            k += 1
    return [sorted(c) for c in oversized + chunks if c]


def plan_batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Group skill indices for the kv mode: at most batch_size skills each, similar lengths together
    (less padding). Skills that feed no token are left out, as in plan_chunks."""
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    order = sorted((i for i, n in enumerate(lengths) if n > 0), key=lambda i: (lengths[i], i))
    return [order[k:k + batch_size] for k in range(0, len(order), batch_size)]


def plan_tree_chunks(continuations: Sequence[Sequence[int]], max_tokens: int,
                     share_prefixes: bool = True) -> list[list[int]]:
    """Group skill indices into chunks of at most max_tokens fed tokens, counting a prefix shared
    within a chunk once (a skill is never split; see plan_chunks without sharing).

    Skills are taken in the order of their fed tokens, so each one shares the most with the one
    before it (in sorted order that is the longest prefix it shares with any earlier skill), and
    chunks are filled in that order up to an even share of the whole tree. A single skill longer
    than max_tokens gets a chunk of its own.
    """
    fed = fed_lengths(continuations)
    if not share_prefixes:
        return plan_chunks(fed, max_tokens)
    if max_tokens < 1:
        raise ValueError("max_tokens must be >= 1")
    heads = {i: list(continuations[i][:n]) for i, n in enumerate(fed) if n > 0}
    order = sorted(heads, key=lambda i: (heads[i], i))
    new = [fed[i] - (common_prefix_len(heads[p], heads[i]) if k else 0)
           for k, (p, i) in enumerate(zip([None] + order[:-1], order))]
    total = sum(new)
    if not total:
        return []
    target = math.ceil(total / math.ceil(total / max_tokens))
    chunks: list[list[int]] = []
    load = 0
    for i, added in zip(order, new):
        if not chunks or load >= target or load + added > max_tokens:
            chunks.append([])
            load, added = 0, fed[i]  # a new chunk shares nothing yet
        chunks[-1].append(i)
        load += added
    return chunks


@dataclass(frozen=True)
class PackedLayout:
    """One packed chunk as plain lists: token ids, position ids, the parent of every position (the
    position of the token before it in its skill, -1 when it follows the prompt) and the
    log-probabilities it yields, as (position, skill index, token index j+1, target token id)."""

    input_ids: list[int]
    position_ids: list[int]
    parents: list[int]
    targets: list[tuple[int, int, int, int]]


def pack(continuations: Sequence[Sequence[int]], skill_indices: Sequence[int], prompt_len: int,
         share_prefixes: bool = True) -> PackedLayout:
    """Lay out the chosen skills' fed tokens after a prompt of prompt_len tokens as a prefix tree
    (or, without sharing, as one chain per skill)."""
    ids: list[int] = []
    pos: list[int] = []
    parents: list[int] = []
    targets: list[tuple[int, int, int, int]] = []
    node: dict[tuple[int, int], int] = {}  # (parent position, token id) -> position
    for s in skill_indices:
        cont = continuations[s]
        parent = -1
        for j in range(len(cont) - 1):
            at = node.get((parent, cont[j]), -1) if share_prefixes else -1
            if at < 0:
                at = len(ids)
                ids.append(cont[j])
                pos.append(prompt_len + j)
                parents.append(parent)
                node[(parent, cont[j])] = at
            targets.append((at, s, j + 1, cont[j + 1]))
            parent = at
    return PackedLayout(ids, pos, parents, targets)


def tree_mask(parents: Sequence[int]) -> np.ndarray:
    """The packed part of the attention mask (row attends to column): the token itself and its
    ancestors. A chain per skill gives the block-diagonal causal mask."""
    n = len(parents)
    allowed = np.zeros((n, n), dtype=bool)
    for r, p in enumerate(parents):
        if p >= 0:
            if p >= r:
                raise ValueError(f"position {r} has parent {p}: a parent must come before its child")
            allowed[r] = allowed[p]
        allowed[r, r] = True
    return allowed


@dataclass(frozen=True)
class ModelDims:
    """What memory estimates need from a model config."""

    layers: int
    hidden: int
    intermediate: int
    heads: int
    kv_heads: int
    head_dim: int
    vocab: int
    elem_bytes: int  # bytes per element of the model's dtype


def forward_bytes(dims: ModelDims, prompt_len: int, batch: int, seq: int) -> int:
    """Rough extra memory of one scoring forward of batch x seq tokens over a prompt cache.

    Counts the copy of the prompt's keys/values that each batch row gets, the new keys/values,
    the logits, the widest activations, one layer's attention scores (float32) and the mask.
    """
    e = dims.elem_bytes
    kv_per_token = dims.layers * 2 * dims.kv_heads * dims.head_dim * e
    tokens = batch * seq
    kv = batch * (prompt_len + seq) * kv_per_token
    logits = tokens * dims.vocab * (e + 4)  # model-dtype logits + a float32 working slice bound
    activations = tokens * (6 * dims.hidden + 3 * dims.intermediate) * e
    scores = dims.heads * batch * seq * (prompt_len + seq) * 4
    mask = batch * seq * (prompt_len + seq)
    return int(kv + logits + activations + scores + mask)


def max_packed_tokens(dims: ModelDims, prompt_len: int, budget_bytes: float, cap: int) -> int:
    """Largest packed chunk (in fed tokens, at most cap) whose forward fits the budget; >= 1."""
    lo, hi = 1, max(1, cap)
    if forward_bytes(dims, prompt_len, 1, hi) <= budget_bytes:
        return hi
    while lo < hi:  # forward_bytes grows with seq: binary search the last seq that fits
        mid = (lo + hi + 1) // 2
        if forward_bytes(dims, prompt_len, 1, mid) <= budget_bytes:
            lo = mid
        else:
            hi = mid - 1
    return lo


def max_batch(dims: ModelDims, prompt_len: int, seq: int, budget_bytes: float, cap: int) -> int:
    """Largest kv-mode batch (at most cap) of seq-token rows whose forward fits the budget; >= 1."""
    b = max(1, cap)
    while b > 1 and forward_bytes(dims, prompt_len, b, seq) > budget_bytes:
        b -= 1
    return b
