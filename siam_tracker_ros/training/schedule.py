"""Learning-rate schedule: linear warm-up, then log-spaced decay (pysot's LogScheduler, per step).

A callable object rather than a lambda so ``LambdaLR.state_dict()`` stores its fields and a resumed
run continues on the same curve.
"""

from __future__ import annotations

import math

__all__ = ["WarmupLogSchedule"]


class WarmupLogSchedule:
    """Factor of the base lr at optimizer step ``step`` (0-based).

    ``warmup_steps`` steps rise linearly from ``warmup_factor`` to 1; the remaining steps fall
    log-linearly from 1 to ``end_factor`` (``lr_end / lr``), reached at ``total_steps - 1``.
    """

    def __init__(
        self, total_steps: int, warmup_steps: int, warmup_factor: float, end_factor: float
    ) -> None:
        if total_steps < 1 or warmup_steps < 0 or warmup_factor <= 0 or end_factor <= 0:
            raise ValueError("schedule: total_steps >= 1, warmup_steps >= 0, factors > 0")
        self.total_steps = int(total_steps)
        self.warmup_steps = int(min(warmup_steps, total_steps - 1))
        self.warmup_factor = float(warmup_factor)
        self.end_factor = float(end_factor)

    def __call__(self, step: int) -> float:
        if step < self.warmup_steps:
            return self.warmup_factor + (1.0 - self.warmup_factor) * step / self.warmup_steps
        span = max(self.total_steps - 1 - self.warmup_steps, 1)
        frac = min(max(step - self.warmup_steps, 0) / span, 1.0)
        return math.exp(frac * math.log(self.end_factor))
