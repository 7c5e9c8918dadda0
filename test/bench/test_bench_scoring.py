"""`saycan bench scoring` runs end to end on a small library and prints its summary line.
No timing is asserted: only the format, the equality check and the prefix reuse."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from saycan_ros.bench.scoring import skill_library
from saycan_ros.core.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
SUMMARY = re.compile(r"^scoring N=(\d+) naive_ms=([\d.]+) kv_ms=([\d.]+) chains_ms=([\d.]+) packed_ms=([\d.]+) "
                     r"limit_ms=([\d.]+) speedup=([\d.]+) tree_gain=([\d.]+) limit_ratio=([\d.]+) "
                     r"max_abs_diff=([\d.e+-]+)$")


def test_skill_library_sizes():
    small, big = skill_library(60), skill_library(551)
    assert len(small) == 60 and len(big) == 551 and len(set(big)) == 551
    assert big[:60] == small  # the kitchen's own skills first, the same for every N
    assert "pick up the apple" in small and "done" in small
    with pytest.raises(ConfigError):
        skill_library(100_000)


def test_bench_prints_the_summary_last():
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_WAIT_POLICY="PASSIVE", HF_HUB_OFFLINE="1")
    out = subprocess.run([sys.executable, "-m", "saycan_ros.bench.scoring", "--n", "6", "12", "--repeats", "1",
                          "--naive-sample", "4", "--prompt-tokens", "120"],
                         capture_output=True, text=True, env=env, timeout=600, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.strip().splitlines()
    first, last = SUMMARY.match(lines[-2]), SUMMARY.match(lines[-1])
    assert first and last, lines[-2:]
    assert first.group(1) == "6" and last.group(1) == "12"
    assert float(last.group(10)) < 1e-4  # kv, chains and packed equal naive
    # the prefix tree feeds fewer tokens than a chain per skill (12 skills of the kitchen share "find a")
    fed = re.search(r"== N=12 skills \(\d+ skill tokens, (\d+) fed, (\d+) in the prefix tree\)", out.stdout)
    assert fed and int(fed.group(2)) < int(fed.group(1))
    assert "extrapolated from 4 of 12 skills" in out.stdout
    reused = re.findall(r"packed step 2 \(prefix reused\).*encoded (\d+) of (\d+) prompt tokens", out.stdout)
    assert reused and all(0 < int(a) < int(b) for a, b in reused)


def test_bad_arguments_are_one_line():
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-m", "saycan_ros.bench.scoring", "--repeats", "0"],
                         capture_output=True, text=True, env=env, timeout=60, cwd=ROOT)
    assert out.returncode == 2 and "Traceback" not in out.stderr and "--repeats" in out.stderr
