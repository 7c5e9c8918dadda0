"""LoRA adapters: the merged model computes what the LoRA-wrapped one does, adapters round-trip
through their files, a bad adapter is a clear error, and `saycan train planner` trains one
(a few steps on tiny generated data: the loss falls, it resumes, the scorer loads the result)."""
from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from saycan_ros.language.adapter import (PROMPT, WEIGHTS, adapter_prompt_file, inject_lora, merge_adapter, resolve_adapter,
                                        save_adapter)
from saycan_ros.language.base import ModelLoadError, ScorerConfig, effective_adapter


class TinyBlock(nn.Module):
    """A stand-in with a transformer layer's linear names (not a language model)."""

    def __init__(self):
        super().__init__()
        self.q_proj, self.down_proj, self.other = nn.Linear(6, 4), nn.Linear(4, 6), nn.Linear(6, 6)

    def forward(self, x):
        return self.other(self.down_proj(torch.relu(self.q_proj(x))))


def test_merged_weights_compute_what_the_lora_layers_do(tmp_path):
    torch.manual_seed(0)
    model, x = TinyBlock(), torch.randn(3, 6)
    before = model(x).detach()
    wrapped = inject_lora(model, rank=2, alpha=4.0)
    assert set(wrapped) == {"q_proj", "down_proj"}  # only target names, never 'other'
    assert torch.allclose(model(x), before)  # B starts at zero: no change until trained
    for layer in wrapped.values():
        nn.init.normal_(layer.lora_B, std=0.5)
    adapted = model(x).detach()
    assert not torch.allclose(adapted, before, atol=1e-3)
    save_adapter(tmp_path, wrapped, {"rank": 2, "alpha": 4.0, "targets": ["q_proj", "down_proj"]}, "preamble: ''\n")
    fresh = TinyBlock()
    fresh.load_state_dict({k.replace(".base", ""): v for k, v in model.state_dict().items() if "lora" not in k})
    merge_adapter(fresh, tmp_path)
    assert torch.allclose(fresh(x), adapted, atol=2e-3)  # fp16 storage of A and B
    assert (tmp_path / PROMPT).read_text() == "preamble: ''\n"


def test_an_adapter_that_does_not_fit_is_a_clear_error(tmp_path):
    wrapped = inject_lora(TinyBlock(), rank=2, alpha=2.0)
    save_adapter(tmp_path, wrapped, {"rank": 2, "alpha": 2.0, "base_model": "tiny"}, "")
    with pytest.raises(ModelLoadError, match="does not fit this model"):
        merge_adapter(nn.Sequential(nn.Linear(2, 2)), tmp_path)
    with pytest.raises(ModelLoadError, match="no LoRA adapter"):
        resolve_adapter(str(tmp_path / "missing"))
    assert resolve_adapter("none") is None
    # the packaged adapters by name, each with the prompt it was trained with
    assert resolve_adapter("packaged").name == "planner-lora" and resolve_adapter("feedback").name == "planner-lora-feedback"
    feedback = json.loads((resolve_adapter("feedback") / "adapter.json").read_text())
    assert feedback["generator_version"] == 3 and feedback["repeat_fraction"] > 0  # trained on repeated failures too
    holding = resolve_adapter("holding")
    assert holding.name == "planner-lora-holding" and json.loads((holding / "adapter.json").read_text())[
        "generator_version"] == 5
    assert "holding: " in adapter_prompt_file("holding").read_text()  # its prompt shows what the robot holds
    assert "holding" not in adapter_prompt_file("feedback").read_text()


def test_auto_means_the_holding_adapter_only_for_the_embedded_model():
    assert effective_adapter(ScorerConfig()) == "holding"
    assert effective_adapter(ScorerConfig(model="/some/other/model")) == "none"
    assert effective_adapter(ScorerConfig(backend="openai")) == "none"
    with pytest.raises(Exception, match="need backend transformers"):
        ScorerConfig(backend="openai", adapter="packaged").validate()


def test_train_planner_lowers_the_loss_resumes_and_its_adapter_loads(tmp_path, capsys):
    from saycan_ros.language.factory import make_scorer
    from saycan_ros.training.planner_training import main

    out = tmp_path / "adapter"
    common = ["--examples", "8", "--batch-size", "8", "--epochs", "4", "--lr", "3e-3", "--rank", "4",
              "--threads", "2", "--out", str(out)]
    assert main(common + ["--max-steps", "2"]) == 0
    assert main(common) == 0
    printed = capsys.readouterr().out
    assert "resuming from" in printed and "at step 2/4" in printed
    state = torch.load(out / "checkpoint.pt", weights_only=False)
    losses = state["losses"]
    assert len(losses) == 4 and losses[-1] < losses[0]  # the same batch four times: it learns
    # it starts from the plain base model (~1.5 on plan tokens), not on top of the packaged adapter
    # (~0.05 on the same kind of data), or a retrained adapter would stack on the old one
    assert losses[0] > 0.5
    meta = json.loads((out / "adapter.json").read_text())
    assert meta["rank"] == 4 and meta["steps"] == 4 and meta["seed"] == 0
    assert (out / WEIGHTS).stat().st_size < 10_000_000
    scorer = make_scorer(ScorerConfig(adapter=str(out), threads=2))
    try:
        scores = scorer.score("Human: bring me an apple\nRobot: 1.", ["find an apple", "go to the table"])
    finally:
        scorer.close()
    assert all(s.sum_logprob < 0 for s in scores)

    # continuing from the adapter (--init-adapter) starts where it ended, not at the base model's loss
    more = common[:-1] + [str(tmp_path / "continued"), "--init-adapter", str(out), "--max-steps", "1",
                          "--failure-fraction", "0.5"]
    assert main(more) == 0
    continued = torch.load(tmp_path / "continued" / "checkpoint.pt", weights_only=False)["losses"]
    assert continued[0] < 0.5 * losses[0]
    assert json.loads((tmp_path / "continued" / "adapter.json").read_text())["generator_version"] == 2
    assert main(more[:-4] + ["--rank", "8", "--fresh"]) == 2  # another rank: a clear error


@pytest.mark.parametrize("flags, version", [([], 1), (["--failure-fraction", "0.3"], 2),
                                            (["--failure-fraction", "0.3", "--repeat-fraction", "0.35"], 3),
                                            (["--counted-fraction", "0.25"], 4),
                                            (["--failure-fraction", "0.3", "--counted-fraction", "0.25"], 4),
                                            (["--counted-fraction", "0.25", "--hands-full-fraction", "0.2"], 5),
                                            (["--hands-full-fraction", "0.2", "--plain-held-fraction", "0.3"], 6)])
def test_the_adapter_card_records_the_generator_version_its_flags_select(flags, version):
    from saycan_ros.training.planner_training import build_parser, data_version

    assert data_version(build_parser().parse_args(flags)) == version
