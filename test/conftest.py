"""Shared pytest set-up: every test run gets its own ROS domain, limited to this machine."""
from __future__ import annotations

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
