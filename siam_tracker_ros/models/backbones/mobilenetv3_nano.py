"""NanoTrack's backbone: the first stages of a MobileNetV3-small, total stride 16.

The module layout (``features.<i>``, inside each block ``conv.<j>``) is the one of the widely used
``mobilenetv3.pytorch`` MobileNetV3 implementation that NanoTrack's checkpoints were trained from,
so ``pretrained_nanotrackv{1,2,3}.pth`` load with strict key checking:

* ``features.0``: 3x3 stride-2 stem conv + BN + hard-swish;
* ``features.1..``: inverted residual blocks. A block whose hidden width equals its input width
  (block 1) has no expansion conv: ``[dw, bn, act, se, pw, bn]``; all others are
  ``[pw, bn, act, dw, bn, se, act, pw, bn]``. ``se`` is squeeze-excite (``fc.0`` / ``fc.2``
  linear layers, hard-sigmoid gate) or an empty ``Identity`` where the block has none.

NanoTrack cuts the network after block 8 (v1/v2: 48 channels) or block 9 (v3: 96 channels) and
runs block 9 at stride 1 (MobileNetV3-small strides it by 2), so both variants keep stride 16: a
255 search crop gives 16x16 features and a 127 template 8x8. Feature cell ``i`` is centred on
crop pixel ``16 * i`` (every strided conv is padded by ``k // 2``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class BlockSpec:
    """One inverted residual block: kernel, hidden width, output width, SE, hard-swish, stride."""

    kernel: int
    hidden: int
    out: int
    se: bool
    hswish: bool
    stride: int


#: MobileNetV3-small blocks 1..9 as NanoTrack uses them (block 9 at stride 1, see module doc).
NANO_BLOCKS: tuple[BlockSpec, ...] = (
    BlockSpec(3, 16, 16, True, False, 2),
    BlockSpec(3, 72, 24, False, False, 2),
    BlockSpec(3, 88, 24, False, False, 1),
    BlockSpec(5, 96, 40, True, True, 2),
    BlockSpec(5, 240, 40, True, True, 1),
    BlockSpec(5, 240, 40, True, True, 1),
    BlockSpec(5, 120, 48, True, True, 1),
    BlockSpec(5, 144, 48, True, True, 1),
    BlockSpec(5, 288, 96, True, True, 1),
)

STEM_CHANNELS = 16


def _make_divisible(value: float, divisor: int = 8) -> int:
    """Round a channel count to a multiple of ``divisor`` (never down by more than 10%)."""
    new = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if new < 0.9 * value:
        new += divisor
    return new


class HardSigmoid(nn.Module):
    """``relu6(x + 3) / 6`` (the exact form the ONNX exports use)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.hardsigmoid(x)


class HardSwish(nn.Module):
    """``x * relu6(x + 3) / 6``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.hardswish(x)


class SqueezeExcite(nn.Module):
    """Channel gate: global average pool -> Linear -> ReLU -> Linear -> hard-sigmoid."""

    def __init__(self, channels: int, reduction: int = 4) -> None:
        super().__init__()
        hidden = _make_divisible(channels // reduction, 8)
        self.fc = nn.Sequential(
            nn.Linear(channels, hidden),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, channels),
            HardSigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate = self.fc(x.mean(dim=(2, 3)))
        return x * gate[:, :, None, None]


class InvertedResidual(nn.Module):
    """MobileNetV3 block; residual connection when stride 1 and width unchanged."""

    def __init__(self, inp: int, spec: BlockSpec) -> None:
        super().__init__()
        self.identity = spec.stride == 1 and inp == spec.out
        act: type[nn.Module] = HardSwish if spec.hswish else nn.ReLU
        pad = spec.kernel // 2
        se: nn.Module = SqueezeExcite(spec.hidden) if spec.se else nn.Identity()
        dw = nn.Conv2d(
            spec.hidden, spec.hidden, spec.kernel, spec.stride, pad, groups=spec.hidden, bias=False
        )
        layers: list[nn.Module]
        if inp == spec.hidden:
            layers = [dw, nn.BatchNorm2d(spec.hidden), act(), se]
        else:
            layers = [
                nn.Conv2d(inp, spec.hidden, 1, bias=False),
                nn.BatchNorm2d(spec.hidden),
                act(),
                dw,
                nn.BatchNorm2d(spec.hidden),
                se,
                act(),
            ]
        layers += [nn.Conv2d(spec.hidden, spec.out, 1, bias=False), nn.BatchNorm2d(spec.out)]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.conv(x)
        return x + out if self.identity else out


class MobileNetV3Nano(nn.Module):
    """MobileNetV3-small stem + blocks ``1..num_blocks`` (8 for NanoTrack v1/v2, 9 for v3)."""

    def __init__(self, num_blocks: int = 8) -> None:
        super().__init__()
        if not 1 <= num_blocks <= len(NANO_BLOCKS):
            raise ValueError(f"num_blocks must be in [1, {len(NANO_BLOCKS)}], got {num_blocks}")
        stem = nn.Sequential(
            nn.Conv2d(3, STEM_CHANNELS, 3, 2, 1, bias=False),
            nn.BatchNorm2d(STEM_CHANNELS),
            HardSwish(),
        )
        layers: list[nn.Module] = [stem]
        inp = STEM_CHANNELS
        for spec in NANO_BLOCKS[:num_blocks]:
            layers.append(InvertedResidual(inp, spec))
            inp = spec.out
        self.features = nn.Sequential(*layers)
        #: output channels (one level)
        self.channels = [inp]
        self.stride = 16

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.features(x)
        return out
