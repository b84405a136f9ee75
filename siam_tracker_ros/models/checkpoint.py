"""Weight files for every model family: third-party state dicts and the project's own checkpoints.

Every load goes through ``torch.load(..., weights_only=True)``: a checkpoint is data, and a
pickle that could run code is refused. The single exception to the default allow-list is the
numpy float that NanoTrack's training checkpoints keep in their optimizer state (pickled as
``numpy.core.multiarray.scalar`` with a ``numpy.dtype``), which is allowed by exact name only.
"""

from __future__ import annotations

import pickle
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

#: ``format`` tag of the project's own checkpoints
CHECKPOINT_FORMAT = "siam_tracker_ros/1"

#: keys under which third-party training checkpoints keep the weights
_WRAPPER_KEYS = ("state_dict", "model")


def _numpy_scalar_globals() -> list[Any]:
    """Exactly what a pickled numpy float64 scalar needs, under the names old pickles use."""
    try:
        from numpy._core.multiarray import scalar  # numpy >= 2
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core.multiarray import scalar  # type: ignore[no-redef]
    allowed: list[Any] = [(scalar, "numpy.core.multiarray.scalar"), np.dtype]
    dtypes = getattr(np, "dtypes", None)  # numpy >= 1.25 pickles dtypes via their class
    if dtypes is not None:
        allowed.append(dtypes.Float64DType)
    return allowed


def _torch_load(path: Path) -> Any:
    """``torch.load`` (weights only, CPU) with clear errors naming ``path``."""
    if not path.is_file():
        raise FileNotFoundError(f"weight file not found: {path}")
    try:
        with torch.serialization.safe_globals(_numpy_scalar_globals()):
            return torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, zipfile.BadZipFile, EOFError, RuntimeError) as exc:
        raise ValueError(f"cannot load weight file {path}: {_short_reason(exc)}") from exc


def _short_reason(exc: BaseException) -> str:
    """torch's weights-only refusal is a page of advice (including "use weights_only=False",
    which we never do); keep the part that says what was refused."""
    text = str(exc)
    marker = "WeightsUnpickler error:"
    if marker not in text:
        return text
    reason = text.split(marker, 1)[1].split("Check the documentation", 1)[0]
    reason = " ".join(reason.split()).split(". Please use", 1)[0]
    return f"not a plain weight file (weights-only unpickler: {reason})"


def _as_state_dict(obj: Any, path: Path) -> dict[str, torch.Tensor]:
    """Unwrap ``{'state_dict': ...}`` / ``{'model': ...}``, strip ``module.``, check tensors."""
    if isinstance(obj, Mapping):
        for key in _WRAPPER_KEYS:
            inner = obj.get(key)
            if isinstance(inner, Mapping):
                obj = inner
                break
    if not isinstance(obj, Mapping) or not obj:
        raise ValueError(f"{path}: not a state dict (got {type(obj).__name__})")
    out: dict[str, torch.Tensor] = {}
    for key, value in obj.items():
        if not isinstance(key, str) or not isinstance(value, torch.Tensor):
            raise ValueError(
                f"{path}: not a state dict (entry {key!r} is a {type(value).__name__}, "
                "expected a tensor)"
            )
        out[key.removeprefix("module.")] = value
    if len(out) != len(obj):
        raise ValueError(f"{path}: keys collide after stripping the 'module.' prefix")
    return out


def load_state_dict_file(path: str | Path) -> dict[str, torch.Tensor]:
    """Weights of a third-party or own checkpoint file as a plain ``{name: tensor}`` dict.

    Accepts a plain state dict, ``{'state_dict': ...}`` / ``{'model': ...}`` wrappers (pysot
    and NanoTrack training snapshots) and this project's own format; a ``module.`` prefix from
    ``DataParallel`` training is stripped. Missing files raise :class:`FileNotFoundError`,
    unreadable or non-weight files :class:`ValueError`, both naming the path.
    """
    p = Path(path)
    obj = _torch_load(p)
    if isinstance(obj, Mapping) and obj.get("format") == CHECKPOINT_FORMAT:
        return _as_state_dict(obj.get("state_dict"), p)
    return _as_state_dict(obj, p)


def save_checkpoint(
    path: str | Path,
    model: nn.Module,
    config_dict: Mapping[str, Any],
    meta: Mapping[str, Any] | None = None,
) -> None:
    """Write ``{"format", "config", "state_dict", "meta"}`` (tensors on CPU).

    ``config_dict`` is the whole config (``{"model": ..., "tracker": ...}``) so the checkpoint
    rebuilds its tracker alone; ``config_dict`` and ``meta`` must hold only plain values (str,
    numbers, bools, None, lists, dicts) so the file loads with ``weights_only=True``.
    """
    p = Path(path)
    payload = {
        "format": CHECKPOINT_FORMAT,
        "config": _check_plain(dict(config_dict), "config"),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "meta": _check_plain(dict(meta or {}), "meta"),
    }
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + ".tmp")
    torch.save(payload, tmp)
    tmp.replace(p)  # never leave a half-written checkpoint under the real name


def load_checkpoint(
    path: str | Path,
) -> tuple[dict[str, torch.Tensor], dict[str, Any], dict[str, Any]]:
    """Read a file written by :func:`save_checkpoint`: ``(state_dict, config_dict, meta)``."""
    p = Path(path)
    obj = _torch_load(p)
    if not isinstance(obj, Mapping) or obj.get("format") != CHECKPOINT_FORMAT:
        found = obj.get("format") if isinstance(obj, Mapping) else type(obj).__name__
        raise ValueError(
            f"{p}: not a {CHECKPOINT_FORMAT} checkpoint (format {found!r}); "
            "use load_state_dict_file for plain weight files"
        )
    config = obj.get("config")
    meta = obj.get("meta", {})
    if not isinstance(config, Mapping) or not isinstance(meta, Mapping):
        raise ValueError(f"{p}: checkpoint 'config' and 'meta' must be mappings")
    return _as_state_dict(obj.get("state_dict"), p), dict(config), dict(meta)


def load_into(model: nn.Module, state_dict: Mapping[str, torch.Tensor]) -> None:
    """``model.load_state_dict(state_dict, strict=True)`` with a readable error.

    Raises ``ValueError`` listing missing and unexpected keys (first few of each) and shape
    mismatches, instead of torch's one long ``RuntimeError``.
    """
    own = model.state_dict()
    missing = sorted(set(own) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(own))
    shapes = sorted(
        f"{k}: file {tuple(state_dict[k].shape)} vs model {tuple(own[k].shape)}"
        for k in set(own) & set(state_dict)
        if tuple(state_dict[k].shape) != tuple(own[k].shape)
    )
    if missing or unexpected or shapes:
        parts = []
        for label, items in (
            ("missing keys", missing),
            ("unexpected keys", unexpected),
            ("shape mismatches", shapes),
        ):
            if items:
                more = f" ... (+{len(items) - 8} more)" if len(items) > 8 else ""
                parts.append(f"{len(items)} {label}: {', '.join(items[:8])}{more}")
        raise ValueError(f"state dict does not fit {type(model).__name__}: " + "; ".join(parts))
    model.load_state_dict(state_dict, strict=True)


def _check_plain(obj: Any, where: str) -> Any:
    if isinstance(obj, Mapping):
        for k, v in obj.items():
            if not isinstance(k, str):
                raise TypeError(f"{where}: keys must be strings, got {k!r}")
            _check_plain(v, f"{where}.{k}")
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            _check_plain(v, f"{where}[{i}]")
    elif not (obj is None or isinstance(obj, (str, int, float, bool))):
        raise TypeError(f"{where}: {type(obj).__name__} is not a plain value")
    return obj
