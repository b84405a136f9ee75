"""Helpers for the evaluation tests: in-memory sequences whose frames carry their own index, a
scripted tracker that reads it, a fake clock and a synthetic OTB folder writer. (A plain module,
not a conftest, so ``from conftest import shared_path`` elsewhere keeps meaning test/conftest.py.)
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Sequence as SequenceABC
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from siam_tracker_ros.datasets import Sequence


class IndexedFrames:
    """Tiny frames whose first pixel encodes the frame index (so a fake tracker knows it)."""

    def __init__(self, n: int, size: tuple[int, int] = (8, 8)) -> None:
        self.n, self.size = n, size
        self.decoded: list[int] = []

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> np.ndarray:
        self.decoded.append(i)
        img = np.zeros((*self.size, 3), dtype=np.uint8)
        img[0, 0, 0], img[0, 0, 1] = i % 256, i // 256
        return img


def frame_index(image: np.ndarray) -> int:
    return int(image[0, 0, 0]) + 256 * int(image[0, 0, 1])


def make_sequence(
    gt: np.ndarray, absent: SequenceABC[bool] | None = None, name: str = "seq"
) -> Sequence:
    gt = np.asarray(gt, dtype=np.float64)
    return Sequence(
        name=name,
        frames=IndexedFrames(len(gt)),
        groundtruth=gt,
        absent=np.asarray(absent if absent is not None else np.zeros(len(gt)), dtype=bool),
    )


@dataclass
class Out:
    box: np.ndarray
    score: float
    present: bool


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class ScriptedTracker:
    """``track`` returns ``script(frame_index)`` and advances a fake clock by ``latency``."""

    def __init__(
        self,
        script: Callable[[int], tuple[np.ndarray, float, bool]],
        clock: FakeClock | None = None,
        latency: float = 0.0,
        init_latency: float = 0.0,
    ) -> None:
        self.script, self.clock = script, clock
        self.latency, self.init_latency = latency, init_latency
        self.inits: list[int] = []
        self.tracked: list[int] = []

    def init(self, image: np.ndarray, box: np.ndarray) -> None:
        self.inits.append(frame_index(image))
        if self.clock is not None:
            self.clock.now += self.init_latency

    def track(self, image: np.ndarray) -> Out:
        i = frame_index(image)
        self.tracked.append(i)
        if self.clock is not None:
            self.clock.now += self.latency
        box, score, present = self.script(i)
        return Out(np.asarray(box, dtype=np.float64), score, present)


def write_otb_sequence(
    folder: Path,
    n: int = 24,
    size: tuple[int, int] = (160, 120),
    sep: str = ",",
    step: int = 3,
    absent: SequenceABC[int] = (),
) -> np.ndarray:
    """A textured background with a moving, distinctive square; returns the ground truth."""
    rng = np.random.default_rng(0)
    w, h = size
    background = cv2.GaussianBlur(rng.integers(0, 255, (h, w, 3), dtype=np.uint8), (5, 5), 0)
    (folder / "img").mkdir(parents=True)
    gt = []
    for i in range(n):
        x, y = 20 + step * i, 30 + (step * i) // 2
        img = background.copy()
        cv2.rectangle(img, (x, y), (x + 24, y + 20), (0, 0, 230), -1)
        cv2.circle(img, (x + 12, y + 10), 6, (250, 250, 0), -1)
        cv2.imwrite(str(folder / "img" / f"{i + 1:04d}.jpg"), img)
        gt.append([x, y, 24, 20] if i not in absent else [0, 0, 0, 0])
    lines = [sep.join(str(v) for v in row) for row in gt]
    (folder / "groundtruth_rect.txt").write_text("\n".join(lines) + "\n")
    return np.asarray(gt, dtype=np.float64)
