"""No silent swaps: distractor memory, a motion-consistency gate and an ambiguity signal.

A Siamese tracker scores every position of its search crop by similarity to the template, so a
look-alike (another pedestrian, a car in a queue) scores nearly as high as the target. When the
target is occluded the look-alike wins the argmax and the box jumps to it, while the score says
all is well. This policy works on the penalised score map the tracker already computes (no extra
network call):

- **Secondary peaks** are local maxima of the map, away from the chosen peak, that score at
  least ``peak_ratio`` of it. Each is a candidate look-alike.
- **Distractor memory** (DaSiamRPN's idea, kept on positions rather than appearance, so it costs
  nothing per frame): secondary peaks are remembered in image coordinates, matched frame to frame
  and forgotten after ``memory_frames`` frames unseen. A candidate that sits on a remembered
  distractor has its score multiplied by ``1 - distractor_penalty``: the target has to beat a
  known look-alike clearly before the box moves onto it.
- **Motion consistency**: when the best candidate is more than ``jump_factor`` target sizes from
  where the target was, and a candidate near the target scores at least ``near_ratio`` of it,
  the near one is kept.
- **Ambiguity**: when a candidate away from the chosen one scores at least ``ambiguity_ratio`` of
  its raw score, the frame is *ambiguous*, and stays so for ``ambiguity_hold`` frames after the
  competitor was last seen (when the look-alike and the target overlap there is one peak for
  both: that is when a swap happens). The tracker reports
  ``TrackState.AMBIGUOUS`` and does not fold the frame into its template, so a follower can
  slow down instead of chasing the wrong person.

Everything here is in NumPy on a score map of a few hundred cells. It runs in the ``select``
phase of the step (:mod:`core.policies.base`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from siam_tracker_ros.core.decoding import Candidate, candidate_at
from siam_tracker_ros.core.policies.base import Policy, Search, Step, Target

__all__ = ["Choice", "DistractorConfig", "DistractorPolicy", "local_peaks"]


@dataclass(frozen=True)
class DistractorConfig:
    """``tracker.mechanisms.distractors`` (see the module docstring for each mechanism).

    Distances are in target sizes (``sqrt(w * h)`` of the current box); ratios are relative to
    the chosen candidate's penalised score.
    """

    enabled: bool = False
    peak_ratio: float = 0.3  # secondary peaks: local maxima scoring at least this
    separation: float = 1.0  # a peak this far from the chosen one is another object
    ambiguity_ratio: float = 0.8  # a separate peak this strong makes the frame ambiguous
    distractor_penalty: float = 0.3  # damping of candidates on a remembered look-alike
    memory_frames: int = 15  # forget a look-alike unseen for this many frames
    max_memory: int = 8
    jump_factor: float = 2.0  # a move farther than this ...
    near_ratio: float = 0.6  # ... loses to a near candidate scoring at least this
    #: frames the ambiguous flag stays up after the last frame with a competitor: a look-alike
    #: that just merged with the target (one peak for both) is the moment a swap happens
    ambiguity_hold: int = 5

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        for key in ("peak_ratio", "ambiguity_ratio", "distractor_penalty", "near_ratio"):
            value = float(getattr(self, key))
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{key}: must be in [0, 1], got {value}")
        for key in ("separation", "jump_factor"):
            value = float(getattr(self, key))
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{key}: must be a positive number, got {value}")
        for key in ("memory_frames", "max_memory", "ambiguity_hold"):
            if int(getattr(self, key)) < 0:
                raise ValueError(f"{key}: must be >= 0, got {getattr(self, key)}")


_NEIGHBOURHOOD = np.ones((3, 3), np.uint8)


def local_peaks(scores: np.ndarray, min_value: float) -> np.ndarray:
    """Flat indices of the cells of a 2-D map that are maxima of their 3x3 neighbourhood and at
    least ``min_value``, best first."""
    m = np.asarray(scores, dtype=np.float64)
    # one 3x3 dilation (its border counts as -inf, so edge cells compare with their inside
    # neighbours only): a tenth of the time of eight shifted copies of a padded map, same peaks
    peak = (m >= cv2.dilate(m, _NEIGHBOURHOOD)) & (m >= min_value)
    idx = np.flatnonzero(peak)
    return idx[np.argsort(-m.ravel()[idx], kind="stable")]


@dataclass
class _Memory:
    position: np.ndarray  # x, y image pixels
    unseen: int = 0


@dataclass(frozen=True)
class Choice:
    """What the policy decided for one frame.

    index: the candidate (flat index into the tracker's candidates) to follow.
    ambiguous: another candidate competes with it.
    rival: image position of the strongest competitor (``None`` when there is none).
    changed: the index differs from the plain argmax (a penalty or the motion gate moved it).
    """

    index: int
    ambiguous: bool
    rival: np.ndarray | None = None
    changed: bool = False
    peaks: int = 0
    extra: dict[str, float] = field(default_factory=dict)


class DistractorPolicy(Policy[DistractorConfig]):
    """Per-target distractor memory and the per-frame choice among candidates (see module doc).

    All per-target state is the memory; :meth:`reset` on every init.
    """

    name = "distractors"
    config_type = DistractorConfig

    def __init__(self, config: DistractorConfig) -> None:
        super().__init__(config)
        self._memory: list[_Memory] = []
        self._since_rival = 1 << 30  # frames since a competitor was last seen

    def reset(self, target: Target | None = None) -> None:
        self._memory = []
        self._since_rival = 1 << 30

    def select(self, step: Step) -> None:
        search = step.search
        cand, ambiguous, choice = self._choose(search, step)
        search.candidate = cand
        step.candidate = cand
        step.ambiguous = ambiguous
        if choice is not None:
            step.record(self.name, ambiguous=ambiguous, changed=choice.changed, peaks=choice.peaks)

    def _choose(self, search: Search, step: Step) -> tuple[Candidate, bool, Choice | None]:
        """The pick among this search's candidates and whether the frame is ambiguous.
        Candidate centres go to image pixels so the memory of look-alikes survives the crop
        moving."""
        dec, cand = search.decoded, search.candidate
        if dec is None or cand.pscores is None:
            return cand, False, None
        n = int(dec.response.shape[-1])
        maps = len(dec.score) // (n * n)
        positions = dec.boxes[:2].T.astype(np.float64) / search.state_scale() + search.center
        choice = self.choose(
            cand.pscores,
            dec.score,
            positions,
            (maps, n, n),
            step.target.center,
            step.target.size,
        )
        if choice.changed:
            cand = candidate_at(dec, cand, choice.index)
        return cand, choice.ambiguous, choice

    @property
    def remembered(self) -> list[np.ndarray]:
        """Image positions of the remembered distractors (copies)."""
        return [m.position.copy() for m in self._memory]

    def choose(
        self,
        pscore: np.ndarray,
        score: np.ndarray,
        positions: np.ndarray,
        grid_shape: tuple[int, int, int],
        target_center: np.ndarray,
        target_size: np.ndarray,
    ) -> Choice:
        """Pick the candidate to follow.

        pscore: ``(K,)`` penalised scores (shape penalty and cosine window applied): what the
            plain tracker takes the argmax of. ``K = maps * N * N`` in the decoder's map-major
            order.
        score: ``(K,)`` raw foreground scores: peaks and ambiguity are judged on these, since
            the cosine window would make any candidate near the crop centre look like a peak.
        positions: ``(K, 2)`` candidate centres in image pixels.
        grid_shape: ``(maps, N, N)``.
        target_center / target_size: the tracker's state before this frame (image pixels).
        """
        cfg = self.config
        maps, n_h, n_w = grid_shape
        cells = n_h * n_w
        ps = np.asarray(pscore, dtype=np.float64).reshape(maps, cells)
        raw = np.asarray(score, dtype=np.float64).reshape(maps, cells)
        best_flat = int(np.argmax(ps))
        raw_cells = raw.max(axis=0)
        peaks = list(local_peaks(raw_cells.reshape(n_h, n_w), cfg.peak_ratio * raw_cells.max()))
        best_cell = best_flat % cells
        if best_cell not in peaks:
            peaks.insert(0, best_cell)
        cand_idx = np.array([int(ps[:, c].argmax()) * cells + c for c in peaks], dtype=np.int64)
        cand_pos = np.asarray(positions, dtype=np.float64)[cand_idx]
        cand_ps = ps.ravel()[cand_idx]
        cand_raw = raw_cells[np.asarray(peaks, dtype=np.int64)]
        size = float(np.sqrt(max(float(target_size[0]) * float(target_size[1]), 1.0)))
        sep = cfg.separation * size

        # distractor memory: damp candidates sitting on a remembered look-alike, unless the
        # candidate is where the target already is (target and look-alike side by side)
        adjusted = cand_ps.copy()
        dist_to_target = np.hypot(*(cand_pos - np.asarray(target_center, np.float64)).T)
        for mem in self._memory:
            d = np.hypot(*(cand_pos - mem.position).T)
            on_mem = (d < 0.5 * sep) & (dist_to_target > 0.5 * sep)
            adjusted[on_mem] *= 1.0 - cfg.distractor_penalty

        order = np.argsort(-adjusted, kind="stable")
        chosen = int(order[0])
        # motion consistency: a far jump has to beat the near candidates clearly
        jump = cfg.jump_factor * size
        if dist_to_target[chosen] > jump:
            near = [int(i) for i in order if dist_to_target[int(i)] <= jump]
            if near and adjusted[near[0]] >= cfg.near_ratio * adjusted[chosen]:
                chosen = near[0]

        # ambiguity: a separate candidate whose raw score nearly matches the chosen one's
        away = np.hypot(*(cand_pos - cand_pos[chosen]).T) > sep
        rival = None
        ambiguous = False
        if away.any():
            r = int(np.argmax(np.where(away, cand_raw, -np.inf)))
            rival = cand_pos[r].copy()
            ambiguous = bool(cand_raw[r] >= cfg.ambiguity_ratio * cand_raw[chosen])
        self._since_rival = 0 if ambiguous else self._since_rival + 1
        ambiguous = self._since_rival <= cfg.ambiguity_hold

        self._remember(cand_pos[away], sep)
        index = int(cand_idx[chosen])
        return Choice(
            index=index,
            ambiguous=ambiguous,
            rival=rival,
            changed=index != best_flat,
            peaks=len(peaks),
        )

    def _remember(self, secondary: np.ndarray, sep: float) -> None:
        """Match this frame's secondary peaks to the memory (nearest within ``sep``), add the new
        ones, age and drop the unseen."""
        cfg = self.config
        seen = [False] * len(self._memory)
        for pos in secondary:
            if self._memory:
                d = [float(np.hypot(*(m.position - pos))) for m in self._memory]
                j = int(np.argmin(d))
                if d[j] < sep and not seen[j]:
                    self._memory[j].position = pos.copy()
                    self._memory[j].unseen = 0
                    seen[j] = True
                    continue
            self._memory.append(_Memory(pos.copy()))
            seen.append(True)
        for m, s in zip(self._memory, seen, strict=True):
            if not s:
                m.unseen += 1
        keep = int(cfg.memory_frames)
        self._memory = [m for m in self._memory if m.unseen <= keep][: int(cfg.max_memory)]
