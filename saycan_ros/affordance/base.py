"""The AffordanceModel interface and its simple implementations; affordance/factory.py builds one by kind.

Kinds:
- `perception`: features from camera images (segmentation + depth), joint states and odometry
  (affordance/perception_model.py). The default for the node: what a real robot can know.
- `symbolic`: privileged features read from a `KitchenState` (visible = the objects at the
  robot's location, all reachable). Only for ablations and plan-mode evaluation.
- `learned`: the value function learned from the robot's experience (affordance/learned.py) over
  the observation a `perception` model tracks (give it as `perception`).
- `none`: every skill 1.0 — SayCan's language-only ablation.
"""
from __future__ import annotations

import abc
from typing import Callable, Sequence

from saycan_ros.affordance.features import AffordanceFeatures
from saycan_ros.affordance.value_function import AffordanceParams, skill_affordance
from saycan_ros.core.errors import SayCanError
from saycan_ros.core.kitchen import Kitchen, base_object_name
from saycan_ros.core.skills import Skill
from saycan_ros.core.world import GRIPPER, KitchenState

MODEL_KINDS = ("perception", "learned", "symbolic", "none")


class AffordanceUnavailable(SayCanError):
    """No (recent enough) observation to estimate affordances from."""


class AffordanceModel(abc.ABC):
    """p(success | current state, skill) for a batch of skills, in the order given."""

    @abc.abstractmethod
    def estimate(self, skills: Sequence[Skill]) -> list[float]:
        """One probability in (0, 1] per skill. Raises AffordanceUnavailable without a state."""


class FeatureAffordance(AffordanceModel):
    """Value function over AffordanceFeatures; subclasses say where the features come from."""

    def __init__(self, params: AffordanceParams | None = None) -> None:
        self.params = params or AffordanceParams()

    @abc.abstractmethod
    def current_features(self) -> AffordanceFeatures:
        """Features of the current state; raises AffordanceUnavailable when there is none."""

    def estimate(self, skills: Sequence[Skill]) -> list[float]:
        return self.estimate_features(self.current_features(), skills)

    def estimate_features(self, features: AffordanceFeatures, skills: Sequence[Skill]) -> list[float]:
        return [skill_affordance(features, s, self.params) for s in skills]


class NoAffordance(AffordanceModel):
    """The language-only ablation: every skill is equally feasible."""

    def estimate(self, skills: Sequence[Skill]) -> list[float]:
        return [1.0] * len(skills)


class SymbolicAffordance(FeatureAffordance):
    """Privileged features from a symbolic KitchenState (ablations, plan-mode evaluation).

    Use `features(state)` / `estimate_state(state, skills)` directly, or give a `state_provider`
    (or call `set_state`) to use it as an AffordanceModel.
    """

    def __init__(self, kitchen: Kitchen, params: AffordanceParams | None = None,
                 state_provider: Callable[[], KitchenState | None] | None = None) -> None:
        super().__init__(params)
        self.kitchen = kitchen
        self._provider = state_provider
        self._state: KitchenState | None = None

    def set_state(self, state: KitchenState) -> None:
        self._state = state

    def features(self, state: KitchenState, known_absent: frozenset[str] = frozenset()) -> AffordanceFeatures:
        visible: dict[str, float | None] = {}
        if state.robot_at is not None:
            for name in state.objects_at(state.robot_at):
                visible[base_object_name(name)] = None  # no metric distances in a symbolic state
        holding = state.held_kind
        if holding is None:  # an object recorded in the gripper counts as held too
            in_gripper = state.objects_at(GRIPPER)
            holding = base_object_name(in_gripper[0]) if in_gripper else None
        return AffordanceFeatures(state.robot_at, holding, visible, frozenset(visible), frozenset(known_absent))

    def estimate_state(self, state: KitchenState, skills: Sequence[Skill],
                       known_absent: frozenset[str] = frozenset()) -> list[float]:
        """`known_absent`: object kinds the robot has searched the whole kitchen for in vain."""
        return self.estimate_features(self.features(state, known_absent), skills)

    def current_features(self) -> AffordanceFeatures:
        state = self._provider() if self._provider is not None else self._state
        if state is None:
            raise AffordanceUnavailable("symbolic affordance model has no kitchen state yet")
        return self.features(state)
