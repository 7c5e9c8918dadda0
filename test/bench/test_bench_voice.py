"""`saycan bench voice` on two instructions (WER only): needs Debian's espeak-ng, so it is marked
`bench` and left out of the default run (`python -m pytest -m bench test/bench/test_bench_voice.py`)."""
from __future__ import annotations

import re

import pytest

from saycan_ros.bench.voice import main

pytestmark = pytest.mark.bench
SUMMARY = re.compile(r"^voice n=(\d+) wer=([\d.]+) same_plan=(nan|[\d.]+)$")


def test_bench_voice_prints_the_summary_last(capsys):
    assert main(["--n", "2", "--heldout", "1", "--no-plan", "--quiet"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    match = SUMMARY.match(lines[-1])
    assert match, lines[-3:]
    assert int(match.group(1)) == 2 * 4 and 0.0 <= float(match.group(2)) <= 0.5
    assert any(line.startswith("voice-heldout n=4 wer=") for line in lines)


def test_bench_voice_refuses_bad_options(capsys):
    assert main(["--n", "0"]) == 2
    assert "need --n >= 1" in capsys.readouterr().err
