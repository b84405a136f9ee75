"""The ONNX Runtime backend: the model's exported graphs (:mod:`runtime.onnx_export`) run by ONNX
Runtime.

Why: on a small CPU the per-frame network is most of a tracking step, and ONNX Runtime runs the
exported NanoTrack graph several times faster than eager PyTorch does (fused batch norm and
activations, planned memory, no per-operator dispatch), which is what puts the tracker level with
or ahead of OpenCV's C++ ``TrackerNano`` on the same weights.

How: :meth:`OnnxRuntimeBackend.template` runs the template graph; :meth:`OnnxRuntimeBackend.search`
runs the search graph -- backbone, correlation and head in one call -- which also returns the
search features; :meth:`OnnxRuntimeBackend.pool` (SiamMargin's online update and appearance cue)
pools from those with :class:`runtime.host_pool.HostPool` where it is verified for the model, else
with the PyTorch model's own pooling, so the update is the same arithmetic as in the PyTorch path.

Arrays cross between torch and numpy without copies on CPU (``Tensor.numpy()`` /
``torch.from_numpy``). On CUDA (ONNX Runtime's CUDA execution provider, ``onnxruntime-gpu``) the
graphs read and write torch CUDA memory directly through I/O binding, on torch's current stream.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
import tempfile
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np
import torch

from siam_tracker_ros.models.base import Features, Kernels, SiameseModel
from siam_tracker_ros.models.export import (
    SEARCH_AXIS,
    SEARCH_INPUT,
    TEMPLATE_INPUT,
    feature_name,
    kernel_names,
)
from siam_tracker_ros.runtime.base import Roi, SearchOutput, head_to_host
from siam_tracker_ros.runtime.export_cache import cached_export, default_cache_dir
from siam_tracker_ros.runtime.host_pool import HostPool
from siam_tracker_ros.runtime.onnx_export import ExportedModel, export_model, export_search

__all__ = ["OnnxRuntimeBackend", "OnnxRuntimeOptions", "onnxruntime_available"]

_OPT_LEVELS = ("disable", "basic", "extended", "all")
_log = logging.getLogger(__name__)


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


class OnnxRuntimeBackend:
    """Runs the exported graphs of a model; see the module docstring.

    ``torch_model`` (optional) is the model the graphs came from: the online update pools its
    kernel with it, and search sizes without a graph are exported from it on first use (into a
    private temporary folder, never into the shared cache). The graphs are a snapshot of its
    weights at export time: load new weights, build a new backend.
    """

    def __init__(
        self,
        exported: ExportedModel,
        torch_model: SiameseModel | None = None,
        options: OnnxRuntimeOptions | None = None,
        device: str | torch.device = "cpu",
    ) -> None:
        import onnxruntime as ort

        self._ort = ort
        self.exported = exported
        self.options = options or OnnxRuntimeOptions()
        self.stride = exported.stride
        self.head_type = exported.head_type
        self.levels = exported.levels
        self.device = torch.device(device)
        if self.device.type not in ("cpu", "cuda"):
            raise ValueError(f"the ONNX Runtime backend runs on cpu or cuda, not {self.device}")
        self.torch_model = torch_model.eval().to(self.device) if torch_model is not None else None
        self._kernel_names = kernel_names(exported.levels)
        self._feature_names = [feature_name(i) for i in range(exported.levels)]
        self._sessions: dict[tuple[str, int], Any] = {}
        self._out_shapes: dict[tuple[str, int], list[tuple[int, ...]]] = {}
        self._extra_dir: Path | None = None
        #: NumPy fast path of the online update's pooling (NanoTrack v1/v2), verified
        self._host_pool = (
            HostPool.for_model(torch_model, verified=exported.host_pool)
            if torch_model is not None
            else None
        )

    def __repr__(self) -> str:
        sizes = sorted(self.exported.search_paths)
        return (
            f"OnnxRuntimeBackend(device={self.device}, head_type={self.head_type}, "
            f"levels={self.levels}, search_graphs={sizes})"
        )

    @property
    def session_threads(self) -> set[int]:
        """Intra-op threads of every session made so far (what ``threads`` asked for)."""
        return {int(s.get_session_options().intra_op_num_threads) for s in self._sessions.values()}

    def prepare(self, exemplar_size: int, search_sizes: Sequence[int]) -> None:
        """Create (and run once) the sessions for these search sizes, so the first frame is not
        slow."""
        missing = [
            s for s in dict.fromkeys(search_sizes) if (self.device.type, s) not in self._sessions
        ]
        if not missing:
            return
        side = self.exported.exemplar_size
        kernels = self.template(np.zeros((side, side, 3), np.uint8))
        for size in missing:
            self.search(np.zeros((size, size, 3), np.uint8), kernels)

    @classmethod
    def from_model(
        cls,
        model: SiameseModel,
        *,
        exemplar_size: int = 127,
        search_sizes: Sequence[int] = (255,),
        options: OnnxRuntimeOptions | None = None,
        cache_dir: str | Path | None = None,
        device: str | torch.device = "cpu",
    ) -> OnnxRuntimeBackend:
        """Export ``model`` (or find its graphs in the disk cache) and wrap the graphs.

        ``cache_dir``: the cache folder (``None``: :func:`export_cache.default_cache_dir`; ``""``:
        no disk cache, the graphs live in a temporary folder removed with this backend).
        """
        if cache_dir != "":
            root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
            try:
                exported = cached_export(model, root, exemplar_size, search_sizes)
            except OSError as exc:
                _log.warning(
                    "ONNX cache %s not usable (%s); exporting to a temporary folder", root, exc
                )
            else:
                return cls(exported, model, options, device=device)
        tmp = tempfile.mkdtemp(prefix="siam_onnx_")
        exported = export_model(model, tmp, exemplar_size=exemplar_size, search_sizes=search_sizes)
        backend = cls(exported, model, options, device=device)
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
        index = self.device.index if self.device.index is not None else 0
        stream = torch.cuda.current_stream(self.device).cuda_stream
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
                path = self._export_size(size)
            pin = size if self.exported.dynamic and size not in self.exported.search_paths else None
            self._sessions[key] = self._ort.InferenceSession(
                str(path), self._session_options(pin), providers=self._providers(device_type)
            )
        return self._sessions[key]

    def _run_cuda(
        self, session: Any, key: tuple[str, int], feeds: dict[str, torch.Tensor]
    ) -> list[torch.Tensor]:
        """I/O-bound run on torch CUDA memory, on torch's current stream."""
        binding = session.io_binding()
        index = self.device.index if self.device.index is not None else 0
        keep = []
        for name, t in feeds.items():
            t = t.detach().to(self.device, torch.float32).contiguous()
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
            return [torch.from_numpy(v.numpy()).to(self.device) for v in values]
        outs = [torch.empty(s, device=self.device, dtype=torch.float32) for s in shapes]
        for name, out in zip(names, outs, strict=True):
            binding.bind_output(name, "cuda", index, np.float32, tuple(out.shape), out.data_ptr())
        session.run_with_iobinding(binding)
        return outs

    def _export_size(self, size: int) -> Path:
        """Export a static search graph for a size the exported graphs lack (into a private
        temporary folder, removed with this backend)."""
        if self.torch_model is None:
            raise ValueError(
                f"no exported search graph for size {size} (have "
                f"{sorted(self.exported.search_paths)}) and no PyTorch model to export one"
            )
        if self._extra_dir is None:
            self._extra_dir = Path(tempfile.mkdtemp(prefix="siam_onnx_extra_"))
            weakref.finalize(self, shutil.rmtree, self._extra_dir, True)
        target = dataclasses.replace(self.exported, out_dir=self._extra_dir)
        path = export_search(self.torch_model, target, size).search_paths[size]
        self.exported = self.exported.with_search(size, path)
        return path

    # ------------------------------------------------------------------ InferenceBackend
    def _feed(self, crop: np.ndarray) -> np.ndarray | torch.Tensor:
        """The contiguous NCHW float crop: OpenCV's plane split, then one cast of the uint8
        planes (2.3x cheaper than a transposing NumPy cast, docs/speed.md); on CUDA uploaded as
        uint8 and cast there."""
        if self.device.type == "cpu":
            return np.stack(cv2.split(crop)).astype(np.float32)[None]
        if not crop.flags.writeable:
            crop = crop.copy()
        t = torch.from_numpy(crop).to(self.device, non_blocking=True)
        return t.permute(2, 0, 1).unsqueeze(0).float().contiguous()

    def _run(
        self, session: Any, key: tuple[str, int], feeds: dict[str, np.ndarray | torch.Tensor]
    ) -> list[torch.Tensor]:
        """One graph run; torch tensors out (no copies on CPU)."""
        if key[0] == "cpu":
            arrays = {name: _as_numpy(t) for name, t in feeds.items()}
            return [torch.from_numpy(a) for a in session.run(None, arrays)]
        tensors = {
            name: t if isinstance(t, torch.Tensor) else torch.from_numpy(t)
            for name, t in feeds.items()
        }
        return self._run_cuda(session, key, tensors)

    def template(self, crop: np.ndarray) -> Kernels:
        dev = self.device.type
        session = self._template_session(dev)
        outs = self._run(session, (dev, -1), {TEMPLATE_INPUT: self._feed(crop)})
        n = self.levels
        return Kernels(cls=outs[:n], loc=outs[n:])

    def search(self, crop: np.ndarray, kernels: Kernels) -> SearchOutput:
        if crop.shape[0] != crop.shape[1]:
            raise ValueError(f"search crops must be square, got {crop.shape}")
        if len(kernels.cls) != self.levels or len(kernels.loc) != self.levels:
            raise ValueError(
                f"expected {self.levels} cls and loc kernels, got "
                f"{len(kernels.cls)} and {len(kernels.loc)}"
            )
        size = int(crop.shape[0])
        dev = self.device.type
        session = self._search_session(size, dev)
        feeds: dict[str, np.ndarray | torch.Tensor] = {SEARCH_INPUT: self._feed(crop)}
        feeds.update(zip(self._kernel_names, [*kernels.cls, *kernels.loc], strict=True))
        cls, loc, *features = self._run(session, (dev, size), feeds)
        cls_host, loc_host = head_to_host(cls, loc)
        return SearchOutput(cls_host, loc_host, features)

    def pool(self, features: Features, roi: Roi) -> list[torch.Tensor]:
        if self.torch_model is None:
            raise RuntimeError(
                "the online template update needs the PyTorch model the graphs came from; build "
                "the backend with OnnxRuntimeBackend.from_model(...) or pass torch_model="
            )
        if self._host_pool is not None and features[0].device.type == "cpu" and len(features) == 1:
            pooled = self._host_pool(_as_numpy(features[0]), np.array(roi, np.float32))
            return [torch.from_numpy(pooled)]
        box = torch.tensor(roi, dtype=torch.float32, device=self.device)
        with torch.inference_mode():
            return self.torch_model.pool_cls_kernel(features, box)

    def to_host(self, tensors: Sequence[torch.Tensor]) -> list[np.ndarray]:
        return [t.detach().float().cpu().numpy() for t in tensors]


def _as_numpy(t: torch.Tensor | np.ndarray) -> np.ndarray:
    """Zero-copy float32 C-contiguous view of a CPU tensor (copies only when it must)."""
    if isinstance(t, np.ndarray):
        return t
    if t.dtype != torch.float32 or t.requires_grad or not t.is_contiguous():
        t = t.detach().float().contiguous()
    return t.numpy()
