"""A small generated scene: a textured background and one textured target on a known path.

Why: tests of the virtual camera, the gimbal and the closed loop must run where ``../shared``
is absent, on frames whose ground truth is exact. Frames are drawn on access (a few hundred
frames of 640x360 would otherwise hold hundreds of MB), deterministic from the seed.
"""

from __future__ import annotations

import cv2
import numpy as np

from siam_tracker_ros.datasets import FrameSource, Sequence
from siam_tracker_ros.datasets.frames import DEFAULT_FPS

__all__ = ["SyntheticScene", "synthetic_sequence"]


def _texture(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """Smooth multi-scale colour noise plus random rectangles: enough structure for a
    Siamese tracker to lock on and for a shift to be measurable."""
    image = np.zeros((height, width, 3), np.float32)
    for scale, weight in ((64, 90.0), (16, 45.0), (4, 20.0)):
        small = rng.standard_normal((max(2, height // scale), max(2, width // scale), 3))
        image += weight * cv2.resize(small.astype(np.float32), (width, height))
    image += 110.0
    for _ in range(max(4, width * height // 6000)):
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        w, h = int(rng.integers(6, 40)), int(rng.integers(6, 40))
        colour = rng.integers(0, 256, size=3).tolist()
        cv2.rectangle(image, (x, y), (x + w, y + h), colour, -1)
    return np.clip(image, 0, 255).astype(np.uint8)


class SyntheticScene(FrameSource):
    """``n_frames`` frames of ``size`` (width, height): a static textured background with a
    textured target box of ``target_size`` whose centre follows ``centres`` (``(n_frames, 2)``
    pixels; default a slow Lissajous path around the frame centre). Boxes are integer pixels,
    exactly the painted target."""

    def __init__(
        self,
        n_frames: int = 150,
        size: tuple[int, int] = (640, 360),
        target_size: tuple[int, int] = (40, 40),
        centres: np.ndarray | None = None,
        seed: int = 0,
        fps: float = DEFAULT_FPS,
    ) -> None:
        if n_frames < 1:
            raise ValueError("a scene needs at least one frame")
        width, height = size
        tw, th = target_size
        rng = np.random.default_rng(seed)
        self.name = f"synthetic_{seed}"
        self.fps = float(fps)
        self.background = _texture(rng, width, height)
        # the target: a bright bordered checker with its own colours, unlike the background
        patch = _texture(rng, tw, th)
        check = (np.add.outer(np.arange(th) // 6, np.arange(tw) // 6) % 2).astype(bool)
        patch[check] = (patch[check] // 2 + np.array([0, 60, 120], np.uint8)).clip(0, 255)
        cv2.rectangle(patch, (0, 0), (tw - 1, th - 1), (0, 255, 255), 2)
        self.patch = patch
        if centres is None:
            t = np.arange(n_frames, dtype=np.float64)
            centres = np.stack(
                [
                    width / 2 + 0.25 * width * np.sin(2 * np.pi * t / 240.0),
                    height / 2 + 0.2 * height * np.sin(2 * np.pi * t / 170.0 + 0.5),
                ],
                axis=1,
            )
        centres = np.asarray(centres, dtype=np.float64).reshape(-1, 2)
        if len(centres) != n_frames:
            raise ValueError(f"{len(centres)} centres for {n_frames} frames")
        corners = np.round(centres - np.array([tw, th]) / 2.0).astype(int)
        self.boxes = np.column_stack(
            [corners, np.full(n_frames, tw), np.full(n_frames, th)]
        ).astype(np.float64)

    def __len__(self) -> int:
        return len(self.boxes)

    def __getitem__(self, index: int) -> np.ndarray:
        if not 0 <= index < len(self):
            raise IndexError(f"frame {index} out of range [0, {len(self)})")
        frame = self.background.copy()
        x, y, w, h = (int(v) for v in self.boxes[index])
        height, width = frame.shape[:2]
        x0, y0, x1, y1 = max(0, x), max(0, y), min(width, x + w), min(height, y + h)
        if x1 > x0 and y1 > y0:
            frame[y0:y1, x0:x1] = self.patch[y0 - y : y1 - y, x0 - x : x1 - x]
        return frame


def synthetic_sequence(name: str = "synthetic", **kwargs: object) -> Sequence:
    """A :class:`~siam_tracker_ros.datasets.Sequence` over a :class:`SyntheticScene` (keyword
    arguments as the scene's)."""
    scene = SyntheticScene(**kwargs)  # type: ignore[arg-type]
    return Sequence(name=name, frames=scene, groundtruth=scene.boxes.copy(), layout="synthetic")
