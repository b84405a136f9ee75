"""Tracking metrics on ``x, y, w, h`` boxes: IoU, centre errors, OTB curves, VOT accuracy /
robustness / EAO and presence (long-term) scores.

Conventions follow the public toolkits so numbers are comparable: IoU and centre error as in
``got10k`` (continuous coordinates, no ``+1``), success = fraction of frames with IoU *above* the
threshold over 21 thresholds ``0:0.05:1``, precision = fraction with centre error ``<= 20`` px,
normalised precision = centre error divided per axis by the ground-truth size ``<= 0.2`` (LaSOT /
TrackingNet style). Dataset-level OTB scores are means over sequences (``got10k``'s report), not
pooled over frames, so a long sequence does not drown the others.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Sequence as SequenceABC
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "IOU_THRESHOLDS",
    "NORM_PRECISION_THRESHOLDS",
    "PRECISION_THRESHOLDS",
    "OPEScores",
    "PresenceScores",
    "ResetScores",
    "center_error",
    "eao",
    "eao_curve",
    "eao_curve_parts",
    "iou",
    "lt_precision_recall",
    "normalized_center_error",
    "ope_frame_mask",
    "ope_scores",
    "mean_ope",
    "precision_curve",
    "presence_scores",
    "reset_segments",
    "success_curve",
]

IOU_THRESHOLDS = np.linspace(0.0, 1.0, 21)
PRECISION_THRESHOLDS = np.arange(0, 51, dtype=np.float64)  # pixels
NORM_PRECISION_THRESHOLDS = np.arange(51, dtype=np.float64) / 100.0  # 0.2 exactly on the grid
PRECISION_AT = 20.0
NORM_PRECISION_AT = 0.2


def _as_boxes(boxes: np.ndarray | SequenceABC[float]) -> np.ndarray:
    arr = np.asarray(boxes, dtype=np.float64)
    if arr.shape[-1] != 4:
        raise ValueError(f"boxes must have 4 values (x, y, w, h) per row, got shape {arr.shape}")
    return arr


def iou(a: np.ndarray | SequenceABC[float], b: np.ndarray | SequenceABC[float]) -> np.ndarray:
    """Intersection over union of ``x, y, w, h`` boxes, row by row (broadcasts).

    Empty or non-finite boxes give 0, never NaN, so a tracker that outputs garbage simply scores 0.
    """
    a, b = _as_boxes(a), _as_boxes(b)
    x1 = np.maximum(a[..., 0], b[..., 0])
    y1 = np.maximum(a[..., 1], b[..., 1])
    x2 = np.minimum(a[..., 0] + a[..., 2], b[..., 0] + b[..., 2])
    y2 = np.minimum(a[..., 1] + a[..., 3], b[..., 1] + b[..., 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = np.clip(a[..., 2], 0, None) * np.clip(a[..., 3], 0, None)
    area_b = np.clip(b[..., 2], 0, None) * np.clip(b[..., 3], 0, None)
    union = area_a + area_b - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(union > 0, inter / union, 0.0)
    return np.clip(np.nan_to_num(out, nan=0.0), 0.0, 1.0)


def _centers(boxes: np.ndarray) -> np.ndarray:
    return boxes[..., :2] + boxes[..., 2:] / 2.0


def center_error(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Euclidean distance between box centres in pixels (``inf`` for non-finite predictions)."""
    pred, gt = _as_boxes(pred), _as_boxes(gt)
    err = np.linalg.norm(_centers(pred) - _centers(gt), axis=-1)
    return np.where(np.isfinite(err), err, np.inf)


def normalized_center_error(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Centre error with each axis divided by the ground-truth width / height."""
    pred, gt = _as_boxes(pred), _as_boxes(gt)
    size = np.maximum(gt[..., 2:], np.finfo(np.float64).eps)
    err = np.linalg.norm((_centers(pred) - _centers(gt)) / size, axis=-1)
    return np.where(np.isfinite(err), err, np.inf)


def success_curve(ious: np.ndarray, thresholds: np.ndarray = IOU_THRESHOLDS) -> np.ndarray:
    """Fraction of frames whose IoU is strictly above each threshold."""
    ious = np.asarray(ious, dtype=np.float64).reshape(-1, 1)
    if ious.size == 0:
        return np.full(len(thresholds), np.nan)
    return (ious > thresholds[None, :]).mean(axis=0)


def precision_curve(
    errors: np.ndarray, thresholds: np.ndarray = PRECISION_THRESHOLDS
) -> np.ndarray:
    """Fraction of frames whose centre error is at most each threshold."""
    errors = np.asarray(errors, dtype=np.float64).reshape(-1, 1)
    if errors.size == 0:
        return np.full(len(thresholds), np.nan)
    return (errors <= thresholds[None, :]).mean(axis=0)


def ope_frame_mask(absent: np.ndarray, skip_first: bool = True) -> np.ndarray:
    """Frames that count in one-pass scores: target present, and not the initialisation frame."""
    mask = ~np.asarray(absent, dtype=bool)
    if skip_first and len(mask):
        mask = mask.copy()
        mask[0] = False
    return mask


@dataclass(frozen=True)
class OPEScores:
    """One-pass (OTB) scores of one sequence, or the mean over sequences."""

    success: np.ndarray  # over IOU_THRESHOLDS
    precision: np.ndarray  # over PRECISION_THRESHOLDS (pixels)
    norm_precision: np.ndarray  # over NORM_PRECISION_THRESHOLDS
    frames: int

    @property
    def auc(self) -> float:
        return float(np.mean(self.success))

    @property
    def precision_20(self) -> float:
        return float(np.interp(PRECISION_AT, PRECISION_THRESHOLDS, self.precision))

    @property
    def norm_precision_02(self) -> float:
        return float(np.interp(NORM_PRECISION_AT, NORM_PRECISION_THRESHOLDS, self.norm_precision))

    @property
    def success_50(self) -> float:
        """Success rate at IoU 0.5 (the "SR0.5" of GOT-10k)."""
        return float(np.interp(0.5, IOU_THRESHOLDS, self.success))

    def to_dict(self) -> dict[str, object]:
        return {
            "auc": self.auc,
            "precision_20": self.precision_20,
            "norm_precision_02": self.norm_precision_02,
            "success_50": self.success_50,
            "frames": self.frames,
            "success_curve": self.success.tolist(),
            "precision_curve": self.precision.tolist(),
            "norm_precision_curve": self.norm_precision.tolist(),
        }


def ope_scores(
    pred: np.ndarray, gt: np.ndarray, absent: np.ndarray | None = None, skip_first: bool = True
) -> OPEScores:
    """OTB one-pass scores of one sequence; absent frames (and by default frame 1) are left out."""
    pred, gt = _as_boxes(pred), _as_boxes(gt)
    if pred.shape != gt.shape:
        raise ValueError(f"prediction shape {pred.shape} != ground truth {gt.shape}")
    absent = np.zeros(len(gt), dtype=bool) if absent is None else np.asarray(absent, dtype=bool)
    mask = ope_frame_mask(absent, skip_first)
    p, g = pred[mask], gt[mask]
    return OPEScores(
        success=success_curve(iou(p, g)),
        precision=precision_curve(center_error(p, g)),
        norm_precision=precision_curve(normalized_center_error(p, g), NORM_PRECISION_THRESHOLDS),
        frames=int(mask.sum()),
    )


def mean_ope(per_sequence: Iterable[OPEScores]) -> OPEScores:
    """Mean of per-sequence curves (sequences with no scored frame are left out)."""
    items = [s for s in per_sequence if s.frames > 0]
    if not items:
        return OPEScores(
            np.full(len(IOU_THRESHOLDS), np.nan),
            np.full(len(PRECISION_THRESHOLDS), np.nan),
            np.full(len(NORM_PRECISION_THRESHOLDS), np.nan),
            0,
        )
    return OPEScores(
        success=np.mean([s.success for s in items], axis=0),
        precision=np.mean([s.precision for s in items], axis=0),
        norm_precision=np.mean([s.norm_precision for s in items], axis=0),
        frames=sum(s.frames for s in items),
    )


# --------------------------------------------------------------------------------------------------
# VOT reset-based: accuracy, robustness, EAO
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ResetScores:
    """VOT supervised / real-time scores.

    ``accuracy``: mean over sequences of the mean IoU of tracked frames outside the burn-in after
    each (re)initialisation; ``failures``: total over sequences; ``eao``: expected average overlap.
    """

    accuracy: float
    failures: int
    eao: float
    eao_curve: np.ndarray = field(repr=False)
    per_sequence: dict[str, dict[str, float]] = field(default_factory=dict, repr=False)

    def to_dict(self) -> dict[str, object]:
        return {
            "accuracy": self.accuracy,
            "failures": self.failures,
            "eao": self.eao,
            "eao_curve": [None if not np.isfinite(v) else float(v) for v in self.eao_curve],
            "per_sequence": self.per_sequence,
        }


def reset_accuracy(
    overlaps: np.ndarray,
    events: np.ndarray,
    burnin: int = 10,
    *,
    init: int = 1,
    scored: Iterable[int] = (0, 4),
) -> float:
    """Mean IoU over scored frames (tracked / held) outside ``burnin`` frames from each init.

    ``overlaps`` is NaN where there is nothing to score (absent target); ``events`` holds the
    per-frame event codes of :class:`~siam_tracker_ros.evaluation.protocols.FrameEvent`.
    """
    events = np.asarray(events)
    keep = np.isin(events, list(scored)) & np.isfinite(overlaps)
    for start in np.flatnonzero(events == init):
        keep[start : start + burnin] = False
    if not keep.any():
        return float("nan")
    return float(np.mean(overlaps[keep]))


def reset_segments(
    overlaps: np.ndarray, events: np.ndarray, *, init: int = 1, failure: int = 2
) -> list[tuple[np.ndarray, bool]]:
    """Split a reset-based run into ``(overlaps from an init to a failure or the end, failed)``.

    The failure frame itself scores 0 (as in the VOT toolkit); frames in between keep their IoU
    (NaN where the target is absent).
    """
    events = np.asarray(events)
    ov = np.asarray(overlaps, dtype=np.float64).copy()
    ov[events == failure] = 0.0
    segments: list[tuple[np.ndarray, bool]] = []
    starts = [int(v) for v in np.flatnonzero(events == init)]
    for k, start in enumerate(starts):
        stop = starts[k + 1] if k + 1 < len(starts) else len(events)
        fails = np.flatnonzero(events[start + 1 : stop] == failure)
        if len(fails):
            end = start + 1 + int(fails[0])
            segments.append((ov[start : end + 1], True))
        else:
            segments.append((ov[start:stop], False))
    return segments


def eao_curve_parts(
    segments: SequenceABC[tuple[np.ndarray, bool]], max_length: int
) -> tuple[np.ndarray, np.ndarray]:
    """Phi(L) sums and counts for L = 0..max_length: :func:`eao_curve` is ``sums / counts``.

    Kept apart so segments of several sequences (or a bootstrap resample of sequences, see
    ``evaluation.paired``) combine by adding their parts.

    For each segment the init frame is dropped; a segment at least L frames long contributes the
    mean overlap of its first L frames; a shorter one that ended in a failure contributes its
    overlap sum over its frames with a visible target plus L - n zeros after the failure (target-
    absent frames, NaN, count in neither, as they do not for L <= n: otherwise Phi would drop
    where a segment with absent frames ends); a shorter one that reached the sequence end cannot
    say what would have happened and is left out of Phi(L).
    """
    phi = np.zeros(max_length + 1)
    count = np.zeros(max_length + 1)
    lengths = np.arange(max_length + 1, dtype=np.float64)
    for ov, failed in segments:
        body = np.asarray(ov[1:], dtype=np.float64)
        n = len(body)
        csum = np.concatenate([[0.0], np.cumsum(np.nan_to_num(body, nan=0.0))])
        cval = np.concatenate([[0.0], np.cumsum(np.isfinite(body))])
        upto = min(n, max_length)
        ls = np.arange(1, upto + 1)
        valid = cval[ls] > 0
        phi[ls[valid]] += csum[ls[valid]] / cval[ls[valid]]
        count[ls[valid]] += 1
        if failed and n < max_length:
            longer = np.arange(n + 1, max_length + 1)
            phi[longer] += csum[n] / (cval[n] + (lengths[longer] - n))
            count[longer] += 1
    phi[0] = count[0] = 0.0
    return phi, count


def eao_curve(segments: SequenceABC[tuple[np.ndarray, bool]], max_length: int) -> np.ndarray:
    """Expected average overlap Phi(L) for L = 0..max_length (index 0 unused, NaN); see
    :func:`eao_curve_parts` for how segments contribute."""
    phi, count = eao_curve_parts(segments, max_length)
    with np.errstate(invalid="ignore", divide="ignore"):
        curve = np.where(count > 0, phi / np.maximum(count, 1), np.nan)
    curve[0] = np.nan
    return curve


def eao(curve: np.ndarray, interval: tuple[int, int]) -> float:
    """Mean of the EAO curve over sequence lengths ``[low, high]`` (inclusive; NaNs skipped)."""
    low, high = interval
    if not 1 <= low <= high:
        raise ValueError(f"EAO interval must satisfy 1 <= low <= high, got {interval}")
    part = curve[low : min(high, len(curve) - 1) + 1]
    part = part[np.isfinite(part)]
    return float(part.mean()) if len(part) else float("nan")


# --------------------------------------------------------------------------------------------------
# presence / long-term
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PresenceScores:
    """Does the tracker's presence flag agree with the ground truth?

    ``lost_when_absent``: fraction of absent-target frames where the tracker said "lost";
    ``present_when_visible``: fraction of visible-target frames where it said "present";
    ``precision`` / ``recall`` / ``f_score``: VOT long-term tracking precision (mean IoU over
    frames the tracker reports, 0 where the target is absent) and recall (mean IoU over visible
    frames, 0 where the tracker reports nothing), computed at its own presence flag.
    ``f_max``: the best F over thresholds on the tracker's score instead of its flag.
    """

    absent_frames: int
    visible_frames: int
    lost_when_absent: float
    present_when_visible: float
    precision: float
    recall: float
    f_score: float
    f_max: float

    def to_dict(self) -> dict[str, float | int]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def _f(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r > 0 else 0.0


def lt_precision_recall(
    ious: np.ndarray, visible: np.ndarray, reported: np.ndarray
) -> tuple[float, float]:
    """VOT long-term precision and recall of one sequence (per-frame arrays of equal length).

    Precision: mean IoU over the frames the tracker reports (IoU counts 0 where the target is
    absent), 0 when it reports none; recall: mean IoU over visible frames, counting 0 where the
    tracker reports nothing. Kept public so per-sequence values (``evaluation.longterm``, the
    paired bootstrap) come from the same code as :func:`presence_scores`.
    """
    precision = float(np.mean(np.where(visible, ious, 0.0)[reported])) if reported.any() else 0.0
    recall = float(np.mean(np.where(reported, ious, 0.0)[visible])) if visible.any() else 0.0
    return precision, recall


def presence_scores(
    pred: SequenceABC[np.ndarray],
    gt: SequenceABC[np.ndarray],
    absent: SequenceABC[np.ndarray],
    present: SequenceABC[np.ndarray],
    score: SequenceABC[np.ndarray],
    skip_first: bool = True,
) -> PresenceScores:
    """Presence scores over several sequences (lists of per-sequence arrays).

    Flag agreement rates pool frames across sequences (absent frames are rare, so per-sequence
    means would be dominated by the few sequences that have any); long-term precision / recall
    are per-sequence means, as in the VOT long-term toolkit.
    """
    n_abs = n_vis = lost_abs = pres_vis = 0
    per_seq: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
    for p, g, a, pr, sc in zip(pred, gt, absent, present, score, strict=True):
        keep = np.ones(len(g), dtype=bool)
        if skip_first:
            keep[0] = False
        a = np.asarray(a, dtype=bool)[keep]
        pr = np.asarray(pr, dtype=bool)[keep]
        vis = ~a
        ious = iou(np.asarray(p)[keep], np.asarray(g)[keep])
        n_abs += int(a.sum())
        n_vis += int(vis.sum())
        lost_abs += int((~pr & a).sum())
        pres_vis += int((pr & vis).sum())
        per_seq.append((ious, vis, pr, np.asarray(sc, dtype=np.float64)[keep]))
    precisions, recalls = (
        zip(*[lt_precision_recall(i, v, r) for i, v, r, _ in per_seq], strict=True)
        if per_seq
        else ((), ())
    )
    prec = float(np.mean(precisions)) if precisions else float("nan")
    rec = float(np.mean(recalls)) if recalls else float("nan")
    # F over score thresholds: the usual long-term curve, with the tracker's own scores.
    all_scores = np.unique(np.concatenate([s for *_, s in per_seq])) if per_seq else np.zeros(0)
    thresholds = (
        all_scores if len(all_scores) <= 512 else np.quantile(all_scores, np.linspace(0, 1, 513))
    )
    f_best = 0.0
    for t in thresholds:
        pr_t = [lt_precision_recall(i, v, s >= t) for i, v, _, s in per_seq]
        f_best = max(
            f_best, _f(float(np.mean([x[0] for x in pr_t])), float(np.mean([x[1] for x in pr_t])))
        )
    return PresenceScores(
        absent_frames=n_abs,
        visible_frames=n_vis,
        lost_when_absent=lost_abs / n_abs if n_abs else float("nan"),
        present_when_visible=pres_vis / n_vis if n_vis else float("nan"),
        precision=prec,
        recall=rec,
        f_score=_f(prec, rec),
        f_max=f_best,
    )
