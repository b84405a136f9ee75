"""Regression: decoded boxes stay on the target at every search size the tracker can pick.

pysot's/NanoTrack's ``-(N // 2) * stride`` grid only follows the crop centre while
``(instance_size - exemplar_size) / stride`` is even; sizes such as 271, 263 or the re-detection
size 527 used to put every box half a stride off. :class:`GeometricModel` is a fully
convolutional "network" with honest geometry: score cell ``i`` sits at crop pixel
``i * stride + c`` for *every* crop size (``c`` chosen so that pysot's grid is right at the sizes
the real networks were trained on), and its regression points exactly at the red target it sees
in the crop. So the tracker's box equals the target wherever its grid is right, whichever cell
wins, and is off by the grid error wherever it is not.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from siam_tracker_ros.core.anchors import base_anchors
from siam_tracker_ros.core.config import (
    AnchorConfig,
    MechanismsConfig,
    PointConfig,
    TrackerConfig,
)
from siam_tracker_ros.core.decoding import grid_shift
from siam_tracker_ros.core.policies import valid_instance_size
from siam_tracker_ros.core.tracker import Tracker
from siam_tracker_ros.models.base import Features, HeadOutput, Kernels, SiameseModel

EXEMPLAR = 127


class GeometricModel(SiameseModel):
    """Finds the pure-red square in the search crop and regresses it exactly from every cell."""

    def __init__(self, head_type: str, stride: int, base_size: int, anchor: AnchorConfig) -> None:
        super().__init__()
        self.head_type = head_type  # type: ignore[assignment]
        self.stride = stride
        self.base_size = base_size
        self.anchor_wh = base_anchors(stride, anchor.ratios, anchor.scales)[:, 2:] * 2.0
        # cell 0's crop pixel: where pysot's grid puts it for an exemplar-sized search
        n0 = 1 + base_size
        self.c0 = -(n0 // 2) * stride + (EXEMPLAR - 1) / 2.0
        self.dummy = torch.nn.Parameter(torch.zeros(1))

    def template_features(self, z: torch.Tensor) -> Features:
        return [z]

    def search_features(self, x: torch.Tensor) -> Features:
        return [x]

    def make_kernels(self, zf: Features) -> Kernels:
        return Kernels(cls=[zf[0]], loc=[zf[0]])

    def head(self, xf: Features, kernels: Kernels) -> HeadOutput:
        x = xf[0][0].float()  # 3 x S x S, BGR
        size = x.shape[-1]
        # redness is linear in a pixel's target fraction; the small margin ignores the padding
        # (the frame mean, a little red itself)
        red = ((x[2] - torch.maximum(x[0], x[1]) - 8.0) / 247.0).clamp(0, 1)
        mass = red.sum()
        coords = torch.arange(size, dtype=torch.float32)
        tx = float((red.sum(0) * coords).sum() / mass)
        ty = float((red.sum(1) * coords).sum() / mass)
        side = float(mass.sqrt())  # a square target
        n = (size - EXEMPLAR) // self.stride + 1 + self.base_size
        p = self.c0 + self.stride * torch.arange(n, dtype=torch.float32)
        py, px = torch.meshgrid(p, p, indexing="ij")
        fg = 5.0 - ((px - tx) ** 2 + (py - ty) ** 2) / (2 * (2 * self.stride) ** 2)
        if self.head_type == "point":
            cls = torch.stack([torch.zeros_like(fg), fg])[None]
            half = side / 2
            loc = torch.stack([px - (tx - half), py - (ty - half), tx + half - px, ty + half - py])
            return HeadOutput(cls=cls, loc=loc[None])
        a = len(self.anchor_wh)
        cls = torch.cat([torch.zeros(a, n, n), fg.expand(a, n, n)])[None]
        aw = torch.from_numpy(self.anchor_wh[:, 0]).view(a, 1, 1)
        ah = torch.from_numpy(self.anchor_wh[:, 1]).view(a, 1, 1)
        loc = torch.cat(
            [
                (tx - px) / aw,
                (ty - py) / ah,
                torch.log(side / aw).expand(a, n, n),
                torch.log(side / ah).expand(a, n, n),
            ]
        )
        return HeadOutput(cls=cls, loc=loc[None])

    def pool_cls_kernel(self, xf: Features, roi: torch.Tensor) -> list[torch.Tensor]:
        raise NotImplementedError


HEADS = {
    "anchor": dict(stride=8, base_size=8),  # pysot SiamRPN++: 25x25 at 255
    "point": dict(stride=16, base_size=7),  # NanoTrack v2: 16x16 at 255
    "point-odd": dict(stride=16, base_size=6),  # NanoTrack v3: 15x15 at 255
}


def _config(head: str, instance_size: int) -> TrackerConfig:
    spec = HEADS[head]
    return TrackerConfig(
        instance_size=instance_size,
        base_size=spec["base_size"],
        anchor=AnchorConfig(stride=spec["stride"]),
        point=PointConfig(stride=spec["stride"]),
        mechanisms=MechanismsConfig(),
    )


def tracker_instance_sizes(config: TrackerConfig, stride: int) -> list[int]:
    """Every search size the tracker can choose with the shipped mechanism defaults: the base and
    adaptive sizes, and each of them widened by each re-detection factor (as ``Tracker._track``)."""
    mech = dataclasses.replace(config.mechanisms)
    bases = {
        config.instance_size,
        max(config.instance_size, mech.adaptive_search.large_instance_size),
    }
    lost = mech.lost_state
    sizes = set(bases)
    for base in bases:
        for factor in lost.redetect_widen:
            widened = valid_instance_size(base * factor, config.exemplar_size, stride)
            sizes.add(min(widened, max(lost.max_instance_size, base)))
    return sorted(sizes)


def _frame(box: tuple[int, int, int, int]) -> np.ndarray:
    img = np.full((480, 640, 3), 128, np.uint8)
    x, y, w, h = box
    img[y : y + h, x : x + w] = (0, 0, 255)
    return img


def test_the_tracker_can_choose_sizes_with_odd_extra_strides() -> None:
    """The point of the regression: re-detection widening produces sizes pysot's grid gets wrong."""
    sizes = tracker_instance_sizes(_config("point", 255), 16)
    assert 255 in sizes and 351 in sizes
    assert any(((s - 255) // 16) % 2 for s in sizes), sizes  # 527 = 351 * 1.5
    assert grid_shift(16, 16, 255, 127) == 0.0
    assert grid_shift(33, 16, 527, 127) == pytest.approx(-8.0)  # was 8 px off
    assert grid_shift(26, 8, 263, 127) == pytest.approx(4.0)  # pysot anchors: 4 px


@pytest.mark.parametrize("head", sorted(HEADS))
def test_decoded_box_is_on_target_at_every_search_size(head: str) -> None:
    spec = HEADS[head]
    sizes = sorted({*tracker_instance_sizes(_config(head, 255), spec["stride"]), 263, 271, 287})
    start, moved = (288, 208, 64, 64), (309, 195, 64, 64)
    for size in sizes:
        config = _config(head, size)
        model = GeometricModel(
            "anchor" if head == "anchor" else "point",
            spec["stride"],
            spec["base_size"],
            config.anchor,
        )
        tracker = Tracker(model, config)
        tracker.init(_frame(start), start)
        result = tracker.track(_frame(moved))
        assert result.response.shape[0] == (size - 127) // spec["stride"] + 1 + spec["base_size"]
        # the crop's own half-pixel conventions (pysot's) stay; a grid error would be >= 4 px
        np.testing.assert_allclose(result.box, moved, atol=1.0, err_msg=f"{head} size {size}")
        assert math.isfinite(result.score)
