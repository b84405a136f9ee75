"""Inference runtimes between the networks (:mod:`siam_tracker_ros.models`) and the tracking step
(:mod:`siam_tracker_ros.core`): PyTorch eager, CUDA graphs, ONNX Runtime and OpenVINO behind one
protocol, :class:`InferenceBackend`, listed once in :mod:`runtime.registry` and built by
:func:`build_runtime` from a :class:`RuntimeConfig`. Imports only ``models``; ``core`` imports
this. Importing this package does not import PyTorch (a start from cached graphs never does)."""

from siam_tracker_ros.runtime.base import InferenceBackend, SearchOutput
from siam_tracker_ros.runtime.builder import build_runtime, cached_runtime
from siam_tracker_ros.runtime.config import RuntimeConfig, resolve_device
from siam_tracker_ros.runtime.registry import BACKENDS, backend_names, resolve_backend

__all__ = [
    "BACKENDS",
    "InferenceBackend",
    "RuntimeConfig",
    "SearchOutput",
    "backend_names",
    "build_runtime",
    "cached_runtime",
    "resolve_backend",
    "resolve_device",
]
