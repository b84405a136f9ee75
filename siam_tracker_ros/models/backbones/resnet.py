"""pysot's atrous ResNet-50 (stride 8), parameter-for-parameter compatible with its checkpoints.

SiamRPN++ keeps the stride at 8 so the correlation map stays 25x25: ``layer3``/``layer4`` run
at stride 1 with dilation 2/4 instead of downsampling. Several details differ from torchvision's
ResNet and are all needed to reproduce pysot's feature maps (and its published checkpoints):
``conv1`` has no padding, a strided bottleneck's 3x3 conv uses padding 0, and the projection
shortcuts of ``layer2..4`` are 3x3 convs rather than 1x1.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class Bottleneck(nn.Module):
    """1x1 -> 3x3 -> 1x1 residual block with pysot's padding/dilation rules."""

    expansion = 4

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        dilation: int = 1,
    ) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        padding = 2 - stride  # a strided 3x3 conv is unpadded (pysot)
        if downsample is not None and dilation > 1:
            # first block of a dilated stage still sees the previous stage's dilation
            dilation //= 2
            padding = dilation
        if stride != 1 and dilation != 1:
            raise ValueError("a bottleneck cannot be both strided and dilated")
        if dilation > 1:
            padding = dilation
        self.conv2 = nn.Conv2d(
            planes,
            planes,
            kernel_size=3,
            stride=stride,
            padding=padding,
            bias=False,
            dilation=dilation,
        )
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        residual = x if self.downsample is None else self.downsample(x)
        return self.relu(out + residual)


class ResNetAtrous(nn.Module):
    """ResNet with dilated ``layer3``/``layer4``; returns the stages named in ``used_layers``.

    Stage indices follow pysot: 0 = stem (after ReLU, before max-pool), 1..4 = ``layer1..4``.
    """

    def __init__(self, layers: Sequence[int], used_layers: Sequence[int]) -> None:
        super().__init__()
        self.used_layers = list(used_layers)
        if not self.used_layers or any(i not in range(5) for i in self.used_layers):
            raise ValueError(f"used_layers must be a non-empty subset of 0..4, got {used_layers}")
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=0, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(64, layers[0])
        self.layer2 = self._make_layer(128, layers[1], stride=2)
        # pysot only builds the deep stages it needs; keep that so state dicts match exactly
        self.layer3 = (
            self._make_layer(256, layers[2], dilation=2) if max(self.used_layers) >= 3 else None
        )
        self.layer4 = (
            self._make_layer(512, layers[3], dilation=4) if max(self.used_layers) >= 4 else None
        )
        self.channels = [
            [64, 256, 512, 1024, 2048][i] for i in self.used_layers
        ]  # output channels, in used_layers order

    def _make_layer(
        self, planes: int, blocks: int, stride: int = 1, dilation: int = 1
    ) -> nn.Sequential:
        downsample: nn.Module | None = None
        out_planes = planes * Bottleneck.expansion
        if stride != 1 or self.inplanes != out_planes:
            if stride == 1 and dilation == 1:
                conv = nn.Conv2d(self.inplanes, out_planes, 1, stride=stride, bias=False)
            else:
                dd, padding = (dilation // 2, dilation // 2) if dilation > 1 else (1, 0)
                conv = nn.Conv2d(
                    self.inplanes,
                    out_planes,
                    kernel_size=3,
                    stride=stride,
                    padding=padding,
                    dilation=dd,
                    bias=False,
                )
            downsample = nn.Sequential(conv, nn.BatchNorm2d(out_planes))
        blocks_list: list[nn.Module] = [
            Bottleneck(self.inplanes, planes, stride, downsample, dilation=dilation)
        ]
        self.inplanes = out_planes
        blocks_list += [
            Bottleneck(self.inplanes, planes, dilation=dilation) for _ in range(1, blocks)
        ]
        return nn.Sequential(*blocks_list)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        stem = self.relu(self.bn1(self.conv1(x)))
        outs = [stem]
        y = self.layer1(self.maxpool(stem))
        outs.append(y)
        for layer in (self.layer2, self.layer3, self.layer4):
            if layer is None:
                break
            y = layer(y)
            outs.append(y)
        return [outs[i] for i in self.used_layers]


def resnet50(used_layers: Sequence[int] = (2, 3, 4)) -> ResNetAtrous:
    """pysot's ``resnet50`` backbone (3/4/6/3 bottlenecks)."""
    return ResNetAtrous([3, 4, 6, 3], used_layers)
