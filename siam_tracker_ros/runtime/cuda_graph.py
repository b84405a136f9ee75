"""The search branch of a PyTorch :class:`SiameseModel` replayed as CUDA graphs.

Why: on a fast GPU one SiamRPN++ ResNet-50 search (backbone, neck, three RPN heads, ~200 small
kernels at batch 1) is bound by kernel *launches*, not arithmetic: the GPU idles while Python and
the dispatcher queue the next operator. A CUDA graph records the whole search once per crop size
and replays it with one launch. The template branch (once per target) and the online update's
pooling (a few small operators) stay eager.

How it maps the contract (the same shape as :mod:`models.onnx_backend`, so ``Tracker`` is
unchanged):

* ``search_features(x)`` does no work and returns :class:`LazyFeatures` holding the crop;
* ``head(xf, kernels)`` copies the crop and the kernels into the graph's static inputs, replays
  the graph of that crop size (captured on first use: warm-up on a side stream, then capture,
  as PyTorch's CUDA-graph notes prescribe), and returns *clones* of its static outputs: the
  tracker keeps a first search's features while it runs a second one (one more search), and the
  next replay overwrites the static outputs in place;
* ``pool_cls_kernel`` pools from the features ``head`` stored, with the eager model.

Replays read the kernels from static buffers, so SiamMargin's online update (new classification
kernels every few frames) needs no new capture. Autocast (fp16/bf16) is recorded into the graph
with its weight-cast cache off (a cached cast made during capture would be freed with the
autocast context while the graph still reads it). All graphs share one memory pool; that is safe
here because every tensor that lives across replays (static inputs and outputs) stays
referenced, and replays run one after another on one stream. At most ``max_graphs`` crop sizes
are captured; further sizes (rare re-detection widenings) run eagerly. A capture that fails
(a model with an operator that cannot be recorded) is warned about once and the search runs
eagerly from then on: slower, never wrong, never a crash.

The graph primitive is injectable (``graph_factory``) so that the buffer handling -- copy-in,
static outputs, clones -- is tested on CPU with a stand-in that has the same aliasing semantics
(``test/core/test_core_cuda_graph.py``); the real capture is tested where CUDA exists.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import torch

from siam_tracker_ros.models.base import (
    Features,
    HeadOutput,
    Kernels,
    LazyFeatures,
    SiameseModel,
    lazy_crop,
)

__all__ = ["CudaGraphModel", "StaticGraph", "TorchCudaGraph"]


class StaticGraph(Protocol):
    """A recorded computation: ``capture(fn)`` runs/records ``fn`` once and returns its (static)
    output tensors; ``replay()`` recomputes them *in place* from the current static inputs."""

    def capture(self, fn: Callable[[], list[torch.Tensor]]) -> list[torch.Tensor]: ...

    def replay(self) -> None: ...


class TorchCudaGraph:
    """:class:`StaticGraph` on ``torch.cuda.CUDAGraph``; all instances built with the same
    ``pool`` share one memory pool."""

    def __init__(self, pool: Any, warmup: int = 3) -> None:
        self._graph = torch.cuda.CUDAGraph()
        self._pool = pool
        self._warmup = warmup

    def capture(self, fn: Callable[[], list[torch.Tensor]]) -> list[torch.Tensor]:
        # warm-up on a side stream (cuDNN/cuBLAS choose algorithms, lazy inits run), then record
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(self._warmup):
                fn()
        torch.cuda.current_stream().wait_stream(side)
        with torch.cuda.graph(self._graph, pool=self._pool):
            outputs = fn()
        return outputs

    def replay(self) -> None:
        self._graph.replay()


class _Captured:
    """One crop size's graph with its static inputs and outputs."""

    def __init__(
        self, graph: StaticGraph, x: torch.Tensor, cls: list[torch.Tensor], loc: list[torch.Tensor]
    ) -> None:
        self.graph = graph
        self.x = x
        self.cls = cls
        self.loc = loc
        self.outputs: list[torch.Tensor] = []

    def feed(self, x: torch.Tensor, kernels: Kernels) -> None:
        self.x.copy_(x)
        for static, k in zip([*self.cls, *self.loc], [*kernels.cls, *kernels.loc], strict=True):
            static.copy_(k)


class CudaGraphModel(SiameseModel):
    """Runs ``model``'s search branch (backbone + neck + correlation + head) as CUDA graphs.

    ``amp_dtype``: the autocast dtype recorded into the graphs (``None``: float32), the tracker's
    ``precision``. ``graph_factory``: makes one :class:`StaticGraph` (default: a
    :class:`TorchCudaGraph` in a pool shared by this model's graphs; requires CUDA).
    """

    def __init__(
        self,
        model: SiameseModel,
        amp_dtype: torch.dtype | None = None,
        max_graphs: int = 8,
        graph_factory: Callable[[], StaticGraph] | None = None,
    ) -> None:
        super().__init__()
        if max_graphs < 0:
            raise ValueError(f"max_graphs must be >= 0, got {max_graphs}")
        self.inner = model.eval()
        self.stride = model.stride
        self.head_type = model.head_type
        self.amp_dtype = amp_dtype
        self.max_graphs = max_graphs
        if graph_factory is None:
            if not torch.cuda.is_available():
                raise RuntimeError("CUDA graphs need CUDA (torch.cuda.is_available() is False)")
            pool = torch.cuda.graph_pool_handle()

            def graph_factory() -> StaticGraph:
                return TorchCudaGraph(pool)

        self._factory = graph_factory
        self._graphs: dict[tuple[int, ...], _Captured] = {}
        #: search crop shapes run eagerly (``max_graphs`` reached, or capture failed)
        self.eager_shapes: set[tuple[int, ...]] = set()
        #: why capture failed, if it did: graphs are then no longer tried (warned once)
        self.failure: str | None = None

    @property
    def captured_shapes(self) -> list[tuple[int, ...]]:
        return sorted(self._graphs)

    # ------------------------------------------------------------------ capture
    def _autocast(self, device_type: str) -> contextlib.AbstractContextManager[object]:
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type, dtype=self.amp_dtype, cache_enabled=False)

    def _eager(self, x: torch.Tensor, kernels: Kernels) -> list[torch.Tensor]:
        with self._autocast(x.device.type):
            xf = self.inner.search_features(x)
            out = self.inner.head(xf, kernels)
        return [out.cls, out.loc, *xf]

    def _capture(self, x: torch.Tensor, kernels: Kernels) -> _Captured:
        static = _Captured(
            self._factory(),
            x.clone(memory_format=torch.preserve_format),
            [k.clone() for k in kernels.cls],
            [k.clone() for k in kernels.loc],
        )
        static.outputs = static.graph.capture(
            lambda: self._eager(static.x, Kernels(cls=static.cls, loc=static.loc))
        )
        return static

    def warm_up(self, kernels: Kernels, crops: Sequence[torch.Tensor]) -> None:
        """Capture the graphs for these example search crops now (the tracker passes its base
        and adaptive-search sizes at ``init``), so the first frames do not pay for capture."""
        for x in crops:
            self.head(self.search_features(x), kernels)

    # ------------------------------------------------------------------ SiameseModel
    def template_features(self, z: torch.Tensor) -> Features:
        return self.inner.template_features(z)

    def make_kernels(self, zf: Features) -> Kernels:
        return self.inner.make_kernels(zf)

    def search_features(self, x: torch.Tensor) -> Features:
        return LazyFeatures([x])

    @torch.inference_mode()
    def head(self, xf: Features, kernels: Kernels) -> HeadOutput:
        x = lazy_crop(xf, "CudaGraphModel.head")
        key = tuple(x.shape)
        captured = self._graphs.get(key)
        if captured is None and len(self._graphs) < self.max_graphs and self.failure is None:
            try:
                captured = self._graphs[key] = self._capture(x, kernels)
            except RuntimeError as exc:  # e.g. an operator that syncs with the host
                self.failure = f"{type(exc).__name__}: {exc}"
                warnings.warn(
                    f"CUDA graph capture of the search branch failed for crops {key}; running "
                    f"it eagerly from now on ({self.failure})",
                    RuntimeWarning,
                    stacklevel=2,
                )
        if captured is None:
            self.eager_shapes.add(key)
            cls, loc, *features = self._eager(x, kernels)
        else:
            captured.feed(x, kernels)
            captured.graph.replay()
            cls, loc, *features = (t.clone() for t in captured.outputs)
        if isinstance(xf, LazyFeatures):
            xf.computed = features
        return HeadOutput(cls=cls, loc=loc, corr=None)

    def pool_cls_kernel(self, xf: Features, roi: torch.Tensor) -> list[torch.Tensor]:
        feats = xf.computed if isinstance(xf, LazyFeatures) else xf
        if feats is None:
            raise RuntimeError("pool_cls_kernel before head() ran on these search features")
        return self.inner.pool_cls_kernel(feats, roi)

    def forward(self, z: torch.Tensor, x: torch.Tensor) -> HeadOutput:
        return self.head(self.search_features(x), self.make_kernels(self.template_features(z)))

    def extra_repr(self) -> str:
        return f"amp_dtype={self.amp_dtype}, captured={self.captured_shapes}"

