"""An ONNX Runtime-backed :class:`SiameseModel`, so the unchanged ``Tracker`` runs on ONNX Runtime.

Why: on a small CPU the per-frame network is most of a tracking step, and ONNX Runtime runs the
exported NanoTrack graph several times faster than eager PyTorch does (fused batch norm and
activations, planned memory, no per-operator dispatch), which is what puts the tracker level with
or ahead of OpenCV's C++ ``TrackerNano`` on the same weights.

How it maps the contract onto the exported graphs (:mod:`models.export`):

* ``template_features(z)`` and ``search_features(x)`` do no work; they return :class:`LazyFeatures`
  holding the crop, because the graphs take crops, not features.
* ``make_kernels`` runs the template graph; ``head`` runs the search graph -- backbone,
  correlation and head in one call -- and stores the search features it also returns on the
  :class:`LazyFeatures` it was given.
* ``pool_cls_kernel`` (SiamMargin's online update, only on update frames) runs the PyTorch model's
  own pooling on those stored features, so the update is the same code as in the PyTorch path.

Tensors cross between torch and numpy without copies (``Tensor.numpy()`` / ``torch.from_numpy``
on CPU). On CUDA (ONNX Runtime's CUDA execution provider, ``onnxruntime-gpu``) the graphs read and
write torch CUDA memory directly through I/O binding, on torch's current stream.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from siam_tracker_ros.models.base import (
    Features,
    HeadOutput,
    Kernels,
    LazyFeatures,
    SiameseModel,
    lazy_crop,
)
from siam_tracker_ros.models.export import (
    EXPORT_FORMAT,
    SEARCH_AXIS,
    SEARCH_INPUT,
    TEMPLATE_INPUT,
    ExportedModel,
    export_model,
    export_search,
    feature_name,
    kernel_names,
    load_exported,
)
from siam_tracker_ros.models.host_pool import HostPool

__all__ = ["LazyFeatures", "OnnxRuntimeModel", "OnnxRuntimeOptions", "onnxruntime_available"]

_OPT_LEVELS = ("disable", "basic", "extended", "all")


def onnxruntime_available(device: str = "cpu") -> bool:
    """Whether ONNX Runtime is installed with an execution provider for ``device``."""
    try:
        import onnxruntime as ort
    except ImportError:
        return False
    wanted = "CUDAExecutionProvider" if device.startswith("cuda") else "CPUExecutionProvider"
    return wanted in ort.get_available_providers()


@dataclass(frozen=True)
class OnnxRuntimeOptions:
    """Session settings.

    ``intra_op_threads``: threads per graph run (0 = ``torch.get_num_threads()``). Default 1,
    measured (``docs/speed.md``): on 2 idle cores 2 threads with spinning workers make the step
    ~1.3x faster, but as soon as another process holds the second core they make it 3-5x
    *slower* (the run waits for a descheduled worker), while one thread degrades gracefully. A
    robot's CPU also runs the camera driver and the rest of ROS, so robust is the default; use 2
    on a machine the tracker has to itself. ``allow_spinning``: idle workers busy-wait between
    runs (ONNX Runtime's default; only matters with more than one thread, where it is what
    makes the second thread pay off). ``optimization``: graph optimisation level (``all`` adds
    the blocked-layout convolutions that make this graph ~3x faster than ``basic``).
    """

    intra_op_threads: int = 1
    allow_spinning: bool = True
    optimization: Literal["disable", "basic", "extended", "all"] = "all"

    def __post_init__(self) -> None:
        if self.intra_op_threads < 0:
            raise ValueError(f"intra_op_threads must be >= 0, got {self.intra_op_threads}")
        if self.optimization not in _OPT_LEVELS:
            raise ValueError(
                f"optimization must be one of {_OPT_LEVELS}, got {self.optimization!r}"
            )

    def threads(self) -> int:
        return self.intra_op_threads or torch.get_num_threads()


class OnnxRuntimeModel(SiameseModel):
    """Runs the exported graphs of a model; see the module docstring.

    ``torch_model`` (optional) is the model the graphs came from: the online update pools its
    kernel with it, and search sizes without a graph are exported from it on first use. The
    graphs are a snapshot of its weights at export time: load new weights, build a new backend.
    """

    def __init__(
        self,
        exported: ExportedModel,
        torch_model: SiameseModel | None = None,
        options: OnnxRuntimeOptions | None = None,
        warm_sizes: Iterable[int] = (),
        device: str | torch.device = "cpu",
    ) -> None:
        super().__init__()
        import onnxruntime as ort

        self._ort = ort
        self.exported = exported
        self.options = options or OnnxRuntimeOptions()
        self.stride = exported.stride
        self.head_type = exported.head_type
        self.levels = exported.levels
        # kept out of the module tree: ``Tracker`` moves this object with ``.to(device)``, and
        # the pooling model must follow, but its parameters are not this model's parameters
        self._torch_model = [torch_model.eval()] if torch_model is not None else []
        self._kernel_names = kernel_names(exported.levels)
        self._feature_names = [feature_name(i) for i in range(exported.levels)]
        self._sessions: dict[tuple[str, int], Any] = {}
        self._out_shapes: dict[tuple[str, int], list[tuple[int, ...]]] = {}
        #: NumPy fast path of the online update's pooling (NanoTrack v1/v2), verified
        self._host_pool = HostPool.for_model(torch_model) if torch_model is not None else None
        self._device = torch.device(device)
        if self._device.type not in ("cpu", "cuda"):
            raise ValueError(f"OnnxRuntimeModel runs on cpu or cuda, not {self._device}")
        for m in self._torch_model:
            m.to(self._device)
        for size in warm_sizes:
            self.warm_up(int(size))

    def warm_up(self, size: int) -> None:
        """Create (and run once) the sessions for a search size, so the first frame is not slow."""
        side = self.exported.exemplar_size
        z = torch.zeros((1, 3, side, side), device=self._device)
        kernels = self.make_kernels(self.template_features(z))
        xf = self.search_features(torch.zeros((1, 3, size, size), device=self._device))
        self.head(xf, kernels)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_model(
        cls,
        model: SiameseModel,
        *,
        exemplar_size: int = 127,
        search_sizes: Sequence[int] = (255, 351),
        options: OnnxRuntimeOptions | None = None,
        cache_dir: str | Path | None = None,
        device: str | torch.device = "cpu",
    ) -> OnnxRuntimeModel:
        """Export ``model`` and wrap the graphs.

        With ``cache_dir`` the graphs are kept there under a hash of the model's class, weights
        and export settings, so the next start (e.g. of the ROS node) skips the export; without
        it they live in a temporary folder removed with this object.
        """
        if cache_dir is not None:
            out = Path(cache_dir) / _model_key(model, exemplar_size)
            try:
                exported = load_exported(out)
            except (FileNotFoundError, ValueError):
                shutil.rmtree(out, ignore_errors=True)
                exported = export_model(
                    model, out, exemplar_size=exemplar_size, search_sizes=search_sizes
                )
            backend = cls(exported, model, options, warm_sizes=search_sizes, device=device)
        else:
            tmp = tempfile.mkdtemp(prefix="siam_onnx_")
            exported = export_model(
                model, tmp, exemplar_size=exemplar_size, search_sizes=search_sizes
            )
            backend = cls(exported, model, options, warm_sizes=search_sizes, device=device)
            weakref.finalize(backend, shutil.rmtree, tmp, True)
        return backend

    # ------------------------------------------------------------------ sessions
    def _session_options(self, size: int | None) -> Any:
        ort = self._ort
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = self.options.threads()
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = {
            "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
            "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
            "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
            "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
        }[self.options.optimization]
        spin = "1" if self.options.allow_spinning else "0"
        opts.add_session_config_entry("session.intra_op.allow_spinning", spin)
        opts.log_severity_level = 3
        if size is not None:
            # pin the dynamic axis: shapes become static, as in a per-size export
            opts.add_free_dimension_override_by_name(SEARCH_AXIS, size)
        return opts

    def _providers(self, device_type: str) -> list[Any]:
        if device_type == "cpu":
            return ["CPUExecutionProvider"]
        if "CUDAExecutionProvider" not in self._ort.get_available_providers():
            raise RuntimeError(
                "runtime 'onnxruntime' on CUDA needs onnxruntime-gpu (CUDAExecutionProvider); "
                f"available: {self._ort.get_available_providers()}"
            )
        index = self._device.index if self._device.index is not None else 0
        stream = torch.cuda.current_stream(self._device).cuda_stream
        cuda_opts = {"device_id": str(index), "user_compute_stream": str(stream)}
        return [("CUDAExecutionProvider", cuda_opts)]

    def _template_session(self, device_type: str) -> Any:
        key = (device_type, -1)
        if key not in self._sessions:
            self._sessions[key] = self._ort.InferenceSession(
                str(self.exported.template_path),
                self._session_options(None),
                providers=self._providers(device_type),
            )
        return self._sessions[key]

    def _search_session(self, size: int, device_type: str) -> Any:
        key = (device_type, size)
        if key not in self._sessions:
            path = self.exported.search_path_for(size)
            if path is None:
                if not self._torch_model:
                    raise ValueError(
                        f"no exported search graph for size {size} (have "
                        f"{sorted(self.exported.search_paths)}) and no PyTorch model to export one"
                    )
                self.exported = export_search(self._torch_model[0], self.exported, size)
                path = self.exported.search_path_for(size)
                assert path is not None
            pin = size if self.exported.dynamic and size not in self.exported.search_paths else None
            self._sessions[key] = self._ort.InferenceSession(
                str(path), self._session_options(pin), providers=self._providers(device_type)
            )
        return self._sessions[key]

    def _run(
        self, session: Any, key: tuple[str, int], feeds: dict[str, torch.Tensor]
    ) -> list[torch.Tensor]:
        """One graph run; torch tensors in and out (no copies on CPU)."""
        if key[0] == "cpu":
            arrays = {name: _as_numpy(t) for name, t in feeds.items()}
            return [torch.from_numpy(a) for a in session.run(None, arrays)]
        return self._run_cuda(session, key, feeds)

    def _run_cuda(
        self, session: Any, key: tuple[str, int], feeds: dict[str, torch.Tensor]
    ) -> list[torch.Tensor]:
        """I/O-bound run on torch CUDA memory, on torch's current stream."""
        binding = session.io_binding()
        index = self._device.index if self._device.index is not None else 0
        keep = []
        for name, t in feeds.items():
            t = t.detach().to(self._device, torch.float32).contiguous()
            keep.append(t)
            binding.bind_input(name, "cuda", index, np.float32, tuple(t.shape), t.data_ptr())
        names = [o.name for o in session.get_outputs()]
        shapes = self._out_shapes.get(key)
        if shapes is None:
            # first run at this size: let ONNX Runtime allocate, learn the output shapes
            for name in names:
                binding.bind_output(name, "cuda", index)
            session.run_with_iobinding(binding)
            values = binding.get_outputs()
            self._out_shapes[key] = [tuple(v.shape()) for v in values]
            return [torch.from_numpy(v.numpy()).to(self._device) for v in values]
        outs = [torch.empty(s, device=self._device, dtype=torch.float32) for s in shapes]
        for name, out in zip(names, outs, strict=True):
            binding.bind_output(name, "cuda", index, np.float32, tuple(out.shape), out.data_ptr())
        session.run_with_iobinding(binding)
        return outs

    # ------------------------------------------------------------------ nn.Module plumbing
    def _apply(self, fn: Any, recurse: bool = True) -> OnnxRuntimeModel:
        """Follow ``.to(device)`` (the graphs run where the tensors live)."""
        super()._apply(fn, recurse)
        probe = fn(torch.empty(0, device=self._device))
        if isinstance(probe, torch.Tensor):
            self._device = probe.device
        for m in self._torch_model:
            m._apply(fn, recurse)
        return self

    # ------------------------------------------------------------------ SiameseModel
    def template_features(self, z: torch.Tensor) -> Features:
        return LazyFeatures([z])

    def search_features(self, x: torch.Tensor) -> Features:
        return LazyFeatures([x])

    def make_kernels(self, zf: Features) -> Kernels:
        z = lazy_crop(zf, "OnnxRuntimeModel.make_kernels")
        dev = z.device.type
        session = self._template_session(dev)
        outs = self._run(session, (dev, -1), {TEMPLATE_INPUT: z})
        n = self.levels
        return Kernels(cls=outs[:n], loc=outs[n:])

    def head(self, xf: Features, kernels: Kernels) -> HeadOutput:
        x = lazy_crop(xf, "OnnxRuntimeModel.head")
        if x.shape[-1] != x.shape[-2]:
            raise ValueError(f"search crops must be square, got {tuple(x.shape)}")
        if len(kernels.cls) != self.levels or len(kernels.loc) != self.levels:
            raise ValueError(
                f"expected {self.levels} cls and loc kernels, got "
                f"{len(kernels.cls)} and {len(kernels.loc)}"
            )
        size = int(x.shape[-1])
        dev = x.device.type
        session = self._search_session(size, dev)
        feeds = {SEARCH_INPUT: x}
        feeds.update(zip(self._kernel_names, [*kernels.cls, *kernels.loc], strict=True))
        cls, loc, *features = self._run(session, (dev, size), feeds)
        if isinstance(xf, LazyFeatures):
            xf.computed = features
        return HeadOutput(cls=cls, loc=loc, corr=None)

    def pool_cls_kernel(self, xf: Features, roi: torch.Tensor) -> list[torch.Tensor]:
        if not self._torch_model:
            raise RuntimeError(
                "the online template update needs the PyTorch model the graphs came from; build "
                "the backend with OnnxRuntimeModel.from_model(...) or pass torch_model="
            )
        if isinstance(xf, LazyFeatures):
            if xf.computed is None:
                raise RuntimeError("pool_cls_kernel before head() ran on these search features")
            feats: Features = xf.computed
        else:
            feats = xf
        if self._host_pool is not None and feats[0].device.type == "cpu" and len(feats) == 1:
            box = roi.detach().cpu().numpy()
            pooled = self._host_pool(_as_numpy(feats[0]), box)
            return [torch.from_numpy(pooled)]
        with torch.inference_mode():
            return self._torch_model[0].pool_cls_kernel(feats, roi)

    def forward(self, z: torch.Tensor, x: torch.Tensor) -> HeadOutput:
        return self.head(self.search_features(x), self.make_kernels(self.template_features(z)))

    def extra_repr(self) -> str:
        sizes = sorted(self.exported.search_paths)
        return f"head_type={self.head_type}, levels={self.levels}, search_graphs={sizes}"


def _as_numpy(t: torch.Tensor) -> np.ndarray:
    """Zero-copy float32 C-contiguous view of a CPU tensor (copies only when it must)."""
    if t.dtype != torch.float32 or t.requires_grad or not t.is_contiguous():
        t = t.detach().float().contiguous()
    return t.numpy()


def _model_key(model: SiameseModel, exemplar_size: int) -> str:
    """Cache key: class, export format, torch version and every parameter/buffer byte."""
    h = hashlib.sha1()
    h.update(f"{type(model).__module__}.{type(model).__qualname__}".encode())
    h.update(f"{EXPORT_FORMAT}:{torch.__version__}:{exemplar_size}".encode())
    config = getattr(model, "config", None) or getattr(model, "cfg", None)
    h.update(repr(config).encode())
    for name, t in model.state_dict().items():
        h.update(name.encode())
        h.update(t.detach().to("cpu").contiguous().numpy().tobytes())
    return h.hexdigest()[:20]
