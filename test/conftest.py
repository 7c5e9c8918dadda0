"""Shared pytest set-up: every test run gets its own ROS domain, limited to this machine, and no
test's DDS participant outlives it."""
from __future__ import annotations

import gc
import os
import random

# Before rclpy is imported anywhere: keep test traffic on localhost and off other runs' domains.
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.setdefault("ROS_DOMAIN_ID", str(random.Random(os.getpid()).randint(30, 99)))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads: no busy-waiting threads
# The nodes' own DDS profile (short discovery lease), as run_node gives every node process.
from saycan_ros.nodes.common import use_package_dds_profile  # noqa: E402

use_package_dds_profile()

import pytest  # noqa: E402


@pytest.fixture
def ros_context():
    """A fresh rclpy Context per test, shut down afterwards."""
    import rclpy

    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    yield ctx
    ctx.try_shutdown()


# Test folders whose tests run rclpy graphs in this process.
IN_PROCESS_ROS = {"node", "system", "bench"}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    """Once a ROS test is over (its fixtures finished and released), free what is left of its graph.
    A context's DDS participant (about 11 threads, shared-memory ports, discovery in this run's
    domain) lives until its last node, action server or future is freed, and rclpy keeps some in
    reference cycles (a node and its action servers, which destroy_node leaves alive) that only the
    cyclic GC frees: without this, up to ten participants of earlier tests, their endpoints
    included, were alive while later tests ran, and were torn down whenever the GC next ran."""
    yield
    if item.path.parent.name in IN_PROCESS_ROS:
        gc.collect()
