"""The browser view drawn with Rerun (rerun-sdk, its web viewer inside the wheel: no CDN).

One RecordingStream served over gRPC (the viewer's data) and Rerun's web viewer served over HTTP
(the page, connected to that gRPC server). Layout: the kitchen from above on the left; the
camera, the step's score bars, and the plan (a tab beside it: the score table) on the right.

rerun-sdk is optional (a 170 MB wheel: `scripts/setup.sh --with-viewer`); `require_rerun` says how
to get it instead of an ImportError.
"""
from __future__ import annotations

from typing import Any
from urllib.parse import quote

import numpy as np

from saycan_ros.core.errors import SayCanError
from saycan_ros.viz.web_view import (
    ARROW, BOX, CAMERA, DISC, KITCHEN, PLAN, SCORES, TABLE, SceneUpdate, ScoreView, Shape2D, Text, free_port_error,
)

INSTALL_HINT = "the browser view needs rerun-sdk: run './scripts/setup.sh --with-viewer' (or 'make setup-view') once"
APPLICATION_ID = "saycan_ros"


def require_rerun() -> Any:
    """The rerun module, or a SayCanError saying how to install it."""
    try:
        import rerun
    except ImportError:
        raise SayCanError(INSTALL_HINT) from None
    return rerun


def viewer_url(web_port: int, grpc_port: int, host: str = "localhost") -> str:
    """The page to open: Rerun's web viewer, told where its data comes from."""
    return (f"http://{host}:{web_port}/?url=" + quote(f"rerun+http://{host}:{grpc_port}/proxy", safe="")
            + "&hide_welcome_screen")  # straight to the layout, also before the first data


class RerunView:
    """Serves the page and draws SceneUpdates, camera frames and scores into it."""

    def __init__(self, web_port: int = 9090, grpc_port: int = 9876, memory_limit: str = "512MiB",
                 bounds: tuple[tuple[float, float], tuple[float, float]] | None = None) -> None:
        problem = free_port_error({"web": web_port, "gRPC": grpc_port})
        if problem:
            raise SayCanError(f"cannot serve the browser view: {problem}")
        rr = self.rr = require_rerun()
        import rerun.blueprint as rrb

        self.rec = rr.RecordingStream(APPLICATION_ID)
        blueprint = rrb.Blueprint(
            rrb.Horizontal(
                rrb.Spatial2DView(origin=KITCHEN, name="kitchen (top-down, x right)",
                                  visual_bounds=rrb.VisualBounds2D(x_range=bounds[0], y_range=bounds[1]) if bounds else None),
                rrb.Vertical(rrb.Spatial2DView(origin=CAMERA, name="camera"),
                             rrb.Spatial2DView(origin=SCORES, name="scores of the current step"),
                             rrb.Tabs(rrb.TextDocumentView(origin=PLAN, name="plan"),
                                      rrb.TextDocumentView(origin=TABLE, name="score table"))),
                column_shares=[3, 2]),
            collapse_panels=True)
        try:
            server = self.rec.serve_grpc(grpc_port=grpc_port, default_blueprint=blueprint,
                                         server_memory_limit=memory_limit)
            rr.serve_web_viewer(web_port=web_port, open_browser=False, connect_to=server)
        except Exception as exc:  # a port taken between the check and the bind, or a refused address
            raise SayCanError(f"cannot serve the browser view: {exc}") from None
        self.url = viewer_url(web_port, grpc_port)
        self.logged: dict[str, int] = {}  # entity path -> times logged (tests and the node's summary)
        # something at once: a page opened before the graph publishes shows the layout, not Rerun's welcome
        self._log(TABLE, rr.TextDocument("waiting for the planner's first decision ...", media_type=rr.MediaType.TEXT))

    def _log(self, path: str, archetype: Any) -> None:
        self.rec.log(path, archetype)
        self.logged[path] = self.logged.get(path, 0) + 1

    def draw_scene(self, update: SceneUpdate) -> None:
        for path in update.cleared:
            self._log(path, self.rr.Clear(recursive=False))
        for path, entity in update.changed.items():
            self._log(path, self._archetype(entity))

    def _archetype(self, entity: Shape2D | Text) -> Any:
        rr = self.rr
        if isinstance(entity, Text):
            return rr.TextDocument(entity.text, media_type=rr.MediaType.TEXT)
        labels = [entity.label] if entity.label else None
        if entity.kind == ARROW:
            return rr.Arrows2D(origins=[entity.origin], vectors=[entity.vector], colors=[entity.rgba], labels=labels,
                               radii=0.03, draw_order=entity.draw_order)
        if entity.kind == DISC:
            return rr.Points2D([entity.origin], radii=[entity.radius], colors=[entity.rgba], labels=labels,
                               draw_order=entity.draw_order)
        if entity.kind == BOX:
            return rr.Boxes2D(centers=[entity.origin], half_sizes=[entity.half_size], colors=[entity.rgba],
                              labels=labels, draw_order=entity.draw_order)
        raise ValueError(f"unknown shape kind {entity.kind!r}")

    def draw_camera(self, rgb: np.ndarray) -> None:
        self._log(f"{CAMERA}/color", self.rr.Image(rgb, color_model="RGB"))

    def draw_scores(self, view: ScoreView) -> None:
        self._log(f"{SCORES}/chart", self.rr.Image(view.chart, color_model="RGB"))
        self._log(TABLE, self.rr.TextDocument(view.table, media_type=self.rr.MediaType.MARKDOWN))

    def close(self) -> None:
        self.rec.disconnect()
