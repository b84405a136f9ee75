"""The one place that turns a network and a :class:`RuntimeConfig` into an inference backend."""

from __future__ import annotations

from collections.abc import Sequence

from siam_tracker_ros.models.base import SiameseModel
from siam_tracker_ros.runtime.base import InferenceBackend, TorchBackend
from siam_tracker_ros.runtime.config import RuntimeConfig, resolve_device

__all__ = ["build_runtime"]


def build_runtime(
    model: SiameseModel,
    config: RuntimeConfig,
    *,
    exemplar_size: int,
    search_sizes: Sequence[int],
) -> InferenceBackend:
    """PyTorch eager, CUDA graphs (``backend: torch`` with ``cuda_graphs`` on a CUDA device; the
    setting is ignored on CPU) or ONNX Runtime (``backend: onnxruntime``), prepared for the
    template size and the ``search_sizes`` the tracker will use first (sessions made and warmed,
    graphs captured), so the first frames are not slow. Other sizes (re-detection) are made on
    first use."""
    device = resolve_device(config.device)
    backend: InferenceBackend
    if config.backend == "onnxruntime":
        from siam_tracker_ros.runtime.onnx_backend import OnnxRuntimeBackend, OnnxRuntimeOptions

        backend = OnnxRuntimeBackend.from_model(
            model,
            exemplar_size=exemplar_size,
            search_sizes=search_sizes,
            options=OnnxRuntimeOptions(intra_op_threads=config.threads),
            cache_dir=config.cache_dir,
            device=device,
        )
    elif device.type == "cuda" and config.cuda_graphs:
        from siam_tracker_ros.runtime.cuda_graph import CudaGraphBackend

        backend = CudaGraphBackend(model, config)
    else:
        backend = TorchBackend(model, config)
    backend.prepare(exemplar_size, search_sizes)
    return backend
