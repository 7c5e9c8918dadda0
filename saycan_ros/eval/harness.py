"""`saycan eval`: run an episode set through the SayCan planner and report success per family.

plan mode: each episode runs against the symbolic kitchen (saycan_ros.core.world): every skill's
effect applies at once and a failed precondition fails the skill. Task grounding is the real
language model (built once for the whole set); world grounding is the symbolic affordance model
over the runner's current state, or none (--no-affordance). An episode succeeds when the planner
ended with 'done' and every goal entry holds in the final state.

exec mode: the simulator and the node graph (saycan_ros.eval.exec_mode).
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from saycan_ros.core.episode import EpisodeRecord
from saycan_ros.core.errors import ConfigError, SayCanError
from saycan_ros.core.kitchen import Kitchen, config_dir, load_kitchen
from saycan_ros.core.prompt import DEFAULT_RETRIEVED_EXAMPLES
from saycan_ros.core.skills import Skill, SkillLibrary
from saycan_ros.core.world import SymbolicRunner
from saycan_ros.eval.episodes import Episode, families, load_episodes
from saycan_ros.eval.faults import FaultSpec, FaultyRunner, faults_met_note
from saycan_ros.eval.judging import judge
from saycan_ros.eval.report import (EpisodeResult, markdown_report, markdown_table, summarize, summary_line, write_json,
                                    write_plot)
from saycan_ros.language.base import DEFAULT_ADAPTER

DEFAULT_MAX_STEPS = 12
# exec mode: asked of the simulator while skills run. 2 cores hold about 5.7 (the CPU is the limit:
# 12 asked runs no faster), so 8 means as fast as such a machine allows; the dev set's plans and
# outcomes are the same at 4 and at 8 (docs/evaluation.md)
DEFAULT_REAL_TIME_FACTOR = 8.0
DEFAULT_SIM_TIME_LIMIT_S = 600.0  # exec mode: simulated seconds per episode
DEFAULT_FAILURE_PENALTY = 0.3  # as planner_node's failure_penalty
DATASET_CREDIT = ("Reference plans: SayCan dataset v0 (saycan_plan_v0_l.tsv), Ahn et al. 2022, "
                  "\"Do As I Can, Not As I Say: Grounding Language in Robotic Affordances\", CC BY 4.0.")


def default_episode_file() -> Path:
    return config_dir() / "eval" / "dev.yaml"


# ---------------------------------------------------------------------------------------------
# World grounding for plan mode


class SymbolicWorld:
    """WorldGrounding: the symbolic affordance model over the runner's *current* state, and (with
    `absence_memory`) what the robot's searches showed is not in the kitchen."""

    def __init__(self, model, runner: SymbolicRunner, absence_memory: bool = True):
        self.model, self.runner, self.absence_memory = model, runner, absence_memory

    def affordances(self, skills: Sequence[Skill]) -> list[float]:
        absent = self.runner.known_absent() if self.absence_memory else frozenset()
        return list(self.model.estimate_state(self.runner.state, list(skills), absent))


class NoAffordance:
    """WorldGrounding for the language-model-only ablation: every skill is equally feasible."""

    def affordances(self, skills: Sequence[Skill]) -> list[float]:
        return [1.0] * len(skills)


def make_world_factory(kind: str, kitchen: Kitchen, absence_memory: bool = True,
                       value_function: str | None = None) -> Callable[[SymbolicRunner], object]:
    """A function runner -> WorldGrounding for the affordance kind: symbolic | learned | perception | none."""
    if kind == "none":
        return lambda runner: NoAffordance()
    if kind == "learned":
        from saycan_ros.eval.rendered_world import RenderedLearnedWorlds

        return RenderedLearnedWorlds(kitchen, value_function, absence_memory)
    if kind == "symbolic":
        from saycan_ros.affordance.factory import make_affordance_model

        model = make_affordance_model("symbolic", kitchen=kitchen)
        return lambda runner: SymbolicWorld(model, runner, absence_memory)
    if kind == "perception":
        raise ConfigError("the perception affordance is not available in plan mode yet (it needs images "
                          "rendered from the symbolic state); use --affordance symbolic, or --mode exec")
    raise ConfigError(f"unknown affordance '{kind}'; expected symbolic, learned, perception or none")


# ---------------------------------------------------------------------------------------------
# Running and judging


def run_plan_mode(episodes: Sequence[Episode], kitchen: Kitchen, library: SkillLibrary, task,
                  world_factory: Callable[[SymbolicRunner], object], *, max_steps: int = DEFAULT_MAX_STEPS,
                  top_k: int = 5, progress: Callable[[int, int, EpisodeResult], None] | None = None,
                  faults: FaultSpec | None = None, outcome_feedback: bool = True,
                  failure_penalty: float = DEFAULT_FAILURE_PENALTY) -> list[EpisodeResult]:
    """Run every episode in the symbolic kitchen with the given task grounding; with `faults`,
    skills meet injected failures (saycan_ros.eval.faults), the same draws for every planner setting."""
    from saycan_ros.core.planner import SayCanPlanner

    results = []
    for i, ep in enumerate(episodes, 1):
        started = time.perf_counter()
        start = ep.initial_state(kitchen)
        runner = (FaultyRunner(kitchen, start, faults, i) if faults is not None and faults.any
                  else SymbolicRunner(kitchen, start))
        planner = SayCanPlanner(library, task, world_factory(runner), runner,
                                max_steps=ep.max_steps or max_steps, top_k=top_k,
                                outcome_feedback=outcome_feedback, failure_penalty=failure_penalty)
        try:
            # what the gripper holds is known to the robot from the start (its gripper sensing)
            record = planner.run(ep.instruction, holding=start.held_kind)
        except SayCanError as exc:  # an instruction the planner refuses
            record = EpisodeRecord(ep.instruction, status="error", error_msg=str(exc))
        result = judge(ep, record, runner.state, library, kitchen)
        if isinstance(runner, FaultyRunner):
            result.meta["injected_faults"] = list(runner.faults)
        result.elapsed_s = time.perf_counter() - started
        results.append(result)
        if progress:
            progress(i, len(episodes), result)
    return results


def print_progress(i: int, n: int, r: EpisodeResult, out=sys.stdout) -> None:
    mark = "ok  " if r.success else "FAIL"
    ms = r.planning_ms / r.n_steps if r.n_steps else 0.0
    plan = " > ".join(r.plan)
    print(f"[{i:>3}/{n}] {mark} {r.family}/{r.id}: {r.n_steps} steps, {ms:.0f} ms/step | {plan}", file=out, flush=True)


# ---------------------------------------------------------------------------------------------
# Command line


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="saycan eval",
        description="Measure planning (plan mode) or execution (exec mode) success on an episode set, "
                    "per family. The last line printed is a machine-readable summary.")
    p.add_argument("file", nargs="?", help="episode file (YAML; default: config/eval/dev.yaml)")
    p.add_argument("--mode", choices=("plan", "exec"), default="plan")
    p.add_argument("--reference-tsv", nargs="?", const="", default=None, metavar="PATH",
                   help="instead of FILE, check plans against the SayCan reference plans "
                        "(default path: ../shared/datasets/saycan_plan_v0_l.tsv from the repository root)")
    p.add_argument("--no-affordance", action="store_true", help="ablation: language model only")
    p.add_argument("--no-absence-memory", action="store_true",
                   help="plan mode ablation: 'find X' keeps its affordance after a search showed X is nowhere")
    p.add_argument("--affordance", choices=("symbolic", "learned", "perception"), default=None,
                   help="affordance model (plan mode default: symbolic; learned: the learned value function over "
                        "images rendered from the symbolic state; exec mode: the graph's perception, or learned)")
    p.add_argument("--value-function", default="", metavar="FOLDER",
                   help="with --affordance learned: the value function folder (default: models/affordance)")
    p.add_argument("--scorer", choices=("transformers", "openai"), default="transformers")
    p.add_argument("--model", default="", help="model folder / .gguf / server model name (default: the embedded model)")
    p.add_argument("--server-url", default=None, help="OpenAI-compatible server base URL (with --scorer openai)")
    p.add_argument("--score", choices=("sum", "mean"), default="sum", help="sum or mean token log-likelihood")
    p.add_argument("--prompts", default=None, help="prompt file (default: config/prompts.yaml)")
    p.add_argument("--adapter", default=DEFAULT_ADAPTER,
                   help=f"LoRA adapter: auto, none, packaged, feedback (trained to read outcome feedback), holding (feedback, "
                        f"continued on hands-full starts with the held object in the prompt), or a folder (default: {DEFAULT_ADAPTER}, as llm_scoring_node)")
    p.add_argument("--examples", type=int, default=DEFAULT_RETRIEVED_EXAMPLES, metavar="K",
                   help=f"retrieve the K nearest examples of the example bank into the prompt; 0: the prompt "
                        f"file's fixed examples (default: {DEFAULT_RETRIEVED_EXAMPLES}, as llm_scoring_node)")
    p.add_argument("--example-bank", action="append", default=None, metavar="FILE",
                   help="example bank file (repeatable; default: config/examples/*.yaml)")
    p.add_argument("--kitchen", default=None, help="kitchen file (default: config/kitchen.yaml)")
    p.add_argument("--max-steps", type=int, default=DEFAULT_MAX_STEPS, help="step limit where an episode sets none")
    p.add_argument("--limit", type=int, default=None, help="run only the first N episodes (after --family)")
    p.add_argument("--family", action="append", default=None, help="only this family (repeatable)")
    p.add_argument("--id", action="append", default=None, dest="ids", help="only this episode id (repeatable)")
    p.add_argument("--out", default=None, help="output folder (default: runs/eval-<timestamp>)")
    p.add_argument("--timeout", type=float, default=600.0, help="exec mode: wall-clock seconds per episode (a backstop)")
    p.add_argument("--sim-time-limit", type=float, default=DEFAULT_SIM_TIME_LIMIT_S, metavar="S",
                   help="exec mode: simulated seconds per episode (default %(default)g; the robot at real speed)")
    p.add_argument("--real-time-factor", type=float, default=DEFAULT_REAL_TIME_FACTOR, metavar="F",
                   help="exec mode: simulated seconds per wall-clock second asked of the simulator (default "
                        "%(default)g); the achieved factor is printed, and a machine that cannot hold it slows "
                        "the simulation down (the nodes run on simulated time), it does not change what is judged")
    p.add_argument("--no-pause-between-skills", action="store_true",
                   help="exec mode: keep the world running while the planner thinks (by default it holds still "
                        "between skills, so thinking takes no simulated time and the CPU goes to the language model)")
    p.add_argument("--quiet", action="store_true", help="no per-episode progress lines")
    closed = p.add_argument_group("closed loop (plan mode): injected failures and how the planner hears of them")
    closed.add_argument("--grasp-slip", type=float, default=0.0, metavar="P",
                        help="probability that a pick which would succeed slips (GRASP_FAILED, object stays); "
                             "exec mode: the simulator's fault_grasp_slip_p")
    closed.add_argument("--moved-after-find", type=float, default=0.0, metavar="P",
                        help="probability that a person moves the object just found elsewhere (once per episode)")
    closed.add_argument("--fault-seed", type=int, default=0, help="seed of the injected failures (0 or more)")
    closed.add_argument("--outcome-feedback", choices=("on", "off"), default="on",
                        help="write failed skills into the prompt (Inner Monologue; planner_node outcome_feedback)")
    closed.add_argument("--failure-penalty", type=float, default=DEFAULT_FAILURE_PENALTY,
                        help="affordance factor per failure of the same skill (planner_node failure_penalty)")
    return p


@dataclass
class LoadedSet:
    label: str                 # what the summary line reports as file=
    episodes: list[Episode]
    notes: list[str]


def load_set(args, kitchen: Kitchen) -> LoadedSet:
    if args.reference_tsv is not None:
        from saycan_ros.eval.reference_plans import default_tsv_path, load_reference_checks

        path = Path(args.reference_tsv) if args.reference_tsv else default_tsv_path()
        checks = load_reference_checks(path, kitchen)
        notes = [DATASET_CREDIT,
                 f"{len(checks.episodes)} of {checks.rows} rows converted; skipped {len(checks.skipped)}: "
                 + "; ".join(f"row {row}: {why}" for row, why in checks.skipped)]
        return LoadedSet(str(path), checks.episodes, notes)
    path = Path(args.file) if args.file else default_episode_file()
    return LoadedSet(str(path), load_episodes(path, kitchen), [])


def select(episodes: list[Episode], args) -> list[Episode]:
    if args.family:
        known = set(families(episodes))
        unknown = [f for f in args.family if f not in known]
        if unknown:
            raise ConfigError(f"unknown family {', '.join(unknown)}; the set has: {', '.join(known)}")
        episodes = [e for e in episodes if e.family in args.family]
    if args.ids:
        known_ids = {e.id for e in episodes}
        unknown = [i for i in args.ids if i not in known_ids]
        if unknown:
            raise ConfigError(f"unknown episode id(s) {', '.join(unknown)}")
        episodes = [e for e in episodes if e.id in args.ids]
    if args.limit is not None:
        if args.limit < 1:
            raise ConfigError("--limit must be at least 1")
        episodes = episodes[: args.limit]
    return episodes


def make_task_grounding(args):
    """The real language model (built once) + the prompt builder. Returns (grounding, scorer)."""
    from saycan_ros.core.language_grounding import PromptedTaskGrounding
    from saycan_ros.language.base import ScorerConfig, effective_adapter
    from saycan_ros.language.factory import make_scorer
    from saycan_ros.language.retrieval import make_prompt

    cfg = ScorerConfig(backend=args.scorer, model=args.model, adapter=args.adapter)
    # the reference plans may also be in the bank: never show a row its own plan
    prompt = make_prompt(args.prompts, effective_adapter(cfg), args.examples, args.example_bank or (),
                         leave_one_out=args.reference_tsv is not None)
    if args.server_url:
        cfg.server_url = args.server_url
    scorer = make_scorer(cfg)
    return PromptedTaskGrounding(scorer, prompt, score=args.score), scorer


def prompt_label(args) -> str:
    """The prompt file the scorer uses (make_prompt's choice): --prompts, else the effective
    adapter's own, else config/prompts.yaml."""
    from saycan_ros.language.base import ScorerConfig, effective_adapter
    from saycan_ros.language.retrieval import chosen_prompt_file

    adapter = effective_adapter(ScorerConfig(backend=args.scorer, model=args.model, adapter=args.adapter))
    path = chosen_prompt_file(args.prompts, adapter)
    return str(path) if path is not None else "config/prompts.yaml"


def config_record(args, loaded: LoadedSet, affordance: str) -> dict:
    return {"file": loaded.label, "mode": args.mode, "affordance": affordance, "scorer": args.scorer,
            "model": args.model or "embedded SmolLM2-135M-Instruct", "score": args.score,
            "max_steps": args.max_steps, "prompts": prompt_label(args),
            "adapter": args.adapter, "retrieved_examples": args.examples,
            "example_bank": args.example_bank or "config/examples/*.yaml",
            "notes": loaded.notes, "time": time.strftime("%Y-%m-%d %H:%M:%S")}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _main(args)
    except SayCanError as exc:
        print(f"saycan eval: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("saycan eval: interrupted", file=sys.stderr)
        return 130


def _main(args) -> int:
    if args.file and args.reference_tsv is not None:
        raise ConfigError("give either an episode FILE or --reference-tsv, not both")
    if args.max_steps < 1:
        raise ConfigError("--max-steps must be at least 1")
    if not 0.0 < args.failure_penalty <= 1.0:
        raise ConfigError(f"--failure-penalty must be in (0, 1], got {args.failure_penalty}")
    if not 0.05 <= args.real_time_factor <= 20.0:
        raise ConfigError(f"--real-time-factor must be within [0.05, 20], got {args.real_time_factor}")
    if args.sim_time_limit <= 0 or args.timeout <= 0:
        raise ConfigError("--sim-time-limit and --timeout must be positive")
    if args.fault_seed < 0:
        raise ConfigError(f"--fault-seed must be 0 or more, got {args.fault_seed}")
    if args.mode == "exec" and args.moved_after_find:
        raise ConfigError("--moved-after-find is a plan-mode fault; exec mode injects --grasp-slip in the simulator")
    kitchen = load_kitchen(args.kitchen)
    loaded = load_set(args, kitchen)
    episodes = select(loaded.episodes, args)
    if args.no_affordance:
        affordance = "none"
    else:
        affordance = args.affordance or ("symbolic" if args.mode == "plan" else "graph")
    out_dir = Path(args.out) if args.out else Path("runs") / time.strftime("eval-%Y%m%d-%H%M%S")
    out_dir.mkdir(parents=True, exist_ok=True)
    progress = None if args.quiet else print_progress
    library = SkillLibrary.from_kitchen(kitchen)

    notes = list(loaded.notes)
    ended_early = None
    if args.mode == "plan":
        world_factory = make_world_factory(affordance, kitchen, absence_memory=not args.no_absence_memory,
                                           value_function=args.value_function or None)
        task, scorer = make_task_grounding(args)
        faults = FaultSpec(args.grasp_slip, args.moved_after_find, args.fault_seed)
        if faults.any:
            notes.append(faults.describe() + f"; outcome feedback {args.outcome_feedback}, "
                                              f"failure penalty {args.failure_penalty:g}")
        try:
            results = run_plan_mode(episodes, kitchen, library, task, world_factory,
                                    max_steps=args.max_steps, progress=progress, faults=faults,
                                    outcome_feedback=args.outcome_feedback == "on",
                                    failure_penalty=args.failure_penalty)
        finally:
            scorer.close()
            if hasattr(world_factory, "close"):
                world_factory.close()
    else:
        from saycan_ros.eval.exec_mode import ENDED_EARLY, run_exec_mode

        results, exec_notes = run_exec_mode(episodes, kitchen, args, affordance, out_dir, progress=progress)
        notes += exec_notes
        ended_early = next((n for n in exec_notes if n.startswith(ENDED_EARLY)), None)
        if args.grasp_slip:
            notes.append(f"injected faults: grasp slips p={args.grasp_slip:g} (simulator), seed {args.fault_seed}; "
                         f"outcome feedback {args.outcome_feedback}, failure penalty {args.failure_penalty:g}")
    if args.grasp_slip or args.moved_after_find:  # exec mode refused --moved-after-find above
        notes.append(faults_met_note(results))
    loaded = LoadedSet(loaded.label, loaded.episodes, notes)

    rows = summarize(results, families(episodes))
    title = (f"saycan eval {loaded.label} — mode {args.mode}, affordance {affordance}, "
             f"scorer {args.scorer}{' ' + args.model if args.model else ' (embedded)'}, score {args.score}")
    report = markdown_report(title, rows, results, loaded.notes)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "report.md").write_text(report)
    write_json(out_dir / "results.json", config_record(args, loaded, affordance), rows, results)
    plot = write_plot(out_dir / "success.png", title, rows)
    print()
    print(markdown_table(rows))
    print()
    for note in loaded.notes:
        print(note)
    failures = [r for r in results if not r.success]
    if failures:
        print(f"\nFailures ({len(failures)}):")
        from saycan_ros.eval.report import markdown_failures

        print(markdown_failures(results))
    print(f"\nwrote {out_dir / 'report.md'}, {out_dir / 'results.json'}" + (f", {plot}" if plot else ""))
    print(summary_line(loaded.label, args.mode, rows), flush=True)
    if ended_early:  # the numbers above cover only the episodes that ran
        print(f"saycan eval: error: {ended_early}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
