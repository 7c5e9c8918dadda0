"""Where RGB frames come from when no simulator publishes them: an OpenCV device, a video file or
an image folder. Each source knows its intrinsics (given, or derived from a field of view).

The ROS `topic` source is not here: relaying topics is the camera node's job.
"""
from __future__ import annotations

import abc
import os
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from saycan_ros.core.camera_model import PinholeCamera
from saycan_ros.core.errors import SayCanError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".ppm", ".pgm", ".webp")
SOURCE_KINDS = ("device", "video", "folder")


class CameraSourceError(SayCanError):
    """A camera source that cannot be opened (missing file or folder, device that does not open)."""


class CameraSource(abc.ABC):
    """A stream of RGB frames (H, W, 3) uint8."""

    def __init__(self, vertical_fov_deg: float = 60.0, intrinsics: Sequence[float] | None = None) -> None:
        self._fov = float(vertical_fov_deg)
        self._intrinsics = tuple(float(v) for v in intrinsics) if intrinsics else None
        if self._intrinsics is not None and len(self._intrinsics) != 4:
            raise CameraSourceError(f"intrinsics must be [fx, fy, cx, cy], got {list(self._intrinsics)}")
        self._size: tuple[int, int] | None = None  # (width, height), fixed by the first frame

    @abc.abstractmethod
    def _read_bgr(self) -> np.ndarray | None:
        """The next BGR frame, or None when none is available now (or the stream has ended)."""

    def read(self) -> np.ndarray | None:
        """The next RGB frame, or None (device stalled, stream ended, unreadable file)."""
        frame = self._read_bgr()
        if frame is None or frame.size == 0:
            return None
        if frame.ndim == 2:
            frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
        elif frame.shape[2] == 4:
            frame = cv2.cvtColor(frame, cv2.COLOR_BGRA2BGR)
        if frame.dtype != np.uint8:  # 16-bit PNGs: keep the top byte
            frame = (frame >> 8).astype(np.uint8) if frame.dtype == np.uint16 else frame.astype(np.uint8)
        h, w = frame.shape[:2]
        if self._size is None:
            self._size = (w, h)
        elif (w, h) != self._size:
            # CameraInfo must stay consistent with the stream, so later frames take the first size.
            frame = cv2.resize(frame, self._size, interpolation=cv2.INTER_AREA)
        return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)

    def camera(self) -> PinholeCamera:
        """Intrinsics for the frames read; the size is known after the first successful read()."""
        width, height = self._size or self._nominal_size()
        if self._intrinsics is not None:
            fx, fy, cx, cy = self._intrinsics
            return PinholeCamera(fx, fy, cx, cy, width, height)
        return PinholeCamera.from_fov(width, height, self._fov)

    def _nominal_size(self) -> tuple[int, int]:
        return (640, 480)

    def close(self) -> None:  # noqa: B027 - optional for sources without resources
        """Release the device or file."""

    def __enter__(self) -> "CameraSource":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _CaptureSource(CameraSource):
    def __init__(self, capture: cv2.VideoCapture, **kwargs) -> None:
        super().__init__(**kwargs)
        self._cap = capture

    def _nominal_size(self) -> tuple[int, int]:
        w = int(self._cap.get(cv2.CAP_PROP_FRAME_WIDTH)) if self._cap is not None else 0
        h = int(self._cap.get(cv2.CAP_PROP_FRAME_HEIGHT)) if self._cap is not None else 0
        return (w, h) if w > 0 and h > 0 else super()._nominal_size()

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


class OpenCVDeviceSource(_CaptureSource):
    """A V4L2/USB camera by index (`0`) or device path (`/dev/video0`) or a stream URL."""

    def __init__(self, device: int | str, width: int = 0, height: int = 0, **kwargs) -> None:
        cap = cv2.VideoCapture(device)
        if not cap.isOpened():
            cap.release()
            raise CameraSourceError(f"cannot open camera device {device!r}")
        if width > 0 and height > 0:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, width)
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
        super().__init__(cap, **kwargs)
        self.device = device

    def _read_bgr(self) -> np.ndarray | None:
        if self._cap is None:
            return None
        ok, frame = self._cap.read()
        return frame if ok else None


class VideoFileSource(_CaptureSource):
    """Frames of a video file, optionally looping at the end."""

    def __init__(self, path: str | os.PathLike, loop: bool = True, **kwargs) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise CameraSourceError(f"video file not found: {self.path}")
        cap = cv2.VideoCapture(str(self.path))
        if not cap.isOpened():
            cap.release()
            raise CameraSourceError(f"cannot decode video file {self.path} (unsupported codec or not a video)")
        super().__init__(cap, **kwargs)
        self.loop = loop
        self.ended = False

    def _read_bgr(self) -> np.ndarray | None:
        if self._cap is None or self.ended:
            return None
        ok, frame = self._cap.read()
        if not ok and self.loop:
            self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, frame = self._cap.read()
        if not ok:
            self.ended = True
            return None
        return frame


class ImageFolderSource(CameraSource):
    """The images of a folder in sorted file-name order, optionally looping."""

    def __init__(self, path: str | os.PathLike, loop: bool = True, **kwargs) -> None:
        super().__init__(**kwargs)
        self.path = Path(path)
        if not self.path.is_dir():
            raise CameraSourceError(f"image folder not found: {self.path}")
        self.files = sorted(p for p in self.path.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
        if not self.files:
            raise CameraSourceError(f"image folder {self.path} has no images ({', '.join(IMAGE_EXTENSIONS)})")
        self.loop = loop
        self.ended = False
        self._index = 0
        self.unreadable: list[Path] = []

    def _read_bgr(self) -> np.ndarray | None:
        if self.ended:
            return None
        if self._index >= len(self.files):
            if not self.loop:
                self.ended = True
                return None
            self._index = 0
        path = self.files[self._index]
        self._index += 1
        frame = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if frame is None and path not in self.unreadable:
            self.unreadable.append(path)
        return frame

    def _nominal_size(self) -> tuple[int, int]:
        for path in self.files:  # peek at the first readable image without consuming a frame
            frame = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
            if frame is not None:
                return (frame.shape[1], frame.shape[0])
        return super()._nominal_size()


def make_camera_source(kind: str, uri: str, *, loop: bool = True, width: int = 0, height: int = 0,
                       vertical_fov_deg: float = 60.0,
                       intrinsics: Sequence[float] | None = None) -> CameraSource:
    """Build a CameraSource: kind 'device' (uri = index or path), 'video' (file) or 'folder'.

    Raises CameraSourceError with the reason when the source cannot be opened.
    """
    optics = dict(vertical_fov_deg=vertical_fov_deg, intrinsics=intrinsics or None)
    if kind == "device":
        device: int | str = int(uri) if str(uri).strip().isdigit() else str(uri)
        return OpenCVDeviceSource(device, width, height, **optics)
    if kind == "video":
        return VideoFileSource(uri, loop=loop, **optics)
    if kind == "folder":
        return ImageFolderSource(uri, loop=loop, **optics)
    raise CameraSourceError(f"unknown camera source kind '{kind}' (expected one of {', '.join(SOURCE_KINDS)})")
