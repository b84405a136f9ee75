"""pysot's adjust necks: project each backbone level to the head's width.

The centre crop of small (template) feature maps to ``center_size`` (7x7) is what SiamRPN++
uses to keep the padding-contaminated border of the template features out of the correlation
kernel; search feature maps (>= 20 wide) are never cropped. Module names (``downsample``,
``downsample2..4``) follow pysot so checkpoints load unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

#: feature maps narrower than this are template maps and get centre-cropped (pysot's rule)
CROP_BELOW_WIDTH = 20


class AdjustLayer(nn.Module):
    """1x1 conv (no bias) + BN, then the template centre crop."""

    def __init__(self, in_channels: int, out_channels: int, center_size: int = 7) -> None:
        super().__init__()
        self.downsample = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, kernel_size=1, bias=False),
            nn.BatchNorm2d(out_channels),
        )
        self.center_size = center_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.downsample(x)
        if x.size(3) < CROP_BELOW_WIDTH:
            left = (x.size(3) - self.center_size) // 2
            right = left + self.center_size
            x = x[:, :, left:right, left:right]
        return x


class AdjustAllLayer(nn.Module):
    """One :class:`AdjustLayer` per level (``downsample2..``), or a single ``downsample``."""

    def __init__(
        self, in_channels: Sequence[int], out_channels: Sequence[int], center_size: int = 7
    ) -> None:
        super().__init__()
        if len(in_channels) != len(out_channels) or not in_channels:
            raise ValueError(
                f"neck in_channels {list(in_channels)} and out_channels {list(out_channels)} "
                "must be non-empty and of equal length"
            )
        self.num = len(out_channels)
        self.center_size = center_size
        self.out_channels = list(out_channels)
        if self.num == 1:
            self.downsample = AdjustLayer(in_channels[0], out_channels[0], center_size)
        else:
            for i in range(self.num):
                self.add_module(
                    f"downsample{i + 2}",
                    AdjustLayer(in_channels[i], out_channels[i], center_size),
                )

    def forward(self, features: list[torch.Tensor]) -> list[torch.Tensor]:
        if len(features) != self.num:
            raise ValueError(f"neck expects {self.num} feature levels, got {len(features)}")
        if self.num == 1:
            return [self.downsample(features[0])]
        return [getattr(self, f"downsample{i + 2}")(f) for i, f in enumerate(features)]
