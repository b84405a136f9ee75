"""Protocol loops with a scripted tracker: which frames it sees, failures, re-inits, real-time."""

from __future__ import annotations

import numpy as np
import pytest
from eval_helpers import FakeClock, IndexedFrames, ScriptedTracker, make_sequence

from siam_tracker_ros.evaluation.protocols import (
    FrameEvent as E,
)
from siam_tracker_ros.evaluation.protocols import (
    run_one_pass,
    run_realtime,
    run_supervised,
)


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock()


BOX = np.array([10.0, 10.0, 20.0, 20.0])
FAR = np.array([100.0, 100.0, 5.0, 5.0])


def moving_gt(n: int) -> np.ndarray:
    return np.array([[10.0 + i, 10.0, 20.0, 20.0] for i in range(n)])


def test_one_pass_records_every_frame_and_times_only_the_call(fake_clock: FakeClock) -> None:
    seq = make_sequence(moving_gt(6))
    tracker = ScriptedTracker(
        lambda i: (moving_gt(6)[i], 0.5, i != 3), fake_clock, latency=0.01, init_latency=0.2
    )
    rec = run_one_pass(tracker, seq, timer=fake_clock)
    assert tracker.inits == [0] and tracker.tracked == [1, 2, 3, 4, 5]
    np.testing.assert_allclose(rec.boxes, seq.groundtruth)
    assert rec.present.tolist() == [True, True, True, False, True, True]
    assert rec.events.tolist() == [E.INIT] + [E.TRACKED] * 5
    assert rec.times[0] == pytest.approx(0.2)
    np.testing.assert_allclose(rec.track_times, 0.01)  # init time is not a per-frame cost


def test_supervised_counts_failures_and_reinitialises_five_frames_later(
    fake_clock: FakeClock,
) -> None:
    gt = np.array([BOX] * 20)
    seq = make_sequence(gt)
    tracker = ScriptedTracker(lambda i: (FAR if i in (3, 12) else BOX, 1.0, True))
    rec = run_supervised(tracker, seq, skip=5, timer=fake_clock)
    assert rec.failures == 2
    assert np.flatnonzero(rec.events == E.FAILURE).tolist() == [3, 12]
    assert tracker.inits == [0, 8, 17]
    assert np.flatnonzero(rec.events == E.SKIPPED).tolist() == [4, 5, 6, 7, 13, 14, 15, 16]
    # skipped frames are neither tracked nor decoded
    assert not set(tracker.tracked) & {4, 5, 6, 7, 13, 14, 15, 16}
    assert isinstance(seq.frames, IndexedFrames)
    assert not set(seq.frames.decoded) & {4, 5, 6, 7, 13, 14, 15, 16}


def test_supervised_waits_for_a_visible_target_and_never_fails_on_absent_frames() -> None:
    gt = np.array([BOX] * 12)
    absent = np.zeros(12, dtype=bool)
    absent[[6, 8, 9]] = True  # re-init due at 6 (1 + 5) -> first visible frame is 7
    seq = make_sequence(gt, absent)
    tracker = ScriptedTracker(lambda i: (FAR if i in (1, 9) else BOX, 1.0, True))
    rec = run_supervised(tracker, seq, skip=5)
    assert tracker.inits == [0, 7]
    # frame 9 reports FAR while the target is absent: not a failure
    assert rec.failures == 1 and rec.events[9] == E.TRACKED


def test_realtime_slow_tracker_skips_every_other_frame_after_grace(fake_clock: FakeClock) -> None:
    n = 14
    gt = moving_gt(n)
    seq = make_sequence(gt)
    # 100 ms per frame at 20 fps (50 ms): after 3 grace frames every other frame passes by
    tracker = ScriptedTracker(
        lambda i: (gt[i], 0.9, True), fake_clock, latency=0.1, init_latency=1.0
    )
    rec = run_realtime(tracker, seq, fps=20, grace=3, timer=fake_clock)
    assert tracker.tracked == [1, 2, 3, 4, 6, 8, 10, 12]
    assert np.flatnonzero(rec.events == E.HELD).tolist() == [5, 7, 9, 11, 13]
    # a held frame reports the last box the tracker produced (the previous frame's)
    for i in (5, 7, 9, 11, 13):
        np.testing.assert_allclose(rec.boxes[i], gt[i - 1])
    assert rec.failures == 0  # a 1 px lag is far from IoU 0


def test_realtime_fast_tracker_sees_every_frame(fake_clock: FakeClock) -> None:
    gt = moving_gt(10)
    tracker = ScriptedTracker(lambda i: (gt[i], 0.9, True), fake_clock, latency=0.03)
    rec = run_realtime(tracker, make_sequence(gt), fps=20, timer=fake_clock)
    assert tracker.tracked == list(range(1, 10))
    assert not (rec.events == E.HELD).any()


def test_realtime_very_slow_tracker_fails_on_stale_boxes_and_restarts(
    fake_clock: FakeClock,
) -> None:
    # the target moves 10 px per frame; a tracker needing 4 frame periods reports stale boxes
    n = 30
    gt = np.array([[10.0 * i, 0.0, 8.0, 8.0] for i in range(n)])
    tracker = ScriptedTracker(lambda i: (gt[i], 0.9, True), fake_clock, latency=0.2)
    rec = run_realtime(tracker, make_sequence(gt), fps=20, grace=1, skip=5, timer=fake_clock)
    # grace frame 1 on time; frame 2 takes 4 periods, so 3 is held with frame 2's box: IoU 0
    assert rec.events[1] == E.TRACKED and rec.events[2] == E.TRACKED
    assert rec.events[3] == E.FAILURE
    assert tracker.inits[:2] == [0, 8]  # re-init 5 frames after the failure
