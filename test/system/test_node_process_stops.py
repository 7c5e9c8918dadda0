"""System test: a node process stops cleanly and promptly on SIGINT and SIGTERM, every time.

ros2 launch stops nodes with SIGINT, then SIGTERM; `saycan view` gets Ctrl-C. With rclpy's own
signal handlers a process once stayed blocked in rcl_wait after SIGTERM (about one stop in ten on a
loaded machine), was SIGKILLed, and lost what it had not written. Several stops in a row, each
within a few seconds, exit status 0 and no traceback.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.system
STOP_WITHIN_S = 10.0


def start_node(log_path: Path) -> tuple[subprocess.Popen, object]:
    env = {**os.environ, "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST"}
    log = open(log_path, "w")
    proc = subprocess.Popen([sys.executable, "-m", "saycan_ros.nodes.visualization_node"],
                            stdout=log, stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + 60
    while "publishing saycan/markers" not in log_path.read_text():  # its constructor has finished
        assert proc.poll() is None and time.monotonic() < deadline, log_path.read_text()
        time.sleep(0.2)
    return proc, log


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_node_process_stops_on_a_signal_every_time(tmp_path, sig) -> None:
    for attempt in range(3):
        log_path = tmp_path / f"node_{attempt}.log"
        proc, log = start_node(log_path)
        time.sleep(0.5)  # spinning, not starting
        sent = time.monotonic()
        proc.send_signal(sig)
        try:
            code = proc.wait(timeout=STOP_WITHIN_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            pytest.fail(f"attempt {attempt}: still running {STOP_WITHIN_S:g} s after {sig.name}")
        finally:
            log.close()
        output = log_path.read_text()
        assert code == 0, (attempt, code, output[-2000:])
        assert "Traceback" not in output, output[-2000:]
        assert time.monotonic() - sent < STOP_WITHIN_S
