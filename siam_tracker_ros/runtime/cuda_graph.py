"""The search branch of a PyTorch :class:`SiameseModel` replayed as CUDA graphs.

Why: on a fast GPU one SiamRPN++ ResNet-50 search (backbone, neck, three RPN heads, ~200 small
kernels at batch 1) is bound by kernel *launches*, not arithmetic: the GPU idles while Python and
the dispatcher queue the next operator. A CUDA graph records the whole search once per crop size
and replays it with one launch. The template branch (once per target) and the online update's
pooling (a few small operators) stay eager.

How: :class:`CudaGraphBackend` is the eager :class:`runtime.torch_backend.TorchBackend` with its
search step replaced. A search copies the crop and the kernels into the graph's static inputs,
replays the graph of that crop size (captured by :meth:`CudaGraphBackend.prepare` or on first use:
warm-up on a side stream, then capture, as PyTorch's CUDA-graph notes prescribe), and returns
*clones* of its static outputs: the tracker keeps a first search's features while it runs a
second one (one more search), and the next replay overwrites the static outputs in place. Pooling
(the online update) runs the eager model on those features.

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

import numpy as np
import torch

from siam_tracker_ros.models.base import Kernels, SiameseModel
from siam_tracker_ros.runtime.base import InferenceBackend
from siam_tracker_ros.runtime.config import RuntimeConfig, resolve_device
from siam_tracker_ros.runtime.registry import BuildRequest
from siam_tracker_ros.runtime.torch_backend import TorchBackend

__all__ = ["CudaGraphBackend", "StaticGraph", "TorchCudaGraph", "build"]


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


class CudaGraphBackend(TorchBackend):
    """Runs ``model``'s search branch (backbone + neck + correlation + head) as CUDA graphs.

    The autocast dtype recorded into the graphs is ``config.precision``'s (float32 on CPU, where
    only a stand-in ``graph_factory`` makes sense). ``graph_factory``: makes one
    :class:`StaticGraph` (default: a :class:`TorchCudaGraph` in a pool shared by this backend's
    graphs; requires CUDA).
    """

    def __init__(
        self,
        model: SiameseModel,
        config: RuntimeConfig,
        max_graphs: int = 8,
        graph_factory: Callable[[], StaticGraph] | None = None,
    ) -> None:
        if max_graphs < 0:
            raise ValueError(f"max_graphs must be >= 0, got {max_graphs}")
        if graph_factory is None and not torch.cuda.is_available():
            raise RuntimeError("CUDA graphs need CUDA (torch.cuda.is_available() is False)")
        super().__init__(model, config)
        self.max_graphs = max_graphs
        if graph_factory is None:
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

    def __repr__(self) -> str:
        return (
            f"CudaGraphBackend(device={self.device}, precision={self.config.precision}, "
            f"captured={self.captured_shapes})"
        )

    # ------------------------------------------------------------------ capture
    def _graph_autocast(self) -> contextlib.AbstractContextManager[object]:
        if self._amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self._amp_dtype, cache_enabled=False)

    def _eager(self, x: torch.Tensor, kernels: Kernels) -> list[torch.Tensor]:
        with self._graph_autocast():
            xf = self.model.search_features(x)
            out = self.model.head(xf, kernels)
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

    def prepare(self, exemplar_size: int, search_sizes: Sequence[int]) -> None:
        """Capture the graphs of these search sizes now (the tracker passes its base and
        adaptive-search sizes when it is built), so the first frames do not pay for capture. The
        graphs read the kernels from buffers, so a blank template's do."""
        missing = [s for s in dict.fromkeys(search_sizes) if (1, 3, s, s) not in self._graphs]
        if not missing:
            return
        kernels = self.template(np.zeros((exemplar_size, exemplar_size, 3), np.uint8))
        with torch.inference_mode():
            for size in missing:
                self.run_search(self.tensor(np.zeros((size, size, 3), np.uint8)), kernels)

    # ------------------------------------------------------------------ search
    def run_search(self, x: torch.Tensor, kernels: Kernels) -> tuple[torch.Tensor, ...]:
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
            return tuple(self._eager(x, kernels))
        captured.feed(x, kernels)
        captured.graph.replay()
        return tuple(t.clone() for t in captured.outputs)


def build(request: BuildRequest) -> InferenceBackend:
    """The registry's builder of the ``torch`` backend: eager PyTorch, or CUDA graphs with
    ``cuda_graphs`` on a CUDA device (the setting means nothing on CPU)."""
    if request.model is None:
        raise ValueError("the torch backend needs the PyTorch model")
    config = request.config
    assert isinstance(config, RuntimeConfig)
    device = resolve_device(config.device)
    if device.type == "cuda" and config.cuda_graphs:
        return CudaGraphBackend(request.model, config)
    return TorchBackend(request.model, config)
