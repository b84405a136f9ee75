"""pysot anchors and anchor-free point grids, in search-crop pixels relative to the crop centre.

Both follow pysot exactly (``Anchors.generate_anchors`` / ``SiamRPNTracker.generate_anchor`` and
SiamBAN's ``generate_points``): anchor widths/heights are integer-truncated, arrays are float32, and
flattening is anchor-major, then row, then column, matching how the head's channels are laid out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = ["base_anchors", "cosine_window", "generate_anchors", "generate_points"]


def base_anchors(stride: int, ratios: Sequence[float], scales: Sequence[float]) -> np.ndarray:
    """``(A, 4)`` float32 ``x1, y1, x2, y2`` anchors centred on the origin (ratio-major)."""
    anchors = np.zeros((len(ratios) * len(scales), 4), dtype=np.float32)
    size = stride * stride
    count = 0
    for r in ratios:
        ws = int(math.sqrt(size * 1.0 / r))
        hs = int(ws * r)
        for s in scales:
            w, h = ws * s, hs * s
            anchors[count] = [-w * 0.5, -h * 0.5, w * 0.5, h * 0.5]
            count += 1
    return anchors


def _grid(stride: int, score_size: int) -> tuple[np.ndarray, np.ndarray]:
    ori = -(score_size // 2) * stride
    coords = [ori + stride * d for d in range(score_size)]
    xx, yy = np.meshgrid(coords, coords)
    return xx, yy


def generate_anchors(
    stride: int, ratios: Sequence[float], scales: Sequence[float], score_size: int
) -> np.ndarray:
    """``(A * N * N, 4)`` float32 ``cx, cy, w, h`` anchors for an ``N x N`` score map."""
    base = base_anchors(stride, ratios, scales)
    x1, y1, x2, y2 = base[:, 0], base[:, 1], base[:, 2], base[:, 3]
    anchor = np.stack([(x1 + x2) * 0.5, (y1 + y2) * 0.5, x2 - x1, y2 - y1], 1)
    anchor_num = anchor.shape[0]
    anchor = np.tile(anchor, score_size * score_size).reshape((-1, 4))
    xx, yy = _grid(stride, score_size)
    anchor[:, 0] = np.tile(xx.flatten(), (anchor_num, 1)).flatten().astype(np.float32)
    anchor[:, 1] = np.tile(yy.flatten(), (anchor_num, 1)).flatten().astype(np.float32)
    return anchor


def generate_points(stride: int, score_size: int) -> np.ndarray:
    """``(N * N, 2)`` float32 ``x, y`` point positions (row-major) for anchor-free heads."""
    xx, yy = _grid(stride, score_size)
    return np.stack([xx.flatten(), yy.flatten()], 1).astype(np.float32)


def cosine_window(score_size: int, maps: int = 1) -> np.ndarray:
    """pysot's Hanning window (float64), flattened and tiled once per anchor."""
    hanning = np.hanning(score_size)
    return np.tile(np.outer(hanning, hanning).flatten(), maps)
