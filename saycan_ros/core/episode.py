"""Episode records: what the planner saw and chose at each step, as plain data and JSONL."""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from saycan_ros.core.scoring import Candidate

# How an episode ended.
STATUS_DONE = "done"                  # the planner chose 'done'
STATUS_MAX_STEPS = "max_steps"        # step limit reached before 'done'
STATUS_SKILL_FAILED = "skill_failed"  # too many failed skill executions in a row
STATUS_CANCELED = "canceled"
STATUS_ERROR = "error"                # scoring/affordance/service failure


@dataclass
class SkillOutcome:
    success: bool
    error_code: int = 0
    message: str = ""


@dataclass
class StepRecord:
    index: int                       # 1-based
    candidates: list[Candidate]      # all scored skills, best first
    chosen: str
    outcome: SkillOutcome | None = None
    scoring_ms: float = 0.0          # language model
    affordance_ms: float = 0.0
    execution_ms: float = 0.0
    replan_reason: str = ""          # set when this step replans after a failed skill: what failed and why

    def top(self, k: int) -> list[Candidate]:
        return self.candidates[:k]


@dataclass
class EpisodeRecord:
    instruction: str
    steps: list[StepRecord] = field(default_factory=list)
    status: str = ""
    error_msg: str = ""
    started_at: float = field(default_factory=time.time)
    finished_at: float = 0.0
    judgement: dict[str, Any] = field(default_factory=dict)  # filled by whoever judges the end state

    @property
    def executed(self) -> list[str]:
        """Skills that ran successfully, in order (what the prompt lists as 'steps so far')."""
        return [s.chosen for s in self.steps if s.outcome is not None and s.outcome.success]

    @property
    def finished(self) -> bool:
        return self.status == STATUS_DONE

    def to_json_lines(self, top_k: int | None = None) -> list[str]:
        """One JSON object per line: a header, one per step, and a footer."""
        lines = [json.dumps({"type": "episode", "instruction": self.instruction, "started_at": self.started_at})]
        for step in self.steps:
            row = asdict(step)
            if top_k is not None:
                row["candidates"] = row["candidates"][:top_k]
            lines.append(json.dumps({"type": "step", **row}))
        lines.append(json.dumps({
            "type": "result", "status": self.status, "error_msg": self.error_msg,
            "executed": self.executed, "finished_at": self.finished_at, "judgement": self.judgement,
        }))
        return lines

    def write_jsonl(self, path: str | Path, top_k: int | None = None) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(self.to_json_lines(top_k)) + "\n")
        return path


def read_jsonl(path: str | Path) -> EpisodeRecord:
    """Inverse of write_jsonl."""
    rows = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
    header, steps, footer = rows[0], rows[1:-1], rows[-1]
    episode = EpisodeRecord(header["instruction"], started_at=header["started_at"])
    for row in steps:
        outcome = SkillOutcome(**row["outcome"]) if row.get("outcome") else None
        episode.steps.append(StepRecord(
            row["index"], [Candidate(**c) for c in row["candidates"]], row["chosen"], outcome,
            row["scoring_ms"], row["affordance_ms"], row["execution_ms"], row.get("replan_reason", "")))
    episode.status, episode.error_msg = footer["status"], footer["error_msg"]
    episode.finished_at, episode.judgement = footer["finished_at"], footer.get("judgement", {})
    return episode
