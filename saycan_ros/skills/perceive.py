"""One camera frame (segmentation + depth) -> a Percept: detections and base_link point sets."""
from __future__ import annotations

from typing import Callable

import cv2
import numpy as np

from saycan_ros.core.camera_model import CameraMount, PinholeCamera
from saycan_ros.core.kitchen import Kitchen
from saycan_ros.core.pose import Pose2D
from saycan_ros.core.robot_geometry import RobotGeometry
from saycan_ros.perception.detection import detect_objects
from saycan_ros.skills.config import ExecutorConfig
from saycan_ros.skills.surface import horizontal_mask, organized_points
from saycan_ros.skills.types import OTHER_INSTANCES, Percept, SeenObject


def make_percept(segmentation: np.ndarray, depth: np.ndarray, camera: PinholeCamera, mount: CameraMount,
                 kitchen: Kitchen, min_pixels: int = 20, stride: int = 2,
                 ignore: Callable[[tuple[float, float, float]], bool] | None = None) -> Percept:
    """Detections from perception's detect_objects, plus the background points (all, and those on
    horizontal surfaces) and each detected object's points, subsampled by `stride`. With several
    objects of a kind in view, the detected one's points are its own blob's and the others' go
    under `<name> (others)`: obstacles, not the object. Blobs that `ignore` (base_link position)
    rejects are never the detected one (see `thrown_away_check`).

    Raises ValueError when the images disagree in size with each other or the camera info.
    """
    detections = detect_objects(segmentation, depth, camera, mount, kitchen, min_pixels=min_pixels, ignore=ignore)
    grid = organized_points(depth, camera, mount, stride)
    seg = np.asarray(segmentation)[::stride, ::stride]
    valid = np.isfinite(grid[..., 2])
    background = valid & (seg == 0)
    flat = horizontal_mask(grid)
    objects = tuple(SeenObject(d.name, d.pixels, d.position_base) for d in detections)
    object_points: dict[str, np.ndarray] = {}
    for d in detections:
        kind = seg == kitchen.object_id(d.name)
        own = _blob_of(kind, d.centroid_px, stride) if d.instances > 1 else kind
        object_points[d.name] = grid[valid & own]
        if d.instances > 1:  # two apples side by side: their points together centred the grasp between them
            object_points[d.name + OTHER_INSTANCES] = grid[valid & kind & ~own]
    return Percept(objects, grid[background], grid[background & flat], object_points)


def thrown_away_check(kitchen: Kitchen, config: ExecutorConfig, robot: RobotGeometry,
                      pose: Pose2D | None) -> Callable[[tuple[float, float, float]], bool] | None:
    """Whether a point seen from `pose` (base_link) lies in one of the executor's drop locations'
    containers: thrown away, it is neither found nor picked up again. None without a pose."""
    if pose is None:
        return None
    return kitchen.thrown_away(pose, config.drop_locations, 0.5 * sum(robot.reach), config.container_radius)


def _blob_of(mask: np.ndarray, centroid_px: tuple[float, float], stride: int) -> np.ndarray:
    """The connected part of `mask` (subsampled by `stride`) the detection measured: the one under its
    centroid, else the largest."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if n <= 2:
        return mask
    row, col = int(centroid_px[1]) // stride, int(centroid_px[0]) // stride
    label = int(labels[row, col]) if 0 <= row < labels.shape[0] and 0 <= col < labels.shape[1] else 0
    if label == 0:
        label = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    return labels == label
