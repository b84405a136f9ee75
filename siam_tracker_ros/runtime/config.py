"""How the network runs, kept apart from how the tracker tracks.

:class:`RuntimeConfig` is the ``runtime:`` section of a model file (and of a checkpoint's
config): which inference backend, on which device, at which precision, with how many threads,
and where exported graphs are cached. None of it changes a tracked box beyond float round-off,
which is why it is not a tracking setting. Backend names come from one list, the registry in
:mod:`siam_tracker_ros.runtime.registry`; ``auto`` lets the registry pick the preferred backend
available for the device (and says which it picked).

Older files kept these keys in their ``tracker:`` section (``runtime``, ``device``,
``precision``, ``channels_last``, ``cuda_graphs``, ``cpu_threads``);
:func:`split_legacy_runtime_keys` is the one adapter that moves them here, with a deprecation
note naming the file.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "LEGACY_TRACKER_KEYS",
    "Precision",
    "RuntimeConfig",
    "resolve_device",
    "runtime_config_from_dict",
    "split_legacy_runtime_keys",
    "usable_cores",
]

Precision = Literal["fp32", "fp16", "bf16"]
_log = logging.getLogger(__name__)


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity on Linux, else the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _cuda_available() -> bool:
    import torch  # only asked when a CUDA or automatic device is requested

    return bool(torch.cuda.is_available())


def resolve_device(device: str | Any | None) -> Any:
    """``torch.device`` for ``device``: ``"auto"`` -> CUDA when available, else CPU; asking for
    CUDA without it is an error. Imports torch (the PyTorch backends' business)."""
    import torch

    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {str(device)!r} requested but CUDA is not available")
    return dev


def _valid_device(device: str) -> bool:
    if device in ("cpu", "cuda", "auto"):
        return True
    if device.startswith("cuda:"):
        return device[5:].isdigit()
    return False


@dataclass(frozen=True)
class RuntimeConfig:
    """Settings of one inference backend (the ``runtime:`` section).

    ``backend``: a name of :mod:`runtime.registry` (``torch``, ``onnxruntime``, ``openvino``, ...)
    or ``auto`` (the registry's preferred backend available for the device). ``device``: ``cpu``,
    ``cuda``, ``cuda:N`` or ``auto`` (CUDA when PyTorch sees one). ``precision``: CUDA autocast
    dtype of the PyTorch backend (the CPU path is always float32, so its boxes match pysot); the
    OpenVINO backend's inference precision (``fp32``, asked for explicitly; ``bf16``/``fp16``:
    bfloat16 where the CPU runs it natively, docs/speed.md); ONNX Runtime runs float32.
    ``channels_last``: NHWC crops and weights for the PyTorch backend. ``cuda_graphs``: the
    PyTorch backend on CUDA replays each search as one CUDA graph (ignored on CPU). ``threads``:
    intra-op threads of an exported-graph backend's runs (0 = the library's default).
    ``adaptive_threads``: ONNX Runtime on a CPU keeps a one-thread and a ``threads``-thread
    session (at least two) and runs whichever ran faster lately: the second core while it pays,
    one thread while another process holds it (:mod:`runtime.thread_choice`).
    ``background_searches``: on a CPU with two or more cores, a search the tracker knows ahead
    (the long-term re-detection crop of a lost frame) runs on a second thread beside its own
    search (``core.tracker.Tracker``; the same boxes, less wall time a lost frame). ``cache_dir``:
    where exported graphs are kept between starts (``None``: ``$SIAM_TRACKER_CACHE`` or the user
    cache, see :mod:`runtime.export_cache`; ``""``: no disk cache).
    """

    backend: str = "torch"
    device: str = "cpu"
    precision: Precision = "fp32"
    channels_last: bool = True
    cuda_graphs: bool = False
    threads: int = 1
    adaptive_threads: bool = False
    background_searches: bool = True
    cache_dir: str | None = None

    def __post_init__(self) -> None:
        from siam_tracker_ros.runtime.registry import backend_names

        names = backend_names()
        if self.backend != "auto" and self.backend not in names:
            raise ValueError(
                f"backend: unknown backend {self.backend!r} (known: auto, {', '.join(names)})"
            )
        if not _valid_device(str(self.device)):
            raise ValueError(
                f"device: must be 'cpu', 'cuda', 'cuda:N' or 'auto', got {self.device!r}"
            )
        if self.precision not in ("fp32", "fp16", "bf16"):
            raise ValueError(f"precision: must be fp32, fp16 or bf16, got {self.precision!r}")
        if self.threads < 0:
            raise ValueError(f"threads: must be >= 0, got {self.threads}")

    @property
    def device_type(self) -> str:
        """``cpu`` or ``cuda`` (``auto`` asks PyTorch whether a GPU is there)."""
        if self.device == "auto":
            return "cuda" if "torch" in sys.modules and _cuda_available() else "cpu"
        return "cuda" if self.device.startswith("cuda") else "cpu"

    @property
    def amp_dtype(self) -> Any:
        """The autocast dtype on CUDA (``None``: float32)."""
        import torch

        return {"fp16": torch.float16, "bf16": torch.bfloat16}.get(self.precision)

    def to_dict(self) -> dict[str, Any]:
        """The ``runtime:`` section (``cache_dir`` is a machine setting, never stored)."""
        return {
            "backend": self.backend,
            "device": self.device,
            "precision": self.precision,
            "channels_last": self.channels_last,
            "cuda_graphs": self.cuda_graphs,
            "threads": self.threads,
            "adaptive_threads": self.adaptive_threads,
            "background_searches": self.background_searches,
        }


def runtime_config_from_dict(
    data: Mapping[str, Any] | None, prefix: str = "runtime"
) -> RuntimeConfig:
    """Strictly parse a ``runtime:`` section (``None``/empty -> defaults); errors name the
    dotted key."""
    from siam_tracker_ros.typed_config import build_dataclass

    if data is not None and not isinstance(data, Mapping):
        raise ValueError(f"{prefix}: expected a mapping, got {type(data).__name__}")
    data = dict(data or {})
    if "cache_dir" in data:
        raise ValueError(
            f"{prefix}.cache_dir: a machine setting, not a model setting (use "
            "$SIAM_TRACKER_CACHE or the loader's cache_dir=)"
        )
    return build_dataclass(RuntimeConfig, data, prefix)


#: ``tracker:`` keys of older model files -> their ``runtime:`` key
LEGACY_TRACKER_KEYS: dict[str, str] = {
    "runtime": "backend",
    "device": "device",
    "precision": "precision",
    "channels_last": "channels_last",
    "cuda_graphs": "cuda_graphs",
    "cpu_threads": "threads",
}

_warned: set[str] = set()


def split_legacy_runtime_keys(data: Mapping[str, Any], source: str = "config") -> dict[str, Any]:
    """A whole config mapping with runtime keys found in its ``tracker:`` section moved to its
    ``runtime:`` section (the one adapter for files written before the ``runtime:`` section),
    logging a deprecation note once per ``source``. A key given in both places is an error."""
    tracker = data.get("tracker")
    if not isinstance(tracker, Mapping):
        return dict(data)
    legacy = {k: v for k, v in tracker.items() if k in LEGACY_TRACKER_KEYS}
    if not legacy:
        return dict(data)
    runtime = data.get("runtime") or {}
    if not isinstance(runtime, Mapping):
        raise ValueError(f"runtime: expected a mapping, got {type(runtime).__name__}")
    moved = dict(runtime)
    for key, value in legacy.items():
        new = LEGACY_TRACKER_KEYS[key]
        if new in runtime:
            raise ValueError(f"tracker.{key}: given also as runtime.{new}; keep only runtime.{new}")
        moved[new] = value
    if source not in _warned:
        _warned.add(source)
        _log.warning(
            "%s: tracker.{%s} are deprecated; move them to the runtime: section as {%s}",
            source,
            ",".join(legacy),
            ",".join(LEGACY_TRACKER_KEYS[k] for k in legacy),
        )
    rest = {k: v for k, v in tracker.items() if k not in LEGACY_TRACKER_KEYS}
    return {**data, "tracker": rest, "runtime": moved}
