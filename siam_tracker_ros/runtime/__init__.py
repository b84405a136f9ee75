"""Inference runtimes between the networks (:mod:`siam_tracker_ros.models`) and the tracking step
(:mod:`siam_tracker_ros.core`): PyTorch eager, CUDA graphs and ONNX Runtime behind one protocol,
:class:`InferenceBackend`, chosen by :func:`build_runtime` from a :class:`RuntimeConfig`.
Imports only ``models``; ``core`` imports this."""

from siam_tracker_ros.runtime.base import InferenceBackend, SearchOutput, TorchBackend
from siam_tracker_ros.runtime.builder import build_runtime
from siam_tracker_ros.runtime.config import RuntimeConfig, resolve_device

__all__ = [
    "InferenceBackend",
    "RuntimeConfig",
    "SearchOutput",
    "TorchBackend",
    "build_runtime",
    "resolve_device",
]
