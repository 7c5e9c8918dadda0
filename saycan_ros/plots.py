"""Score plots: one PNG per planning step (top candidates: LLM, affordance, combined)."""
from __future__ import annotations

import math
from pathlib import Path

from saycan_ros.core.episode import StepRecord


def plot_step(step: StepRecord, path: str | Path, instruction: str = "", top_k: int = 8) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cands = step.top(top_k)[::-1]  # best at the top of the chart
    names = [c.skill for c in cands]
    fig, axes = plt.subplots(1, 3, figsize=(12, 0.45 * len(cands) + 1.6), sharey=True)
    panels = (("p_LLM (exp of log-likelihood)", [math.exp(c.llm) for c in cands], "tab:blue"),
              ("p_affordance", [c.affordance for c in cands], "tab:green"),
              ("p_LLM x p_affordance", [c.probability_product for c in cands], "tab:purple"))
    for ax, (title, values, colour) in zip(axes, panels):
        bars = ax.barh(names, values, color=[colour if n != step.chosen else "tab:red" for n in names])
        ax.set_title(title, fontsize=10)
        ax.bar_label(bars, fmt="%.3g", fontsize=8, padding=2)
        ax.margins(x=0.25)
    fig.suptitle(f"step {step.index}: chose '{step.chosen}'" + (f"  —  {instruction}" if instruction else ""), fontsize=11)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
