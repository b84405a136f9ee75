"""Test doubles for the ROS layer's unit tests (never used by the real node).

``TemplateTracker`` is a tiny template-matching tracker with the real Tracker's interface, so the
session logic (stamped init, catch-up, lost state) is tested in milliseconds without torch.
"""

from __future__ import annotations

import cv2
import numpy as np

from siam_tracker_ros.core.result import TrackResult, TrackState


class TemplateTracker:
    def __init__(self, lost_below: float = 0.5) -> None:
        self.lost_below = lost_below
        self.inits: list[tuple[np.ndarray, np.ndarray]] = []
        self.tracked = 0
        self.reset()

    def reset(self) -> None:
        self._template: np.ndarray | None = None
        self._box = np.zeros(4)

    def init(self, image: np.ndarray, box: np.ndarray | tuple[float, ...]) -> None:
        b = np.asarray(box, dtype=np.float64)
        x, y, w, h = (int(round(v)) for v in b)
        gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        self._template = gray[max(y, 0) : y + h, max(x, 0) : x + w].copy()
        self._box = b.copy()
        self.inits.append((image, b.copy()))

    def track(self, image: np.ndarray) -> TrackResult:
        if self._template is None:
            raise RuntimeError("track() before init()")
        self.tracked += 1
        gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        x, y, w, h = self._box
        sx0, sy0 = int(max(0, x - w)), int(max(0, y - h))
        sx1, sy1 = int(min(gray.shape[1], x + 2 * w)), int(min(gray.shape[0], y + 2 * h))
        region = gray[sy0:sy1, sx0:sx1]
        th, tw = self._template.shape
        if region.shape[0] < th or region.shape[1] < tw:
            return TrackResult(
                self._box.copy(), 0.0, False, TrackState.LOST, np.zeros((1, 1), np.float32)
            )
        resp = cv2.matchTemplate(region, self._template, cv2.TM_CCOEFF_NORMED)
        _, score, _, loc = cv2.minMaxLoc(resp)
        present = score >= self.lost_below
        if present:
            self._box = np.array([sx0 + loc[0], sy0 + loc[1], w, h], dtype=np.float64)
        return TrackResult(
            self._box.copy(),
            float(max(score, 0.0)),
            present,
            TrackState.TRACKING if present else TrackState.LOST,
            resp.astype(np.float32),
            np.array([sx0, sy0, sx1 - sx0, sy1 - sy0], dtype=np.float64),
        )


def smooth_background(size: tuple[int, int] = (240, 320)) -> np.ndarray:
    """A colour gradient: nothing in it looks like the textured target."""
    h, w = size
    yy, xx = np.mgrid[0:h, 0:w]
    bg = np.stack([(xx * 255 / w), (yy * 255 / h), np.full_like(xx, 90.0)], -1)
    return (0.5 * bg + 40).astype(np.uint8)


def textured_target_frames(
    n: int,
    size: tuple[int, int] = (240, 320),
    box_size: int = 40,
    step: tuple[float, float] = (4.0, 2.0),
    seed: int = 0,
    start: tuple[float, float] = (30.0, 40.0),
) -> tuple[list[np.ndarray], np.ndarray]:
    """Frames of a textured square moving over a smooth background, and its true boxes."""
    rng = np.random.default_rng(seed)
    bg = smooth_background(size)
    small = rng.integers(0, 256, (box_size // 4, box_size // 4, 3), dtype=np.uint8)
    patch = cv2.resize(small, (box_size, box_size), interpolation=cv2.INTER_NEAREST)
    frames, boxes = [], []
    for i in range(n):
        x, y = start[0] + step[0] * i, start[1] + step[1] * i
        img = bg.copy()
        xi, yi = int(round(x)), int(round(y))
        img[yi : yi + box_size, xi : xi + box_size] = patch
        frames.append(img)
        boxes.append([xi, yi, box_size, box_size])
    return frames, np.asarray(boxes, dtype=np.float64)
