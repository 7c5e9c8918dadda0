"""One camera frame (segmentation + depth) -> a Percept: detections and base_link point sets."""
from __future__ import annotations

import numpy as np

from saycan_ros.core.camera_model import CameraMount, PinholeCamera
from saycan_ros.core.kitchen import Kitchen
from saycan_ros.perception.detection import detect_objects
from saycan_ros.skills.surface import horizontal_mask, organized_points
from saycan_ros.skills.types import Percept, SeenObject


def make_percept(segmentation: np.ndarray, depth: np.ndarray, camera: PinholeCamera, mount: CameraMount,
                 kitchen: Kitchen, min_pixels: int = 20, stride: int = 2) -> Percept:
    """Detections from perception's detect_objects, plus the background points (all, and those on
    horizontal surfaces) and each detected object's points, subsampled by `stride`.

    Raises ValueError when the images disagree in size with each other or the camera info.
    """
    detections = detect_objects(segmentation, depth, camera, mount, kitchen, min_pixels=min_pixels)
    grid = organized_points(depth, camera, mount, stride)
    seg = np.asarray(segmentation)[::stride, ::stride]
    valid = np.isfinite(grid[..., 2])
    background = valid & (seg == 0)
    flat = horizontal_mask(grid)
    objects = tuple(SeenObject(d.name, d.pixels, d.position_base) for d in detections)
    object_points = {d.name: grid[valid & (seg == kitchen.object_id(d.name))] for d in detections}
    return Percept(objects, grid[background], grid[background & flat], object_points)
