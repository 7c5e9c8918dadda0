"""`saycan bench voice`: spoken instructions -> recogniser -> the planner's first skills.

Instructions of config/eval/dev.yaml (families whose text is meant to be spoken: single, noun, verb,
embodiment, long, feasibility) are synthesised by espeak-ng with two voices at two speeds, white
noise is added (seeded), and the recogniser transcribes them. WER compares the spoken-form words of
the typed and the recognised text. same_plan: the planner (plan mode: embedded language model,
symbolic affordances, the episode's start state) chooses the same first three skills for the
recognised text as for the typed one. Held-out WER on config/eval/heldout.yaml comes as its own
line. The last line is machine-readable: ``voice n=.. wer=.. same_plan=..``
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from saycan_ros.core.errors import SayCanError
from saycan_ros.core.text_metrics import word_edits, word_error_rate

SPOKEN_FAMILIES = ("single", "noun", "verb", "embodiment", "long", "feasibility")
VOICES = ("en-us", "en-gb+f3")  # American male, British female
SPEEDS = (140, 175)  # words per minute
PLAN_STEPS = 3


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="saycan bench voice", description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=36, help="instructions from the development set (spread over families)")
    p.add_argument("--heldout", type=int, default=30, help="held-out instructions for the WER-only line (0: none)")
    p.add_argument("--snr-db", type=float, default=20.0, help="signal-to-noise ratio of the added white noise")
    p.add_argument("--seed", type=int, default=0, help="noise seed")
    p.add_argument("--recognizer", default="pocketsphinx", help="pocketsphinx | faster_whisper")
    p.add_argument("--language", default="kitchen", help="pocketsphinx: kitchen | general")
    p.add_argument("--model-path", default="", help="faster_whisper: local model folder")
    p.add_argument("--no-plan", action="store_true", help="WER only (no language model)")
    p.add_argument("--quiet", action="store_true", help="no per-utterance lines")
    return p


def spoken_instructions(path: Path, n: int) -> list:
    """n episodes of the spoken families, taken round-robin so every family is represented."""
    from saycan_ros.core.kitchen import load_kitchen
    from saycan_ros.eval.episodes import load_episodes

    by_family: dict[str, list] = {}
    for ep in load_episodes(path, load_kitchen()):
        if ep.family in SPOKEN_FAMILIES:
            by_family.setdefault(ep.family, []).append(ep)
    out, i = [], 0
    while len(out) < n and any(i < len(v) for v in by_family.values()):
        out += [v[i] for v in by_family.values() if i < len(v)][: n - len(out)]
        i += 1
    return out


def transcribe_all(episodes: Sequence, recognizer, seed: int, snr_db: float, quiet: bool, label: str):
    """[(episode, voice, wpm, recognised text)] over every voice and speed."""
    from saycan_ros.speech.recognizers import recognize
    from saycan_ros.speech.synth import add_noise, synthesize

    rng = np.random.default_rng(seed)
    out = []
    for ep in episodes:
        for voice in VOICES:
            for wpm in SPEEDS:
                audio = add_noise(synthesize(ep.instruction, voice, wpm, recognizer.sample_rate), snr_db, rng)
                text = recognize(recognizer, audio, recognizer.sample_rate, label).text
                out.append((ep, voice, wpm, text))
                if not quiet:
                    print(f"  [{label} {voice} {wpm}] {ep.instruction!r} -> {text!r}", flush=True)
    return out


def wer_of(results, spoken) -> float:
    return word_error_rate([(spoken.words(ep.instruction), spoken.words(text)) for ep, _, _, text in results])


def first_skills(episodes: Sequence, texts: Sequence[str], quiet: bool = False) -> list[tuple[str, ...]]:
    """The planner's first PLAN_STEPS skills for each (episode start state, text), as `saycan eval`
    plans them (embedded model, its default prompt and adapter, symbolic affordances)."""
    from saycan_ros.core.kitchen import load_kitchen
    from saycan_ros.core.skills import SkillLibrary
    from saycan_ros.eval.harness import build_parser as eval_parser, make_task_grounding, make_world_factory, run_plan_mode

    kitchen = load_kitchen()
    library = SkillLibrary.from_kitchen(kitchen)
    task, scorer = make_task_grounding(eval_parser().parse_args([]))
    runs = [dataclasses.replace(ep, instruction=text or "(nothing heard)", max_steps=PLAN_STEPS)
            for ep, text in zip(episodes, texts)]

    def progress(i: int, n: int, _result) -> None:
        if not quiet and (i % 10 == 0 or i == n):
            print(f"  planned {i}/{n}", flush=True)

    try:
        results = run_plan_mode(runs, kitchen, library, task, make_world_factory("symbolic", kitchen),
                                max_steps=PLAN_STEPS, progress=progress)
    finally:
        scorer.close()  # as `saycan eval` does: the model's memory goes back before the summary
    return [tuple(s.skill for s in r.steps[:PLAN_STEPS]) for r in results]


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.n < 1 or args.heldout < 0:
        print("saycan bench voice: error: need --n >= 1 and --heldout >= 0", file=sys.stderr)
        return 2
    try:
        return run(args)
    except SayCanError as exc:
        print(f"saycan bench voice: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def run(args) -> int:
    from saycan_ros.core.kitchen import config_dir
    from saycan_ros.speech.recognizers import make_recognizer

    started = time.perf_counter()
    recognizer = make_recognizer(args.recognizer, language=args.language, model_path=args.model_path)
    spoken = getattr(recognizer, "spoken", None)
    if spoken is None:  # another backend: normalise with pocketsphinx's dictionary all the same
        from saycan_ros.speech.recognizers import PocketSphinxRecognizer

        spoken = PocketSphinxRecognizer("general").spoken
    conditions = len(VOICES) * len(SPEEDS)
    dev = spoken_instructions(config_dir() / "eval" / "dev.yaml", args.n)
    results = transcribe_all(dev, recognizer, args.seed, args.snr_db, args.quiet, "dev")
    wer = wer_of(results, spoken)
    exact = sum(word_edits(spoken.words(ep.instruction), spoken.words(t)) == 0 for ep, _, _, t in results)
    print(f"development: {len(dev)} instructions x {conditions} (voices {', '.join(VOICES)}; {SPEEDS[0]} and "
          f"{SPEEDS[1]} wpm; white noise at {args.snr_db:g} dB SNR): WER {wer:.3f}, "
          f"{exact}/{len(results)} transcribed exactly")
    if args.heldout:
        held = spoken_instructions(config_dir() / "eval" / "heldout.yaml", args.heldout)
        held_results = transcribe_all(held, recognizer, args.seed + 1, args.snr_db, args.quiet, "heldout")
        print(f"voice-heldout n={len(held_results)} wer={wer_of(held_results, spoken):.3f}")
    same = float("nan")
    if not args.no_plan:
        # plan each distinct (episode, text) once: most recognised texts equal the typed one
        keys = list(dict.fromkeys([(ep.id, ep.instruction) for ep in dev] + [(ep.id, t) for ep, _, _, t in results]))
        by_id = {ep.id: ep for ep in dev}
        print(f"planning {len(keys)} distinct (start state, text) pairs, {PLAN_STEPS} steps each ...", flush=True)
        plans = dict(zip(keys, first_skills([by_id[i] for i, _ in keys], [t for _, t in keys], args.quiet)))
        agree = [plans[(ep.id, t)] == plans[(ep.id, ep.instruction)] for ep, _, _, t in results]
        same = sum(agree) / len(agree)
        for (ep, voice, wpm, t), ok in zip(results, agree):
            if not ok and not args.quiet:
                print(f"  different plan [{voice} {wpm}] {ep.instruction!r} -> {t!r}: "
                      f"{list(plans[(ep.id, t)])} instead of {list(plans[(ep.id, ep.instruction)])}")
    print(f"({time.perf_counter() - started:.0f} s)")
    print(f"voice n={len(results)} wer={wer:.3f} same_plan={same:.2f}")
    return 0
