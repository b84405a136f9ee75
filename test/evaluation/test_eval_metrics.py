"""Metrics against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from siam_tracker_ros.evaluation.metrics import (
    center_error,
    eao,
    eao_curve,
    iou,
    mean_ope,
    normalized_center_error,
    ope_scores,
    presence_scores,
    reset_accuracy,
    reset_segments,
    success_curve,
)
from siam_tracker_ros.evaluation.protocols import FrameEvent as E

GT = np.array([0.0, 0.0, 10.0, 10.0])


def test_iou_hand_values() -> None:
    assert iou(GT, [5, 5, 10, 10]) == pytest.approx(25 / 175)
    assert iou(GT, [0, 0, 5, 10]) == pytest.approx(0.5)
    assert iou(GT, GT) == pytest.approx(1.0)
    assert iou(GT, [10, 0, 10, 10]) == 0.0  # touching edges do not overlap
    assert iou(GT, [0, 0, 0, 0]) == 0.0
    assert iou(GT, [np.nan, 0, 10, 10]) == 0.0  # garbage scores 0, never NaN
    rows = iou(np.array([GT, GT]), np.array([[0, 0, 5, 10], [20, 20, 5, 5]]))
    np.testing.assert_allclose(rows, [0.5, 0.0])


def test_center_errors() -> None:
    assert center_error(GT, [12, 16, 10, 10]) == pytest.approx(20.0)
    # normalised per axis by the ground-truth size: 2 px on a 10 px box = 0.2
    assert normalized_center_error(GT, [2, 0, 10, 10]) == pytest.approx(0.2)
    assert normalized_center_error([0, 0, 10, 20], [0, 4, 10, 20]) == pytest.approx(0.2)


def test_success_curve_is_strictly_above_threshold() -> None:
    curve = success_curve(np.array([0.5]))
    thresholds = np.linspace(0, 1, 21)
    np.testing.assert_array_equal(curve, (0.5 > thresholds).astype(float))
    assert curve[10] == 0.0  # IoU 0.5 is not above 0.5


def test_ope_scores_hand_computed_with_first_and_absent_frames_left_out() -> None:
    gt = np.array([GT] * 7)
    pred = np.array(
        [
            [50, 50, 1, 1],  # frame 1: left out (would drag everything down)
            GT,  # IoU 1
            [0, 0, 5, 10],  # IoU 0.5, centre error 2.5
            [20, 20, 10, 10],  # IoU 0, centre error 28.3
            [0, 0, 2.5, 10],  # IoU 0.25, centre error 3.75
            [12, 16, 10, 10],  # IoU 0, centre error exactly 20 (counts for P@20)
            [90, 90, 10, 10],  # absent frame: left out
        ]
    )
    absent = np.array([0, 0, 0, 0, 0, 0, 1], dtype=bool)
    s = ope_scores(pred, gt, absent)
    assert s.frames == 5
    # thresholds 0..0.95 for IoU 1 (20), 0..0.45 for 0.5 (10), 0..0.2 for 0.25 (5): 35 of 5*21
    assert s.auc == pytest.approx(35 / (5 * 21))
    assert s.precision_20 == pytest.approx(4 / 5)  # 0, 2.5, 3.75, 20 px are within 20
    # normalised: 0, 0.25, 2.83, 0.375, 2.0 -> only the perfect frame is within 0.2
    assert s.norm_precision_02 == pytest.approx(1 / 5)
    # without leaving frame 1 out, the score changes: the mask matters
    assert ope_scores(pred, gt, absent, skip_first=False).frames == 6


def test_mean_ope_averages_sequences_not_frames() -> None:
    long = ope_scores(np.array([GT] * 101), np.array([GT] * 101))  # 100 perfect frames
    short = ope_scores(np.array([GT, [50, 50, 5, 5]]), np.array([GT, GT]))  # 1 failed frame
    m = mean_ope([long, short])
    assert long.auc == pytest.approx(20 / 21) and short.auc == 0.0
    assert m.auc == pytest.approx((20 / 21) / 2)


def test_eao_hand_computed() -> None:
    # sequence: init, .8, .6, failure, 4 skipped, init, .9, .9 (ends without failure)
    ov = np.array([1, 0.8, 0.6, 0.0, np.nan, np.nan, np.nan, np.nan, 1, 0.9, 0.9])
    ev = np.array([E.INIT, 0, 0, E.FAILURE, 3, 3, 3, 3, E.INIT, 0, 0])
    segs = reset_segments(ov, ev)
    assert [(len(o), f) for o, f in segs] == [(4, True), (3, False)]
    curve = eao_curve(segs, 4)
    # L=1: (.8 + .9)/2; L=2: (.7 + .9)/2; L=3: 1.4/3 (second segment too short, not failed);
    # L=4: the failed segment padded with zeros: 1.4/4
    np.testing.assert_allclose(curve[1:], [0.85, 0.8, 1.4 / 3, 0.35])
    assert eao(curve, (1, 4)) == pytest.approx((0.85 + 0.8 + 1.4 / 3 + 0.35) / 4)
    assert eao(curve, (2, 3)) == pytest.approx((0.8 + 1.4 / 3) / 2)
    with pytest.raises(ValueError):
        eao(curve, (3, 2))


def test_reset_accuracy_burnin_and_skipped_frames() -> None:
    ov = np.array([1, 0.2, 0.4, 0.6, 0.0, np.nan, 1, 0.5, 0.7])
    ev = np.array([E.INIT, 0, 0, 0, E.FAILURE, 3, E.INIT, 0, E.HELD])
    # burn-in 2 drops each init frame and the next one; failures and skipped frames never count
    assert reset_accuracy(ov, ev, burnin=2) == pytest.approx((0.4 + 0.6 + 0.7) / 3)
    assert reset_accuracy(ov, ev, burnin=0) == pytest.approx((0.2 + 0.4 + 0.6 + 0.5 + 0.7) / 5)


def test_presence_scores_hand_computed() -> None:
    gt = np.array([GT] * 10)
    absent = np.array([0, 0, 0, 0, 0, 0, 1, 1, 1, 1], dtype=bool)
    pred = np.array([GT, GT, GT, [0, 0, 5, 10], [30, 30, 5, 5], GT, GT, GT, GT, GT])
    present = np.array([1, 1, 1, 1, 1, 0, 0, 0, 0, 1], dtype=bool)
    score = np.array([1, 0.9, 0.9, 0.8, 0.7, 0.3, 0.2, 0.2, 0.2, 0.6])
    p = presence_scores([pred], [gt], [absent], [present], [score])
    assert (p.absent_frames, p.visible_frames) == (4, 5)
    assert p.lost_when_absent == pytest.approx(3 / 4)
    assert p.present_when_visible == pytest.approx(4 / 5)
    # reported frames 1,2,3,4,9 -> IoU 1,1,.5,0 and 0 (absent): precision 2.5/5
    assert p.precision == pytest.approx(0.5)
    # visible frames 1..5 -> 1,1,.5,0 and 0 (not reported): recall 2.5/5
    assert p.recall == pytest.approx(0.5)
    assert p.f_score == pytest.approx(0.5)
    # the best score threshold is 0.3: it reports frames 1-5 and 9 (frame 5 is right but its
    # flag said lost): P = 3.5/6, R = 3.5/5 -> F = 7/11, better than the flag's 0.5
    assert p.f_max == pytest.approx(7 / 11)


def test_eao_does_not_drop_where_a_failed_segment_with_absent_frames_ends() -> None:
    """Target-absent frames (NaN) count in neither the overlap sum nor the length, for segment
    lengths past the failure as before it: the curve of a segment with five absent frames is
    the curve of the same segment without them, five lengths later (it fell from 0.667 to
    0.333 at the first length past the failure)."""
    from siam_tracker_ros.evaluation.metrics import eao_curve

    n = np.nan
    with_absent = eao_curve([(np.array([1.0] + [n] * 5 + [0.8] * 5 + [0.0]), True)], 14)
    without = eao_curve([(np.array([1.0] + [0.8] * 5 + [0.0]), True)], 14)
    np.testing.assert_allclose(with_absent[10:15], without[5:10])
    assert with_absent[12] == pytest.approx(4.0 / 7.0)
