"""This process's resident memory, for the node's ``/diagnostics`` and the benchmarks.

Why ``/proc/self/status`` and not ``resource.getrusage``: Linux keeps ``ru_maxrss`` across
``exec``, so a process started from a large parent (a launch file, pytest) would report the
parent's peak as its own. ``VmRSS`` / ``VmHWM`` are this process's current and peak resident set.
Where ``/proc`` is missing (not Linux), ``ru_maxrss`` is the fallback for both.
"""

from __future__ import annotations

import resource
import sys
from pathlib import Path

__all__ = ["peak_rss_mib", "rss_mib"]


def _status_kib(field: str) -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return float(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def _maxrss_mib() -> float:
    peak = float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    return peak / (1024.0 * 1024.0) if sys.platform == "darwin" else peak / 1024.0  # bytes there


def rss_mib() -> float:
    """Current resident set size in MiB."""
    kib = _status_kib("VmRSS")
    return kib / 1024.0 if kib is not None else _maxrss_mib()


def peak_rss_mib() -> float:
    """Peak resident set size of this process in MiB."""
    kib = _status_kib("VmHWM")
    return kib / 1024.0 if kib is not None else _maxrss_mib()
