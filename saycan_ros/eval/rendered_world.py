"""Plan-mode world grounding by the learned value function over camera images rendered from the symbolic state.

Each planning step lays the symbolic kitchen state out in the PyBullet kitchen (objects on their
surfaces, the robot at its location's pose facing it, or at the start pose between places; the held
object in the closed gripper), renders what the head camera sees, and lets `LearnedAffordance`
score the skills from that observation, as the affordance node would in exec mode. The executor
knows what it picked, so the held object is named (perception's held-object memory in the node);
what the robot has seen and where it has looked come from the runner (its search memory), as in
the symbolic world grounding.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Iterable, Sequence

from saycan_ros.affordance.features import UNKNOWN_HELD
from saycan_ros.core.kitchen import Kitchen, base_object_name
from saycan_ros.core.skills import Skill
from saycan_ros.core.world import GRIPPER, KitchenState
from saycan_ros.skills.config import search_places

BETWEEN_PLACES_POSE = (0.0, 0.0, 0.0)  # where the robot stands when it is at no location


class RenderedLearnedGrounding:
    """Shared by every episode of a run: one PyBullet world and one learned model."""

    def __init__(self, kitchen: Kitchen, folder: str | None = None) -> None:
        from saycan_ros.affordance.learned import LearnedAffordance
        from saycan_ros.affordance.perception_model import PerceptionAffordance, SearchMemory
        from saycan_ros.core.robot_geometry import load_robot_geometry
        from saycan_ros.core.skills import SkillLibrary
        from saycan_ros.perception.robot_adapter import perception_geometry
        from saycan_ros.sim.kitchen_world import KitchenWorld

        self.kitchen = kitchen
        self.robot = load_robot_geometry()
        self.world = KitchenWorld(kitchen, self.robot, {})
        self.perception = PerceptionAffordance(kitchen, geometry=perception_geometry(self.robot))
        self.memory = SearchMemory(kitchen, tuple(search_places(kitchen)))
        self.model = LearnedAffordance(self.perception, folder,
                                       texts=SkillLibrary.from_kitchen(kitchen).texts)
        self._key: tuple | None = None
        self._observation = None

    def observe(self, state: KitchenState):
        """(PerceptionObservation, features) of `state`; rendered again only when the state changed."""
        from saycan_ros.affordance.perception_model import PerceptionObservation

        scene = {name: at for name, at in state.objects.items() if at in self.kitchen.locations}
        held = state.holding or next((n for n, at in state.objects.items() if at == GRIPPER), None)
        key = (state.robot_at, held, tuple(sorted(scene.items())))
        if key != self._key:
            pose = self.kitchen.locations[state.robot_at].pose if state.robot_at else BETWEEN_PLACES_POSE
            self.world.reset(scene, seed=0, start_pose=tuple(pose), holding=held)
            _, depth, seg = self.world.render()
            gripper = self.robot.gripper.min if held else None
            self._observation = PerceptionObservation(seg, depth, self.world.camera, self.world.joint_positions(),
                                                      self.world.base_pose(), gripper)
            self._key = key
        self.perception.forget()
        self.perception.update(self._observation)
        features = self.perception.current_features()
        if held:
            features = replace(features, holding=base_object_name(held))
        return self._observation, features

    def affordances(self, state: KitchenState, skills: Sequence[Skill], seen: Iterable[str] = (),
                    looked_at: Iterable[str] = ()) -> list[float]:
        """`seen`, `looked_at`: what the robot has seen and where it has looked during the instruction;
        the affordance node's SearchMemory turns them into the model's memory inputs, as at run time."""
        obs, features = self.observe(state)
        memory = self.memory
        memory.clear()
        memory.seen |= set(seen) | set(features.visible)
        if features.holding not in (None, UNKNOWN_HELD):
            memory.seen.add(features.holding)  # it was seen when it was picked up
        memory.looked_at |= set(looked_at) | ({state.robot_at} & memory.locations)
        features = replace(features, known_absent=memory.known_absent(), seen=frozenset(memory.seen),
                           searched=memory.searched())
        return self.model.estimate_observation(obs, features, skills)

    def close(self) -> None:
        self.world.close()


class RenderedLearnedWorld:
    """WorldGrounding for one episode: the shared grounding over the runner's current state."""

    def __init__(self, grounding: RenderedLearnedGrounding, runner, absence_memory: bool = True) -> None:
        self.grounding, self.runner, self.absence_memory = grounding, runner, absence_memory

    def affordances(self, skills: Sequence[Skill]) -> list[float]:
        runner = self.runner
        if not self.absence_memory:  # the ablation: only what the camera shows now
            return self.grounding.affordances(runner.state, skills)
        return self.grounding.affordances(runner.state, skills, runner.seen, runner.looked_at)


class RenderedLearnedWorlds:
    """The world factory of a plan-mode run (runner -> RenderedLearnedWorld); close() frees the PyBullet world."""

    def __init__(self, kitchen: Kitchen, folder: str | None = None, absence_memory: bool = True) -> None:
        self.grounding = RenderedLearnedGrounding(kitchen, folder)
        self.absence_memory = absence_memory

    def __call__(self, runner) -> RenderedLearnedWorld:
        return RenderedLearnedWorld(self.grounding, runner, self.absence_memory)

    def close(self) -> None:
        self.grounding.close()
