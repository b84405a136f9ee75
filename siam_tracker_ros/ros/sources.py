"""Frame sources for the replay tool: a video file, an image folder, or a ROS 2 bag (no rclpy).

Each source yields ``(bgr_image, source_time_s)``; the time drives real-rate playback (``None``
when the source has no clock and a nominal fps is used instead).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from siam_tracker_ros.ros.image_conversion import compressed_to_bgr, image_to_bgr

__all__ = ["IMAGE_SUFFIXES", "FrameSource", "load_boxes", "open_source"]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
_IMAGE_TYPES = ("sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage")


@dataclass
class FrameSource:
    """A named iterable of frames with a nominal rate."""

    name: str
    fps: float
    frames: Iterator[tuple[np.ndarray, float | None]]


def _natural_key(p: Path) -> list[int | str]:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", p.name)]


def _video(path: Path) -> FrameSource:
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise ValueError(f"cannot open video {path}")
    fps = cap.get(cv2.CAP_PROP_FPS) or 30.0

    def gen() -> Iterator[tuple[np.ndarray, float | None]]:
        i = 0
        try:
            while True:
                ok, img = cap.read()
                if not ok:
                    return
                yield img, i / fps
                i += 1
        finally:
            cap.release()

    return FrameSource(str(path), float(fps), gen())


def _folder(path: Path, fps: float) -> FrameSource:
    if (path / "img").is_dir():  # OTB layout: <seq>/img/0001.jpg + groundtruth_rect.txt
        path = path / "img"
    files = sorted((p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES),
                   key=_natural_key)
    if not files:
        raise ValueError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {path}")

    def gen() -> Iterator[tuple[np.ndarray, float | None]]:
        for p in files:
            img = cv2.imread(str(p), cv2.IMREAD_COLOR)
            if img is None:
                raise ValueError(f"cannot read image {p}")
            yield img, None

    return FrameSource(str(path), fps, gen())


def _bag(path: Path, topic: str | None) -> FrameSource:
    from rosbags.highlevel import AnyReader

    reader = AnyReader([path])
    reader.open()
    conns = [c for c in reader.connections if c.msgtype in _IMAGE_TYPES
             and (topic is None or c.topic == topic)]
    if not conns:
        found = sorted({f"{c.topic} ({c.msgtype})" for c in reader.connections})
        reader.close()
        raise ValueError(f"no sensor_msgs Image/CompressedImage topic"
                         f"{' ' + topic if topic else ''} in bag {path}; found: {found}")
    topics = {c.topic for c in conns}
    if len(topics) > 1:
        reader.close()
        raise ValueError(f"bag {path} has several image topics {sorted(topics)}; pick one")

    def gen() -> Iterator[tuple[np.ndarray, float | None]]:
        try:
            for conn, t_ns, raw in reader.messages(connections=conns):
                msg: Any = reader.deserialize(raw, conn.msgtype)
                if conn.msgtype.endswith("CompressedImage"):
                    img = compressed_to_bgr(msg.data)
                else:
                    img = image_to_bgr(msg)
                yield img, t_ns / 1e9
        finally:
            reader.close()

    n = sum(c.msgcount for c in conns)
    span = (reader.end_time - reader.start_time) / 1e9 if n > 1 else 0.0
    fps = (n - 1) / span if span > 0 else 30.0
    return FrameSource(f"{path}:{next(iter(topics))}", fps, gen())


def open_source(path: str | Path, fps: float = 30.0, bag_topic: str | None = None) -> FrameSource:
    """Open a video file, an image folder (or an OTB sequence folder), or a bag (a directory
    with ``metadata.yaml``, or an ``.mcap``/``.db3`` file)."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(p)
    if p.is_dir() and (p / "metadata.yaml").exists() or p.suffix in (".mcap", ".db3"):
        return _bag(p, bag_topic)
    if p.is_dir():
        return _folder(p, fps)
    return _video(p)


def load_boxes(path: str | Path) -> np.ndarray:
    """Ground-truth boxes ``N x 4`` (x, y, w, h) from an OTB/GOT-style text file (comma, tab or
    space separated)."""
    rows = []
    for line in Path(path).read_text().splitlines():
        if line.strip():
            rows.append([float(v) for v in re.split(r"[,\s]+", line.strip())[:4]])
    return np.asarray(rows, dtype=np.float64).reshape(-1, 4)
