"""Executor settings as one validated dataclass (the node fills it from its ROS parameters)."""
from __future__ import annotations

from dataclasses import dataclass, field

from saycan_ros.core.robot_geometry import HOLD_MIN_OPENING, OPEN_MARGIN
from saycan_ros.core.world import CONTAINER_RADIUS, DISPOSAL
from saycan_ros.skills.controllers import BaseLimits, GoToTolerance

DEFAULT_TIMEOUTS = {"go_to": 90.0, "find": 150.0, "pick": 90.0, "place": 90.0, "bring": 90.0, "done": 5.0}


@dataclass(frozen=True)
class ExecutorConfig:
    control_rate_hz: float = 20.0
    limits: BaseLimits = BaseLimits()
    tolerance: GoToTolerance = GoToTolerance()
    timeouts: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_TIMEOUTS))
    sensor_timeout_s: float = 3.0      # no odom / joint_states / camera frame for this long -> NO_SENSOR_DATA
    stuck_timeout_s: float = 6.0       # no progress toward a goal pose for this long -> NAVIGATION_FAILED
    settle_s: float = 0.3              # stand still this long before taking a frame for a look
    search_order: tuple[str, ...] = ("close counter", "far counter", "table")
    at_location_radius: float = 0.35   # m: closer than this to a location pose counts as being there
    scan_angle: float = 0.6            # rad: find/pick look this far left and right when X is not in view
    travel_lift: float = 0.95          # m: lift while driving (grasp point above counter tops)
    joint_tolerance: float = 0.01      # m: a lift/arm target counts as reached within this
    # s without joint progress before a lift/arm move counts as blocked; generous because a loaded
    # machine delays joint_states (a 1 s window failed demo runs with nothing in the way)
    joint_stall_s: float = 2.5
    align_lateral: float = 0.025       # m: an object this close to the arm's line counts as straight ahead
    reach_margin: float = 0.03         # m: keep the arm this far inside its limits when reaching
    max_approach_adjust: float = 0.3   # m: how far pick/place may drive the base to bring a target into reach
    # m: find drives to a search location when an object seen out of reach is this close to the
    # location's work point (where objects sit for the arm)
    work_location_radius: float = 0.8
    pre_grasp_clearance: float = 0.04  # m: extend the arm this much above the grasp height, then lower
    lift_after_grasp: float = 0.06     # m: lift the object off its support before retracting
    min_grasp_height: float = 0.02     # m: grasp at least this far above the support surface
    hold_min_opening: float = HOLD_MIN_OPENING  # m per finger: closed fingers stopped above this = holding
    open_margin: float = OPEN_MARGIN   # m: fingers within this of fully open = gripper open / empty
    place_inset: float = 0.12          # m: put objects down this far beyond the surface's front edge
    place_margin: float = 0.015        # m: release with the object's bottom this far above the surface
    drop_margin: float = 0.06          # m: release over a container with the object's bottom this far above its rim
    drop_locations: tuple[str, ...] = (DISPOSAL,)
    # m: an object seen this close to a drop location's work point lies in its container: thrown
    # away, so find and pick do not count it (picking an apple back out of the trash missed)
    container_radius: float = CONTAINER_RADIUS
    min_pixels: int = 20               # smallest segmentation blob that counts as seeing an object
    cloud_stride: int = 2              # depth pixels: every n-th row/column for surface estimates

    def timeout(self, kind: str) -> float:
        return float(self.timeouts.get(kind, 60.0))


def search_places(kitchen) -> list[str]:
    """The places of the kitchen the executor searches by default (its search_order), in order."""
    return [p for p in ExecutorConfig().search_order if p in kitchen.locations]
