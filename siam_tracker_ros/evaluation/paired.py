"""Pairwise comparison of trackers per sequence, with a bootstrap interval over sequences, and the
"confident-wrong" count (a box on the wrong thing while the tracker says all is well).

Why paired and per sequence: two configurations run on the same sequences, and sequence
difficulty varies far more than the difference between two good trackers. The difference per
sequence removes that shared variance; resampling *sequences* (not frames: frames of one sequence
are strongly correlated) with replacement gives a 95 % interval for the difference of the
dataset-level score. An interval that excludes zero is the protocol's bar for "better".

- AUC: mean over sequences of the per-sequence one-pass AUC (as the report's AUC column).
- failures: total VOT-supervised failures over the sequences (a sum, as the report's column).
- EAO: recomputed from the resampled sequences' segments (EAO pools segments across sequences,
  so it is not a mean of per-sequence values); each sequence contributes its Phi(L) sums and
  counts (:func:`metrics.eao_curve_parts`), so a resample is a weighted sum.
- confident-wrong frames: total over sequences.
"""

from __future__ import annotations

from collections.abc import Sequence as SequenceABC
from dataclasses import dataclass

import numpy as np

from siam_tracker_ros.datasets import Sequence
from siam_tracker_ros.evaluation.metrics import eao_curve_parts, iou, reset_segments
from siam_tracker_ros.evaluation.protocols import FrameEvent, RunRecord
from siam_tracker_ros.evaluation.runner import Results

__all__ = [
    "BOOTSTRAP_RESAMPLES",
    "BOOTSTRAP_SEED",
    "CONFIDENT_SCORE",
    "PairedComparison",
    "PairedDelta",
    "bootstrap_weights",
    "confident_wrong_frames",
    "paired_comparison",
    "paired_delta",
    "paired_eao_delta",
]

BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 0
#: a frame counts as "confident" when the tracker says TRACKING with a score at least this
CONFIDENT_SCORE = 0.5


def confident_wrong_frames(
    record: RunRecord, seq: Sequence, min_score: float = CONFIDENT_SCORE
) -> int:
    """Frames where the target is visible, the reported box has IoU 0 with the ground truth,
    and the tracker nevertheless reports it present (state TRACKING) with score >= ``min_score``.

    These are the frames a follower would chase the wrong thing at full speed: a tracker that
    is wrong but says "lost" or "ambiguous" there is not counted. Init frames (the box *is* the
    ground truth) and frames without tracker output are left out.
    """
    tracked = (record.events == FrameEvent.TRACKED) | (record.events == FrameEvent.FAILURE)
    visible = ~np.asarray(seq.absent, dtype=bool)
    wrong = iou(record.boxes, seq.groundtruth) <= 0.0
    confident = record.confident(min_score)
    return int(np.sum(tracked & visible & wrong & confident))


@dataclass(frozen=True)
class PairedDelta:
    """``value - baseline`` of a dataset-level score, with a bootstrap 95 % interval."""

    delta: float
    low: float
    high: float

    @property
    def significant(self) -> bool:
        """The interval excludes zero."""
        return self.low > 0 or self.high < 0

    def format(self, digits: int = 3) -> str:
        sign = "+" if self.delta >= 0 else ""
        return f"{sign}{self.delta:.{digits}f} [{self.low:.{digits}f}, {self.high:.{digits}f}]" + (
            " *" if self.significant else ""
        )

    def to_dict(self) -> dict[str, float | bool]:
        return {
            "delta": self.delta,
            "low": self.low,
            "high": self.high,
            "significant": self.significant,
        }


def bootstrap_weights(
    n: int, resamples: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED
) -> np.ndarray:
    """``resamples x n`` multiplicities: how often each sequence is drawn in each resample (n
    draws with replacement). The same seed gives the same resamples for every comparison."""
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(resamples, n))
    weights = np.zeros((resamples, n))
    np.add.at(weights, (np.arange(resamples)[:, None], idx), 1.0)
    return weights


def _interval(samples: np.ndarray) -> tuple[float, float]:
    low, high = np.percentile(samples, [2.5, 97.5])
    return float(low), float(high)


def paired_delta(
    values: SequenceABC[float] | np.ndarray,
    baseline: SequenceABC[float] | np.ndarray,
    statistic: str = "mean",
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> PairedDelta:
    """Difference of ``statistic`` (``"mean"`` or ``"sum"`` over sequences) between two
    trackers' per-sequence values (same sequence order), with a paired bootstrap 95 % interval."""
    a = np.asarray(values, dtype=np.float64)
    b = np.asarray(baseline, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1 or len(a) == 0:
        raise ValueError(f"need two equal-length 1-D arrays, got {a.shape} and {b.shape}")
    if statistic not in ("mean", "sum"):
        raise ValueError(f"statistic must be 'mean' or 'sum', got {statistic!r}")
    d = a - b
    w = bootstrap_weights(len(d), resamples, seed)
    samples = w @ d
    if statistic == "mean":
        samples = samples / len(d)
    delta = float(d.mean() if statistic == "mean" else d.sum())
    return PairedDelta(delta, *_interval(samples))


def _eao_from_parts(phi: np.ndarray, count: np.ndarray, interval: tuple[int, int]) -> np.ndarray:
    """EAO for each row of weighted Phi sums / counts (``R x (max_length + 1)``)."""
    low, high = interval
    p = phi[:, low : high + 1]
    c = count[:, low : high + 1]
    with np.errstate(invalid="ignore", divide="ignore"):
        curve = np.where(c > 0, p / np.maximum(c, 1e-12), np.nan)
    finite = np.isfinite(curve)
    total = np.where(finite, curve, 0.0).sum(axis=1)
    n = finite.sum(axis=1)
    return np.where(n > 0, total / np.maximum(n, 1), np.nan)


def paired_eao_delta(
    parts: SequenceABC[tuple[np.ndarray, np.ndarray]],
    baseline_parts: SequenceABC[tuple[np.ndarray, np.ndarray]],
    interval: tuple[int, int],
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> PairedDelta:
    """EAO difference from per-sequence ``(phi_sum, count)`` parts of two trackers (same
    sequence order, each of length ``max_length + 1`` with ``max_length >= interval[1]``)."""
    if len(parts) != len(baseline_parts) or not parts:
        raise ValueError("need the same non-zero number of sequences on both sides")
    phi_a = np.stack([p for p, _ in parts])
    cnt_a = np.stack([c for _, c in parts])
    phi_b = np.stack([p for p, _ in baseline_parts])
    cnt_b = np.stack([c for _, c in baseline_parts])
    ones = np.ones((1, len(parts)))
    full = float(
        (
            _eao_from_parts(ones @ phi_a, ones @ cnt_a, interval)
            - _eao_from_parts(ones @ phi_b, ones @ cnt_b, interval)
        )[0]
    )
    w = bootstrap_weights(len(parts), resamples, seed)
    samples = _eao_from_parts(w @ phi_a, w @ cnt_a, interval) - _eao_from_parts(
        w @ phi_b, w @ cnt_b, interval
    )
    samples = samples[np.isfinite(samples)]
    if not len(samples):
        return PairedDelta(full, float("nan"), float("nan"))
    return PairedDelta(full, *_interval(samples))


@dataclass(frozen=True)
class PairedComparison:
    """One tracker against the baseline on the sequences both have records for."""

    name: str
    baseline: str
    sequences: int
    auc: PairedDelta | None
    failures: PairedDelta | None
    eao: PairedDelta | None
    confident_wrong: PairedDelta | None

    def to_dict(self) -> dict[str, object]:
        return {
            "baseline": self.baseline,
            "sequences": self.sequences,
            **{
                k: (getattr(self, k).to_dict() if getattr(self, k) is not None else None)
                for k in ("auc", "failures", "eao", "confident_wrong")
            },
        }


def paired_comparison(
    results: Results,
    sequences: SequenceABC[Sequence],
    name: str,
    baseline: str,
    eao_interval: tuple[int, int] = (46, 291),
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> PairedComparison:
    """``name`` minus ``baseline`` for AUC, failures, EAO and confident-wrong frames, each over
    the sequences where both trackers have the records it needs."""
    from siam_tracker_ros.evaluation.metrics import ope_scores

    auc_a: list[float] = []
    auc_b: list[float] = []
    cw_a: list[float] = []
    cw_b: list[float] = []
    ope_n = 0
    for seq in sequences:
        ra, rb = results.get(name, "ope", seq.name), results.get(baseline, "ope", seq.name)
        if ra is None or rb is None:
            continue
        ope_n += 1
        auc_a.append(ope_scores(ra.boxes, seq.groundtruth, seq.absent).auc)
        auc_b.append(ope_scores(rb.boxes, seq.groundtruth, seq.absent).auc)
        cw_a.append(confident_wrong_frames(ra, seq))
        cw_b.append(confident_wrong_frames(rb, seq))
    fail_a: list[float] = []
    fail_b: list[float] = []
    parts_a: list[tuple[np.ndarray, np.ndarray]] = []
    parts_b: list[tuple[np.ndarray, np.ndarray]] = []
    for seq in sequences:
        ra, rb = (
            results.get(name, "supervised", seq.name),
            results.get(baseline, "supervised", seq.name),
        )
        if ra is None or rb is None:
            continue
        fail_a.append(ra.failures)
        fail_b.append(rb.failures)
        for rec, parts in ((ra, parts_a), (rb, parts_b)):
            segments = reset_segments(rec.overlaps(seq), rec.events)
            parts.append(eao_curve_parts(segments, eao_interval[1]))

    def delta(a: list[float], b: list[float], stat: str) -> PairedDelta | None:
        return paired_delta(a, b, stat, resamples, seed) if a else None

    return PairedComparison(
        name=name,
        baseline=baseline,
        sequences=max(ope_n, len(fail_a)),
        auc=delta(auc_a, auc_b, "mean"),
        failures=delta(fail_a, fail_b, "sum"),
        eao=paired_eao_delta(parts_a, parts_b, eao_interval, resamples, seed) if parts_a else None,
        confident_wrong=delta(cw_a, cw_b, "sum"),
    )
