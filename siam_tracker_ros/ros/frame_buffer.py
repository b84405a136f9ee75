"""The two frame holders between the ROS executor thread and the tracking worker (no rclpy here).

- :class:`FrameBuffer`: a short ring of recent frames keyed by stamp, so an init box drawn on a
  delayed frame (a GUI, a detector running slower than the camera) is applied to *that* image.
- :class:`LatestSlot`: a one-element mailbox. A new frame replaces an unprocessed one, which is
  counted as dropped: the worker always processes the newest frame and latency stays bounded at
  any camera rate, instead of a queue growing behind a slow tracker.
"""

from __future__ import annotations

import bisect
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Frame", "FrameBuffer", "LatestSlot"]


@dataclass(frozen=True)
class Frame:
    """One received camera message; decoded only when the worker needs its pixels."""

    stamp_ns: int
    msg: Any = field(repr=False)  # sensor_msgs/Image or CompressedImage
    compressed: bool = False
    received_ns: int = 0


class FrameBuffer:
    """Thread-safe ring of the last ``capacity`` frames, ordered by stamp."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self._frames: deque[Frame] = deque(maxlen=capacity)
        self._lock = threading.Lock()

    @property
    def capacity(self) -> int:
        return self._frames.maxlen or 0

    def resize(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        with self._lock:
            self._frames = deque(self._frames, maxlen=capacity)

    def add(self, frame: Frame) -> None:
        """Append ``frame``; a stamp older than the newest (out-of-order delivery) is inserted in
        place so lookups stay correct."""
        with self._lock:
            if not self._frames or frame.stamp_ns >= self._frames[-1].stamp_ns:
                self._frames.append(frame)
                return
            items = list(self._frames)
            idx = bisect.bisect_right([f.stamp_ns for f in items], frame.stamp_ns)
            items.insert(idx, frame)
            self._frames = deque(items[-self.capacity:], maxlen=self.capacity)

    def clear(self) -> None:
        with self._lock:
            self._frames.clear()

    def __len__(self) -> int:
        return len(self._frames)

    def newest(self) -> Frame | None:
        with self._lock:
            return self._frames[-1] if self._frames else None

    def span(self) -> tuple[int, int] | None:
        """``(oldest, newest)`` stamps, for error messages."""
        with self._lock:
            if not self._frames:
                return None
            return self._frames[0].stamp_ns, self._frames[-1].stamp_ns

    def find(self, stamp_ns: int, tolerance_ns: int) -> Frame | None:
        """The frame whose stamp is closest to ``stamp_ns`` if within ``tolerance_ns``."""
        with self._lock:
            best = min(self._frames, key=lambda f: abs(f.stamp_ns - stamp_ns), default=None)
        if best is None or abs(best.stamp_ns - stamp_ns) > tolerance_ns:
            return None
        return best

    def after(self, stamp_ns: int) -> list[Frame]:
        """Frames strictly newer than ``stamp_ns``, oldest first."""
        with self._lock:
            return [f for f in self._frames if f.stamp_ns > stamp_ns]


class LatestSlot:
    """Single-frame mailbox with drop counting (see module doc)."""

    def __init__(self) -> None:
        self._frame: Frame | None = None
        self._cond = threading.Condition()
        self._dropped = 0
        self._wakeups = 0

    @property
    def dropped(self) -> int:
        return self._dropped

    def reset_count(self) -> None:
        with self._cond:
            self._dropped = 0

    def put(self, frame: Frame, count_drop: bool = True) -> bool:
        """Store ``frame``; returns True when it replaced an unprocessed frame."""
        with self._cond:
            replaced = self._frame is not None
            if replaced and count_drop:
                self._dropped += 1
            self._frame = frame
            self._cond.notify_all()
            return replaced

    def note_dropped(self) -> None:
        """Count a frame the consumer took but chose not to process (a rate cap)."""
        with self._cond:
            self._dropped += 1

    def clear(self) -> None:
        with self._cond:
            self._frame = None

    def wake(self) -> None:
        """Wake a waiting :meth:`take` without a frame (a command is pending)."""
        with self._cond:
            self._wakeups += 1
            self._cond.notify_all()

    def take(self, timeout: float) -> Frame | None:
        """Wait up to ``timeout`` s for a frame (or a :meth:`wake`) and remove it."""
        with self._cond:
            if self._frame is None:
                wakeups = self._wakeups
                self._cond.wait_for(lambda: self._frame is not None or self._wakeups != wakeups,
                                    timeout=timeout)
            frame, self._frame = self._frame, None
            return frame
