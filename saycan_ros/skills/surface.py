"""Surfaces and object extents from depth points in base_link (pure numpy).

The executor measures where to put things down and how high to grasp from the camera's depth,
not from a map of furniture heights: a counter, a table, the user's tray and the trash can's rim
are all "the highest flat thing in front of the gripper".
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from saycan_ros.perception.camera_model import CameraMount, PinholeCamera


def organized_points(depth: np.ndarray, camera: PinholeCamera, mount: CameraMount, stride: int = 1) -> np.ndarray:
    """(H/stride, W/stride, 3) base_link points of a depth image, keeping the pixel grid (needed for
    normals); NaN where the depth is invalid."""
    dep = np.asarray(depth, dtype=np.float64)[::stride, ::stride]
    rows, cols = np.mgrid[0:depth.shape[0]:stride, 0:depth.shape[1]:stride].astype(np.float64)
    dep = np.where(np.isfinite(dep) & (dep > 0.0), dep, np.nan)
    optical = np.stack([(cols - camera.cx) / camera.fx * dep, (rows - camera.cy) / camera.fy * dep, dep], axis=-1)
    return optical @ mount.rotation().T + mount.translation


def horizontal_mask(grid: np.ndarray, min_normal_z: float = 0.9) -> np.ndarray:
    """Pixels whose surface normal (from the neighbouring pixels' points) points up or down: table
    tops, counters, trays, floors; not the fronts of furniture or people. False at the borders."""
    g = np.asarray(grid, dtype=np.float64)
    mask = np.zeros(g.shape[:2], dtype=bool)
    if g.shape[0] < 3 or g.shape[1] < 3:
        return mask
    du = g[1:-1, 2:] - g[1:-1, :-2]
    dv = g[2:, 1:-1] - g[:-2, 1:-1]
    n = np.cross(du, dv)
    norm = np.linalg.norm(n, axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        nz = np.abs(n[..., 2]) / norm
    mask[1:-1, 1:-1] = np.nan_to_num(nz, nan=0.0) >= min_normal_z
    return mask


@dataclass(frozen=True)
class Surface:
    height: float    # z of the top, base_link metres
    near_x: float    # where the surface starts in front of the robot (its front edge)
    far_x: float     # the farthest surface point seen in the corridor
    center: tuple[float, float]  # mean x, y of the top points (the middle of a rim/opening)
    points: int


def _corridor(points: np.ndarray, x_min: float, x_max: float, half_width: float, y_center: float = 0.0) -> np.ndarray:
    p = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    keep = (p[:, 0] >= x_min) & (p[:, 0] <= x_max) & (np.abs(p[:, 1] - y_center) <= half_width)
    return p[keep]


def support_surface(points: np.ndarray, x_min: float, x_max: float, half_width: float, *,
                    min_height: float = 0.05, bin_size: float = 0.01, min_points: int = 25,
                    y_center: float = 0.0) -> Surface | None:
    """The main horizontal surface in a corridor in front of the robot, or None.

    `points` should be horizontal-surface points (see horizontal_mask). The level with the most
    points wins: a counter or a tray beats the thin rims and edges around it.
    """
    p = _corridor(points, x_min, x_max, half_width, y_center)
    p = p[p[:, 2] >= min_height]
    if len(p) < min_points:
        return None
    z = p[:, 2]
    bins = np.floor(z / bin_size).astype(np.int64)
    ids, counts = np.unique(bins, return_counts=True)
    if counts.max() < min_points:
        return None
    best = ids[np.argmax(counts)]
    near = np.abs(z - (best + 0.5) * bin_size) <= 1.5 * bin_size
    level = float(np.median(z[near]))
    tp = p[np.abs(z - level) <= 1.5 * bin_size]
    return Surface(level, float(np.percentile(tp[:, 0], 3)), float(np.percentile(tp[:, 0], 97)),
                   (float(tp[:, 0].mean()), float(tp[:, 1].mean())), int(len(tp)))


def rim(points: np.ndarray, x_min: float, x_max: float, half_width: float, *, min_height: float = 0.05,
        band: float = 0.03, min_points: int = 5, y_center: float = 0.0) -> Surface | None:
    """The top of whatever stands in the corridor (a container's rim), or None.

    Height: a high percentile (a thin rim gives few points, so no density test); the centre of the
    points within `band` below it is the middle of the opening.
    """
    p = _corridor(points, x_min, x_max, half_width, y_center)
    p = p[p[:, 2] >= min_height]
    if len(p) < min_points:
        return None
    top = float(np.percentile(p[:, 2], 98))
    tp = p[p[:, 2] >= top - band]
    return Surface(top, float(tp[:, 0].min()), float(tp[:, 0].max()),
                   (float(tp[:, 0].mean()), float(tp[:, 1].mean())), int(len(tp)))


def support_height(points: np.ndarray, at: tuple[float, float], below: float, *, inner: float = 0.06,
                   outer: float = 0.2, bin_size: float = 0.01, min_points: int = 10) -> float | None:
    """Height of the surface an object at `at` (x, y) stands on: the highest well-populated level
    of the horizontal background points in a ring around it, below the object's top `below`."""
    p = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    r = np.hypot(p[:, 0] - at[0], p[:, 1] - at[1])
    p = p[(r >= inner) & (r <= outer) & (p[:, 2] < below)]
    if len(p) < min_points:
        return None
    bins = np.floor(p[:, 2] / bin_size).astype(np.int64)
    ids, counts = np.unique(bins, return_counts=True)
    dense = ids[counts >= min_points]
    if dense.size == 0:
        return None
    top_bin = dense.max()
    z = p[:, 2]
    return float(np.median(z[np.abs(z - (top_bin + 0.5) * bin_size) <= 1.5 * bin_size]))


@dataclass(frozen=True)
class ObjectEstimate:
    x: float       # centre, base_link
    y: float
    top: float     # highest point seen
    support: float | None  # the surface it stands on, when measured


def estimate_object(position: tuple[float, float, float], object_points: np.ndarray | None,
                    background: np.ndarray, footprint_radius: float, camera_xy: tuple[float, float]) -> ObjectEstimate:
    """Centre and height of an object from its visible points.

    The camera sees the object's near side, so the visible points lie in front of the centre: push
    the estimate back along the horizontal viewing ray by half the footprint radius (the visible
    centroid of a cylinder or sphere seen from above and in front sits about there).
    """
    px, py, pz = position
    top = pz
    if object_points is not None and len(object_points):
        pts = np.asarray(object_points, dtype=np.float64).reshape(-1, 3)
        px, py = float(np.median(pts[:, 0])), float(np.median(pts[:, 1]))
        top = float(np.percentile(pts[:, 2], 98))
    rx, ry = px - camera_xy[0], py - camera_xy[1]
    norm = math.hypot(rx, ry)
    if norm > 1e-6:
        px += 0.5 * footprint_radius * rx / norm
        py += 0.5 * footprint_radius * ry / norm
    support = support_height(background, (px, py), below=top - 0.005) if len(background) else None
    return ObjectEstimate(px, py, top, support)
