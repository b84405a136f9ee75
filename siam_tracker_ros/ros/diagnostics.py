"""What the tracker node reports on ``/diagnostics`` and in its status rate: the counters and
recent timings of the node (:class:`TrackingStats`) and the status built from them
(:func:`tracking_diagnostics`: level, one-line message, key/value pairs).

Plain Python (no rclpy): the node turns the result into a ``DiagnosticArray`` with
:func:`~siam_tracker_ros.ros.messages.diagnostics_msg`; the rules (WARN when lost or when the
p95 latency is above ``diagnostics.max_latency_ms``) are unit-tested here without ROS.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from siam_tracker_ros.core.result import TrackState
from siam_tracker_ros.process_memory import peak_rss_mib, rss_mib

__all__ = ["OK", "WARN", "TrackingStats", "tracking_diagnostics"]

#: ``DiagnosticStatus`` levels
OK, WARN = 0, 1


@dataclass
class TrackingStats:
    """Counters and the recent latencies (frame stamp -> publication), processing times and
    processing instants (for the rate) of one node. The worker thread records while the
    executor's diagnostics timer reads: the series are read through :meth:`timings` and
    :meth:`rate_hz`, copies taken under a lock (iterating a deque another thread appends to
    raises "deque mutated during iteration", which would end the timer's callback). The
    counters are single values; a snapshot of them is good enough for monitoring."""

    latencies_ms: deque[float] = field(default_factory=lambda: deque(maxlen=300))
    processing_ms: deque[float] = field(default_factory=lambda: deque(maxlen=300))
    processed_at: deque[float] = field(default_factory=lambda: deque(maxlen=1000))
    frames_received: int = 0
    frames_malformed: int = 0
    track_errors: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def record(self, now: float, latency_ms: float, processing_ms: float) -> None:
        """One published frame at ``now`` (monotonic seconds)."""
        with self._lock:
            self.processed_at.append(now)
            self.latencies_ms.append(latency_ms)
            self.processing_ms.append(processing_ms)

    def timings(self) -> tuple[list[float], list[float]]:
        """Copies of the recent latencies and processing times (ms)."""
        with self._lock:
            return list(self.latencies_ms), list(self.processing_ms)

    def rate_hz(self, now: float) -> float:
        """Frames processed in the last second."""
        with self._lock:
            instants = list(self.processed_at)
        return float(sum(1 for t in instants if now - t <= 1.0))

    def clear(self) -> None:
        """Forget the timings and error counters (the node's ``~/reset``)."""
        with self._lock:
            self.latencies_ms.clear()
            self.processing_ms.clear()
        self.frames_malformed = self.track_errors = 0


def tracking_diagnostics(
    stats: TrackingStats,
    state: TrackState,
    *,
    lost_reason: str,
    track_id: str,
    frames_processed: int,
    frames_dropped: int,
    max_latency_ms: float,
    now: float,
    longterm: dict[str, Any] | None = None,
) -> tuple[int, str, dict[str, Any]]:
    """``(level, message, values)`` of the node's tracking status: WARN while the target is
    lost (with the reason when the session knows one) or while the p95 latency exceeds
    ``max_latency_ms``, OK otherwise. ``longterm``: what the long-term policy did on the last
    step (``StepInfo.policies["longterm"]``); while LOST its re-detection progress (where the
    sweep is, the best similarity seen, the verification streak) is in the values."""
    latencies, processing = stats.timings()
    lat = np.asarray(latencies, dtype=np.float64)
    proc = np.asarray(processing, dtype=np.float64)
    p50, p95 = np.percentile(lat, [50, 95]) if lat.size else (float("nan"),) * 2
    level, text = OK, state.name.lower()
    if state == TrackState.LOST:
        level, text = WARN, "target lost" + (f": {lost_reason}" if lost_reason else "")
    if lat.size and p95 > max_latency_ms:
        level, text = WARN, f"p95 latency {p95:.0f} ms above limit"
    values = {
        "state": state.name.lower(),
        "track_id": track_id,
        "rate_hz": stats.rate_hz(now),
        "latency_p50_ms": float(p50),
        "latency_p95_ms": float(p95),
        "processing_mean_ms": float(proc.mean()) if proc.size else float("nan"),
        "frames_received": stats.frames_received,
        "frames_processed": frames_processed,
        "frames_dropped": frames_dropped,
        "frames_malformed": stats.frames_malformed,
        "tracker_errors": stats.track_errors,
        "rss_mib": rss_mib(),
        "peak_rss_mib": peak_rss_mib(),
    }
    if state == TrackState.LOST and longterm:
        if "tile_count" in longterm:
            values["redetect_sweep"] = f"{longterm['tile_cursor']}/{longterm['tile_count']}"
        for key in ("tiles", "best_similarity", "similarity", "probability", "confirm"):
            if key in longterm:
                values[f"redetect_{key}"] = longterm[key]
    return level, text, values
