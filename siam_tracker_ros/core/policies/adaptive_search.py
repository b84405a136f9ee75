"""SiamMargin's adaptive search region: a larger search crop for small or fast targets."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from siam_tracker_ros.core.policies.base import Policy, Step
from siam_tracker_ros.core.validation import check

__all__ = ["AdaptiveSearchConfig", "AdaptiveSearchPolicy"]


@dataclass(frozen=True)
class AdaptiveSearchConfig:
    """``tracker.mechanisms.adaptive_search``: the large crop when the target's area is below
    ``small_area_ratio`` of the image or it moved more than ``fast_motion_px`` search-crop
    pixels in the last frame."""

    enabled: bool = False
    large_instance_size: int = 351
    small_area_ratio: float = 0.004
    fast_motion_px: float = 80.0

    def __post_init__(self) -> None:
        check(self.large_instance_size > 0, "large_instance_size", "must be > 0")
        check(0.0 <= self.small_area_ratio <= 1.0, "small_area_ratio", "must be in [0, 1]")
        check(
            self.fast_motion_px >= 0 and math.isfinite(self.fast_motion_px),
            "fast_motion_px",
            "must be >= 0",
        )


class AdaptiveSearchPolicy(Policy[AdaptiveSearchConfig]):
    """Larger search crop for small or fast targets (SiamMargin's adaptive search region).

    The crop grows in image space *and* in network input (``large_instance_size``), so the target
    keeps its resolution while more context is searched.
    """

    name = "adaptive_search"
    config_type = AdaptiveSearchConfig
    rebuild_keys = ("large_instance_size",)

    def sizes_used(self, base: int) -> list[int]:
        """Every network input size this policy picks between (the base crop, and the large one
        when enabled): the sizes a runtime prepares before the first frame."""
        if not self.config.enabled:
            return [base]
        return list(dict.fromkeys([base, max(base, self.config.large_instance_size)]))

    def search_sizes(self, base: int) -> list[int]:
        return self.sizes_used(base)

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

    def plan(self, step: Step) -> None:
        moved = float(np.hypot(*step.target.last_motion)) * step.scale_z
        size = self.instance_size(step.instance_size, step.target.size, step.image.shape, moved)
        if size != step.instance_size:
            step.record(self.name, instance_size=size)
        step.instance_size = size
