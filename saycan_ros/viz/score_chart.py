"""One planning step's scores as a small RGB chart (for saycan/score_image in rviz).

A title row, then a row per candidate: the skill, and three bars: p_LLM and p_LLM x p_affordance
relative to the best shown (raw language-model probabilities of whole sentences are tiny, so
absolute bars would all look empty), and p_affordance as is (0..1). The chosen skill's row has
its own background. Drawn with OpenCV into an array: no window, no matplotlib.
"""
from __future__ import annotations

import math
from typing import Sequence

import cv2
import numpy as np

from saycan_ros.core.scoring import Candidate

BACKGROUND = (255, 255, 255)
CHOSEN_BACKGROUND = (255, 236, 160)
TITLE_BACKGROUND = (40, 44, 52)
TEXT = (20, 20, 20)
TITLE_TEXT = (240, 240, 240)
# (legend, colour) of the three bars, top to bottom within a row
BARS = (("p_LLM (rel.)", (52, 101, 164)), ("p_affordance", (78, 154, 6)), ("product (rel.)", (117, 80, 123)))
FONT = cv2.FONT_HERSHEY_SIMPLEX
LABEL_WIDTH = 240  # pixels for the skill's text
VALUE_WIDTH = 56   # pixels right of the bars for the numbers


def chart_size(rows: int, width: int = 640, row_height: int = 40) -> tuple[int, int]:
    """(height, width) of the chart for `rows` candidates: one title row plus a row each."""
    return row_height * (rows + 1), width


def render_score_chart(candidates: Sequence[Candidate], chosen: str, title: str = "", width: int = 640,
                       row_height: int = 40) -> np.ndarray:
    """An (H, W, 3) uint8 RGB image of the candidates in the given order (best first)."""
    if width < LABEL_WIDTH + VALUE_WIDTH + 40 or row_height < 12:
        raise ValueError(f"chart too small: {width} x {row_height} per row")
    height, _ = chart_size(len(candidates), width, row_height)
    image = np.full((height, width, 3), BACKGROUND, np.uint8)
    _draw_title(image, title, row_height)
    if not candidates:
        return image
    best_llm = max(c.llm for c in candidates)
    best_combined = max(c.combined for c in candidates)
    bar_left, bar_right = LABEL_WIDTH, width - VALUE_WIDTH
    bar_height = max(2, (row_height - 8) // 3)
    for row, cand in enumerate(candidates, 1):
        top = row * row_height
        if cand.skill == chosen:
            image[top:top + row_height] = CHOSEN_BACKGROUND
        cv2.line(image, (0, top), (width - 1, top), (210, 210, 210), 1)
        _put(image, _fit(("> " if cand.skill == chosen else "  ") + cand.skill, LABEL_WIDTH - 8, 0.45),
             (4, top + row_height // 2 + 5), 0.45, TEXT)
        fractions = (math.exp(cand.llm - best_llm), cand.affordance, math.exp(cand.combined - best_combined))
        values = (f"{cand.llm:.2f}", f"{cand.affordance:.2f}", f"{cand.combined:.2f}")
        for i, ((_, colour), fraction, value) in enumerate(zip(BARS, fractions, values)):
            y = top + 4 + i * bar_height
            length = int(round((bar_right - bar_left) * min(max(fraction, 0.0), 1.0)))
            if length > 0:
                cv2.rectangle(image, (bar_left, y), (bar_left + length - 1, y + bar_height - 2), colour, -1)
            _put(image, value, (bar_right + 4, y + bar_height - 2), 0.32, colour)
    return image


def _draw_title(image: np.ndarray, title: str, row_height: int) -> None:
    width = image.shape[1]
    image[:row_height] = TITLE_BACKGROUND
    legend_x = width - 3 * 100
    _put(image, _fit(title, legend_x - 12, 0.45), (4, row_height // 2 + 5), 0.45, TITLE_TEXT)
    for i, (name, colour) in enumerate(BARS):
        x = legend_x + i * 100
        cv2.rectangle(image, (x, row_height // 2 - 5), (x + 10, row_height // 2 + 5), colour, -1)
        _put(image, name, (x + 14, row_height // 2 + 4), 0.33, TITLE_TEXT)


def _put(image: np.ndarray, text: str, origin: tuple[int, int], scale: float, colour: tuple[int, int, int]) -> None:
    cv2.putText(image, text, origin, FONT, scale, colour, 1, cv2.LINE_AA)


def _fit(text: str, max_width: int, scale: float) -> str:
    """`text`, cut with '...' so that it fits `max_width` pixels (Hershey fonts cannot draw '…')."""
    if cv2.getTextSize(text, FONT, scale, 1)[0][0] <= max_width:
        return text
    while text and cv2.getTextSize(text + "...", FONT, scale, 1)[0][0] > max_width:
        text = text[:-1]
    return text + "..."
