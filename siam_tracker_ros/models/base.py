"""The contract every Siamese model family implements, so one ``Tracker`` serves them all.

The split follows pysot (backbone -> neck -> head) but the tracker talks to the model through the
few steps it needs, which lets it cache the template kernels once per target and lets the online
template update replace only the classification kernels.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from siam_tracker_ros.models.contract import Features, GridPoolSpec, Kernels

__all__ = ["Features", "GridPoolSpec", "HeadOutput", "Kernels", "SiameseModel"]


@dataclass
class HeadOutput:
    """Raw head outputs for a batch of search crops.

    Anchor heads (``head_type == "anchor"``): cls ``(B, 2A, N, N)`` with background logits in
    channels ``0..A-1`` and foreground in ``A..2A-1``; loc ``(B, 4A, N, N)`` as dx/dy/dw/dh groups.
    Point heads (``head_type == "point"``): cls ``(B, 2, N, N)`` (channel 1 = foreground logit);
    loc ``(B, 4, N, N)`` as left/top/right/bottom distances in search-crop pixels.
    """

    cls: torch.Tensor
    loc: torch.Tensor
    #: per-level correlation maps (after the cross-correlation, before the head convs), kept for
    #: SiamMargin's margin supervision during training; ``None`` at inference if not needed.
    corr: list[torch.Tensor] | None = None


class SiameseModel(nn.Module, abc.ABC):
    """A Siamese tracker network. Subclasses are registered in ``models.registry``."""

    #: total stride of the correlation map in search-crop pixels
    stride: int
    #: how the tracker decodes :class:`HeadOutput`
    head_type: Literal["anchor", "point"]

    @abc.abstractmethod
    def template_features(self, z: torch.Tensor) -> Features:
        """Backbone + neck on template crops ``(B, 3, 127, 127)`` (raw BGR 0..255 float)."""

    @abc.abstractmethod
    def search_features(self, x: torch.Tensor) -> Features:
        """Backbone + neck on search crops ``(B, 3, S, S)``."""

    @abc.abstractmethod
    def make_kernels(self, zf: Features) -> Kernels:
        """Turn template features into the correlation kernels the head uses."""

    @abc.abstractmethod
    def head(self, xf: Features, kernels: Kernels) -> HeadOutput:
        """Correlate search features with kernels and predict cls/loc maps."""

    @abc.abstractmethod
    def pool_cls_kernel(self, xf: Features, roi: torch.Tensor) -> list[torch.Tensor]:
        """Classification kernels of the target seen in a search crop (SiamMargin online update).

        ``roi`` is ``(4,)`` ``x1, y1, x2, y2`` in search-crop pixels. Pools each level of ``xf`` at
        the roi with a bilinear grid (RoIAlign-like, ``align_corners=True``) to the template
        feature size and applies the same transform ``make_kernels`` applies to the
        classification branch, returning tensors shaped like ``make_kernels(...).cls``.
        """

    def grid_pool_spec(self) -> GridPoolSpec | None:
        """:meth:`pool_cls_kernel` as plain data, when it is a separable grid sampling followed
        by an affine map (a runtime then pools on host arrays, without this module; it checks
        the spec against :meth:`pool_cls_kernel` first). ``None``: pool with the model."""
        return None

    def forward(self, z: torch.Tensor, x: torch.Tensor) -> HeadOutput:
        """Training forward: template and search crops to head outputs."""
        return self.head(self.search_features(x), self.make_kernels(self.template_features(z)))
