"""Pairwise comparison with a bootstrap interval over sequences, the confident-wrong count, the
``dev`` split and ``+key=value`` tracker overrides (issue 19)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from siam_tracker_ros.datasets import Sequence
from siam_tracker_ros.evaluation.metrics import eao, eao_curve, eao_curve_parts
from siam_tracker_ros.evaluation.paired import (
    bootstrap_weights,
    confident_wrong_frames,
    paired_comparison,
    paired_delta,
    paired_eao_delta,
)
from siam_tracker_ros.evaluation.protocols import FrameEvent, RunRecord
from siam_tracker_ros.evaluation.reports import format_paired_table, summarize
from siam_tracker_ros.evaluation.runner import Results, parse_tracker_specs


def _seq(name: str, gt: np.ndarray, absent: np.ndarray | None = None) -> Sequence:
    frames = [np.zeros((4, 4, 3), np.uint8)] * len(gt)
    return Sequence(name, frames, gt, absent if absent is not None else np.zeros(0, bool))


def _record(boxes: np.ndarray, present: np.ndarray, scores: np.ndarray, **kw: object) -> RunRecord:
    n = len(boxes)
    events = np.full(n, FrameEvent.TRACKED, np.int8)
    events[0] = FrameEvent.INIT
    return RunRecord(
        boxes=np.asarray(boxes, np.float64),
        scores=np.asarray(scores, np.float64),
        present=np.asarray(present, bool),
        events=events,
        times=np.full(n, 0.01),
        **kw,  # type: ignore[arg-type]
    )


def test_bootstrap_weights_draw_n_with_replacement_reproducibly() -> None:
    w = bootstrap_weights(7, resamples=50, seed=3)
    assert w.shape == (50, 7)
    assert np.all(w.sum(axis=1) == 7)
    assert np.array_equal(w, bootstrap_weights(7, resamples=50, seed=3))
    assert not np.array_equal(w, bootstrap_weights(7, resamples=50, seed=4))


def test_paired_delta_all_positive_differences_give_a_positive_interval() -> None:
    base = np.array([0.2, 0.5, 0.7, 0.4, 0.9, 0.3, 0.6, 0.8])
    better = base + np.array([0.05, 0.1, 0.02, 0.08, 0.03, 0.06, 0.04, 0.07])
    d = paired_delta(better, base)
    assert d.delta == pytest.approx(0.05625)
    # every resample averages differences in [0.02, 0.1]: the interval lies inside it
    assert 0.02 <= d.low < d.delta < d.high <= 0.1
    assert d.significant
    worse = paired_delta(base, better)
    assert worse.delta == pytest.approx(-0.05625)
    assert worse.high < 0 and worse.significant


def test_paired_delta_mixed_signs_straddle_zero_and_sum_statistic() -> None:
    a = np.array([3, 0, 5, 1, 2, 4, 0, 1], float)
    b = np.array([1, 2, 4, 3, 0, 5, 1, 1], float)  # differences +2 -2 +1 -2 +2 -1 -1 0
    d = paired_delta(a, b, "sum")
    assert d.delta == pytest.approx(-1.0)
    assert d.low < 0 < d.high and not d.significant
    # a constant paired difference has no spread at all
    c = paired_delta(b + 1.0, b, "sum")
    assert (c.delta, c.low, c.high) == (pytest.approx(8.0), pytest.approx(8.0), pytest.approx(8.0))


def test_paired_delta_rejects_unequal_inputs() -> None:
    with pytest.raises(ValueError):
        paired_delta([1.0, 2.0], [1.0])
    with pytest.raises(ValueError):
        paired_delta([1.0], [1.0], "median")


def test_eao_parts_add_up_to_the_pooled_curve() -> None:
    rng = np.random.default_rng(0)
    segs = [(rng.uniform(0, 1, n), bool(f)) for n, f in [(30, 1), (80, 0), (12, 1), (60, 0)]]
    phi1, c1 = eao_curve_parts(segs[:2], 100)
    phi2, c2 = eao_curve_parts(segs[2:], 100)
    with np.errstate(invalid="ignore", divide="ignore"):
        combined = np.where(c1 + c2 > 0, (phi1 + phi2) / (c1 + c2), np.nan)
    combined[0] = np.nan
    np.testing.assert_allclose(combined, eao_curve(segs, 100), equal_nan=True)


def test_paired_eao_delta_full_value_matches_eao_of_pooled_segments() -> None:
    good = [(np.full(50, 0.8), False), (np.full(40, 0.7), False), (np.full(60, 0.6), False)]
    bad = [(np.full(10, 0.5), True), (np.full(40, 0.7), False), (np.full(5, 0.4), True)]
    interval = (5, 30)
    d = paired_eao_delta(
        [eao_curve_parts([s], 40) for s in good],
        [eao_curve_parts([s], 40) for s in bad],
        interval,
        resamples=500,
    )
    expected = eao(eao_curve(good, 40), interval) - eao(eao_curve(bad, 40), interval)
    assert d.delta == pytest.approx(expected)
    assert d.delta > 0 and d.low >= 0


def test_confident_wrong_counts_only_visible_iou0_frames_reported_tracking_and_confident() -> None:
    gt = np.tile([10.0, 10.0, 20.0, 20.0], (8, 1))
    absent = np.zeros(8, bool)
    absent[6] = True
    seq = _seq("s", gt, absent)
    far = [100.0, 100.0, 20.0, 20.0]
    on = [10.0, 10.0, 20.0, 20.0]
    boxes = np.array([on, far, far, far, far, on, far, far])
    present = np.array([1, 1, 1, 0, 1, 1, 1, 1], bool)
    scores = np.array([1.0, 0.9, 0.4, 0.9, 0.95, 0.99, 0.9, 0.8])
    states = np.array([1, 1, 1, 2, 3, 1, 1, 1])
    rec = _record(boxes, present, scores, states=states)
    # frame 1: wrong, confident -> counts; 2: score 0.4 < 0.5; 3: says lost; 4: ambiguous;
    # 5: right box; 6: target absent; 7: wrong, confident -> counts
    assert confident_wrong_frames(rec, seq) == 2
    assert confident_wrong_frames(rec, seq, min_score=0.85) == 1
    # a record without states (a peer) is TRACKING wherever present: frame 4 counts then
    assert confident_wrong_frames(_record(boxes, present, scores), seq) == 3


def test_paired_comparison_and_report_table_on_synthetic_results() -> None:
    rng = np.random.default_rng(1)
    seqs, results = [], Results()
    for k in range(6):
        gt = np.tile([20.0, 20.0, 30.0, 30.0], (40, 1))
        seq = _seq(f"s{k}", gt)
        seqs.append(seq)
        good = gt + rng.normal(0, 1.0, gt.shape)
        bad = gt + rng.normal(0, 1.0, gt.shape)
        bad[20:] = [200.0, 200.0, 30.0, 30.0]  # jumps to a look-alike half way, confidently
        ones = np.ones(40, bool)
        for name, boxes in (("good", good), ("bad", bad)):
            results.records[(name, "ope", seq.name)] = _record(boxes, ones, np.full(40, 0.9))
    c = paired_comparison(results, seqs, "good", "bad", resamples=300)
    assert c.sequences == 6
    assert c.auc is not None and c.auc.delta > 0.3 and c.auc.significant
    assert c.confident_wrong is not None and c.confident_wrong.delta == -6 * 20
    assert c.failures is None and c.eao is None  # no supervised records
    table = format_paired_table([c])
    assert "| tracker - bad |" in table and "| good | 6 |" in table
    summaries = summarize(results, seqs, ["good", "bad"])
    assert summaries["bad"].confident_wrong == 120
    assert summaries["good"].confident_wrong == 0


def test_tracker_specs_take_config_overrides() -> None:
    specs = parse_tracker_specs(
        "v3ou=project:cfg.yaml:w.pth+mechanisms.online_update.enabled=true+lr=0.3,"
        "project:cfg.yaml+window_influence=0.5,nanotrack"
    )
    assert specs[0].name == "v3ou"
    assert specs[0].overrides == (("mechanisms.online_update.enabled", True), ("lr", 0.3))
    assert specs[1].name == "project-cfg" and specs[1].overrides == (("window_influence", 0.5),)
    with pytest.raises(ValueError):
        parse_tracker_specs("nanotrack+lr=0.3")
    with pytest.raises(ValueError):
        parse_tracker_specs("project:cfg.yaml+lr")


def _otb(root: Path, name: str, n: int = 3) -> None:
    import cv2

    img = root / name / "img"
    img.mkdir(parents=True)
    for i in range(n):
        cv2.imwrite(str(img / f"{i + 1:04d}.jpg"), np.zeros((16, 16, 3), np.uint8))
    (root / name / "groundtruth_rect.txt").write_text("2,2,5,5\n" * n)


def test_dev_split_is_val_plus_dev_videos(tmp_path: Path) -> None:
    from siam_tracker_ros.evaluation.cli import load_split

    _otb(tmp_path / "sequences", "A")
    _otb(tmp_path / "dev-videos", "B")
    _otb(tmp_path / "train-videos", "C")
    assert sorted(s.name for s in load_split(tmp_path, "dev")) == ["A", "B"]
    assert [s.name for s in load_split(tmp_path, "dev", "B")] == ["B"]
    with pytest.raises(ValueError, match="C"):
        load_split(tmp_path, "dev", "A,C")


def test_overrides_of_one_section_are_applied_together() -> None:
    from siam_tracker_ros.core.config import TrackerConfig
    from siam_tracker_ros.evaluation.runner import apply_overrides

    cfg = apply_overrides(
        TrackerConfig(),
        [
            ("mechanisms.online_update.enabled", True),
            ("mechanisms.online_update.first_weight", 0.8),
            ("mechanisms.online_update.rate", 0.05),
            ("lr", 0.3),
        ],
    )
    ou = cfg.mechanisms.online_update
    assert (ou.enabled, ou.first_weight, ou.rate, cfg.lr) == (True, 0.8, 0.05, 0.3)
    with pytest.raises(ValueError, match="bogus"):
        apply_overrides(TrackerConfig(), [("mechanisms.bogus.enabled", True)])
    with pytest.raises(ValueError):
        apply_overrides(TrackerConfig(), [("lr", 0.3), ("lr.x", 1)])
