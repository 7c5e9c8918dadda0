"""SearchMemory: which kinds the camera showed and which search locations it looked at."""
from __future__ import annotations

import math

import pytest

from saycan_ros.affordance.perception_model import SearchMemory
from saycan_ros.core.kitchen import load_kitchen

KITCHEN = load_kitchen()


def yaw(place: str) -> float:
    return KITCHEN.locations[place].pose[2]


def test_absent_only_after_every_search_location_was_looked_at_facing_it():
    memory = SearchMemory(KITCHEN)
    assert memory.locations == {"close counter", "far counter", "table"}  # not the person, not the trash
    memory.record(0.0, "close counter", yaw("close counter"), ["apple", "coke can#2"])
    memory.record(1.0, "far counter", yaw("far counter") + 2.0, ["banana"])  # facing away: not looked at
    memory.record(2.0, "table", yaw("table") - 2 * math.pi + 0.2, [])  # angles wrap
    assert memory.known_absent() == frozenset()
    memory.record(3.0, "far counter", yaw("far counter"), [])
    assert memory.known_absent() == frozenset(KITCHEN.objects) - {"apple", "coke can", "banana"}
    memory.record(4.0, None, None, ["tea"])  # seen on the way: no longer absent
    assert "tea" not in memory.known_absent()
    memory.clear()
    assert memory.known_absent() == frozenset() and not memory.seen


def test_recording_is_throttled_in_image_time_and_survives_a_clock_restart():
    memory = SearchMemory(KITCHEN, min_interval_s=0.25)
    memory.record(10.0, None, None, [])
    assert not memory.due(10.1) and memory.due(10.25) and memory.due(3.0)  # 3.0: a sim clock restarted


def test_unknown_search_locations_are_a_clear_error():
    with pytest.raises(ValueError, match="pantry"):
        SearchMemory(KITCHEN, ("table", "pantry"))
    assert SearchMemory(KITCHEN, ("table",)).locations == {"table"}
