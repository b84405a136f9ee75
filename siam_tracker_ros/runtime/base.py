"""What the tracker needs from an inference backend, and the PyTorch eager backend.

The tracker speaks in host arrays: it cuts crops on the host (a 255x255 ``cv2.resize`` is far
cheaper than moving the frame), hands them over as ``H x W x 3`` uint8, and decodes the small
``cls`` / ``loc`` maps in NumPy (see :mod:`core.decoding` for why). Everything between -- upload,
memory layout, autocast, graph capture, ONNX sessions, the one device-to-host copy per search --
belongs to the backend. Template kernels and search features stay opaque device tensors that the
tracker only passes back (to :meth:`InferenceBackend.search` and :meth:`InferenceBackend.pool`)
or folds into its moving average (SiamMargin's online update).
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np

from siam_tracker_ros.models.contract import Features, Kernels

__all__ = ["InferenceBackend", "Roi", "SearchOutput"]

Roi = tuple[float, float, float, float]


@dataclass(frozen=True)
class SearchOutput:
    """One search: the head's maps on the host and the search features on the device.

    ``cls`` / ``loc``: float32 ``(1, C, N, N)`` (layouts in ``models.base.HeadOutput``).
    ``features``: what :meth:`InferenceBackend.pool` pools a kernel from (opaque to the tracker).
    """

    cls: np.ndarray
    loc: np.ndarray
    features: Features


@runtime_checkable
class InferenceBackend(Protocol):
    """Runs a Siamese network for the tracker (see the module docstring).

    ``search`` and ``template`` may be called from two threads at once on a CPU (the tracker's
    ``background_searches``: a LOST frame's re-detection crop beside its own search): a backend
    whose runs share buffers makes them take turns (the OpenVINO backend locks each request)."""

    #: score-map stride of the network in search-crop pixels
    stride: int
    #: how the tracker decodes the head output
    head_type: Literal["anchor", "point"]
    #: where the network runs (``torch.device`` for the PyTorch backends; anything with
    #: ``.type`` ``"cpu"``/``"cuda"``)
    device: Any

    def prepare(self, exemplar_size: int, search_sizes: Sequence[int]) -> None:
        """Get ready for these crop sizes now (sessions, warm-up runs, graph capture), so a
        robot's first frames after an init are not slow. Idempotent."""

    def template(self, crop: np.ndarray) -> Kernels:
        """Template crop (``Z x Z x 3`` uint8) -> correlation kernels."""

    def search(self, crop: np.ndarray, kernels: Kernels) -> SearchOutput:
        """Search crop (``S x S x 3`` uint8) correlated with ``kernels``."""

    def pool(self, features: Features, roi: Roi) -> list[Any]:
        """Classification kernels pooled from a search's features at ``roi`` (``x1, y1, x2, y2``
        in search-crop pixels), shaped like ``template(...).cls`` (SiamMargin's online update and
        the appearance cue)."""

    def to_host(self, tensors: Sequence[Any]) -> list[np.ndarray]:
        """Float32 host copies (views on CPU) of kernels, for host-side arithmetic."""

    def beside(self) -> AbstractContextManager[None]:
        """Open from the moment work is handed to the tracker's background worker until it is
        done (its runs happen inside): a backend that splits a run over several threads, on a
        CPU whose cores cannot hold such a run beside another, then gives every run one thread
        -- the background work's and the calling thread's alike -- so the two share the cores
        instead of waiting for each other's descheduled workers. A no-op where runs have one
        thread count."""
