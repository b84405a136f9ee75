"""pysot's MobileNetV2 backbone (dilated, stride 8), compatible with its checkpoints.

Differs from torchvision's MobileNetV2: the stem conv and every strided depthwise conv are
unpadded, stages 4..7 keep stride 1 and dilate instead (dilation 2, 2, 4, 4), the first stage
keeps its 1x1 expansion conv even with expand ratio 1, and there is no final 1x1 conv. Stages
are modules ``layer0..layer7`` so the state-dict keys equal pysot's.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

# expand ratio t, channels c, repeats n, stride s, dilation d  (pysot's setting)
_SETTING: tuple[tuple[int, int, int, int, int], ...] = (
    (1, 16, 1, 1, 1),
    (6, 24, 2, 2, 1),
    (6, 32, 3, 2, 1),
    (6, 64, 4, 1, 2),
    (6, 96, 3, 1, 2),
    (6, 160, 3, 1, 4),
    (6, 320, 1, 1, 4),
)


def _conv_bn(inp: int, oup: int, stride: int, padding: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(inp, oup, 3, stride, padding, bias=False),
        nn.BatchNorm2d(oup),
        nn.ReLU6(inplace=True),
    )


class InvertedResidual(nn.Module):
    """Expand (1x1) -> depthwise 3x3 -> project (1x1), residual when shapes allow."""

    def __init__(self, inp: int, oup: int, stride: int, expand_ratio: int, dilation: int = 1):
        super().__init__()
        self.use_res_connect = stride == 1 and inp == oup
        padding = dilation if dilation > 1 else 2 - stride
        hidden = inp * expand_ratio
        self.conv = nn.Sequential(
            nn.Conv2d(inp, hidden, 1, 1, 0, bias=False),
            nn.BatchNorm2d(hidden),
            nn.ReLU6(inplace=True),
            nn.Conv2d(
                hidden,
                hidden,
                3,
                stride,
                padding,
                dilation=dilation,
                groups=hidden,
                bias=False,
            ),
            nn.BatchNorm2d(hidden),
            nn.ReLU6(inplace=True),
            nn.Conv2d(hidden, oup, 1, 1, 0, bias=False),
            nn.BatchNorm2d(oup),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


class MobileNetV2(nn.Module):
    """Returns the outputs of the stages in ``used_layers`` (0 = stem, 1..7 = blocks)."""

    def __init__(self, width_mult: float = 1.0, used_layers: Sequence[int] = (3, 5, 7)) -> None:
        super().__init__()
        self.used_layers = list(used_layers)
        if not self.used_layers or any(i not in range(8) for i in self.used_layers):
            raise ValueError(f"used_layers must be a non-empty subset of 0..7, got {used_layers}")
        input_channel = int(32 * width_mult)
        stage_channels = [input_channel]
        self.layer0 = _conv_bn(3, input_channel, 2, 0)
        last_dilation = 1
        for idx, (t, c, n, s, d) in enumerate(_SETTING, start=1):
            output_channel = int(c * width_mult)
            blocks: list[nn.Module] = []
            for i in range(n):
                if i == 0:
                    dd = d if d == last_dilation else max(d // 2, 1)
                    blocks.append(InvertedResidual(input_channel, output_channel, s, t, dd))
                else:
                    blocks.append(InvertedResidual(input_channel, output_channel, 1, t, d))
                input_channel = output_channel
            last_dilation = d
            self.add_module(f"layer{idx}", nn.Sequential(*blocks))
            stage_channels.append(output_channel)
        self.channels = [stage_channels[i] for i in self.used_layers]
        self._last = max(self.used_layers)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outs: list[torch.Tensor] = []
        for idx in range(self._last + 1):
            x = getattr(self, f"layer{idx}")(x)
            outs.append(x)
        return [outs[i] for i in self.used_layers]
