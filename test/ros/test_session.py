"""Frame buffer, one-frame mailbox and the tracking session (stamped init on an older frame,
catch-up, never going back in time, bad boxes, lost state), with a template-matching test double
instead of the network so each test takes milliseconds. No ROS processes."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from ros_fakes import TemplateTracker, textured_target_frames

from siam_tracker_ros.core.result import TrackResult, TrackState
from siam_tracker_ros.ros.frame_buffer import Frame, FrameBuffer, LatestSlot
from siam_tracker_ros.ros.session import InitError, InitRequest, TrackingSession, validate_box

MS = 1_000_000


def _frames(n: int) -> tuple[list[Frame], np.ndarray]:
    images, boxes = textured_target_frames(n)
    return [Frame((i + 1) * 33 * MS, img) for i, img in enumerate(images)], boxes


def _session() -> tuple[TrackingSession, TemplateTracker]:
    tracker = TemplateTracker()
    return TrackingSession(tracker, lambda f: f.msg), tracker


def test_buffer_keeps_newest_and_finds_by_stamp() -> None:
    buf = FrameBuffer(3)
    for s in (10, 20, 30, 40):
        buf.add(Frame(s, s))
    assert len(buf) == 3 and buf.span() == (20, 40)
    assert buf.find(31, tolerance_ns=2).stamp_ns == 30
    assert buf.find(35, tolerance_ns=2) is None
    assert buf.find(10, tolerance_ns=0) is None  # evicted
    assert [f.stamp_ns for f in buf.after(20)] == [30, 40]
    buf.add(Frame(25, 25))  # late (out-of-order) delivery is inserted in stamp order
    assert [f.stamp_ns for f in buf.after(0)] == [25, 30, 40]
    buf.resize(1)
    assert buf.newest().stamp_ns == 40 and len(buf) == 1
    with pytest.raises(ValueError):
        FrameBuffer(0)


def test_slot_drops_unprocessed_frames_and_counts_them() -> None:
    slot = LatestSlot()
    assert slot.put(Frame(1, 1)) is False
    assert slot.put(Frame(2, 2)) is True
    assert slot.put(Frame(3, 3), count_drop=False) is True
    assert slot.dropped == 1
    assert slot.take(timeout=0).stamp_ns == 3
    assert slot.take(timeout=0) is None


def test_slot_take_wakes_on_put_and_on_wake() -> None:
    slot = LatestSlot()
    got: list[object] = []
    t = threading.Thread(target=lambda: got.append(slot.take(timeout=5)))
    t.start()
    time.sleep(0.05)
    slot.put(Frame(7, 7))
    t.join(2)
    assert got and got[0].stamp_ns == 7
    t0 = time.monotonic()
    t = threading.Thread(target=lambda: got.append(slot.take(timeout=5)))
    t.start()
    time.sleep(0.05)
    slot.wake()
    t.join(2)
    assert got[-1] is None and time.monotonic() - t0 < 2


def test_init_on_older_frame_then_catch_up_follows_target() -> None:
    frames, boxes = _frames(12)
    buf = FrameBuffer(30)
    for f in frames:
        buf.add(f)
    session, tracker = _session()
    # The box was drawn on frame 3; frames 4..11 are already buffered (a delayed click).
    step = session.initialise(InitRequest(frames[3].stamp_ns, tuple(boxes[3])), buf,
                              tolerance_ns=1 * MS, catch_up_max=20)
    np.testing.assert_array_equal(tracker.inits[0][1], boxes[3])
    assert tracker.inits[0][0] is frames[3].msg
    assert step is not None and step.frame is frames[-1]
    np.testing.assert_allclose(step.result.box, boxes[-1], atol=1.0)
    assert tracker.tracked == 8 and session.state == TrackState.TRACKING
    assert session.track_id == "track-1"
    # The mailbox may still hold an already-covered frame: never go back in time.
    assert session.step(frames[-2]) is None and session.step(frames[-1]) is None


def test_catch_up_is_bounded_and_ends_on_newest() -> None:
    frames, boxes = _frames(20)
    buf = FrameBuffer(30)
    for f in frames:
        buf.add(f)
    session, tracker = _session()
    step = session.initialise(InitRequest(frames[0].stamp_ns, tuple(boxes[0]), "person"), buf,
                              tolerance_ns=MS, catch_up_max=5)
    assert tracker.tracked == 5 and step.frame is frames[-1] and step.track_id == "person"
    session2, tracker2 = _session()
    assert session2.initialise(InitRequest(frames[0].stamp_ns, tuple(boxes[0])), buf,
                               tolerance_ns=MS, catch_up_max=0) is None
    assert tracker2.tracked == 0


def test_zero_stamp_means_newest_frame() -> None:
    frames, boxes = _frames(4)
    buf = FrameBuffer(10)
    for f in frames:
        buf.add(f)
    session, tracker = _session()
    assert session.initialise(InitRequest(0, tuple(boxes[-1])), buf, MS, 10) is None
    assert tracker.inits[0][0] is frames[-1].msg


@pytest.mark.parametrize("stamp_ms", [5, 10_000])
def test_init_on_unbuffered_stamp_is_rejected_with_reason(stamp_ms: int) -> None:
    frames, boxes = _frames(3)
    buf = FrameBuffer(10)
    for f in frames:
        buf.add(f)
    session, tracker = _session()
    with pytest.raises(InitError, match="no buffered frame"):
        session.initialise(InitRequest(stamp_ms * MS, tuple(boxes[0])), buf, MS, 10)
    assert not tracker.inits and session.state == TrackState.IDLE


@pytest.mark.parametrize(("box", "match"), [
    ((np.nan, 1, 10, 10), "non-finite"),
    ((1, 1, np.inf, 10), "non-finite"),
    ((1, 1, 1, 10), "too small"),
    ((500, 500, 20, 20), "outside"),
    ((-30, 10, 35, 20), "outside"),
    ((1, 2, 3), "4 values"),
])
def test_bad_init_boxes_are_rejected(box: tuple[float, ...], match: str) -> None:
    with pytest.raises(InitError, match=match):
        validate_box(box, 320, 240)


def test_box_partly_outside_is_accepted() -> None:
    np.testing.assert_array_equal(validate_box((-5, -5, 20, 20), 320, 240), [-5, -5, 20, 20])


def test_lost_state_counts_and_stop_goes_idle() -> None:
    frames, boxes = _frames(6)
    buf = FrameBuffer(10)
    buf.add(frames[0])
    session, tracker = _session()
    session.initialise(InitRequest(frames[0].stamp_ns, tuple(boxes[0])), buf, MS, 10)
    blank = [Frame(f.stamp_ns, np.full_like(f.msg, 128)) for f in frames[1:4]]
    steps = [session.step(f) for f in blank]
    assert [s.frames_lost for s in steps] == [1, 2, 3]
    assert session.state == TrackState.LOST and not steps[-1].result.present
    session.stop()
    assert session.state == TrackState.IDLE and session.step(frames[5]) is None


def test_non_finite_tracker_output_is_an_error_not_a_detection() -> None:
    frames, boxes = _frames(3)
    buf = FrameBuffer(10)
    buf.add(frames[0])
    session, tracker = _session()
    session.initialise(InitRequest(frames[0].stamp_ns, tuple(boxes[0])), buf, MS, 10)
    nan_result = TrackResult(np.array([np.nan, 0, 10, 10]), 0.9, True, TrackState.TRACKING,
                             np.zeros((2, 2), np.float32))
    tracker.track = lambda image: nan_result  # type: ignore[method-assign]
    with pytest.raises(ValueError, match="non-finite"):
        session.step(frames[1])
