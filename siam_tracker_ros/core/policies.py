"""SiamMargin's tracking mechanisms as small policies, each switched by its own config section.

Keeping them apart from :class:`core.tracker.Tracker` means each one can be tested on its own and
an ablation is a config change, not a code change. With every mechanism disabled the tracker is
exactly pysot's ``SiamRPNTracker``. All policies hold per-target state and are reset on ``init``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from siam_tracker_ros.core.config import (
    AdaptiveSearchConfig,
    LostStateConfig,
    OneMoreSearchConfig,
    OnlineUpdateConfig,
)
from siam_tracker_ros.core.result import TrackState
from siam_tracker_ros.models.base import Kernels

__all__ = [
    "AdaptiveSearchPolicy",
    "LostStatePolicy",
    "OneMoreSearchPolicy",
    "OnlineUpdatePolicy",
    "peak_to_sidelobe",
    "valid_instance_size",
]


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


class OnlineUpdatePolicy:
    """Moving average of the classification kernel (SiamMargin's online template update).

    ``MA`` starts at the first-frame kernel; each accepted frame folds in the kernel pooled at the
    predicted box with weight ``rate * score``. The kernel used is ``first_weight * first +
    (1 - first_weight) * MA``; regression always keeps the first-frame kernel (box regression
    drifts badly if its template is updated from its own predictions).
    """

    def __init__(self, config: OnlineUpdateConfig) -> None:
        self.config = config
        self._first: Kernels | None = None
        self._ma: list[torch.Tensor] = []
        self._current: Kernels | None = None
        self.updates = 0

    def configure(self, config: OnlineUpdateConfig) -> None:
        """New settings from the next step on; the per-target state is kept."""
        self.config = config

    @property
    def enabled(self) -> bool:
        return self.config.enabled

    def reset(self, first: Kernels | None) -> None:
        self._first = first
        self._ma = [k.float().clone() for k in first.cls] if first is not None else []
        self._current = first
        self.updates = 0

    def kernels(self) -> Kernels:
        """Kernels for the next search (the first-frame ones while disabled)."""
        if self._current is None:
            raise RuntimeError("online update policy used before reset(first_kernels)")
        return self._current

    def wants_update(self, score: float, tracking: bool) -> bool:
        return self.config.enabled and tracking and score >= self.config.min_score

    def update(self, new_cls: Sequence[torch.Tensor], score: float) -> None:
        """Fold newly pooled classification kernels into the moving average."""
        if self._first is None:
            raise RuntimeError("online update policy used before reset(first_kernels)")
        if len(new_cls) != len(self._ma):
            raise ValueError(f"expected {len(self._ma)} kernel levels, got {len(new_cls)}")
        rate = self.config.rate * float(score)
        cfg = self.config
        blended = []
        for i, (ma, new) in enumerate(zip(self._ma, new_cls, strict=True)):
            if new.shape != ma.shape:
                raise ValueError(
                    f"pooled kernel level {i} has shape {tuple(new.shape)}, "
                    f"template kernel {tuple(ma.shape)}"
                )
            # one fused op each (this runs every tracked frame; tiny tensors, so op count is cost):
            # MA = (1 - rate) MA + rate new;  kernel = first_weight first + (1 - first_weight) MA,
            # i.e. lerp(MA, first, first_weight)
            ma.lerp_(new.to(ma.dtype), rate)
            first = self._first.cls[i]
            blended.append(torch.lerp(ma, first.to(ma.dtype), cfg.first_weight).to(first.dtype))
        self._current = Kernels(cls=blended, loc=self._first.loc)
        self.updates += 1


class AdaptiveSearchPolicy:
    """Larger search crop for small or fast targets (SiamMargin's adaptive search region).

    The crop grows in image space *and* in network input (``large_instance_size``), so the target
    keeps its resolution while more context is searched.
    """

    def __init__(self, config: AdaptiveSearchConfig) -> None:
        self.config = config

    def configure(self, config: AdaptiveSearchConfig) -> None:
        """New settings from the next step on; the per-target state is kept."""
        self.config = config

    def sizes_used(self, base: int) -> list[int]:
        """Every network input size this policy picks between (the base crop, and the large one
        when enabled): the sizes a runtime prepares before the first frame."""
        if not self.config.enabled:
            return [base]
        return list(dict.fromkeys([base, max(base, self.config.large_instance_size)]))

    def instance_size(
        self,
        base: int,
        target_wh: Sequence[float] | np.ndarray,
        image_shape: Sequence[int],
        displacement_crop_px: float,
    ) -> int:
        if not self.config.enabled:
            return base
        area_ratio = (
            float(target_wh[0]) * float(target_wh[1]) / float(image_shape[0] * image_shape[1])
        )
        small = area_ratio < self.config.small_area_ratio
        fast = displacement_crop_px > self.config.fast_motion_px
        return max(base, self.config.large_instance_size) if (small or fast) else base


class OneMoreSearchPolicy:
    """A second search at ``pos + motion_factor * last_motion`` when the best score is very low."""

    def __init__(self, config: OneMoreSearchConfig) -> None:
        self.config = config

    def configure(self, config: OneMoreSearchConfig) -> None:
        """New settings from the next step on; the per-target state is kept."""
        self.config = config

    def retry_center(
        self, best_score: float, center: np.ndarray, last_motion: np.ndarray
    ) -> np.ndarray | None:
        """Centre of the extra search, or ``None`` when no extra search is warranted."""
        if not self.config.enabled or best_score >= self.config.score_threshold:
            return None
        shift = self.config.motion_factor * np.asarray(last_motion, dtype=np.float64)
        if not np.all(np.isfinite(shift)) or math.hypot(*shift) < 1.0:
            return None  # the same crop again cannot find anything new
        return np.asarray(center, dtype=np.float64) + shift


class LostStatePolicy:
    """Presence with score hysteresis, and the widened re-detection search while lost.

    TRACKING -> LOST after ``patience`` consecutive frames below ``lost_threshold``; LOST ->
    TRACKING on the first frame above ``found_threshold``. Two thresholds stop the flag from
    flickering on a score hovering around one value (Siamese scores stay fairly high on
    distractors, so a single threshold would chatter).
    """

    def __init__(self, config: LostStateConfig) -> None:
        self.config = config
        self.state = TrackState.IDLE
        self.low_frames = 0
        self.lost_frames = 0

    def configure(self, config: LostStateConfig) -> None:
        """New settings from the next step on; the per-target state is kept."""
        self.config = config

    @property
    def enabled(self) -> bool:
        return self.config.enabled

    def reset(self) -> None:
        """A new target: tracking it."""
        self.state = TrackState.TRACKING
        self.low_frames = 0
        self.lost_frames = 0

    def clear(self) -> None:
        """No target at all (``Tracker.reset``)."""
        self.reset()
        self.state = TrackState.IDLE

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
