"""Tracking-session logic of the node, free of rclpy so it is unit-tested with a fake tracker.

The node owns ROS types and threads; this class owns "what happens to a frame": initialising on
the buffered frame an init request refers to, catching up through newer buffered frames, never
going back in time, validating init boxes, and counting frames lost in a row.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from siam_tracker_ros.core.result import TrackResult, TrackState
from siam_tracker_ros.ros.frame_buffer import Frame, FrameBuffer

__all__ = ["InitError", "InitRequest", "SessionStep", "TrackerLike", "TrackingSession",
           "validate_box"]


class TrackerLike(Protocol):
    """What the node needs from ``core.tracker.Tracker`` (a protocol so tests can inject a fake)."""

    def init(self, image: np.ndarray, box: np.ndarray | tuple[float, ...]) -> None: ...

    def track(self, image: np.ndarray) -> TrackResult: ...

    def reset(self) -> None: ...


class InitError(ValueError):
    """An init request that cannot be applied (bad box, frame no longer buffered, ...)."""


@dataclass(frozen=True)
class InitRequest:
    """A box ``(x, y, w, h)`` in pixels of the image stamped ``stamp_ns`` (0: newest frame)."""

    stamp_ns: int
    box: tuple[float, float, float, float]
    track_id: str = ""


@dataclass(frozen=True)
class SessionStep:
    """One processed frame: what the node publishes."""

    frame: Frame
    image: np.ndarray
    result: TrackResult
    track_id: str
    processing_ms: float
    frames_lost: int


def validate_box(box: tuple[float, ...] | np.ndarray, width: int, height: int) -> np.ndarray:
    """Return the box as float64 ``(x, y, w, h)`` or raise :class:`InitError` with the reason."""
    b = np.asarray(box, dtype=np.float64).reshape(-1)
    if b.size != 4:
        raise InitError(f"init box needs 4 values (x, y, w, h), got {b.size}")
    if not np.all(np.isfinite(b)):
        raise InitError(f"init box has non-finite values: {b.tolist()}")
    x, y, w, h = b
    if w < 2 or h < 2:
        raise InitError(f"init box too small ({w:.1f}x{h:.1f} px, need >= 2x2)")
    # At least a quarter of the box (and its centre) must be inside the image.
    ix = max(0.0, min(x + w, width) - max(x, 0.0))
    iy = max(0.0, min(y + h, height) - max(y, 0.0))
    cx, cy = x + w / 2, y + h / 2
    if ix * iy < 0.25 * w * h or not (0 <= cx < width and 0 <= cy < height):
        raise InitError(f"init box {b.round(1).tolist()} lies (mostly) outside the "
                        f"{width}x{height} image")
    return b


class TrackingSession:
    """State machine IDLE -> TRACKING <-> LOST -> (stop) IDLE around one tracker.

    ``decode`` turns a buffered :class:`Frame` into a BGR image (raising ``ValueError`` for a
    malformed one). Not thread-safe: the node calls it from its worker thread, under a lock.
    """

    def __init__(self, tracker: TrackerLike, decode: Callable[[Frame], np.ndarray]) -> None:
        self._tracker = tracker
        self._decode = decode
        self.state = TrackState.IDLE
        self.track_id = ""
        self.frames_lost = 0
        self.frames_processed = 0
        self.last_stamp_ns = -1
        self._tracks_started = 0

    @property
    def active(self) -> bool:
        return self.state != TrackState.IDLE

    def stop(self) -> None:
        self._tracker.reset()
        self.state = TrackState.IDLE
        self.frames_lost = 0

    def initialise(self, request: InitRequest, buffer: FrameBuffer, tolerance_ns: int,
                   catch_up_max: int) -> SessionStep | None:
        """Init on the buffered frame matching ``request.stamp_ns``, then track through up to
        ``catch_up_max`` newer buffered frames (evenly spaced, always ending on the newest) so
        the target is followed across the delay. Returns the step on the newest frame (what the
        node publishes), or None when the init frame is already the newest."""
        frame = buffer.newest() if request.stamp_ns == 0 else buffer.find(request.stamp_ns,
                                                                             tolerance_ns)
        if frame is None:
            span = buffer.span()
            where = ("no frame buffered yet" if span is None else
                     f"buffered stamps {span[0] / 1e9:.3f}..{span[1] / 1e9:.3f} s")
            raise InitError(f"no buffered frame within {tolerance_ns / 1e6:.1f} ms of init "
                            f"stamp {request.stamp_ns / 1e9:.3f} s ({where}); "
                            "raise input.buffer_size or init.stamp_tolerance_ms")
        image = self._decode(frame)
        box = validate_box(request.box, image.shape[1], image.shape[0])
        self._tracker.reset()
        self._tracker.init(image, box)
        self._tracks_started += 1
        self.track_id = request.track_id or f"track-{self._tracks_started}"
        self.state = TrackState.TRACKING
        self.frames_lost = 0
        self.frames_processed = 0
        self.last_stamp_ns = frame.stamp_ns
        newer = buffer.after(frame.stamp_ns)
        if not newer or catch_up_max <= 0:
            return None
        if len(newer) > catch_up_max:
            idx = np.linspace(0, len(newer) - 1, catch_up_max).round().astype(int)
            newer = [newer[i] for i in sorted(set(idx.tolist()))]
        step = None
        for f in newer:
            step = self.step(f)
        return step

    def step(self, frame: Frame) -> SessionStep | None:
        """Track one frame; None when idle or when ``frame`` is not newer than the last one."""
        if not self.active or frame.stamp_ns <= self.last_stamp_ns:
            return None
        image = self._decode(frame)
        t0 = time.perf_counter()
        result = self._tracker.track(image)
        ms = (time.perf_counter() - t0) * 1e3
        if not np.all(np.isfinite(np.asarray(result.box, dtype=np.float64))) or not math.isfinite(
                float(result.score)):
            raise ValueError(f"tracker returned a non-finite result: box={result.box} "
                             f"score={result.score}")
        self.last_stamp_ns = frame.stamp_ns
        self.frames_processed += 1
        self.state = result.state if result.state != TrackState.IDLE else TrackState.TRACKING
        self.frames_lost = self.frames_lost + 1 if self.state == TrackState.LOST else 0
        return SessionStep(frame, image, result, self.track_id, ms, self.frames_lost)
