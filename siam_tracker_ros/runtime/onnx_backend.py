"""The ONNX Runtime backend (registry name ``onnxruntime``): the model's exported graphs
(:mod:`runtime.onnx_export`) run by ONNX Runtime.

Why: on a small CPU the per-frame network is most of a tracking step, and ONNX Runtime runs the
exported NanoTrack graph several times faster than eager PyTorch does (fused batch norm and
activations, planned memory, no per-operator dispatch), which is what puts the tracker level with
or ahead of OpenCV's C++ ``TrackerNano`` on the same weights.

How: :class:`runtime.exported_backend.ExportedGraphBackend` does everything but running a graph;
here a session per graph (and per search size, with the dynamic axis pinned). On the CPU the
arrays are NumPy and nothing imports torch. On CUDA (ONNX Runtime's CUDA execution provider,
``onnxruntime-gpu``) the graphs read and write torch CUDA memory directly through I/O binding,
on torch's current stream.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from siam_tracker_ros.models.contract import SEARCH_AXIS, TEMPLATE_INPUT
from siam_tracker_ros.runtime.config import usable_cores
from siam_tracker_ros.runtime.exported import ExportedModel
from siam_tracker_ros.runtime.exported_backend import (
    ExportedGraphBackend,
    HostDevice,
    exported_graphs,
)
from siam_tracker_ros.runtime.host_pool import HostPool
from siam_tracker_ros.runtime.thread_choice import ThreadChoice

if TYPE_CHECKING:
    from siam_tracker_ros.models.base import SiameseModel
    from siam_tracker_ros.runtime.base import InferenceBackend
    from siam_tracker_ros.runtime.registry import BuildRequest

__all__ = ["OnnxRuntimeBackend", "OnnxRuntimeOptions", "build", "onnxruntime_available"]

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

    ``intra_op_threads``: threads per graph run (0 = ONNX Runtime's default, one per physical
    core). Default 1, measured (``docs/speed.md``): on 2 idle cores 2 threads with spinning
    workers make the step ~1.3x faster, but as soon as another process holds the second core they
    make it 3-5x *slower* (the run waits for a descheduled worker), while one thread degrades
    gracefully. A robot's CPU also runs the camera driver and the rest of ROS, so robust is the
    default; use 2 on a machine the tracker has to itself. ``allow_spinning``: workers busy-wait
    for the next operator of a run (ONNX Runtime's default; only matters with more than one
    thread, where it is what makes the second thread pay off). ``stop_spinning``: and stop
    busy-waiting as soon as a run returns (ONNX Runtime's ``session.force_spinning_stop``).
    Without it every session's pool keeps a worker spinning for a while after its run, and a
    tracker has several sessions (template, each search size): on two cores the spinning workers
    of the sessions that just ran took the cores from the next run and the host-side code, which
    made two threads 2x *slower* than one (docs/speed.md, *Threads*). ``optimization``: graph
    optimisation level (``all`` adds the blocked-layout convolutions that make this graph ~3x
    faster than ``basic``). ``adaptive_threads`` (CPU, ``intra_op_threads`` >= 2): run whichever
    of a size's one-thread and ``intra_op_threads`` sessions ran faster lately
    (:class:`runtime.thread_choice.ThreadChoice`): the second core while it pays, one thread
    while another process holds it. With more than one thread a run that starts while another
    run of the backend is in flight runs on one thread (see ``_crowded``).
    """

    intra_op_threads: int = 1
    allow_spinning: bool = True
    stop_spinning: bool = True
    optimization: Literal["disable", "basic", "extended", "all"] = "all"
    adaptive_threads: bool = False

    def __post_init__(self) -> None:
        if self.intra_op_threads < 0:
            raise ValueError(f"intra_op_threads must be >= 0, got {self.intra_op_threads}")
        if self.adaptive_threads and self.intra_op_threads < 2:
            raise ValueError(
                f"adaptive_threads chooses between 1 and intra_op_threads, which must be >= 2 "
                f"(got {self.intra_op_threads})"
            )
        if self.optimization not in _OPT_LEVELS:
            raise ValueError(
                f"optimization must be one of {_OPT_LEVELS}, got {self.optimization!r}"
            )


def build(request: BuildRequest) -> InferenceBackend:
    """Registry builder: the request's exported graphs (or the model exported, through the disk
    cache) on ONNX Runtime."""
    from siam_tracker_ros.runtime.registry import get_backend

    exported, owned = exported_graphs(request, get_backend("onnxruntime").cache_tag())
    device: Any = HostDevice()
    if request.device_type == "cuda":
        from siam_tracker_ros.runtime.config import resolve_device

        device = resolve_device(request.config.device)
    threads, adaptive = request.config.threads, request.config.adaptive_threads
    if adaptive:  # the choice is between one thread and more (the CPU's second core, say)
        threads = max(threads, 2)
    return OnnxRuntimeBackend(
        exported,
        torch_model=request.model,
        options=OnnxRuntimeOptions(intra_op_threads=threads, adaptive_threads=adaptive),
        device=device,
        pool=request.pool,
        owned_dir=owned,
    )


class OnnxRuntimeBackend(ExportedGraphBackend):
    """Runs the exported graphs of a model on ONNX Runtime; see the module docstring."""

    def __init__(
        self,
        exported: ExportedModel,
        torch_model: SiameseModel | None = None,
        options: OnnxRuntimeOptions | None = None,
        device: Any = "cpu",
        pool: HostPool | None = None,
        owned_dir: str | Path | None = None,
    ) -> None:
        import onnxruntime as ort

        self._ort = ort
        self.options = options or OnnxRuntimeOptions()
        if isinstance(device, str):
            if device == "cpu":
                device = HostDevice()
            else:
                from siam_tracker_ros.runtime.config import resolve_device

                device = resolve_device(device)
        if device.type not in ("cpu", "cuda"):
            raise ValueError(f"the ONNX Runtime backend runs on cpu or cuda, not {device}")
        self.device = device
        if torch_model is not None and device.type == "cuda":
            torch_model = torch_model.eval().to(device)
        super().__init__(exported, torch_model, pool, owned_dir)
        #: sessions by graph (-1: template, else the search size) and intra-op threads
        self._sessions: dict[tuple[int, int], Any] = {}
        self._out_shapes: dict[int, list[tuple[int, ...]]] = {}
        self.thread_choice: ThreadChoice | None = None
        self._runs = 0  # runs in flight (see _crowded)
        self._beside = 0  # background work open (see beside)
        #: whether open background work holds the calling thread's runs to one thread too: only
        #: where the cores cannot hold a run of ``intra_op_threads`` and the background run
        self._beside_crowds = usable_cores() <= (self.options.intra_op_threads or usable_cores())
        #: search runs so far by the thread count they ran with (benches, tests)
        self.search_runs: Counter[int] = Counter()
        self._runs_lock = threading.Lock()
        if self.options.adaptive_threads and self.device.type == "cpu":
            self.thread_choice = ThreadChoice(self.options.intra_op_threads)

    def __repr__(self) -> str:
        sizes = sorted(self.exported.search_paths)
        return (
            f"OnnxRuntimeBackend(device={self.device}, head_type={self.head_type}, "
            f"levels={self.levels}, search_graphs={sizes})"
        )

    @property
    def session_threads(self) -> set[int]:
        """Intra-op threads of every session made so far (``threads``, and 1 for a run beside
        another when ``threads`` is more)."""
        return {int(s.get_session_options().intra_op_num_threads) for s in self._sessions.values()}

    def session_config(self, entry: str) -> set[str]:
        """The value of session config ``entry`` over every session made so far ("" where a
        session lacks it)."""
        values = set()
        for session in self._sessions.values():
            try:
                values.add(session.get_session_options().get_session_config_entry(entry))
            except RuntimeError:  # ONNX Runtime's answer for an entry never set
                values.add("")
        return values

    def is_prepared(self, size: int) -> bool:
        return all((size, t) in self._sessions for t in self._thread_counts)

    @property
    def _thread_counts(self) -> tuple[int, ...]:
        """The sessions a search size gets: with more than one thread on a CPU also a one-thread
        session, for a run that starts while another is in flight (see :meth:`_crowded`)."""
        if self.device.type != "cpu" or self._threads == 1:
            return (self._threads,)
        return (1, self._threads)

    @contextlib.contextmanager
    def beside(self) -> Iterator[None]:
        """Background work is open (see :class:`InferenceBackend`): while it is, on a CPU with
        no more cores than ``intra_op_threads``, every run is *crowded* (one thread). Counted
        from the moment the work is handed over, not from its first run: the calling thread
        starts its own search at once, before the worker thread has woken, and with a count taken
        at run start that search took both threads of a two-core CPU and the worker's run a third
        (docs/speed.md, "A thread policy"). With more cores both fit: only runs that meet
        another in flight take one thread, as before."""
        with self._runs_lock:
            self._beside += 1
        try:
            yield
        finally:
            with self._runs_lock:
                self._beside -= 1

    @contextlib.contextmanager
    def _crowded(self) -> Iterator[bool]:
        """Counts a run while it runs; yields whether another run of this backend was in flight
        when it started, or background work is open (:meth:`beside`). Why: a long-term
        re-detection crop runs on a second thread beside the tracker's own search
        (``Tracker.background_searches``), and two runs with two threads each on two cores wait
        for each other's descheduled workers; run on one thread each, the two use the two cores
        (docs/speed.md, *Threads*)."""
        with self._runs_lock:
            crowded = self._runs > 0 or (self._beside > 0 and self._beside_crowds)
            self._runs += 1
        try:
            yield crowded
        finally:
            with self._runs_lock:
                self._runs -= 1

    @property
    def _threads(self) -> int:
        return self.options.intra_op_threads

    # ------------------------------------------------------------------ sessions
    def _session_options(self, size: int | None, threads: int | None = None) -> Any:
        ort = self._ort
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = self._threads if threads is None else threads
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
        if self.options.stop_spinning:
            opts.add_session_config_entry("session.force_spinning_stop", "1")
        opts.log_severity_level = 3
        if size is not None:
            # pin the dynamic axis: shapes become static, as in a per-size export
            opts.add_free_dimension_override_by_name(SEARCH_AXIS, size)
        return opts

    def _providers(self) -> list[Any]:
        if self.device.type == "cpu":
            return ["CPUExecutionProvider"]
        if "CUDAExecutionProvider" not in self._ort.get_available_providers():
            raise RuntimeError(
                "runtime 'onnxruntime' on CUDA needs onnxruntime-gpu (CUDAExecutionProvider); "
                f"available: {self._ort.get_available_providers()}"
            )
        import torch

        index = self.device.index if self.device.index is not None else 0
        stream = torch.cuda.current_stream(self.device).cuda_stream
        cuda_opts = {"device_id": str(index), "user_compute_stream": str(stream)}
        return [("CUDAExecutionProvider", cuda_opts)]

    def _session(self, key: int, path: Path, pin: int | None, threads: int | None = None) -> Any:
        threads = self._threads if threads is None else threads
        if (key, threads) not in self._sessions:
            self._sessions[key, threads] = self._ort.InferenceSession(
                str(path), self._session_options(pin, threads), providers=self._providers()
            )
        return self._sessions[key, threads]

    def _run(self, key: int, session: Any, feeds: dict[str, Any]) -> list[Any]:
        if self.device.type == "cpu":
            return list(session.run(None, feeds))
        return self._run_cuda(session, key, feeds)

    def _run_cuda(self, session: Any, key: int, feeds: dict[str, Any]) -> list[Any]:
        """I/O-bound run on torch CUDA memory, on torch's current stream."""
        import torch

        binding = session.io_binding()
        index = self.device.index if self.device.index is not None else 0
        keep = []
        for name, value in feeds.items():
            t = torch.as_tensor(value).detach().to(self.device, torch.float32).contiguous()
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

    # ------------------------------------------------------------------ ExportedGraphBackend
    def feed(self, crop: np.ndarray) -> Any:
        if self.device.type == "cpu":
            return super().feed(crop)
        import torch

        if not crop.flags.writeable:
            crop = crop.copy()
        t = torch.from_numpy(crop).to(self.device, non_blocking=True)
        return t.permute(2, 0, 1).unsqueeze(0).float().contiguous()

    def head_to_host(self, cls: Any, loc: Any) -> tuple[np.ndarray, np.ndarray]:
        if self.device.type == "cpu":
            return super().head_to_host(cls, loc)
        from siam_tracker_ros.runtime.torch_backend import head_to_host

        return head_to_host(cls, loc)

    def run_template(self, crop: Any) -> list[Any]:
        feeds = {TEMPLATE_INPUT: crop}
        path = self.exported.template_path
        # with adaptive threads on one thread (no second worker pool for a run or two a target)
        counts = (1,) if self.thread_choice is not None else self._thread_counts
        with self._crowded() as crowded:
            for t in counts:  # make and warm every session at once (prepare)
                if (-1, t) not in self._sessions:
                    self._run(-1, self._session(-1, path, None, t), feeds)
            threads = counts[0] if crowded else counts[-1]
            return self._run(-1, self._session(-1, path, None, threads), feeds)

    def run_search(self, size: int, path: Path, feeds: dict[str, Any]) -> list[Any]:
        pin = size if self.exported.dynamic and size not in self.exported.search_paths else None
        choice = self.thread_choice
        with self._crowded() as crowded:
            for t in self._thread_counts:  # make and warm every session of a size at once
                if (size, t) not in self._sessions:
                    # a session's first run plans memory; the choice drops it, wherever it ran
                    self._search_run(size, self._session(size, path, pin, t), t, feeds, False)
            if crowded:  # the other core is taken by this backend's other run
                threads = self._thread_counts[0]  # 1 on a CPU; a GPU's sessions have one count
            elif choice is None:
                threads = self._threads
            else:
                threads = choice.pick(size)
            with self._runs_lock:  # two threads may count at once
                self.search_runs[threads] += 1
            session = self._session(size, path, pin, threads)
            return self._search_run(size, session, threads, feeds, crowded)

    def _search_run(
        self, size: int, session: Any, threads: int, feeds: dict[str, Any], crowded: bool
    ) -> list[Any]:
        """One run; with adaptive threads its time goes to the choice, unless it ran beside
        another run (then it says nothing about the thread count)."""
        if self.thread_choice is None or crowded:
            return self._run(size, session, feeds)
        start = time.perf_counter()
        out = self._run(size, session, feeds)
        self.thread_choice.record(size, threads, time.perf_counter() - start)
        return out

    @classmethod
    def from_model(
        cls,
        model: SiameseModel,
        *,
        exemplar_size: int = 127,
        search_sizes: tuple[int, ...] = (255,),
        options: OnnxRuntimeOptions | None = None,
        cache_dir: str | Path | None = None,
        device: Any = "cpu",
    ) -> OnnxRuntimeBackend:
        """Export ``model`` (or find its graphs in the disk cache) and wrap the graphs.

        ``cache_dir``: the cache folder (``None``: :func:`export_cache.default_cache_dir`; ``""``:
        no disk cache, the graphs live in a temporary folder removed with this backend).
        """
        from siam_tracker_ros.runtime.config import RuntimeConfig
        from siam_tracker_ros.runtime.registry import BuildRequest, get_backend

        config = RuntimeConfig(
            backend="onnxruntime",
            device=str(device),
            threads=(options or OnnxRuntimeOptions()).intra_op_threads,
            cache_dir=None if cache_dir is None else str(cache_dir),
        )
        request = BuildRequest(
            config,
            "cuda" if str(device).startswith("cuda") else "cpu",
            exemplar_size,
            search_sizes,
            model=model,
        )
        exported, owned = exported_graphs(request, get_backend("onnxruntime").cache_tag())
        return cls(exported, model, options, device=device, owned_dir=owned)
