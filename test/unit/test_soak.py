"""The soak's growth arithmetic on synthetic samples, and its per-process sampling loop on real
processes (this test and a child) with a fake instruction runner: no ROS graph."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from saycan_ros.bench.soak import (Growth, Sample, growth, growth_by_node, process_sample, run_soak, sample_points,
                                   summary_line, table, warm_up_count)


def test_growth_is_measured_from_the_warm_up_sample_to_the_last():
    samples = [Sample(1, 50.0, 10, 8), Sample(10, 100.0, 12, 9), Sample(50, 103.0, 12, 9), Sample(100, 104.0, 13, 12)]
    g = growth(samples, warm_up=10)
    assert g.rss == pytest.approx(0.04) and (g.threads, g.fds) == (1, 3)  # the start (50 MB) is not the baseline
    assert not g.ok()  # 3 more fds than slack allows
    assert Growth(0.049, 2, 2).ok() and not Growth(0.05, 0, 0).ok() and not Growth(0.0, 3, 0).ok()
    assert growth(samples, warm_up=1).rss == pytest.approx(1.08)


def test_growth_needs_two_samples_after_the_warm_up():
    with pytest.raises(ValueError, match="two samples"):
        growth([Sample(1, 50.0, 1, 1), Sample(10, 60.0, 1, 1)], warm_up=5)
    with pytest.raises(ValueError, match="baseline"):
        growth([Sample(5, 0.0, 1, 1), Sample(10, 60.0, 1, 1)], warm_up=5)


def test_sample_points_cover_the_start_the_warm_up_and_the_end():
    assert warm_up_count(1000) == 100 and warm_up_count(5) == 1
    points = sample_points(1000)
    assert points[:2] == [1, 100] and points[-1] == 1000 and 10 <= len(points) <= 13
    assert sample_points(5) == [1, 2, 3, 4, 5]


def test_summary_names_the_worst_node_and_the_table_flags_it():
    samples = {"planner_node": [Sample(1, 80.0, 20, 18), Sample(10, 80.0, 20, 18), Sample(100, 80.8, 20, 18)],
               "llm_scoring_node": [Sample(1, 900.0, 27, 18), Sample(10, 1000.0, 27, 18), Sample(100, 1080.0, 29, 18)]}
    growths = growth_by_node(samples, 10)
    line = summary_line(100, 99, growths, 250.0)
    assert line == ("soak n=100 done=99 rss_growth=0.080 worst_node=llm_scoring_node threads_growth=2 "
                    "fds_growth=0 s_per_instruction=2.50")
    rows = table(samples, 10)
    assert "| planner_node | 80.0 -> 80.8 | +1.0 % | 20 -> 20 | 18 -> 18 | yes |" in rows
    assert rows[-1].startswith("| llm_scoring_node | 1000.0 -> 1080.0 | +8.0 %") and rows[-1].endswith("| NO |")


def test_run_soak_samples_every_process_at_the_sample_points():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        sent, lines = [], []
        samples, done, seconds = run_soak(lambda: {"me": os.getpid(), "child": child.pid},
                                          lambda text: sent.append(text) or len(sent) != 3, 6, lines.append)
    finally:
        child.kill()
        child.wait()
    assert sent == ["go to the table", "go to the close counter", "go to the far counter", "go to the trash can",
                    "go to the table", "go to the close counter"]
    assert done == 5 and seconds >= 0
    assert [s.after for s in samples["me"]] == [s.after for s in samples["child"]] == sample_points(6)
    me, kid = samples["me"][-1], samples["child"][-1]
    assert me.rss_mb > kid.rss_mb > 0 and me.threads >= 1 and kid.threads == 1 and me.fds >= 3
    assert len(lines) == len(sample_points(6)) and "6/6: 5 done" in lines[-1] and "child" in lines[-1]
    assert process_sample(os.getpid()).rss_mb == pytest.approx(me.rss_mb, rel=0.5)
