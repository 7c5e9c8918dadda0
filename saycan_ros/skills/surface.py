"""Surfaces and object extents from depth points in base_link (pure numpy).

The executor measures where to put things down and how high to grasp from the camera's depth,
not from a map of furniture heights: a counter, a table, the user's tray and the trash can's rim
are all "the highest flat thing in front of the gripper".
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from saycan_ros.core.camera_model import CameraMount, PinholeCamera


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

    Height: a high percentile (a thin rim gives few points, so no density test); the middle of the
    extent of the points within `band` below it is the middle of the opening.
    """
    p = _corridor(points, x_min, x_max, half_width, y_center)
    p = p[p[:, 2] >= min_height]
    if len(p) < min_points:
        return None
    top = float(np.percentile(p[:, 2], 98))
    tp = p[p[:, 2] >= top - band]
    # The middle of the extent, not the mean: the far wall's inside shows many more points than the near rim.
    (x0, y0), (x1, y1) = np.percentile(tp[:, :2], 2, axis=0), np.percentile(tp[:, :2], 98, axis=0)
    return Surface(top, float(x0), float(x1), (float(x0 + x1) / 2, float(y0 + y1) / 2), int(len(tp)))


def support_height(points: np.ndarray, at: tuple[float, float], below: float, *, inner: float = 0.06,
                   outer: float = 0.2, bin_size: float = 0.01, min_points: int = 10, x_min: float = -math.inf) -> float | None:
    """Height of the surface an object at `at` (x, y) stands on: the most populated level of the
    horizontal background points in a ring around it, below the object's top `below`, ignoring
    points nearer than `x_min` (where the robot sees its own gripper)."""
    p = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    r = np.hypot(p[:, 0] - at[0], p[:, 1] - at[1])
    p = p[(r >= inner) & (r <= outer) & (p[:, 2] < below) & (p[:, 0] >= x_min)]
    if len(p) < min_points:
        return None
    z = p[:, 2]
    ids, counts = np.unique(np.floor(z / bin_size).astype(np.int64), return_counts=True)
    if counts.max() < min_points:
        return None
    best = ids[np.argmax(counts)]
    return float(np.median(z[np.abs(z - (best + 0.5) * bin_size) <= 1.5 * bin_size]))


@dataclass(frozen=True)
class ObjectEstimate:
    x: float       # centre, base_link
    y: float
    top: float     # highest point seen
    support: float | None  # the surface it stands on, when measured


def estimate_object(position: tuple[float, float, float], object_points: np.ndarray | None,
                    background: np.ndarray, footprint_radius: float, camera_xy: tuple[float, float],
                    x_min: float = -math.inf) -> ObjectEstimate:
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
    support = support_height(background, (px, py), below=top - 0.005, x_min=x_min) if len(background) else None
    return ObjectEstimate(px, py, top, support)


def free_spot(surface: Surface, surface_points: np.ndarray, obstacles_xy: np.ndarray, *, reach: tuple[float, float],
              radius: float, clearance: float = 0.03, preferred_x: float | None = None, y_max: float = 0.25,
              step: float = 0.02, band: float = 0.015, keep_room: float = 0.0) -> tuple[float, float] | None:
    """A spot (x, y) on `surface` to put down an object of footprint `radius`, or None.

    A spot qualifies when (1) the surface was seen all around it: each of 8 sectors of a disc of
    `radius` + 2 cm holds a point at the surface's level (so not over an edge, a hole, or a
    region hidden behind another object); (2) nothing else (`obstacles_xy`: other objects, rims,
    walls) is within `radius` + `clearance`; (3) the arm reaches it once the base turns toward it
    (distance within `reach`). Among those, the one nearest to straight ahead at `preferred_x`;
    with `keep_room`, only those that leave a qualifying spot for one more object of that
    footprint beside it, when any does (a tray: an apple put in its middle left no room for a
    banana).
    """
    pts = np.asarray(surface_points, dtype=np.float64).reshape(-1, 3)
    level = pts[np.abs(pts[:, 2] - surface.height) <= band][:, :2]
    if len(level) == 0:
        return None
    level = _thin(level, 1500)
    obstacles_xy = _thin(np.asarray(obstacles_xy, dtype=np.float64).reshape(-1, 2), 1500)
    smallest = min(radius, keep_room) if keep_room > 0.0 else radius
    xs = np.arange(max(reach[0], surface.near_x + smallest), min(reach[1], surface.far_x - smallest) + 1e-9, step)
    ys = np.arange(-y_max, y_max + 1e-9, step)
    if xs.size == 0 or ys.size == 0:
        return None
    cx, cy = np.meshgrid(xs, ys, indexing="ij")
    grid = np.stack([cx.ravel(), cy.ravel()], axis=1)
    dist = np.hypot(grid[:, 0], grid[:, 1])
    grid = grid[(dist >= reach[0]) & (dist <= reach[1])]
    if len(grid) == 0:
        return None
    d = level[None, :, :] - grid[:, None, :]                     # (C, P, 2)
    r = np.hypot(d[..., 0], d[..., 1])
    sector = np.floor((np.arctan2(d[..., 1], d[..., 0]) + np.pi) / (np.pi / 4)).astype(np.int64) % 8
    obs = np.asarray(obstacles_xy, dtype=np.float64).reshape(-1, 2)
    nearest = (np.min(np.hypot(obs[None, :, 0] - grid[:, None, 0], obs[None, :, 1] - grid[:, None, 1]), axis=1)
               if len(obs) else np.full(len(grid), np.inf))

    def spots_for(footprint: float) -> np.ndarray:
        inside = (grid[:, 0] >= surface.near_x + footprint) & (grid[:, 0] <= surface.far_x - footprint)
        covered = np.zeros((len(grid), 8), dtype=bool)
        rows, cols = np.nonzero(r <= footprint + 0.02)
        covered[rows, sector[rows, cols]] = True
        return grid[inside & covered.all(axis=1) & (nearest >= footprint + clearance)]

    cand = spots_for(radius)
    if len(cand) == 0:
        return None
    if keep_room > 0.0 and len(cand) > 1:
        after = spots_for(keep_room)
        if len(after):
            gap = np.hypot(cand[:, None, 0] - after[None, :, 0], cand[:, None, 1] - after[None, :, 1])
            leaves_room = (gap >= radius + keep_room + clearance).any(axis=1)
            if leaves_room.any():
                cand = cand[leaves_room]
    px = surface.near_x + 0.12 if preferred_x is None else preferred_x
    cost = np.abs(cand[:, 1]) + 0.5 * np.abs(cand[:, 0] - px)
    best = cand[int(np.argmin(cost))]
    return float(best[0]), float(best[1])


def _thin(points: np.ndarray, most: int) -> np.ndarray:
    """At most `most` points, evenly strided (keeps coverage, bounds the O(candidates x points) cost)."""
    return points if len(points) <= most else points[:: int(math.ceil(len(points) / most))]


def highest_along(points: np.ndarray, to: tuple[float, float], half_width: float, x_from: float = 0.0) -> float | None:
    """The highest point in the straight corridor from the base origin to `to` (x, y), `half_width`
    either side and from `x_from` along it to just past `to`: what the arm sweeps over."""
    p = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    length = math.hypot(*to)
    if len(p) == 0 or length < 1e-6:
        return None
    ux, uy = to[0] / length, to[1] / length
    along = p[:, 0] * ux + p[:, 1] * uy
    across = -p[:, 0] * uy + p[:, 1] * ux
    sel = (along >= x_from) & (along <= length + half_width) & (np.abs(across) <= half_width)
    return float(p[sel, 2].max()) if sel.any() else None


def free_distance_ahead(points: np.ndarray, half_width: float, min_z: float = 0.03) -> float:
    """Distance (base x) to the nearest seen point in the base's corridor straight ahead that is not
    floor: how far the base could move forward before touching something (inf if nothing seen)."""
    p = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    sel = (p[:, 0] > 0.0) & (np.abs(p[:, 1]) <= half_width) & (p[:, 2] >= min_z)
    return float(p[sel, 0].min()) if sel.any() else math.inf
