"""Cut a stream of audio chunks into utterances by energy: speech starts at the first loud frame
(with a little audio before it, so soft onsets are kept) and ends after a stretch of quiet."""
from __future__ import annotations

import numpy as np


class Segmenter:
    def __init__(self, rate: int, threshold_dbfs: float = -40.0, end_silence_s: float = 0.8,
                 pre_roll_s: float = 0.3, max_s: float = 20.0) -> None:
        self.rate, self.threshold = rate, 10 ** (threshold_dbfs / 20)
        self.frame = max(1, int(0.03 * rate))  # 30 ms energy frames
        self.end_frames = max(1, int(end_silence_s * rate / self.frame))
        self.pre_frames = int(pre_roll_s * rate / self.frame)
        self.max_frames = int(max_s * rate / self.frame)
        self._pending = np.zeros(0, np.float32)  # less than one frame
        self._frames: list[np.ndarray] = []     # pre-roll while quiet, the utterance while speaking
        self._speaking, self._quiet = False, 0

    def feed(self, chunk: np.ndarray) -> list[np.ndarray]:
        """Add samples; returns the utterances that ended in them."""
        x = np.concatenate([self._pending, np.asarray(chunk, np.float32)])
        n = len(x) // self.frame
        self._pending = x[n * self.frame:]
        done = []
        for frame in x[: n * self.frame].reshape(n, self.frame):
            loud = float(np.sqrt(np.mean(frame ** 2))) >= self.threshold
            self._frames.append(frame)
            if not self._speaking:
                if loud:
                    self._speaking, self._quiet = True, 0
                else:
                    del self._frames[: max(0, len(self._frames) - self.pre_frames)]
                continue
            self._quiet = 0 if loud else self._quiet + 1
            if self._quiet >= self.end_frames or len(self._frames) >= self.max_frames:
                done.append(self._take())
        return done

    def flush(self) -> np.ndarray | None:
        """The utterance in progress (the stream stopped), or None when there is none."""
        if not self._speaking:
            return None
        self._frames.append(self._pending)
        self._pending = np.zeros(0, np.float32)
        return self._take()

    @property
    def speaking(self) -> bool:
        return self._speaking

    def _take(self) -> np.ndarray:
        utterance = np.concatenate(self._frames)
        self._frames, self._speaking, self._quiet = [], False, 0
        return utterance
