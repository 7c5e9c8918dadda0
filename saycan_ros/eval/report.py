"""Evaluation results: per-episode records, per-family summaries, markdown, JSON and a plot."""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

OVERALL = "overall"


@dataclass
class StepResult:
    index: int
    skill: str
    success: bool | None          # None: not executed (the step that chose 'done' counts as True)
    message: str = ""
    planning_ms: float = 0.0      # language model + affordance for this step
    top: list[dict] = field(default_factory=list)  # best candidates: skill, llm, affordance, combined


@dataclass
class EpisodeResult:
    id: str
    family: str
    instruction: str
    success: bool
    status: str                   # the planner's status (done, max_steps, skill_failed, error, ...)
    steps: list[StepResult] = field(default_factory=list)
    failed_goals: list[str] = field(default_factory=list)
    wrong_step: int | None = None  # 1-based step where it went wrong (None: success or no steps)
    reason: str = ""               # why it failed, one line
    end_state: str = ""
    elapsed_s: float = 0.0
    meta: dict = field(default_factory=dict)

    @property
    def n_steps(self) -> int:
        return len(self.steps)

    @property
    def planning_ms(self) -> float:
        return sum(s.planning_ms for s in self.steps)

    @property
    def plan(self) -> list[str]:
        return [s.skill + ("" if s.success is not False else " [failed]") for s in self.steps]


@dataclass
class GroupSummary:
    name: str
    n: int
    successes: int
    success_rate: float
    mean_steps: float
    step_ms: float  # mean planning time per step


def summarize(results: Sequence[EpisodeResult], families: Sequence[str] | None = None) -> list[GroupSummary]:
    """One row per family (in the given order, else first seen) and a last row 'overall'."""
    order = list(families) if families else list(dict.fromkeys(r.family for r in results))
    rows = [_group(name, [r for r in results if r.family == name]) for name in order]
    rows = [r for r in rows if r.n]
    rows.append(_group(OVERALL, list(results)))
    return rows


def _group(name: str, results: Sequence[EpisodeResult]) -> GroupSummary:
    n = len(results)
    wins = sum(1 for r in results if r.success)
    steps = sum(r.n_steps for r in results)
    ms = sum(r.planning_ms for r in results)
    return GroupSummary(name, n, wins, wins / n if n else 0.0, steps / n if n else 0.0,
                        ms / steps if steps else 0.0)


def markdown_table(rows: Sequence[GroupSummary]) -> str:
    lines = ["| family | n | success | rate | mean steps | ms / step |",
             "|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        name = f"**{r.name}**" if r.name == OVERALL else r.name
        lines.append(f"| {name} | {r.n} | {r.successes} | {r.success_rate:.0%} | {r.mean_steps:.1f} | {r.step_ms:.0f} |")
    return "\n".join(lines)


def markdown_failures(results: Sequence[EpisodeResult]) -> str:
    failed = [r for r in results if not r.success]
    if not failed:
        return "No failures."
    out = []
    for r in failed:
        plan = []
        for s in r.steps:
            mark = " ✗" if s.success is False else ""
            text = f"{s.index}. {s.skill}{mark}"
            plan.append(f"**{text}**" if r.wrong_step == s.index else text)
        out.append(f"- `{r.id}` ({r.family}) \"{r.instruction}\" — {r.status}; "
                   f"went wrong at step {r.wrong_step if r.wrong_step else '-'}: {r.reason}\n"
                   f"  plan: {', '.join(plan) if plan else '(none)'}")
    return "\n".join(out)


def markdown_report(title: str, rows: Sequence[GroupSummary], results: Sequence[EpisodeResult],
                    notes: Sequence[str] = ()) -> str:
    parts = [f"# {title}", "", markdown_table(rows), ""]
    parts += [f"{n}" for n in notes]
    if notes:
        parts.append("")
    parts += ["## Failures", "", markdown_failures(results), ""]
    return "\n".join(parts)


def summary_line(file: str, mode: str, rows: Sequence[GroupSummary]) -> str:
    """The machine-readable last line of `saycan eval`."""
    o = rows[-1]
    return (f"eval file={file} mode={mode} n={o.n} success={o.success_rate:.3f} "
            f"mean_steps={o.mean_steps:.2f} step_ms={o.step_ms:.1f}")


def parse_summary_line(line: str) -> dict[str, Any]:
    """Inverse of summary_line (for scripts and tests)."""
    if not line.startswith("eval "):
        raise ValueError(f"not an eval summary line: {line!r}")
    out: dict[str, Any] = {}
    for token in line[5:].split(" "):
        key, _, value = token.partition("=")
        out[key] = value
    for key in ("n",):
        out[key] = int(out[key])
    for key in ("success", "mean_steps", "step_ms"):
        out[key] = float(out[key])
    return out


def write_json(path: Path, config: dict, rows: Sequence[GroupSummary], results: Sequence[EpisodeResult]) -> Path:
    data = {
        "config": config,
        "summary": [asdict(r) for r in rows],
        "episodes": [{**asdict(r), "n_steps": r.n_steps, "planning_ms": r.planning_ms} for r in results],
    }
    path.write_text(json.dumps(data, indent=1, default=str) + "\n")
    return path


def write_plot(path: Path, title: str, rows: Sequence[GroupSummary]) -> Path | None:
    """A bar chart of success rate per family (overall last). None when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except Exception:  # pragma: no cover - matplotlib is in the project's environment
        return None
    names = [r.name for r in rows]
    rates = [r.success_rate * 100 for r in rows]
    fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * len(rows) + 2), 4.2))
    colors = ["#4c72b0"] * (len(rows) - 1) + ["#c44e52"]
    bars = ax.bar(range(len(rows)), rates, color=colors)
    for bar, r in zip(bars, rows):
        ax.text(bar.get_x() + bar.get_width() / 2, bar.get_height() + 1, f"{r.successes}/{r.n}",
                ha="center", va="bottom", fontsize=8)
    ax.set_xticks(range(len(rows)))
    ax.set_xticklabels(names, rotation=30, ha="right", fontsize=8)
    ax.set_ylim(0, 110)
    ax.set_ylabel("success %")
    ax.set_title(title, fontsize=9)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def finite(value: float) -> float:
    return value if math.isfinite(value) else -1e9
