"""Retrieved few-shot examples: the prompt builder with a selector, the example bank files, and
nearest-neighbour selection with the real embedded sentence-embedding model."""
from __future__ import annotations

from pathlib import Path

import pytest

from saycan_ros.core.errors import ConfigError
from saycan_ros.core.kitchen import config_dir, load_kitchen
from saycan_ros.core.prompt import PromptBuilder, PromptExample, normalize_instruction, read_example_bank
from saycan_ros.core.skills import SkillLibrary
from saycan_ros.eval.episodes import load_episodes

BANK = [
    PromptExample("bring me the lime soda", ("find a lime soda", "pick up the lime soda", "bring it to you",
                                              "put down the lime soda", "done")),
    PromptExample("throw away the sponge", ("find a sponge", "pick up the sponge", "go to the trash can",
                                             "put down the sponge", "done")),
    PromptExample("go to the far counter", ("go to the far counter", "done")),
]


class FirstWordSelector:
    """Test fake of an ExampleSelector: the bank examples sharing the instruction's first word."""

    def __init__(self):
        self.calls = 0

    def select(self, instruction):
        self.calls += 1
        return [e for e in BANK if e.instruction.split()[0] == instruction.split()[0]]


def test_a_selector_chooses_the_examples_per_instruction_and_keeps_them_for_every_step():
    selector = FirstWordSelector()
    prompt = PromptBuilder("Robot: hi.", [BANK[2]], selector=selector)
    step1 = prompt.build("throw away the apple", [])
    step2 = prompt.build("throw away the apple", ["find an apple"])
    assert "Human: throw away the sponge" in step1 and "lime soda" not in step1
    assert step2.startswith(step1.rsplit("\n", 2)[0])  # same head: the scorer's prefix cache holds
    assert selector.calls == 1
    other = prompt.build("bring me an orange", [])
    assert "Human: bring me the lime soda" in other and "sponge" not in other
    fixed = PromptBuilder("Robot: hi.", [BANK[2]]).build("throw away the apple", [])
    assert "Human: go to the far counter" in fixed and "sponge" not in fixed


def test_a_bad_bank_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "bank.yaml"
    bad.write_text("examples:\n  - {instruction: hi}\n")
    with pytest.raises(ConfigError, match="bank.yaml.*'steps'"):
        read_example_bank(bad)


def bank_files() -> list[Path]:
    return sorted((config_dir() / "examples").glob("*.yaml"))


def test_every_bank_example_is_a_plan_of_library_skills_ending_in_done():
    texts = {s.text for s in SkillLibrary.from_kitchen(load_kitchen())}
    examples = [e for f in bank_files() for e in read_example_bank(f)]
    assert len(examples) >= 150
    bad = [(e.instruction, s) for e in examples for s in e.steps if s not in texts]
    assert bad == []
    assert all(e.steps[-1] == "done" for e in examples)


def test_no_evaluation_instruction_is_in_the_example_bank():
    """The rule that keeps the numbers honest: dev and held-out instructions never serve as examples."""
    def key(text):
        return " ".join(normalize_instruction(text).lower().strip(".?!").split())

    bank = {key(e.instruction) for f in bank_files() for e in read_example_bank(f)}
    evaluated = [e for path in sorted((config_dir() / "eval").glob("*.yaml"))
                 for e in load_episodes(path, load_kitchen())]
    assert len(evaluated) >= 120
    assert [e.id for e in evaluated if key(e.instruction) in bank] == []


@pytest.fixture(scope="module")
def embedder():
    from saycan_ros.language.retrieval import SentenceEmbedder

    return SentenceEmbedder()


def test_nearest_examples_come_last_and_leave_one_out_drops_the_query(embedder):
    from saycan_ros.language.retrieval import NearestExamples

    selector = NearestExamples(BANK, embedder, k=2)
    chosen = selector.select("could you fetch me a lime soda")
    assert [e.instruction for e in chosen][-1] == "bring me the lime soda" and len(chosen) == 2
    assert selector.select("toss the sponge in the bin")[-1].instruction == "throw away the sponge"
    loo = NearestExamples(BANK, embedder, k=3, leave_one_out=True)
    assert "Throw away  the sponge" not in [e.instruction for e in loo.select("Throw away  the sponge")]
    assert [e.instruction for e in loo.select("throw away the sponge")] == [
        e.instruction for e in NearestExamples(BANK, embedder, k=3).select("throw away the sponge")][:2]


def test_embeddings_are_unit_length_and_similar_sentences_are_closer(embedder):
    import numpy as np

    v = embedder.embed(["bring me a coke", "could you get me a coke can", "go to the far counter"])
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert v[0] @ v[1] > v[0] @ v[2] + 0.2


def test_the_selector_factory_reads_the_bank_and_refuses_missing_files(tmp_path):
    from saycan_ros.language.retrieval import make_example_selector

    assert make_example_selector(0) is None
    with pytest.raises(ConfigError, match="not found"):
        make_example_selector(4, [tmp_path / "nope.yaml"])
    bank = tmp_path / "bank.yaml"
    bank.write_text("examples:\n  - {instruction: go to the table, steps: [go to the table, done]}\n")
    selector = make_example_selector(3, [bank])
    assert [e.instruction for e in selector.select("head to the table")] == ["go to the table"]
