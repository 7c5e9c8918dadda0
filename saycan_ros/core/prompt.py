"""The few-shot prompt: examples + instruction + the steps so far, ending where the next skill goes."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from saycan_ros.core.errors import ConfigError, EmptyInstructionError, InvalidInstructionError
from saycan_ros.core.kitchen import config_dir, read_yaml_file

MAX_INSTRUCTION_CHARS = 300


@dataclass(frozen=True)
class PromptExample:
    instruction: str
    steps: tuple[str, ...]


@dataclass(frozen=True)
class PromptFormat:
    human: str = "Human: {instruction}"
    robot: str = "Robot:"
    step: str = "{n}. {skill}"
    separator: str = ","
    end: str = "."


class PromptBuilder:
    """Builds the text whose continuation the language model scores.

    The result ends right before the next skill, e.g. "...Robot: 1. find an apple, 2." and the
    scorer appends " <skill text>" (a leading space: see saycan_ros.language.base).
    """

    def __init__(self, preamble: str, examples: Sequence[PromptExample], fmt: PromptFormat = PromptFormat()):
        self.preamble = preamble.strip()
        self.examples = tuple(examples)
        self.fmt = fmt
        shots = [self._dialogue(ex.instruction, ex.steps, finished=True) for ex in self.examples]
        self._head = "\n".join([self.preamble, *shots]) if self.preamble else "\n".join(shots)

    @classmethod
    def from_file(cls, path: str | Path | None = None) -> "PromptBuilder":
        path = Path(path) if path else config_dir() / "prompts.yaml"
        data = read_yaml_file(path, "prompt file") or {}
        try:
            examples = [PromptExample(str(e["instruction"]), tuple(str(s) for s in e["steps"]))
                        for e in data.get("examples", [])]
            fmt = PromptFormat(**data.get("format", {}))
        except (KeyError, TypeError) as exc:
            raise ConfigError(f"{path}: bad prompt file ({exc})") from None
        return cls(str(data.get("preamble", "")), examples, fmt)

    def build(self, instruction: str, steps_so_far: Sequence[str]) -> str:
        """The prompt for choosing step len(steps_so_far) + 1."""
        return self._head + "\n" + self._dialogue(normalize_instruction(instruction), steps_so_far, finished=False)

    def _dialogue(self, instruction: str, steps: Sequence[str], finished: bool) -> str:
        f = self.fmt
        numbered = [f.step.format(n=i + 1, skill=s) for i, s in enumerate(steps)]
        if finished:
            plan = (f.separator + " ").join(numbered) + f.end
        else:  # open: "1. a, 2. b, 3." -- the next skill text follows after a space
            plan = "".join(n + f.separator + " " for n in numbered) + f.step.format(n=len(steps) + 1, skill="").rstrip()
        return f.human.format(instruction=instruction) + "\n" + f.robot + " " + plan


def normalize_instruction(instruction: object) -> str:
    """Collapse white space; reject what cannot be an instruction with a clear message."""
    if not isinstance(instruction, str):
        raise InvalidInstructionError("the instruction must be text")
    text = " ".join(instruction.split())
    if not text:
        raise EmptyInstructionError("the instruction is empty: say what the robot should do, e.g. 'throw away the apple'")
    if len(text) > MAX_INSTRUCTION_CHARS:
        raise InvalidInstructionError(f"the instruction is {len(text)} characters long; the limit is {MAX_INSTRUCTION_CHARS}")
    if not re.search(r"[A-Za-z]", text):
        raise InvalidInstructionError(f"the instruction '{text}' has no words in it")
    return text
