"""SiamMargin's "one more search": a second search along the last motion when the score is low."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from siam_tracker_ros.core.policies.base import Policy, Step
from siam_tracker_ros.core.validation import check

__all__ = ["OneMoreSearchConfig", "OneMoreSearchPolicy"]


@dataclass(frozen=True)
class OneMoreSearchConfig:
    """``tracker.mechanisms.one_more_search``: re-search at ``pos + motion_factor *
    last_motion`` when the best score is below ``score_threshold``."""

    enabled: bool = False
    score_threshold: float = 0.1
    motion_factor: float = 0.9

    def __post_init__(self) -> None:
        check(0.0 <= self.score_threshold <= 1.0, "score_threshold", "must be in [0, 1]")
        check(math.isfinite(self.motion_factor), "motion_factor", "must be finite")


class OneMoreSearchPolicy(Policy[OneMoreSearchConfig]):
    """A second search at ``pos + motion_factor * last_motion`` when the best score is very low;
    the better of the two searches is used."""

    name = "one_more_search"
    config_type = OneMoreSearchConfig

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

    def after_search(self, step: Step) -> None:
        first = step.search
        retry = self.retry_center(
            first.candidate.score, step.target.center, step.target.last_motion
        )
        if retry is None:
            return
        second = step.run_search(retry, source=self.name)
        used = second.candidate.score > first.candidate.score
        if used:
            step.chosen = len(step.searches) - 1
        step.record(self.name, searched=True, used=used)
