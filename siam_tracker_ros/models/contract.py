"""What a runtime and the tracker exchange about a network, without importing PyTorch.

A tracker started from cached ONNX graphs never builds the PyTorch model, so the types it holds
-- the template kernels, the search features and the description of how a classification kernel
is pooled from search features -- must not need torch to exist. The arrays inside are whatever
the backend works in (NumPy arrays for ONNX Runtime or OpenVINO on the CPU, torch tensors for
the PyTorch backends); the tracker only passes them back or blends them with
:mod:`siam_tracker_ros.runtime.arrays`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "DYNAMIC",
    "EXPORT_FORMAT",
    "SEARCH_AXIS",
    "SEARCH_INPUT",
    "TEMPLATE_INPUT",
    "Features",
    "GridPoolSpec",
    "Kernels",
    "cls_kernel_name",
    "feature_name",
    "kernel_names",
    "loc_kernel_name",
]

# -- the exported graphs' interface (models/export.py builds the graphs; runtimes run them)
#: bumped when the graph interface changes, so stale exports are refused, not misread
EXPORT_FORMAT = 1
#: key of the dynamic-size search graph in :attr:`ExportedModel.search_paths`
DYNAMIC = 0
TEMPLATE_INPUT = "template"
SEARCH_INPUT = "search"
SEARCH_AXIS = "search_size"


def cls_kernel_name(level: int) -> str:
    return f"cls_kernel_{level}"


def loc_kernel_name(level: int) -> str:
    return f"loc_kernel_{level}"


def feature_name(level: int) -> str:
    return f"feature_{level}"


def kernel_names(levels: int) -> list[str]:
    """Kernel inputs of the search graph, in order: cls levels, then loc levels."""
    return [cls_kernel_name(i) for i in range(levels)] + [loc_kernel_name(i) for i in range(levels)]


Features = list[Any]
"""Multi-level feature maps (one array per level; single-level models use a one-element list)."""


@dataclass
class Kernels:
    """Template-derived correlation kernels, one array per level.

    ``cls`` is what SiamMargin's online update averages; ``loc`` always stays the first-frame one.
    """

    cls: list[Any]
    loc: list[Any]


@dataclass(frozen=True)
class GridPoolSpec:
    """How a model pools the classification kernel of a box from search features, as plain data.

    The pooling :meth:`SiameseModel.pool_cls_kernel` does for NanoTrack-like models: template
    cell ``i`` of ``cells`` sits ``stride * i - (exemplar_size - 1) / 2`` exemplar pixels from
    the target centre, scaled by the template extent (``context_amount`` padding) into
    search-crop pixels; the search features are sampled there bilinearly (``align_corners``,
    zeros outside) and mapped by the affine kernel transform ``y = A @ x + b`` (``affine`` is
    ``None`` for the identity). A runtime executes it on host arrays
    (:class:`siam_tracker_ros.runtime.host_pool.HostPool`) after checking it against the model.
    """

    stride: int
    exemplar_size: int
    context_amount: float
    cells: int
    #: channels of the search features it pools from
    channels: int
    affine: tuple[np.ndarray, np.ndarray] | None

    def to_arrays(self) -> dict[str, np.ndarray]:
        """The spec as named arrays (``np.savez``), read back by :meth:`from_arrays`."""
        out = {
            "geometry": np.array(
                [self.stride, self.exemplar_size, self.context_amount, self.cells, self.channels],
                np.float64,
            )
        }
        if self.affine is not None:
            out["affine_a"], out["affine_b"] = self.affine
        return out

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> GridPoolSpec:
        stride, exemplar, context, cells, channels = (float(v) for v in arrays["geometry"])
        affine = None
        if "affine_a" in arrays:
            affine = (
                np.asarray(arrays["affine_a"], np.float32),
                np.asarray(arrays["affine_b"], np.float32),
            )
        return cls(int(stride), int(exemplar), context, int(cells), int(channels), affine)
