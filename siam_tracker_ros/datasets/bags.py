"""Image topics of ROS 2 bags (MCAP or SQLite3) as a :class:`FrameSource`, without rclpy.

``rosbags`` reads and deserialises the messages in pure Python; the pixels are decoded by the
same duck-typed ``sensor_msgs`` converters the node uses
(:mod:`~siam_tracker_ros.datasets.image_conversion`, numpy and OpenCV only, no ROS import), so a
bag replays exactly the images the node would have seen.
"""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path
from typing import Any

import numpy as np

from siam_tracker_ros.datasets.frame_source import DEFAULT_FPS, FrameSource
from siam_tracker_ros.datasets.image_conversion import compressed_to_bgr, image_to_bgr

__all__ = ["BagFrames"]

_IMAGE_TYPES = ("sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage")


class BagFrames(FrameSource):
    """The frames of one image topic of a bag (``topic=None``: the only image topic there is).

    The rate is the topic's mean message rate over the bag; frame times are the bag's receive
    times in seconds. Random access reads forwards from the last frame read (re-opening the bag
    to go back), like :class:`~siam_tracker_ros.datasets.frames.VideoFrames`.
    """

    def __init__(self, path: str | Path, topic: str | None = None) -> None:
        self.path = Path(path)
        reader = self._reader()
        try:
            conns = [
                c
                for c in reader.connections
                if c.msgtype in _IMAGE_TYPES and (topic is None or c.topic == topic)
            ]
            if not conns:
                found = sorted({f"{c.topic} ({c.msgtype})" for c in reader.connections})
                raise ValueError(
                    f"no sensor_msgs Image/CompressedImage topic"
                    f"{' ' + topic if topic else ''} in bag {self.path}; found: {found}"
                )
            topics = sorted({c.topic for c in conns})
            if len(topics) > 1:
                raise ValueError(f"bag {self.path} has several image topics {topics}; pick one")
            self.topic = topics[0]
            self._len = sum(c.msgcount for c in conns)
            span = (reader.end_time - reader.start_time) / 1e9 if self._len > 1 else 0.0
        finally:
            reader.close()
        self.fps = (self._len - 1) / span if span > 0 else DEFAULT_FPS
        self.name = f"{self.path}:{self.topic}"
        self._stream: Generator[tuple[np.ndarray, float], None, None] | None = None
        self._next = 0
        self._last: tuple[int, np.ndarray, float] | None = None

    def _reader(self) -> Any:
        from rosbags.highlevel import AnyReader

        reader = AnyReader([self.path])
        reader.open()
        return reader

    def timed(self) -> Generator[tuple[np.ndarray, float], None, None]:
        reader = self._reader()
        try:
            conns = [c for c in reader.connections if c.topic == self.topic]
            for conn, t_ns, raw in reader.messages(connections=conns):
                msg: Any = reader.deserialize(raw, conn.msgtype)
                if conn.msgtype.endswith("CompressedImage"):
                    img = compressed_to_bgr(msg.data)
                else:
                    img = image_to_bgr(msg)
                yield img, t_ns / 1e9
        finally:
            reader.close()

    def __len__(self) -> int:
        return self._len

    def _read(self, index: int) -> tuple[np.ndarray, float]:
        if not 0 <= index < self._len:
            raise IndexError(f"frame {index} out of range [0, {self._len}) in {self.name}")
        if self._last is not None and self._last[0] == index:
            return self._last[1], self._last[2]
        if self._stream is None or index < self._next:
            self.close()
            self._stream = self.timed()
            self._next = 0
        for img, t in self._stream:
            self._next += 1
            if self._next - 1 == index:
                self._last = (index, img, t)
                return img, t
        raise OSError(f"{self.name}: bag ended before frame {index}")

    def __getitem__(self, index: int) -> np.ndarray:
        return self._read(index)[0]

    def time(self, index: int) -> float | None:
        return self._read(index)[1]

    def close(self) -> None:
        if self._stream is not None:
            stream, self._stream = self._stream, None
            stream.close()
        self._next = 0
        self._last = None
