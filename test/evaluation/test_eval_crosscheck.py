"""Our OTB scores agree with the got10k package's report on the same boxes."""

from __future__ import annotations

import numpy as np
import pytest

from siam_tracker_ros.evaluation.crosscheck import compare_with_got10k, got10k_ope_report
from siam_tracker_ros.evaluation.metrics import mean_ope, ope_scores


def _random_run(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    gt = np.column_stack([rng.uniform(0, 200, (n, 2)), rng.uniform(10, 60, (n, 2))])
    noise = rng.normal(0, 1, (n, 4)) * np.array([8, 8, 5, 5]) * rng.uniform(0.2, 3, (n, 1))
    pred = gt + noise
    pred[:, 2:] = np.maximum(pred[:, 2:], 1)
    pred[rng.random(n) < 0.1] = [300, 300, 20, 20]  # some outright failures
    return pred, gt


def test_ope_scores_match_got10k_report() -> None:
    rng = np.random.default_rng(3)
    preds, gts, absent = {}, {}, {}
    for k, n in enumerate((40, 75, 23)):
        preds[f"s{k}"], gts[f"s{k}"] = _random_run(rng, n)
        absent[f"s{k}"] = rng.random(n) < 0.1
        absent[f"s{k}"][0] = False
    result = compare_with_got10k(preds, gts, absent)
    for ours, theirs in result.values():
        assert ours == pytest.approx(theirs, abs=1e-9)
    assert 0.2 < result["auc"][0] < 0.9  # a non-trivial case, not all zeros or ones


def test_got10k_per_sequence_curves_match_ours() -> None:
    rng = np.random.default_rng(5)
    pred, gt = _random_run(rng, 60)
    pred[0] = gt[0]  # got10k forces frame 1 to the ground truth; do the same on our side
    report = got10k_ope_report({"t": {"seq": pred}}, {"seq": gt})["t"]["seq_wise"]["seq"]
    ours = mean_ope([ope_scores(pred, gt, skip_first=False)])
    np.testing.assert_allclose(ours.success, report["success_curve"], atol=1e-9)
    np.testing.assert_allclose(ours.precision, report["precision_curve"], atol=1e-9)
