"""The SayCan loop: score every skill with the language model and the value function, pick
argmax p_LLM * p_affordance, execute it, append it to the prompt, repeat until 'done'.

Pure: the three collaborators are protocols. In the ROS graph they are service/action clients
(planner_node); in plan-mode evaluation they are in-process objects (saycan_ros.eval).
"""
from __future__ import annotations

import time
from typing import Callable, Protocol, Sequence

from saycan_ros.core.episode import (
    STATUS_CANCELED, STATUS_DONE, STATUS_ERROR, STATUS_MAX_STEPS, STATUS_SKILL_FAILED,
    EpisodeRecord, SkillOutcome, StepRecord,
)
from saycan_ros.core.errors import SayCanError
from saycan_ros.core.feedback import failed_step_text, failure_note, replan_reason, writes_feedback
from saycan_ros.core.prompt import normalize_instruction
from saycan_ros.core.scoring import combine
from saycan_ros.core.skills import Skill, SkillLibrary

__all__ = ["SayCanPlanner", "TaskGrounding", "WorldGrounding", "SkillRunner", "SkillOutcome", "PlanningError"]


class TaskGrounding(Protocol):
    def score(self, instruction: str, steps: Sequence[str], skills: Sequence[str],
              holding: str | None = None) -> Sequence[float]:
        """Log-likelihood of each skill text as the next step; `holding`: the object the robot held
        when the instruction began (None: nothing, or not known)."""


class WorldGrounding(Protocol):
    def affordances(self, skills: Sequence[Skill]) -> Sequence[float]:
        """Probability that each skill succeeds from the current state."""


class SkillRunner(Protocol):
    def run(self, skill: Skill) -> SkillOutcome:
        """Execute one skill and report whether it succeeded."""


class PlanningError(SayCanError):
    """A collaborator failed; `stage` says which: 'scoring', 'affordance' or 'execution'."""

    def __init__(self, stage: str, message: str):
        super().__init__(message)
        self.stage = stage


class SayCanPlanner:
    """Runs one instruction to completion.

    Closed loop: a skill that fails does not count as executed (the world did not change as
    planned); its affordance is multiplied by `failure_penalty` for each failure since the last
    success. With `outcome_feedback` (Inner Monologue) the failure is also written into the
    prompt's steps so far ("pick up the apple (failed: the grasp failed)"), so the language model
    replans knowing what happened (a failed search excepted: core.feedback); without it the
    failed step is left out of the prompt. The step
    after a failure records why it is a replanning (StepRecord.replan_reason).
    `max_failures` consecutive failures end the episode; so does one failure whose error code is in
    `final_codes` (an emergency stop: retrying would only be refused again).
    """

    def __init__(
        self,
        library: SkillLibrary,
        task: TaskGrounding,
        world: WorldGrounding,
        runner: SkillRunner,
        *,
        max_steps: int = 12,
        top_k: int = 5,
        max_failures: int = 3,
        failure_penalty: float = 0.3,
        outcome_feedback: bool = False,
        final_codes: frozenset[int] = frozenset(),
        on_step: Callable[[StepRecord, str], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ):
        if max_steps < 1:
            raise SayCanError("max_steps must be at least 1")
        self.library, self.task, self.world, self.runner = library, task, world, runner
        self.max_steps, self.top_k = max_steps, top_k
        self.max_failures, self.failure_penalty = max_failures, failure_penalty
        self.outcome_feedback = outcome_feedback
        self.final_codes = frozenset(final_codes)
        self.on_step = on_step or (lambda step, phase: None)
        self.should_stop = should_stop or (lambda: False)

    def run(self, instruction: str, max_steps: int | None = None, holding: str | None = None) -> EpisodeRecord:
        """Plan and execute. `holding`: the object kind in the gripper as the instruction begins
        (the language model's prompt may show it). Raises InvalidInstructionError for an unusable
        instruction; every other failure ends up in the returned record's status and error_msg."""
        instruction = normalize_instruction(instruction)
        episode = EpisodeRecord(instruction)
        limit = max_steps or self.max_steps
        skills = list(self.library)
        texts = [s.text for s in skills]
        failures: dict[str, int] = {}
        consecutive_failures = 0
        prompt_steps: list[str] = []  # the steps so far as the language model reads them
        replanning = ""
        try:
            for index in range(1, limit + 1):
                if self.should_stop():
                    episode.status = STATUS_CANCELED
                    break
                step = self._decide(index, instruction, prompt_steps, skills, texts, failures, holding)
                step.replan_reason, replanning = replanning, ""
                episode.steps.append(step)
                self.on_step(step, "chosen")
                skill = self.library.get(step.chosen)
                if skill.is_done:
                    step.outcome = SkillOutcome(True, 0, "task complete")
                    episode.status = STATUS_DONE
                    self.on_step(step, "finished")
                    break
                if self.should_stop():
                    episode.status = STATUS_CANCELED
                    break
                started = time.perf_counter()
                try:
                    step.outcome = self.runner.run(skill)
                except SayCanError as exc:
                    raise PlanningError("execution", f"executing '{skill.text}': {exc}") from exc
                step.execution_ms = (time.perf_counter() - started) * 1000
                self.on_step(step, "finished")
                if step.outcome.success:
                    prompt_steps.append(skill.text)
                    failures.clear()
                    consecutive_failures = 0
                    continue
                replanning = replan_reason(skill, step.outcome)
                if self.outcome_feedback and writes_feedback(skill):
                    prompt_steps.append(failed_step_text(skill.text, failure_note(skill, step.outcome)))
                if self.should_stop():
                    episode.status = STATUS_CANCELED
                    break
                failures[skill.text] = failures.get(skill.text, 0) + 1
                consecutive_failures += 1
                if step.outcome.error_code in self.final_codes:
                    episode.status = STATUS_SKILL_FAILED
                    episode.error_msg = f"'{skill.text}': {step.outcome.message} (not retried)"
                    break
                if consecutive_failures >= self.max_failures:
                    episode.status = STATUS_SKILL_FAILED
                    episode.error_msg = (f"{consecutive_failures} skills failed in a row; last: "
                                         f"'{skill.text}': {step.outcome.message}")
                    break
            else:
                episode.status = STATUS_MAX_STEPS
                episode.error_msg = f"reached the step limit ({limit}) before 'done'"
        except PlanningError as exc:
            episode.status = STATUS_ERROR
            episode.error_msg = str(exc)
            episode.judgement["failed_stage"] = exc.stage
            episode.judgement["error_type"] = type(exc.__cause__).__name__ if exc.__cause__ else ""
        if episode.status == STATUS_CANCELED:
            episode.error_msg = f"canceled on request after {len(episode.executed)} executed step(s)"
        episode.finished_at = time.time()
        return episode

    def _decide(self, index: int, instruction: str, steps_so_far: list[str], skills: list[Skill],
                texts: list[str], failures: dict[str, int], holding: str | None) -> StepRecord:
        started = time.perf_counter()
        try:
            llm = list(self.task.score(instruction, steps_so_far, texts, holding))
        except SayCanError as exc:
            raise PlanningError("scoring", f"language model scoring failed: {exc}") from exc
        scored = time.perf_counter()
        try:
            affordance = list(self.world.affordances(skills))
        except SayCanError as exc:
            raise PlanningError("affordance", f"affordance estimation failed: {exc}") from exc
        done = time.perf_counter()
        affordance = [a * self.failure_penalty ** failures.get(t, 0) for a, t in zip(affordance, texts)]
        candidates = combine(texts, llm, affordance)
        return StepRecord(index, candidates, candidates[0].skill,
                          scoring_ms=(scored - started) * 1000, affordance_ms=(done - scored) * 1000)
