"""Debug pictures: the frame with the tracked box, and the response map as a heatmap.

Pure numpy/OpenCV (no ROS), used by the node's debug topics and by the demo script.
"""

from __future__ import annotations

import cv2
import numpy as np

from siam_tracker_ros.core.result import TrackState

__all__ = ["STATE_COLOURS", "draw_track", "response_heatmap"]

#: BGR colour per state: green tracking, orange ambiguous (a look-alike competes), red lost,
#: grey idle. Every TrackState has one (test/ros/test_visualization_states.py).
STATE_COLOURS: dict[TrackState, tuple[int, int, int]] = {
    TrackState.TRACKING: (0, 220, 0),
    TrackState.AMBIGUOUS: (0, 165, 255),
    TrackState.LOST: (0, 0, 230),
    TrackState.IDLE: (160, 160, 160),
}


def draw_track(
    image: np.ndarray,
    box: np.ndarray | tuple[float, ...],
    score: float,
    state: TrackState,
    label: str = "",
    search_box: np.ndarray | None = None,
) -> np.ndarray:
    """A copy of ``image`` with the box, state and score drawn on it (and the search region,
    dashed-looking thin rectangle, when given)."""
    out = image.copy()
    colour = STATE_COLOURS[TrackState(state)]
    x, y, w, h = (float(v) for v in np.asarray(box, dtype=np.float64).reshape(4))
    thickness = max(1, round(min(out.shape[:2]) / 240))
    if search_box is not None and np.all(np.asarray(search_box) > 0):
        sx, sy, sw, sh = (round(float(v)) for v in np.asarray(search_box).reshape(4))
        cv2.rectangle(out, (sx, sy), (sx + sw, sy + sh), (200, 200, 0), 1, cv2.LINE_AA)
    cv2.rectangle(
        out, (round(x), round(y)), (round(x + w), round(y + h)), colour, thickness, cv2.LINE_AA
    )
    text = f"{label} {TrackState(state).name.lower()} {score:.2f}".strip()
    scale = max(0.4, min(out.shape[:2]) / 900)
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    # above the box's corner, moved inside the image when the box is at an edge (or beyond it)
    tx = max(0, min(round(x), out.shape[1] - 1 - tw))
    ty = max(th + base, min(round(y) - 4, out.shape[0] - 1 - base))
    cv2.rectangle(out, (tx, ty - th - base), (tx + tw, ty + base), (0, 0, 0), -1)
    cv2.putText(out, text, (tx, ty), cv2.FONT_HERSHEY_SIMPLEX, scale, colour, 1, cv2.LINE_AA)
    return out


def response_heatmap(response: np.ndarray, size: int = 256) -> np.ndarray:
    """Colour-mapped (JET, BGR uint8, ``size x size``) response map, min-max normalised so the
    peak's shape is visible whatever the score scale; nearest-neighbour upscaling keeps the
    score cells visible."""
    r = np.asarray(response, dtype=np.float32)
    if r.ndim == 3:  # anchors x H x W -> best anchor per cell
        r = r.max(axis=0)
    if r.ndim != 2 or r.size == 0:
        raise ValueError(f"response map must be 2-D and non-empty, got shape {r.shape}")
    r = np.nan_to_num(r, nan=0.0, posinf=0.0, neginf=0.0)
    lo, hi = float(r.min()), float(r.max())
    norm = (r - lo) / (hi - lo) if hi > lo else np.zeros_like(r)
    img = cv2.applyColorMap((norm * 255).astype(np.uint8), cv2.COLORMAP_JET)
    return cv2.resize(img, (size, size), interpolation=cv2.INTER_NEAREST)
