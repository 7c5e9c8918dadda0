"""Judge an episode: success is 'done' with every goal entry holding in the final state; a failed
episode names the first step that went wrong. The same judge for plan mode and exec mode."""
from __future__ import annotations

from saycan_ros.core.episode import EpisodeRecord
from saycan_ros.core.kitchen import Kitchen, load_kitchen
from saycan_ros.core.skills import SkillLibrary
from saycan_ros.core.world import KitchenState
from saycan_ros.eval.episodes import Episode, failed_entries, state_summary
from saycan_ros.eval.report import EpisodeResult, StepResult, finite


def judge(ep: Episode, record: EpisodeRecord, final: KitchenState, library: SkillLibrary,
          kitchen: Kitchen | None = None) -> EpisodeResult:
    """Success = the planner chose 'done' and the goal holds; else find the step that went wrong."""
    steps = []
    for s in record.steps:
        ok = None if s.outcome is None else s.outcome.success
        top = [{"skill": c.skill, "llm": round(finite(c.llm), 3), "affordance": round(c.affordance, 3),
                "combined": round(finite(c.combined), 3)} for c in s.candidates[:3]]
        steps.append(StepResult(s.index, s.chosen, ok, s.outcome.message if s.outcome else "",
                                s.scoring_ms + s.affordance_ms, top))
    unmet = failed_entries(ep.goal, final)
    result = EpisodeResult(ep.id, ep.family, ep.instruction, success=False, status=record.status or "error",
                           steps=steps, failed_goals=[e.describe() for e in unmet],
                           end_state=state_summary(final), meta=dict(ep.meta))
    if record.status == "done" and not unmet:
        result.success = True
        return result
    result.wrong_step, result.reason = where_it_went_wrong(ep, record, unmet, library, kitchen)
    return result


def where_it_went_wrong(ep: Episode, record: EpisodeRecord, unmet: list, library: SkillLibrary,
                        kitchen: Kitchen | None = None) -> tuple[int | None, str]:
    """The first step that failed or did not bring the goal closer.

    The executed plan is replayed in the symbolic kitchen; before and after each step, the length
    of the shortest plan that still reaches the goal (saycan_ros.eval.oracle) is compared. A step
    that does not shorten it is where the episode went wrong; if every step did, the planner
    stopped too early ('done' with the goal unmet) or ran out of steps.
    """
    from saycan_ros.core.world import apply_skill
    from saycan_ros.eval.oracle import remaining_steps

    kitchen = kitchen or load_kitchen()
    unmet_text = "; ".join(e.describe() for e in unmet) or "none"
    state = ep.initial_state(kitchen)
    need = remaining_steps(state, ep.goal, library, kitchen)
    for s in record.steps:
        if s.chosen not in library:
            return s.index, f"'{s.chosen}' is not a skill of the library"
        skill = library.get(s.chosen)
        if skill.is_done:
            if need:
                return s.index, f"chose 'done' with the goal unmet ({need} more step(s) needed): {unmet_text}"
            break
        if s.outcome is not None and not s.outcome.success:
            return s.index, f"'{s.chosen}' failed: {s.outcome.message or 'no reason given'}"
        if need == 0:
            return s.index, f"the goal already held, so 'done' was due; chose '{s.chosen}' (unmet at the end: {unmet_text})"
        ok, state, _ = apply_skill(state, skill, kitchen)
        after = remaining_steps(state, ep.goal, library, kitchen)
        if need is not None and (after is None or after >= need):
            now = "the goal can no longer be reached" if after is None else f"{after} step(s) still needed, {need} before"
            return s.index, f"'{s.chosen}' does not bring the goal closer ({now}; unmet at the end: {unmet_text})"
        need = after
    last = record.steps[-1].index if record.steps else None
    if record.status == "max_steps":
        return last, f"no 'done' within {len(record.steps)} steps (unmet: {unmet_text})"
    return last, f"{record.status}: {record.error_msg or 'no message'} (unmet: {unmet_text})"
