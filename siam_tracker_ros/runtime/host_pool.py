"""NanoTrack's online-update pooling in a handful of NumPy calls (CPU fast path).

Why this exists: SiamMargin's online update pools a new classification kernel from the search
features on every tracked frame. In PyTorch or as an ONNX graph that is a few dozen tiny operators
(the box-to-grid arithmetic, ``grid_sample``, a 1x1 convolution and batch norm), and on a small CPU
each costs microseconds of dispatch, more with cold caches right after the network ran: together
about a tenth of a NanoTrack step. The sampling grid of :meth:`NanoTrack.pool_cls_kernel` is
separable (a meshgrid of x and y positions), so bilinear sampling is two small matrix products,
and the kernel transform (1x1 conv + batch norm) folds into one affine map: a few microseconds.

It re-implements :meth:`NanoTrack.pool_cls_kernel`'s geometry, so :meth:`HostPool.for_model`
checks it against the model on several boxes (inside, straddling the border, outside) and
returns ``None`` -- the caller keeps the model's own pooling -- unless they agree to 1e-4 of the
kernel's range. A change to the model's pooling therefore can never make this path wrong, only
unused.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from threadpoolctl import ThreadpoolController
from torch import nn

from siam_tracker_ros.models.base import SiameseModel
from siam_tracker_ros.models.nanotrack import NanoTrack

__all__ = ["HostPool"]


def _fold_conv_bn(seq: nn.Module) -> tuple[np.ndarray, np.ndarray] | None:
    """``Sequential(Conv2d 1x1, BatchNorm2d)`` (eval) -> ``(A, b)`` with ``y = A @ x + b``."""
    if not isinstance(seq, nn.Sequential) or len(seq) != 2:
        return None
    conv, bn = seq[0], seq[1]
    if not isinstance(conv, nn.Conv2d) or not isinstance(bn, nn.BatchNorm2d):
        return None
    if conv.kernel_size != (1, 1) or conv.groups != 1 or bn.running_var is None:
        return None
    with torch.no_grad():
        weight = conv.weight.detach().double()[:, :, 0, 0]
        bias = (
            conv.bias.detach().double()
            if conv.bias is not None
            else torch.zeros(weight.shape[0], dtype=torch.float64)
        )
        assert bn.running_mean is not None
        scale = bn.weight.detach().double() / torch.sqrt(bn.running_var.double() + bn.eps)
        a = scale[:, None] * weight
        b = scale * (bias - bn.running_mean.double()) + bn.bias.detach().double()
    return a.float().numpy(), b.float().numpy()


_BLAS: ThreadpoolController | None = None


def _one_blas_thread() -> Any:
    """Context limiting NumPy's BLAS to one thread (threadpoolctl; the controller, which scans
    the loaded libraries, is built once)."""
    global _BLAS
    if _BLAS is None:
        _BLAS = ThreadpoolController()
    return _BLAS.limit(limits=1, user_api="blas")


#: :func:`_kernel_affine`'s answer for a kernel transform it cannot fold
_UNSUPPORTED = (np.zeros(0, np.float32), np.zeros(0, np.float32))


def _kernel_affine(model: NanoTrack) -> tuple[np.ndarray, np.ndarray] | None:
    """The cls kernel transform of a NanoTrack head as one affine map ``y = A @ x + b`` (``None``
    = identity), or :data:`_UNSUPPORTED`.

    v1/v2: the pixel-wise branch's 1x1 conv + batch norm (or nothing, without adapters). v3
    stacks the depth-wise branch's own 1x1 conv + batch norm on the pixel-wise kernel along the
    channels (``BANHead.branch_kernel``), so its map is the two maps stacked row-wise."""
    head = model.ban_head
    pw = head.pixelwise("cls")
    maps: list[tuple[np.ndarray, np.ndarray] | None] = []
    if pw.adapt:
        maps.append(_fold_conv_bn(pw.conv_kernel))
    elif head.spec.depthwise:  # an identity block, so the depth-wise rows can stack under it
        c = head.spec.in_channels
        maps.append((np.eye(c, dtype=np.float32), np.zeros(c, np.float32)))
    if head.spec.depthwise:
        maps.append(_fold_conv_bn(head.depthwise("cls").conv_kernel))
    folded = [m for m in maps if m is not None]
    if len(folded) < len(maps):
        return _UNSUPPORTED
    if not folded:
        return None
    return np.concatenate([a for a, _ in folded]), np.concatenate([b for _, b in folded])


class HostPool:
    """``pool_cls_kernel`` of a NanoTrack v1/v2/v3 model on NumPy arrays (batch 1).

    Build with :meth:`for_model`, which verifies it against the model.
    """

    def __init__(
        self,
        stride: int,
        exemplar_size: int,
        context_amount: float,
        cells: int,
        affine: tuple[np.ndarray, np.ndarray] | None,
    ) -> None:
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
        """A verified host pooling for ``model``, or ``None`` if it is not a model it covers.

        ``verified``: the outcome of an earlier verification for these very weights and this
        code (the export cache keeps it; the check costs ~0.2 s of a cold start); ``None``:
        verify now."""
        if verified is False:
            return None
        if not isinstance(model, NanoTrack):
            return None
        spec = model.ban_head.spec
        affine = _kernel_affine(model)
        if affine is _UNSUPPORTED:
            return None
        pool = cls(
            model.stride,
            model.config.exemplar_size,
            model.config.context_amount,
            model.template_feat,
            affine,
        )
        if verified:
            return pool
        return pool if pool._agrees_with(model, spec.in_channels) else None

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

    def _agrees_with(self, model: SiameseModel, channels: int, rtol: float = 1e-4) -> bool:
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
