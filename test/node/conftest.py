"""Node tests: rerun a test only when DDS discovery inside this long-lived pytest process was slow.

In full-suite runs a client now and then does not discover a server of the same process within
its wait (seen for the planner's and the executor's action servers, 20-30 s; never in shorter
runs of the same files). Only those symptoms rerun; a wrong result or error code fails at once.
"""
from __future__ import annotations

import pytest

DISCOVERY_SYMPTOMS = ["wait_for_server", "wait_for_service", "is not available"]


def pytest_collection_modifyitems(items):
    for item in items:
        if "/test/node/" in str(item.path) and item.get_closest_marker("flaky") is None:
            item.add_marker(pytest.mark.flaky(reruns=2, only_rerun=DISCOVERY_SYMPTOMS))
