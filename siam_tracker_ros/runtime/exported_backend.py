"""What every backend that runs the exported ONNX graphs shares (ONNX Runtime, OpenVINO).

The graphs (:mod:`runtime.onnx_export`) are the model: ``template`` (crop -> kernels) and
``search`` (crop + kernels -> cls, loc, features). A subclass only says how to run one graph on
host arrays; this class does the rest the same way for all of them: the crop layout, the checks,
the online update's pooling (the verified :class:`runtime.host_pool.HostPool`, else the PyTorch
model's own pooling), search sizes without a graph (exported from the PyTorch model on first use)
and warming the graphs up. On the CPU nothing here needs PyTorch: kernels and features are NumPy
arrays, which is what lets a start from cached graphs skip importing torch.
"""

from __future__ import annotations

import abc
import contextlib
import dataclasses
import logging
import shutil
import tempfile
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import cv2
import numpy as np

from siam_tracker_ros.models.contract import (
    SEARCH_INPUT,
    Features,
    Kernels,
    kernel_names,
)
from siam_tracker_ros.runtime.arrays import to_numpy
from siam_tracker_ros.runtime.base import Roi, SearchOutput
from siam_tracker_ros.runtime.exported import ExportedModel
from siam_tracker_ros.runtime.host_pool import HostPool

if TYPE_CHECKING:
    from siam_tracker_ros.models.base import SiameseModel
    from siam_tracker_ros.runtime.registry import BuildRequest

__all__ = ["ExportedGraphBackend", "HostDevice", "exported_graphs"]

_log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class HostDevice:
    """The CPU, for backends that never touch torch (``.type`` as ``torch.device`` has it)."""

    type: str = "cpu"
    index: int | None = None

    def __str__(self) -> str:
        return self.type


def exported_graphs(request: BuildRequest, backend_tag: str) -> tuple[ExportedModel, Path | None]:
    """The graphs a build request brings, or the model exported through the disk cache
    (``request.config.cache_dir``); with ``""`` or an unwritable cache, into a temporary folder,
    returned second for the backend to own (removed with it)."""
    if request.exported is not None:
        return request.exported, None
    if request.model is None:
        raise ValueError("an exported-graph backend needs the exported graphs or the model")
    from siam_tracker_ros.runtime.export_cache import cached_export, default_cache_dir
    from siam_tracker_ros.runtime.onnx_export import export_model

    cache_dir = request.config.cache_dir
    if cache_dir != "":
        root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        try:
            exported, _ = cached_export(
                request.model,
                root,
                request.exemplar_size,
                request.search_sizes,
                backend_tag=backend_tag,
            )
            return exported, None
        except OSError as exc:
            _log.warning(
                "ONNX cache %s not usable (%s); exporting to a temporary folder", root, exc
            )
    tmp = tempfile.mkdtemp(prefix="siam_onnx_")
    exported = export_model(
        request.model,
        tmp,
        exemplar_size=request.exemplar_size,
        search_sizes=request.search_sizes,
    )
    return exported, Path(tmp)


class ExportedGraphBackend(abc.ABC):
    """Runs a model's exported graphs (see the module docstring).

    ``torch_model`` (optional) is the model the graphs came from: without a verified host
    pooling the online update pools its kernel with it, and search sizes without a graph are
    exported from it on first use (into a private temporary folder, never into the shared
    cache). ``pool``: a verified host pooling (default: the one the graphs' description keeps,
    else one verified against ``torch_model``). The graphs are a snapshot of the weights at export
    time: load new weights, build a new backend. ``owned_dir``: a folder removed with this backend
    (a temporary export).
    """

    def __init__(
        self,
        exported: ExportedModel,
        torch_model: SiameseModel | None = None,
        pool: HostPool | None = None,
        owned_dir: str | Path | None = None,
    ) -> None:
        self.exported = exported
        self.stride = exported.stride
        self.head_type: Literal["anchor", "point"] = exported.head_type
        self.levels = exported.levels
        self.torch_model = torch_model.eval() if torch_model is not None else None
        self._kernel_names = kernel_names(exported.levels)
        self._extra_dir: Path | None = None
        if pool is None and exported.pool_spec is not None and exported.host_pool:
            pool = HostPool(exported.pool_spec)
        if pool is None and torch_model is not None:
            pool = HostPool.for_model(torch_model, verified=exported.host_pool)
        #: NumPy fast path of the online update's pooling, verified against the model
        self.host_pool = pool
        if owned_dir is not None:
            weakref.finalize(self, shutil.rmtree, str(owned_dir), True)

    # ------------------------------------------------------------------ subclass part
    @abc.abstractmethod
    def run_template(self, crop: Any) -> list[Any]:
        """Kernels (cls levels, then loc levels) of one template crop feed."""

    @abc.abstractmethod
    def run_search(self, size: int, path: Path, feeds: dict[str, Any]) -> list[Any]:
        """``cls, loc, *features`` of one search feed at ``size`` (the graph at ``path``)."""

    def feed(self, crop: np.ndarray) -> Any:
        """The contiguous NCHW float crop: OpenCV's plane split, then one cast of the uint8
        planes (2.3x cheaper than a transposing NumPy cast, docs/speed.md)."""
        return np.stack(cv2.split(crop)).astype(np.float32)[None]

    def head_to_host(self, cls: Any, loc: Any) -> tuple[np.ndarray, np.ndarray]:
        return to_numpy(cls)[:1], to_numpy(loc)[:1]

    # ------------------------------------------------------------------ InferenceBackend
    def prepare(self, exemplar_size: int, search_sizes: Sequence[int]) -> None:
        """Run the template graph and each search size once, so the first frame is not slow
        (sessions made, memory planned)."""
        missing = [s for s in dict.fromkeys(search_sizes) if not self.is_prepared(s)]
        if not missing:
            return
        side = self.exported.exemplar_size
        kernels = self.template(np.zeros((side, side, 3), np.uint8))
        for size in missing:
            self.search(np.zeros((size, size, 3), np.uint8), kernels)

    def is_prepared(self, size: int) -> bool:
        """Whether the graph for ``size`` has run already."""
        return False

    def template(self, crop: np.ndarray) -> Kernels:
        outs = self.run_template(self.feed(crop))
        n = self.levels
        return Kernels(cls=list(outs[:n]), loc=list(outs[n:]))

    def search(self, crop: np.ndarray, kernels: Kernels) -> SearchOutput:
        if crop.ndim != 3 or crop.shape[0] != crop.shape[1]:
            raise ValueError(f"search crops must be square, got {crop.shape}")
        if len(kernels.cls) != self.levels or len(kernels.loc) != self.levels:
            raise ValueError(
                f"expected {self.levels} cls and loc kernels, got "
                f"{len(kernels.cls)} and {len(kernels.loc)}"
            )
        size = int(crop.shape[0])
        path = self.exported.search_path_for(size)
        if path is None:
            path = self._export_size(size)
        feeds: dict[str, Any] = {SEARCH_INPUT: self.feed(crop)}
        feeds.update(zip(self._kernel_names, [*kernels.cls, *kernels.loc], strict=True))
        cls, loc, *features = self.run_search(size, path, feeds)
        cls_host, loc_host = self.head_to_host(cls, loc)
        return SearchOutput(cls_host, loc_host, list(features))

    def pool(self, features: Features, roi: Roi) -> list[Any]:
        if (
            self.host_pool is not None
            and len(features) == 1
            and isinstance(features[0], np.ndarray)
        ):
            return [self.host_pool(features[0], np.array(roi, np.float32))]
        if self.torch_model is None:
            raise RuntimeError(
                "this model's online update / appearance cue needs its PyTorch model to pool "
                "kernels (no verified host pooling); build the backend from the model"
            )
        return self._torch_pool(features, roi)

    def _torch_pool(self, features: Features, roi: Roi) -> list[Any]:
        import torch

        assert self.torch_model is not None
        device = next(self.torch_model.parameters()).device
        tensors = [torch.as_tensor(f, device=device) for f in features]
        box = torch.tensor(roi, dtype=torch.float32, device=device)
        with torch.inference_mode():
            pooled = self.torch_model.pool_cls_kernel(tensors, box)
        if isinstance(features[0], np.ndarray):
            return [p.float().cpu().numpy() for p in pooled]
        return list(pooled)

    def beside(self) -> contextlib.AbstractContextManager[None]:
        """No-op here (see :class:`InferenceBackend`); ONNX Runtime's backend counts it."""
        return contextlib.nullcontext()

    def to_host(self, tensors: Sequence[Any]) -> list[np.ndarray]:
        return [to_numpy(t) for t in tensors]

    # ------------------------------------------------------------------ helpers
    def _export_size(self, size: int) -> Path:
        """Export a static search graph for a size the exported graphs lack (into a private
        temporary folder, removed with this backend)."""
        if self.torch_model is None:
            raise ValueError(
                f"no exported search graph for size {size} (have "
                f"{sorted(self.exported.search_paths)}) and no PyTorch model to export one"
            )
        from siam_tracker_ros.runtime.onnx_export import export_search

        if self._extra_dir is None:
            self._extra_dir = Path(tempfile.mkdtemp(prefix="siam_onnx_extra_"))
            weakref.finalize(self, shutil.rmtree, self._extra_dir, True)
        target = dataclasses.replace(self.exported, out_dir=self._extra_dir)
        path = export_search(self.torch_model, target, size).search_paths[size]
        self.exported = self.exported.with_search(size, path)
        return path
