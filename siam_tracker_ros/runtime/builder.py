"""The one place that turns a network (or its cached exported graphs) and a
:class:`RuntimeConfig` into an inference backend, through the registry."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from siam_tracker_ros.runtime.base import InferenceBackend
from siam_tracker_ros.runtime.config import RuntimeConfig
from siam_tracker_ros.runtime.registry import BuildRequest, resolve_backend

if TYPE_CHECKING:
    from siam_tracker_ros.models.base import SiameseModel

__all__ = ["build_runtime", "cached_runtime"]


def build_runtime(
    model: SiameseModel,
    config: RuntimeConfig,
    *,
    exemplar_size: int,
    search_sizes: Sequence[int],
    cache_key: str | None = None,
    cache_extra: dict[str, Any] | None = None,
    where: str = "runtime",
) -> InferenceBackend:
    """The backend ``config`` names (``auto``: the registry's pick) for ``model``, prepared for
    the template size and the ``search_sizes`` the tracker will use first (sessions made and
    warmed, graphs captured), so the first frames are not slow; other sizes (re-detection) are
    made on first use. An exported-graph backend exports through the disk cache, under
    ``cache_key`` when given (the loader's key of the model *files*, with ``cache_extra`` kept
    beside the graphs for a later start without PyTorch). ``ValueError`` naming
    ``<where>.backend`` when the choice cannot run here."""
    entry, device_type = resolve_backend(config, where)
    exported = None
    if entry.runs_exported and cache_key is not None and config.cache_dir != "":
        from siam_tracker_ros.runtime.export_cache import cached_export, default_cache_dir

        root = Path(config.cache_dir) if config.cache_dir else default_cache_dir()
        try:
            exported, _ = cached_export(
                model,
                root,
                exemplar_size,
                search_sizes,
                key=cache_key,
                extra=cache_extra,
                backend_tag=entry.cache_tag(),
            )
        except OSError:
            exported = None  # the backend's own export falls back to a temporary folder
    request = BuildRequest(
        config, device_type, exemplar_size, search_sizes, model=model, exported=exported
    )
    backend = entry.build(request)
    backend.prepare(exemplar_size, search_sizes)
    return backend


def cached_runtime(
    config: RuntimeConfig,
    key: str,
    *,
    exemplar_size: int,
    search_sizes: Sequence[int],
    where: str = "runtime",
) -> tuple[InferenceBackend, dict[str, Any]] | None:
    """A backend started from the disk cache's graphs under ``key`` without the model -- and
    without importing PyTorch -- or ``None`` when that cannot be done (no entry, a backend that
    does not run exported graphs, a model whose pooling needs PyTorch, no disk cache). Returns
    the entry's extra data with it."""
    entry, device_type = resolve_backend(config, where)
    if not entry.runs_exported or config.cache_dir == "" or device_type != "cpu":
        return None
    from siam_tracker_ros.runtime.export_cache import default_cache_dir, lookup

    found = lookup(Path(config.cache_dir) if config.cache_dir else default_cache_dir(), key)
    if found is None:
        return None
    exported, extra = found
    if not exported.dynamic or exported.pool_spec is None or not exported.host_pool:
        return None  # sizes it lacks or its pooling would need the PyTorch model
    request = BuildRequest(config, device_type, exemplar_size, search_sizes, exported=exported)
    backend = entry.build(request)
    backend.prepare(exemplar_size, search_sizes)
    return backend, extra
