"""Audio in plain numpy: WAV files and raw PCM bytes to float32 mono at the recogniser's rate,
checked so that a user's mistake (no file, not a WAV, empty or absurd audio) gives one clear line."""
from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

from saycan_ros.core.errors import SayCanError

MIN_RATE, MAX_RATE = 8000, 192000  # Hz: below telephone quality there is nothing to recognise
MAX_SECONDS = 60.0  # one spoken instruction; longer is a wrong file or a stuck stream
PCM_DTYPES = {1: np.uint8, 2: np.dtype("<i2"), 4: np.dtype("<i4")}


class AudioError(SayCanError):
    """Audio that cannot be an utterance: missing, unreadable, empty, too long, wrong format."""


def read_wav(path: str | Path) -> tuple[np.ndarray, int]:
    """(samples, rate): float32 in [-1, 1], channels averaged to mono. PCM 8/16/24/32-bit."""
    path = Path(path)
    if not path.is_file():
        raise AudioError(f"no such WAV file: {path}")
    try:
        with wave.open(str(path), "rb") as w:
            width, channels, rate, n = w.getsampwidth(), w.getnchannels(), w.getframerate(), w.getnframes()
            data = w.readframes(n)
    except (wave.Error, EOFError) as exc:
        raise AudioError(f"{path}: not a PCM WAV file ({exc})") from None
    return pcm_to_float(data, rate, width=width, channels=channels, what=str(path)), rate


def pcm_to_float(data: bytes, rate: int, width: int = 2, channels: int = 1, what: str = "audio") -> np.ndarray:
    """Interleaved little-endian PCM bytes -> float32 mono in [-1, 1] (8-bit PCM is unsigned)."""
    check_rate(rate, what)
    if channels < 1:
        raise AudioError(f"{what}: {channels} channels")
    if width == 3:  # 24-bit: widen to 32-bit by putting each sample in the high bytes
        raw = np.frombuffer(data[: len(data) - len(data) % 3], np.uint8).reshape(-1, 3)
        samples = np.zeros((len(raw), 4), np.uint8)
        samples[:, 1:] = raw
        ints, scale = samples.view("<i4").ravel(), 2.0 ** 31
    elif width in PCM_DTYPES:
        dtype = PCM_DTYPES[width]
        ints = np.frombuffer(data[: len(data) - len(data) % width], dtype)
        scale = 2.0 ** (8 * width - 1)
        if width == 1:
            ints = ints.astype(np.int16) - 128
    else:
        raise AudioError(f"{what}: {8 * width}-bit samples are not supported (use 8, 16, 24 or 32-bit PCM)")
    x = ints.astype(np.float32) / np.float32(scale)
    x = x[: len(x) - len(x) % channels].reshape(-1, channels).mean(axis=1)
    return x.astype(np.float32)


def check_rate(rate: int, what: str = "audio") -> None:
    if not MIN_RATE <= rate <= MAX_RATE:
        raise AudioError(f"{what}: sample rate {rate} Hz is outside [{MIN_RATE}, {MAX_RATE}]")


def resample(x: np.ndarray, rate: int, target: int) -> np.ndarray:
    """Resample by linear interpolation after a moving-average low-pass when downsampling: enough
    for speech recognition at 16 kHz (its features stop at ~7 kHz), and no scipy."""
    check_rate(rate)
    check_rate(target)
    x = np.asarray(x, np.float32)
    if rate == target or len(x) == 0:
        return x
    if rate > target:  # box filter about one output sample wide: attenuates what would alias
        k = int(round(rate / target))
        if k > 1:
            x = np.convolve(x, np.ones(k, np.float32) / k, mode="same").astype(np.float32)
    n = int(round(len(x) * target / rate))
    t = np.arange(n, dtype=np.float64) * (rate / target)
    return np.interp(t, np.arange(len(x)), x).astype(np.float32)


def check_utterance(x: np.ndarray, rate: int, what: str = "audio", max_seconds: float = MAX_SECONDS) -> None:
    """Reject what cannot be one spoken instruction: empty, silent, too long, not finite."""
    seconds = len(x) / rate
    if len(x) == 0 or seconds < 0.1:
        raise AudioError(f"{what}: empty audio ({seconds:.2f} s)")
    if seconds > max_seconds:
        raise AudioError(f"{what}: {seconds:.0f} s of audio is too long for one instruction (max {max_seconds:g} s)")
    if not np.all(np.isfinite(x)):
        raise AudioError(f"{what}: samples are not finite")
    if float(np.max(np.abs(x))) < 1e-4:
        raise AudioError(f"{what}: silence (peak below -80 dBFS): is the microphone muted?")


def to_pcm16(x: np.ndarray) -> bytes:
    """float [-1, 1] -> 16-bit little-endian PCM bytes (clipped)."""
    return (np.clip(np.asarray(x, np.float32), -1.0, 1.0) * 32767.0).astype("<i2").tobytes()


def write_wav(path: str | Path, x: np.ndarray, rate: int) -> None:
    """16-bit mono WAV."""
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(to_pcm16(x))
