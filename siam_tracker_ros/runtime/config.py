"""How the network runs, kept apart from how the tracker tracks.

:class:`RuntimeConfig` holds the settings that choose and tune an inference backend (PyTorch eager,
CUDA graphs, ONNX Runtime): device, precision, memory layout, threads, the export cache. None of
them changes a tracked box beyond float round-off, which is why they are not tracking settings.
Model files still carry them in their ``tracker:`` section (``runtime``, ``device``,
``precision``, ``channels_last``, ``cuda_graphs``, ``cpu_threads``), so existing checkpoints and
YAML files keep working; ``core.config.runtime_config`` is the one place that reads them, and
the tracking step never does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

__all__ = ["Backend", "Precision", "RuntimeConfig", "resolve_device"]

Backend = Literal["torch", "onnxruntime"]
Precision = Literal["fp32", "fp16", "bf16"]
BACKENDS: tuple[str, ...] = ("torch", "onnxruntime")


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU; asking for CUDA without it is an error."""
    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {str(device)!r} requested but CUDA is not available")
    return dev


@dataclass(frozen=True)
class RuntimeConfig:
    """Settings of one inference backend.

    ``backend``: ``torch`` (eager PyTorch, or CUDA graphs with ``cuda_graphs`` on CUDA) or
    ``onnxruntime`` (the model exported to ONNX; several times faster on CPU). ``device``:
    ``cpu``, ``cuda``, ``cuda:N`` or ``auto``. ``precision``: CUDA autocast dtype (the CPU path is
    always float32, so its boxes match pysot). ``channels_last``: NHWC crops and weights for the
    PyTorch backend (oneDNN's NHWC convolutions are faster on CPU too). ``threads``: intra-op
    threads of an ONNX Runtime session (0 = ``torch.get_num_threads()``). ``cache_dir``: where
    exported ONNX graphs are kept between starts (``None``: ``$SIAM_TRACKER_CACHE`` or the user
    cache folder, see :mod:`runtime.export_cache`; ``""``: no disk cache, export to a temporary
    folder).
    """

    backend: Backend = "torch"
    device: str = "cpu"
    precision: Precision = "fp32"
    channels_last: bool = True
    cuda_graphs: bool = False
    threads: int = 1
    cache_dir: str | None = None

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ValueError(f"runtime must be 'torch' or 'onnxruntime', got {self.backend!r}")
        if self.precision not in ("fp32", "fp16", "bf16"):
            raise ValueError(f"precision must be fp32, fp16 or bf16, got {self.precision!r}")
        if self.threads < 0:
            raise ValueError(f"threads must be >= 0, got {self.threads}")

    @property
    def amp_dtype(self) -> torch.dtype | None:
        """The autocast dtype on CUDA (``None``: float32)."""
        return {"fp16": torch.float16, "bf16": torch.bfloat16}.get(self.precision)
