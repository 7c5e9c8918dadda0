"""`saycan eval affordance`: how well value functions predict skill success on held-out experience.

Both models score the same attempts (states the learned model never trained on: another collection
seed): the learned value function from its encoded inputs, the hand-calibrated table from the
perception features recorded with each attempt. Per skill kind and overall: ROC AUC (how well it
ranks successes above failures), Brier score (mean squared error of the probability) and a
reliability diagram (predicted vs observed success per probability bin), printed and plotted.
The last line is machine-readable:
    affordance n=.. auc=.. brier=.. auc_min_kind=.. baseline_auc=.. baseline_brier=..
"""
from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from saycan_ros.core.errors import ConfigError
from saycan_ros.core.metrics import brier, reliability, roc_auc


@dataclass
class Scores:
    n: int
    success_rate: float
    auc: float
    brier: float
    baseline_auc: float
    baseline_brier: float
    lookup_auc: float = float("nan")  # see lookup_bound


def score_table(labels: np.ndarray, kinds: np.ndarray, learned: np.ndarray, baseline: np.ndarray,
                cells: Sequence[tuple] | None = None) -> dict[str, Scores]:
    """Scores per skill kind and 'all'; with `cells` (one per attempt, see `feature_cell`) also
    the lookup bound per kind."""
    table = {}
    for kind in [*sorted(set(kinds)), "all"]:
        m = np.ones(len(labels), bool) if kind == "all" else kinds == kind
        y = labels[m]
        bound = lookup_bound(y, [c for c, keep in zip(cells, m) if keep]) if cells is not None else float("nan")
        table[kind] = Scores(int(m.sum()), float(y.mean()), roc_auc(y, learned[m]), brier(y, learned[m]),
                             roc_auc(y, baseline[m]), brier(y, baseline[m]), bound)
    return table


def feature_cell(features_json: str, skill_text: str, library) -> tuple:
    """What the recorded perception features say about one attempt's skill, in a few discrete values:
    the skill kind; its object in view, in reach, held (or another / an unidentified object held),
    seen since the search memory was cleared, known absent; the robot at the skill's location or at
    none; the share of search places looked at, in quarters."""
    from saycan_ros.affordance.features import UNKNOWN_HELD, features_from_json
    from saycan_ros.core.kitchen import base_object_name

    f = features_from_json(json.loads(features_json))
    skill = library.get(str(skill_text))
    obj = skill.object
    held = f.holding
    holding = "none" if held is None else "?" if held == UNKNOWN_HELD else (
        "it" if obj and base_object_name(held) == obj else "other")
    at = "none" if f.robot_at is None else ("its location" if f.robot_at == skill.location else "elsewhere")
    return (skill.kind, obj in f.visible, obj in f.reachable, holding, obj in f.seen, obj in f.known_absent,
            at, round(f.searched * 4))


def lookup_bound(labels: np.ndarray, cells: Sequence[tuple]) -> float:
    """AUC of a lookup table that predicts each attempt's success as the success rate of its cell,
    filled from these very labels: how well the recorded features can rank at best. Read on the data
    it scores, it is an optimistic bound; a kind whose learned AUC sits near it gains little from a
    better model of the same observation (the camera image may still add what the cells miss)."""
    totals: dict[tuple, list[int]] = {}
    for cell, y in zip(cells, labels):
        total = totals.setdefault(cell, [0, 0])
        total[0] += int(y)
        total[1] += 1
    return roc_auc(np.asarray(labels), np.array([totals[c][0] / totals[c][1] for c in cells]))


def baseline_probabilities(features_json: Sequence[str], skill_texts: Sequence[str], kitchen=None) -> np.ndarray:
    """The hand-calibrated table (affordance/value_function.py, default parameters) on recorded features."""
    from saycan_ros.affordance.features import features_from_json
    from saycan_ros.affordance.value_function import skill_affordance
    from saycan_ros.core.kitchen import load_kitchen
    from saycan_ros.core.skills import SkillLibrary

    library = SkillLibrary.from_kitchen(kitchen or load_kitchen())
    return np.array([skill_affordance(features_from_json(json.loads(f)), library.get(str(s)))
                     for f, s in zip(features_json, skill_texts)], np.float64)


def served_probabilities(raw: np.ndarray, features_json: Sequence[str], skill_texts: Sequence[str], kitchen) -> np.ndarray:
    """The network's outputs exactly as affordance_node serves them (`served_probability`'s caps and floor
    with the default parameters)."""
    from saycan_ros.affordance.features import features_from_json
    from saycan_ros.affordance.learned import served_probability
    from saycan_ros.affordance.value_function import AffordanceParams
    from saycan_ros.core.skills import SkillLibrary

    library, params = SkillLibrary.from_kitchen(kitchen), AffordanceParams()
    return np.array([served_probability(p, library.get(str(s)), features_from_json(json.loads(f)), params)
                     for p, f, s in zip(raw, features_json, skill_texts)])


def plot_reliability(labels: np.ndarray, kinds: np.ndarray, learned: np.ndarray, baseline: np.ndarray,
                     path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [*sorted(set(kinds)), "all"]
    fig, axes = plt.subplots(1, len(names), figsize=(3.0 * len(names), 3.2), sharey=True)
    for ax, kind in zip(np.atleast_1d(axes), names):
        m = np.ones(len(labels), bool) if kind == "all" else kinds == kind
        for values, colour, name in ((learned, "tab:purple", "learned"), (baseline, "tab:green", "hand-calibrated")):
            points = reliability(labels[m], values[m])
            ax.plot([p[0] for p in points], [p[1] for p in points], "o-", color=colour, label=name, markersize=3)
        ax.plot([0, 1], [0, 1], ":", color="grey")
        ax.set_title(f"{kind} (n={int(m.sum())})", fontsize=9)
        ax.set_xlabel("predicted")
    np.atleast_1d(axes)[0].set_ylabel("observed success")
    np.atleast_1d(axes)[0].legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def format_table(table: dict[str, Scores]) -> str:
    lines = [f"{'kind':7s} {'n':>5s} {'success':>8s} {'AUC':>6s} {'Brier':>6s} | {'hand AUC':>8s} {'hand Brier':>10s}"
             f" | {'lookup bound':>12s}"]
    for kind, s in table.items():
        lines.append(f"{kind:7s} {s.n:5d} {s.success_rate:8.2f} {s.auc:6.3f} {s.brier:6.3f} | "
                     f"{s.baseline_auc:8.3f} {s.baseline_brier:10.3f} | {s.lookup_auc:12.3f}")
    lines.append("lookup bound: AUC of each feature cell's own success rate on this data (an optimistic "
                 "ceiling for ranking from the features alone)")
    return "\n".join(lines)


def summary_line(table: dict[str, Scores]) -> str:
    overall = table["all"]
    kinds = [s.auc for k, s in table.items() if k != "all" and not np.isnan(s.auc)]
    return (f"affordance n={overall.n} auc={overall.auc:.3f} brier={overall.brier:.3f} "
            f"auc_min_kind={min(kinds) if kinds else float('nan'):.3f} baseline_auc={overall.baseline_auc:.3f} "
            f"baseline_brier={overall.baseline_brier:.3f}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="saycan eval affordance", description=__doc__.split("\n\n")[0])
    parser.add_argument("data", nargs="+", help="experience folder(s) from `saycan collect` (held-out seeds)")
    parser.add_argument("--model", default="", help="value function folder (default: the packaged models/affordance)")
    parser.add_argument("--kitchen", default=None, help="kitchen file of the data (default: config/kitchen.yaml)")
    parser.add_argument("--plot", default="", help="reliability diagram PNG (default: DATA/reliability.png)")
    args = parser.parse_args(argv)
    from saycan_ros.affordance.learned import (TextEmbeddings, default_value_function_folder, load_value_function,
                                               predict)
    from saycan_ros.core.kitchen import load_kitchen
    from saycan_ros.training.experience import collection_seeds, load_experience

    data = load_experience(args.data)
    folder = args.model or default_value_function_folder()
    network, card = load_value_function(folder)
    if not card.get("data_seeds"):
        raise ConfigError(f"the card of {folder} does not say which collection seeds it was trained on")
    overlap = set(card["data_seeds"]) & set(collection_seeds(args.data))
    if overlap:
        raise ConfigError(f"the evaluation data shares collection seed(s) {sorted(overlap)} with the training data")
    kitchen = load_kitchen(args.kitchen)
    raw = predict(network, data.image, data.state, TextEmbeddings().load(folder)([str(s) for s in data.skill]))
    learned = served_probabilities(raw, data.features, data.skill, kitchen)
    baseline = baseline_probabilities(data.features, data.skill, kitchen)
    from saycan_ros.core.skills import SkillLibrary

    library = SkillLibrary.from_kitchen(kitchen)
    cells = [feature_cell(f, skill, library) for f, skill in zip(data.features, data.skill)]
    table = score_table(data.label, data.kind, learned, baseline, cells)
    print(format_table(table))
    plot = plot_reliability(data.label, data.kind, learned, baseline,
                            Path(args.plot) if args.plot else Path(args.data[0]) / "reliability.png")
    print(f"reliability diagram: {plot}")
    print(summary_line(table))
    return 0

