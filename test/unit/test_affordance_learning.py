"""Learned value functions, pure layer: experience collection, encoding, training, evaluation metrics.

Collection runs the real skill state machines on the PyBullet kitchen (a few attempts); training
runs on tiny data. The text embedder is faked in the training tests (`HashEmbedder`: a fixed
random vector per text, so no transformer loads); everything else is the product's code.
"""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from saycan_ros.affordance.learned import (IMAGE_SIZE, STATE_DIM, TextEmbeddings, build_network, encode_observation,
                                           load_value_function, predict, save_value_function)
from saycan_ros.affordance.perception_model import PerceptionAffordance, PerceptionObservation
from saycan_ros.core.errors import ConfigError
from saycan_ros.core.kitchen import load_kitchen
from saycan_ros.core.robot_geometry import load_robot_geometry
from saycan_ros.core.skills import SkillLibrary
from saycan_ros.perception.robot_adapter import perception_geometry
from saycan_ros.sim.kitchen_world import KitchenWorld
from saycan_ros.training import experience
from saycan_ros.training.affordance_eval import (brier, feature_cell, format_table, lookup_bound, reliability, roc_auc,
                                                score_table, summary_line)
from saycan_ros.training.affordance_training import split_by_state, train

KITCHEN = load_kitchen()
ROBOT = load_robot_geometry()
GEOM = perception_geometry(ROBOT)
LIBRARY = SkillLibrary.from_kitchen(KITCHEN)


class HashEmbedder:
    """Fake sentence embedder: a fixed pseudo-random unit vector per text (no model loads)."""

    def embed(self, texts):
        out = []
        for t in texts:
            v = np.random.default_rng(abs(hash(t)) % 2**32).normal(size=384).astype(np.float32)
            out.append(v / np.linalg.norm(v))
        return np.stack(out)


# ------------------------------------------------------------------------------------ metrics
def test_roc_auc_matches_the_pairwise_definition():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    s = np.round(rng.random(200), 1)  # many ties
    pos, neg = s[y == 1], s[y == 0]
    pairs = np.mean([(p > n) + 0.5 * (p == n) for p in pos for n in neg])
    assert roc_auc(y, s) == pytest.approx(pairs)
    assert roc_auc([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]) == 1.0
    assert roc_auc([0, 0, 1, 1], [0.9, 0.8, 0.2, 0.1]) == 0.0
    assert math.isnan(roc_auc([1, 1], [0.2, 0.3]))


def test_brier_and_reliability():
    assert brier([1, 0], [1.0, 0.0]) == 0.0
    assert brier([1, 0], [0.5, 0.5]) == pytest.approx(0.25)
    bins = reliability(np.array([0, 1, 1, 1]), np.array([0.05, 0.95, 0.92, 0.98]))
    assert bins == [(pytest.approx(0.05), 0.0, 1), (pytest.approx(0.95), 1.0, 3)]


def test_score_table_and_the_machine_readable_line():
    labels = np.array([1, 0, 1, 0, 1, 0])
    kinds = np.array(["pick", "pick", "go_to", "go_to", "find", "find"])
    learned = np.array([0.9, 0.1, 0.8, 0.3, 0.6, 0.4])
    baseline = np.array([0.5, 0.5, 0.9, 0.9, 0.9, 0.9])
    table = score_table(labels, kinds, learned, baseline)
    assert table["all"].auc == 1.0 and table["all"].baseline_auc == 0.5
    line = summary_line(table)
    assert line.startswith("affordance n=6 auc=1.000 brier=")
    assert "auc_min_kind=1.000 baseline_auc=0.500" in line


def test_the_lookup_bound_ranks_by_what_the_features_say_and_no_better():
    from saycan_ros.affordance.features import AffordanceFeatures, features_to_json

    def cell(skill, **features):
        return feature_cell(json.dumps(features_to_json(AffordanceFeatures(**features))), skill, LIBRARY)

    in_view = cell("find an apple", robot_at="table", holding=None, visible={"apple": 1.2})
    unsearched = cell("find an apple", robot_at=None, holding="orange", searched=0.3)
    assert in_view == ("find", True, False, "none", False, False, "elsewhere", 0)
    assert unsearched == ("find", False, False, "other", False, False, "none", 1)
    assert cell("put down the apple", robot_at="table", holding="apple#2")[3] == "it"
    # labels the cells decide: the bound ranks perfectly; labels the cells cannot tell apart: chance
    assert lookup_bound(np.array([1, 1, 0, 0]), [in_view, in_view, unsearched, unsearched]) == 1.0
    assert lookup_bound(np.array([1, 0, 1, 0]), [in_view, in_view, unsearched, unsearched]) == 0.5
    # a coin-toss cell among decided ones: between
    mixed = lookup_bound(np.array([1, 1, 1, 0, 0, 0]), [in_view, in_view, unsearched, unsearched, "x", "x"])
    assert 0.5 < mixed < 1.0
    table = score_table(np.array([1, 1, 0, 0]), np.array(["find"] * 4), np.array([0.9, 0.6, 0.7, 0.1]),
                        np.full(4, 0.9), [in_view, in_view, unsearched, unsearched])
    assert table["find"].lookup_auc == 1.0 and table["find"].auc == 0.75
    assert "lookup bound" in format_table(table)


# ------------------------------------------------------------------------------------ labels
def _state(robot_location, held=None, objects=None):
    return {"robot_location": robot_location, "held_object": held, "objects": objects or {}}


def test_labels_count_effects_not_no_ops():
    go = LIBRARY.get("go to the table")
    assert experience.judge(go, _state("user"), _state("table"), True, False, False)
    assert not experience.judge(go, _state("table"), _state("table"), True, False, False)  # already there
    assert not experience.judge(go, _state("user"), _state(None), False, False, False)
    pick = LIBRARY.get("pick up the apple")
    assert experience.judge(pick, _state("table"), _state("table", "apple#2"), True, False, False)
    assert not experience.judge(pick, _state("table"), _state("table", "orange"), True, False, False)
    # already holding the apple: the executor refuses; no progress
    assert not experience.judge(pick, _state("table", "apple"), _state("table", "apple"), False, False, False)
    place = LIBRARY.get("put down the apple")
    on_table = {"apple": {"location": "table"}}
    assert experience.judge(place, _state("table", "apple"), _state("table", None, on_table), True, False, False)
    assert not experience.judge(place, _state("table", "orange"), _state("table", None, {"orange": {"location": "table"}}),
                                True, False, False)  # put down, but not the apple
    assert not experience.judge(place, _state("table", "apple"), _state("table", None, {"apple": {"location": None}}),
                                True, False, False)  # dropped on the floor
    find = LIBRARY.get("find a apple") if "find a apple" in LIBRARY else LIBRARY.get("find an apple")
    here = {"apple": {"location": "table"}}
    assert experience.judge(find, _state("user", None, here), _state("table", None, here), True, False, True)
    assert not experience.judge(find, _state("table", None, here), _state("table", None, here), True, True, True)
    bring = LIBRARY.get("bring it to you")
    assert experience.judge(bring, _state("table", "apple"), _state("user", "apple"), True, False, False)
    assert not experience.judge(bring, _state("table", "apple"), _state("user", None), True, False, False)


def test_random_states_are_valid_and_seeded():
    with KitchenWorld(KITCHEN, ROBOT, {}) as world:
        free = lambda x, y: not world._footprint_hits(x, y)  # noqa: E731
        a = [experience.random_start_state(KITCHEN, np.random.default_rng(s), s, free) for s in range(30)]
        b = [experience.random_start_state(KITCHEN, np.random.default_rng(s), s, free) for s in range(30)]
        assert a == b
        for state in a:
            world.reset(state.scene, seed=state.seed, start_pose=state.start_pose, holding=state.holding)
            assert free(*state.start_pose[:2])
        assert any(s.holding for s in a) and any(not s.holding for s in a)
        assert any("#" in name for s in a for name in s.scene)  # several of a kind happen
        rng = np.random.default_rng(1)
        chosen = experience.choose_skills(LIBRARY, a[0], [], None, rng, n=4)
        assert len(chosen) == 4 and len({s.text for s in chosen}) == 4 and not any(s.is_done for s in chosen)


def test_collect_writes_shards_that_resume_and_agree_with_outcomes(tmp_path):
    written = experience.collect(tmp_path, attempts=6, seed=3, workers=1, shard_size=6)
    assert written == 6
    data = experience.load_experience([tmp_path])
    assert len(data) == 6
    assert data.image.shape == (6, 4, IMAGE_SIZE[1], IMAGE_SIZE[0]) and data.state.shape == (6, STATE_DIM)
    with np.load(tmp_path / "shard-00000.npz") as shard:
        codes = shard["code"]
    for label, code in zip(data.label, codes):
        assert code == "NONE" or label == 0  # a skill the executor failed never counts as a success
    assert experience.collect(tmp_path, attempts=6, seed=3, workers=1, shard_size=6) == 0  # resumed: all there
    with pytest.raises(ConfigError, match="other settings"):
        experience.collect(tmp_path, attempts=6, seed=4, workers=1, shard_size=6)


def test_collected_features_carry_the_search_memory_as_the_node_builds_it(tmp_path):
    """Earlier looks go through the same PerceptionAffordance.update as in affordance_node: the
    current place counts as looked at, and what the current frame shows counts as seen."""
    experience.collect_shard(0, 13, 24, str(tmp_path), (320, 240))  # a seed whose 24 attempts have both
    data = experience.load_experience([tmp_path])
    features = [json.loads(f) for f in data.features]
    for f in features:
        assert set(f["visible"]) <= set(f["seen"])
    assert any(f["searched"] > 0 for f in features) and any(f["searched"] == 0 for f in features)


def test_collect_shard_keeps_the_attempts_done_before_ctrl_c(tmp_path, monkeypatch):
    from saycan_ros.training import sim_skills

    calls = {"n": 0}
    real_run = sim_skills.SimSkillLoop.run

    def interrupted(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real_run(self, *args, **kwargs)

    monkeypatch.setattr(sim_skills.SimSkillLoop, "run", interrupted)
    assert experience.collect_shard(0, 5, 10, str(tmp_path), (320, 240)) == 2
    assert len(experience.load_experience([tmp_path])) == 2


def test_load_experience_errors_are_clear(tmp_path):
    with pytest.raises(ConfigError, match="saycan collect"):
        experience.load_experience([tmp_path])
    (tmp_path / "shard-00000.npz").write_bytes(b"not a zip")
    with pytest.raises(ConfigError, match="cannot read"):
        experience.load_experience([tmp_path])


# ------------------------------------------------------------------------------------ encoding
def _observation(world):
    _, depth, seg = world.render()
    return PerceptionObservation(seg, depth, world.camera, world.joint_positions(), world.base_pose())


def test_encoding_marks_the_skills_object_and_the_target_place():
    pose = KITCHEN.locations["close counter"].pose
    with KitchenWorld(KITCHEN, ROBOT, {"apple": "close counter", "sponge": "close counter"}, start_pose=pose) as world:
        obs = _observation(world)
        perception = PerceptionAffordance(KITCHEN, geometry=GEOM)
        perception.update(obs)
        features = perception.current_features()
        apple, _ = encode_observation(obs, LIBRARY.get("pick up the apple"), KITCHEN, GEOM, features)
        banana, _ = encode_observation(obs, LIBRARY.get("pick up the banana"), KITCHEN, GEOM, features)
        assert apple[0].sum() > 1.0 and banana[0].sum() == 0.0  # the apple is in view, no banana
        assert banana[1].sum() > apple[1].sum()  # for the banana skill the apple is "another object"
        _, here = encode_observation(obs, LIBRARY.get("go to the close counter"), KITCHEN, GEOM, features)
        _, far = encode_observation(obs, LIBRARY.get("go to the far counter"), KITCHEN, GEOM, features)
        kinds = 5
        assert here[kinds + 12] == 1.0 and far[kinds + 12] == 0.0  # robot_at == target place
        assert far[kinds + 8] > here[kinds + 8]  # distance to the target place


# ------------------------------------------------------------------------------------ training
def _synthetic(tmp_path, n=240, seed=0):
    """Shards whose label is 'the target object is in view' (image channel 0): learnable from the image."""
    rng = np.random.default_rng(seed)
    image = np.zeros((n, 4, IMAGE_SIZE[1], IMAGE_SIZE[0]), np.float16)
    label = rng.integers(0, 2, n).astype(np.uint8)
    for i in np.flatnonzero(label):
        y, x = rng.integers(5, 40), rng.integers(5, 55)
        image[i, 0, y:y + 4, x:x + 4] = 1.0
    image[:, 2] = 0.5
    texts = np.array([s.text for s in LIBRARY if s.kind == "pick"])[rng.integers(0, 10, n)]
    features = [json.dumps({"robot_at": None, "holding": None, "visible": {}, "reachable": []})] * n
    np.savez(tmp_path / "shard-00000.npz", image=image, state=np.zeros((n, STATE_DIM), np.float32), skill=texts,
             kind=np.array(["pick"] * n), label=label, code=np.array(["NONE"] * n), features=np.array(features),
             state_seed=np.arange(n) // 2, sim_seconds=np.zeros(n, np.float32),
             encoder_version=np.asarray(experience_encoder_version()))
    (tmp_path / "manifest.json").write_text(json.dumps({"seed": seed, "shard_size": n}))
    return label


def experience_encoder_version():
    from saycan_ros.affordance.learned import ENCODER_VERSION

    return ENCODER_VERSION


def test_training_learns_from_the_image_and_the_model_round_trips(tmp_path):
    data_dir, out = tmp_path / "data", tmp_path / "model"
    data_dir.mkdir()
    _synthetic(data_dir)
    card = train([str(data_dir)], out, seed=0, epochs=12, batch_size=32, lr=3e-3, width=16,
                 embeddings=TextEmbeddings(HashEmbedder()))
    assert card["validation"]["auc"] > 0.9, card
    assert card["data_seeds"] == [0] and card["validation_attempts"] > 0
    network, loaded_card = load_value_function(out)
    data = experience.load_experience([data_dir])
    texts = TextEmbeddings(HashEmbedder())([str(s) for s in data.skill])
    p = predict(network, data.image, data.state, texts)
    assert roc_auc(data.label, p) > 0.9
    assert loaded_card["width"] == 16
    assert (out / "value_function.safetensors").stat().st_size < 5_000_000


def test_split_keeps_the_attempts_of_one_state_together():
    seeds = np.repeat(np.arange(50), 4)
    train_idx, val_idx = split_by_state(seeds, 0.1, 0)
    assert set(seeds[train_idx]).isdisjoint(seeds[val_idx])
    assert len(set(seeds[val_idx])) == 5 and len(train_idx) + len(val_idx) == 200


def test_value_function_loading_errors_are_clear(tmp_path):
    with pytest.raises(ConfigError, match="saycan train affordance"):
        load_value_function(tmp_path)
    save_value_function(tmp_path, build_network(384, 8), {"width": 8})
    card = json.loads((tmp_path / "value_function.json").read_text())
    card["encoder_version"] = -1
    (tmp_path / "value_function.json").write_text(json.dumps(card))
    with pytest.raises(ConfigError, match="retrain"):
        load_value_function(tmp_path)


@pytest.mark.parametrize("holding, text, capped", [
    (None, "put down the coke can", True),       # empty fingers: the executor refuses the put-down
    (None, "bring it to you", True),              # nothing to bring
    ("apple", "put down the coke can", True),    # holding another object
    ("apple", "pick up the banana", True),       # fingers full
    ("coke can", "put down the coke can", False),
    ("?", "put down the coke can", False),       # holding something unidentified: the network decides
    (None, "pick up the banana", False),
    (None, "find a banana", False),
])
def test_served_values_are_capped_where_the_gripper_rules_the_skill_out(holding, text, capped):
    """struct-move-coke (exec mode, learned) failed on a put-down served 0.037 with an empty gripper:
    what the fingers hold is a fact, so a skill the executor refuses gets the table's value for it."""
    from saycan_ros.affordance.features import AffordanceFeatures
    from saycan_ros.affordance.learned import served_probability
    from saycan_ros.affordance.value_function import AffordanceParams, skill_affordance

    features, params, skill = AffordanceFeatures("table", holding), AffordanceParams(), LIBRARY.get(text)
    served = served_probability(0.6, skill, features, params)
    if capped:
        assert served == pytest.approx(skill_affordance(features, skill, params)) and served <= 0.001
    else:
        assert served == pytest.approx(0.6)
    assert served_probability(-0.5, skill, features, params) == params.floor  # never below the floor


def test_served_find_is_capped_only_for_a_kind_known_to_be_absent():
    from saycan_ros.affordance.features import AffordanceFeatures
    from saycan_ros.affordance.learned import served_probability
    from saycan_ros.affordance.value_function import AffordanceParams

    params, find = AffordanceParams(), LIBRARY.get("find a banana")
    absent = AffordanceFeatures("table", None, known_absent=frozenset({"banana"}))
    assert served_probability(0.9, find, absent, params) == params.find_known_absent
    assert served_probability(0.9, find, AffordanceFeatures("table", None), params) == pytest.approx(0.9)


# ------------------------------------------------------------------------------------ packaged model in plan mode
def test_plan_mode_grounding_renders_the_symbolic_state_for_the_packaged_value_function():
    """The packaged models/affordance over images rendered from symbolic states (saycan eval --affordance learned)."""
    from saycan_ros.core.world import KitchenState
    from saycan_ros.eval.rendered_world import RenderedLearnedGrounding

    grounding = RenderedLearnedGrounding(KITCHEN)
    skills = [LIBRARY.get(t) for t in ("pick up the apple", "pick up the banana", "put down the sponge",
                                       "put down the apple", "go to the close counter", "go to the table",
                                       "find a banana", "done")]
    try:
        at_counter = KitchenState("close counter", None, {"apple": "close counter", "banana": "far counter"})
        p = dict(zip([s.text for s in skills], grounding.affordances(at_counter, skills)))
        assert p["pick up the apple"] > 0.5 > p["pick up the banana"]
        assert p["go to the table"] > 0.5 > p["go to the close counter"]
        assert p["put down the sponge"] <= 0.001 and p["done"] == 1.0  # empty fingers: capped
        holding = KitchenState("close counter", "sponge", {"apple": "close counter", "sponge": "gripper"})
        p = dict(zip([s.text for s in skills], grounding.affordances(holding, skills)))
        assert p["put down the sponge"] > 0.5 > p["put down the apple"]
        assert p["pick up the apple"] < 0.5  # hands full
        find_banana = [LIBRARY.get("find a banana")]
        everywhere = ("close counter", "far counter", "table")
        seen_it = grounding.affordances(at_counter, find_banana, seen={"banana"}, looked_at=everywhere[:1])
        nowhere = grounding.affordances(at_counter, find_banana, seen={"apple"}, looked_at=everywhere)
        assert seen_it[0] > 0.5
        assert nowhere[0] <= 0.01 + 1e-9  # looked everywhere, never seen: known absent
    finally:
        grounding.close()
