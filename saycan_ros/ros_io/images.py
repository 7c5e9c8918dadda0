"""sensor_msgs/Image <-> numpy, and CameraInfo from a pinhole model (cv_bridge has no wheel here).

Supported encodings: rgb8, bgr8, rgba8, bgra8, mono8, mono16 / 16UC1, 32FC1. Anything else raises
ValueError with the encoding's name so a node can log one clear line and drop the message.
"""
from __future__ import annotations

import sys
from typing import Any

import numpy as np
from builtin_interfaces.msg import Time
from sensor_msgs.msg import CameraInfo, Image

from saycan_ros.core.camera_model import PinholeCamera

# encoding -> (numpy dtype, channels)
ENCODINGS: dict[str, tuple[np.dtype, int]] = {
    "rgb8": (np.dtype(np.uint8), 3),
    "bgr8": (np.dtype(np.uint8), 3),
    "rgba8": (np.dtype(np.uint8), 4),
    "bgra8": (np.dtype(np.uint8), 4),
    "mono8": (np.dtype(np.uint8), 1),
    "8UC1": (np.dtype(np.uint8), 1),
    "mono16": (np.dtype(np.uint16), 1),
    "16UC1": (np.dtype(np.uint16), 1),
    "32FC1": (np.dtype(np.float32), 1),
}


def _layout(encoding: str) -> tuple[np.dtype, int]:
    try:
        return ENCODINGS[encoding]
    except KeyError:
        raise ValueError(
            f"unsupported image encoding '{encoding}' (supported: {', '.join(ENCODINGS)})") from None


def image_to_numpy(msg: Image) -> np.ndarray:
    """A (H, W) or (H, W, C) array in the message's own encoding (a copy; rows may be padded).

    Raises ValueError on an unsupported encoding or when the data size does not match
    height * step / width * channels.
    """
    dtype, channels = _layout(msg.encoding)
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    row_bytes = width * channels * dtype.itemsize
    if height == 0 or width == 0:
        raise ValueError(f"empty image ({width}x{height})")
    if step < row_bytes:
        raise ValueError(f"image step {step} < width*channels*bytes {row_bytes} ({msg.encoding}, {width}x{height})")
    data = msg.data
    buf = np.frombuffer(data.tobytes() if isinstance(data, np.ndarray) else bytes(data), dtype=np.uint8)
    if buf.size != step * height:
        raise ValueError(f"image data has {buf.size} bytes, expected step*height = {step * height} "
                         f"({msg.encoding}, {width}x{height})")
    rows = buf.reshape(height, step)[:, :row_bytes]  # drop row padding
    array = np.ascontiguousarray(rows).view(dtype.newbyteorder(">" if msg.is_bigendian else "<"))
    array = array.astype(dtype, copy=False)  # native byte order
    return array.reshape(height, width, channels) if channels > 1 else array.reshape(height, width)



def depth_to_metres(msg: Image) -> np.ndarray:
    """A depth image as float32 metres, NaN = no reading: 32FC1 (metres) or 16UC1/mono16
    (millimetres, 0 = no reading, REP 118: what RealSense and OpenNI drivers publish raw).
    ValueError for any other layout."""
    array = image_to_numpy(msg)
    if array.ndim != 2:
        raise ValueError(f"needs a single-channel depth image (32FC1 m or 16UC1 mm), got '{msg.encoding}'")
    if array.dtype == np.uint16:
        return np.where(array == 0, np.nan, array.astype(np.float32) / 1000.0).astype(np.float32)
    if array.dtype != np.float32:
        raise ValueError(f"unsupported depth encoding '{msg.encoding}' (32FC1 m or 16UC1 mm)")
    return array


def segmentation_ids(msg: Image) -> np.ndarray:
    """A segmentation image as uint16 class ids; ValueError unless single-channel integer."""
    array = image_to_numpy(msg)
    if array.ndim != 2 or array.dtype.kind not in "ui":
        raise ValueError(f"needs a single-channel integer image (16UC1/mono16/mono8), got '{msg.encoding}'")
    return array.astype(np.uint16, copy=False)

def numpy_to_image(array: np.ndarray, encoding: str, stamp: Time | None = None, frame_id: str = "") -> Image:
    """An Image message for `array` in `encoding`; the dtype and channel count must match it."""
    dtype, channels = _layout(encoding)
    array = np.asarray(array)
    if array.ndim == 3 and channels == 1 and array.shape[2] == 1:
        array = array[:, :, 0]
    expected_ndim = 3 if channels > 1 else 2
    if array.ndim != expected_ndim or (channels > 1 and array.shape[2] != channels):
        raise ValueError(f"array of shape {array.shape} does not fit encoding '{encoding}' "
                         f"({channels} channel{'s' if channels > 1 else ''})")
    if array.dtype != dtype:
        # Lossless conversions only: bool/int masks to mono8/16 are fine, float -> uint8 is not.
        if not np.can_cast(array.dtype, dtype, casting="same_kind") or (
                array.dtype.kind == "f" and dtype.kind != "f"):
            raise ValueError(f"array dtype {array.dtype} does not fit encoding '{encoding}' ({dtype})")
        array = array.astype(dtype)
    array = np.ascontiguousarray(array)
    msg = Image()
    if stamp is not None:
        msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    msg.height, msg.width = int(array.shape[0]), int(array.shape[1])
    msg.encoding = encoding
    msg.is_bigendian = sys.byteorder == "big"
    msg.step = msg.width * channels * dtype.itemsize
    msg.data = array.tobytes()
    return msg


def make_camera_info(camera: PinholeCamera, stamp: Time | None = None, frame_id: str = "") -> CameraInfo:
    """CameraInfo for an undistorted pinhole camera (plumb_bob with zero distortion)."""
    msg = CameraInfo()
    if stamp is not None:
        msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    msg.width, msg.height = int(camera.width), int(camera.height)
    msg.distortion_model = "plumb_bob"
    msg.d = [0.0] * 5
    fx, fy, cx, cy = float(camera.fx), float(camera.fy), float(camera.cx), float(camera.cy)
    msg.k = [fx, 0.0, cx, 0.0, fy, cy, 0.0, 0.0, 1.0]
    msg.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    msg.p = [fx, 0.0, cx, 0.0, 0.0, fy, cy, 0.0, 0.0, 0.0, 1.0, 0.0]
    return msg


def stamp_to_sec(stamp: Any) -> float:
    """builtin_interfaces/Time -> seconds (float)."""
    return float(stamp.sec) + float(stamp.nanosec) * 1e-9
