"""The two frame holders between the ROS executor thread and the tracking worker (no rclpy here).

- :class:`FrameBuffer`: a short ring of recent frames keyed by stamp, so an init box drawn on a
  delayed frame (a GUI, a detector running slower than the camera) is applied to *that* image.
- :class:`LatestSlot`: a one-element mailbox. A new frame replaces an unprocessed one, which is
  counted as dropped: the worker always processes the newest frame and latency stays bounded at
  any camera rate, instead of a queue growing behind a slow tracker.

Clock jumps: a stamp more than ``jump_tolerance_ns`` *older* than the newest buffered one (a
looping bag, a restarted camera driver, a simulator reset) is not a late frame but a new clock.
The buffer then forgets the old clock's frames (an init stamped on the new clock must find its
frame, and an init "on the newest frame" must not land on a stale one), starts a new *epoch* and
reports the jump once, so the node logs it and the session applies its policy.
"""

from __future__ import annotations

import bisect
import itertools
import threading
from collections import deque
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

__all__ = ["ClockJump", "Filed", "Frame", "FrameBuffer", "LatestSlot"]


@dataclass(frozen=True)
class Frame:
    """One received camera message; decoded only when the worker needs its pixels."""

    stamp_ns: int
    msg: Any = field(repr=False)  # sensor_msgs/Image or CompressedImage
    compressed: bool = False
    received_ns: int = 0
    #: Clock epoch, set by :meth:`FrameBuffer.add`: it grows by one at every backwards jump.
    epoch: int = 0


@dataclass(frozen=True)
class ClockJump:
    """Stamps went back from ``from_ns`` to ``to_ns``; frames from now on carry ``epoch``."""

    from_ns: int
    to_ns: int
    epoch: int

    def describe(self) -> str:
        return (
            f"camera stamps jumped back by {(self.from_ns - self.to_ns) / 1e9:.3f} s "
            f"({self.from_ns / 1e9:.3f} -> {self.to_ns / 1e9:.3f} s)"
        )


class Filed(NamedTuple):
    """What :meth:`FrameBuffer.add` did: the frame as stored (its epoch set) and the jump it
    revealed, if any."""

    frame: Frame
    jump: ClockJump | None


class FrameBuffer:
    """Thread-safe ring of the last ``capacity`` frames, ordered by stamp (see module doc for
    clock jumps)."""

    def __init__(self, capacity: int, jump_tolerance_ns: int = 1_000_000_000) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self._frames: deque[Frame] = deque(maxlen=capacity)
        self._lock = threading.Lock()
        self._epoch = 0
        self.jump_tolerance_ns = jump_tolerance_ns

    @property
    def epoch(self) -> int:
        return self._epoch

    @property
    def capacity(self) -> int:
        return self._frames.maxlen or 0

    def resize(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        with self._lock:
            self._frames = deque(self._frames, maxlen=capacity)

    def add(self, frame: Frame) -> Filed:
        """Store ``frame`` in the current epoch. A stamp older than the newest by at most the
        jump tolerance (out-of-order delivery) is inserted in place so lookups stay correct; an
        older one is a clock jump: the buffer is emptied and a new epoch starts."""
        jump = None
        with self._lock:
            newest = self._frames[-1].stamp_ns if self._frames else None
            if newest is not None and frame.stamp_ns < newest - self.jump_tolerance_ns:
                self._epoch += 1
                self._frames.clear()
                jump = ClockJump(newest, frame.stamp_ns, self._epoch)
                newest = None
            if frame.epoch != self._epoch:
                frame = replace(frame, epoch=self._epoch)
            if newest is None or frame.stamp_ns >= newest:
                self._frames.append(frame)
            else:
                items = list(self._frames)
                idx = bisect.bisect_right([f.stamp_ns for f in items], frame.stamp_ns)
                items.insert(idx, frame)
                self._frames = deque(items[-self.capacity :], maxlen=self.capacity)
        return Filed(frame, jump)

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

    def in_gap(self, stamp_ns: int, max_offset: float = 1.5) -> Frame | None:
        """The nearer neighbour of a stamp that falls *between* two buffered frames, when that
        neighbour is at most ``max_offset`` typical frame intervals (the median of the
        buffer's) from the stamp: the stamped frame existed, but this buffer never got it (a
        best-effort camera subscription drops frames under load, sometimes several in a row).
        What bounds the init's error is how far the frame used is from the one the box was
        drawn on, not how long the gap is: with the default, any frame of a run of one or two
        dropped frames lands on a neighbour one interval away. None for a stamp outside the
        buffered span or farther from both neighbours."""
        with self._lock:
            frames = list(self._frames)
        stamps = [f.stamp_ns for f in frames]
        if len(stamps) < 3 or not stamps[0] < stamp_ns < stamps[-1]:
            return None
        steps = sorted(b - a for a, b in itertools.pairwise(stamps))
        typical = steps[len(steps) // 2]
        idx = bisect.bisect_left(stamps, stamp_ns)
        nearer = min((frames[idx - 1], frames[idx]), key=lambda f: abs(f.stamp_ns - stamp_ns))
        if typical <= 0 or abs(nearer.stamp_ns - stamp_ns) > max_offset * typical:
            return None
        return nearer

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
                self._cond.wait_for(
                    lambda: self._frame is not None or self._wakeups != wakeups, timeout=timeout
                )
            frame, self._frame = self._frame, None
            return frame
