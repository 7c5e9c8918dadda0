"""What the browser view shows, as plain data: the kitchen seen from above, the plan, the scores.

The viewer node turns `saycan/markers` into MarkerSpecs and hands them here; each becomes one
Shape2D (an arrow, a disc or a box, in top-down coordinates) or, for the plan, a text. Only
entities that changed since the last call are returned, so the 2 Hz marker stream does not fill
the viewer's memory with copies. No rclpy, no viewer library: saycan_ros.viz.rerun_view draws
these with Rerun.

Top-down coordinates: the fixed frame's x to the right and its y up (the viewer's 2D y axis
points down, so y is negated).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

import numpy as np

from saycan_ros.core.kitchen import Kitchen
from saycan_ros.core.scoring import Candidate
from saycan_ros.viz.scene_markers import DELETE, NS_HIGHLIGHT, NS_LOCATIONS, NS_OBJECTS, NS_ROBOT, MarkerSpec
from saycan_ros.viz.score_chart import render_score_chart

KITCHEN, PLAN, SCORES, TABLE, CAMERA = "kitchen", "plan", "scores", "table", "camera"
ARROW, DISC, BOX = "arrow", "disc", "box"
# Shapes below others are drawn first: the highlight under the location arrows under the objects
# under the robot.
DRAW_ORDER = {NS_HIGHLIGHT: 10.0, NS_LOCATIONS: 20.0, NS_OBJECTS: 30.0, NS_ROBOT: 40.0}
LABEL_SUFFIX = "_labels"  # text markers that repeat a shape's name: the shape carries it as its label


@dataclass(frozen=True)
class Shape2D:
    """One marker seen from above."""

    kind: str  # ARROW (from `origin` along `vector`), DISC (centre `origin`, `radius`) or BOX (`half_size`)
    origin: tuple[float, float]
    vector: tuple[float, float] = (0.0, 0.0)
    radius: float = 0.0
    half_size: tuple[float, float] = (0.0, 0.0)
    rgba: tuple[int, int, int, int] = (255, 255, 255, 255)
    label: str = ""
    draw_order: float = 0.0


@dataclass(frozen=True)
class Text:
    """A marker's text (the plan so far) for the viewer's text panel."""

    text: str


Entity = Shape2D | Text


def entity_path(spec: MarkerSpec) -> str:
    """Where a marker lives in the viewer: one path per rviz (namespace, id), so updates replace."""
    return f"{PLAN if spec.type.startswith('TEXT') else KITCHEN}/{spec.namespace}/{spec.id}"


def top_down(x: float, y: float) -> tuple[float, float]:
    return (round(x, 4), round(-y, 4))


def to_entity(spec: MarkerSpec) -> Entity | None:
    """The marker as a top-down shape or a text; None for what the view leaves out (labels, which
    the shapes carry, and marker types it does not draw)."""
    rgba = tuple(int(round(255 * min(max(c, 0.0), 1.0))) for c in spec.rgba)
    order = DRAW_ORDER.get(spec.namespace, 25.0)
    x, y, _ = spec.position
    sx, sy, _ = spec.scale
    if spec.type.startswith("TEXT"):
        return None if spec.namespace.endswith(LABEL_SUFFIX) else Text(spec.text)
    if spec.type == "ARROW":
        vector = top_down(sx * math.cos(spec.yaw), sx * math.sin(spec.yaw))
        return Shape2D(ARROW, top_down(x, y), vector=vector, rgba=rgba, label=spec.text, draw_order=order)
    if spec.type in ("CYLINDER", "SPHERE"):
        return Shape2D(DISC, top_down(x, y), radius=round(max(sx, sy) / 2, 4), rgba=rgba, label=spec.text,
                       draw_order=order)
    if spec.type == "CUBE":
        return Shape2D(BOX, top_down(x, y), half_size=(round(sx / 2, 4), round(sy / 2, 4)), rgba=rgba,
                       label=spec.text, draw_order=order)
    return None


@dataclass
class SceneUpdate:
    changed: dict[str, Entity]  # path -> what to draw there now
    cleared: list[str]          # paths to remove


class TopDownScene:
    """The entities shown so far; `update` returns only what a marker array changes."""

    def __init__(self) -> None:
        self.shown: dict[str, Entity] = {}

    def update(self, markers: Iterable[MarkerSpec]) -> SceneUpdate:
        changed: dict[str, Entity] = {}
        cleared: list[str] = []
        for spec in markers:
            path = entity_path(spec)
            entity = None if spec.action == DELETE else to_entity(spec)
            if entity is None:
                if self.shown.pop(path, None) is not None:
                    cleared.append(path)
            elif self.shown.get(path) != entity:
                self.shown[path] = changed[path] = entity
        return SceneUpdate(changed, cleared)


@dataclass(frozen=True)
class ScoreView:
    """One step's scores as the browser shows them: the bar chart image and a table."""

    chart: np.ndarray  # (H, W, 3) uint8 RGB, saycan_ros.viz.score_chart
    table: str         # markdown, best first, the chosen skill marked


def score_view(candidates: Sequence[Candidate], chosen: str, step_index: int, width: int = 640,
               row_height: int = 40) -> ScoreView:
    """The bars and the table of a step's candidates (in the planner's order, best first)."""
    chart = render_score_chart(candidates, chosen, f"step {step_index}: {chosen}", width, row_height)
    rows = ["| | skill | LLM log p | affordance | combined |", "|---|---|---:|---:|---:|"]
    rows += [f"| {'>' if c.skill == chosen else ''} | {c.skill} | {c.llm:.2f} | {c.affordance:.2f} | {c.combined:.2f} |"
             for c in candidates]
    return ScoreView(chart, f"**step {step_index}: {chosen}**\n\n" + "\n".join(rows))


def kitchen_bounds(kitchen: Kitchen, margin: float = 0.8) -> tuple[tuple[float, float], tuple[float, float]]:
    """(x range, y range) of the top-down view: every location's pose with `margin` metres around."""
    points = [top_down(loc.pose[0], loc.pose[1]) for loc in kitchen.locations.values()] or [(0.0, 0.0)]
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    return (min(xs) - margin, max(xs) + margin), (min(ys) - margin, max(ys) + margin)


def every(rate_hz: float) -> float:
    """Seconds between two logged camera frames at `rate_hz` (0: every frame)."""
    return 0.0 if rate_hz <= 0 else 1.0 / rate_hz


def free_port_error(ports: Mapping[str, int]) -> str | None:
    """A one-line reason when one of the named ports cannot be served (in use, or not allowed), else None."""
    import socket

    for what, port in ports.items():
        if not 1 <= port <= 65535:
            return f"{what} port {port} is outside 1..65535"
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("0.0.0.0", port))
            except OSError as exc:
                return f"{what} port {port} is not free ({exc.strerror}): choose another"
    return None
