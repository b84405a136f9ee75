"""pysot's depthwise-correlation RPN heads (``DepthwiseRPN``, ``MultiRPN``), split into steps.

pysot runs the whole head per frame. Here each :class:`DepthwiseXCorr` exposes the three stages
separately -- the template conv (``make_kernel``), the search conv + depthwise correlation
(``correlate``) and the 1x1 prediction convs (``predict``) -- so the tracker computes the
template kernels once per target and SiamMargin can average the classification kernels, while
``forward`` still equals pysot's for training and for checking against it. Module names
(``cls``/``loc``, ``conv_kernel``/``conv_search``/``head``, ``rpn2..``, ``cls_weight``/
``loc_weight``) follow pysot so checkpoints load unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn


def match_kernel(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Check a correlation kernel against search features ``x`` and broadcast a single template
    kernel ``(1, C, h, w)`` over the search batch; clear errors for mismatched channels/batch."""
    batch, channels = x.shape[0], x.shape[1]
    if kernel.shape[1] != channels:
        raise ValueError(f"kernel has {kernel.shape[1]} channels, search features {channels}")
    if kernel.shape[0] != batch:
        if kernel.shape[0] != 1:
            raise ValueError(f"kernel batch {kernel.shape[0]} does not match search batch {batch}")
        kernel = kernel.expand(batch, -1, -1, -1)
    return kernel


def xcorr_depthwise(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Channel-by-channel cross-correlation (no padding) of ``x`` with ``kernel``.

    ``x`` is ``(B, C, H, W)``; ``kernel`` is ``(B, C, h, w)`` or ``(1, C, h, w)`` (one template
    shared by all search crops). Returns ``(B, C, H - h + 1, W - w + 1)``. Implemented as one
    grouped convolution over the batch-folded channels, as pysot does.
    """
    batch, channels = x.shape[0], x.shape[1]
    kernel = match_kernel(x, kernel)
    out = F.conv2d(
        x.reshape(1, batch * channels, x.shape[2], x.shape[3]),
        kernel.reshape(batch * channels, 1, kernel.shape[2], kernel.shape[3]),
        groups=batch * channels,
    )
    return out.reshape(batch, channels, out.shape[2], out.shape[3])


def _conv_bn_relu(in_channels: int, out_channels: int, kernel_size: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size=kernel_size, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class DepthwiseXCorr(nn.Module):
    """3x3 conv+BN+ReLU on template and search, depthwise xcorr, 1x1 conv+BN+ReLU, final 1x1."""

    def __init__(
        self, in_channels: int, hidden: int, out_channels: int, kernel_size: int = 3
    ) -> None:
        super().__init__()
        self.conv_kernel = _conv_bn_relu(in_channels, hidden, kernel_size)
        self.conv_search = _conv_bn_relu(in_channels, hidden, kernel_size)
        self.head = nn.Sequential(
            nn.Conv2d(hidden, hidden, kernel_size=1, bias=False),
            nn.BatchNorm2d(hidden),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, out_channels, kernel_size=1),
        )

    def make_kernel(self, z: torch.Tensor) -> torch.Tensor:
        """Template features -> correlation kernel (cacheable per target)."""
        out: torch.Tensor = self.conv_kernel(z)
        return out

    def correlate(self, x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
        """Search features -> correlation map with a precomputed kernel."""
        return xcorr_depthwise(self.conv_search(x), kernel)

    def predict(self, corr: torch.Tensor) -> torch.Tensor:
        """Correlation map -> output channels."""
        out: torch.Tensor = self.head(corr)
        return out

    def forward(self, z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return self.predict(self.correlate(x, self.make_kernel(z)))


class DepthwiseRPN(nn.Module):
    """One level: a ``cls`` branch (2A channels) and a ``loc`` branch (4A channels)."""

    def __init__(self, anchor_num: int = 5, in_channels: int = 256, out_channels: int = 256):
        super().__init__()
        self.cls = DepthwiseXCorr(in_channels, out_channels, 2 * anchor_num)
        self.loc = DepthwiseXCorr(in_channels, out_channels, 4 * anchor_num)

    @property
    def branches(self) -> list[DepthwiseRPN]:
        """The per-level RPNs (just this one)."""
        return [self]

    def combine(
        self, cls: Sequence[torch.Tensor], loc: Sequence[torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Merge per-level outputs (single level: unchanged)."""
        if len(cls) != 1 or len(loc) != 1:
            raise ValueError(f"DepthwiseRPN has one level, got {len(cls)}")
        return cls[0], loc[0]

    def forward(
        self, z_fs: Sequence[torch.Tensor], x_fs: Sequence[torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return self.combine([self.cls(z_fs[0], x_fs[0])], [self.loc(z_fs[0], x_fs[0])])


class MultiRPN(nn.Module):
    """One :class:`DepthwiseRPN` per level (``rpn2..``), fused by a (learnt) weighted average.

    With ``weighted`` the fusion weights are ``softmax(cls_weight)`` / ``softmax(loc_weight)``;
    otherwise the plain mean. The summation order copies pysot's so outputs agree to rounding.
    """

    def __init__(self, anchor_num: int, in_channels: Sequence[int], weighted: bool = False):
        super().__init__()
        if not in_channels:
            raise ValueError("MultiRPN needs at least one level")
        self.weighted = weighted
        self.num_levels = len(in_channels)
        for i, ch in enumerate(in_channels):
            self.add_module(f"rpn{i + 2}", DepthwiseRPN(anchor_num, ch, ch))
        if weighted:
            self.cls_weight = nn.Parameter(torch.ones(len(in_channels)))
            self.loc_weight = nn.Parameter(torch.ones(len(in_channels)))

    @property
    def branches(self) -> list[DepthwiseRPN]:
        """The per-level RPNs, in level order."""
        return [getattr(self, f"rpn{i + 2}") for i in range(self.num_levels)]

    def combine(
        self, cls: Sequence[torch.Tensor], loc: Sequence[torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Fuse the per-level cls/loc maps."""
        if len(cls) != self.num_levels or len(loc) != self.num_levels:
            raise ValueError(f"MultiRPN has {self.num_levels} levels, got {len(cls)}")
        if self.weighted:
            return (
                _weighted_sum(cls, F.softmax(self.cls_weight, 0)),
                _weighted_sum(loc, F.softmax(self.loc_weight, 0)),
            )
        return _mean(cls), _mean(loc)

    def forward(
        self, z_fs: Sequence[torch.Tensor], x_fs: Sequence[torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        outs = [rpn(z, x) for rpn, z, x in zip(self.branches, z_fs, x_fs, strict=True)]
        return self.combine([c for c, _ in outs], [lo for _, lo in outs])


def _weighted_sum(maps: Sequence[torch.Tensor], weight: torch.Tensor) -> torch.Tensor:
    out = maps[0] * weight[0]
    for i in range(1, len(maps)):
        out = out + maps[i] * weight[i]
    return out


def _mean(maps: Sequence[torch.Tensor]) -> torch.Tensor:
    out = maps[0]
    for m in maps[1:]:
        out = out + m
    return out / len(maps)
