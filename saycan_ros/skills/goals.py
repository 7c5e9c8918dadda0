"""Validate an ExecuteSkill goal against the kitchen: canonical kind, object and location, or a
clear UNKNOWN_SKILL error. Pure: the node passes the goal's strings."""
from __future__ import annotations

from dataclasses import dataclass

from saycan_ros.core.kitchen import SKILL_KINDS, Kitchen, base_object_name
from saycan_ros.core.skills import SkillLibrary
from saycan_ros.skills.types import ErrorCode, SkillFailure

NEEDS_OBJECT = ("find", "pick", "place")
NEEDS_LOCATION = ("go_to",)


@dataclass(frozen=True)
class SkillGoal:
    text: str
    kind: str
    object: str = ""
    location: str = ""


def resolve_goal(kitchen: Kitchen, text: str, kind: str = "", obj: str = "", location: str = "",
                 library: SkillLibrary | None = None) -> SkillGoal:
    """The goal in canonical names. An empty `kind` is filled from the library by the text.

    Raises SkillFailure(UNKNOWN_SKILL) for an empty text, an unknown kind, or an object/location
    the kitchen does not know (aliases and 'coke can#2' instance names are accepted).
    """
    text, kind = " ".join((text or "").split()), (kind or "").strip()
    if not text:
        raise SkillFailure(ErrorCode.UNKNOWN_SKILL, "empty skill text")
    if not kind:
        library = library or SkillLibrary.from_kitchen(kitchen)
        if text not in library:
            raise SkillFailure(ErrorCode.UNKNOWN_SKILL,
                               f"'{text}' is not a skill of the library and the goal gives no kind")
        skill = library.get(text)
        kind, obj, location = skill.kind, skill.object, skill.location
    if kind not in SKILL_KINDS:
        raise SkillFailure(ErrorCode.UNKNOWN_SKILL, f"unknown skill kind '{kind}' (known: {', '.join(SKILL_KINDS)})")
    name, place = "", ""
    if kind in NEEDS_OBJECT:
        if not (obj or "").strip():
            raise SkillFailure(ErrorCode.UNKNOWN_SKILL, f"skill '{text}' ({kind}) needs an object")
        name = kitchen.resolve_object(base_object_name(obj))
        if name is None:
            raise SkillFailure(ErrorCode.UNKNOWN_SKILL, f"unknown object '{obj}' in skill '{text}'")
    if kind in NEEDS_LOCATION:
        if not (location or "").strip():
            raise SkillFailure(ErrorCode.UNKNOWN_SKILL, f"skill '{text}' ({kind}) needs a location")
        place = kitchen.resolve_location(location)
        if place is None:
            raise SkillFailure(ErrorCode.UNKNOWN_SKILL,
                               f"unknown location '{location}' in skill '{text}' (known: {', '.join(kitchen.locations)})")
    return SkillGoal(text, kind, name, place)
