"""`saycan train affordance`: fit the learned value function (affordance/learned.py) to collected experience.

Binary cross-entropy on success labels, Adam, seeded. A tenth of the start states (grouped by
state: the attempts from one state never straddle the split) is held back to pick the epoch with
the lowest validation loss. Writes value_function.safetensors + value_function.json (the card:
command, seed, data size and seeds, validation metrics) into --out; `affordance_node
model:=learned value_function:=FOLDER` and `saycan eval affordance --model FOLDER` read it.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from saycan_ros.core.errors import ConfigError


def split_by_state(state_seeds: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train index, validation index): `fraction` of the distinct start states go to validation."""
    states = np.unique(state_seeds)
    rng = np.random.default_rng(seed)
    held = set(rng.choice(states, size=max(1, int(round(fraction * len(states)))), replace=False).tolist())
    mask = np.array([s in held for s in state_seeds])
    return np.flatnonzero(~mask), np.flatnonzero(mask)


def train(data_folders: Sequence[str], out: Path, seed: int = 0, epochs: int = 40, batch_size: int = 64,
          lr: float = 2e-3, width: int = 32, threads: int = 0, command: str = "", embeddings=None,
          kitchen: str | None = None) -> dict:
    """Train, write the value function and its card into `out`, return the card. `embeddings`: a
    TextEmbeddings (default: all-MiniLM-L6-v2)."""
    import torch
    from tqdm import tqdm

    from saycan_ros.affordance.learned import TextEmbeddings, build_network, predict, save_value_function
    from saycan_ros.core.metrics import brier, roc_auc
    from saycan_ros.training.experience import collection_seeds, load_experience

    if epochs < 1 or batch_size < 1 or lr <= 0:
        raise ConfigError("--epochs and --batch-size must be at least 1 and --lr positive")
    if threads:
        torch.set_num_threads(threads)
    data = load_experience(data_folders)
    if len(set(data.label.tolist())) < 2:
        raise ConfigError("the experience holds only one outcome: collect more attempts")
    if len(np.unique(data.state_seed)) < 10:
        raise ConfigError(f"the experience holds only {len(np.unique(data.state_seed))} start states: collect more "
                          "(a tenth of them is held back for validation)")
    train_idx, val_idx = split_by_state(data.state_seed, 0.1, seed)
    embeddings = embeddings or TextEmbeddings()
    from saycan_ros.core.kitchen import load_kitchen
    from saycan_ros.core.skills import SkillLibrary

    embeddings(SkillLibrary.from_kitchen(load_kitchen(kitchen)).texts)  # shipped with the model: no encoder at run time
    texts = embeddings([str(s) for s in data.skill])
    torch.manual_seed(seed)
    network = build_network(texts.shape[1], width)
    optimizer = torch.optim.Adam(network.parameters(), lr=lr, weight_decay=1e-4)
    images = torch.as_tensor(data.image.astype(np.float32))
    states, text_t = torch.as_tensor(data.state), torch.as_tensor(texts)
    labels = torch.as_tensor(data.label.astype(np.float32))
    loss_fn = torch.nn.BCEWithLogitsLoss()
    rng = np.random.default_rng(seed)
    best, best_state, best_epoch, history = float("inf"), None, 0, []
    started = time.perf_counter()
    bar = tqdm(range(epochs), desc="train affordance", unit="epoch", dynamic_ncols=True, file=sys.stderr)
    for epoch in bar:
        network.train()
        order = rng.permutation(train_idx)
        total = 0.0
        for i in range(0, len(order), batch_size):
            b = torch.as_tensor(order[i:i + batch_size])
            loss = loss_fn(network(images[b], states[b], text_t[b]), labels[b])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(b)
        network.eval()
        with torch.inference_mode():
            val_logits = network(images[val_idx], states[val_idx], text_t[val_idx])
            val_loss = loss_fn(val_logits, labels[val_idx]).item()
        history.append((total / len(train_idx), val_loss))
        bar.set_postfix(train=f"{history[-1][0]:.3f}", val=f"{val_loss:.3f}")
        if val_loss < best:
            best, best_state = val_loss, {k: v.clone() for k, v in network.state_dict().items()}
            best_epoch = epoch + 1
    bar.close()
    if best_state is None:
        raise ConfigError("training diverged (the validation loss was never finite): try a smaller --lr")
    network.load_state_dict(best_state)
    network.eval()
    p = predict(network, data.image[val_idx], data.state[val_idx], texts[val_idx])
    y = data.label[val_idx]
    seeds = collection_seeds(data_folders)
    card = {"command": command, "seed": seed, "epochs": epochs, "best_epoch": best_epoch, "batch_size": batch_size,
            "lr": lr, "width": width, "text_dim": int(texts.shape[1]), "data_attempts": len(data),
            "data_states": int(len(np.unique(data.state_seed))), "data_seeds": seeds,
            "train_attempts": int(len(train_idx)), "validation_attempts": int(len(val_idx)),
            "validation": {"loss": round(best, 4), "auc": round(roc_auc(y, p), 4), "brier": round(brier(y, p), 4)},
            "train_seconds": round(time.perf_counter() - started, 1),
            "parameters": int(sum(v.numel() for v in network.parameters()))}
    save_value_function(out, network, card, embeddings)
    return card


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="saycan train affordance", description=__doc__.split("\n\n")[0])
    parser.add_argument("data", nargs="+", help="experience folder(s) from `saycan collect`")
    parser.add_argument("--out", default="runs/affordance", help="folder for the value function and its card")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--width", type=int, default=32, help="channels of the network")
    parser.add_argument("--kitchen", default=None, help="kitchen file whose skill texts are embedded with the model")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = parser.parse_args(argv)
    card = train(args.data, Path(args.out), args.seed, args.epochs, args.batch_size, args.lr, args.width,
                 args.threads, command="saycan train affordance " + " ".join(argv), kitchen=args.kitchen)
    v = card["validation"]
    print(f"value function: {args.out} ({card['parameters']} parameters, best epoch {card['best_epoch']}/"
          f"{card['epochs']}, {card['train_seconds']} s); validation on {card['validation_attempts']} attempts "
          f"from held-back states: loss {v['loss']}, AUC {v['auc']}, Brier {v['brier']}")
    return 0
