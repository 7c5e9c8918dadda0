"""Test speech: espeak-ng (Debian's `espeak-ng`) synthesises an instruction; seeded white noise at a
given signal-to-noise ratio. Used by the voice benchmark and the fixture script, not by the robot."""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from saycan_ros.core.errors import SayCanError
from saycan_ros.speech.audio import read_wav, resample


def synthesize(text: str, voice: str = "en-us", wpm: int = 160, rate: int = 16000) -> np.ndarray:
    """float32 mono samples at `rate` of espeak-ng speaking `text`."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise SayCanError("espeak-ng is not installed (Debian: apt-get install espeak-ng); "
                          "it synthesises the benchmark's speech")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "speech.wav"
        proc = subprocess.run([exe, "-v", voice, "-s", str(wpm), "-w", str(out), text],
                              capture_output=True, text=True, timeout=60)
        if proc.returncode != 0 or not out.is_file():
            raise SayCanError(f"espeak-ng -v {voice} failed: {proc.stderr.strip() or proc.returncode}")
        x, r = read_wav(out)
    return resample(x, r, rate)


def add_noise(x: np.ndarray, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    """White noise at `snr_db` below the speech's power (measured where it is not silent)."""
    x = np.asarray(x, np.float32)
    voiced = x[np.abs(x) > 0.01 * float(np.max(np.abs(x)) or 1.0)]
    power = float(np.mean(voiced ** 2)) if len(voiced) else 0.0
    noise = rng.normal(0.0, np.sqrt(power / 10 ** (snr_db / 10)), len(x)).astype(np.float32)
    return (x + noise).astype(np.float32)
