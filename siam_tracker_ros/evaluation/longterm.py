"""Long-term scores of a one-pass run, VOT-LT style: does the tracker say "gone" when the target
is gone, and does it find the target again when it comes back?

A robot follower acts on every frame the tracker reports the target, so the frames that matter
are counted directly, per sequence and in total (pure NumPy on per-frame arrays; the harness
passes ``RunRecord.reports_present``: present flag set and state not LOST, AMBIGUOUS included):

- **phantom frames**: the target is absent (ground truth ``0,0,0,0``) but the tracker reports it
  present; as a fraction of absent frames.
- **false lost**: the target is visible but the tracker reports it not present; as a fraction of
  visible frames.
- **returns**: a visible frame that follows at least :data:`RETURN_MIN_ABSENCE` consecutive absent
  frames (the target comes back after a real absence, not a one-frame annotation gap).
- **re-acquired within H** (H in :data:`REACQUIRE_HORIZONS`): among the H frames starting at the
  return frame (the return frame is frame 0 of the window, so re-acquisition 10 frames after the
  return is within 30 and 90, 50 frames after it only within 90), the tracker reports present on
  a frame whose box overlaps the ground truth (IoU above :data:`REACQUIRE_MIN_IOU`). Every return
  counts, also one whose sequence ends before its H-frame window is complete: not re-acquired in
  the frames there are is a miss (the conservative reading; leaving such misses out while keeping
  the hits would flatter a tracker on sequences that end soon after a return).
- **LT precision / recall / F** at the tracker's own flag and the best F over score thresholds:
  :func:`metrics.presence_scores`, run on the same flag.
- **confident-wrong frames**: ``paired.confident_wrong_frames`` (the harness passes its count in;
  this module knows nothing of records or trackers).

The first frame (the initialisation on the ground truth) is left out of every frame count, as in
:func:`metrics.presence_scores`. Fractions pool frames over sequences (absent frames are
concentrated in a few sequences, so per-sequence means would weigh a 30-frame absence like a
270-frame one).
"""

from __future__ import annotations

from collections.abc import Sequence as SequenceABC
from dataclasses import dataclass, field
from typing import overload

import numpy as np

from siam_tracker_ros.evaluation.metrics import (
    PresenceScores,
    iou,
    lt_precision_recall,
    presence_scores,
)

__all__ = [
    "REACQUIRE_HORIZONS",
    "REACQUIRE_MIN_IOU",
    "RETURN_MIN_ABSENCE",
    "LongTermScores",
    "SequenceLongTerm",
    "count_reacquired",
    "find_returns",
    "longterm_scores",
    "lt_f",
    "reacquisition_delays",
    "sequence_longterm",
]

#: a visible frame after at least this many consecutive absent frames is a return of the target
RETURN_MIN_ABSENCE = 5
#: re-acquisition windows in frames, counted from the return frame (frame 0 of the window)
REACQUIRE_HORIZONS = (30, 90)
#: a re-acquisition needs a reported box whose IoU with the ground truth is strictly above this
#: (0: any overlap; the box is on the target, not somewhere else, even if loosely)
REACQUIRE_MIN_IOU = 0.0


def lt_f(precision: np.ndarray | float, recall: np.ndarray | float) -> np.ndarray:
    """Harmonic mean of long-term precision and recall, element-wise (0 where both are 0)."""
    p = np.asarray(precision, dtype=np.float64)
    r = np.asarray(recall, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(p + r > 0, 2 * p * r / np.where(p + r > 0, p + r, 1.0), 0.0)


def find_returns(absent: np.ndarray, min_absence: int = RETURN_MIN_ABSENCE) -> np.ndarray:
    """Indices of the visible frames that follow at least ``min_absence`` consecutive absent
    frames (an absence at the very end of a sequence has no return)."""
    if min_absence < 1:
        raise ValueError(f"min_absence must be >= 1, got {min_absence}")
    a = np.asarray(absent, dtype=bool)
    # run lengths of absent stretches ending just before each frame
    padded = np.concatenate([[False], a, [False]]).astype(np.int8)
    edges = np.diff(padded)
    starts = np.flatnonzero(edges == 1)  # first absent frame of each stretch
    stops = np.flatnonzero(edges == -1)  # first frame after it (may be len(a))
    keep = (stops - starts >= min_absence) & (stops < len(a))
    return stops[keep].astype(np.int64)


def reacquisition_delays(
    returns: np.ndarray,
    reported: np.ndarray,
    ious: np.ndarray,
    min_iou: float = REACQUIRE_MIN_IOU,
) -> list[int | None]:
    """Per return: frames from the return frame to the first frame (the return frame included)
    where the tracker reports present with IoU above ``min_iou``; ``None``: never before the
    sequence ends."""
    hit = np.asarray(reported, dtype=bool) & (np.asarray(ious, dtype=np.float64) > min_iou)
    out: list[int | None] = []
    for r in np.asarray(returns, dtype=np.int64):
        later = np.flatnonzero(hit[r:])
        out.append(int(later[0]) if len(later) else None)
    return out


def count_reacquired(
    returns: np.ndarray, delays: SequenceABC[int | None], n_frames: int, horizon: int
) -> tuple[int, int]:
    """``(returns that count, returns re-acquired)`` within ``horizon`` frames of the return.

    Every return counts; it is re-acquired when ``d < horizon`` (also when the sequence ends
    before the whole window: then what is there decides, see the module docstring).
    ``n_frames`` is kept for the callers' symmetry and checked against the returns.
    """
    if horizon < 1:
        raise ValueError(f"horizon must be >= 1, got {horizon}")
    counted = reacquired = 0
    for r, d in zip(np.asarray(returns, dtype=np.int64), delays, strict=True):
        if not 0 <= int(r) < n_frames:
            raise ValueError(f"return at frame {int(r)} outside a sequence of {n_frames}")
        counted += 1
        if d is not None and d < horizon:
            reacquired += 1
    return counted, reacquired


def _ratio(num: int, den: int) -> float:
    return num / den if den else float("nan")


class _FrameFractions:
    """The fractions of the frame counts, the same for one sequence (:class:`SequenceLongTerm`)
    and for the frames pooled over a split (:class:`LongTermScores`)."""

    absent_frames: int
    visible_frames: int
    phantom_frames: int
    false_lost_frames: int

    @property
    def phantom_fraction(self) -> float:
        return _ratio(self.phantom_frames, self.absent_frames)

    @property
    def false_lost_fraction(self) -> float:
        return _ratio(self.false_lost_frames, self.visible_frames)

    def _frame_entries(self) -> dict[str, object]:
        """The frame counts and their fractions, as ``to_dict`` writes them."""
        return {
            "absent_frames": self.absent_frames,
            "visible_frames": self.visible_frames,
            "phantom_frames": self.phantom_frames,
            "phantom_fraction": self.phantom_fraction,
            "false_lost_frames": self.false_lost_frames,
            "false_lost_fraction": self.false_lost_fraction,
        }


@dataclass(frozen=True)
class SequenceLongTerm(_FrameFractions):
    """Long-term counts of one sequence (see the module docstring for the definitions)."""

    name: str
    frames: int
    absent_frames: int
    visible_frames: int
    phantom_frames: int
    false_lost_frames: int
    returns: tuple[int, ...]  # frame indices of the returns
    delays: tuple[int | None, ...]  # per return, frames to re-acquisition (None: never)
    counted: dict[int, int]  # per horizon: returns that count
    reacquired: dict[int, int]  # per horizon: returns re-acquired within it
    precision: float  # LT precision at the tracker's flag
    recall: float
    confident_wrong: int | None = None

    @property
    def f_score(self) -> float:
        return float(lt_f(self.precision, self.recall))

    def reacquired_fraction(self, horizon: int) -> float:
        return _ratio(self.reacquired[horizon], self.counted[horizon])

    def to_dict(self) -> dict[str, object]:
        return {
            "frames": self.frames,
            **self._frame_entries(),
            "returns": list(self.returns),
            "reacquisition_delays": list(self.delays),
            "reacquired": {str(h): self.reacquired[h] for h in self.reacquired},
            "returns_counted": {str(h): self.counted[h] for h in self.counted},
            "precision": self.precision,
            "recall": self.recall,
            "f_score": self.f_score,
            "confident_wrong": self.confident_wrong,
        }


def sequence_longterm(
    name: str,
    boxes: np.ndarray,
    groundtruth: np.ndarray,
    absent: np.ndarray,
    reported: np.ndarray,
    confident_wrong: int | None = None,
    horizons: SequenceABC[int] = REACQUIRE_HORIZONS,
    min_absence: int = RETURN_MIN_ABSENCE,
    min_iou: float = REACQUIRE_MIN_IOU,
    skip_first: bool = True,
) -> SequenceLongTerm:
    """Long-term counts of one sequence from per-frame arrays: reported boxes ``(N, 4)``, ground
    truth ``(N, 4)``, ``absent`` and ``reported`` (the tracker says present) flags ``(N,)``."""
    absent = np.asarray(absent, dtype=bool)
    reported = np.asarray(reported, dtype=bool)
    n = len(absent)
    if not (len(boxes) == len(groundtruth) == len(reported) == n):
        raise ValueError(
            f"per-frame arrays differ in length: boxes {len(boxes)}, ground truth "
            f"{len(groundtruth)}, absent {n}, reported {len(reported)}"
        )
    visible = ~absent
    ious = np.where(visible, iou(boxes, groundtruth), 0.0)
    scored = np.ones(n, dtype=bool)
    if skip_first and n:
        scored[0] = False
    returns = find_returns(absent, min_absence)  # never frame 0: a return follows an absence
    delays = reacquisition_delays(returns, reported, ious, min_iou)
    counts = {h: count_reacquired(returns, delays, n, h) for h in horizons}
    precision, recall = lt_precision_recall(ious[scored], visible[scored], reported[scored])
    return SequenceLongTerm(
        name=name,
        frames=n,
        absent_frames=int((absent & scored).sum()),
        visible_frames=int((visible & scored).sum()),
        phantom_frames=int((absent & reported & scored).sum()),
        false_lost_frames=int((visible & ~reported & scored).sum()),
        returns=tuple(int(r) for r in returns),
        delays=tuple(delays),
        counted={h: c for h, (c, _) in counts.items()},
        reacquired={h: k for h, (_, k) in counts.items()},
        precision=precision,
        recall=recall,
        confident_wrong=confident_wrong,
    )


class _SplitTotal:
    """A read-only :class:`LongTermScores` attribute: the :class:`SequenceLongTerm` count of the
    same name summed over the split's sequences."""

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = name

    @overload
    def __get__(self, scores: None, owner: type | None = None) -> _SplitTotal: ...

    @overload
    def __get__(self, scores: LongTermScores, owner: type | None = None) -> int: ...

    def __get__(
        self, scores: LongTermScores | None, owner: type | None = None
    ) -> int | _SplitTotal:
        if scores is None:
            return self
        return sum(int(getattr(s, self._name)) for s in scores.per_sequence.values())


@dataclass(frozen=True)
class LongTermScores(_FrameFractions):
    """Long-term scores of one tracker over a split: totals of the per-sequence counts, and the
    LT precision / recall / F (own flag, best over score thresholds) of
    :func:`metrics.presence_scores` on the same flag."""

    presence: PresenceScores
    per_sequence: dict[str, SequenceLongTerm] = field(default_factory=dict)

    absent_frames = _SplitTotal()
    visible_frames = _SplitTotal()
    phantom_frames = _SplitTotal()
    false_lost_frames = _SplitTotal()

    @property
    def returns(self) -> int:
        return sum(len(s.returns) for s in self.per_sequence.values())

    @property
    def horizons(self) -> tuple[int, ...]:
        first = next(iter(self.per_sequence.values()), None)
        return tuple(first.counted) if first is not None else REACQUIRE_HORIZONS

    def counted(self, horizon: int) -> int:
        return sum(s.counted[horizon] for s in self.per_sequence.values())

    def reacquired(self, horizon: int) -> int:
        return sum(s.reacquired[horizon] for s in self.per_sequence.values())

    def reacquired_fraction(self, horizon: int) -> float:
        return _ratio(self.reacquired(horizon), self.counted(horizon))

    @property
    def confident_wrong(self) -> int | None:
        values = [s.confident_wrong for s in self.per_sequence.values()]
        return None if any(v is None for v in values) else sum(v or 0 for v in values)

    def to_dict(self) -> dict[str, object]:
        return {
            **self._frame_entries(),
            "returns": self.returns,
            "returns_counted": {str(h): self.counted(h) for h in self.horizons},
            "reacquired": {str(h): self.reacquired(h) for h in self.horizons},
            "reacquired_fraction": {str(h): self.reacquired_fraction(h) for h in self.horizons},
            "precision": self.presence.precision,
            "recall": self.presence.recall,
            "f_score": self.presence.f_score,
            "f_max": self.presence.f_max,
            "confident_wrong": self.confident_wrong,
            "per_sequence": {k: v.to_dict() for k, v in self.per_sequence.items()},
        }


def longterm_scores(
    names: SequenceABC[str],
    boxes: SequenceABC[np.ndarray],
    groundtruths: SequenceABC[np.ndarray],
    absents: SequenceABC[np.ndarray],
    reported: SequenceABC[np.ndarray],
    scores: SequenceABC[np.ndarray],
    confident_wrong: SequenceABC[int | None] | None = None,
    horizons: SequenceABC[int] = REACQUIRE_HORIZONS,
) -> LongTermScores:
    """Long-term scores over several sequences (lists of per-sequence arrays, one entry per
    sequence; ``scores`` only feed the best-F-over-thresholds of :func:`presence_scores`)."""
    cw = list(confident_wrong) if confident_wrong is not None else [None] * len(names)
    per_seq = {
        name: sequence_longterm(name, b, g, a, r, c, horizons)
        for name, b, g, a, r, c in zip(
            names, boxes, groundtruths, absents, reported, cw, strict=True
        )
    }
    presence = presence_scores(boxes, groundtruths, absents, reported, scores)
    return LongTermScores(presence=presence, per_sequence=per_seq)
