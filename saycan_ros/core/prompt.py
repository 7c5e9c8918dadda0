"""The few-shot prompt: examples + instruction + the steps so far, ending where the next skill goes."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, Sequence

from saycan_ros.core.errors import ConfigError, EmptyInstructionError, InvalidInstructionError
from saycan_ros.core.kitchen import config_dir, read_yaml_file

MAX_INSTRUCTION_CHARS = 300
# Few-shot examples retrieved per instruction from the example bank (0: the prompt file's fixed
# examples). The default of llm_scoring_node and `saycan eval`, chosen by measurement on dev.yaml.
DEFAULT_RETRIEVED_EXAMPLES = 0


@dataclass(frozen=True)
class PromptExample:
    instruction: str
    steps: tuple[str, ...]


class ExampleSelector(Protocol):
    """Chooses the few-shot examples for one instruction (e.g. the nearest of a bank)."""

    def select(self, instruction: str) -> Sequence[PromptExample]:
        """The examples to show before `instruction`, in prompt order (the most relevant last)."""


def read_example_bank(path: str | Path) -> list[PromptExample]:
    """An example bank: YAML with `examples: [{instruction, steps}, ...]` (other keys ignored)."""
    path = Path(path)
    data = read_yaml_file(path, "example bank") or {}
    return _examples(data.get("examples", []), path)


def _examples(entries: Any, path: Path) -> list[PromptExample]:
    try:
        return [PromptExample(str(e["instruction"]), tuple(str(s) for s in e["steps"])) for e in entries]
    except (KeyError, TypeError) as exc:
        raise ConfigError(f"{path}: bad examples ({exc!r}); each needs 'instruction' and 'steps'") from None


@dataclass(frozen=True)
class PromptFormat:
    human: str = "Human: {instruction}"
    robot: str = "Robot:"
    step: str = "{n}. {skill}"
    separator: str = ","
    end: str = "."
    # A line after the human's that says what the robot held when the instruction began, e.g.
    # "The robot is holding the {object}." ('' : never shown). Only a prompt whose model learned
    # it sets it (an adapter trained with --hands-full-fraction); the embedded default does not.
    holding: str = ""


class PromptBuilder:
    """Builds the text whose continuation the language model scores.

    The result ends right before the next skill, e.g. "...Robot: 1. find an apple, 2." and the
    scorer appends " <skill text>" (a leading space: see saycan_ros.language.base).
    """

    def __init__(self, preamble: str, examples: Sequence[PromptExample], fmt: PromptFormat = PromptFormat(),
                 selector: ExampleSelector | None = None):
        """`examples` are fixed; with a `selector` they are chosen per instruction instead (the head
        is then the same for every step of one instruction, so the scorer's prefix cache holds)."""
        self.preamble = preamble.strip()
        self.examples = tuple(examples)
        self.fmt = fmt
        self.selector = selector
        self._head = self._head_for(self.examples)
        self._selected: tuple[str, str] | None = None  # (instruction, head) of the last selection

    def _head_for(self, examples: Sequence[PromptExample]) -> str:
        shots = [dialogue(self.fmt, ex.instruction, ex.steps, finished=True) for ex in examples]
        return "\n".join([self.preamble, *shots]) if self.preamble else "\n".join(shots)

    def head(self, instruction: str) -> str:
        """Preamble + the examples shown for this instruction."""
        if self.selector is None:
            return self._head
        if self._selected is None or self._selected[0] != instruction:
            self._selected = (instruction, self._head_for(self.selector.select(instruction)))
        return self._selected[1]

    @classmethod
    def from_file(cls, path: str | Path | None = None) -> "PromptBuilder":
        path = Path(path) if path else config_dir() / "prompts.yaml"
        data = read_yaml_file(path, "prompt file") or {}
        examples = _examples(data.get("examples", []), path)
        try:
            fmt = PromptFormat(**data.get("format", {}))
        except TypeError as exc:
            raise ConfigError(f"{path}: bad prompt file ({exc})") from None
        return cls(str(data.get("preamble", "")), examples, fmt)

    def with_selector(self, selector: ExampleSelector | None) -> "PromptBuilder":
        """The same preamble and format, examples chosen per instruction by `selector`."""
        return PromptBuilder(self.preamble, self.examples, self.fmt, selector)

    def build(self, instruction: str, steps_so_far: Sequence[str], holding: str | None = None) -> str:
        """The prompt for choosing step len(steps_so_far) + 1; `holding`: the object (kind name)
        the robot held when the instruction began, shown if the format has a holding line."""
        instruction = normalize_instruction(instruction)
        return self.head(instruction) + "\n" + dialogue(self.fmt, instruction, steps_so_far, False, holding)


def dialogue(fmt: PromptFormat, instruction: str, steps: Sequence[str], finished: bool,
             holding: str | None = None) -> str:
    """One instruction and its plan: "Human: <instruction>\nRobot: 1. a, 2. b." when `finished`,
    else open for the next step ("...Robot: 1. a, 2."), with the holding line when the format has one."""
    numbered = [fmt.step.format(n=i + 1, skill=s) for i, s in enumerate(steps)]
    if finished:
        plan = (fmt.separator + " ").join(numbered) + fmt.end
    else:  # open: "1. a, 2. b, 3." -- the next skill text follows after a space
        plan = "".join(n + fmt.separator + " " for n in numbered) + fmt.step.format(n=len(steps) + 1, skill="").rstrip()
    lines = [fmt.human.format(instruction=instruction)]
    if holding and fmt.holding:
        lines.append(fmt.holding.format(object=_object_name(holding)))
    return "\n".join(lines) + "\n" + fmt.robot + " " + plan


_OBJECT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 '\-]{0,47}")


def _object_name(text: str) -> str:
    """A held object's name as it may enter the prompt: a short plain name, nothing else."""
    if not _OBJECT_NAME.fullmatch(text):
        raise InvalidInstructionError(f"the held object {text[:60]!r} is not an object name")
    return text


def instruction_key(text: str) -> str:
    """How two instructions are compared for being the same: case, spacing and end punctuation aside."""
    return " ".join(text.lower().strip().strip(".?!").split())


def normalize_instruction(instruction: object) -> str:
    """Collapse white space and control characters; reject what cannot be an instruction with a
    clear message."""
    if not isinstance(instruction, str):
        raise InvalidInstructionError("the instruction must be text")
    # control characters (NUL, escape sequences, U+FFFD from undecodable bytes) would reach the prompt
    text = " ".join("".join(ch if ch.isprintable() and ch != "\ufffd" else " " for ch in instruction).split())
    if not text:
        raise EmptyInstructionError("the instruction is empty: say what the robot should do, e.g. 'throw away the apple'")
    if len(text) > MAX_INSTRUCTION_CHARS:
        raise InvalidInstructionError(f"the instruction is {len(text)} characters long; the limit is {MAX_INSTRUCTION_CHARS}")
    if not re.search(r"[A-Za-z]", text):
        raise InvalidInstructionError(f"the instruction '{text}' has no words in it")
    return text
