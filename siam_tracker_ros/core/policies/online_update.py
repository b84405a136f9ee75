"""SiamMargin's online template update: a moving average of the classification kernel."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from siam_tracker_ros.core.policies.base import Policy, Step, Target
from siam_tracker_ros.core.result import TrackState
from siam_tracker_ros.core.validation import check
from siam_tracker_ros.models.contract import Kernels
from siam_tracker_ros.runtime.arrays import clone, lerp, lerp_

__all__ = ["OnlineUpdateConfig", "OnlineUpdatePolicy"]


@dataclass(frozen=True)
class OnlineUpdateConfig:
    """``tracker.mechanisms.online_update``.

    ``MA = (1 - l) * MA + l * new`` with ``l = rate * best_score``; the kernel used is
    ``first_weight * first + (1 - first_weight) * MA``. Updates are skipped below ``min_score``
    (0 = always, as in the released SiamMargin code), while the target is lost and on ambiguous
    frames. (Older files also give ``ma_weight``; it must be ``1 - first_weight`` and is dropped
    when read.)
    """

    enabled: bool = False
    rate: float = 0.18
    first_weight: float = 0.6
    min_score: float = 0.0

    def __post_init__(self) -> None:
        check(0.0 <= self.rate <= 1.0, "rate", f"must be in [0, 1], got {self.rate}")
        check(0.0 <= self.first_weight <= 1.0, "first_weight", "must be in [0, 1]")
        check(0.0 <= self.min_score <= 1.0, "min_score", "must be in [0, 1]")


class OnlineUpdatePolicy(Policy[OnlineUpdateConfig]):
    """Moving average of the classification kernel (SiamMargin's online template update).

    ``MA`` starts at the first-frame kernel; each accepted frame folds in the kernel pooled at the
    predicted box with weight ``rate * score``. Regression always keeps the first-frame kernel
    (box regression drifts badly if its template is updated from its own predictions). Never on
    a frame where a look-alike competes (a drift source) or while the target is not tracked.
    """

    name = "online_update"
    config_type = OnlineUpdateConfig

    def __init__(self, config: OnlineUpdateConfig) -> None:
        super().__init__(config)
        self._target: Target | None = None
        self._ma: list[Any] = []
        self.updates = 0

    def reset(self, target: Target | None) -> None:
        self._target = target
        self._ma = [clone(k) for k in target.first_kernels.cls] if target is not None else []
        self.updates = 0

    def kernels(self) -> Kernels:
        """Kernels for the next search (the first-frame ones until an update)."""
        if self._target is None:
            raise RuntimeError("online update policy used before reset(target)")
        return self._target.kernels

    def wants_update(self, score: float, tracking: bool) -> bool:
        return self.config.enabled and tracking and score >= self.config.min_score

    def commit(self, step: Step) -> None:
        assert step.candidate is not None
        tracking = step.follow and step.state == TrackState.TRACKING and not step.ambiguous
        updated = self.wants_update(step.candidate.score, tracking=tracking)
        if updated:
            self.update(step.pool(), step.candidate.score)
            step.template_updated = True
        step.record(self.name, updated=updated)

    def update(self, new_cls: Sequence[Any], score: float) -> None:
        """Fold newly pooled classification kernels into the moving average."""
        target = self._target
        if target is None:
            raise RuntimeError("online update policy used before reset(target)")
        if len(new_cls) != len(self._ma):
            raise ValueError(f"expected {len(self._ma)} kernel levels, got {len(new_cls)}")
        rate = self.config.rate * float(score)
        first = target.first_kernels
        blended = []
        for i, (ma, new) in enumerate(zip(self._ma, new_cls, strict=True)):
            if tuple(new.shape) != tuple(ma.shape):
                raise ValueError(
                    f"pooled kernel level {i} has shape {tuple(new.shape)}, "
                    f"template kernel {tuple(ma.shape)}"
                )
            # MA = (1 - rate) MA + rate new;  kernel = first_weight first + (1 - first_weight) MA,
            # i.e. lerp(MA, first, first_weight) (one fused op each: tiny arrays, every frame)
            lerp_(ma, new, rate)
            blended.append(lerp(ma, first.cls[i], self.config.first_weight, like=first.cls[i]))
        target.kernels = Kernels(cls=blended, loc=first.loc)
        self.updates += 1
