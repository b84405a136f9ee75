"""The one frame-source type: image files, a video file or a ROS 2 bag, read the same way.

A :class:`FrameSource` is random access (``len`` and ``[i]``, cheapest in order, the way every
protocol reads) for evaluation and training, and streams ``(image, source_time_s)`` pairs through
:meth:`FrameSource.timed` for replay, where the source clock paces publication. Sources hold
paths, not pixels: an evaluation run ships sequences to worker processes and a 1280x720 video of
hundreds of frames would not fit, so frames are decoded one at a time while they are consumed.
"""

from __future__ import annotations

from collections.abc import Iterator
from collections.abc import Sequence as SequenceABC
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from siam_tracker_ros.datasets.frame_source import DEFAULT_FPS, FrameSource
from siam_tracker_ros.datasets.paths import IMAGE_EXTS, list_images

__all__ = [
    "DEFAULT_FPS",
    "FrameSource",
    "ImageFrames",
    "VideoFrames",
    "count_frames",
    "open_source",
]


class ImageFrames(FrameSource):
    """Frames stored as image files, read with OpenCV on access."""

    def __init__(
        self, paths: SequenceABC[str | Path], name: str = "", fps: float = DEFAULT_FPS
    ) -> None:
        self.paths = [Path(p) for p in paths]
        self.name = name or (str(self.paths[0].parent) if self.paths else "")
        self.fps = float(fps)

    @classmethod
    def from_folder(cls, folder: str | Path, fps: float = DEFAULT_FPS) -> ImageFrames:
        """The images of ``folder`` (or of ``folder/img``, the OTB layout, or ``folder/color``,
        VOT's) in natural order."""
        d = Path(folder)
        for sub in ("img", "color"):
            if (d / sub).is_dir():
                d = d / sub
                break
        paths = list_images(d)
        if not paths:
            raise ValueError(f"no images ({', '.join(IMAGE_EXTS)}) in {d}")
        return cls(paths, name=str(d), fps=fps)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> np.ndarray:
        path = self.paths[index]
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise OSError(f"cannot read image {path}")
        return image

    def path(self, index: int) -> Path:
        """The file behind a frame (the TraX client and the overlay video use it)."""
        return self.paths[index]


class VideoFrames(FrameSource):
    """Frames of a video file, decoded sequentially.

    Seeking in compressed video is not frame-exact with every backend, so random access re-opens
    the file and *grabs* (demuxes without decoding) up to the wanted frame; reading in order costs
    one decode per frame. Picklable: the capture is re-opened in the process that reads.
    """

    def __init__(self, path: str | Path, num_frames: int | None = None) -> None:
        self.path = Path(path)
        self.name = str(self.path)
        self._cap: cv2.VideoCapture | None = None
        self._next = 0  # index of the frame the capture returns next
        cap = cv2.VideoCapture(str(self.path))
        if not cap.isOpened():
            raise OSError(f"cannot open video {self.path}")
        self.fps = float(cap.get(cv2.CAP_PROP_FPS) or DEFAULT_FPS)
        if num_frames is None:
            num_frames = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        cap.release()
        self._len = int(num_frames)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_cap"] = None
        state["_next"] = 0
        return state

    def __len__(self) -> int:
        return self._len

    def _open(self) -> cv2.VideoCapture:
        if self._cap is not None:
            self._cap.release()
        cap = cv2.VideoCapture(str(self.path))
        if not cap.isOpened():
            raise OSError(f"cannot open video {self.path}")
        self._cap = cap
        self._next = 0
        return cap

    def __getitem__(self, index: int) -> np.ndarray:
        if not 0 <= index < self._len:
            raise IndexError(f"frame {index} out of range [0, {self._len}) in {self.path}")
        cap = self._cap
        if cap is None or index < self._next:
            cap = self._open()
        while self._next < index:
            if not cap.grab():
                raise OSError(f"{self.path}: video ended before frame {index}")
            self._next += 1
        ok, frame = cap.read()
        if not ok or frame is None:
            raise OSError(f"{self.path}: cannot decode frame {index}")
        self._next += 1
        return frame

    def time(self, index: int) -> float | None:
        return index / self.fps

    def timed(self) -> Iterator[tuple[np.ndarray, float | None]]:
        """Decode to the end of the stream (container frame counts are estimates for some
        codecs, so replay does not trust ``len``)."""
        cap = cv2.VideoCapture(str(self.path))
        if not cap.isOpened():
            raise OSError(f"cannot open video {self.path}")
        i = 0
        try:
            while True:
                ok, frame = cap.read()
                if not ok or frame is None:
                    return
                yield frame, i / self.fps
                i += 1
        finally:
            cap.release()

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None
            self._next = 0


def count_frames(video: str | Path) -> int:
    """Frames in ``video`` by demuxing all of them (exact where the container count is not)."""
    cap = cv2.VideoCapture(str(video))
    n = 0
    while cap.grab():
        n += 1
    cap.release()
    return n


def open_source(
    path: str | Path, fps: float = DEFAULT_FPS, bag_topic: str | None = None
) -> FrameSource:
    """Open a video file, an image folder (or an OTB sequence folder), or a ROS 2 bag (a directory
    with ``metadata.yaml``, or an ``.mcap``/``.db3`` file). ``fps`` is the nominal rate of image
    folders, which have no clock; videos and bags report their own."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(p)
    if (p.is_dir() and (p / "metadata.yaml").exists()) or p.suffix in (".mcap", ".db3"):
        from siam_tracker_ros.datasets.bags import BagFrames

        return BagFrames(p, bag_topic)
    if p.is_dir():
        return ImageFrames.from_folder(p, fps)
    return VideoFrames(p)
