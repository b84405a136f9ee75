"""Pooling a classification kernel from search features in a handful of NumPy calls (CPU fast
path of SiamMargin's online update and the appearance cue).

Why this exists: the online update pools a new classification kernel from the search features on
every tracked frame. In PyTorch or as an ONNX graph that is a few dozen tiny operators (the
box-to-grid arithmetic, ``grid_sample``, a 1x1 convolution and batch norm), and on a small CPU
each costs microseconds of dispatch, more with cold caches right after the network ran: together
about a tenth of a NanoTrack step. A model whose pooling is a separable sampling grid plus an
affine kernel transform describes it as a :class:`~siam_tracker_ros.models.contract.GridPoolSpec`
(:meth:`SiameseModel.grid_pool_spec`); here bilinear sampling is two small matrix products and
the transform one more: a few microseconds, and no PyTorch at all.

The runtime knows no model family: it executes the spec. :meth:`HostPool.for_model` checks the
spec against the model's own ``pool_cls_kernel`` on several boxes (inside, straddling the border,
outside) and returns ``None`` -- the caller keeps the model's own pooling -- unless they agree to
1e-4 of the kernel's range, so a change to a model's pooling can never make this path wrong, only
unused. The export cache keeps the verified spec, so a cached start needs neither the check nor
the model.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
from threadpoolctl import ThreadpoolController

from siam_tracker_ros.models.contract import GridPoolSpec

if TYPE_CHECKING:
    from siam_tracker_ros.models.base import SiameseModel

__all__ = ["HostPool"]

_BLAS: ThreadpoolController | None = None


def _one_blas_thread() -> Any:
    """Context limiting NumPy's BLAS to one thread (threadpoolctl; the controller, which scans
    the loaded libraries, is built once)."""
    global _BLAS
    if _BLAS is None:
        _BLAS = ThreadpoolController()
    return _BLAS.limit(limits=1, user_api="blas")


class HostPool:
    """A :class:`GridPoolSpec` executed on NumPy arrays (batch 1).

    Build with :meth:`for_model`, which verifies the spec against the model, or from a spec
    verified earlier (the export cache keeps it).
    """

    def __init__(self, spec: GridPoolSpec) -> None:
        self.spec = spec
        stride, exemplar_size, cells, affine = (
            spec.stride,
            spec.exemplar_size,
            spec.cells,
            spec.affine,
        )
        context_amount = spec.context_amount
        self.stride = float(stride)
        self.exemplar_size = float(exemplar_size)
        self.context_amount = float(context_amount)
        #: template cell offsets from the target centre in exemplar pixels
        self._offsets = stride * np.arange(cells, dtype=np.float64) - (exemplar_size - 1) / 2.0
        self._affine = (affine[0], affine[1][:, None].copy()) if affine is not None else None
        self._cells = cells
        self._offsets_xy = np.concatenate([self._offsets, self._offsets]).astype(np.float32)
        #: (2n, 2): adds the centre's x to the first n positions and its y to the others
        self._centre_mask = np.repeat(np.eye(2, dtype=np.float32), cells, axis=0)
        self._grids: dict[int, np.ndarray] = {}

    @classmethod
    def for_model(cls, model: SiameseModel, verified: bool | None = None) -> HostPool | None:
        """A verified host pooling for ``model``, or ``None`` if the model describes no grid
        pooling (or its description disagrees with its own ``pool_cls_kernel``).

        ``verified``: the outcome of an earlier verification for these very weights and this
        code (the export cache keeps it; the check costs ~0.2 s of a cold start); ``None``:
        verify now."""
        if verified is False:
            return None
        spec = model.grid_pool_spec()
        if spec is None:
            return None
        pool = cls(spec)
        if verified:
            return pool
        return pool if pool._agrees_with(model) else None

    def __call__(self, feature: np.ndarray, roi: np.ndarray) -> np.ndarray:
        """``feature`` ``(1, C, S, S)`` float32, ``roi`` ``x1, y1, x2, y2`` -> ``(1, C, n, n)``.

        Written for few NumPy calls: each costs microseconds with the caches cold after the
        network ran, so the call count, not the arithmetic, is the cost. The GEMMs run on one
        BLAS thread: NumPy's OpenBLAS splits even these tiny products over every core, and when
        another process holds a core (a robot's camera driver, the rest of ROS) each product
        waits for a descheduled worker: 3.5 ms instead of 0.05 ms for the affine map on this
        2-core VM under load (2026-12-04), more than the whole pooling should cost.
        """
        with _one_blas_thread():
            return self._pool(feature, roi)

    def _pool(self, feature: np.ndarray, roi: np.ndarray) -> np.ndarray:
        x1, y1, x2, y2 = roi.tolist()
        w = max(x2 - x1, 1.0)
        h = max(y2 - y1, 1.0)
        pad = self.context_amount * (w + h)
        span = math.sqrt((w + pad) * (h + pad)) / self.exemplar_size
        channels, side = feature.shape[1], feature.shape[3]
        if feature.shape[2] != side:
            raise ValueError(f"square feature maps expected, got {feature.shape}")
        n = self._cells
        # sample positions in feature cells: n x positions, then n y positions
        pos = self._offsets_xy * (span / self.stride)
        centre = ((x1 + x2) / (2 * self.stride), (y1 + y2) / (2 * self.stride))
        pos += self._centre_mask @ np.array(centre, np.float32)
        # bilinear weights as a hat function of the distance to each cell: exactly the two
        # taps of grid_sample, and taps outside the map simply do not exist (zeros padding)
        weights = np.abs(np.subtract.outer(pos, self._grid(side)))
        np.subtract(1.0, weights, out=weights)
        np.maximum(weights, 0.0, out=weights)
        # columns: (C*S, S) @ (S, n); rows: (n, S) @ (S, C*n); three GEMMs with the affine map
        cols = feature.reshape(channels * side, side) @ weights[:n].T
        cols = cols.reshape(channels, side, n).transpose(1, 0, 2).reshape(side, channels * n)
        pooled = (weights[n:] @ cols).reshape(n, channels, n).transpose(1, 0, 2)
        pooled = pooled.reshape(channels, n * n)
        if self._affine is not None:
            a, b = self._affine
            pooled = a @ pooled
            pooled += b
        out: np.ndarray = pooled.reshape(1, pooled.shape[0], n, n)
        return out

    def _grid(self, side: int) -> np.ndarray:
        if side not in self._grids:
            self._grids[side] = np.arange(side, dtype=np.float32)
        return self._grids[side]

    def _agrees_with(self, model: SiameseModel, rtol: float = 1e-4) -> bool:
        import torch

        channels = self.spec.channels
        gen = torch.Generator().manual_seed(11)
        device = next(model.parameters()).device
        for side in (16, 22):
            feat = torch.randn((1, channels, side, side), generator=gen)
            full = side * self.stride
            for box in (
                (0.40, 0.35, 0.62, 0.60),
                (0.10, 0.55, 0.30, 0.95),
                (-0.20, -0.10, 0.15, 0.20),
                (0.85, 0.80, 1.30, 1.10),
                (0.50, 0.50, 0.5001, 0.5001),
            ):
                roi = torch.tensor(box, dtype=torch.float32) * full
                with torch.inference_mode():
                    ref = model.pool_cls_kernel([feat.to(device)], roi.to(device))[0]
                ref_np = ref.float().cpu().numpy()
                got = self(feat.numpy(), roi.numpy())
                scale = max(float(np.abs(ref_np).max()), 1e-6)
                if got.shape != ref_np.shape or float(np.abs(got - ref_np).max()) > rtol * scale:
                    return False
        return True
