"""Prefix reuse and packing plans (pure logic, no model)."""
from __future__ import annotations

import numpy as np
import pytest

from saycan_ros.language import packing


def test_common_prefix():
    assert packing.common_prefix_len([1, 2, 3], [1, 2, 4, 5]) == 2
    assert packing.common_prefix_len([], [1]) == 0
    assert packing.common_prefix_len([1, 2], [1, 2]) == 2


def test_prefix_plan_encodes_only_the_new_tokens():
    plan = packing.plan_prefix([1, 2, 3], [1, 2, 3, 4, 5])
    assert plan == packing.PrefixPlan(keep=3, encode=(4, 5), reuse_all=False)


def test_prefix_plan_same_prompt_runs_nothing():
    assert packing.plan_prefix([1, 2, 3], [1, 2, 3]).reuse_all


def test_prefix_plan_diverging_prompt_crops_the_cache():
    plan = packing.plan_prefix([1, 2, 3, 9], [1, 2, 7])
    assert plan.keep == 2 and plan.encode == (7,)


def test_prefix_plan_shorter_prompt_reencodes_its_last_token():
    # the last position's logits are needed to score each skill's first token
    plan = packing.plan_prefix([1, 2, 3, 4], [1, 2, 3])
    assert plan.keep == 2 and plan.encode == (3,)


def test_prefix_plan_empty_cache_encodes_everything():
    assert packing.plan_prefix([], [5, 6]) == packing.PrefixPlan(0, (5, 6), False)
    with pytest.raises(ValueError):
        packing.plan_prefix([1], [])


def test_fed_lengths_drop_each_skills_last_token():
    assert packing.fed_lengths([[1], [1, 2], [1, 2, 3]]) == [0, 1, 2]


def test_chunks_respect_the_token_bound_and_keep_skills_whole():
    lengths = [3, 0, 4, 2, 5, 1, 3]
    chunks = packing.plan_chunks(lengths, max_tokens=6)
    flat = [i for c in chunks for i in c]
    assert sorted(flat) == [0, 2, 3, 4, 5, 6]  # the skill that feeds nothing is left out
    assert all(sum(lengths[i] for i in c) <= 6 for c in chunks)
    assert len(chunks) == 3  # 18 tokens need at least 3 chunks of 6


def test_chunks_are_balanced_and_one_when_it_fits():
    assert packing.plan_chunks([2, 2, 2], 100) == [[0, 1, 2]]
    chunks = packing.plan_chunks([1] * 10, 8)
    assert [len(c) for c in chunks] == [5, 5]


def test_oversized_skill_gets_its_own_chunk():
    assert packing.plan_chunks([10, 1], 4) == [[0], [1]]


def test_batches_group_similar_lengths():
    assert packing.plan_batches([3, 1, 0, 2, 1], 2) == [[1, 4], [3, 0]]


def test_pack_without_sharing_lays_a_chain_per_skill():
    conts = [[10, 11, 12], [20], [30, 31]]
    layout = packing.pack(conts, [0, 2], prompt_len=5, share_prefixes=False)
    assert layout.input_ids == [10, 11, 30]
    assert layout.position_ids == [5, 6, 5]  # positions restart after the prompt for every skill
    assert layout.parents == [-1, 0, -1]
    assert layout.targets == [(0, 0, 1, 11), (1, 0, 2, 12), (2, 2, 1, 31)]


def test_pack_feeds_a_shared_prefix_once():
    conts = [[1, 2, 3, 9], [1, 2, 4, 9], [1, 5, 9], [7, 9], [1, 2, 3, 8]]
    layout = packing.pack(conts, range(5), prompt_len=5)
    assert layout.input_ids == [1, 2, 3, 4, 5, 7]
    assert layout.position_ids == [5, 6, 7, 7, 6, 5]  # position = prompt length + depth in the tree
    assert layout.parents == [-1, 0, 1, 1, 0, -1]
    # skill 1 reads its second and third tokens off the shared nodes, its last off its own node
    assert [t for t in layout.targets if t[1] == 1] == [(0, 1, 1, 2), (1, 1, 2, 4), (3, 1, 3, 9)]
    # skill 4 shares every fed token with skill 0 and differs only in the token the last node predicts
    assert [t for t in layout.targets if t[1] == 4] == [(0, 4, 1, 2), (1, 4, 2, 3), (2, 4, 3, 8)]
    flat = packing.pack(conts, range(5), prompt_len=5, share_prefixes=False)
    assert len(flat.input_ids) == sum(packing.fed_lengths(conts)) == 12


def test_tree_mask_sees_self_and_ancestors_only():
    allowed = packing.tree_mask([-1, 0, 1, 1, 0, -1])
    assert [list(np.flatnonzero(row)) for row in allowed] == [[0], [0, 1], [0, 1, 2], [0, 1, 3], [0, 4], [5]]
    # chains give the block-diagonal causal mask
    chains = packing.tree_mask([-1, 0, -1])
    assert chains.tolist() == [[True, False, False], [True, True, False], [False, False, True]]
    with pytest.raises(ValueError):
        packing.tree_mask([1, -1])


def test_tree_chunks_count_shared_tokens_once_and_keep_skills_whole():
    conts = [[1, 2, 3, 9], [1, 2, 4, 9], [1, 2, 5, 9], [1, 2, 6, 9], [7, 8, 9], [5]]
    fed = packing.fed_lengths(conts)  # 3, 3, 3, 3, 2, 0: 14 fed, 8 distinct
    assert packing.plan_tree_chunks(conts, max_tokens=8) == [[0, 1, 2, 3, 4]]  # would not fit without sharing
    assert len(packing.plan_chunks(fed, 8)) == 2
    chunks = packing.plan_tree_chunks(conts, max_tokens=5)
    assert sorted(i for c in chunks for i in c) == [0, 1, 2, 3, 4]  # the one-token skill feeds nothing
    assert all(len(packing.pack(conts, c, 0).input_ids) <= 5 for c in chunks)
    assert sorted(packing.plan_tree_chunks([[1, 2, 3, 4, 5, 6], [1, 7]], max_tokens=3)) == [[0], [1]]  # oversized alone
    assert packing.plan_tree_chunks(conts, 8, share_prefixes=False) == packing.plan_chunks(fed, 8)


DIMS = packing.ModelDims(layers=30, hidden=576, intermediate=1536, heads=9, kv_heads=3, head_dim=64,
                         vocab=49152, elem_bytes=4)


def test_memory_budget_limits_the_chunk():
    big = packing.max_packed_tokens(DIMS, 400, 4e9, cap=4096)
    small = packing.max_packed_tokens(DIMS, 400, 200e6, cap=4096)
    assert big == 4096 and 1 <= small < big
    assert packing.forward_bytes(DIMS, 400, 1, small) <= 200e6 < packing.forward_bytes(DIMS, 400, 1, small + 1)
    assert packing.max_packed_tokens(DIMS, 400, 1.0, cap=512) == 1  # never below one token


def test_memory_budget_limits_the_batch():
    assert packing.max_batch(DIMS, 400, 6, 1e12, cap=32) == 32
    b = packing.max_batch(DIMS, 400, 6, 100e6, cap=32)
    assert 1 <= b < 32 and packing.forward_bytes(DIMS, 400, b, 6) <= 100e6
