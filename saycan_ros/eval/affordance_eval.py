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


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney U with ties counted half); NaN with one class only."""
    labels, scores = np.asarray(labels).astype(bool), np.asarray(scores, dtype=np.float64)
    n_pos, n_neg = int(labels.sum()), int((~labels).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores), dtype=np.float64)
    sorted_scores = scores[order]
    i = 0
    while i < len(scores):  # average ranks over ties
        j = i
        while j + 1 < len(scores) and sorted_scores[j + 1] == sorted_scores[i]:
            j += 1
        ranks[order[i:j + 1]] = 0.5 * (i + j) + 1.0
        i = j + 1
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def brier(labels: np.ndarray, probabilities: np.ndarray) -> float:
    return float(np.mean((np.asarray(probabilities, np.float64) - np.asarray(labels, np.float64)) ** 2))


def reliability(labels: np.ndarray, probabilities: np.ndarray, bins: int = 10) -> list[tuple[float, float, int]]:
    """(mean predicted, observed success rate, count) per non-empty probability bin."""
    probabilities, labels = np.asarray(probabilities, np.float64), np.asarray(labels, np.float64)
    index = np.minimum((probabilities * bins).astype(int), bins - 1)
    return [(float(probabilities[index == b].mean()), float(labels[index == b].mean()), int((index == b).sum()))
            for b in range(bins) if (index == b).any()]


@dataclass
class Scores:
    n: int
    success_rate: float
    auc: float
    brier: float
    baseline_auc: float
    baseline_brier: float


def score_table(labels: np.ndarray, kinds: np.ndarray, learned: np.ndarray, baseline: np.ndarray) -> dict[str, Scores]:
    """Scores per skill kind and 'all'."""
    table = {}
    for kind in [*sorted(set(kinds)), "all"]:
        m = np.ones(len(labels), bool) if kind == "all" else kinds == kind
        y = labels[m]
        table[kind] = Scores(int(m.sum()), float(y.mean()), roc_auc(y, learned[m]), brier(y, learned[m]),
                             roc_auc(y, baseline[m]), brier(y, baseline[m]))
    return table


def baseline_probabilities(features_json: Sequence[str], skill_texts: Sequence[str], kitchen=None) -> np.ndarray:
    """The hand-calibrated table (affordance/value_function.py, default parameters) on recorded features."""
    from saycan_ros.affordance.value_function import skill_affordance
    from saycan_ros.core.kitchen import load_kitchen
    from saycan_ros.core.skills import SkillLibrary
    from saycan_ros.training.experience import features_from_json

    library = SkillLibrary.from_kitchen(kitchen or load_kitchen())
    return np.array([skill_affordance(features_from_json(json.loads(f)), library.get(str(s)))
                     for f, s in zip(features_json, skill_texts)], np.float64)


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
    lines = [f"{'kind':7s} {'n':>5s} {'success':>8s} {'AUC':>6s} {'Brier':>6s} | {'hand AUC':>8s} {'hand Brier':>10s}"]
    for kind, s in table.items():
        lines.append(f"{kind:7s} {s.n:5d} {s.success_rate:8.2f} {s.auc:6.3f} {s.brier:6.3f} | "
                     f"{s.baseline_auc:8.3f} {s.baseline_brier:10.3f}")
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
    parser.add_argument("--plot", default="", help="reliability diagram PNG (default: DATA/reliability.png)")
    args = parser.parse_args(argv)
    from saycan_ros.affordance.learned import TextEmbeddings, default_value_function_folder, load_value_function, predict
    from saycan_ros.training.experience import load_experience

    data = load_experience(args.data)
    folder = args.model or default_value_function_folder()
    network, card = load_value_function(folder)
    overlap = set(card.get("data_seeds", [])) & set(_seeds(args.data))
    if overlap:
        raise ConfigError(f"the evaluation data shares collection seed(s) {sorted(overlap)} with the training data")
    learned = predict(network, data.image, data.state, TextEmbeddings().load(folder)([str(s) for s in data.skill]))
    baseline = baseline_probabilities(data.features, data.skill)
    table = score_table(data.label, data.kind, learned, baseline)
    print(format_table(table))
    plot = plot_reliability(data.label, data.kind, learned, baseline,
                            Path(args.plot) if args.plot else Path(args.data[0]) / "reliability.png")
    print(f"reliability diagram: {plot}")
    print(summary_line(table))
    return 0


def _seeds(folders: Sequence[str]) -> list[int]:
    seeds = []
    for folder in folders:
        manifest = Path(folder) / "manifest.json"
        if manifest.is_file():
            seeds.append(int(json.loads(manifest.read_text()).get("seed", -1)))
    return seeds
