"""SearchMemory: which kinds the camera showed and which search locations it looked at."""
from __future__ import annotations

import math

import pytest

from saycan_ros.affordance.perception_model import SearchMemory
from saycan_ros.core.kitchen import load_kitchen

KITCHEN = load_kitchen()


def yaw(place: str) -> float:
    return KITCHEN.locations[place].pose[2]


def at(place: str, yaw_offset: float = 0.0, dx: float = 0.0) -> tuple[float, float, float]:
    x, y, yaw = KITCHEN.locations[place].pose
    return (x + dx, y, yaw + yaw_offset)


def look(memory: SearchMemory, t: float, place: str | None, pose, names=(), previous="same") -> None:
    """A frame at `pose`; the previous frame's pose is the same unless given (standing still)."""
    previous = pose if previous == "same" else previous
    memory.record(t, names, place if memory.looks_at(place, pose, previous) else None)


def test_absent_only_after_every_search_location_was_looked_at_standing_still_facing_it():
    memory = SearchMemory(KITCHEN)
    assert memory.locations == {"close counter", "far counter", "table"}  # not the person, not the trash
    look(memory, 0.0, "close counter", at("close counter"), ["apple", "coke can#2"])
    look(memory, 1.0, "far counter", at("far counter", 2.0), ["banana"])  # facing away: not looked at
    look(memory, 2.0, "table", at("table", -2 * math.pi + 0.2), [])  # angles wrap
    assert memory.known_absent() == frozenset()
    look(memory, 3.0, "far counter", at("far counter"), previous=at("far counter", dx=-0.3))  # driving past
    look(memory, 3.5, "far counter", at("far counter"), previous=None)  # no previous frame
    assert "far counter" not in memory.looked_at
    look(memory, 4.0, "far counter", at("far counter"))  # now it stands still
    assert memory.known_absent() == frozenset(KITCHEN.objects) - {"apple", "coke can", "banana"}
    look(memory, 5.0, None, None, ["tea"])  # seen on the way: no longer absent
    assert "tea" not in memory.known_absent()
    memory.clear()
    assert memory.known_absent() == frozenset() and not memory.seen


def test_recording_is_throttled_in_image_time_and_survives_a_clock_restart():
    memory = SearchMemory(KITCHEN, min_interval_s=0.25)
    memory.record(10.0, [])
    assert not memory.due(10.1) and memory.due(10.25) and memory.due(3.0)  # 3.0: a sim clock restarted
def test_unknown_search_locations_are_a_clear_error():
    with pytest.raises(ValueError, match="pantry"):
        SearchMemory(KITCHEN, ("table", "pantry"))
    assert SearchMemory(KITCHEN, ("table",)).locations == {"table"}
