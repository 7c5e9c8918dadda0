"""LoRA adapters for the scoring language model: trained by `saycan train planner`, merged into
the base weights at load time (W += scale * B @ A), so scoring speed and the packed/prefix-cache
paths are exactly those of the base model.

An adapter is a folder: ``adapter.safetensors`` (``<module>.lora_A`` [r, in] and ``.lora_B``
[out, r]), ``adapter.json`` (rank, alpha, target modules, base model, how it was trained) and
``prompt.yaml`` (the prompt it was trained with; the scorer uses it unless told otherwise).
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Iterable

import torch
from torch import nn

from saycan_ros.core.errors import ConfigError
from saycan_ros.core.kitchen import models_dir
from saycan_ros.language.base import ModelLoadError

TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
WEIGHTS, META, PROMPT = "adapter.safetensors", "adapter.json", "prompt.yaml"
PACKAGED = "planner-lora"  # models/<PACKAGED>: the adapter trained for config/kitchen.yaml
# models/<FEEDBACK>: the same, continued on plans with failures written as outcome feedback
# (for planner_node outcome_feedback: true; docs/closed_loop.md)
FEEDBACK = "planner-lora-feedback"
# models/<HOLDING>: the feedback adapter continued on hands-full starts, with the held object in the
# prompt (generator version 5; planner_node sends what the gripper holds). The default ('auto').
HOLDING = "planner-lora-holding"


def resolve_adapter(name: str) -> Path | None:
    """'' or 'none' -> None; 'packaged' -> models/planner-lora (None if that was never trained
    into this checkout); 'feedback' -> models/planner-lora-feedback; 'holding' ->
    models/planner-lora-holding; else a folder path. Resolve
    'auto' with base.effective_adapter first."""
    name = name.strip()
    if name in ("", "none"):
        return None
    if name == "packaged" and not (models_dir() / PACKAGED / WEIGHTS).is_file():
        return None
    named = {"packaged": PACKAGED, "feedback": FEEDBACK, "holding": HOLDING}
    path = models_dir() / named[name] if name in named else Path(name).expanduser()
    if not (path / WEIGHTS).is_file() or not (path / META).is_file():
        raise ModelLoadError(f"no LoRA adapter at {path} (it needs {WEIGHTS} and {META}; "
                             "`saycan train planner` makes one)")
    return path


def adapter_prompt_file(name: str) -> Path | None:
    """The prompt file an adapter was trained with (None without an adapter: the default prompt)."""
    folder = resolve_adapter(name)
    return folder / PROMPT if folder is not None and (folder / PROMPT).is_file() else None


class LoRALinear(nn.Module):
    """A frozen linear layer plus a trainable low-rank update: y = W x + (alpha/r) B A x."""

    def __init__(self, base: nn.Linear, rank: int, alpha: float):
        super().__init__()
        self.base, self.rank, self.scale = base, rank, alpha / rank
        self.lora_A = nn.Parameter(torch.empty(rank, base.in_features))
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, rank))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) + (x @ self.lora_A.t() @ self.lora_B.t()) * self.scale


def target_modules(model: nn.Module, targets: Iterable[str] = TARGETS) -> list[tuple[str, nn.Module, str]]:
    """(qualified name, parent module, attribute) of every nn.Linear whose name ends in a target."""
    wanted = set(targets)
    found = []
    for name, module in model.named_modules():
        for attr, child in module.named_children():
            if attr in wanted and isinstance(child, nn.Linear):
                found.append((f"{name}.{attr}" if name else attr, module, attr))
    return found


def inject_lora(model: nn.Module, rank: int, alpha: float, targets: Iterable[str] = TARGETS) -> dict[str, LoRALinear]:
    """Freeze the model and wrap the target linears with trainable LoRA layers."""
    for p in model.parameters():
        p.requires_grad_(False)
    wrapped = {}
    for name, parent, attr in target_modules(model, targets):
        layer = LoRALinear(getattr(parent, attr), rank, alpha)
        setattr(parent, attr, layer)
        wrapped[name] = layer
    if not wrapped:
        raise ConfigError(f"the model has no linear layers named {', '.join(targets)}")
    return wrapped


def lora_state(wrapped: dict[str, LoRALinear]) -> dict[str, torch.Tensor]:
    return {f"{n}.{k}": getattr(m, k).detach().clone() for n, m in wrapped.items() for k in ("lora_A", "lora_B")}


@torch.no_grad()
def load_lora_weights(wrapped: dict[str, LoRALinear], folder: Path, rank: int) -> None:
    """Copy a saved adapter's A/B matrices into freshly injected LoRA layers (to continue training)."""
    from safetensors.torch import load_file

    meta = read_meta(folder)
    if int(meta.get("rank", -1)) != rank:
        raise ModelLoadError(f"adapter {folder} has rank {meta.get('rank')}; training asked for rank {rank}")
    try:
        tensors = load_file(str(folder / WEIGHTS))
    except OSError as exc:
        raise ModelLoadError(f"cannot read the adapter in {folder}: {exc}") from None
    missing = [n for n in wrapped if f"{n}.lora_A" not in tensors]
    if missing:
        raise ModelLoadError(f"adapter {folder} lacks layers {missing[:3]}")
    for name, m in wrapped.items():
        m.lora_A.copy_(tensors[f"{name}.lora_A"].to(m.lora_A.dtype))
        m.lora_B.copy_(tensors[f"{name}.lora_B"].to(m.lora_B.dtype))


def save_adapter(folder: Path, wrapped: dict[str, LoRALinear], meta: dict[str, Any], prompt_yaml: str) -> None:
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.to(torch.float16).contiguous() for k, v in lora_state(wrapped).items()}
    save_file(tensors, str(folder / WEIGHTS))
    (folder / META).write_text(json.dumps(meta, indent=2) + "\n")
    (folder / PROMPT).write_text(prompt_yaml)


def read_meta(folder: Path) -> dict[str, Any]:
    try:
        return json.loads((folder / META).read_text())
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"unreadable adapter description {folder / META}: {exc}") from None


@torch.no_grad()
def merge_adapter(model: nn.Module, folder: Path) -> dict[str, Any]:
    """Add the adapter's low-rank updates into the model's linear weights; returns its metadata."""
    from safetensors.torch import load_file

    meta = read_meta(folder)
    try:
        tensors = load_file(str(folder / WEIGHTS))
        scale = float(meta["alpha"]) / int(meta["rank"])
    except (OSError, KeyError, ValueError) as exc:
        raise ModelLoadError(f"cannot read the adapter in {folder}: {exc}") from None
    modules = {name: getattr(parent, attr) for name, parent, attr in target_modules(model, meta.get("targets", TARGETS))}
    names = {k.rsplit(".", 1)[0] for k in tensors}
    missing = sorted(names - set(modules))
    if missing or not names:
        raise ModelLoadError(f"adapter {folder} does not fit this model (no layer {missing[:3]}); "
                             f"it was trained on {meta.get('base_model', '?')}")
    for name in names:
        weight = modules[name].weight
        a, b = tensors[f"{name}.lora_A"].float(), tensors[f"{name}.lora_B"].float()
        if (b.shape[0], a.shape[1]) != tuple(weight.shape):
            raise ModelLoadError(f"adapter {folder}: layer {name} has shape {tuple(weight.shape)}, "
                                 f"the adapter {(b.shape[0], a.shape[1])}")
        weight += (scale * (b @ a)).to(weight.dtype).to(weight.device)
    return meta
