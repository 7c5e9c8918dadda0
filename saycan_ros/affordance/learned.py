"""A learned value function: P(skill succeeds | what the robot senses now, skill), from its own experience.

Inputs, built by `encode_observation` from the same `PerceptionObservation` the hand-calibrated
model reads (so collection in the simulator and the affordance node encode alike):
- an image stack at 48 x 64: the pixels of the skill's object kind (area fraction, so a far-away
  can is a faint dot rather than nothing), the pixels of every other object, depth (0..4 m -> 0..1,
  nothing = 1), and a blob where the grasp point projects (to relate a held object to the fingers);
- the robot's state: finger opening, whether the fingers are closed on something and what
  perception says it is relative to the skill's object, lift and arm positions, the skill's target
  place relative to the base (distance, bearing, heading difference), the object's detected
  distance; what the search memory holds about the object (seen since the instruction began, the
  fraction of search places looked at, known to be absent);
- the skill: its kind (one-hot) and the sentence embedding of its text (all-MiniLM-L6-v2, shipped
  by a PyPI package), so a new object or phrasing lands near the known ones.

The network is small (a 3-layer CNN with coordinate channels, a text projection, an MLP): it trains
on 2 CPU cores in minutes (`saycan train affordance`) and is evaluated against the hand-calibrated
table on held-out states (`saycan eval affordance`).
"""
from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from saycan_ros.affordance.base import AffordanceModel, AffordanceUnavailable
from saycan_ros.affordance.features import UNKNOWN_HELD, AffordanceFeatures
from saycan_ros.core.errors import ConfigError
from saycan_ros.core.kitchen import Kitchen, base_object_name, models_dir
from saycan_ros.core.skills import Skill
from saycan_ros.core.world import USER
from saycan_ros.affordance.perception_model import grasp_pixel
from saycan_ros.core.robot_geometry import ARM, LIFT, finger_opening
from saycan_ros.affordance.value_function import AffordanceParams, gripper_rules_out
from saycan_ros.perception.robot_adapter import PerceptionGeometry

ENCODER_VERSION = 2
IMAGE_SIZE = (64, 48)  # width, height of the encoded image stack
KINDS = ("find", "pick", "place", "go_to", "bring")
STATE_DIM = len(KINDS) + 20
MODEL_FILE, CONFIG_FILE = "value_function.safetensors", "value_function.json"
EMBEDDINGS_FILE = "skill_embeddings.npz"  # the embeddings of the skill texts it was trained on (no encoder load)


def _area(mask: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.resize(mask.astype(np.float32), IMAGE_SIZE, interpolation=cv2.INTER_AREA)


def encode_observation(obs: Any, skill: Skill, kitchen: Kitchen, geometry: PerceptionGeometry,
                       features: AffordanceFeatures) -> tuple[np.ndarray, np.ndarray]:
    """(image stack (4, 48, 64) float32, state vector (STATE_DIM,) float32) for one skill.

    `obs` is a perception_model.PerceptionObservation; `features` the perception features of it
    (with the node's memories applied: the held object, the search)."""
    seg = np.asarray(obs.segmentation)
    target = np.zeros(seg.shape, bool)
    if skill.object in kitchen.objects:
        target = seg == kitchen.object_id(skill.object)
    others = (seg > 0) & ~target
    depth = np.asarray(obs.depth, dtype=np.float32)
    depth = np.where(np.isfinite(depth), np.clip(depth, 0.0, 4.0) / 4.0, 1.0)
    grasp = np.zeros(IMAGE_SIZE[::-1], np.float32)
    projected = grasp_pixel(obs, geometry)
    if projected is not None:
        u = projected[0] / obs.camera.width * IMAGE_SIZE[0]
        v = projected[1] / obs.camera.height * IMAGE_SIZE[1]
        yy, xx = np.mgrid[0:IMAGE_SIZE[1], 0:IMAGE_SIZE[0]]
        grasp = np.exp(-((xx - u) ** 2 + (yy - v) ** 2) / (2 * 2.0 ** 2)).astype(np.float32)
    image = np.stack([_area(target), _area(others), _area(depth), grasp])

    kind = np.array([skill.kind == k for k in KINDS], np.float32)
    lift, arm = obs.joints.get(LIFT), obs.joints.get(ARM)
    fingers = finger_opening(obs.joints)
    opening = fingers / max(geometry.gripper_open, 1e-6) if fingers is not None else 1.0
    held = features.holding
    held_flags = [held is None, held == UNKNOWN_HELD, held not in (None, UNKNOWN_HELD) and held == skill.object,
                  held not in (None, UNKNOWN_HELD) and held != skill.object]
    lift_lo, lift_hi = geometry.lift_range
    arm_lo, arm_hi = geometry.arm_range
    lift_n = (lift - lift_lo) / max(lift_hi - lift_lo, 1e-6) if lift is not None else 0.5
    arm_n = (arm - arm_lo) / max(arm_hi - arm_lo, 1e-6) if arm is not None else 0.0
    target_place = skill.location or (USER if skill.kind == "bring" else "")
    place = [0.0] * 6
    if target_place in kitchen.locations and obs.odom_pose is not None:
        x, y, yaw = obs.odom_pose
        lx, ly, lyaw = kitchen.locations[target_place].pose
        dx, dy = lx - x, ly - y
        bearing = math.atan2(dy, dx) - yaw
        place = [1.0, min(math.hypot(dx, dy), 6.0) / 3.0, math.cos(bearing), math.sin(bearing),
                 math.cos(lyaw - yaw), float(features.robot_at == target_place)]
    distance = features.visible.get(skill.object) if skill.object else None
    seen = [float(skill.object in features.visible), min(distance, 6.0) / 3.0 if distance is not None else 0.0]
    kind_name = base_object_name(skill.object) if skill.object else ""
    memory = [float(kind_name in features.seen), float(features.searched), float(kind_name in features.known_absent)]
    state = np.array([*kind, opening, *map(float, held_flags), lift_n, arm_n, *place,
                      float(features.robot_at is None), *seen, *memory, 1.0], np.float32)
    assert state.shape == (STATE_DIM,), state.shape
    return image.astype(np.float32), state


# ------------------------------------------------------------------------------------------ network
def build_network(text_dim: int = 384, width: int = 32):
    """The torch module: CNN(image + coordinates) | text projection | state MLP -> one logit."""
    import torch
    from torch import nn

    class ValueNetwork(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.cnn = nn.Sequential(
                nn.Conv2d(6, width // 2, 5, stride=2, padding=2), nn.ReLU(),
                nn.Conv2d(width // 2, width, 3, stride=2, padding=1), nn.ReLU(),
                nn.Conv2d(width, width, 3, stride=2, padding=1), nn.ReLU())
            self.text = nn.Sequential(nn.Linear(text_dim, width), nn.ReLU())
            self.state = nn.Sequential(nn.Linear(STATE_DIM, width), nn.ReLU())
            self.head = nn.Sequential(nn.Linear(4 * width, 2 * width), nn.ReLU(), nn.Linear(2 * width, 1))
            h, w = IMAGE_SIZE[1], IMAGE_SIZE[0]
            ys, xs = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing="ij")
            self.register_buffer("coords", torch.stack([xs, ys])[None], persistent=False)

        def forward(self, image, state, text):
            x = torch.cat([image, self.coords.expand(image.shape[0], -1, -1, -1)], dim=1)
            x = self.cnn(x)
            pooled = torch.cat([x.mean(dim=(2, 3)), x.amax(dim=(2, 3))], dim=1)
            return self.head(torch.cat([pooled, self.text(text), self.state(state)], dim=1)).squeeze(1)

    return ValueNetwork()


def save_value_function(folder: str | Path, network: Any, card: dict, embeddings: "TextEmbeddings | None" = None) -> None:
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().contiguous() for k, v in network.state_dict().items()}, str(folder / MODEL_FILE))
    if embeddings is not None:
        texts = sorted(embeddings.cache)
        np.savez_compressed(folder / EMBEDDINGS_FILE, texts=np.asarray(texts),
                            vectors=np.stack([embeddings.cache[t] for t in texts]).astype(np.float32))
    (folder / CONFIG_FILE).write_text(json.dumps({"encoder_version": ENCODER_VERSION, **card}, indent=2) + "\n")


def load_value_function(folder: str | Path):
    """(network in eval mode, its card). ConfigError for a missing or incompatible folder."""
    from safetensors.torch import load_file

    folder = Path(folder)
    if not (folder / MODEL_FILE).is_file() or not (folder / CONFIG_FILE).is_file():
        raise ConfigError(f"no learned value function in {folder} (expected {MODEL_FILE} and {CONFIG_FILE}; "
                          "train one with `saycan train affordance`)")
    card = json.loads((folder / CONFIG_FILE).read_text())
    if card.get("encoder_version") != ENCODER_VERSION:
        raise ConfigError(f"{folder} was trained on encoder version {card.get('encoder_version')}, "
                          f"this code encodes version {ENCODER_VERSION}: retrain it")
    network = build_network(card.get("text_dim", 384), card.get("width", 32))
    try:
        network.load_state_dict(load_file(str(folder / MODEL_FILE)))
    except (RuntimeError, OSError) as exc:
        raise ConfigError(f"cannot load the value function in {folder}: {exc}") from None
    return network.eval(), card


def default_value_function_folder() -> Path:
    """models/affordance: the value function trained for config/kitchen.yaml (see its README card)."""
    return models_dir() / "affordance"


class TextEmbeddings:
    """Sentence embeddings of skill texts, computed once per text (the encoder loads only for a text
    not in the cache; `load` fills the cache from a value function folder)."""

    def __init__(self, embedder: Any = None) -> None:
        self._embedder = embedder
        self.cache: dict[str, np.ndarray] = {}

    def load(self, folder: str | Path) -> "TextEmbeddings":
        path = Path(folder) / EMBEDDINGS_FILE
        if path.is_file():
            with np.load(path) as data:
                self.cache.update({str(t): v.astype(np.float32) for t, v in zip(data["texts"], data["vectors"])})
        return self

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if t not in self.cache]
        if missing:
            if self._embedder is None:
                from saycan_ros.language.retrieval import SentenceEmbedder

                self._embedder = SentenceEmbedder()
            for text, vector in zip(missing, self._embedder.embed(missing)):
                self.cache[text] = np.asarray(vector, np.float32)
        return np.stack([self.cache[t] for t in texts]) if texts else np.zeros((0, 384), np.float32)


def predict(network: Any, images: np.ndarray, states: np.ndarray, texts: np.ndarray, batch: int = 512) -> np.ndarray:
    """Success probabilities for encoded inputs (numpy in, numpy out)."""
    import torch

    out = []
    with torch.inference_mode():
        for i in range(0, len(states), batch):
            logits = network(torch.as_tensor(np.asarray(images[i:i + batch], np.float32)),
                             torch.as_tensor(states[i:i + batch]), torch.as_tensor(texts[i:i + batch]))
            out.append(torch.sigmoid(logits).numpy())
    return np.concatenate(out) if out else np.zeros(0, np.float32)


def served_probability(p: float, skill: Skill, features: AffordanceFeatures, params: AffordanceParams) -> float:
    """What the node serves for a network output. Facts cap the estimate: a find of a kind the search
    memory knows is absent, and a skill whose precondition the gripper rules out (`gripper_rules_out`,
    the executor refuses it), get the hand-calibrated value for that case. Every value lies in [floor, 1]."""
    if skill.kind == "find" and base_object_name(skill.object) in features.known_absent:
        p = min(float(p), params.find_known_absent)
    ruled_out = gripper_rules_out(features, skill, params)
    if ruled_out is not None:
        p = min(float(p), ruled_out)
    return float(min(1.0, max(params.floor, p)))


class LearnedAffordance(AffordanceModel):
    """The affordance node's `model: learned`: the learned value function over the latest observation.

    Observation handling (the held-object memory, the search memory) is the perception model's:
    `perception` is a PerceptionAffordance the node updates as usual. What the search memory knows
    (every place looked at, the object never seen) is a fact, not an estimate, and so is what the
    gripper holds: `served_probability` caps the network where either rules a skill out.
    """

    def __init__(self, perception: Any, folder: str | Path | None = None, floor: float | None = None,
                 embeddings: TextEmbeddings | None = None, texts: Sequence[str] = ()) -> None:
        self.perception = perception
        folder = folder or default_value_function_folder()
        self.network, self.card = load_value_function(folder)
        self.floor = perception.params.floor if floor is None else floor  # the same floor as the table's
        self.embeddings = embeddings or TextEmbeddings().load(folder)
        self.embeddings(list(texts))  # embed the known skills now, not on the first request

    def estimate(self, skills: Sequence[Skill]) -> list[float]:
        features = self.perception.current_features()  # raises AffordanceUnavailable without a frame
        obs = self.perception.observation
        if obs is None:
            raise AffordanceUnavailable("no camera observation yet (segmentation + depth)")
        return self.estimate_observation(obs, features, skills)

    def estimate_observation(self, obs: Any, features: AffordanceFeatures, skills: Sequence[Skill]) -> list[float]:
        """Probabilities for `skills` from one PerceptionObservation and its (memory-completed) features."""
        kitchen, geometry = self.perception.source.kitchen, self.perception.source.geometry
        rows = [(i, s) for i, s in enumerate(skills) if not s.is_done and s.kind in KINDS]
        values = [1.0 if s.is_done else 0.5 for s in skills]  # done: always possible; an unknown kind: neutral
        if rows:
            encoded = [encode_observation(obs, s, kitchen, geometry, features) for _, s in rows]
            probabilities = predict(self.network, np.stack([e[0] for e in encoded]), np.stack([e[1] for e in encoded]),
                                    self.embeddings([s.text for _, s in rows]))
            params = replace(self.perception.params, floor=self.floor)  # the caps are the table's, for the same facts
            for (i, s), p in zip(rows, probabilities):
                values[i] = served_probability(p, s, features, params)
        return values
