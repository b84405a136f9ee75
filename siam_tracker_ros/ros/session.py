"""Tracking-session logic of the node, free of rclpy so it is unit-tested with a fake tracker.

The node owns ROS types and threads; this class owns "what happens to a frame": initialising on
the buffered frame an init request refers to, catching up through newer buffered frames, never
going back in time, validating init boxes, and counting frames lost in a row.

It also owns what happens when the stream changes under a running track (:class:`StreamPolicy`):

- a backwards clock jump (the frame buffer starts a new epoch, see ``frame_buffer``):
  ``keep_tracking`` follows the new clock with the same target; ``reset`` stops the track and
  waits for a new init;
- a resolution or encoding change: ``rescale`` tracks the first new frame brought back to the
  old geometry, scales that box to the new image size and re-initialises the tracker on it (the
  template is taken again from the new stream);
  ``lost`` declares the target LOST with the reason (:attr:`TrackingSession.lost_reason`) until
  the next init.

Each such event is described once in :meth:`TrackingSession.take_notices` for the node's log.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np

from siam_tracker_ros.core.geometry import validate_target
from siam_tracker_ros.core.result import TrackResult, TrackState
from siam_tracker_ros.ros.frame_buffer import Frame, FrameBuffer

__all__ = [
    "CLOCK_JUMP_POLICIES",
    "RESOLUTION_POLICIES",
    "FrameDecodeError",
    "InitError",
    "InitRequest",
    "SessionStep",
    "StreamPolicy",
    "TrackerLike",
    "TrackingSession",
    "validate_box",
]

#: ``input.on_clock_jump`` values (first: default).
CLOCK_JUMP_POLICIES = ("keep_tracking", "reset")
#: ``input.on_resolution_change`` values (first: default).
RESOLUTION_POLICIES = ("rescale", "lost")


class TrackerLike(Protocol):
    """What the node needs from ``core.tracker.Tracker`` (a protocol so tests can inject a fake)."""

    def init(self, image: np.ndarray, box: np.ndarray | tuple[float, ...]) -> None: ...

    def track(self, image: np.ndarray) -> TrackResult: ...

    def reset(self) -> None: ...


class FrameDecodeError(ValueError):
    """A buffered frame that cannot be decoded (raised by :meth:`TrackingSession.step`)."""


class InitError(ValueError):
    """An init request that cannot be applied (bad box, frame no longer buffered, ...)."""


class InitNotYet(InitError):
    """The init's frame is newer than every buffered one: it has not arrived yet, or it was
    dropped on the way and the next frame will show it (the node tries again on the next
    frames, for at most :data:`INIT_WAIT_NS`)."""


#: how far past the newest buffered frame an init's stamp may be to wait for its frame
INIT_WAIT_NS = 1_000_000_000


@dataclass(frozen=True)
class InitRequest:
    """A box ``(x, y, w, h)`` in pixels of the image stamped ``stamp_ns`` (0: newest frame)."""

    stamp_ns: int
    box: tuple[float, float, float, float]
    track_id: str = ""


@dataclass(frozen=True)
class StreamPolicy:
    """What a running track does when the stream changes (see module doc)."""

    on_clock_jump: str = CLOCK_JUMP_POLICIES[0]
    on_resolution_change: str = RESOLUTION_POLICIES[0]

    def __post_init__(self) -> None:
        if self.on_clock_jump not in CLOCK_JUMP_POLICIES:
            raise ValueError(
                f"on_clock_jump must be one of {CLOCK_JUMP_POLICIES}, got {self.on_clock_jump!r}"
            )
        if self.on_resolution_change not in RESOLUTION_POLICIES:
            raise ValueError(
                f"on_resolution_change must be one of {RESOLUTION_POLICIES}, "
                f"got {self.on_resolution_change!r}"
            )


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
    """Return the box as float64 ``(x, y, w, h)`` or raise :class:`InitError` with the reason.

    The tracker's own rule decides (:func:`core.geometry.validate_target`: finite, at most 4x the
    image, aspect at most 100:1, a quarter inside), checked here on the buffered frame so a bad
    box is refused before the running track is touched. The node also wants sides of at least
    2 px and the box centre inside the image (a click or detection centred off-image is a
    mistake, not a target)."""
    b = np.asarray(box, dtype=np.float64).reshape(-1)
    if b.size != 4:
        raise InitError(f"init box needs 4 values (x, y, w, h), got {b.size}")
    if not np.all(np.isfinite(b)):
        raise InitError(f"init box has non-finite values: {b.tolist()}")
    try:
        validate_target(b, (height, width))
    except ValueError as exc:
        raise InitError(f"init {exc}") from None
    x, y, w, h = (float(v) for v in b)
    if w < 2 or h < 2:
        raise InitError(f"init box too small ({w:.1f}x{h:.1f} px, need >= 2x2)")
    if not (0 <= x + w / 2 < width and 0 <= y + h / 2 < height):
        raise InitError(
            f"init box {b.round(1).tolist()} has its centre outside the {width}x{height} image"
        )
    return b


class TrackingSession:
    """State machine IDLE -> TRACKING <-> LOST -> (stop) IDLE around one tracker.

    ``decode`` turns a buffered :class:`Frame` into a BGR image (raising ``ValueError`` for a
    malformed one). Not thread-safe: the node calls it from its worker thread, under a lock.
    """

    def __init__(
        self,
        tracker: TrackerLike,
        decode: Callable[[Frame], np.ndarray],
        policy: StreamPolicy | None = None,
    ) -> None:
        self._tracker = tracker
        self._decode = decode
        self.policy = policy or StreamPolicy()
        self.state = TrackState.IDLE
        self.track_id = ""
        self.frames_lost = 0
        self.frames_processed = 0
        self.last_stamp_ns = -1
        #: Why the target was declared LOST by a stream change ("" otherwise); until next init.
        self.lost_reason = ""
        self._tracks_started = 0
        self._epoch = 0
        self._stream: tuple[int, int, str] | None = None  # width, height, encoding
        self._last_box = np.zeros(4)
        self._notices: list[str] = []

    @property
    def active(self) -> bool:
        return self.state != TrackState.IDLE

    def stop(self) -> None:
        self._tracker.reset()
        self.state = TrackState.IDLE
        self.frames_lost = 0
        self.lost_reason = ""

    def take_notices(self) -> list[str]:
        """Stream events handled since the last call, one line each (for the node's log)."""
        notices, self._notices = self._notices, []
        return notices

    def initialise(
        self, request: InitRequest, buffer: FrameBuffer, tolerance_ns: int, catch_up_max: int
    ) -> SessionStep | None:
        """Init on the buffered frame matching ``request.stamp_ns``, then track through up to
        ``catch_up_max`` newer buffered frames (evenly spaced, always ending on the newest) so
        the target is followed across the delay. Returns the step on the newest frame (what the
        node publishes), or None when the init frame is already the newest."""
        frame = (
            buffer.newest()
            if request.stamp_ns == 0
            else buffer.find(request.stamp_ns, tolerance_ns)
        )
        if frame is None and request.stamp_ns != 0:
            frame = buffer.in_gap(request.stamp_ns)
            if frame is not None:
                self._notices.append(
                    f"init stamp {request.stamp_ns / 1e9:.3f} s: that frame never reached the "
                    "node (dropped on the way; the camera subscription is best effort), so the "
                    f"init is applied to the nearest one, "
                    f"{abs(frame.stamp_ns - request.stamp_ns) / 1e6:.1f} ms away"
                )
        if frame is None:
            span = buffer.span()
            if span is not None and 0 < request.stamp_ns - span[1] <= INIT_WAIT_NS:
                raise InitNotYet(
                    f"init stamp {request.stamp_ns / 1e9:.3f} s is newer than every buffered "
                    f"frame (newest {span[1] / 1e9:.3f} s)"
                )
            where = (
                "no frame buffered yet"
                if span is None
                else f"buffered stamps {span[0] / 1e9:.3f}..{span[1] / 1e9:.3f} s"
            )
            raise InitError(
                f"no buffered frame within {tolerance_ns / 1e6:.1f} ms of init "
                f"stamp {request.stamp_ns / 1e9:.3f} s ({where}); "
                "raise input.buffer_size or init.stamp_tolerance_ms"
            )
        image = self._decode(frame)
        box = validate_box(request.box, image.shape[1], image.shape[0])
        # No reset() first: Tracker.init replaces the target only once the new template is
        # built, so an init the tracker refuses (ValueError) keeps the previous target.
        self._tracker.init(image, box)
        self._tracks_started += 1
        self.track_id = request.track_id or f"track-{self._tracks_started}"
        self.state = TrackState.TRACKING
        self.frames_lost = 0
        self.frames_processed = 0
        self.last_stamp_ns = frame.stamp_ns
        self.lost_reason = ""
        self._epoch = frame.epoch
        self._stream = _stream_of(frame, image)
        self._last_box = box.copy()
        newer = buffer.after(frame.stamp_ns)
        if not newer or catch_up_max <= 0:
            return None
        if len(newer) > catch_up_max:
            idx = np.linspace(0, len(newer) - 1, catch_up_max).round().astype(int)
            newer = [newer[i] for i in sorted(set(idx.tolist()))]
        step, skipped, problem = None, 0, ""
        for f in newer:
            try:
                step = self.step(f)
            except FrameDecodeError as exc:  # a buffered frame that will not decode
                skipped, problem = skipped + 1, str(exc)
            except Exception as exc:  # noqa: BLE001 -- the init stands; live frames go on
                self._notices.append(
                    f"{self.track_id}: catching up stopped at a buffered frame "
                    f"({type(exc).__name__}: {exc})"
                )
                break
        if skipped:
            self._notices.append(
                f"{self.track_id}: {skipped} buffered frame(s) skipped while catching up "
                f"({problem})"
            )
        return step

    def step(self, frame: Frame) -> SessionStep | None:
        """Track one frame; None when idle or when ``frame`` is not newer than the last one (in
        its clock epoch; a newer epoch is a clock jump handled by the policy)."""
        if not self.active or frame.epoch < self._epoch:
            return None
        if frame.epoch > self._epoch:
            self._epoch = frame.epoch
            if self.policy.on_clock_jump == "reset":
                self._notices.append(
                    f"{self.track_id} stopped by a clock jump "
                    "(input.on_clock_jump=reset): send a new init"
                )
                self.stop()
                return None
            self.last_stamp_ns = -1  # follow the new clock with the same target
        if frame.stamp_ns <= self.last_stamp_ns:
            return None
        try:
            image = self._decode(frame)
        except ValueError as exc:
            raise FrameDecodeError(str(exc)) from exc
        t0 = time.perf_counter()
        stream = _stream_of(frame, image)
        if self._stream is not None and stream != self._stream:
            result = self._stream_changed(image, stream)
        elif self.lost_reason:
            result = self._lost_result()
        else:
            result = self._tracker.track(image)
        ms = (time.perf_counter() - t0) * 1e3
        if not np.all(np.isfinite(np.asarray(result.box, dtype=np.float64))) or not math.isfinite(
            float(result.score)
        ):
            raise ValueError(
                f"tracker returned a non-finite result: box={result.box} score={result.score}"
            )
        self.last_stamp_ns = frame.stamp_ns
        self.frames_processed += 1
        self.state = result.state if result.state != TrackState.IDLE else TrackState.TRACKING
        self.frames_lost = self.frames_lost + 1 if self.state == TrackState.LOST else 0
        if result.present:
            self._last_box = np.asarray(result.box, dtype=np.float64).copy()
        return SessionStep(frame, image, result, self.track_id, ms, self.frames_lost)

    def _stream_changed(self, image: np.ndarray, stream: tuple[int, int, str]) -> TrackResult:
        """Apply ``on_resolution_change`` to the first frame of a changed stream."""
        assert self._stream is not None
        (ow, oh, oenc), (nw, nh, nenc) = self._stream, stream
        what = (
            f"resolution changed {ow}x{oh} -> {nw}x{nh}"
            if (ow, oh) != (nw, nh)
            else f"encoding changed {oenc} -> {nenc}"
        )
        self._stream = stream
        if self.policy.on_resolution_change == "lost" or self.lost_reason:
            self._tracker.reset()
            self.lost_reason = self.lost_reason or f"{what}; send a new init"
            self._notices.append(
                f"{self.track_id}: {what}: target declared LOST "
                "(input.on_resolution_change=lost) until a new init"
            )
            return self._lost_result()
        scale = np.array([nw / ow, nh / oh, nw / ow, nh / oh])
        try:
            # Where is the target now? Track the new frame brought back to the old geometry
            # (the template is from the old stream), then take that box to the new size.
            back = image if (nw, nh) == (ow, oh) else cv2.resize(image, (ow, oh))
            box = np.asarray(self._tracker.track(back).box, dtype=np.float64) * scale
            self._tracker.reset()
            box = validate_box(box, nw, nh)
            self._tracker.init(image, box)
        except Exception as exc:  # noqa: BLE001 - any failure: LOST with the reason, not a crash
            self._tracker.reset()
            self.lost_reason = (
                f"{what}; re-initialising on the rescaled box failed "
                f"({type(exc).__name__}: {exc}); send a new init"
            )
            self._notices.append(f"{self.track_id}: {self.lost_reason}")
            return self._lost_result()
        self._last_box = box.copy()
        self._notices.append(
            f"{self.track_id}: {what}: box rescaled to "
            f"{np.round(box, 1).tolist()} and the tracker re-initialised "
            "(input.on_resolution_change=rescale)"
        )
        return self._tracker.track(image)

    def _lost_result(self) -> TrackResult:
        return TrackResult(
            self._last_box.copy(), 0.0, False, TrackState.LOST, np.zeros((0, 0), np.float32)
        )


def _stream_of(frame: Frame, image: np.ndarray) -> tuple[int, int, str]:
    """Width, height and wire encoding of a frame (compressed payloads all decode to BGR)."""
    encoding = "compressed" if frame.compressed else str(getattr(frame.msg, "encoding", ""))
    return int(image.shape[1]), int(image.shape[0]), encoding
