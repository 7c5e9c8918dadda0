"""Injected failures for plan-mode evaluation of the closed loop (saycan_ros.eval.faults)."""
from __future__ import annotations

import pytest

from saycan_ros.core.errors import ConfigError
from saycan_ros.core.kitchen import load_kitchen
from saycan_ros.core.skills import SkillLibrary
from saycan_ros.core.world import initial_state
from saycan_ros.eval.faults import FaultSpec, FaultyRunner, faults_met_note
from saycan_ros.eval.report import EpisodeResult

KITCHEN = load_kitchen()
LIB = SkillLibrary.from_kitchen(KITCHEN)


def runner(spec: FaultSpec, index: int = 1) -> FaultyRunner:
    start = {"robot": {"at": "user", "holding": None}, "objects": {"apple": "close counter", "sponge": "table"}}
    return FaultyRunner(KITCHEN, initial_state(KITCHEN, start),
                        spec, index)


def test_a_slipped_grasp_fails_with_grasp_failed_and_leaves_the_object():
    r = runner(FaultSpec(grasp_slip_p=1.0))
    assert r.run(LIB.get("find an apple")).success
    out = r.run(LIB.get("pick up the apple"))
    assert (out.success, out.error_code) == (False, 205) and "slip" in out.message
    assert r.state.holding is None and r.state.objects["apple"] == "close counter"
    assert r.faults == ["'pick up the apple': grasp slipped"] and r.history[-1][1] is False


def test_an_object_moved_after_find_makes_the_next_pick_fail_until_found_again():
    r = runner(FaultSpec(moved_after_find_p=1.0))
    assert r.run(LIB.get("find an apple")).success
    moved_to = r.state.objects["apple"]
    assert moved_to not in ("close counter", "user", "trash can") and len(r.faults) == 1
    assert r.run(LIB.get("pick up the apple")).error_code == 204
    assert r.run(LIB.get("find an apple")).success and r.state.objects["apple"] == moved_to  # once per episode
    assert r.run(LIB.get("pick up the apple")).success


def test_the_draws_are_seeded_per_episode_and_zero_means_no_faults():
    picks = lambda seed, index: [runner(FaultSpec(grasp_slip_p=0.5, seed=seed), index).rng.random() for _ in range(1)]
    assert picks(0, 3) == picks(0, 3) and picks(0, 3) != picks(1, 3) and picks(0, 3) != picks(0, 4)
    r = runner(FaultSpec())
    assert not FaultSpec().any
    assert r.run(LIB.get("find an apple")).success and r.run(LIB.get("pick up the apple")).success and r.faults == []


@pytest.mark.parametrize("bad", [{"grasp_slip_p": -0.1}, {"moved_after_find_p": 1.5}])
def test_probabilities_outside_zero_one_are_refused(bad):
    with pytest.raises(ConfigError, match="probability"):
        FaultSpec(**bad)


def test_the_faults_met_note_counts_faults_episodes_and_recoveries():
    def result(success: bool, faults: list[str] | None) -> EpisodeResult:
        r = EpisodeResult("e", "single", "i", success, "done")
        if faults is not None:
            r.meta["injected_faults"] = faults
        return r
    results = [result(True, ["a", "b"]), result(False, ["c"]), result(True, []), result(True, None)]
    assert faults_met_note(results) == "faults met: 3 injected into 2 of 4 episodes; 1 of those 2 succeeded"
