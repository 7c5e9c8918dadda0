"""Affordance features from what the robot senses: segmentation + depth images, joint states, odometry.

Pure (numpy/cv2, no rclpy): the affordance node turns messages into a `PerceptionObservation`.
Nothing here reads the simulator's internal state; the same code runs on a robot whose
segmentation comes from a network.

- robot_at: the kitchen location whose pose is nearest the odometry position, within a radius.
  (Assumes odom coincides with the kitchen frame, as in the simulator; a real robot would feed a
  localised map pose instead.)
- visible: every detected object with its horizontal distance from base_link.
- reachable: detected objects inside the arm's envelope: horizontal distance within the arm's
  reach (the base can turn in place to face them), height within the lift range, both +- a margin.
- known_absent (with a SearchMemory): kinds never seen although the camera has looked at every search
  location since the memory was last cleared (as a failed "find" does).
- holding: the fingers stopped between closed and open and were not told to open
  (`core.robot_geometry.fingers_hold_something`, the rule the skill executor uses too): something is
  between them. Which object: the class under the grasp point projected into the segmentation
  image; '?' when none is there.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Iterable, Mapping

import numpy as np

from saycan_ros.affordance.base import AffordanceUnavailable, FeatureAffordance
from saycan_ros.affordance.features import UNKNOWN_HELD, AffordanceFeatures
from saycan_ros.affordance.value_function import AffordanceParams
from saycan_ros.core.camera_model import PinholeCamera, base_to_pixel, in_image
from saycan_ros.core.kitchen import Kitchen, base_object_name
from saycan_ros.core.pose import Pose2D
from saycan_ros.core.robot_geometry import (ARM, HOLD_MIN_OPENING, LIFT, OPEN_MARGIN, finger_opening,
                                            fingers_hold_something)
from saycan_ros.core.world import CONTAINER_RADIUS, DISPOSAL, USER
from saycan_ros.perception.detection import Detection, detect_objects, object_at_pixel
from saycan_ros.perception.robot_adapter import PerceptionGeometry, load_perception_geometry



@dataclass(frozen=True)
class PerceptionObservation:
    segmentation: np.ndarray                   # (H, W) uint16 class ids, 0 = background
    depth: np.ndarray                          # (H, W) float32 metres along the optical axis, NaN = none
    camera: PinholeCamera                      # intrinsics of these (registered) images
    joints: Mapping[str, float] = field(default_factory=dict)  # joint name -> position
    odom_pose: tuple[float, float, float] | None = None        # x, y, yaw of base_link in odom
    gripper_command: float | None = None       # last commanded finger opening, if known
    stamp: float = 0.0                         # image stamp (s), reported with the estimate


def grasp_pixel(obs: PerceptionObservation, geometry: PerceptionGeometry) -> tuple[float, float, float] | None:
    """(u, v, depth) of the grasp point in the image, or None when it is out of view / joints unknown."""
    lift, arm = obs.joints.get(LIFT), obs.joints.get(ARM)
    if lift is None or arm is None:
        return None
    projected = base_to_pixel(*geometry.grasp_point(lift, arm), obs.camera, geometry.mount)
    if projected is None or not in_image(projected[0], projected[1], obs.camera):
        return None
    return projected


@dataclass(frozen=True)
class PerceptionResult:
    features: AffordanceFeatures
    detections: tuple[Detection, ...]
    grasp_pixel: tuple[float, float] | None    # where the grasp point falls in the image, if inside


class PerceptionFeatureSource:
    def __init__(self, kitchen: Kitchen, geometry: PerceptionGeometry, *, at_location_radius: float = 0.5,
                 reach_margin: float | None = None, min_pixels: int = 20, hold_min_opening: float = HOLD_MIN_OPENING,
                 open_margin: float = OPEN_MARGIN,
                 grasp_search_radius: float = 0.04, containers: tuple[str, ...] = (DISPOSAL,),
                 container_radius: float = CONTAINER_RADIUS) -> None:
        self.kitchen = kitchen
        self.geometry = geometry
        self.at_location_radius = at_location_radius
        self.reach_margin = geometry.grasp_tolerance if reach_margin is None else reach_margin
        self.min_pixels = min_pixels
        self.hold_min_opening, self.open_margin = hold_min_opening, open_margin
        self.grasp_search_radius = grasp_search_radius
        self.containers, self.container_radius = containers, container_radius

    def robot_at(self, odom_pose: tuple[float, float, float] | None) -> str | None:
        if odom_pose is None:
            return None
        best, best_d = None, self.at_location_radius
        for name, loc in self.kitchen.locations.items():
            d = math.hypot(loc.pose[0] - odom_pose[0], loc.pose[1] - odom_pose[1])
            if d <= best_d:
                best, best_d = name, d
        return best

    def in_reach(self, position: tuple[float, float, float]) -> bool:
        near, far = self.geometry.reach
        low, high = self.geometry.lift_range
        m = self.reach_margin
        d = math.hypot(position[0], position[1])
        return near - m <= d <= far + m and low - m <= position[2] <= high + m

    def gripper_closed_on_something(self, joints: Mapping[str, float], command: float | None) -> bool:
        return fingers_hold_something(finger_opening(joints), command, self.geometry.gripper_open,
                                      self.geometry.gripper_closed_threshold, self.hold_min_opening, self.open_margin)

    def grasp_pixel(self, obs: PerceptionObservation) -> tuple[float, float, float] | None:
        return grasp_pixel(obs, self.geometry)

    def held_object(self, obs: PerceptionObservation) -> str | None:
        """None (empty), the object's name, or '?' (something held, not identifiable in this image)."""
        if not self.gripper_closed_on_something(obs.joints, obs.gripper_command):
            return None
        projected = self.grasp_pixel(obs)
        if projected is None:  # e.g. the arm is stowed below the camera's view
            return UNKNOWN_HELD
        if obs.segmentation.shape != (obs.camera.height, obs.camera.width):
            return UNKNOWN_HELD
        radius = max(2, int(round(obs.camera.fx * self.grasp_search_radius / max(projected[2], 1e-3))))
        return object_at_pixel(obs.segmentation, projected[0], projected[1], self.kitchen, radius) or UNKNOWN_HELD

    def detect(self, obs: PerceptionObservation) -> tuple[Detection, ...]:
        """The objects in view, less those lying in a container (within `container_radius` of its work
        point, as the skill executor judges): thrown away, they are neither visible nor reachable."""
        thrown = None if obs.odom_pose is None else self.kitchen.thrown_away(
            Pose2D(*obs.odom_pose), self.containers, 0.5 * sum(self.geometry.reach), self.container_radius)
        return tuple(detect_objects(obs.segmentation, obs.depth, obs.camera, self.geometry.mount,
                                    self.kitchen, self.min_pixels, ignore=thrown))

    def analyse(self, obs: PerceptionObservation) -> PerceptionResult:
        """Features plus the detections behind them. ValueError if the images disagree in size."""
        detections = self.detect(obs)
        visible = {d.name: d.distance for d in detections}
        reachable = frozenset(d.name for d in detections if d.position_base is not None
                              and self.in_reach(d.position_base))
        projected = self.grasp_pixel(obs)
        features = AffordanceFeatures(self.robot_at(obs.odom_pose), self.held_object(obs), visible, reachable)
        return PerceptionResult(features, detections, projected[:2] if projected else None)

    def features(self, obs: PerceptionObservation) -> AffordanceFeatures:
        return self.analyse(obs).features


class SearchMemory:
    """What the camera has shown since the last `clear()`: the object kinds seen and the search
    locations looked at (the robot stood at one, facing it). Once every search location has been
    looked at, the kinds never seen are known to be absent: the perception counterpart of the
    symbolic kitchen's memory of failed searches (`SymbolicRunner.known_absent`)."""

    def __init__(self, kitchen: Kitchen, search_locations: tuple[str, ...] = (), facing_tolerance: float = 0.35,
                 min_interval_s: float = 0.25) -> None:
        unknown = [n for n in search_locations if n not in kitchen.locations]
        if unknown:
            raise ValueError(f"search locations not in the kitchen: {', '.join(unknown)}")
        # default: every location objects stand at (not the person, not the trash can)
        self.locations = frozenset(search_locations or (n for n in kitchen.locations if n not in (USER, DISPOSAL)))
        self.kinds = frozenset(kitchen.objects)
        self.yaws = {n: kitchen.locations[n].pose[2] for n in self.locations}
        self.facing_tolerance, self.min_interval_s = facing_tolerance, min_interval_s
        self.seen: set[str] = set()
        self.looked_at: set[str] = set()
        self._last_stamp: float | None = None

    def clear(self) -> None:
        self.seen.clear()
        self.looked_at.clear()
        self._last_stamp = None

    def due(self, stamp: float) -> bool:
        """Record at most every `min_interval_s` of image time (detection costs a pass over the image)."""
        return self._last_stamp is None or not 0.0 <= stamp - self._last_stamp < self.min_interval_s

    def looks_at(self, robot_at: str | None, pose: tuple[float, float, float] | None,
                 previous_pose: tuple[float, float, float] | None) -> bool:
        """Standing still (the previous frame's pose) at a search location, facing it. A frame taken
        while driving past does not count: the surface may have been only half in view."""
        if robot_at not in self.locations or pose is None or previous_pose is None:
            return False
        still = math.hypot(pose[0] - previous_pose[0], pose[1] - previous_pose[1]) <= 0.02 and \
            abs(math.remainder(pose[2] - previous_pose[2], math.tau)) <= 0.05
        return still and abs(math.remainder(pose[2] - self.yaws[robot_at], math.tau)) <= self.facing_tolerance

    def record(self, stamp: float, names: Iterable[str], looked_at: str | None = None) -> None:
        """One observation: the kinds detected in it, and the search location it looked at, if any."""
        self._last_stamp = stamp
        self.seen |= {base_object_name(n) for n in names}
        if looked_at is not None:
            self.looked_at.add(looked_at)

    def searched(self) -> float:
        """The fraction of the search locations looked at."""
        return len(self.looked_at & self.locations) / len(self.locations) if self.locations else 0.0

    def known_absent(self) -> frozenset[str]:
        if not self.locations or not self.locations <= self.looked_at:
            return frozenset()
        return frozenset(self.kinds - self.seen)


class PerceptionAffordance(FeatureAffordance):
    """The value function over features from the latest observation (`update` it, then `estimate`).

    Stateful in one respect: it remembers which object was between the fingers when it was last
    identifiable, for as long as the gripper stays closed on something. Carrying poses often put the
    gripper out of the camera's view, where a single image would only say '?'. With `search_memory`
    it also remembers what the camera has shown (`SearchMemory`) until `forget()`.
    """

    def __init__(self, kitchen: Kitchen, params: AffordanceParams | None = None,
                 geometry: PerceptionGeometry | None = None, robot_file: str | None = None,
                 search_memory: SearchMemory | None = None, **source_options: Any) -> None:
        super().__init__(params)
        self.source = PerceptionFeatureSource(kitchen, geometry or load_perception_geometry(robot_file),
                                              **source_options)
        self.search_memory = search_memory
        self._previous_pose: tuple[float, float, float] | None = None
        self._observation: PerceptionObservation | None = None
        self._held_memory: str | None = None
        self.last_result: PerceptionResult | None = None

    def update(self, observation: PerceptionObservation) -> None:
        """Take a new observation (call for every one: the memories follow the gripper and the camera)."""
        held = self.source.held_object(observation)
        if held is None:
            self._held_memory = None
        elif held != UNKNOWN_HELD:
            self._held_memory = held
        memory, pose = self.search_memory, observation.odom_pose
        previous, self._previous_pose = self._previous_pose, pose
        if memory is not None:
            place = self.source.robot_at(pose)
            looking = memory.looks_at(place, pose, previous)
            if looking or memory.due(observation.stamp):  # a look at a place is never skipped
                names = [d.name for d in self.source.detect(observation)]
                if held not in (None, UNKNOWN_HELD):
                    names.append(held)
                memory.record(observation.stamp, names, place if looking else None)
        self._observation = observation

    def forget_held(self) -> None:
        """Drop the remembered held object (the next observation starts the memory afresh)."""
        self._held_memory = None

    def forget(self) -> None:
        """Drop every memory: the held object and what the searches showed."""
        self.forget_held()
        self._previous_pose = None
        if self.search_memory is not None:
            self.search_memory.clear()

    @property
    def observation(self) -> PerceptionObservation | None:
        return self._observation

    def current_features(self) -> AffordanceFeatures:
        obs, memory = self._observation, self._held_memory  # one read each: update() may run meanwhile
        if obs is None:
            raise AffordanceUnavailable("no camera observation yet (segmentation + depth)")
        try:
            result = self.source.analyse(obs)
        except ValueError as exc:
            raise AffordanceUnavailable(f"unusable observation: {exc}") from exc
        if result.features.holding == UNKNOWN_HELD and memory is not None:
            result = replace(result, features=replace(result.features, holding=memory))
        if self.search_memory is not None:
            memory = self.search_memory
            result = replace(result, features=replace(result.features, known_absent=memory.known_absent(),
                                                      seen=frozenset(memory.seen), searched=memory.searched()))
        self.last_result = result
        return result.features
