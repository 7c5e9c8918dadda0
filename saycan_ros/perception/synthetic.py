"""Synthetic segmentation + depth images of objects at known base_link positions.

For tests and dry runs of the perception pipeline without a simulator: each object is drawn as a
disc of its apparent size at the depth of its centre, over a floor plane (z = 0) and nearer
objects occlude farther ones.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np

from saycan_ros.core.camera_model import CameraMount, PinholeCamera, base_to_pixel
from saycan_ros.core.kitchen import Kitchen


def floor_depth(camera: PinholeCamera, mount: CameraMount) -> np.ndarray:
    """Depth (along the optical axis) of the floor plane z = 0 per pixel; NaN where the ray misses it."""
    v, u = np.mgrid[0:camera.height, 0:camera.width].astype(np.float64)
    rays = np.stack([(u - camera.cx) / camera.fx, (v - camera.cy) / camera.fy, np.ones_like(u)], axis=-1)
    dz = rays @ mount.rotation()[2]  # base-frame z change per unit optical depth
    with np.errstate(divide="ignore", invalid="ignore"):
        depth = -mount.z / dz
    depth[~(depth > 0)] = np.nan
    return depth.astype(np.float32)


def render_scene(objects: Mapping[str, tuple[float, float, float, float]], camera: PinholeCamera,
                 mount: CameraMount, kitchen: Kitchen) -> tuple[np.ndarray, np.ndarray]:
    """(segmentation uint16, depth float32) for objects given as name -> (x, y, z, radius) in base_link."""
    seg = np.zeros((camera.height, camera.width), np.uint16)
    depth = floor_depth(camera, mount)
    v, u = np.mgrid[0:camera.height, 0:camera.width]
    projected = []
    for name, (x, y, z, radius) in objects.items():
        p = base_to_pixel(x, y, z, camera, mount)
        if p is not None:
            projected.append((p[2], name, p, radius))
    for d, name, (pu, pv, _), radius in sorted(projected, reverse=True):  # far first, near paints over
        r_px = camera.fx * radius / d
        disc = (u - pu) ** 2 + (v - pv) ** 2 <= r_px ** 2
        seg[disc] = kitchen.object_id(name)
        depth[disc] = d
    return seg, depth
