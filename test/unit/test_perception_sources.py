"""Camera sources read what the test wrote with cv2: image folders, video files, and clear errors."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from saycan_ros.perception.camera_sources import (CameraSourceError, ImageFolderSource, make_camera_source)


def _frame(i: int, w: int = 64, h: int = 48) -> np.ndarray:
    """An RGB frame whose red channel encodes i and whose left half is blue."""
    rgb = np.zeros((h, w, 3), np.uint8)
    rgb[:, :, 0] = 40 * i
    rgb[:, : w // 2, 2] = 200
    return rgb


def _write_folder(path, n=3):
    path.mkdir()
    for i in range(n):
        cv2.imwrite(str(path / f"frame_{i:03d}.png"), cv2.cvtColor(_frame(i), cv2.COLOR_RGB2BGR))
    (path / "notes.txt").write_text("not an image")
    return path


def test_folder_source_reads_sorted_rgb_frames_and_loops(tmp_path):
    src = make_camera_source("folder", str(_write_folder(tmp_path / "imgs")), loop=True, vertical_fov_deg=60)
    frames = [src.read() for _ in range(4)]
    assert all(f.shape == (48, 64, 3) and f.dtype == np.uint8 for f in frames)
    assert [int(f[0, 40, 0]) for f in frames] == [0, 40, 80, 0]  # sorted, then loops
    assert int(frames[1][0, 0, 2]) == 200 and int(frames[1][0, 0, 0]) == 40  # RGB order, not BGR
    cam = src.camera()
    assert (cam.width, cam.height) == (64, 48) and cam.vertical_fov_deg == pytest.approx(60)
    src.close()


def test_folder_source_without_loop_ends_and_resizes_odd_frames(tmp_path):
    folder = _write_folder(tmp_path / "imgs", n=2)
    cv2.imwrite(str(folder / "frame_009.png"), np.zeros((10, 20, 3), np.uint8))
    src = ImageFolderSource(folder, loop=False, intrinsics=[50.0, 50.0, 32.0, 24.0])
    frames = [src.read() for _ in range(3)]
    assert frames[2].shape == (48, 64, 3)  # resized to the stream's size, so CameraInfo stays valid
    assert src.read() is None and src.ended
    cam = src.camera()
    assert (cam.fx, cam.cx, cam.width) == (50.0, 32.0, 64)


def test_video_source_reads_frames_and_loops(tmp_path):
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (64, 48))
    assert writer.isOpened(), "OpenCV cannot write MJPG here"
    for i in range(3):
        writer.write(cv2.cvtColor(_frame(i), cv2.COLOR_RGB2BGR))
    writer.release()
    src = make_camera_source("video", str(path), loop=True)
    frames = [src.read() for _ in range(5)]
    assert all(f is not None and f.shape == (48, 64, 3) for f in frames)
    reds = [int(np.median(f[:, 40, 0])) for f in frames]  # JPEG is lossy: compare roughly
    assert reds == pytest.approx([0, 40, 80, 0, 40], abs=6)
    src.close()
    once = make_camera_source("video", str(path), loop=False)
    assert [once.read() is not None for _ in range(4)] == [True, True, True, False]


def test_clear_errors_for_sources_that_cannot_open(tmp_path):
    with pytest.raises(CameraSourceError, match="image folder not found"):
        make_camera_source("folder", str(tmp_path / "missing"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(CameraSourceError, match="has no images"):
        make_camera_source("folder", str(tmp_path / "empty"))
    with pytest.raises(CameraSourceError, match="video file not found"):
        make_camera_source("video", str(tmp_path / "missing.avi"))
    (tmp_path / "bad.avi").write_bytes(b"definitely not a video")
    with pytest.raises(CameraSourceError, match="cannot decode"):
        make_camera_source("video", str(tmp_path / "bad.avi"))
    with pytest.raises(CameraSourceError, match="cannot open camera device"):
        make_camera_source("device", str(tmp_path / "no_such_video_device"))
    with pytest.raises(CameraSourceError, match="unknown camera source kind 'webcam'"):
        make_camera_source("webcam", "0")
