"""Throttled warnings whose period is a run-time parameter (``log.throttle_s``).

rclpy's own ``throttle_duration_sec`` is fixed per call site, so it cannot follow a parameter
that changes while the node runs; bad input (malformed images, bad init boxes, tracker failures)
must still give a warning now and then, never a flood.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

__all__ = ["INIT_WARNING_BURST", "WarningThrottle"]

#: init warnings the node logs per ``log.throttle_s``: an init and ``siam-tracker init``'s
#: resends (``init_command.RESENDS``) each get their refusal line, which the command reads on
#: ``/rosout``; a flood of bad inits still gets no more
INIT_WARNING_BURST = 3


class WarningThrottle:
    """At most ``burst`` warnings per ``period()`` seconds per kind (one unless a call asks for
    more), with the number suppressed in between; thread-safe (the executor and the worker
    thread both warn)."""

    def __init__(self, log: Callable[[str], object], period: Callable[[], float]) -> None:
        self._log = log
        self._period = period
        #: kind -> (start of its window, warnings logged in it, warnings suppressed since)
        self._warned: dict[str, tuple[float, int, int]] = {}
        self._lock = threading.Lock()

    def warn(self, kind: str, text: str, burst: int = 1) -> bool:
        """Log ``text`` unless ``burst`` warnings of ``kind`` went out in the period that began
        with the first of them; True when it was logged. A burst above one is for events that
        come a few at a time on purpose (an init and the resends of ``siam-tracker init``, whose
        refusals the command reads from the log), never a flood."""
        now = time.monotonic()
        with self._lock:
            start, logged, suppressed = self._warned.get(kind, (-float("inf"), 0, 0))
            if now - start >= self._period():
                start, logged = now, 0
            if logged >= burst:
                self._warned[kind] = (start, logged, suppressed + 1)
                return False
            self._warned[kind] = (start, logged + 1, 0)
        more = f" ({suppressed} similar warnings suppressed)" if suppressed else ""
        self._log(text + more)
        return True
