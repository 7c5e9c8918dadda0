"""Closed-loop feedback the Inner Monologue way (Huang et al. 2022): what happened to a skill is
written into the language model's prompt, so the model replans from what happened.

The success detector is the executor's own check (its result code); this module turns a failed
outcome into a short, code-based phrase ("the grasp failed", "no apple in view"), the same in the
simulator, on a robot and in plan-mode evaluation, so the prompt the model sees does not depend on
where the failure came from. The executor's full message stays in the episode record.
"""
from __future__ import annotations

from saycan_ros.core.episode import SkillOutcome
from saycan_ros.core.skills import Skill

# The result codes of saycan_msgs/action/ExecuteSkill (the pure core does not import messages).
_PHRASES = {
    202: "not possible now",               # PRECONDITION_FAILED
    203: "could not get there",            # NAVIGATION_FAILED
    204: "no {object} in view",            # OBJECT_NOT_FOUND
    205: "the grasp failed",               # GRASP_FAILED
    206: "could not put it down",          # PLACE_FAILED
    207: "it took too long",               # TIMEOUT
}


# A failed search is not written into the prompt: what it showed (the object is not where the
# robot looked) is already in the value function's search memory, which lowers "find X" once every
# place was seen; the language model then replans from the steps before the search.
UNWRITTEN_KINDS = frozenset({"find"})


def writes_feedback(skill: Skill) -> bool:
    """Whether a failure of this skill goes into the prompt (Inner Monologue) or is left out."""
    return skill.kind not in UNWRITTEN_KINDS


def failure_note(skill: Skill, outcome: SkillOutcome) -> str:
    """A few words on why `skill` failed, for the prompt ('the grasp failed')."""
    phrase = _PHRASES.get(outcome.error_code, "it did not work")
    return phrase.format(object=skill.object or "object")


def failed_step_text(skill_text: str, note: str) -> str:
    """How a failed step stands among the steps so far: 'pick up the apple (failed: the grasp failed)'."""
    return f"{skill_text} (failed: {note})"


def replan_reason(skill: Skill, outcome: SkillOutcome) -> str:
    """Why the next step is a replanning, for the episode record and the operator."""
    return f"'{skill.text}' failed: {outcome.message or failure_note(skill, outcome)}"
