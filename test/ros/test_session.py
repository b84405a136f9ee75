"""Frame buffer, one-frame mailbox and the tracking session (stamped init on an older frame,
catch-up, never going back in time, bad boxes, lost state), with a template-matching test double
instead of the network so each test takes milliseconds. No ROS processes."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import numpy as np
import pytest
from ros_fakes import TemplateTracker, textured_target_frames

from siam_tracker_ros.core.result import TrackResult, TrackState
from siam_tracker_ros.evaluation.metrics import iou
from siam_tracker_ros.ros.frame_buffer import Frame, FrameBuffer, LatestSlot
from siam_tracker_ros.ros.session import (
    InitError,
    InitNotYet,
    InitRequest,
    StreamPolicy,
    TrackingSession,
    validate_box,
)

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
    step = session.initialise(
        InitRequest(frames[3].stamp_ns, tuple(boxes[3])), buf, tolerance_ns=1 * MS, catch_up_max=20
    )
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
    step = session.initialise(
        InitRequest(frames[0].stamp_ns, tuple(boxes[0]), "person"),
        buf,
        tolerance_ns=MS,
        catch_up_max=5,
    )
    assert tracker.tracked == 5 and step.frame is frames[-1] and step.track_id == "person"
    session2, tracker2 = _session()
    assert (
        session2.initialise(
            InitRequest(frames[0].stamp_ns, tuple(boxes[0])), buf, tolerance_ns=MS, catch_up_max=0
        )
        is None
    )
    assert tracker2.tracked == 0


def test_a_buffered_frame_that_will_not_decode_is_skipped_while_catching_up() -> None:
    """The init is applied on its frame before the catch-up: a later buffered frame that fails
    to decode (a corrupt compressed body passes the header check) is skipped with one notice,
    not reported as "init rejected" while the session tracks the new box."""
    frames, boxes = _frames(8)
    buf = FrameBuffer(30)
    for f in frames:
        buf.add(f)
    bad = frames[5].stamp_ns

    def decode(frame: Frame) -> np.ndarray:
        if frame.stamp_ns == bad:
            raise ValueError("cannot decode compressed image (corrupt body)")
        return frame.msg

    tracker = TemplateTracker()
    session = TrackingSession(tracker, decode)
    step = session.initialise(
        InitRequest(frames[2].stamp_ns, tuple(boxes[2]), "new"), buf, MS, catch_up_max=20
    )
    assert session.state == TrackState.TRACKING and session.track_id == "new"
    assert step is not None and step.frame is frames[-1] and tracker.tracked == 4
    notices = session.take_notices()
    assert len(notices) == 1 and "1 buffered frame(s) skipped" in notices[0]
    assert "corrupt body" in notices[0]


def test_a_tracker_error_while_catching_up_ends_the_catch_up_not_the_init() -> None:
    """The init is applied; a tracker error on a buffered frame after it (a runtime fault) ends
    the catch-up with one notice and the live frames go on from there (it was reported as a
    failed init while the session tracked the new box)."""
    frames, boxes = _frames(8)
    buf = FrameBuffer(30)
    for f in frames:
        buf.add(f)
    tracker = TemplateTracker()
    calls = {"n": 0}
    track = tracker.track

    def flaky(image: np.ndarray) -> TrackResult:
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("backend fault")
        return track(image)

    tracker.track = flaky  # type: ignore[method-assign]
    session = TrackingSession(tracker, lambda f: f.msg)
    step = session.initialise(InitRequest(frames[2].stamp_ns, tuple(boxes[2])), buf, MS, 20)
    assert session.state == TrackState.TRACKING and step is not None
    assert step.frame is frames[3]  # the last frame tracked before the fault
    notices = session.take_notices()
    assert (
        len(notices) == 1 and "catching up stopped" in notices[0] and "backend fault" in notices[0]
    )
    assert session.step(frames[-1]) is not None  # the next live frame is tracked


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


def test_a_stamp_between_two_buffered_frames_finds_the_nearer_one() -> None:
    """``in_gap``: the stamped frame never arrived (one, two or more frames dropped): the
    nearer neighbour when it is about one frame interval away; a stamp outside the buffered
    span or two intervals from both neighbours: nothing."""
    buf = FrameBuffer(30)
    # 33 ms apart; 4 dropped, 7-8 dropped, 11-13 dropped
    for k in (0, 1, 2, 3, 5, 6, 9, 10, 14, 15, 16):
        buf.add(Frame(1000 * MS + k * 33 * MS, k))

    def frame_for(k: float) -> int | None:
        found = buf.in_gap(round(1000 * MS + k * 33 * MS))
        return None if found is None else found.msg

    assert frame_for(4) in (3, 5)
    assert frame_for(4 + 10 / 33) == 5
    assert (frame_for(7), frame_for(8)) == (6, 9)  # two in a row: each lands next door
    assert (frame_for(11), frame_for(13)) == (10, 14)
    assert frame_for(12) is None  # two intervals from both neighbours: too far
    assert frame_for(-0.3) is None and frame_for(16.5) is None  # outside the span


def test_init_stamped_on_a_frame_the_node_never_got_lands_on_its_neighbour() -> None:
    """A detector or ``siam-tracker init`` saw a camera frame that the node's best-effort
    subscription dropped: the init goes to the nearest buffered frame, with a notice, instead
    of being refused."""
    frames, boxes = _frames(8)
    buf = FrameBuffer(30)
    for i, f in enumerate(frames):
        if i != 4:
            buf.add(f)
    session, tracker = _session()
    session.initialise(InitRequest(frames[4].stamp_ns, tuple(boxes[4])), buf, MS, 0)
    assert tracker.inits[0][0] in (frames[3].msg, frames[5].msg)
    assert session.state == TrackState.TRACKING
    (notice,) = session.take_notices()
    assert "never reached the node" in notice and "33.0 ms away" in notice


def test_init_stamped_on_a_frame_not_arrived_yet_says_so() -> None:
    """The init came before its frame (or its frame was dropped and the next one is still on
    the way): ``InitNotYet``, which the node retries on the next frames; once a later frame is
    buffered, the init lands on the frame or its neighbour."""
    frames, boxes = _frames(8)
    buf = FrameBuffer(30)
    for f in frames[:4]:
        buf.add(f)
    session, tracker = _session()
    request = InitRequest(frames[4].stamp_ns, tuple(boxes[4]))
    with pytest.raises(InitNotYet, match="newer than every buffered frame"):
        session.initialise(request, buf, MS, 0)
    buf.add(frames[5])  # frame 4 never comes
    session.initialise(request, buf, MS, 0)
    assert tracker.inits[0][0] in (frames[3].msg, frames[5].msg)
    # far newer than the buffer (another clock, a wall-clock stamp): refused at once
    with pytest.raises(InitError, match="no buffered frame") as info:
        session.initialise(InitRequest(frames[5].stamp_ns + 5 * SEC, tuple(boxes[5])), buf, MS, 0)
    assert not isinstance(info.value, InitNotYet)


@pytest.mark.parametrize(
    ("box", "match"),
    [
        ((np.nan, 1, 10, 10), "non-finite"),
        ((1, 1, np.inf, 10), "non-finite"),
        ((1, 1, 1, 10), "too small"),
        ((500, 500, 20, 20), "outside"),
        ((-30, 10, 35, 20), "outside"),
        ((1, 2, 3), "4 values"),
    ],
)
def test_bad_init_boxes_are_rejected(box: tuple[float, ...], match: str) -> None:
    with pytest.raises(InitError, match=match):
        validate_box(box, 320, 240)


@pytest.mark.parametrize(
    "box",
    [
        (0, 0, 100, 1e300),  # OverflowError in the library before (issue 21.5)
        (0, 0, 1e15, 1e15),  # cv2.error
        (190, 111, 1e5, 50),  # MemoryError (21 GiB)
        (0, 0, 10000, 400),  # 10000 px wide on a 640x480 image: accepted before
        (-1e300, -1e300, 1e300, 1e300),
    ],
)
def test_issue_boxes_are_init_errors(box: tuple[float, ...]) -> None:
    with pytest.raises(InitError):
        validate_box(box, 640, 480)


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
    nan_result = TrackResult(
        np.array([np.nan, 0, 10, 10]), 0.9, True, TrackState.TRACKING, np.zeros((2, 2), np.float32)
    )
    tracker.track = lambda image: nan_result  # type: ignore[method-assign]
    with pytest.raises(ValueError, match="non-finite"):
        session.step(frames[1])


# ----------------------------------------------------------------------------- clock jumps
SEC = 1_000_000_000


def _jumping_stream(n_before: int, n_after: int, jump_to_ns: int) -> tuple[list[Frame], np.ndarray]:
    """A moving target whose stamps go back to ``jump_to_ns`` after ``n_before`` frames (a
    looping bag / restarted driver), the scene itself continuing."""
    images, boxes = textured_target_frames(n_before + n_after)
    frames = [Frame(100 * SEC + i * 33 * MS, img) for i, img in enumerate(images[:n_before])]
    frames += [Frame(jump_to_ns + i * 33 * MS, img) for i, img in enumerate(images[n_before:])]
    return frames, boxes


def test_backwards_stamp_jump_resets_the_buffer_and_tracking_follows_the_new_clock() -> None:
    """Issue 21.1: after a 10 s backwards jump the node published nothing until the stamps
    passed the old ones."""
    frames, boxes = _jumping_stream(6, 10, 90 * SEC)
    buf = FrameBuffer(30, jump_tolerance_ns=SEC)
    session, tracker = _session()
    jumps = [buf.add(f).jump for f in frames[:6]]
    session.initialise(InitRequest(frames[0].stamp_ns, tuple(boxes[0])), buf, MS, 10)
    assert not any(jumps) and session.state == TrackState.TRACKING
    steps = []
    for i, f in enumerate(frames[6:], start=6):
        filed = buf.add(f)
        if i == 6:
            assert filed.jump is not None and filed.jump.epoch == 1
            assert "jumped back by 10.165 s" in filed.jump.describe()
            assert len(buf) == 1  # the old clock's frames are gone
        else:
            assert filed.jump is None
        steps.append(session.step(filed.frame))
    assert all(s is not None for s in steps), "every frame after the jump is tracked"
    for s, truth in zip(steps, boxes[6:], strict=True):
        np.testing.assert_allclose(s.result.box, truth, atol=1.0)
    assert session.state == TrackState.TRACKING and session.take_notices() == []


def test_clock_jump_with_reset_policy_stops_and_waits_for_a_new_init() -> None:
    frames, boxes = _jumping_stream(4, 4, 0)
    buf = FrameBuffer(30)
    tracker = TemplateTracker()
    session = TrackingSession(tracker, lambda f: f.msg, StreamPolicy(on_clock_jump="reset"))
    for f in frames[:4]:
        buf.add(f)
    session.initialise(InitRequest(frames[0].stamp_ns, tuple(boxes[0])), buf, MS, 10)
    assert session.step(buf.add(frames[4]).frame) is None
    assert session.state == TrackState.IDLE
    assert session.take_notices() == [
        "track-1 stopped by a clock jump (input.on_clock_jump=reset): send a new init"
    ]
    # a new init stamped on the new clock finds its frame and tracking resumes
    buf.add(frames[5])
    session.initialise(InitRequest(frames[5].stamp_ns, tuple(boxes[5])), buf, MS, 10)
    step = session.step(buf.add(frames[6]).frame)
    assert step is not None and session.state == TrackState.TRACKING
    np.testing.assert_allclose(step.result.box, boxes[6], atol=1.0)


def test_init_after_a_jump_finds_its_frame_and_stamp_zero_is_not_stale() -> None:
    frames, boxes = _jumping_stream(5, 3, 2 * SEC)
    buf = FrameBuffer(30)
    for f in frames:
        buf.add(f)
    session, tracker = _session()
    # stamped on the new clock (older than every pre-jump stamp): found
    session.initialise(InitRequest(frames[6].stamp_ns, tuple(boxes[6])), buf, MS, 10)
    assert tracker.inits[-1][0] is frames[6].msg
    # stamp 0 = newest: the newest frame of the *new* clock, not the highest stamp ever seen
    session.initialise(InitRequest(0, tuple(boxes[7])), buf, MS, 10)
    assert tracker.inits[-1][0] is frames[7].msg
    # an init stamped on the old clock is refused with the buffered span in the reason
    with pytest.raises(InitError, match="buffered stamps 2.000..2.066 s"):
        session.initialise(InitRequest(frames[1].stamp_ns, tuple(boxes[1])), buf, MS, 10)


def test_small_reordering_is_not_a_clock_jump() -> None:
    buf = FrameBuffer(10, jump_tolerance_ns=SEC)
    for s in (5 * SEC, 6 * SEC, 5 * SEC + 500 * MS):
        assert buf.add(Frame(s, s)).jump is None
    assert [f.stamp_ns for f in buf.after(0)] == [5 * SEC, 5 * SEC + 500 * MS, 6 * SEC]
    filed = buf.add(Frame(4 * SEC, 0))
    assert filed.jump is not None and buf.epoch == 1 and filed.frame.epoch == 1


def test_frames_of_an_older_epoch_are_ignored() -> None:
    frames, boxes = _jumping_stream(3, 3, 0)
    buf = FrameBuffer(30)
    for f in frames[:3]:
        buf.add(f)
    session, tracker = _session()
    session.initialise(InitRequest(frames[0].stamp_ns, tuple(boxes[0])), buf, MS, 10)
    stale = frames[1]  # epoch 0, e.g. still in the mailbox
    assert session.step(buf.add(frames[3]).frame) is not None
    assert session.step(stale) is None


# ------------------------------------------------------------------ resolution / encoding change
def _scene(n: int) -> tuple[list[np.ndarray], np.ndarray]:
    return textured_target_frames(
        n, size=(720, 1280), box_size=120, step=(6.0, 3.0), start=(300.0, 200.0)
    )


def _resized(img: np.ndarray, box: np.ndarray, w: int, h: int) -> tuple[np.ndarray, np.ndarray]:
    import cv2

    sx, sy = w / img.shape[1], h / img.shape[0]
    return (cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA), box * np.array([sx, sy, sx, sy]))


def _resolution_run(policy: str) -> tuple[TrackingSession, list, list[np.ndarray], list[str]]:
    """1280x720 -> 320x240 -> 640x480 (issue 21.4), 6 frames each."""
    images, boxes = _scene(18)
    sizes = [(1280, 720)] * 6 + [(320, 240)] * 6 + [(640, 480)] * 6
    frames, truths = [], []
    for i, (img, box, (w, h)) in enumerate(zip(images, boxes, sizes, strict=True)):
        im, b = _resized(img, box, w, h)
        frames.append(Frame((i + 1) * 33 * MS, im))
        truths.append(b)
    buf = FrameBuffer(30)
    buf.add(frames[0])
    session = TrackingSession(
        TemplateTracker(), lambda f: f.msg, StreamPolicy(on_resolution_change=policy)
    )
    session.initialise(InitRequest(frames[0].stamp_ns, tuple(truths[0])), buf, MS, 10)
    steps = [session.step(f) for f in frames[1:]]
    return session, steps, truths[1:], session.take_notices()


def test_resolution_change_with_rescale_policy_keeps_tracking() -> None:
    session, steps, truths, notices = _resolution_run("rescale")
    assert all(s is not None and s.result.present for s in steps)
    ious = [iou(s.result.box, t) for s, t in zip(steps, truths, strict=True)]
    assert min(ious) > 0.9, ious
    assert session.state == TrackState.TRACKING and session.lost_reason == ""
    assert len(notices) == 2, notices  # logged once per change
    assert "resolution changed 1280x720 -> 320x240: box rescaled" in notices[0]
    assert "resolution changed 320x240 -> 640x480" in notices[1]


def test_resolution_change_with_lost_policy_declares_lost_with_a_reason() -> None:
    session, steps, _, notices = _resolution_run("lost")
    assert all(s.result.present for s in steps[:5])  # frames 1..5 at 1280x720 (frame 0: init)
    lost = steps[5:]
    assert all(s.result.state == TrackState.LOST and not s.result.present for s in lost)
    assert [s.frames_lost for s in lost] == list(range(1, len(lost) + 1))
    assert session.lost_reason == "resolution changed 1280x720 -> 320x240; send a new init"
    assert len(notices) == 2 and "declared LOST" in notices[0]


def test_encoding_change_reinitialises_on_the_same_box() -> None:
    import cv2

    images, boxes = textured_target_frames(4)
    msgs = [SimpleNamespace(encoding="bgr8", img=img) for img in images[:2]]
    gray = [
        cv2.cvtColor(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
        for img in images[2:]
    ]
    msgs += [SimpleNamespace(encoding="mono8", img=img) for img in gray]
    frames = [Frame((i + 1) * MS, m) for i, m in enumerate(msgs)]
    buf = FrameBuffer(10)
    buf.add(frames[0])
    session = TrackingSession(TemplateTracker(), lambda f: f.msg.img)
    session.initialise(InitRequest(frames[0].stamp_ns, tuple(boxes[0])), buf, MS, 10)
    steps = [session.step(f) for f in frames[1:]]
    assert all(s.result.present for s in steps)
    np.testing.assert_allclose(steps[-1].result.box, boxes[-1], atol=1.0)
    assert session.take_notices()[0].startswith("track-1: encoding changed bgr8 -> mono8")


def test_rescaled_box_that_cannot_be_used_declares_lost() -> None:
    images, boxes = textured_target_frames(3)
    frames = [Frame(MS, images[0]), Frame(2 * MS, images[1][:4, :4].copy())]
    buf = FrameBuffer(10)
    buf.add(frames[0])
    session, tracker = _session()
    session.initialise(InitRequest(MS, tuple(boxes[0])), buf, MS, 10)
    step = session.step(frames[1])
    assert step.result.state == TrackState.LOST and "failed (InitError" in session.lost_reason
