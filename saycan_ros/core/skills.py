"""Skills and the skill library generated from the kitchen's templates."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Iterator

from saycan_ros.core.errors import UnknownSkillError
from saycan_ros.core.kitchen import Kitchen


@dataclass(frozen=True)
class Skill:
    """One executable skill: its text for the language model plus its structured form."""

    text: str
    kind: str  # find | pick | place | go_to | bring | done
    object: str = ""
    location: str = ""

    @property
    def is_done(self) -> bool:
        return self.kind == "done"


class SkillLibrary:
    """An ordered, de-duplicated set of skills with lookup by text."""

    def __init__(self, skills: Iterable[Skill]):
        self._skills: dict[str, Skill] = {}
        for skill in skills:
            self._skills.setdefault(skill.text, skill)

    @classmethod
    def from_kitchen(cls, kitchen: Kitchen) -> "SkillLibrary":
        skills = []
        for t in kitchen.templates:
            if t.per == "object":
                names = [n for n in kitchen.objects if n not in t.exclude]
                skills += [Skill(_article(t.template.format(object=n)), t.kind, object=n) for n in names]
            elif t.per == "location":
                names = [n for n in kitchen.locations if n not in t.exclude]
                skills += [Skill(t.template.format(location=n), t.kind, location=n) for n in names]
            else:
                skills.append(Skill(t.template, t.kind))
        return cls(skills)

    def __len__(self) -> int:
        return len(self._skills)

    def __iter__(self) -> Iterator[Skill]:
        return iter(self._skills.values())

    def __contains__(self, text: object) -> bool:
        return text in self._skills

    @property
    def texts(self) -> list[str]:
        return list(self._skills)

    def get(self, text: str) -> Skill:
        try:
            return self._skills[text]
        except KeyError:
            raise UnknownSkillError(f"unknown skill '{text}' (the library has {len(self)} skills)") from None

    def subset(self, texts: Iterable[str]) -> "SkillLibrary":
        return SkillLibrary(self.get(t) for t in texts)


def _article(text: str) -> str:
    """'find a apple' -> 'find an apple': the language model scores grammatical text higher."""
    return re.sub(r"\ba (?=[aeiou])", "an ", text)
