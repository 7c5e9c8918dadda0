"""detect_objects on synthetic segmentation + depth: names, positions, noise and bad input."""
from __future__ import annotations

import math

import numpy as np
import pytest

from saycan_ros.core.camera_model import CameraMount, PinholeCamera, base_to_pixel
from saycan_ros.core.kitchen import load_kitchen
from saycan_ros.perception.detection import detect_objects, object_at_pixel
from saycan_ros.perception.synthetic import render_scene

KITCHEN = load_kitchen()
CAM = PinholeCamera.from_fov(320, 240, 55.0)
MOUNT = CameraMount(0.1, 0.0, 1.25, math.radians(40.0))


def test_objects_are_named_and_located_in_base_link():
    scene = {"apple": (0.6, 0.1, 0.9, 0.04), "coke can": (0.9, -0.2, 0.95, 0.035)}
    seg, depth = render_scene(scene, CAM, MOUNT, KITCHEN)
    found = {d.name: d for d in detect_objects(seg, depth, CAM, MOUNT, KITCHEN)}
    assert set(found) == {"apple", "coke can"}
    for name, (x, y, z, _) in scene.items():
        assert found[name].position_base == pytest.approx((x, y, z), abs=0.01)
        assert found[name].distance == pytest.approx(math.hypot(x, y), abs=0.01)
        assert found[name].instances == 1
    # The nearer apple appears larger.
    assert found["apple"].pixels > found["coke can"].pixels


def test_class_ids_follow_the_kitchen_order_and_unknown_ids_are_ignored():
    seg = np.zeros((CAM.height, CAM.width), np.uint16)
    depth = np.full(seg.shape, 1.0, np.float32)
    seg[10:20, 10:20] = KITCHEN.object_id("sponge")
    seg[50:60, 50:60] = 999  # not an object of this kitchen (e.g. furniture from another labeller)
    dets = detect_objects(seg, depth, CAM, MOUNT, KITCHEN)
    assert [d.name for d in dets] == ["sponge"]
    assert dets[0].pixels == 100 and dets[0].centroid_px == pytest.approx((14.5, 14.5))


def test_small_blobs_and_missing_depth():
    seg = np.zeros((CAM.height, CAM.width), np.uint16)
    depth = np.full(seg.shape, np.nan, np.float32)
    seg[0:3, 0:3] = KITCHEN.object_id("apple")  # 9 px < min_pixels: noise
    seg[100:110, 100:110] = KITCHEN.object_id("orange")  # seen, but no depth there
    dets = detect_objects(seg, depth, CAM, MOUNT, KITCHEN, min_pixels=20)
    assert [d.name for d in dets] == ["orange"]
    assert dets[0].position_base is None and dets[0].distance is None


def test_position_uses_the_largest_blob_of_a_class():
    seg = np.zeros((CAM.height, CAM.width), np.uint16)
    depth = np.full(seg.shape, 2.0, np.float32)
    cid = KITCHEN.object_id("coke can")
    seg[100:120, 100:120] = cid
    depth[100:120, 100:120] = 1.0
    seg[10:16, 200:206] = cid  # a second, smaller can far away
    depth[10:16, 200:206] = 3.0
    (det,) = detect_objects(seg, depth, CAM, MOUNT, KITCHEN)
    assert det.instances == 2 and det.pixels == 400
    u, v, d = base_to_pixel(*det.position_base, CAM, MOUNT)
    assert (u, v, d) == pytest.approx((109.5, 109.5, 1.0))


def test_ignored_blobs_give_way_to_the_next_largest_of_the_kind():
    """An apple in the trash can (near, large) must not hide the one on the counter beside it."""
    scene = {"apple": (0.55, 0.0, 0.5, 0.04)}
    seg, depth = render_scene(scene, CAM, MOUNT, KITCHEN)
    far_seg, far_depth = render_scene({"apple": (1.2, -0.4, 0.9, 0.04)}, CAM, MOUNT, KITCHEN)
    seg, depth = np.where(seg > 0, seg, far_seg), np.where(seg > 0, depth, far_depth)
    (largest,) = detect_objects(seg, depth, CAM, MOUNT, KITCHEN)
    assert largest.position_base == pytest.approx((0.55, 0.0, 0.5), abs=0.01) and largest.instances == 2

    def in_bin(p):
        return math.hypot(p[0] - 0.55, p[1]) < 0.2
    (other,) = detect_objects(seg, depth, CAM, MOUNT, KITCHEN, ignore=in_bin)
    assert other.position_base == pytest.approx((1.2, -0.4, 0.9), abs=0.02)
    assert other.pixels < largest.pixels and other.instances == 2
    assert detect_objects(seg, depth, CAM, MOUNT, KITCHEN, ignore=lambda p: True) == []


def test_mismatched_images_raise_value_error():
    seg = np.zeros((240, 320), np.uint16)
    with pytest.raises(ValueError, match="not registered"):
        detect_objects(seg, np.zeros((120, 160), np.float32), CAM, MOUNT, KITCHEN)
    small = np.zeros((120, 160), np.uint16)
    with pytest.raises(ValueError, match="camera info says 320x240"):
        detect_objects(small, np.zeros((120, 160), np.float32), CAM, MOUNT, KITCHEN)


def test_object_at_pixel_searches_a_window():
    seg = np.zeros((50, 50), np.uint16)
    seg[20:30, 20:30] = KITCHEN.object_id("banana")
    assert object_at_pixel(seg, 25, 25, KITCHEN) == "banana"
    assert object_at_pixel(seg, 15, 15, KITCHEN) is None
    assert object_at_pixel(seg, 15, 15, KITCHEN, radius_px=6) == "banana"
    assert object_at_pixel(seg, -40, 25, KITCHEN, radius_px=3) is None
