"""How a tracker is run over a sequence: OTB one-pass, VOT supervised (reset-based) and VOT
real-time. Each returns a :class:`RunRecord` (per-frame boxes, scores, presence flags, event
codes and ``track`` times); metrics are computed from records, never inside the loops, so a
cached record can be re-scored with different settings.

Timing measures the ``init`` / ``track`` call only; frame decoding happens before the clock starts
(the real-time experiment must not penalise a tracker for the JPEG decoder).
"""

from __future__ import annotations

import enum
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from siam_tracker_ros.datasets import Sequence
from siam_tracker_ros.evaluation.metrics import iou

__all__ = [
    "EXPERIMENTS",
    "FrameEvent",
    "RunRecord",
    "SupportsTracking",
    "TrackOutput",
    "run_experiment",
    "run_one_pass",
    "run_realtime",
    "run_supervised",
]

Timer = Callable[[], float]
Tick = Callable[[], None] | None  # called once per frame (progress bars)


@runtime_checkable
class TrackOutput(Protocol):
    """What ``track`` returns (``core.result.TrackResult`` satisfies it)."""

    @property
    def box(self) -> Any: ...  # x, y, w, h

    @property
    def score(self) -> float: ...

    @property
    def present(self) -> bool: ...


class SupportsTracking(Protocol):
    """Anything the harness can run: the project's ``Tracker`` and the OpenCV peers."""

    def init(self, image: np.ndarray, box: Any) -> Any: ...

    def track(self, image: np.ndarray) -> TrackOutput: ...


#: ``core.result.TrackState`` values as plain ints (the evaluation runs any tracker, and peers
#: have no state: the protocol derives one from their presence flag)
STATE_TRACKING = 1
STATE_LOST = 2


def _state_of(result: TrackOutput) -> int:
    state = getattr(result, "state", None)
    if state is None:
        return STATE_TRACKING if bool(result.present) else STATE_LOST
    return int(state)


class FrameEvent(enum.IntEnum):
    """Per-frame event codes written beside the boxes (``events.txt``)."""

    TRACKED = 0  # the tracker processed this frame
    INIT = 1  # (re)initialised on the ground truth
    FAILURE = 2  # reported box has IoU 0 with the ground truth: the tracker is stopped
    SKIPPED = 3  # no tracker output: waiting for re-initialisation after a failure
    HELD = 4  # real-time: frame passed while the tracker was busy, the last box is reported


@dataclass
class RunRecord:
    """Per-frame output of one tracker on one sequence under one protocol."""

    boxes: np.ndarray  # (N, 4) x, y, w, h; zeros where there is no output (SKIPPED)
    scores: np.ndarray  # (N,)
    present: np.ndarray  # (N,) bool
    events: np.ndarray  # (N,) int8 FrameEvent
    times: np.ndarray  # (N,) seconds of the init/track call, NaN where none was made
    #: (N,) the tracker's state per frame (``core.result.TrackState`` values: 1 TRACKING, 2 LOST,
    #: 3 AMBIGUOUS); trackers without a state (peers) and older records: 1 if present, else 2
    states: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = len(self.boxes)
        if self.states is None:
            self.states = np.where(np.asarray(self.present, bool), STATE_TRACKING, STATE_LOST)
        self.states = np.asarray(self.states, dtype=np.int8)
        for name in ("scores", "present", "events", "times", "states"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"RunRecord.{name} has {len(getattr(self, name))} rows, boxes {n}")

    def confident(self, min_score: float) -> np.ndarray:
        """Per frame: the tracker says TRACKING (present, not lost, not ambiguous) with a score
        of at least ``min_score``."""
        assert self.states is not None
        return (
            np.asarray(self.present, bool)
            & (self.states == STATE_TRACKING)
            & (np.asarray(self.scores, np.float64) >= min_score)
        )

    @property
    def reports_present(self) -> np.ndarray:
        """Per frame: the tracker says the target is there (present flag set, state not LOST;
        AMBIGUOUS counts as present). The long-term metrics score this flag: a follower that
        acts on anything but LOST acts on these frames."""
        assert self.states is not None
        return np.asarray(self.present, bool) & (self.states != STATE_LOST)

    @classmethod
    def empty(cls, n: int) -> RunRecord:
        return cls(
            boxes=np.zeros((n, 4)),
            scores=np.zeros(n),
            present=np.zeros(n, dtype=bool),
            events=np.full(n, FrameEvent.SKIPPED, dtype=np.int8),
            times=np.full(n, np.nan),
            states=np.full(n, STATE_LOST, dtype=np.int8),
        )

    @property
    def track_times(self) -> np.ndarray:
        """Times of ``track`` calls only (the init call is heavier and not a per-frame cost)."""
        sel = (self.events != FrameEvent.INIT) & np.isfinite(self.times)
        return self.times[sel]

    @property
    def failures(self) -> int:
        return int(np.sum(self.events == FrameEvent.FAILURE))

    def overlaps(self, seq: Sequence) -> np.ndarray:
        """Per-frame IoU with the ground truth; NaN where the target is absent."""
        ov = iou(self.boxes, seq.groundtruth)
        return np.where(seq.absent, np.nan, ov)


def _timed_init(
    timer: Timer, tracker: SupportsTracking, image: np.ndarray, box: np.ndarray
) -> float:
    t0 = timer()
    tracker.init(image, box.copy())
    return timer() - t0


def _timed_track(
    timer: Timer, tracker: SupportsTracking, image: np.ndarray
) -> tuple[TrackOutput, float]:
    t0 = timer()
    result = tracker.track(image)
    return result, timer() - t0


def _box_of(result: TrackOutput) -> np.ndarray:
    box = np.asarray(result.box, dtype=np.float64).reshape(-1)
    if box.shape != (4,):
        raise ValueError(f"tracker returned a box of shape {box.shape}, expected (4,)")
    return box


def run_one_pass(
    tracker: SupportsTracking,
    seq: Sequence,
    timer: Timer = time.perf_counter,
    on_frame: Tick = None,
) -> RunRecord:
    """OTB one-pass evaluation: init on frame 1's ground truth, then track to the end, no reset."""
    rec = RunRecord.empty(len(seq))
    if on_frame is not None:
        on_frame()
    first = seq.frame(0)
    rec.times[0] = _timed_init(timer, tracker, first, seq.init_box)
    rec.boxes[0], rec.scores[0], rec.present[0] = seq.init_box, 1.0, True
    rec.states[0] = STATE_TRACKING  # type: ignore[index]
    rec.events[0] = FrameEvent.INIT
    for i in range(1, len(seq)):
        if on_frame is not None:
            on_frame()
        image = seq.frame(i)
        result, rec.times[i] = _timed_track(timer, tracker, image)
        rec.boxes[i] = _box_of(result)
        rec.scores[i], rec.present[i] = float(result.score), bool(result.present)
        rec.states[i] = _state_of(result)  # type: ignore[index]
        rec.events[i] = FrameEvent.TRACKED
    return rec


def _failed(box: np.ndarray, seq: Sequence, i: int) -> bool:
    """A failure is IoU 0 with a visible target; nothing can fail while the target is absent."""
    return (not seq.absent[i]) and float(iou(box, seq.groundtruth[i])) <= 0.0


def run_supervised(
    tracker: SupportsTracking,
    seq: Sequence,
    skip: int = 5,
    timer: Timer = time.perf_counter,
    on_frame: Tick = None,
) -> RunRecord:
    """VOT supervised (baseline) experiment: on a failure, re-initialise ``skip`` frames later.

    A re-initialisation that falls on a frame without ground truth waits for the next one with it.
    """
    rec = RunRecord.empty(len(seq))
    tracking = False
    next_init = 0
    for i in range(len(seq)):
        if on_frame is not None:
            on_frame()
        if not tracking:
            if i < next_init or seq.absent[i]:
                continue  # SKIPPED (not even decoded); an absent target postpones the init
            image = seq.frame(i)
            gt = seq.groundtruth[i]
            rec.times[i] = _timed_init(timer, tracker, image, gt)
            rec.boxes[i], rec.scores[i], rec.present[i] = gt, 1.0, True
            rec.states[i] = STATE_TRACKING  # type: ignore[index]
            rec.events[i] = FrameEvent.INIT
            tracking = True
            continue
        image = seq.frame(i)
        result, rec.times[i] = _timed_track(timer, tracker, image)
        rec.boxes[i] = _box_of(result)
        rec.scores[i], rec.present[i] = float(result.score), bool(result.present)
        rec.states[i] = _state_of(result)  # type: ignore[index]
        if _failed(rec.boxes[i], seq, i):
            rec.events[i] = FrameEvent.FAILURE
            tracking = False
            next_init = i + skip
        else:
            rec.events[i] = FrameEvent.TRACKED
    return rec


def run_realtime(
    tracker: SupportsTracking,
    seq: Sequence,
    fps: float = 20.0,
    grace: int = 3,
    skip: int = 5,
    timer: Timer = time.perf_counter,
    on_frame: Tick = None,
) -> RunRecord:
    """VOT real-time experiment on a simulated clock.

    Frames arrive every ``1/fps`` s after each (re)initialisation (whose own cost is not
    counted). The tracker starts a frame when both the frame has arrived and it is free; it then
    is busy for the measured duration of its ``track`` call, and next gets the newest frame that
    has arrived by the time it is free. Frames that pass while it is busy are HELD: they report
    the last box. The first ``grace`` frames after an init never make the tracker late (their
    cost is capped at one frame period), as in the VOT toolkit. Failures and re-initialisation
    are as in :func:`run_supervised`.
    """
    if fps <= 0:
        raise ValueError(f"fps must be > 0, got {fps}")
    period = 1.0 / fps
    rec = RunRecord.empty(len(seq))
    tracking = False
    next_init = 0
    f0 = 0  # frame of the last init (clock origin)
    t_free = 0.0  # simulated time at which the tracker is free again
    next_proc = 0  # next frame the tracker will get
    grace_left = 0
    last = (np.zeros(4), 0.0, False)
    last_state = STATE_LOST
    for i in range(len(seq)):
        if on_frame is not None:
            on_frame()
        if not tracking:
            if i < next_init or seq.absent[i]:
                continue
            image = seq.frame(i)
            gt = seq.groundtruth[i]
            rec.times[i] = _timed_init(timer, tracker, image, gt)
            rec.boxes[i], rec.scores[i], rec.present[i] = gt, 1.0, True
            rec.states[i] = STATE_TRACKING  # type: ignore[index]
            rec.events[i] = FrameEvent.INIT
            tracking, f0, t_free, next_proc, grace_left = True, i, 0.0, i + 1, grace
            last = (gt.copy(), 1.0, True)
            last_state = STATE_TRACKING
            continue
        if i == next_proc:
            image = seq.frame(i)
            result, dt = _timed_track(timer, tracker, image)
            rec.times[i] = dt
            start = max((i - f0) * period, t_free)
            if grace_left > 0:
                dt = min(dt, period)
                grace_left -= 1
            t_free = start + dt
            # newest frame that has arrived when the tracker is free (tolerate float round-off)
            next_proc = max(i + 1, f0 + int(math.floor(t_free / period + 1e-9)))
            last = (_box_of(result), float(result.score), bool(result.present))
            last_state = _state_of(result)
            event = FrameEvent.TRACKED
        else:
            event = FrameEvent.HELD
        rec.boxes[i], rec.scores[i], rec.present[i] = last
        rec.states[i] = last_state  # type: ignore[index]
        if _failed(rec.boxes[i], seq, i):
            rec.events[i] = FrameEvent.FAILURE
            tracking = False
            next_init = i + skip
        else:
            rec.events[i] = event
    return rec


#: experiment name -> what it runs (the runner and the cache use these names)
EXPERIMENTS = ("ope", "supervised", "realtime")


def run_experiment(
    name: str,
    tracker: SupportsTracking,
    seq: Sequence,
    params: dict[str, Any] | None = None,
    timer: Timer = time.perf_counter,
    on_frame: Tick = None,
) -> RunRecord:
    """Dispatch by experiment name (``params`` are that protocol's keyword arguments)."""
    params = dict(params or {})
    if name == "ope":
        return run_one_pass(tracker, seq, timer=timer, on_frame=on_frame)
    if name == "supervised":
        return run_supervised(
            tracker, seq, skip=int(params.get("skip", 5)), timer=timer, on_frame=on_frame
        )
    if name == "realtime":
        return run_realtime(
            tracker,
            seq,
            fps=float(params.get("fps", 20.0)),
            grace=int(params.get("grace", 3)),
            skip=int(params.get("skip", 5)),
            timer=timer,
            on_frame=on_frame,
        )
    raise ValueError(f"unknown experiment {name!r}; known: {EXPERIMENTS}")
