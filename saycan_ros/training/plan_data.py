"""Instruction -> plan data for adapting the language model to a kitchen.

Everything comes from data: objects, places and attributes from the kitchen file, sentence shapes
from config/training/planner_language.yaml, and every plan from a symbolic planner over the
kitchen model (each task is a macro of library skills, executed in the symbolic kitchen from a
sampled start state and kept only if every skill succeeds and the task's effect holds).

Tasks: deliver, place, throw away, go to, pick up, find; the same with the object already in the
gripper or in front of the robot, or with the place it comes from named; two objects; two tasks in
sequence; "all the X" and "two X"; "the three apples"; "everything on the table"; structured
commands ("apple -> trash can", "task: ...", "step 1: ... step 2: ..."); a few typing slips.
Objects are named by name, alias, or an attribute that only one kind present in the start state
has ("something salty" with the sea salt chips as the only salty thing). Pure: no torch.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

from saycan_ros.core.errors import ConfigError
from saycan_ros.core.kitchen import Kitchen, base_object_name, config_dir, read_yaml_file
from saycan_ros.core.prompt import instruction_key
from saycan_ros.core.skills import SkillLibrary
from saycan_ros.core.world import DISPOSAL, GRIPPER, USER, KitchenState, apply_skill

GENERATOR_VERSION = 2
PLACES = ("close counter", "far counter", "table")
LANGUAGE_KEYS = ("deliver", "place", "throw", "go", "pick", "find", "held_suffix", "held_prefix", "here_suffix",
                 "put_down_here", "sequence", "all_of", "numbers", "polite_prefix", "polite_suffix",
                 "attribute_nouns", "attribute_adjectives", "adjective_nouns", "place_from", "deliver_from",
                 "all_at", "kind_count", "plural_overrides", "structured", "structured_move", "structured_steps",
                 "typo_rate")
# task kind -> sampling weight
TASK_WEIGHTS = {"deliver": 16, "place": 12, "throw": 12, "go": 5, "pick": 6, "find": 4, "held": 12,
                "put_down_here": 4, "here": 5, "two": 9, "sequence": 8, "group": 9, "from": 6, "clear": 8,
                "count": 6, "structured": 7}
SECOND_TASKS = ("deliver", "place", "throw", "go", "pick", "find")  # what may follow "then"


@dataclass(frozen=True)
class PlanExample:
    instruction: str
    steps: tuple[str, ...]
    task: str  # the task kind it was generated as (for statistics)


def default_language_file() -> Path:
    return config_dir() / "training" / "planner_language.yaml"


def load_language(path: str | Path | None = None) -> dict[str, Any]:
    path = Path(path) if path else default_language_file()
    data = read_yaml_file(path, "planner language file") or {}
    missing = [k for k in LANGUAGE_KEYS if k not in data]
    if missing:
        raise ConfigError(f"{path}: missing {', '.join(missing)}")
    return data


def article(noun: str) -> str:
    return ("an " if noun[:1].lower() in "aeiou" else "a ") + noun


class _Unsuitable(Exception):
    """The sampled start state does not fit the task; sample again."""


class PlanDataGenerator:
    """Samples (instruction, plan) pairs; `exclude` holds instructions never to emit."""

    def __init__(self, kitchen: Kitchen, language: dict[str, Any], seed: int = 0,
                 exclude: Iterable[str] = ()):
        self.kitchen, self.lang = kitchen, language
        self.rng = random.Random(seed)
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
        task = self.rng.choices(list(TASK_WEIGHTS), weights=list(TASK_WEIGHTS.values()))[0]
        try:
            state = self._start_state(held=task in ("held", "put_down_here"), several=task == "count")
            text, steps = getattr(self, f"_task_{task}")(state)
            self._verify(state, steps)
        except _Unsuitable:
            return None
        return PlanExample(self._typo(self._polite(text)), tuple(steps) + (self.done,), task)

    # -- start states and references ----------------------------------------------------------
    def _start_state(self, held: bool, several: bool = False) -> KitchenState:
        rng = self.rng
        kinds = rng.sample(self.kinds, rng.randint(3, 7))
        objects = {k: rng.choice(self.places) for k in kinds}
        if several or rng.random() < 0.25:  # a second (and third) one of a kind
            k = rng.choice(kinds)
            for i in range(2, 2 + rng.choice((1, 1, 2))):
                objects[f"{k}#{i}"] = rng.choice(self.places)
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
        return (self.rng.choice(self.lang["polite_prefix"]) + text + self.rng.choice(self.lang["polite_suffix"])).strip()

    def _say(self, shape: str, **slots: str) -> str:
        return self.rng.choice(self.lang[shape]).format(**slots)

    def _typo(self, text: str) -> str:
        """One slip in one word (letters swapped, dropped or doubled) for a few instructions."""
        words = text.split(" ")
        long_words = [i for i, w in enumerate(words) if len(w) >= 4 and w.isalpha()]
        if not long_words or self.rng.random() >= float(self.lang["typo_rate"]):
            return text
        i = self.rng.choice(long_words)
        w, j = words[i], self.rng.randrange(1, len(words[i]) - 1)
        words[i] = self.rng.choice([w[:j] + w[j + 1] + w[j] + w[j + 2:], w[:j] + w[j + 1:], w[:j] + w[j] + w[j:]])
        return " ".join(words)

    def _plural(self, kind: str) -> str:
        override = self.lang["plural_overrides"].get(kind)
        if override:
            return override
        return kind + ("es" if kind.endswith(("s", "sh", "ch", "x")) else "s")

    def _single_instance(self, kind: str, state: KitchenState) -> bool:
        return sum(1 for n in state.objects if base_object_name(n) == kind) == 1

    def _destination(self) -> tuple[str, str]:
        """(what, dest): a deliver, throw or place request and where its objects end."""
        what = self.rng.choice(["deliver", "place", "throw"])
        return what, {"deliver": USER, "throw": DISPOSAL}.get(what) or self.rng.choice(self.places)

    def _require_at(self, state: KitchenState, steps: Sequence[str], names: Iterable[str], dest: str) -> None:
        """The task's effect: every named instance ends at `dest` after the steps."""
        after = self._after(state, steps)
        if any(after.objects.get(n) != dest for n in names):
            raise _Unsuitable

    # -- plans ---------------------------------------------------------------------------------
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
        what = self.rng.choice(["deliver", "place", "throw"])
        dest = {"deliver": USER, "throw": DISPOSAL}.get(what) or self.rng.choice(self.places)
        if self.rng.random() < 0.6:
            obj = f"{ref} {self.rng.choice(self.lang['held_suffix'])}"
            text = self._say(what, obj=obj, loc=dest)
        else:
            text = self._say("held_prefix", obj=ref) + " " + self._say(what, obj="it", loc=dest)
        # the instruction does not say where the robot stands, so the plan always goes there
        return text, self._move(kind, dest, state)

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
        what = self.rng.choice(["deliver", "place", "throw"])
        dest = {"deliver": USER, "throw": DISPOSAL}.get(what) or self.rng.choice(self.places)
        if state.objects.get(a) == dest or state.objects.get(b) == dest:
            raise _Unsuitable
        objs = f"{self._reference(a, state)} and {self._reference(b, state)}"
        return self._say(what, obj=objs, loc=dest), self._move(a, dest, state) + self._move(b, dest, state)

    def _task_sequence(self, state):
        first_kind = self.rng.choice(["deliver", "place", "throw", "go"])
        text_a, steps_a = getattr(self, f"_task_{first_kind}")(state)
        middle = self._after(state, steps_a)
        second_kind = self.rng.choice(SECOND_TASKS)
        text_b, steps_b = getattr(self, f"_task_{second_kind}")(middle)
        return self._say("sequence", a=text_a, b=text_b), steps_a + steps_b

    def _task_group(self, state):
        """'all the X' / 'two X': every present kind with a noun attribute (or two instances of a kind)."""
        nouns = self.lang["attribute_nouns"]
        groups = {a: [k for k in self._placed(state) if a in self.kitchen.objects[k].attributes] for a in nouns}
        groups = {a: ks for a, ks in groups.items() if 2 <= len(ks) <= 3}
        what = self.rng.choice(["deliver", "place", "throw"])
        dest = {"deliver": USER, "throw": DISPOSAL}.get(what) or self.rng.choice(self.places)
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


    def _task_from(self, state):
        """The place the object comes from is named: "move the coke can from the counter to the table"."""
        kind = self.rng.choice(self._placed(state))
        src = state.objects.get(kind)
        if src not in self.places or not self._single_instance(kind, state):
            raise _Unsuitable
        ref = self._reference(kind, state)
        if self.rng.random() < 0.4:
            return self._say("deliver_from", obj=ref, src=src), self._move(kind, USER, state)
        loc = self.rng.choice([p for p in self.places if p != src])
        return self._say("place_from", obj=ref, src=src, loc=loc), self._move(kind, loc, state)

    def _task_clear(self, state):
        """Everything at one place: "throw away all the items on the table"."""
        src = self.rng.choice(self.places)
        names = [n for n, at in state.objects.items() if at == src]
        kinds = [base_object_name(n) for n in names]
        what, dest = self._destination()
        if not 2 <= len(names) <= 3 or dest == src or len(set(kinds)) != len(kinds) \
                or not all(self._single_instance(k, state) for k in kinds):
            raise _Unsuitable
        self.rng.shuffle(kinds)
        steps = [s for kind in kinds for s in self._move(kind, dest, state)]
        self._require_at(state, steps, names, dest)
        obj = self._say("all_at", src=src)
        return self._say(what, obj=obj, loc=dest), steps

    def _task_count(self, state):
        """Several of one kind: "throw away the three apples", "bring me both bananas"."""
        what = self.rng.choice(["deliver", "throw"])  # a place may hold one already: find would pick it again
        dest = USER if what == "deliver" else DISPOSAL
        by_kind: dict[str, list[str]] = {}
        for n, at in state.objects.items():
            if at in self.places:
                by_kind.setdefault(base_object_name(n), []).append(n)
        several = {k: ns for k, ns in by_kind.items() if len(ns) >= 2 and self._single_instance(k, state) is False
                   and len(ns) == sum(1 for m in state.objects if base_object_name(m) == k)}
        if not several:
            raise _Unsuitable
        kind = self.rng.choice(sorted(several))
        names = several[kind]
        shape = self.rng.choice([s for s in self.lang["kind_count"] if len(names) == 2 or not s.startswith("both")])
        obj = shape.format(n=self.lang["numbers"][len(names)], plural=self._plural(kind))
        steps = [s for _ in names for s in self._move(kind, dest, state)]
        self._require_at(state, steps, names, dest)
        return self._say(what, obj=obj, loc=dest), steps

    def _task_structured(self, state):
        """A request written as a command: "apple -> trash can", "task: ...", "step 1: ... step 2: ..."."""
        choice = self.rng.random()
        if choice < 0.35:
            kind = self.rng.choice(self._placed(state))
            what, dest = self._destination()
            if state.objects.get(kind) == dest:
                raise _Unsuitable
            name = self.rng.choice((kind,) + tuple(self.kitchen.objects[kind].aliases))
            text = self._say("structured_move", obj_bare=name, dest=dest)
            return text, self._move(kind, dest, state)
        if choice < 0.7:
            kind = self.rng.choice(["deliver", "place", "throw", "go", "pick"])
            text, steps = getattr(self, f"_task_{kind}")(state)
            return self._say("structured", sentence=text), steps
        if self.rng.random() < 0.5:  # find it, then bring it
            kind = self.rng.choice(self._placed(state))
            a = self._say("find", obj=self._reference(kind, state))
            b = self._say("deliver", obj="it")
            return self._say("structured_steps", a=a, b=b), self._move(kind, USER, state)
        text_a, steps_a = getattr(self, f"_task_{self.rng.choice(['deliver', 'place', 'throw', 'go'])}")(state)
        text_b, steps_b = getattr(self, f"_task_{self.rng.choice(SECOND_TASKS)}")(self._after(state, steps_a))
        return self._say("structured_steps", a=text_a, b=text_b), steps_a + steps_b


def training_texts(example: PlanExample, human: str = "Human: {instruction}", robot: str = "Robot:",
                   step: str = "{n}. {skill}", separator: str = ",", end: str = ".") -> tuple[str, str]:
    """(prompt, plan) as the scorer sees them: the prompt ends at "Robot: 1." and the plan is the
    continuation " a, 2. b, 3. done." (the prompt format of config/prompts.yaml, no preamble)."""
    prompt = human.format(instruction=example.instruction) + "\n" + robot + " " + step.format(n=1, skill="").rstrip()
    parts = [example.steps[0]] + [step.format(n=i + 2, skill=s) for i, s in enumerate(example.steps[1:])]
    return prompt, " " + (separator + " ").join(parts) + end
