"""The one list of inference backends: how each builds, which devices it serves, what it adds to
the export-cache key, and which one ``backend: auto`` picks.

Adding a backend is a module with a ``build(request)`` function plus one :class:`BackendEntry`
below. Everything else -- config validation, the CLI's choices, the node's parameter, the
``auto`` choice, the error for an impossible choice, the export cache -- reads this list.

No silent override: :func:`resolve_backend` either returns the backend the config names (or the
one ``auto`` picks, which it logs) or raises ``ValueError`` with one line naming the key, why the
choice cannot work here, and what would.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from siam_tracker_ros.models.base import SiameseModel
    from siam_tracker_ros.runtime.base import InferenceBackend
    from siam_tracker_ros.runtime.exported import ExportedModel
    from siam_tracker_ros.runtime.host_pool import HostPool


class RuntimeSettings(Protocol):
    """What the registry reads of a ``RuntimeConfig`` (:mod:`runtime.config` validates backend
    names against this module, so this module does not import that one)."""

    @property
    def backend(self) -> str: ...

    @property
    def device(self) -> str: ...

    @property
    def device_type(self) -> str: ...

    @property
    def threads(self) -> int: ...

    @property
    def precision(self) -> str: ...

    @property
    def adaptive_threads(self) -> bool: ...

    @property
    def cache_dir(self) -> str | None: ...


__all__ = [
    "BACKENDS",
    "BackendEntry",
    "BackendUnavailable",
    "BuildRequest",
    "backend_names",
    "get_backend",
    "resolve_backend",
]

_log = logging.getLogger(__name__)


class BackendUnavailable(ValueError):
    """The configured backend (or ``auto``) cannot run on the configured device here; the
    message is one line naming the key, the reason and what would work."""


@dataclass(frozen=True)
class BuildRequest:
    """What a backend's ``build`` gets. ``model``: the PyTorch model (``None`` for a start from
    cached exported graphs). ``exported``: the exported graphs, for backends that run them.
    ``pool``: the verified host pooling of the online update (``None``: pool with ``model``)."""

    config: RuntimeSettings
    device_type: str
    exemplar_size: int
    search_sizes: Sequence[int]
    model: SiameseModel | None = None
    exported: ExportedModel | None = None
    pool: HostPool | None = None


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "none"


@dataclass(frozen=True)
class BackendEntry:
    """One inference backend.

    ``module``/``builder``: where its ``build(request) -> InferenceBackend`` lives (imported on
    use, so an optional backend's library is only needed when it is chosen). ``devices``: device
    types it serves. ``requires``: Python modules it needs, by device (missing -> unavailable,
    with ``install`` as the hint). ``runs_exported``: it runs the exported ONNX graphs (so it can
    start from the export cache without PyTorch). ``cache_libraries``: distributions whose
    versions go into the export-cache key. ``auto_rank``: preference of ``backend: auto`` per
    device (higher first; absent = never picked automatically).
    """

    name: str
    summary: str
    module: str
    devices: tuple[str, ...]
    requires: dict[str, tuple[str, ...]]
    install: str
    runs_exported: bool
    cache_libraries: tuple[str, ...] = ()
    auto_rank: dict[str, int] = field(default_factory=dict)
    #: extra availability check by device type (e.g. a GPU execution provider); a reason or None
    probe: Callable[[str], str | None] | None = None
    builder: str = "build"

    def unavailable(self, device_type: str) -> str | None:
        """Why this backend cannot run on ``device_type`` here, or ``None``."""
        if device_type not in self.devices:
            return f"it runs on {'/'.join(self.devices)} only"
        for mod in self.requires.get(device_type, ()):
            if importlib.util.find_spec(mod) is None:
                return f"the Python module '{mod}' is not installed ({self.install})"
        return self.probe(device_type) if self.probe is not None else None

    def cache_tag(self) -> str:
        """What this backend adds to the export-cache key (library versions)."""
        return ";".join(f"{d}={_version(d)}" for d in self.cache_libraries)

    def build(self, request: BuildRequest) -> InferenceBackend:
        module = importlib.import_module(self.module)
        backend: InferenceBackend = getattr(module, self.builder)(request)
        return backend


def _torch_probe(device_type: str) -> str | None:
    if device_type != "cuda":
        return None
    import torch

    if not torch.cuda.is_available():
        why = "this torch build has no CUDA" if torch.version.cuda is None else "no GPU is visible"
        return f"CUDA is not available ({why}; torch {torch.__version__})"
    return None


def _onnxruntime_probe(device_type: str) -> str | None:
    if device_type != "cuda":
        return None
    import onnxruntime as ort

    if "CUDAExecutionProvider" not in ort.get_available_providers():
        return "the installed onnxruntime has no CUDAExecutionProvider (install onnxruntime-gpu)"
    return _torch_probe(device_type)  # its CUDA path binds torch CUDA memory


#: every backend, in the order ``--help`` lists them
BACKENDS: dict[str, BackendEntry] = {
    e.name: e
    for e in (
        BackendEntry(
            name="torch",
            summary="eager PyTorch (CUDA: autocast, channels_last, optional CUDA graphs)",
            module="siam_tracker_ros.runtime.cuda_graph",  # its build(): eager or graphs
            devices=("cpu", "cuda"),
            requires={"cpu": ("torch",), "cuda": ("torch",)},
            install="pip install torch",
            runs_exported=False,
            auto_rank={"cpu": 1, "cuda": 10},
            probe=_torch_probe,
        ),
        BackendEntry(
            name="onnxruntime",
            summary="the exported ONNX graphs on ONNX Runtime (the CPU fast path)",
            module="siam_tracker_ros.runtime.onnx_backend",
            devices=("cpu", "cuda"),
            requires={"cpu": ("onnxruntime",), "cuda": ("onnxruntime", "torch")},
            install="pip install onnxruntime, or onnxruntime-gpu for CUDA",
            runs_exported=True,
            cache_libraries=("onnx", "onnxruntime"),
            auto_rank={"cpu": 10, "cuda": 5},
            probe=_onnxruntime_probe,
        ),
        BackendEntry(
            name="openvino",
            summary="the exported ONNX graphs on OpenVINO (Intel CPUs; optional extra)",
            module="siam_tracker_ros.runtime.openvino_backend",
            devices=("cpu",),
            requires={"cpu": ("openvino",)},
            install="pip install 'siam_tracker_ros[openvino]' or pip install openvino",
            runs_exported=True,
            cache_libraries=("onnx", "openvino"),
        ),
    )
}


def backend_names() -> tuple[str, ...]:
    """Every registered backend name (``auto`` is not one: it picks one of these)."""
    return tuple(BACKENDS)


def get_backend(name: str) -> BackendEntry:
    try:
        return BACKENDS[name]
    except KeyError:
        raise ValueError(
            f"runtime.backend: unknown backend {name!r} (known: auto, {', '.join(BACKENDS)})"
        ) from None


def resolve_backend(config: RuntimeSettings, where: str = "runtime") -> tuple[BackendEntry, str]:
    """The backend ``config`` asks for and the device type it runs on, or ``ValueError`` with one
    line naming ``<where>.backend`` / ``<where>.device`` when that cannot work here."""
    device_type = config.device_type
    if config.backend == "auto":
        ranked = sorted(
            (e for e in BACKENDS.values() if device_type in e.auto_rank),
            key=lambda e: -e.auto_rank[device_type],
        )
        reasons = []
        for entry in ranked:
            why = entry.unavailable(device_type)
            if why is None:
                _log.info("%s.backend auto: %s on %s", where, entry.name, device_type)
                return entry, device_type
            reasons.append(f"{entry.name}: {why}")
        raise BackendUnavailable(
            f"{where}.backend: auto found no backend for {device_type} ({'; '.join(reasons)})"
        )
    entry = get_backend(config.backend)
    why = entry.unavailable(device_type)
    if why is not None:
        others = [
            e.name
            for e in BACKENDS.values()
            if e is not entry and e.unavailable(device_type) is None
        ]
        hint = f"; available here on {device_type}: {', '.join(others)}" if others else ""
        raise BackendUnavailable(
            f"{where}.backend: {entry.name!r} cannot run on {config.device}: {why}{hint} "
            f"(or set {where}.backend: auto)"
        )
    return entry, device_type


def describe_backends() -> str:
    """One line per backend (CLI help)."""
    return "; ".join(f"{e.name}: {e.summary}" for e in BACKENDS.values())
