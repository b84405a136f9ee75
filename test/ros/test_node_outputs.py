"""The tracker node's outputs that now live in their own modules: when debug pictures are
rendered (``ros/debug_images.py``), what ``/diagnostics`` says (``ros/diagnostics.py``) and how
warnings are throttled (``ros/throttle.py``). Plain objects and message types; no ROS process."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pytest

from siam_tracker_ros.core.result import TrackResult, TrackState
from siam_tracker_ros.ros.debug_images import DebugImages, rate_allows
from siam_tracker_ros.ros.diagnostics import OK, WARN, TrackingStats, tracking_diagnostics
from siam_tracker_ros.ros.frame_buffer import Frame
from siam_tracker_ros.ros.init_command import RESENDS
from siam_tracker_ros.ros.session import SessionStep
from siam_tracker_ros.ros.throttle import INIT_WARNING_BURST, WarningThrottle


class FakePublisher:
    def __init__(self, subscribers: int) -> None:
        self.subscribers = subscribers
        self.sent: list[Any] = []

    def get_subscription_count(self) -> int:
        return self.subscribers

    def publish(self, msg: Any) -> None:
        self.sent.append(msg)


def _step(response: np.ndarray | None = None) -> SessionStep:
    from std_msgs.msg import Header

    from siam_tracker_ros.ros import messages

    header = Header(frame_id="cam", stamp=messages.time_from_ns(5_000_000_000))
    result = TrackResult(
        np.array([10.0, 20.0, 30.0, 40.0]),
        0.8,
        True,
        TrackState.TRACKING,
        np.arange(25, dtype=np.float32).reshape(5, 5) if response is None else response,
    )
    frame = Frame(5_000_000_000, type("Msg", (), {"header": header})())
    return SessionStep(frame, np.zeros((120, 160, 3), np.uint8), result, "track-1", 3.0, 0)


def test_rate_cap() -> None:
    assert rate_allows(10.0, 9.0, 0.0)  # no cap
    assert not rate_allows(10.05, 10.0, 10.0) and rate_allows(10.11, 10.0, 10.0)


def test_debug_pictures_only_for_subscribers_and_within_the_rate() -> None:
    image, heat = FakePublisher(1), FakePublisher(0)
    debug = DebugImages(image, heat)
    kw: dict[str, Any] = {"enabled": True, "max_rate_hz": 10.0, "heatmap_size": 32}
    assert debug.publish(_step(), TrackState.TRACKING, now=1.0, **kw)
    assert len(image.sent) == 1 and heat.sent == []  # nobody listens to the heatmap
    msg = image.sent[0]
    assert msg.header.frame_id == "cam" and (msg.height, msg.width) == (120, 160)
    assert not debug.publish(_step(), TrackState.TRACKING, now=1.05, **kw)  # rate cap
    heat.subscribers = 1
    assert debug.publish(_step(), TrackState.TRACKING, now=1.2, **kw)
    assert len(image.sent) == 2 and (heat.sent[0].height, heat.sent[0].width) == (32, 32)
    assert not debug.publish(_step(), TrackState.TRACKING, now=5.0, **{**kw, "enabled": False})
    image.subscribers = heat.subscribers = 0
    assert not debug.publish(_step(), TrackState.TRACKING, now=9.0, **kw)  # nobody at all
    assert len(image.sent) == 2


def test_an_empty_response_map_publishes_no_heatmap() -> None:
    image, heat = FakePublisher(0), FakePublisher(1)
    debug = DebugImages(image, heat)
    step = _step(np.zeros((0,), np.float32))
    kw: dict[str, Any] = {"enabled": True, "max_rate_hz": 0.0, "heatmap_size": 32}
    assert not debug.publish(step, TrackState.TRACKING, now=1.0, **kw) and heat.sent == []


def _diagnose(stats: TrackingStats, state: TrackState, reason: str = "") -> tuple[int, str, dict]:
    return tracking_diagnostics(
        stats,
        state,
        lost_reason=reason,
        track_id="track-1",
        frames_processed=3,
        frames_dropped=1,
        max_latency_ms=50.0,
        now=10.0,
    )


def test_diagnostics_warn_when_lost_or_slow() -> None:
    stats = TrackingStats()
    level, text, values = _diagnose(stats, TrackState.TRACKING)
    assert (level, text) == (OK, "tracking") and np.isnan(values["latency_p95_ms"])
    for t, latency in ((9.5, 10.0), (9.8, 20.0), (9.9, 30.0)):
        stats.record(t, latency, 5.0)
    level, text, values = _diagnose(stats, TrackState.LOST, "image size changed")
    assert (level, text) == (WARN, "target lost: image size changed")
    assert values["rate_hz"] == 3.0 and values["frames_dropped"] == 1
    assert values["latency_p50_ms"] == pytest.approx(20.0)
    stats.record(9.95, 500.0, 5.0)
    level, text, _ = _diagnose(stats, TrackState.TRACKING)
    assert level == WARN and text.startswith("p95 latency") and "above limit" in text
    stats.frames_malformed, stats.track_errors = 4, 2
    stats.clear()
    assert (stats.frames_malformed, stats.track_errors, len(stats.latencies_ms)) == (0, 0, 0)


def test_diagnostics_read_while_the_worker_records() -> None:
    """The worker thread records every frame while the executor's diagnostics timer reads the
    same series; reading a deque another thread appends to raised "deque mutated during
    iteration", which would end the timer's callback (and the node). A thread switch after
    every few byte codes makes the interleaving that raised it common."""
    import sys
    import threading

    stats = TrackingStats()
    stop = threading.Event()

    def worker() -> None:
        t = 0.0
        while not stop.is_set():
            t += 0.001
            stats.record(t, 10.0, 5.0)

    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    thread = threading.Thread(target=worker)
    thread.start()
    errors: list[BaseException] = []
    try:
        end = time.monotonic() + 2.0
        while time.monotonic() < end:
            try:
                _diagnose(stats, TrackState.TRACKING)
            except RuntimeError as exc:
                errors.append(exc)
                break
    finally:
        stop.set()
        thread.join()
        sys.setswitchinterval(old)
    assert not errors, errors


def test_warnings_are_throttled_per_kind_and_count_the_suppressed() -> None:
    lines: list[str] = []
    period = [60.0]
    throttle = WarningThrottle(lines.append, lambda: period[0])
    assert throttle.warn("image", "bad image")
    assert not throttle.warn("image", "bad image")
    assert throttle.warn("init", "bad box")  # another kind is not held back
    period[0] = 0.0  # the parameter changed at run time
    assert throttle.warn("image", "bad image")
    assert lines == ["bad image", "bad box", "bad image (1 similar warnings suppressed)"]


def test_a_burst_lets_a_few_warnings_of_a_kind_through_then_holds_back() -> None:
    """Init warnings come a few at a time on purpose (an init and ``siam-tracker init``'s
    resends, whose refusals the command reads on /rosout): each gets its line, a flood does
    not; the next period starts a new burst and counts what was held back."""
    lines: list[str] = []
    period = [60.0]
    throttle = WarningThrottle(lines.append, lambda: period[0])
    burst = INIT_WARNING_BURST
    assert burst == 1 + RESENDS
    assert all(throttle.warn("init", f"refused {i}", burst=burst) for i in range(burst))
    assert not any(throttle.warn("init", "flood", burst=burst) for _ in range(5))
    period[0] = 0.0
    assert throttle.warn("init", "later", burst=burst)
    assert lines == [f"refused {i}" for i in range(burst)] + [
        "later (5 similar warnings suppressed)"
    ]


def test_diagnostics_carry_the_redetection_progress_while_lost() -> None:
    record = {"tiles": 2, "tile_cursor": 3, "tile_count": 12, "best_similarity": 0.62}
    common = dict(
        lost_reason="",
        track_id="track-1",
        frames_processed=3,
        frames_dropped=0,
        max_latency_ms=50.0,
        now=10.0,
        longterm=record,
    )
    _, text, values = tracking_diagnostics(TrackingStats(), TrackState.LOST, **common)
    assert text == "target lost"
    assert values["redetect_sweep"] == "3/12" and values["redetect_tiles"] == 2
    assert values["redetect_best_similarity"] == 0.62
    _, _, tracking = tracking_diagnostics(TrackingStats(), TrackState.TRACKING, **common)
    assert not any(k.startswith("redetect_") for k in tracking)  # only while LOST
