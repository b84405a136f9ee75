"""Throttled warnings whose period is a run-time parameter (``log.throttle_s``).

rclpy's own ``throttle_duration_sec`` is fixed per call site, so it cannot follow a parameter
that changes while the node runs; bad input (malformed images, bad init boxes, tracker failures)
must still give a warning now and then, never a flood.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

__all__ = ["WarningThrottle"]


class WarningThrottle:
    """At most one warning per ``period()`` seconds per kind, with the number suppressed in
    between; thread-safe (the executor and the worker thread both warn)."""

    def __init__(self, log: Callable[[str], object], period: Callable[[], float]) -> None:
        self._log = log
        self._period = period
        self._warned: dict[str, tuple[float, int]] = {}
        self._lock = threading.Lock()

    def warn(self, kind: str, text: str) -> bool:
        """Log ``text`` unless a warning of ``kind`` went out less than a period ago; True when
        it was logged."""
        now = time.monotonic()
        with self._lock:
            last, suppressed = self._warned.get(kind, (-float("inf"), 0))
            if now - last < self._period():
                self._warned[kind] = (last, suppressed + 1)
                return False
            self._warned[kind] = (now, 0)
        more = f" ({suppressed} similar warnings suppressed)" if suppressed else ""
        self._log(text + more)
        return True
