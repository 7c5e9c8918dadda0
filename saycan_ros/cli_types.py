"""Argument types shared by the command-line tools (saycan demo, view, replay)."""
from __future__ import annotations

import argparse
from typing import Any, Callable


def bounded(kind: type, low: float, high: float) -> Callable[[str], Any]:
    """An argparse type that refuses values outside [low, high] before anything starts."""
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{text}' is not a {kind.__name__}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is outside {low}..{high}")
        return value
    return parse
