"""The planner's training data: generated from the kitchen, plans checked in the symbolic kitchen,
never an evaluation instruction."""
from __future__ import annotations

from collections import Counter

import pytest

from saycan_ros.core.errors import ConfigError
from saycan_ros.core.kitchen import load_kitchen
from saycan_ros.core.skills import SkillLibrary
from saycan_ros.core.world import initial_state
from saycan_ros.core.prompt import PromptFormat, instruction_key
from saycan_ros.training.plan_data import PlanDataGenerator, PlanExample, load_language, training_texts


@pytest.fixture(scope="module")
def kitchen():
    return load_kitchen()


def assert_unchanged_at_zero(kitchen, language, new_fraction: str, **earlier) -> None:
    """A later version's fraction at 0 generates exactly the earlier version's data."""
    before = PlanDataGenerator(kitchen, language, **earlier).generate(150)
    assert PlanDataGenerator(kitchen, language, **earlier, **{new_fraction: 0.0}).generate(150) == before


def test_examples_are_reproducible_varied_and_plans_of_library_skills(kitchen):
    a = PlanDataGenerator(kitchen, load_language(), seed=3).generate(300)
    b = PlanDataGenerator(kitchen, load_language(), seed=3).generate(300)
    assert a == b and len(a) == 300
    assert a != PlanDataGenerator(kitchen, load_language(), seed=4).generate(300)
    texts = {s.text for s in SkillLibrary.from_kitchen(kitchen)}
    assert all(set(e.steps) <= texts and e.steps[-1] == "done" and "done" not in e.steps[:-1] for e in a)
    assert len({instruction_key(e.instruction) for e in a}) == 300
    tasks = Counter(e.task for e in a)
    assert set(tasks) >= {"deliver", "place", "throw", "go", "held", "two", "sequence", "group"}
    assert max(len(e.steps) for e in a) >= 9  # long horizons are in the data


def test_excluded_instructions_are_never_generated(kitchen):
    first = PlanDataGenerator(kitchen, load_language(), seed=5).generate(200)
    banned = {e.instruction for e in first[:100]}
    again = PlanDataGenerator(kitchen, load_language(), seed=5, exclude=banned).generate(200)
    assert not banned & {e.instruction for e in again}


def test_attribute_references_pick_the_only_matching_object(kitchen):
    gen = PlanDataGenerator(kitchen, load_language(), seed=0)
    state = initial_state(kitchen, {"robot": {"at": "user"},
                                    "objects": {"sea salt chips": "table", "apple": "close counter", "coke can": "table"}})
    refs = {gen._reference("sea salt chips", state) for _ in range(200)}
    assert "something salty" in refs or "a salty snack" in refs
    assert not any("fruit" in r for r in refs)  # the apple's attributes are not the chips'
    refs = {gen._reference("apple", state) for _ in range(200)}
    assert not any("sweet" in r for r in refs)  # the coke is sweet too: not unique


def test_training_text_is_what_the_scorer_sees_at_the_first_step():
    ex = PlanExample("bring me an apple", ("find an apple", "pick up the apple", "done"), "deliver")
    prompt, plan = training_texts(ex)
    assert prompt == "Human: bring me an apple\nRobot: 1."
    assert plan == " find an apple, 2. pick up the apple, 3. done."


def test_failure_recoveries_are_written_as_the_planner_writes_outcome_feedback(kitchen):
    from saycan_ros.core.feedback import failed_step_text

    plain = PlanDataGenerator(kitchen, load_language(), seed=6).generate(200)
    generator = PlanDataGenerator(kitchen, load_language(), seed=6, failure_fraction=0.3)
    mixed = generator.generate(200)
    assert [e.instruction for e in plain] == [e.instruction for e in mixed]  # fraction 0 is version 1's data
    failed = [e for e in mixed if any("(failed:" in s for s in e.steps)]
    assert 0.2 < len(failed) / len(mixed) < 0.4
    library = SkillLibrary.from_kitchen(kitchen)
    seen = set()
    for ex, base in ((e, p) for e, p in zip(mixed, plain) if e in failed):
        i = next(i for i, s in enumerate(ex.steps) if "(failed:" in s)
        skill = library.get(base.steps[i])
        note = ex.steps[i][len(skill.text) + len(" (failed: "):-1]
        assert ex.steps[i] == failed_step_text(skill.text, note)
        # the recovery: the same skill again, after finding the object when it was not in view
        expected = ([generator.skill_text[("find", skill.object)]] if note.startswith("no ") else []) + [skill.text]
        assert list(ex.steps[i + 1:i + 1 + len(expected)]) == expected
        assert ex.steps[i + 1 + len(expected):] == base.steps[i + 1:]  # then the plan goes on as it was
        seen.add(note if not note.startswith("no ") else "not in view")
    assert seen >= {"the grasp failed", "not in view", "could not put it down"}
    with pytest.raises(Exception, match="failure_fraction"):
        PlanDataGenerator(kitchen, load_language(), failure_fraction=1.5)


def test_repeated_failures_fail_the_retry_once_more_and_version_2_data_is_unchanged(kitchen):
    """repeat_fraction: a retry that fails again ('pick (failed), pick (failed), pick'), then the
    plan goes on as it was; repeat_fraction 0 gives exactly version 2's data."""
    language = load_language()
    version2 = PlanDataGenerator(kitchen, language, seed=6, failure_fraction=0.3).generate(200)
    assert PlanDataGenerator(kitchen, language, seed=6, failure_fraction=0.3, repeat_fraction=0.0).generate(200) \
        == version2
    plain = PlanDataGenerator(kitchen, language, seed=6).generate(200)
    generator = PlanDataGenerator(kitchen, language, seed=6, failure_fraction=0.3, repeat_fraction=0.5)
    repeated = generator.generate(200)
    assert [e.instruction for e in repeated] == [e.instruction for e in plain]
    once = twice = 0
    for ex, base in zip(repeated, plain):
        fails = [i for i, s in enumerate(ex.steps) if "(failed:" in s]
        assert len(fails) <= 2
        once += len(fails) == 1
        if len(fails) == 2:
            twice += 1
            first, second = fails
            assert ex.steps[first] == ex.steps[second]  # the same skill, failing the same way
            skill = ex.steps[first].split(" (failed:")[0]
            recovery = list(ex.steps[first + 1:second])  # nothing, or 'find an apple' after 'not in view'
            if recovery:
                assert recovery == [generator.skill_text[("find", generator.library.get(skill).object)]]
            after = second + 1 + len(recovery)
            assert list(ex.steps[second + 1:after]) == recovery and ex.steps[after] == skill
            assert ex.steps[:first] + ex.steps[after:] == base.steps  # then the plan goes on as it was
    assert twice > 10 and 0.3 < twice / (once + twice) < 0.7
    with pytest.raises(Exception, match="repeat_fraction"):
        PlanDataGenerator(kitchen, language, failure_fraction=0.3, repeat_fraction=-0.1)


@pytest.mark.parametrize("text, message", [("- just\n- a list\n", "expected a mapping"),
                                           ("deliver: ['bring me {obj}']\n", "missing")])
def test_a_bad_language_file_gets_a_clear_error(tmp_path, text, message):
    path = tmp_path / "language.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_language(path)


def test_counting_tasks_move_every_object_they_name_and_leave_versions_1_to_3_unchanged(kitchen):
    """Version 4: 'the three apples', 'everything on the table', 'three drinks'. Each plan, run in the
    symbolic kitchen from a start that the test rebuilds, puts exactly the named objects at the
    destination; counted_fraction 0 gives the earlier versions' data."""
    language = load_language()
    assert_unchanged_at_zero(kitchen, language, "counted_fraction", seed=8, failure_fraction=0.3, repeat_fraction=0.35)
    generator = PlanDataGenerator(kitchen, language, seed=8, counted_fraction=0.3)
    examples = generator.generate(400)
    tasks = Counter(e.task for e in examples)
    assert {"several", "at_place", "three_of"} <= set(tasks)
    assert 0.15 < sum(tasks[t] for t in ("several", "at_place", "three_of")) / len(examples) < 0.4
    several = [e for e in examples if e.task == "several"]
    for ex in several:
        moved = [s for s in ex.steps if s.startswith("put down")]
        words = ex.instruction.split()
        count = 2 if "both" in words or "two" in words else 3
        assert "three" in words or count == 2, ex.instruction
        assert len(moved) == count and len(set(moved)) == 1, ex  # the same kind, once per instance
    assert any("both" in e.instruction for e in several) and any("three" in e.instruction for e in several)
    chips = [e for e in several if e.steps[0].endswith("chips")]
    assert chips and all("bags of" in e.instruction for e in chips)  # the language file's plural, not "chipss"
    for ex in (e for e in examples if e.task == "three_of"):
        assert len({s for s in ex.steps if s.startswith("put down")}) == 3, ex  # three different kinds
    assert not any("all two" in e.instruction or ("both" in e.instruction and "three" in e.instruction)
                   for e in examples)


def test_everything_at_a_place_moves_what_is_there_and_nothing_else(kitchen):
    from saycan_ros.core.world import SymbolicRunner

    generator = PlanDataGenerator(kitchen, load_language(), seed=0, counted_fraction=1.0)
    state = initial_state(kitchen, {"robot": {"at": "user"},
                                    "objects": {"apple": "table", "coke can": "table", "sponge": "far counter"}})
    results = set()
    for _ in range(200):
        try:
            text, steps = generator._task_at_place(state)
        except Exception:  # a place with fewer than two objects, or the destination itself
            continue
        runner = SymbolicRunner(kitchen, state)
        for step in steps:
            assert runner.run(generator.library.get(step)).success, (text, steps)
        moved = {n for n, at in runner.state.objects.items() if at != state.objects[n]}
        assert moved == {"apple", "coke can"}, (text, steps)
        results.add(text.split(" on the table")[0] if "on the table" in text else text)
    assert results  # the table is the only place with two objects: each draw that fits moves both


def test_hands_full_tasks_put_the_held_object_down_first_and_leave_versions_1_to_4_unchanged(kitchen):
    """Version 5: the gripper holds something the instruction does not name. The plan puts it down
    where the robot stands (a counter or the table, never the user or the trash), then does the task;
    run in the symbolic kitchen it succeeds and leaves the held object there. Every example records
    the held object, and hands_full_fraction 0 gives the earlier versions' data."""
    from saycan_ros.core.world import SymbolicRunner

    language = load_language()
    assert_unchanged_at_zero(kitchen, language, "hands_full_fraction", seed=9, failure_fraction=0.3,
                             counted_fraction=0.25)
    generator = PlanDataGenerator(kitchen, language, seed=9, hands_full_fraction=0.3)
    examples = generator.generate(300)
    full = [e for e in examples if e.task == "hands_full"]
    assert 0.15 < len(full) / len(examples) < 0.4
    for ex in full:
        assert ex.holding and ex.steps[0] == f"put down the {ex.holding}", ex
        assert all(generator.library.get(s).object != ex.holding for s in ex.steps[1:]), ex
        assert ex.holding not in ex.instruction, ex  # the instruction never names what is held
    held_tasks = [e for e in examples if e.task in ("held", "put_down_here")]
    assert held_tasks and all(e.holding for e in held_tasks)
    assert not any(e.holding for e in examples if e.task not in ("held", "put_down_here", "hands_full"))
    # rebuilt start: the robot at the table holding the apple, the chips on the far counter
    state = initial_state(kitchen, {"robot": {"at": "table", "holding": "apple"},
                                    "objects": {"sea salt chips": "far counter", "coke can": "close counter"}})
    for _ in range(30):
        try:
            text, steps = generator._task_hands_full(state)
        except Exception:  # a draw that names the apple: sampled again in generate()
            continue
        runner = SymbolicRunner(kitchen, state)
        assert all(runner.run(generator.library.get(s)).success for s in steps), (text, steps)
        assert runner.state.objects["apple"] == "table", (text, steps)
    at_user = initial_state(kitchen, {"robot": {"at": "user", "holding": "apple"}, "objects": {"coke can": "table"}})
    with pytest.raises(Exception):  # putting it down at the user would hand it over: not a hands-full start
        generator._task_hands_full(at_user)


def test_plain_held_tasks_name_the_held_object_without_saying_it_is_held(kitchen):
    """Version 6: some held-object instructions name the object plainly ("throw away the orange");
    only the prompt's holding line says it is in the gripper. The plan is unchanged (no find, no
    pick), and plain_held_fraction 0 gives version 5's data."""
    language = load_language()
    assert_unchanged_at_zero(kitchen, language, "plain_held_fraction", seed=9, failure_fraction=0.3,
                             hands_full_fraction=0.2)
    held_words = [w.split(" {")[0] for w in language["held_prefix"]] + language["held_suffix"]
    examples = PlanDataGenerator(kitchen, language, seed=9, plain_held_fraction=0.5).generate(400)
    held = [e for e in examples if e.task == "held"]
    plain = [e for e in held if not any(w in e.instruction for w in held_words)]
    assert 0.3 < len(plain) / len(held) < 0.7
    for ex in plain:
        assert ex.holding and not any(s.startswith(("find", "pick up")) for s in ex.steps), ex
        assert f"put down the {ex.holding}" in ex.steps, ex


def test_the_holding_line_is_in_the_training_text_only_when_the_format_has_one():
    ex = PlanExample("bring me the coke", ("put down the apple", "find a coke can", "done"), "hands_full", "apple")
    assert training_texts(ex)[0] == "Human: bring me the coke\nRobot: 1."
    prompt, plan = training_texts(ex, PromptFormat(holding="The robot is holding the {object}."))
    assert prompt == "Human: bring me the coke\nThe robot is holding the apple.\nRobot: 1."
    assert plan == " put down the apple, 2. find a coke can, 3. done."
