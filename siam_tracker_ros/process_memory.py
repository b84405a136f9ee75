"""This process's (or another's) resident memory, for the node's ``/diagnostics`` and the
benchmarks, and the one rule the soaks use to call a memory series flat or growing.

Why ``/proc/self/status`` and not ``resource.getrusage``: Linux keeps ``ru_maxrss`` across
``exec``, so a process started from a large parent (a launch file, pytest) would report the
parent's peak as its own. ``VmRSS`` / ``VmHWM`` are this process's current and peak resident set.
Where ``/proc`` is missing (not Linux), ``ru_maxrss`` is the fallback for both.
"""

from __future__ import annotations

import resource
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["growth_verdict", "peak_rss_mib", "process_status", "rss_mib"]

#: :func:`growth_verdict`'s rule: growth fitted over the span under both 2 % and 20 MiB is flat
FLAT_FRACTION = 0.02
FLAT_MIB = 20.0


def _status_kib(field: str, pid: int | str = "self") -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
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


def process_status(pid: int) -> dict[str, float]:
    """Another process's resident set (``rss_mib``), threads and open file descriptors, read
    from ``/proc`` (NaN where it cannot be read: the process is gone, or not Linux): what a
    soak samples to tell a leak of memory, threads or files in a process it started."""
    kib = _status_kib("VmRSS", pid)
    threads = _status_kib("Threads", pid)
    try:
        fds = float(sum(1 for _ in Path(f"/proc/{pid}/fd").iterdir()))
    except OSError:
        fds = float("nan")
    return {
        "rss_mib": kib / 1024.0 if kib is not None else float("nan"),
        "threads": threads if threads is not None else float("nan"),
        "fds": fds,
    }


def growth_verdict(x: Sequence[float], rss: Sequence[float]) -> dict[str, Any]:
    """Whether an RSS series (MiB) at the points ``x`` (minutes, cycles: any rising axis) grows:
    the least-squares slope, extrapolated over the measured span, is **flat** when it stays under
    both :data:`FLAT_FRACTION` of the first sample and :data:`FLAT_MIB`, **GROWING** otherwise
    (a fit rather than last minus first: one sample caught mid-collection must not decide).
    Fewer than three samples are "too short"."""
    import numpy as np

    if len(x) < 3:
        return {"verdict": "too short", "samples": len(x)}
    xs, ys = np.asarray(x, dtype=float), np.asarray(rss, dtype=float)
    slope = float(np.polyfit(xs, ys, 1)[0])
    span = float(xs[-1] - xs[0])
    extrapolated = slope * span
    flat = extrapolated < FLAT_FRACTION * float(ys[0]) and extrapolated < FLAT_MIB
    return {
        "verdict": "flat" if flat else "GROWING",
        "slope_mib_per_unit": slope,
        "span": span,
        "growth_fit_mib": extrapolated,
        "first_mib": float(ys[0]),
        "last_mib": float(ys[-1]),
        "min_mib": float(ys.min()),
        "max_mib": float(ys.max()),
    }


def peak_rss_mib() -> float:
    """Peak resident set size of this process in MiB."""
    kib = _status_kib("VmHWM")
    return kib / 1024.0 if kib is not None else _maxrss_mib()
