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
- long-term (only where the sequences have absent frames; ``evaluation.longterm``): LT-F at the
  tracker's own flag (recomputed per resample from the mean per-sequence LT precision and
  recall, as the dataset value is), and the pooled fractions of phantom frames (of absent
  frames), false-lost frames (of visible frames) and returns re-acquired within
  :data:`PAIRED_REACQUIRE_HORIZON` frames (of the returns that count): each per resample the
  ratio of the resampled sequences' summed counts.

Scores that are not means of per-sequence values (EAO, LT-F, pooled fractions) go through one
helper, :func:`paired_parts_delta`: each sequence contributes a vector of additive parts, a
resample is a weighted sum of them and the score is a function of that sum.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Sequence as SequenceABC
from dataclasses import dataclass

import numpy as np

from siam_tracker_ros.datasets import Sequence
from siam_tracker_ros.evaluation.longterm import (
    REACQUIRE_HORIZONS,
    SequenceLongTerm,
    lt_f,
    sequence_longterm,
)
from siam_tracker_ros.evaluation.metrics import eao_curve_parts, iou, reset_segments
from siam_tracker_ros.evaluation.protocols import FrameEvent, RunRecord
from siam_tracker_ros.evaluation.runner import Results

__all__ = [
    "BOOTSTRAP_RESAMPLES",
    "BOOTSTRAP_SEED",
    "CONFIDENT_SCORE",
    "PAIRED_REACQUIRE_HORIZON",
    "PairedComparison",
    "PairedDelta",
    "bootstrap_weights",
    "confident_wrong_frames",
    "paired_comparison",
    "paired_delta",
    "paired_eao_delta",
    "paired_longterm_deltas",
    "paired_parts_delta",
]

BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 0
#: a frame counts as "confident" when the tracker says TRACKING with a score at least this
CONFIDENT_SCORE = 0.5
#: the re-acquisition horizon (frames) whose fraction gets a paired interval
PAIRED_REACQUIRE_HORIZON = REACQUIRE_HORIZONS[-1]


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


def paired_parts_delta(
    parts: np.ndarray | SequenceABC[np.ndarray],
    baseline_parts: np.ndarray | SequenceABC[np.ndarray],
    statistic: Callable[[np.ndarray], np.ndarray],
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> PairedDelta:
    """Difference of a score built from additive per-sequence parts, with a paired bootstrap
    95 % interval over sequences.

    ``parts`` / ``baseline_parts``: one row of parts per sequence (same sequence order, ``n x
    k``); ``statistic`` maps ``R x k`` sums of parts to ``R`` scores. The full-data delta uses
    every sequence once; each resample weights the sequences by their draw counts. Resamples
    where either score is undefined (NaN: e.g. no absent frame was drawn) are left out; if none
    is left the interval is NaN.
    """
    a = np.asarray(parts, dtype=np.float64)
    b = np.asarray(baseline_parts, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 2 or not len(a):
        raise ValueError(
            f"need two equal non-empty n x k arrays of parts, got {a.shape}, {b.shape}"
        )
    ones = np.ones((1, len(a)))
    full = float((statistic(ones @ a) - statistic(ones @ b))[0])
    w = bootstrap_weights(len(a), resamples, seed)
    samples = statistic(w @ a) - statistic(w @ b)
    samples = samples[np.isfinite(samples)]
    if not len(samples):
        return PairedDelta(full, float("nan"), float("nan"))
    return PairedDelta(full, *_interval(samples))


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
    width = len(parts[0][0])

    def stat(sums: np.ndarray) -> np.ndarray:
        return _eao_from_parts(sums[:, :width], sums[:, width:], interval)

    return paired_parts_delta(
        np.stack([np.concatenate([p, c]) for p, c in parts]),
        np.stack([np.concatenate([p, c]) for p, c in baseline_parts]),
        stat,
        resamples,
        seed,
    )


def _ratio_of_sums(sums: np.ndarray) -> np.ndarray:
    """Column 0 over column 1 (NaN where the denominator is 0)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(sums[:, 1] > 0, sums[:, 0] / np.maximum(sums[:, 1], 1e-12), np.nan)


def _lt_f_of_sums(sums: np.ndarray) -> np.ndarray:
    """LT-F from summed per-sequence (precision, recall, 1): F of the mean precision / recall."""
    n = sums[:, 2]
    return np.asarray(lt_f(sums[:, 0] / n, sums[:, 1] / n), dtype=np.float64)


def paired_longterm_deltas(
    values: SequenceABC[SequenceLongTerm],
    baseline: SequenceABC[SequenceLongTerm],
    horizon: int = PAIRED_REACQUIRE_HORIZON,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> dict[str, PairedDelta | None]:
    """Paired deltas of the long-term scores (``lt_f``, ``phantom``, ``reacquired``,
    ``false_lost``; see the module docstring) from per-sequence long-term counts of two
    trackers on the same sequences. A score undefined on the full data (no absent frame, no
    return that counts) is ``None``."""
    if len(values) != len(baseline) or not values:
        raise ValueError("need the same non-zero number of sequences on both sides")
    columns: dict[
        str,
        tuple[Callable[[SequenceLongTerm], list[float]], Callable[[np.ndarray], np.ndarray]],
    ] = {
        "lt_f": (lambda s: [s.precision, s.recall, 1.0], _lt_f_of_sums),
        "phantom": (lambda s: [s.phantom_frames, s.absent_frames], _ratio_of_sums),
        "reacquired": (lambda s: [s.reacquired[horizon], s.counted[horizon]], _ratio_of_sums),
        "false_lost": (lambda s: [s.false_lost_frames, s.visible_frames], _ratio_of_sums),
    }
    out: dict[str, PairedDelta | None] = {}
    for key, (parts_of, stat) in columns.items():
        a = np.array([parts_of(s) for s in values], dtype=np.float64)
        b = np.array([parts_of(s) for s in baseline], dtype=np.float64)
        d = paired_parts_delta(a, b, stat, resamples, seed)
        out[key] = d if np.isfinite(d.delta) else None
    return out


def _sequence_longterm_of(record: RunRecord, seq: Sequence) -> SequenceLongTerm:
    """Long-term counts of one one-pass record (its ``reports_present`` flag)."""
    return sequence_longterm(
        seq.name,
        record.boxes,
        seq.groundtruth,
        seq.absent,
        record.reports_present,
        confident_wrong_frames(record, seq),
    )


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
    #: long-term (one-pass, only where the sequences have absent frames): LT-F at the tracker's
    #: flag, phantom / false-lost fractions, fraction of returns re-acquired within
    #: :data:`PAIRED_REACQUIRE_HORIZON` frames
    lt_f: PairedDelta | None = None
    phantom: PairedDelta | None = None
    reacquired: PairedDelta | None = None
    false_lost: PairedDelta | None = None

    @property
    def has_longterm(self) -> bool:
        return any(
            getattr(self, k) is not None for k in ("lt_f", "phantom", "reacquired", "false_lost")
        )

    def to_dict(self) -> dict[str, object]:
        return {
            "baseline": self.baseline,
            "sequences": self.sequences,
            **{
                k: (getattr(self, k).to_dict() if getattr(self, k) is not None else None)
                for k in ("auc", "failures", "eao", "confident_wrong")
            },
            "longterm": {
                "reacquire_horizon": PAIRED_REACQUIRE_HORIZON,
                **{
                    k: (getattr(self, k).to_dict() if getattr(self, k) is not None else None)
                    for k in ("lt_f", "phantom", "reacquired", "false_lost")
                },
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
    """``name`` minus ``baseline`` for AUC, failures, EAO, confident-wrong frames and (where the
    sequences have absent frames) the long-term scores, each over the sequences where both
    trackers have the records it needs."""
    from siam_tracker_ros.evaluation.metrics import ope_scores

    auc_a: list[float] = []
    auc_b: list[float] = []
    cw_a: list[float] = []
    cw_b: list[float] = []
    lt_a: list[SequenceLongTerm] = []
    lt_b: list[SequenceLongTerm] = []
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
        lt_a.append(_sequence_longterm_of(ra, seq))
        lt_b.append(_sequence_longterm_of(rb, seq))
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

    longterm: dict[str, PairedDelta | None] = {}
    if any(s.absent_frames for s in lt_a):
        longterm = paired_longterm_deltas(lt_a, lt_b, PAIRED_REACQUIRE_HORIZON, resamples, seed)

    return PairedComparison(
        name=name,
        baseline=baseline,
        sequences=max(ope_n, len(fail_a)),
        auc=delta(auc_a, auc_b, "mean"),
        failures=delta(fail_a, fail_b, "sum"),
        eao=paired_eao_delta(parts_a, parts_b, eao_interval, resamples, seed) if parts_a else None,
        confident_wrong=delta(cw_a, cw_b, "sum"),
        lt_f=longterm.get("lt_f"),
        phantom=longterm.get("phantom"),
        reacquired=longterm.get("reacquired"),
        false_lost=longterm.get("false_lost"),
    )
