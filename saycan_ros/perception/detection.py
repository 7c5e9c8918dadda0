"""Objects from a segmentation image (class id per pixel) and a registered depth image.

The segmentation comes from the simulator or a segmentation network: class id =
`Kitchen.object_id(name)`, 0 = background, ids the kitchen does not know are ignored. This module
only turns that into named detections with a base_link position; it does not recognise anything
from RGB by itself.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import cv2
import numpy as np

from saycan_ros.core.camera_model import CameraMount, PinholeCamera, pixel_to_base
from saycan_ros.core.kitchen import Kitchen


@dataclass(frozen=True)
class Detection:
    name: str                                            # canonical object name (kitchen.objects key)
    pixels: int                                          # pixel count of the blob used
    centroid_px: tuple[float, float]                     # (u, v) = (column, row)
    position_base: tuple[float, float, float] | None     # base_link metres; None without valid depth
    distance: float | None                               # horizontal (xy) distance from base_link origin
    instances: int = 1                                   # separate blobs of this class seen


def detect_objects(segmentation: np.ndarray, depth: np.ndarray, camera: PinholeCamera,
                   mount: CameraMount, kitchen: Kitchen, min_pixels: int = 20,
                   ignore: Callable[[tuple[float, float, float]], bool] | None = None) -> list[Detection]:
    """One Detection per object class with at least `min_pixels` connected pixels, largest first.

    Position: the median valid depth of the class's largest connected blob (so a second can of
    the same kind or a stray pixel does not drag the estimate), deprojected at the blob's centroid.
    `ignore(position)` passes over blobs that do not count (an apple in the trash can), so a smaller
    one of the same kind elsewhere is the detection; `instances` still counts every blob.
    Raises ValueError when the arrays disagree in size with each other or with the camera.
    """
    seg, dep = np.asarray(segmentation), np.asarray(depth, dtype=np.float32)
    if seg.ndim != 2 or dep.ndim != 2:
        raise ValueError(f"segmentation and depth must be 2-D (got {seg.shape} and {dep.shape})")
    if seg.shape != dep.shape:
        raise ValueError(f"segmentation {seg.shape[1]}x{seg.shape[0]} and depth {dep.shape[1]}x{dep.shape[0]} "
                         "are not registered (different sizes)")
    if seg.shape != (camera.height, camera.width):
        raise ValueError(f"images are {seg.shape[1]}x{seg.shape[0]} but the camera info says "
                         f"{camera.width}x{camera.height}")
    valid_depth = np.isfinite(dep) & (dep > 0.0)
    detections = []
    ids, counts = np.unique(seg, return_counts=True)
    for class_id, count in zip(ids.tolist(), counts.tolist()):
        name = kitchen.object_by_id(int(class_id)) if class_id else None
        if name is None or count < min_pixels:
            continue
        mask = (seg == class_id).astype(np.uint8)
        n, labels, stats, centroids = cv2.connectedComponentsWithStats(mask, connectivity=8)
        areas = stats[1:, cv2.CC_STAT_AREA]  # label 0 is the background
        blobs = int(np.count_nonzero(areas >= min_pixels))
        for label in 1 + np.argsort(-areas, kind="stable")[:blobs]:
            u, v = (float(c) for c in centroids[label])
            position, distance = None, None
            blob_depth = dep[(labels == label) & valid_depth]
            if blob_depth.size:
                position = pixel_to_base(u, v, float(np.median(blob_depth)), camera, mount)
                distance = math.hypot(position[0], position[1])
            if ignore is not None and position is not None and ignore(position):
                continue
            detections.append(Detection(name, int(areas[label - 1]), (u, v), position, distance, blobs))
            break
    detections.sort(key=lambda d: -d.pixels)
    return detections


def object_at_pixel(segmentation: np.ndarray, u: float, v: float, kitchen: Kitchen,
                    radius_px: int = 0) -> str | None:
    """The object whose pixels are at (u, v), or the most frequent one within `radius_px`; else None."""
    seg = np.asarray(segmentation)
    h, w = seg.shape[:2]
    col, row = int(round(u)), int(round(v))
    r = max(int(radius_px), 0)
    r0, r1, c0, c1 = max(row - r, 0), min(row + r + 1, h), max(col - r, 0), min(col + r + 1, w)
    if r0 >= r1 or c0 >= c1:
        return None
    window = seg[r0:r1, c0:c1].ravel()
    window = window[window > 0]
    if not window.size:
        return None
    ids, counts = np.unique(window, return_counts=True)
    for class_id in ids[np.argsort(-counts)].tolist():
        name = kitchen.object_by_id(int(class_id))
        if name is not None:
            return name
    return None
