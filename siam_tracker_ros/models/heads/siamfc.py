"""A SiamFC-style response-map head: plain cross-correlation to a one-channel score map.

SiamFC (Bertinetto et al. 2016) correlates the template feature map with the search feature map
summing over all channels, giving one similarity score per position, scaled by a small constant
(``out_scale`` = 0.001 in the reference PyTorch port) so the logits start in a sane range.

This is a building block, not a :class:`~siam_tracker_ros.models.base.SiameseModel` head type:
the tracker decodes only anchor and point heads. It is useful to inspect or supervise raw
template/search similarity (e.g. a SiamMargin-style correlation loss) or for SiamFC-style
experiments on top of any backbone of this package.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def xcorr_full(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Cross-correlate each search map ``(B, C, H, W)`` with its template ``(B|1, C, h, w)``,
    summing over channels: ``(B, 1, H - h + 1, W - w + 1)``."""
    batch, channels = x.shape[0], x.shape[1]
    if kernel.shape[1] != channels:
        raise ValueError(f"kernel has {kernel.shape[1]} channels, search features {channels}")
    if kernel.shape[0] == 1 and batch != 1:
        out = F.conv2d(x, kernel)  # one template shared by the whole batch
        return out
    if kernel.shape[0] != batch:
        raise ValueError(f"kernel batch {kernel.shape[0]} does not match search batch {batch}")
    out = F.conv2d(x.reshape(1, batch * channels, x.shape[2], x.shape[3]), kernel, groups=batch)
    return out.reshape(batch, 1, out.shape[2], out.shape[3])


class SiamFCHead(nn.Module):
    """``response = out_scale * xcorr(x, z) (+ bias)``: a ``(B, 1, N, N)`` similarity map."""

    def __init__(self, out_scale: float = 0.001, bias: bool = False) -> None:
        super().__init__()
        self.out_scale = out_scale
        self.bias = nn.Parameter(torch.zeros(1)) if bias else None

    def forward(self, z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        out = xcorr_full(x, z) * self.out_scale
        if self.bias is not None:
            out = out + self.bias
        return out
