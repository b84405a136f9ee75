"""pysot's ``alexnetlegacy`` backbone (the one the ``siamrpn_alex_dwxcorr`` checkpoint uses).

Unpadded AlexNet with batch norm, ending without ReLU after the last conv. The module layout
(a single ``features`` ``nn.Sequential`` with max-pools and ReLUs at fixed indices) is kept so
the state-dict keys (``backbone.features.{0,1,4,5,8,9,11,12,14,15}.*``) equal pysot's.
"""

from __future__ import annotations

import torch
from torch import nn

_CONFIGS = (3, 96, 256, 384, 384, 256)


class AlexNetLegacy(nn.Module):
    """127 -> 6x6 and 287 -> 26x26 feature maps, stride 8, ``int(256 * width_mult)`` channels."""

    def __init__(self, width_mult: float = 1.0) -> None:
        super().__init__()
        c = [3] + [int(ch * width_mult) for ch in _CONFIGS[1:]]
        self.features = nn.Sequential(
            nn.Conv2d(c[0], c[1], kernel_size=11, stride=2),
            nn.BatchNorm2d(c[1]),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.ReLU(inplace=True),
            nn.Conv2d(c[1], c[2], kernel_size=5),
            nn.BatchNorm2d(c[2]),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.ReLU(inplace=True),
            nn.Conv2d(c[2], c[3], kernel_size=3),
            nn.BatchNorm2d(c[3]),
            nn.ReLU(inplace=True),
            nn.Conv2d(c[3], c[4], kernel_size=3),
            nn.BatchNorm2d(c[4]),
            nn.ReLU(inplace=True),
            nn.Conv2d(c[4], c[5], kernel_size=3),
            nn.BatchNorm2d(c[5]),
        )
        self.channels = [c[5]]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return [self.features(x)]
