"""The kitchen's spoken language for the recogniser: a trigram language model (ARPA text) and a
pronunciation dictionary, built from the sentence shapes that generate the planner's training data
(config/training/planner_language.yaml with the objects and places of config/kitchen.yaml), the
skill texts, and sentences with the recogniser-only additions of config/voice/spoken_phrases.yaml
(more request shapes, group and place-content phrases, synonyms people say). Never from the evaluation sets: their instructions are excluded from the corpus, so the
benchmark's held-out numbers stay held out. A recogniser constrained to what a kitchen robot is told
is what a robot would ship; words outside it are not recognised (docs/voice.md)."""
from __future__ import annotations

import hashlib
import math
import os
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from saycan_ros.core.errors import SayCanError

BOS, EOS = "<s>", "</s>"
DIGITS = {"0": "zero", "1": "one", "2": "two", "3": "three", "4": "four", "5": "five", "6": "six",
          "7": "seven", "8": "eight", "9": "nine"}


def words_of(text: str) -> list[str]:
    """Lower-case words without punctuation; hyphens split words ("lemon-lime" -> lemon lime)."""
    text = re.sub(r"[-_/]", " ", text.lower())
    text = re.sub(r"[^a-z0-9' ]", " ", text)
    return [w.strip("'") for w in text.split() if w.strip("'")]


@dataclass
class Pronunciations:
    """A CMU-style dictionary: word -> list of phone strings."""

    entries: Mapping[str, list[str]]

    @classmethod
    def read(cls, path: str | Path) -> "Pronunciations":
        entries: dict[str, list[str]] = defaultdict(list)
        for line in Path(path).read_text(encoding="utf-8", errors="replace").splitlines():
            parts = line.split(maxsplit=1)
            if len(parts) == 2:
                entries[re.sub(r"\(\d+\)$", "", parts[0])].append(parts[1].strip())
        return cls(dict(entries))

    def __contains__(self, word: str) -> bool:
        return word in self.entries

    def spoken(self, word: str) -> list[str] | None:
        """The dictionary words a written word is spoken as ('7up' -> seven up, 'redbull' -> red
        bull), or None when it cannot be pronounced from the dictionary."""
        if word in self.entries:
            return [word]
        if re.fullmatch(r"[0-9]+[a-z]*", word):  # digits spelled one by one, then the rest
            digits = re.match(r"[0-9]+", word).group()
            rest = word[len(digits):]
            return [DIGITS[d] for d in digits] + ([rest] if rest else []) if not rest or rest in self.entries else None
        for i in range(2, len(word) - 1):  # a compound of two dictionary words
            if word[:i] in self.entries and word[i:] in self.entries:
                return [word[:i], word[i:]]
        return None


@dataclass
class SpokenForm:
    """Written text <-> the words a person says: normalises references and hypotheses the same way
    and turns recognised words back into the kitchen's names ("seven up" -> "7up")."""

    pronunciations: Pronunciations
    written: dict[tuple[str, ...], str] = field(default_factory=dict)

    def words(self, text: str) -> list[str]:
        out: list[str] = []
        for w in words_of(text):
            out += self.pronunciations.spoken(w) or [w]
        return out

    def add_name(self, name: str) -> None:
        spoken = tuple(self.words(name))
        if list(spoken) != words_of(name):
            self.written[spoken] = name

    def to_written(self, words: Sequence[str]) -> str:
        out, i = [], 0
        longest = max((len(k) for k in self.written), default=0)
        while i < len(words):
            for n in range(min(longest, len(words) - i), 0, -1):
                name = self.written.get(tuple(words[i:i + n]))
                if name is not None:
                    out.append(name)
                    i += n
                    break
            else:
                out.append(words[i])
                i += 1
        return " ".join(out)


def kitchen_sentences(n: int = 20000, seed: int = 0) -> list[str]:
    """Generated instructions and the skill texts; the evaluation sets' instructions are left out."""
    from saycan_ros.core.kitchen import load_kitchen
    from saycan_ros.core.skills import SkillLibrary
    from saycan_ros.eval.episodes import evaluation_instructions
    from saycan_ros.training.plan_data import PlanDataGenerator, load_language

    kitchen = load_kitchen()
    generator = PlanDataGenerator(kitchen, load_language(), seed=seed, exclude=evaluation_instructions(kitchen))
    return [e.instruction for e in generator.generate(n)] + [s.text for s in SkillLibrary.from_kitchen(kitchen)]


VOICE_KEYS = ("shapes", "groups", "contents", "references", "sentences", "synonyms")
TASK_SHAPES = ("deliver", "place", "throw", "pick", "find")
SPOKEN_N = 10000  # sentences with the spoken additions, beside the 20,000 the planner's shapes generate
SYNONYM_RATE = 0.3  # how often a listed phrase is said as one of its alternatives


def voice_phrases_file() -> Path:
    from saycan_ros.core.kitchen import config_dir

    return config_dir() / "voice" / "spoken_phrases.yaml"


def load_voice_phrases(path: str | Path | None = None) -> dict[str, Any]:
    """config/voice/spoken_phrases.yaml, checked: the recogniser-only additions to the kitchen's language."""
    from saycan_ros.core.errors import ConfigError
    from saycan_ros.core.kitchen import read_yaml_sections
    from saycan_ros.training.plan_data import LANGUAGE_KEYS

    path = Path(path) if path else voice_phrases_file()
    data = read_yaml_sections(path, "spoken phrases file", VOICE_KEYS)
    unknown = [k for k in data["shapes"] if k not in LANGUAGE_KEYS or not isinstance(data["shapes"][k], list)]
    if unknown:
        raise ConfigError(f"{path}: shapes {', '.join(map(str, unknown))} are not lists of planner_language.yaml")
    return data


def spoken_language(planner: Mapping[str, Any], phrases: Mapping[str, Any]) -> dict[str, Any]:
    """The planner's language with the spoken shapes appended to its lists (a copy)."""
    merged = dict(planner)
    for key, extra in phrases["shapes"].items():
        merged[key] = list(planner[key]) + list(extra)
    return merged


def plural(name: str) -> str:
    """'apple' -> 'apples', 'coke can' -> 'coke cans'; names already plural ('rice chips') stay."""
    return name if name.endswith("s") else name + "s"


class _SpokenSentences:
    """Requests in the spoken additions' shapes: a task shape with an object, a group, a place's
    contents or another reference; the free sentences; synonyms said some of the time."""

    def __init__(self, kitchen, language: Mapping[str, Any], phrases: Mapping[str, Any], seed: int) -> None:
        import random

        self.kitchen, self.lang, self.phrases = kitchen, language, phrases
        self.rng = random.Random(seed)
        self.places = [loc for loc in kitchen.locations if loc not in ("user", "trash can")]
        keys = sorted(phrases["synonyms"], key=len, reverse=True)
        self.synonym_re = re.compile(r"(?<![a-z0-9])(" + "|".join(map(re.escape, keys)) + r")(?![a-z0-9])") if keys else None

    def obj(self) -> str:
        kind = self.rng.choice(list(self.kitchen.objects))
        spec = self.kitchen.objects[kind]
        name = self.rng.choice([kind, *spec.aliases])
        return self.rng.choice(["the ", "the ", "a "]) + name

    def fill(self, template: str) -> str:
        loc, loc2 = self.rng.sample(self.places, 2)
        kind = self.rng.choice(list(self.kitchen.objects))
        return template.format(obj=self.obj(), obj2=self.obj(), loc=loc, loc2=loc2, plural=plural(kind),
                               number=self.rng.choice(["two", "three"]))

    def task(self) -> str:
        shape = self.rng.choice(TASK_SHAPES)
        kind = self.rng.choices(["obj", "groups", "contents", "references"], weights=[4, 2, 2, 2])[0]
        obj = self.obj() if kind == "obj" else self.fill(self.rng.choice(self.phrases[kind]))
        return self.rng.choice(self.lang[shape]).format(obj=obj, loc=self.rng.choice(self.places))

    def sentence(self) -> str:
        template = self.rng.choice(self.phrases["sentences"])
        return self.fill(template.replace("{task}", self.task())) if "{task}" in template else self.fill(template)

    def say(self, text: str) -> str:
        if self.synonym_re is None:
            return text

        def swap(m: re.Match) -> str:
            if self.rng.random() >= SYNONYM_RATE:
                return m.group(0)
            return self.rng.choice(self.phrases["synonyms"][m.group(0)])

        return self.synonym_re.sub(swap, text)

    def polite(self, text: str) -> str:
        from saycan_ros.training.plan_data import polite

        return polite(self.rng, self.lang, text)


def spoken_sentences(n: int = 10000, seed: int = 0, phrases_file: str | Path | None = None) -> list[str]:
    """n requests with the recogniser-only additions (config/voice/spoken_phrases.yaml): half from the
    planner's generator with the added shapes, the rest from groups, contents, references and free
    sentences; synonyms said some of the time. The evaluation sets' instructions are left out."""
    from saycan_ros.core.kitchen import load_kitchen
    from saycan_ros.core.prompt import instruction_key
    from saycan_ros.eval.episodes import evaluation_instructions
    from saycan_ros.training.plan_data import PlanDataGenerator, load_language

    kitchen = load_kitchen()
    phrases = load_voice_phrases(phrases_file)
    language = spoken_language(load_language(), phrases)
    exclude = evaluation_instructions(kitchen)
    extra = _SpokenSentences(kitchen, language, phrases, seed + 1)
    generated = [e.instruction for e in PlanDataGenerator(kitchen, language, seed=seed + 1, exclude=exclude).generate(n // 2)]
    out = [extra.say(t) for t in generated]
    tries = 0
    while len(out) < n and tries < 20 * n:
        tries += 1
        text = extra.sentence() if extra.rng.random() < 0.25 else extra.polite(extra.task())
        out.append(extra.say(text))
    return [t for t in out if instruction_key(t) not in exclude]


def kitchen_names() -> list[str]:
    """The kitchen's object and place names with their aliases."""
    from saycan_ros.core.kitchen import load_kitchen

    kitchen = load_kitchen()
    return [name for objects in (kitchen.objects, kitchen.locations)
            for key, spec in objects.items() for name in (key, *spec.aliases)]


def language_inputs_hash() -> str:
    """Changes when anything the kitchen's language is built from changes (the cache key)."""
    from saycan_ros.core.kitchen import config_dir

    files = [Path(__file__), config_dir() / "kitchen.yaml", config_dir() / "training" / "planner_language.yaml",
             voice_phrases_file(), *sorted((config_dir() / "eval").glob("*.yaml"))]
    digest = hashlib.sha256()
    for f in files:
        digest.update(f.read_bytes() if f.is_file() else b"-")
    return digest.hexdigest()[:16]


def arpa_trigram(sentences: Iterable[Sequence[str]], discount: float = 0.5) -> str:
    """A backoff trigram model in ARPA text format with absolute discounting: each seen n-gram gives
    up `discount` counts to its history's backoff mass, spread by the lower order."""
    counts: list[Counter] = [Counter(), Counter(), Counter()]
    for words in sentences:
        tokens = [BOS, *words, EOS]
        for k in range(3):
            for i in range(len(tokens) - k):
                gram = tuple(tokens[i:i + k + 1])
                if gram != (BOS,):
                    counts[k][gram] += 1
    total = sum(counts[0].values())
    logp: list[dict[tuple[str, ...], float]] = [{g: math.log10(c / total) for g, c in counts[0].items()}, {}, {}]
    logp[0][(BOS,)] = -99.0
    bow: list[dict[tuple[str, ...], float]] = [{}, {}, {}]

    def prob(gram: tuple[str, ...]) -> float:  # the model's probability so far, with backoff
        k = len(gram) - 1
        if gram in logp[k]:
            return 10 ** logp[k][gram]
        if k == 0:
            return 0.0
        return 10 ** bow[k - 1].get(gram[:-1], 0.0) * prob(gram[1:])

    for k in (1, 2):
        history_total: Counter = Counter()
        following: dict[tuple[str, ...], list[tuple[str, ...]]] = defaultdict(list)
        for gram, c in counts[k].items():
            history_total[gram[:-1]] += c
            following[gram[:-1]].append(gram)
        for gram, c in counts[k].items():
            logp[k][gram] = math.log10((c - discount) / history_total[gram[:-1]])
        for history, grams in following.items():
            left = discount * len(grams) / history_total[history]
            lower = 1.0 - sum(prob(g[1:]) for g in grams)
            bow[k - 1][history] = math.log10(left / max(lower, 1e-6))
    lines = ["\\data\\"] + [f"ngram {k + 1}={len(logp[k])}" for k in range(3)]
    for k in range(3):
        lines += ["", f"\\{k + 1}-grams:"]
        for gram in sorted(logp[k]):
            b = bow[k].get(gram) if k < 2 else None
            lines.append(f"{logp[k][gram]:.4f}\t{' '.join(gram)}" + (f"\t{b:.4f}" if b is not None else ""))
    return "\n".join(lines + ["", "\\end\\", ""])


@dataclass
class KitchenLanguage:
    """Files for a pocketsphinx decoder: language model and dictionary, and the spoken form."""

    lm_path: Path
    dict_path: Path
    spoken: SpokenForm
    vocabulary: frozenset[str]


def build_kitchen_language(folder: str | Path, pronunciations: Pronunciations, n: int = 20000,
                           seed: int = 0, spoken_n: int = SPOKEN_N) -> KitchenLanguage:
    """kitchen.lm (ARPA) and kitchen.dict in `folder`, written unless already there: n instructions
    as the planner's data generates them and spoken_n with the recogniser-only additions."""
    spoken = SpokenForm(pronunciations)
    for name in kitchen_names():
        spoken.add_name(name)
    folder = Path(folder)
    lm_path, dict_path = folder / "kitchen.lm", folder / "kitchen.dict"
    if lm_path.is_file() and dict_path.is_file():
        vocabulary = frozenset(line.split()[0] for line in dict_path.read_text(encoding="utf-8").splitlines()
                               if line.strip() and "(" not in line.split()[0])
        return KitchenLanguage(lm_path, dict_path, spoken, vocabulary)
    sentences = kitchen_sentences(n, seed) + (spoken_sentences(spoken_n, seed) if spoken_n else [])
    corpus = [[w for w in spoken.words(s) if w in pronunciations] for s in sentences]
    vocabulary = frozenset(w for words in corpus for w in words)
    if not vocabulary:
        raise SayCanError("the kitchen's vocabulary is empty: check config/training/planner_language.yaml")
    folder.mkdir(parents=True, exist_ok=True)
    dict_lines = []
    for w in sorted(vocabulary):
        for i, phones in enumerate(pronunciations.entries[w]):
            dict_lines.append(f"{w if i == 0 else f'{w}({i + 1})'} {phones}")
    # written to temporary names first: a concurrent start never reads half a file
    tmp_lm, tmp_dict = folder / f".kitchen.lm.{os.getpid()}", folder / f".kitchen.dict.{os.getpid()}"
    tmp_lm.write_text(arpa_trigram(corpus), encoding="utf-8")
    tmp_dict.write_text("\n".join(dict_lines) + "\n", encoding="utf-8")
    os.replace(tmp_lm, lm_path)
    os.replace(tmp_dict, dict_path)
    return KitchenLanguage(lm_path, dict_path, spoken, vocabulary)
