"""Arithmetic on kernels whatever array type the backend holds them in (NumPy or torch).

The online template update blends classification kernels every tracked frame. The PyTorch
backends hold them as torch tensors (on the GPU too), the exported-graph backends as NumPy arrays
so that a cached start never imports torch. Both must compute the same numbers: the NumPy path
reproduces ``torch.lerp`` bit for bit on float32 (PyTorch's CPU kernel computes
``fma(coeff, end - start, base)`` with ``coeff, base = (w, start)`` for ``|w| < 0.5`` and
``(w - 1, end)`` otherwise; the product of two float32 values is exact in float64, so the fused
multiply-add is the float64 sum rounded once to float32).
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

__all__ = ["clone", "lerp", "lerp_", "to_numpy"]


def _is_torch(x: Any) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


def to_numpy(x: Any) -> np.ndarray:
    """A float32 host array of ``x`` (a view for CPU arrays and tensors)."""
    if _is_torch(x):
        return x.detach().float().cpu().numpy()  # type: ignore[no-any-return]
    return np.asarray(x, dtype=np.float32)


def clone(x: Any) -> Any:
    """A float32 copy of ``x`` in its own array type."""
    if _is_torch(x):
        return x.float().clone()
    return np.array(x, dtype=np.float32, copy=True)


def _np_lerp(start: np.ndarray, end: np.ndarray, weight: float) -> np.ndarray:
    w = np.float32(weight)
    diff = end.astype(np.float32, copy=False) - start
    if abs(float(w)) < 0.5:
        coeff, base = w, start
    else:
        coeff, base = np.float32(w - np.float32(1.0)), end.astype(np.float32, copy=False)
    fused = np.float64(coeff) * diff.astype(np.float64) + base.astype(np.float64)
    return fused.astype(np.float32)


def lerp_(start: Any, end: Any, weight: float) -> Any:
    """``start += weight * (end - start)`` in place (``torch.Tensor.lerp_``); returns ``start``."""
    if _is_torch(start):
        return start.lerp_(end.to(start.dtype), weight)
    start[...] = _np_lerp(start, np.asarray(end), weight)
    return start


def lerp(start: Any, end: Any, weight: float, like: Any = None) -> Any:
    """``start + weight * (end - start)`` (``torch.lerp``), as ``like``'s dtype when given."""
    if _is_torch(start):
        out = _torch_lerp(start, end, weight)
        return out.to(like.dtype) if like is not None else out
    out = _np_lerp(start, np.asarray(end), weight)
    return out.astype(like.dtype, copy=False) if like is not None else out


def _torch_lerp(start: Any, end: Any, weight: float) -> Any:
    import torch

    return torch.lerp(start, end.to(start.dtype), weight)
