"""CI-sized plan-mode run with the embedded language model: success must not fall below a floor.

What runs: exactly what `saycan eval config/eval/dev.yaml` runs (the harness builds it): plan mode
on the whole development set (76 episodes), the symbolic kitchen and affordance model (with the
memory of failed searches), the embedded SmolLM2-135M with the packaged LoRA adapter
(models/planner-lora) and the prompt it was trained with, score=sum.

Measured (2 shared CPU cores, this machine busy with a second job): 64 of 76 episodes (84%):
single 9/9, noun 10/10, verb 10/10, structured 6/9, embodiment 8/10, crowd 8/10, long 8/10,
feasibility 5/8 (the family added with the learned value functions, issue 8); 1.06 s per step,
~7 min for the set. Before the adapter (fixed few-shot prompt): 17/68 of the first seven families.

FLOOR is one below that measured number: the planner is deterministic on one machine, but fp32
sums differ by ~1e-4 between CPUs (test_language_transformers), enough to flip one near-tie.
Raise FLOOR when the planner improves; a change that lowers it must say why.
"""
from __future__ import annotations

import time

import pytest

from saycan_ros.core.kitchen import load_kitchen
from saycan_ros.core.skills import SkillLibrary
from saycan_ros.eval.episodes import families, load_episodes
from saycan_ros.eval.harness import (
    build_parser, default_episode_file, make_task_grounding, make_world_factory, run_plan_mode,
)
from saycan_ros.eval.report import markdown_failures, markdown_table, summarize

FLOOR = 63          # successful episodes of the development set: measured 64, less one (see above)
MEASURED_N = 76


@pytest.mark.timeout(1200)
def test_plan_mode_success_on_the_development_set_stays_at_the_floor():
    kitchen = load_kitchen()
    library = SkillLibrary.from_kitchen(kitchen)
    episodes = load_episodes(default_episode_file(), kitchen)
    assert len(episodes) == MEASURED_N, "the development set changed: re-measure and set FLOOR again"

    started = time.perf_counter()
    # exactly what `saycan eval config/eval/dev.yaml` builds: the default model, adapter and prompt
    task, scorer = make_task_grounding(build_parser().parse_args([]))
    try:
        results = run_plan_mode(episodes, kitchen, library, task, make_world_factory("symbolic", kitchen))
    finally:
        scorer.close()
    elapsed = time.perf_counter() - started

    rows = summarize(results, families(episodes))
    overall = rows[-1]
    print(f"\nplan mode, embedded model, {len(episodes)} episodes in {elapsed:.0f} s "
          f"({overall.step_ms:.0f} ms per step)\n{markdown_table(rows)}")
    assert overall.successes >= FLOOR, (
        f"plan-mode success fell to {overall.successes}/{overall.n} (floor {FLOOR}):\n"
        f"{markdown_table(rows)}\n{markdown_failures(results)}")
