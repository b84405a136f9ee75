"""Small fake models for tracker tests: deterministic head outputs and observable kernels.

Random-weight networks do not track, and the real ones are slow on CPU; these fakes let tests
check *what the tracker does with* head outputs (which crops it asks for, which kernels it uses).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
import torch

from siam_tracker_ros.core.policies import Target
from siam_tracker_ros.models.base import Features, HeadOutput, Kernels, SiameseModel


class ScriptedAnchorModel(SiameseModel):
    """Anchor head with uniform scores and a constant regression, scripted per search.

    Every search gets foreground logit ``fg_logits[i]`` (the last one repeats) at all positions,
    so the raw best score is ``sigmoid(fg_logit)`` and the cosine window makes the centre win;
    ``dx``/``dy`` shift every candidate by ``dx * anchor_w`` crop pixels. Template kernels are
    ``z.mean()`` so tests can observe which kernel the head receives; ``pool_cls_kernel`` returns
    ``pool_value``.
    """

    stride = 8
    head_type = "anchor"

    def __init__(
        self,
        fg_logits: Sequence[float] = (3.0,),
        dx: float = 0.0,
        dy: float = 0.0,
        pool_value: float = 100.0,
        anchor_num: int = 5,
        base_size: int = 8,
    ) -> None:
        super().__init__()
        self.fg_logits = list(fg_logits)
        self.dx, self.dy = dx, dy
        self.pool_value = pool_value
        self.anchor_num = anchor_num
        self.base_size = base_size
        self.dummy = torch.nn.Parameter(torch.zeros(1))
        self.search_sizes: list[int] = []
        self.seen_cls: list[float] = []
        self.seen_loc: list[float] = []
        self.rois: list[torch.Tensor] = []
        self.calls = 0

    def template_features(self, z: torch.Tensor) -> Features:
        return [z.mean().reshape(1, 1, 1, 1)]

    def search_features(self, x: torch.Tensor) -> Features:
        self.search_sizes.append(int(x.shape[-1]))
        return [x]

    def make_kernels(self, zf: Features) -> Kernels:
        return Kernels(cls=[zf[0].clone()], loc=[zf[0].clone()])

    def head(self, xf: Features, kernels: Kernels) -> HeadOutput:
        self.seen_cls.append(float(kernels.cls[0].flatten()[0]))
        self.seen_loc.append(float(kernels.loc[0].flatten()[0]))
        size = xf[0].shape[-1]
        n = (size - 127) // self.stride + 1 + self.base_size
        a = self.anchor_num
        logit = self.fg_logits[min(self.calls, len(self.fg_logits) - 1)]
        self.calls += 1
        cls = torch.zeros(1, 2 * a, n, n)
        cls[:, a:] = logit
        loc = torch.zeros(1, 4 * a, n, n)
        loc[:, :a] = self.dx
        loc[:, a : 2 * a] = self.dy
        return HeadOutput(cls=cls, loc=loc)

    def pool_cls_kernel(self, xf: Features, roi: torch.Tensor) -> list[torch.Tensor]:
        self.rois.append(roi.detach().cpu().clone())
        return [torch.full((1, 1, 1, 1), self.pool_value)]


class ReplayModel(SiameseModel):
    """Replays stored raw head outputs (pysot's, from the fixture) frame by frame.

    Records the sha256 of every float32 search crop it is fed, which the fixture stores too.
    """

    stride = 8
    head_type = "anchor"

    def __init__(self, cls_frames: np.ndarray, loc_frames: np.ndarray) -> None:
        super().__init__()
        self.cls_frames, self.loc_frames = cls_frames, loc_frames
        self.t = 0
        self.template_crop: np.ndarray | None = None
        self.search_crops: list[np.ndarray] = []
        self.crop_sha256: list[str] = []

    def template_features(self, z: torch.Tensor) -> Features:
        self.template_crop = z.cpu().numpy()
        return [z]

    def search_features(self, x: torch.Tensor) -> Features:
        arr = x.cpu().numpy().astype(np.float32)
        if not self.search_crops:
            self.search_crops.append(arr)
        self.crop_sha256.append(hashlib.sha256(arr.tobytes()).hexdigest())
        return [x]

    def make_kernels(self, zf: Features) -> Kernels:
        return Kernels(cls=[zf[0]], loc=[zf[0]])

    def head(self, xf: Features, kernels: Kernels) -> HeadOutput:
        cls = torch.from_numpy(self.cls_frames[self.t][None].copy())
        loc = torch.from_numpy(self.loc_frames[self.t][None].copy())
        self.t += 1
        return HeadOutput(cls=cls, loc=loc)

    def pool_cls_kernel(self, xf: Features, roi: torch.Tensor) -> list[torch.Tensor]:
        raise NotImplementedError


def textured_sequence(
    n_frames: int = 40, height: int = 240, width: int = 320, seed: int = 0
) -> tuple[list[np.ndarray], np.ndarray]:
    """A textured 40x56 target moving on a textured background (curved path, ~6 px/frame).

    Returns frames (uint8 BGR) and ground-truth boxes ``(n, 4)`` xywh.
    """
    rng = np.random.default_rng(seed)
    import cv2

    bg = cv2.resize(
        rng.integers(0, 256, (height // 8, width // 8, 3), dtype=np.uint8),
        (width, height),
        interpolation=cv2.INTER_LINEAR,
    )
    tw, th = 40, 56
    tex = cv2.resize(
        rng.integers(0, 256, (th // 4, tw // 4, 3), dtype=np.uint8),
        (tw, th),
        interpolation=cv2.INTER_NEAREST,
    )
    tex[:2], tex[-2:], tex[:, :2], tex[:, -2:] = 255, 255, 0, 0
    frames, boxes = [], []
    for t in range(n_frames):
        x = int(30 + 5.5 * t)
        y = int(height / 2 - th / 2 + 50 * np.sin(t / 7.0))
        f = bg.copy()
        f[y : y + th, x : x + tw] = tex
        frames.append(f)
        boxes.append([x, y, tw, th])
    return frames, np.asarray(boxes, np.float64)


def iou_xywh(a: np.ndarray, b: np.ndarray) -> float:
    ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return float(inter / (a[2] * a[3] + b[2] * b[3] - inter))


def make_target(kernels: Kernels | None = None) -> Target:
    """A policy's view of a target at (50, 50) of size 20 x 20 (policy unit tests)."""
    k = kernels if kernels is not None else Kernels(cls=[np.zeros((1, 2), np.float32)], loc=[])
    return Target(
        center=np.array([50.0, 50.0]),
        size=np.array([20.0, 20.0]),
        last_motion=np.zeros(2),
        confident=np.array([50.0, 50.0, 20.0, 20.0]),
        first_kernels=k,
        kernels=k,
    )
