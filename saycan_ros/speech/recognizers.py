"""Speech recognisers behind one small interface, built by `make_recognizer` from parameters.

`pocketsphinx` (default): offline, its en-US acoustic model and dictionary ship in the PyPI wheel;
with `language: kitchen` it decodes with a trigram model of the kitchen's instructions
(speech/vocabulary.py), with `language: general` with the wheel's general English model.
`faster_whisper`: a better recogniser when its weights are on disk (`model_path`, a CTranslate2
model folder); it is not installed by default and nothing is downloaded.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from saycan_ros.core.errors import ConfigError
from saycan_ros.speech.audio import check_utterance, resample, to_pcm16
from saycan_ros.speech.vocabulary import KitchenLanguage, Pronunciations, SpokenForm, build_kitchen_language

BACKENDS = ("pocketsphinx", "faster_whisper")
LANGUAGES = ("kitchen", "general")


@dataclass(frozen=True)
class Transcript:
    text: str
    seconds: float  # recognition time


class SpeechRecognizer(Protocol):
    sample_rate: int  # the rate transcribe() expects; use `recognize` for any rate

    def transcribe(self, samples: np.ndarray) -> str:
        """float32 mono samples at `sample_rate` -> the words heard ('' when none)."""
        ...


def recognize(recognizer: SpeechRecognizer, samples: np.ndarray, rate: int, what: str = "audio") -> Transcript:
    """Check, resample and transcribe one utterance (AudioError for what cannot be one)."""
    check_utterance(samples, rate, what)
    start = time.perf_counter()
    text = recognizer.transcribe(resample(samples, rate, recognizer.sample_rate))
    return Transcript(" ".join(text.split()), time.perf_counter() - start)


PAD_S = 0.25  # seconds of pause added before and after an utterance


def noise_floor(samples: np.ndarray, rate: int = 16000) -> float:
    """The recording's background level: the RMS of its quietest 20 ms frames (10th percentile)."""
    frame = max(1, rate // 50)
    n = len(samples) // frame
    if n == 0:
        return 0.0
    rms = np.sqrt(np.mean(np.square(samples[: n * frame].reshape(n, frame), dtype=np.float64), axis=1))
    return float(np.percentile(rms, 10))


class PocketSphinxRecognizer:
    sample_rate = 16000

    def __init__(self, language: str = "kitchen", cache_dir: str | Path | None = None) -> None:
        try:
            from pocketsphinx import Decoder, get_model_path
        except ImportError as exc:  # pragma: no cover - pinned in requirements.txt
            raise ConfigError(f"pocketsphinx is not installed ({exc}): pip install pocketsphinx") from None
        model = Path(get_model_path()) / "en-us"
        self.pronunciations = Pronunciations.read(model / "cmudict-en-us.dict")
        # batch CMN: the cepstral mean of the whole utterance, not a running estimate that is still
        # wrong during the first words of a short command
        # word insertion penalty 0.2 (pocketsphinx's default 0.65): dev WER about the same (0.084 vs 0.088
        # over three noise paddings on average), and a short command cut off mid-stream keeps its "me a"
        options = dict(samprate=self.sample_rate, loglevel="FATAL", cmn="batch", wip=0.2)
        if language == "kitchen":
            self.kitchen: KitchenLanguage | None = build_kitchen_language(_cache_folder(cache_dir), self.pronunciations)
            self.spoken = self.kitchen.spoken
            options.update(lm=str(self.kitchen.lm_path), dict=str(self.kitchen.dict_path))
        elif language == "general":
            self.kitchen, self.spoken = None, SpokenForm(self.pronunciations)
        else:
            raise ConfigError(f"speech language '{language}' is not one of {', '.join(LANGUAGES)}")
        self._decoder = Decoder(**options)

    def transcribe(self, samples: np.ndarray) -> str:
        d = self._decoder
        d.start_utt()
        # a quarter second of pause around the words, at the recording's own noise level: digital
        # silence next to a noisy recording was heard as a word edge (dev WER 0.096 -> 0.088 and
        # 110 -> 116 of 144 heard exactly; half a second of zeros before)
        samples = np.asarray(samples, np.float32)
        rng = np.random.default_rng(len(samples))  # the same audio is always heard the same way
        level = noise_floor(samples, self.sample_rate)
        before, after = (rng.normal(0.0, level, int(self.sample_rate * PAD_S)).astype(np.float32) for _ in range(2))
        d.process_raw(to_pcm16(np.concatenate([before, samples, after])), full_utt=True)
        d.end_utt()
        hyp = d.hyp()
        words = [w for w in (hyp.hypstr.split() if hyp else []) if not w.startswith("<")]
        return self.spoken.to_written(words)


class FasterWhisperRecognizer:
    sample_rate = 16000

    def __init__(self, model_path: str, device: str = "cpu") -> None:
        if not model_path or not Path(model_path).is_dir():
            raise ConfigError(f"faster_whisper needs model_path: a local CTranslate2 Whisper model folder "
                              f"(got {model_path!r}); nothing is downloaded")
        try:
            from faster_whisper import WhisperModel
        except ImportError:
            raise ConfigError("faster_whisper is not installed: pip install faster-whisper "
                              "(and give model_path a local model folder)") from None
        self._model = WhisperModel(model_path, device=device, compute_type="int8", local_files_only=True)

    def transcribe(self, samples: np.ndarray) -> str:
        segments, _ = self._model.transcribe(np.asarray(samples, np.float32), language="en", beam_size=5)
        return " ".join(s.text.strip() for s in segments)


def make_recognizer(backend: str = "pocketsphinx", *, language: str = "kitchen", model_path: str = "",
                    cache_dir: str | Path | None = None) -> SpeechRecognizer:
    """The recogniser named by `backend` (ConfigError with the reason when it cannot be built)."""
    if backend == "pocketsphinx":
        return PocketSphinxRecognizer(language, cache_dir)
    if backend == "faster_whisper":
        return FasterWhisperRecognizer(model_path)
    raise ConfigError(f"speech recogniser '{backend}' is not one of {', '.join(BACKENDS)}")


def _cache_folder(cache_dir: str | Path | None) -> Path:
    """Where the generated language files live: one folder per version of their inputs."""
    from saycan_ros.speech.vocabulary import language_inputs_hash

    base = Path(cache_dir) if cache_dir is not None else (
        Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "saycan_ros" / "voice")
    return base / f"kitchen-{language_inputs_hash()}"
