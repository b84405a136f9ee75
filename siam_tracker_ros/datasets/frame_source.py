"""The frame-source interface every reader implements (image files, videos, ROS 2 bags).

Its own module, below both :mod:`~siam_tracker_ros.datasets.frames` (image files, videos and
:func:`~siam_tracker_ros.datasets.frames.open_source`, which picks a reader) and
:mod:`~siam_tracker_ros.datasets.bags` (bags): each reader imports the interface, only
``open_source`` imports the readers, so no two modules import each other.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator

import numpy as np

__all__ = ["DEFAULT_FPS", "FrameRange", "FrameSource"]

#: Nominal rate of sources without a clock of their own (image folders).
DEFAULT_FPS = 30.0


class FrameSource(ABC):
    """BGR uint8 frames of one sequence, with a name and a nominal rate.

    Subclasses implement ``__len__`` and ``__getitem__``; ``time`` is the source clock of a frame
    (``None`` where the source has none) and ``timed`` streams every frame with it.
    """

    name: str = ""
    fps: float = DEFAULT_FPS

    @abstractmethod
    def __len__(self) -> int: ...

    @abstractmethod
    def __getitem__(self, index: int) -> np.ndarray: ...

    def __iter__(self) -> Iterator[np.ndarray]:
        for i in range(len(self)):
            yield self[i]

    def time(self, index: int) -> float | None:
        """Seconds on the source's clock at frame ``index``, or ``None`` (no clock)."""
        return None

    def timed(self) -> Iterator[tuple[np.ndarray, float | None]]:
        """Every frame in order with its source time (replay paces publication by it)."""
        for i in range(len(self)):
            yield self[i], self.time(i)

    def close(self) -> None:
        """Release open files; the source reopens them when read again."""
        return None


class FrameRange(FrameSource):
    """Frames ``first .. first + n - 1`` of another source, as a source of their own (a window of
    a long sequence for generated material or the simulator; reads stay in order)."""

    def __init__(self, source: FrameSource, first: int, n: int) -> None:
        if first < 0 or n < 0 or first + n > len(source):
            raise ValueError(f"frames {first}..{first + n - 1} outside a source of {len(source)}")
        self.source, self.first, self.n = source, first, n
        self.name, self.fps = source.name, source.fps

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int) -> np.ndarray:
        if not 0 <= index < self.n:
            raise IndexError(f"frame {index} out of range [0, {self.n})")
        return self.source[self.first + index]
