"""Instruction -> plan data for adapting the language model to a kitchen.

Everything comes from data: objects, places and attributes from the kitchen file, sentence shapes
from config/training/planner_language.yaml, and every plan from a symbolic planner over the
kitchen model (each task is a macro of library skills, executed in the symbolic kitchen from a
sampled start state and kept only if every skill succeeds and the task's effect holds).

Tasks: deliver, place, throw away, go to, pick up, find; the same with the object already in the
gripper or in front of the robot; two objects; two tasks in sequence; "all the X" and "two X".
Version 4 adds, as a share of the data drawn from its own stream, tasks that count: several of one
kind ("the three apples", "both bananas"), everything at one place ("everything on the table"),
and three of a category ("three drinks"); the plan repeats the move once per object.
Version 5 adds, likewise from its own stream, tasks that start with the gripper full of something
the instruction does not mention ("bring me the water bottle" holding an apple at the far counter:
put the apple down there first). Every example records what the robot held at the start, which
the prompt shows when the format has a holding line (PromptFormat.holding).
Objects are named by name, alias, or an attribute that only one kind present in the start state
has ("something salty" with the sea salt chips as the only salty thing). Pure: no torch.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence, TypeVar

from saycan_ros.core.episode import SkillOutcome
from saycan_ros.core.errors import ConfigError
from saycan_ros.core.feedback import failed_step_text, failure_note
from saycan_ros.core.kitchen import Kitchen, base_object_name, config_dir, read_yaml_sections
from saycan_ros.core.prompt import PromptFormat, dialogue, instruction_key
from saycan_ros.core.skills import SkillLibrary
from saycan_ros.core.world import DISPOSAL, GRIPPER, USER, KitchenState, apply_skill, instances_of

GENERATOR_VERSION = 1  # the plans; with failure_fraction > 0 the data is version FAILURES_VERSION
FAILURES_VERSION = 2
REPEATED_FAILURES_VERSION = 3  # failure_fraction and repeat_fraction > 0
COUNTED_VERSION = 4  # counted_fraction > 0 (with or without failures)
HANDS_FULL_VERSION = 5  # hands_full_fraction > 0 (the prompt shows the held object)
PLAIN_HELD_VERSION = 6  # plain_held_fraction > 0: held objects named plainly, not "the X you are holding"
T = TypeVar("T")
PLACES = ("close counter", "far counter", "table")
LANGUAGE_KEYS = ("deliver", "place", "throw", "go", "pick", "find", "held_suffix", "held_prefix", "here_suffix",
                 "put_down_here", "sequence", "all_of", "numbers", "polite_prefix", "polite_suffix",
                 "attribute_nouns", "attribute_adjectives", "adjective_nouns")
COUNTED_LANGUAGE_KEYS = ("several_of", "at_place", "plurals")  # needed with counted_fraction > 0
# task kind -> sampling weight
TASK_WEIGHTS = {"deliver": 16, "place": 12, "throw": 12, "go": 5, "pick": 6, "find": 4, "held": 12,
                "put_down_here": 4, "here": 5, "two": 9, "sequence": 8, "group": 9}
COUNTED_TASK_WEIGHTS = {"several": 5, "at_place": 3, "three_of": 2}


@dataclass(frozen=True)
class PlanExample:
    instruction: str
    steps: tuple[str, ...]
    task: str  # the task kind it was generated as (for statistics)
    holding: str | None = None  # the object kind in the gripper at the start


def default_language_file() -> Path:
    return config_dir() / "training" / "planner_language.yaml"


def load_language(path: str | Path | None = None) -> dict[str, Any]:
    return read_yaml_sections(Path(path) if path else default_language_file(), "planner language file", LANGUAGE_KEYS)


def polite(rng: random.Random, language: Mapping[str, Any], text: str) -> str:
    """`text` with one of the language's polite prefixes and suffixes (either may be empty)."""
    return (rng.choice(language["polite_prefix"]) + text + rng.choice(language["polite_suffix"])).strip()


def article(noun: str) -> str:
    return ("an " if noun[:1].lower() in "aeiou" else "a ") + noun


class _Unsuitable(Exception):
    """The sampled start state does not fit the task; sample again."""


class PlanDataGenerator:
    """Samples (instruction, plan) pairs; `exclude` holds instructions never to emit."""

    def __init__(self, kitchen: Kitchen, language: dict[str, Any], seed: int = 0,
                 exclude: Iterable[str] = (), failure_fraction: float = 0.0, repeat_fraction: float = 0.0,
                 counted_fraction: float = 0.0, hands_full_fraction: float = 0.0, plain_held_fraction: float = 0.0):
        """`failure_fraction`: the share of plans with one failed step and its recovery written in
        as the planner writes outcome feedback (core.feedback), so the model learns to read it.
        `repeat_fraction`: of those, the share where the retry fails once more before it succeeds
        (a second slip: the plan must still try again, not move on as if it held the object).
        `counted_fraction`: the share of examples drawn from the counting tasks (version 4).
        `hands_full_fraction`: the share of tasks that start holding an unrelated object (version 5).
        `plain_held_fraction`: the share of held-object tasks whose instruction names the held object
        plainly ("throw away the orange"), not as held: only the prompt's holding line says so (version 6)."""
        for name, value in (("failure_fraction", failure_fraction), ("repeat_fraction", repeat_fraction),
                            ("counted_fraction", counted_fraction), ("hands_full_fraction", hands_full_fraction),
                            ("plain_held_fraction", plain_held_fraction)):
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"{name} must be in [0, 1], got {value}")
        missing = [k for k in COUNTED_LANGUAGE_KEYS if k not in language] if counted_fraction else []
        if missing:
            raise ConfigError(f"the planner language file lacks {', '.join(missing)} (needed for counted_fraction)")
        self.kitchen, self.lang = kitchen, language
        self.failure_fraction, self.repeat_fraction = failure_fraction, repeat_fraction
        self.counted_fraction, self.hands_full_fraction = counted_fraction, hands_full_fraction
        self.plain_held_fraction = plain_held_fraction
        self.rng = random.Random(seed)
        self.failure_rng = random.Random(seed + 77)  # its own stream: fraction 0 reproduces version 1
        self.counted_rng = random.Random(seed + 131)  # likewise: counted_fraction 0 reproduces versions 1-3
        self.hands_full_rng = random.Random(seed + 197)  # and hands_full_fraction 0 versions 1-4
        self.plain_held_rng = random.Random(seed + 263)  # and plain_held_fraction 0 versions 1-5
        self.exclude = {instruction_key(t) for t in exclude}
        self.library = SkillLibrary.from_kitchen(kitchen)
        self.skill_text = {(s.kind, s.object or s.location or ""): s.text for s in self.library}
        self.done = self.skill_text[("done", "")]
        self.kinds = list(kitchen.objects)
        self.places = [p for p in PLACES if p in kitchen.locations]
        self.destinations = [loc for loc in kitchen.locations if loc != USER]

    # -- public ------------------------------------------------------------------------------
    def generate(self, n: int, max_tries: int | None = None) -> list[PlanExample]:
        out: list[PlanExample] = []
        seen: set[str] = set()
        tries = 0
        while len(out) < n:
            tries += 1
            if max_tries is not None and tries > max_tries:
                break
            example = self.sample()
            if example is None:
                continue
            key = instruction_key(example.instruction)
            if key in seen or key in self.exclude:
                continue
            seen.add(key)
            out.append(example)
        return out

    def sample(self) -> PlanExample | None:
        if self.counted_fraction and self.counted_rng.random() < self.counted_fraction:
            return self._sample_with(self.counted_rng, COUNTED_TASK_WEIGHTS)
        if self.hands_full_fraction and self.hands_full_rng.random() < self.hands_full_fraction:
            return self._sample_with(self.hands_full_rng, {"hands_full": 1})
        return self._sample_from(TASK_WEIGHTS)

    def _sample_with(self, rng: random.Random, weights: Mapping[str, int]) -> PlanExample | None:
        """A task drawn from its own stream, so adding it leaves the other versions' data unchanged."""
        return self._with_rng(rng, lambda: self._sample_from(weights))

    def _with_rng(self, rng: random.Random, draw: Callable[[], T]) -> T:
        main_rng, self.rng = self.rng, rng
        try:
            return draw()
        finally:
            self.rng = main_rng

    def _sample_from(self, weights: Mapping[str, int]) -> PlanExample | None:
        task = self.rng.choices(list(weights), weights=list(weights.values()))[0]
        try:
            state = self._start_state(held=task in ("held", "put_down_here", "hands_full"),
                                      copies=3 if task == "several" else 1)
            text, steps = getattr(self, f"_task_{task}")(state)
            self._verify(state, steps)
        except _Unsuitable:
            return None
        if self.failure_fraction and self.failure_rng.random() < self.failure_fraction:
            steps = self._with_failure(steps)
        return PlanExample(self._polite(text), tuple(steps) + (self.done,), task, state.held_kind)

    # Failures a plan can meet, with the recovery a person would expect, by skill kind:
    # (error code, the steps that follow the failed one before the plan goes on)
    _RECOVERIES = {"pick": ((205, ("retry",)), (204, ("find", "retry"))), "place": ((206, ("retry",)),),
                   "go_to": ((203, ("retry",)),), "bring": ((203, ("retry",)),)}

    def _with_failure(self, steps: Sequence[str]) -> list[str]:
        """The plan with one step failing once (or, repeat_fraction of the time, twice in a row):
        'pick up the apple (failed: the grasp failed)', then the recovery ('pick up the apple' again;
        after 'no apple in view', 'find an apple' first)."""
        candidates = [i for i, t in enumerate(steps) if self.library.get(t).kind in self._RECOVERIES]
        if not candidates:
            return list(steps)
        i = self.failure_rng.choice(candidates)
        skill = self.library.get(steps[i])
        code, recovery = self.failure_rng.choice(self._RECOVERIES[skill.kind])
        failed = failed_step_text(skill.text, failure_note(skill, SkillOutcome(False, code)))
        extra = [self.skill_text[("find", skill.object)] if r == "find" else skill.text for r in recovery]
        # drawn only when asked for, so that repeat_fraction 0 reproduces version 2's stream
        if self.repeat_fraction and self.failure_rng.random() < self.repeat_fraction:
            extra = [*extra[:-1], failed, *extra]  # the retry fails the same way; the next one succeeds
        return [*steps[:i], failed, *extra, *steps[i + 1:]]

    # -- start states and references ----------------------------------------------------------
    def _start_state(self, held: bool, copies: int = 1) -> KitchenState:
        """A random start; `copies` > 1: one kind has 2 to `copies` instances."""
        rng = self.rng
        kinds = rng.sample(self.kinds, rng.randint(3, 7))
        objects = {k: rng.choice(self.places) for k in kinds}
        if copies > 1:
            k = rng.choice(kinds)
            for i in range(2, rng.randint(2, copies) + 1):
                objects[f"{k}#{i}"] = rng.choice(self.places)
        elif rng.random() < 0.15:  # a second one of a kind
            k = rng.choice(kinds)
            objects[f"{k}#2"] = rng.choice(self.places)
        holding = None
        if held:
            holding = rng.choice(kinds)
            objects[holding] = GRIPPER
        return KitchenState(robot_at=rng.choice(list(self.kitchen.locations)), holding=holding, objects=objects)

    def _present_kinds(self, state: KitchenState, placed_only: bool = True) -> list[str]:
        return sorted({base_object_name(n) for n, at in state.objects.items()
                       if at is not None and (at != GRIPPER or not placed_only)})

    def _reference(self, kind: str, state: KitchenState, definite: bool = True) -> str:
        """Name, alias or a unique attribute description of `kind` among the kinds present."""
        rng = self.rng
        spec = self.kitchen.objects[kind]
        present = [k for k in self._present_kinds(state, placed_only=False) if k != kind]
        unique = [a for a in spec.attributes if not any(a in self.kitchen.objects[k].attributes for k in present)]
        choice = rng.random()
        if unique and choice < 0.4:
            return self._describe(rng.choice(unique), spec.attributes)
        name = rng.choice(spec.aliases) if spec.aliases and choice < 0.55 else kind
        return f"the {name}" if definite or rng.random() < 0.5 else article(name)

    def _describe(self, attribute: str, attributes: Sequence[str]) -> str:
        nouns, adjectives = self.lang["attribute_nouns"], self.lang["attribute_adjectives"]
        if attribute in nouns:
            singular = nouns[attribute][0]
            return self.rng.choice([article(singular), f"the {singular}", f"some {nouns[attribute][1]}"]
                                   if attribute not in ("fruit",) else [article(singular), "some fruit"])
        if attribute in adjectives:
            with_noun = [n for n in self.lang["adjective_nouns"] if n in attributes]
            if with_noun and self.rng.random() < 0.6:
                return article(f"{attribute} {nouns[self.rng.choice(with_noun)][0]}")
            return f"something {attribute}"
        raise _Unsuitable

    def _polite(self, text: str) -> str:
        return polite(self.rng, self.lang, text)

    def _say(self, shape: str, **slots: str) -> str:
        return self.rng.choice(self.lang[shape]).format(**slots)

    # -- plans ---------------------------------------------------------------------------------
    def _destination(self) -> tuple[str, str]:
        """A task verb and where it takes the object: deliver (the user), throw (the trash), place."""
        what = self.rng.choice(["deliver", "place", "throw"])
        return what, {"deliver": USER, "throw": DISPOSAL}.get(what) or self.rng.choice(self.places)

    def _move(self, kind: str, dest: str, state: KitchenState, find: bool = True) -> list[str]:
        """Skills that bring an object of `kind` to `dest` (the user or a place)."""
        steps = []
        if not (state.holding and base_object_name(state.holding) == kind):
            steps += [self.skill_text[("find", kind)]] if find else []
            steps.append(self.skill_text[("pick", kind)])
        if dest == USER:
            steps.append(self.skill_text[("bring", "")])
        else:
            steps.append(self.skill_text[("go_to", dest)])
        steps.append(self.skill_text[("place", kind)])
        return steps

    def _verify(self, state: KitchenState, steps: Sequence[str]) -> None:
        self._after(state, steps, strict=True)

    def _placed(self, state: KitchenState) -> list[str]:
        kinds = [k for k in self._present_kinds(state) if k != base_object_name(state.holding or "")]
        if not kinds:
            raise _Unsuitable
        return kinds

    def _categories(self, state: KitchenState) -> dict[str, list[str]]:
        """Noun attribute -> the placed kinds that have it ('fruit' -> ['apple', 'banana'])."""
        placed = self._placed(state)
        return {a: [k for k in placed if a in self.kitchen.objects[k].attributes] for a in self.lang["attribute_nouns"]}

    def _after(self, state: KitchenState, steps: Sequence[str], strict: bool = False) -> KitchenState:
        """The state after the steps in the symbolic kitchen; `strict`: every step must succeed."""
        for text in steps:
            if strict and text not in self.library:
                raise _Unsuitable
            ok, state, _ = apply_skill(state, self.library.get(text), self.kitchen)
            if strict and not ok:
                raise _Unsuitable
        return state

    # -- tasks: each returns (instruction, steps without 'done') --------------------------------
    def _task_deliver(self, state):
        kind = self.rng.choice(self._placed(state))
        return self._say("deliver", obj=self._reference(kind, state, definite=False)), self._move(kind, USER, state)

    def _task_place(self, state):
        kind, loc = self.rng.choice(self._placed(state)), self.rng.choice([p for p in self.places])
        if state.objects.get(kind) == loc:
            raise _Unsuitable
        return self._say("place", obj=self._reference(kind, state), loc=loc), self._move(kind, loc, state)

    def _task_throw(self, state):
        kind = self.rng.choice(self._placed(state))
        return self._say("throw", obj=self._reference(kind, state)), self._move(kind, DISPOSAL, state)

    def _task_go(self, state):
        loc = self.rng.choice([d for d in self.destinations if d != state.robot_at])
        name = self.rng.choice((loc,) + self.kitchen.locations[loc].aliases) if self.rng.random() < 0.2 else loc
        return self._say("go", loc=name.removeprefix("the ")), [self.skill_text[("go_to", loc)]]

    def _task_pick(self, state):
        kind = self.rng.choice(self._placed(state))
        return (self._say("pick", obj=self._reference(kind, state)),
                [self.skill_text[("find", kind)], self.skill_text[("pick", kind)]])

    def _task_find(self, state):
        kind = self.rng.choice(self._placed(state))
        return self._say("find", obj=self._reference(kind, state, definite=False)), [self.skill_text[("find", kind)]]

    def _task_held(self, state):
        kind = base_object_name(state.holding)
        ref = self._reference(kind, state)
        what, dest = self._destination()
        if self.rng.random() < 0.6:
            obj = f"{ref} {self.rng.choice(self.lang['held_suffix'])}"
            text = self._say(what, obj=obj, loc=dest)
        else:
            text = self._say("held_prefix", obj=ref) + " " + self._say(what, obj="it", loc=dest)
        if self.plain_held_fraction and self.plain_held_rng.random() < self.plain_held_fraction:
            # drawn after the usual text from its own stream, so the main stream stays that of version 5
            text = self._with_rng(self.plain_held_rng, lambda: self._say(what, obj=ref, loc=dest))
        steps = self._move(kind, dest, state)
        if dest == state.robot_at:
            steps = [s for s in steps if not s.startswith("go to")]
        return text, steps

    def _task_put_down_here(self, state):
        kind = base_object_name(state.holding)
        if state.robot_at is None:
            raise _Unsuitable
        return self._say("put_down_here", obj=self._reference(kind, state)), [self.skill_text[("place", kind)]]

    def _task_here(self, state):
        here = [k for k in self._placed(state) if state.objects.get(k) == state.robot_at]
        if not here:
            raise _Unsuitable
        kind = self.rng.choice(here)
        obj = f"{self._reference(kind, state)} {self.rng.choice(self.lang['here_suffix'])}"
        if self.rng.random() < 0.4:
            return self._say("pick", obj=obj), [self.skill_text[("pick", kind)]]
        dest = self.rng.choice([USER, DISPOSAL, *[p for p in self.places if p != state.robot_at]])
        what = "deliver" if dest == USER else "throw" if dest == DISPOSAL else "place"
        return self._say(what, obj=obj, loc=dest), self._move(kind, dest, state, find=False)

    def _task_two(self, state):
        kinds = self._placed(state)
        if len(kinds) < 2:
            raise _Unsuitable
        a, b = self.rng.sample(kinds, 2)
        what, dest = self._destination()
        if state.objects.get(a) == dest or state.objects.get(b) == dest:
            raise _Unsuitable
        objs = f"{self._reference(a, state)} and {self._reference(b, state)}"
        return self._say(what, obj=objs, loc=dest), self._move(a, dest, state) + self._move(b, dest, state)

    def _task_sequence(self, state):
        first_kind = self.rng.choice(["deliver", "place", "throw", "go"])
        text_a, steps_a = getattr(self, f"_task_{first_kind}")(state)
        middle = self._after(state, steps_a)
        second_kind = self.rng.choice(["deliver", "place", "throw", "go"])
        text_b, steps_b = getattr(self, f"_task_{second_kind}")(middle)
        return self._say("sequence", a=text_a, b=text_b), steps_a + steps_b

    def _task_group(self, state):
        """'all the X' / 'two X': every present kind with a noun attribute (or two instances of a kind)."""
        nouns = self.lang["attribute_nouns"]
        groups = {a: ks for a, ks in self._categories(state).items() if 2 <= len(ks) <= 3}
        what, dest = self._destination()
        if not groups:
            raise _Unsuitable
        attribute = self.rng.choice(sorted(groups))
        members = [k for k in groups[attribute] if state.objects.get(k) != dest]
        if len(members) < 2:
            raise _Unsuitable
        singular, plural = nouns[attribute]
        if self.rng.random() < 0.6:
            phrase = self.rng.choice(self.lang["all_of"]).format(plural=plural, singular=singular)
        else:
            members = self.rng.sample(members, 2)
            phrase = f"{self.lang['numbers'][2]} {plural}"
        steps = []
        for kind in members:
            steps += self._move(kind, dest, state)
        return self._say(what, obj=phrase, loc=dest), steps

    def _task_hands_full(self, state):
        """Another object's task while the gripper holds something the instruction does not name,
        at a counter or the table: the plan puts the held object down there first."""
        held = base_object_name(state.holding)
        if state.robot_at not in self.places:
            raise _Unsuitable
        put_down = [self.skill_text[("place", held)]]
        task = self.rng.choice(["deliver", "place", "throw", "pick", "two"])
        text, steps = getattr(self, f"_task_{task}")(self._after(state, put_down))
        if any(self.library.get(s).object == held for s in steps):
            raise _Unsuitable
        return text, put_down + steps

    # -- counting tasks (version 4) ------------------------------------------------------------
    def _plural(self, kind: str) -> str:
        return self.lang["plurals"].get(kind) or kind + ("es" if kind.endswith(("ch", "sh", "x")) else "s")

    def _task_several(self, state):
        """'the three apples', 'both bananas': every instance of a kind that has several."""
        several = [k for k in self._placed(state) if len(instances_of(state, k)) >= 2]
        if not several:
            raise _Unsuitable
        kind = self.rng.choice(several)
        what, dest = self._destination()
        instances = instances_of(state, kind)
        if any(state.objects[n] == dest for n in instances):
            raise _Unsuitable
        count = len(instances)
        # "both" only for two, "all three" only for three
        shapes = [s for s in self.lang["several_of"]
                  if not (s.startswith("both") and count != 2) and not (s.startswith("all") and count == 2)]
        phrase = self.rng.choice(shapes).format(number=self.lang["numbers"][count], plural=self._plural(kind))
        steps = []
        for _ in range(count):
            steps += self._move(kind, dest, self._after(state, steps))
        return self._say(what, obj=phrase, loc=dest), steps

    def _task_at_place(self, state):
        """'everything on the table': each object at one place, moved one after the other."""
        place = self.rng.choice(self.places)
        here = sorted(n for n, at in state.objects.items() if at == place)
        what, dest = self._destination()
        if not 2 <= len(here) <= 3 or dest == place:
            raise _Unsuitable
        steps = []
        for name in here:
            steps += self._move(base_object_name(name), dest, self._after(state, steps))
        phrase = self.rng.choice(self.lang["at_place"]).format(loc=place)
        return self._say(what, obj=phrase, loc=dest), steps

    def _task_three_of(self, state):
        """'three drinks': three kinds of a category when three or more are present."""
        nouns = self.lang["attribute_nouns"]
        what, dest = self._destination()
        groups = {a: [k for k in ks if state.objects.get(k) != dest] for a, ks in self._categories(state).items()}
        groups = {a: ks for a, ks in groups.items() if len(ks) >= 3}
        if not groups:
            raise _Unsuitable
        attribute = self.rng.choice(sorted(groups))
        steps = []
        for kind in self.rng.sample(groups[attribute], 3):
            steps += self._move(kind, dest, self._after(state, steps))
        return self._say(what, obj=f"{self.lang['numbers'][3]} {nouns[attribute][1]}", loc=dest), steps


def training_texts(example: PlanExample, fmt: PromptFormat = PromptFormat()) -> tuple[str, str]:
    """(prompt, plan) as the scorer sees them: the prompt ends at "Robot: 1." and the plan is the
    continuation " a, 2. b, 3. done." (the prompt format of config/prompts.yaml, no preamble; the
    held object's line when `fmt` has one)."""
    prompt = dialogue(fmt, example.instruction, [], finished=False, holding=example.holding)
    parts = [example.steps[0]] + [fmt.step.format(n=i + 2, skill=s) for i, s in enumerate(example.steps[1:])]
    return prompt, " " + (fmt.separator + " ").join(parts) + fmt.end
