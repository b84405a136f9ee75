"""The export contract of a :class:`SiameseModel`: the two inference branches as modules, and the
names of their inputs and outputs. :mod:`siam_tracker_ros.runtime.onnx_export` writes them to ONNX
and ONNX Runtime runs them; this module says *what* the graphs compute, not how they are run.

Why two graphs and not one: the tracker computes the template kernels once per target and reuses
them on every frame, so the per-frame work is only the *search* branch. Exporting

* ``template``: template crop ``(1, 3, Z, Z)`` -> the kernels (``cls_kernel_<i>``, then
  ``loc_kernel_<i>``, one per feature level), and
* ``search``: search crop ``(1, 3, S, S)`` + those kernels -> ``cls``, ``loc`` and the search
  features ``feature_<i>`` (what SiamMargin's online update pools the new template from),

keeps the kernels an *input* of the per-frame graph: the online update swaps the classification
kernels without re-exporting anything, and a frame is one ONNX Runtime call (backbone, correlation
and head fused, so the runtime plans across them).

Depth-wise correlation (SiamRPN++, NanoTrack v3) is a grouped convolution whose weight is a graph
input, which the TorchScript exporter only accepts with a static weight shape;
:func:`traceable_ops` supplies that while tracing.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import nn

from siam_tracker_ros.models.base import Kernels, SiameseModel
from siam_tracker_ros.models.contract import (
    DYNAMIC,
    EXPORT_FORMAT,
    SEARCH_AXIS,
    SEARCH_INPUT,
    TEMPLATE_INPUT,
    cls_kernel_name,
    feature_name,
    kernel_names,
    loc_kernel_name,
)
from siam_tracker_ros.models.heads import rpn

__all__ = [
    "DYNAMIC",
    "EXPORT_FORMAT",
    "SEARCH_AXIS",
    "SEARCH_INPUT",
    "TEMPLATE_INPUT",
    "SearchBranch",
    "TemplateBranch",
    "cls_kernel_name",
    "example_crop",
    "feature_name",
    "kernel_names",
    "loc_kernel_name",
    "traceable_ops",
]


class TemplateBranch(nn.Module):
    """Template crop -> flat tuple of kernels (cls levels, then loc levels)."""

    def __init__(self, model: SiameseModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, ...]:
        kernels = self.model.make_kernels(self.model.template_features(z))
        return (*kernels.cls, *kernels.loc)


class SearchBranch(nn.Module):
    """Search crop + kernels -> cls, loc and the search features (for the online update)."""

    def __init__(self, model: SiameseModel, levels: int) -> None:
        super().__init__()
        self.model = model
        self.levels = levels

    def forward(self, x: torch.Tensor, *kernels: torch.Tensor) -> tuple[torch.Tensor, ...]:
        xf = self.model.search_features(x)
        kern = Kernels(cls=list(kernels[: self.levels]), loc=list(kernels[self.levels :]))
        out = self.model.head(xf, kern)
        return (out.cls, out.loc, *xf)


def example_crop(size: int, seed: int) -> torch.Tensor:
    """A deterministic image-like (0..255) crop ``(1, 3, size, size)`` to trace and compare."""
    gen = torch.Generator().manual_seed(seed)
    return torch.rand((1, 3, size, size), generator=gen) * 255.0


def _xcorr_depthwise_traceable(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """``heads.rpn.xcorr_depthwise`` with the kernel's shape as constants (same result).

    The TorchScript exporter records every ``tensor.shape`` read as a graph value, so the eager
    version's ``kernel.reshape(B * C, 1, h, w)`` gets a computed shape, and ONNX's grouped
    ``Conv`` cannot take a weight of unknown shape. The kernel's shape is fixed by the template
    size, so reading it as Python ints (``int(...)``, which the tracer records as constants) is
    exact; only the search size stays dynamic.
    """
    batch, channels = int(x.shape[0]), int(x.shape[1])
    kb, kc, kh, kw = (int(v) for v in kernel.shape)
    if kc != channels or kb not in (1, batch):
        raise ValueError(f"kernel {tuple(kernel.shape)} does not fit search features {x.shape}")
    if batch != 1:
        kernel = kernel.expand(batch, channels, kh, kw)
        x = x.reshape(1, batch * channels, x.shape[2], x.shape[3])
    out = F.conv2d(x, kernel.reshape(batch * channels, 1, kh, kw), groups=batch * channels)
    return out if batch == 1 else out.reshape(batch, channels, out.shape[2], out.shape[3])


@contextlib.contextmanager
def traceable_ops() -> Iterator[None]:
    """Swap in :func:`_xcorr_depthwise_traceable` wherever the models reference the eager one."""
    original = rpn.xcorr_depthwise
    patched = [
        mod
        for name, mod in list(sys.modules.items())
        if name.startswith("siam_tracker_ros.models")
        and getattr(mod, "xcorr_depthwise", None) is original
    ]
    for mod in patched:
        mod.xcorr_depthwise = _xcorr_depthwise_traceable  # type: ignore[attr-defined]
    try:
        yield
    finally:
        for mod in patched:
            mod.xcorr_depthwise = original  # type: ignore[attr-defined]
