"""The one ground-truth box parser (OTB, VOT, GOT-10k, LaSOT, train/dev videos) and flag files.

Boxes are pixel ``x, y, w, h``. A NaN row means "no box on this line"; ``0,0,0,0`` (or any
non-positive size) means the target is absent. Readers decide what absent means for them
(evaluation leaves such frames out of accuracy; training never samples them), the parser only
reports what the file says.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

__all__ = ["read_boxes", "read_flags"]

_SPLIT = re.compile(r"[,\s;]+")


def _polygon_to_box(values: np.ndarray) -> np.ndarray:
    xs, ys = values[0::2], values[1::2]
    x0, y0 = xs.min(), ys.min()
    return np.array([x0, y0, xs.max() - x0, ys.max() - y0])


def read_boxes(path: str | Path) -> np.ndarray:
    """Read a ground-truth file into ``(N, 4)`` float64 ``x, y, w, h`` (NaN rows: no box).

    Each line holds 4 values (a box), 6+ (an even count: a VOT polygon, converted to its
    axis-aligned bounding rectangle) or at most 1 (a VOT special code such as ``0``, or an empty
    line inside the file: no box). Separators may be commas, tabs, spaces or semicolons; empty
    lines at the end are ignored. Anything else is a :class:`ValueError` naming file and line.
    """
    rows: list[np.ndarray] = []
    # utf-8-sig: a byte-order mark (files saved by Windows tools) is not part of the first line
    lines = Path(path).read_text(encoding="utf-8-sig", errors="replace").splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    for lineno, line in enumerate(lines, 1):
        tokens = [t for t in _SPLIT.split(line.strip()) if t]
        if tokens and tokens[0].startswith("m"):
            raise ValueError(
                f"{path}:{lineno}: a VOT segmentation mask; only box and polygon ground truth "
                "is read (use a VOT edition with rectangle annotations, e.g. VOT2019 or earlier)"
            )
        try:
            values = np.array([float(t) for t in tokens], dtype=np.float64)
        except ValueError as exc:
            raise ValueError(f"{path}:{lineno}: cannot parse {line!r}") from exc
        if len(values) == 4:
            rows.append(values)
        elif len(values) >= 6 and len(values) % 2 == 0:
            rows.append(
                _polygon_to_box(values) if np.isfinite(values).all() else np.full(4, np.nan)
            )
        elif len(values) <= 1:
            rows.append(np.full(4, np.nan))
        else:
            raise ValueError(f"{path}:{lineno}: expected 4 or 8 values, got {len(values)}")
    return np.array(rows, dtype=np.float64).reshape(-1, 4)


def read_flags(path: str | Path, n: int) -> np.ndarray:
    """``n`` 0/1 flags, one per line or comma-separated on one line (GOT-10k, LaSOT).

    A count that differs from the number of boxes is an error: flags that do not line up with the
    frames would mark the wrong frames absent.
    """
    text = Path(path).read_text(encoding="utf-8-sig", errors="replace")
    tokens = [t for t in _SPLIT.split(text.strip()) if t]
    try:
        flags = np.array([int(float(t)) for t in tokens], dtype=bool)
    except ValueError as exc:
        raise ValueError(f"{path}: flags must be 0 or 1") from exc
    if len(flags) != n:
        raise ValueError(f"{path}: {len(flags)} flags for {n} frames")
    return flags
