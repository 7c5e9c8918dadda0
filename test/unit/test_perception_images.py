"""Image <-> numpy round trips for every supported encoding, and clear errors for bad messages."""
from __future__ import annotations

import numpy as np
import pytest
from builtin_interfaces.msg import Time

from saycan_ros.ros_io.images import depth_to_metres, image_to_numpy, make_camera_info, numpy_to_image, segmentation_ids


@pytest.mark.parametrize("encoding, dtype, shape", [
    ("rgb8", np.uint8, (4, 5, 3)),
    ("bgr8", np.uint8, (4, 5, 3)),
    ("rgba8", np.uint8, (4, 5, 4)),
    ("mono8", np.uint8, (4, 5)),
    ("mono16", np.uint16, (4, 5)),
    ("16UC1", np.uint16, (4, 5)),
    ("32FC1", np.float32, (4, 5)),
])
def test_round_trip(encoding, dtype, shape):
    rng = np.random.default_rng(1)
    array = (rng.random(shape) * 60000).astype(dtype)
    msg = numpy_to_image(array, encoding, Time(sec=3, nanosec=7), "cam")
    assert (msg.height, msg.width, msg.encoding, msg.header.frame_id) == (4, 5, encoding, "cam")
    assert msg.header.stamp.sec == 3 and msg.header.stamp.nanosec == 7
    assert msg.step == 5 * (shape[2] if len(shape) == 3 else 1) * np.dtype(dtype).itemsize
    back = image_to_numpy(msg)
    assert back.dtype == dtype and back.shape == shape
    np.testing.assert_array_equal(back, array)


def test_padded_rows_and_big_endian_are_read():
    array = np.arange(12, dtype=np.uint16).reshape(3, 4)
    msg = numpy_to_image(array, "16UC1")
    # Re-pack as big-endian with 4 padding bytes per row, as some drivers send it.
    rows = [array[r].astype(">u2").tobytes() + b"\0" * 4 for r in range(3)]
    msg.data, msg.step, msg.is_bigendian = b"".join(rows), 12, True
    np.testing.assert_array_equal(image_to_numpy(msg), array)


def test_unsupported_encoding_and_size_mismatch_raise_value_error():
    msg = numpy_to_image(np.zeros((2, 2, 3), np.uint8), "rgb8")
    msg.encoding = "yuv422"
    with pytest.raises(ValueError, match="unsupported image encoding 'yuv422'"):
        image_to_numpy(msg)
    msg.encoding = "rgb8"
    msg.data = bytes(5)
    with pytest.raises(ValueError, match="expected step\\*height = 12"):
        image_to_numpy(msg)
    with pytest.raises(ValueError, match="does not fit encoding 'rgb8'"):
        numpy_to_image(np.zeros((2, 2), np.uint8), "rgb8")
    with pytest.raises(ValueError, match="dtype float64"):
        numpy_to_image(np.zeros((2, 2)), "mono8")
    with pytest.raises(ValueError, match="unsupported"):
        numpy_to_image(np.zeros((2, 2)), "64FC1")


def test_camera_info_holds_intrinsics():
    class Cam:
        fx, fy, cx, cy, width, height = 300.0, 310.0, 160.0, 120.0, 320, 240

    info = make_camera_info(Cam(), Time(sec=1), "camera_color_optical_frame")
    assert (info.width, info.height, info.header.frame_id) == (320, 240, "camera_color_optical_frame")
    assert list(info.k) == [300.0, 0.0, 160.0, 0.0, 310.0, 120.0, 0.0, 0.0, 1.0]
    assert info.p[0] == 300.0 and info.p[6] == 120.0


def test_depth_in_metres_from_real_camera_encodings():
    """RealSense / OpenNI publish 16UC1 millimetres (0 = no reading); simulators 32FC1 metres."""
    mm = np.array([[0, 1500], [250, 65535]], np.uint16)
    metres = depth_to_metres(numpy_to_image(mm, "16UC1"))
    assert metres.dtype == np.float32 and np.isnan(metres[0, 0])
    np.testing.assert_allclose(metres[[0, 1, 1], [1, 0, 1]], [1.5, 0.25, 65.535], rtol=1e-6)
    floats = np.array([[1.25, np.nan]], np.float32)
    np.testing.assert_array_equal(depth_to_metres(numpy_to_image(floats, "32FC1")), floats)
    with pytest.raises(ValueError, match="depth"):
        depth_to_metres(numpy_to_image(np.zeros((2, 2, 3), np.uint8), "rgb8"))
    with pytest.raises(ValueError, match="depth encoding 'mono8'"):
        depth_to_metres(numpy_to_image(np.zeros((2, 2), np.uint8), "mono8"))


def test_segmentation_ids_need_one_integer_channel():
    ids = segmentation_ids(numpy_to_image(np.array([[0, 3]], np.uint8), "mono8"))
    assert ids.dtype == np.uint16 and ids.tolist() == [[0, 3]]
    with pytest.raises(ValueError, match="single-channel integer"):
        segmentation_ids(numpy_to_image(np.zeros((2, 2, 3), np.uint8), "rgb8"))
