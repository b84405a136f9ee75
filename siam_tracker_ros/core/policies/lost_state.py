"""Target-lost detection: a presence signal with hysteresis, and the widened re-detection search
while lost (``tracker.mechanisms.lost_state``)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from siam_tracker_ros.core.policies.base import Policy, Step, Target
from siam_tracker_ros.core.result import TrackState
from siam_tracker_ros.core.validation import check, finite

__all__ = ["LostStateConfig", "LostStatePolicy", "peak_to_sidelobe", "valid_instance_size"]

#: the states the machine itself moves between
_MACHINE = (TrackState.TRACKING, TrackState.LOST)


def peak_to_sidelobe(response: np.ndarray, exclude: int = 2, window: int | None = None) -> float:
    """Peak-to-sidelobe ratio of a score map: ``(peak - mean) / std`` of the map outside a
    ``(2 * exclude + 1)``-cell square around the peak. A lone sharp peak (the target) scores
    high; a saturated or flat map (no target, distractors everywhere) scores low even when its
    peak is as high.

    ``window``: measure on the ``window x window`` cells around the peak only (kept inside the
    map). The ratio depends on how much clutter the map covers, so larger search crops
    (adaptive search, lost-state re-detection) are measured on the base map's extent to stay
    comparable with the thresholds calibrated there.
    """
    r = np.asarray(response, dtype=np.float64)
    peak = int(np.argmax(r))
    iy, ix = divmod(peak, r.shape[1])
    if window is not None and window < max(r.shape):
        y0 = int(min(max(iy - window // 2, 0), max(r.shape[0] - window, 0)))
        x0 = int(min(max(ix - window // 2, 0), max(r.shape[1] - window, 0)))
        r = r[y0 : y0 + window, x0 : x0 + window]
        iy, ix = iy - y0, ix - x0
    # side-lobe mean and std from sums: all cells minus the excluded square (this runs every
    # frame; a boolean mask costs several times more NumPy calls)
    core = r[max(iy - exclude, 0) : iy + exclude + 1, max(ix - exclude, 0) : ix + exclude + 1]
    count = r.size - core.size
    if count < 2:
        return 0.0
    total = float(r.sum()) - float(core.sum())
    squares = float(np.vdot(r, r)) - float(np.vdot(core, core))
    mean = total / count
    std = math.sqrt(max(squares / count - mean * mean, 0.0))
    return float((r[iy, ix] - mean) / (std + 1e-6))


def valid_instance_size(size: float, exemplar_size: int, stride: int) -> int:
    """Nearest search size (>= exemplar) whose score map is whole: ``exemplar + k * stride``."""
    k = max(0, int(round((size - exemplar_size) / stride)))
    return exemplar_size + k * stride


@dataclass(frozen=True)
class LostStateConfig:
    """Target-lost detection with score hysteresis and re-detection.

    TRACKING -> LOST after ``patience`` consecutive frames with best score < ``lost_threshold``;
    LOST -> TRACKING on the first frame with best score > ``found_threshold``. While lost, the
    search region is widened by ``redetect_widen[min(k, len - 1)]`` in the k-th lost frame (the
    network input grows with it up to ``max_instance_size``, so resolution is kept), the cosine
    window weight drops to ``lost_window_influence`` (the target may be anywhere) and the box is
    not updated.

    ``presence`` picks the signal the thresholds apply to: ``score`` (the raw best score) or
    ``combined``: ``sigmoid(w . (score, ln PSR, appearance) + bias)`` with the response map's
    peak-to-sidelobe ratio and the cosine similarity between the cls kernel pooled at the
    predicted box and the first frame's. NanoTrack's raw score saturates (about 0.8 with no
    target at all), the other two do not; the default weights are a logistic fit on the *train*
    split with synthetic absent frames (``scripts/calibrate_presence.py``), so ``combined`` is a
    presence probability and the thresholds are probabilities.

    ``keep_tracking``: while lost, go on tracking the best candidate with the normal search (the
    state only flags ``present=False`` and the box is the current estimate) instead of searching
    wider from the last confident state. A presence signal that fires on a visible but partly
    occluded target then costs no tracking; re-detection is the better choice only when the
    target is really gone for a while.
    """

    enabled: bool = False
    lost_threshold: float = 0.3
    found_threshold: float = 0.5
    patience: int = 3
    redetect_widen: tuple[float, ...] = (1.5, 2.0)
    lost_window_influence: float = 0.001
    max_instance_size: int = 639
    presence: Literal["score", "combined"] = "score"
    #: ``combined`` weights of (raw score, ln peak-to-sidelobe ratio, appearance similarity)
    presence_weights: tuple[float, float, float] = (6.53, 1.12, 12.12)
    presence_bias: float = -12.98
    keep_tracking: bool = False

    def __post_init__(self) -> None:
        check(0.0 <= self.lost_threshold <= 1.0, "lost_threshold", "must be in [0, 1]")
        check(0.0 <= self.found_threshold <= 1.0, "found_threshold", "must be in [0, 1]")
        check(
            self.found_threshold >= self.lost_threshold,
            "found_threshold",
            f"must be >= lost_threshold ({self.lost_threshold}) for hysteresis, "
            f"got {self.found_threshold}",
        )
        check(self.patience >= 1, "patience", f"must be >= 1, got {self.patience}")
        check(len(self.redetect_widen) > 0, "redetect_widen", "must not be empty")
        check(
            all(f >= 1.0 and finite(f) for f in self.redetect_widen),
            "redetect_widen",
            "factors must be >= 1",
        )
        check(
            0.0 <= self.lost_window_influence <= 1.0, "lost_window_influence", "must be in [0, 1]"
        )
        check(self.max_instance_size > 0, "max_instance_size", "must be > 0")


class LostStatePolicy(Policy[LostStateConfig]):
    """Presence with score hysteresis, and the widened re-detection search while lost.

    TRACKING -> LOST after ``patience`` consecutive frames below ``lost_threshold``; LOST ->
    TRACKING on the first frame above ``found_threshold``. Two thresholds stop the flag from
    flickering on a score hovering around one value (Siamese scores stay fairly high on
    distractors, so a single threshold would chatter).

    The machine starts each step from the state the tracker reported after the previous one
    (:attr:`Step.previous_state`), so a policy that runs after this one in the ``assess`` phase
    (the ``longterm`` verification) can overrule a transition and the next step continues from
    its verdict.
    """

    name = "lost_state"
    config_type = LostStateConfig
    rebuild_keys = ("max_instance_size",)

    def __init__(self, config: LostStateConfig) -> None:
        super().__init__(config)
        self.state = TrackState.IDLE
        self.low_frames = 0
        self.lost_frames = 0

    def configure(self, config: LostStateConfig) -> None:
        """New settings from the next step on; the per-target state is kept (switched off, the
        state machine says TRACKING, as it does on every step while off)."""
        self.config = config
        if not config.enabled and self.state == TrackState.LOST:
            self.state = TrackState.TRACKING
            self.low_frames = self.lost_frames = 0

    def reset(self, target: Target | None = None) -> None:
        """A new target: tracking it (``None``: no target at all, ``Tracker.reset``)."""
        self.state = TrackState.TRACKING if target is not None else TrackState.IDLE
        self.low_frames = 0
        self.lost_frames = 0

    def plan(self, step: Step) -> None:
        size, influence = self.search_region(
            step.instance_size, step.window_influence, step.exemplar_size, step.stride
        )
        if size != step.instance_size:
            step.record(self.name, widened_to=size)
        step.instance_size, step.window_influence = size, influence

    def assess(self, step: Step) -> None:
        cand = step.candidate
        assert cand is not None
        appearance = step.appearance() if self.uses_appearance else None
        signal = self.presence(cand.score, cand.response, appearance, step.base_map)
        if step.previous_state != self.state and step.previous_state in _MACHINE:
            # a later policy overruled the last transition: continue from the reported state
            self.state = step.previous_state
            self.low_frames = 0
            self.lost_frames = 1 if self.state == TrackState.LOST else 0
        state = self.update(signal)
        step.presence = signal
        step.state = state
        step.follow = self.follows(state)
        step.confident = self.confident(signal)
        step.record(self.name, presence=signal, state=state.name, appearance=appearance)

    @property
    def keep_tracking(self) -> bool:
        """While lost, go on following the best candidate (``LostStateConfig.keep_tracking``)."""
        return self.config.keep_tracking

    @property
    def searching_wide(self) -> bool:
        """Whether the next search is a re-detection (lost, and not keep-tracking)."""
        return self.lost and not self.config.keep_tracking

    def search_region(
        self, instance_size: int, window_influence: float, exemplar_size: int, stride: int
    ) -> tuple[int, float]:
        """Network input size and cosine-window weight of the next search: unchanged while
        tracking; widened (whole score maps, at most ``max_instance_size`` unless the base is
        larger) with a nearly flat window while re-detecting."""
        if not self.searching_wide:
            return instance_size, window_influence
        widened = valid_instance_size(instance_size * self.widen_factor(), exemplar_size, stride)
        size = min(widened, max(self.config.max_instance_size, instance_size))
        return size, self.config.lost_window_influence

    def follows(self, state: TrackState) -> bool:
        """Whether the tracker moves its state to this frame's candidate."""
        return state == TrackState.TRACKING or self.config.keep_tracking

    def confident(self, signal: float) -> bool:
        """Whether this frame's box is one to fall back on when the target is lost later."""
        return not self.config.enabled or signal >= self.config.lost_threshold

    @property
    def lost(self) -> bool:
        return self.config.enabled and self.state == TrackState.LOST

    def widen_factor(self) -> float:
        """Search-region scale for the next frame (1 while tracking)."""
        if not self.lost:
            return 1.0
        widen = self.config.redetect_widen
        return float(widen[min(max(self.lost_frames - 1, 0), len(widen) - 1)])

    @property
    def uses_appearance(self) -> bool:
        """Whether :meth:`presence` needs the appearance similarity (costs a kernel pooling)."""
        return self.config.enabled and self.config.presence == "combined"

    def presence(
        self,
        score: float,
        response: np.ndarray,
        appearance: float | None,
        psr_window: int | None = None,
    ) -> float:
        """The signal the hysteresis thresholds apply to (see ``LostStateConfig.presence``);
        ``psr_window``: the base score map's side (see :func:`peak_to_sidelobe`). With the lost
        state switched off nothing consumes the combined cues, so the raw score is returned."""
        if self.config.presence == "score" or not self.config.enabled:
            return float(score)
        if appearance is None:
            raise ValueError("presence 'combined' needs the appearance similarity")
        w_score, w_psr, w_app = self.config.presence_weights
        psr = max(peak_to_sidelobe(response, window=psr_window), 1e-3)
        z = w_score * score + w_psr * math.log(psr) + w_app * appearance + self.config.presence_bias
        return 1.0 / (1.0 + math.exp(-max(min(z, 50.0), -50.0)))

    def update(self, score: float) -> TrackState:
        """Advance the state machine with this frame's presence signal (:meth:`presence`)."""
        if not self.config.enabled:
            self.state = TrackState.TRACKING
            return self.state
        if self.state == TrackState.LOST:
            if score > self.config.found_threshold:
                self.state = TrackState.TRACKING
                self.low_frames = 0
                self.lost_frames = 0
            else:
                self.lost_frames += 1
            return self.state
        if score < self.config.lost_threshold:
            self.low_frames += 1
            if self.low_frames >= self.config.patience:
                self.state = TrackState.LOST
                self.lost_frames = 1
        else:
            self.low_frames = 0
        return self.state
