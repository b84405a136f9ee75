"""The one loading path: model file -> config -> runtime -> :class:`Tracker`.

The node, the CLI, the Python API, the evaluation harness and the benches all build trackers
through :func:`load_tracker`, so a model file is read one way: the path resolved and checked
once, the config parsed once (through the one adapter for older layouts), the backend and
device resolved once by the runtime registry (an impossible choice is one ``ValueError`` naming
the file and the key), and the network built once.

A start whose exported graphs are already cached needs no PyTorch at all: the cache is keyed by
the model *files* (:func:`runtime.export_cache.source_key`), a checkpoint's config is kept beside
it (reading a ``.pt`` file needs torch), and the exported-graph backends run on NumPy arrays.
Only a first start (or a backend that runs the PyTorch model) imports torch, builds the model and
loads its weights.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from siam_tracker_ros.core.config import TrackingConfig, config_from_dict, load_config
from siam_tracker_ros.core.defaults import BUNDLED_CHECKPOINT, CHECKPOINT_SUFFIXES
from siam_tracker_ros.core.tracker import Tracker
from siam_tracker_ros.runtime import build_runtime, cached_runtime, resolve_backend
from siam_tracker_ros.runtime.export_cache import default_cache_dir, file_digest, source_key

if TYPE_CHECKING:
    from siam_tracker_ros.models.base import SiameseModel

__all__ = ["ModelSource", "load_tracker", "resolve_model_source"]

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelSource:
    """A model the user named, resolved to its files.

    ``path``: the checkpoint or the YAML. ``weights``: the YAML's weights file (``None`` for a
    checkpoint, or a YAML built on random weights). ``config``: the parsed YAML (``None`` for a
    checkpoint, whose config is inside the file)."""

    path: Path
    kind: Literal["checkpoint", "yaml"]
    weights: Path | None = None
    config: TrackingConfig | None = None

    @property
    def files(self) -> list[Path]:
        """The files whose bytes make the network (the export cache's key)."""
        return [self.path] if self.kind == "checkpoint" else [p for p in [self.weights] if p]


def resolve_model_source(
    model: str | Path | None = None,
    weights: str | Path | None = None,
    require_weights: bool = True,
) -> ModelSource:
    """``model``: a self-describing checkpoint (``.pt``), a model+tracker YAML (``weights``
    overrides its ``model.weights``; a relative ``model.weights`` resolves against the YAML's
    folder first, then the working directory), or ``None``/``""`` for the bundled model.

    Missing files raise ``FileNotFoundError`` naming the path (and the key that named it); a
    YAML that names no weights raises ``ValueError`` rather than tracking on random weights,
    unless ``require_weights`` is false."""
    path = Path(model).expanduser() if model else BUNDLED_CHECKPOINT
    if not path.exists():
        raise FileNotFoundError(f"model file not found: {path}")
    if not path.is_file():
        raise FileNotFoundError(f"model file {path} is not a file")
    if path.suffix.lower() in CHECKPOINT_SUFFIXES:
        if weights and not model:  # weights alone: for the bundled model, or a checkpoint
            raise ValueError(
                f"weights {weights} given without a model YAML; the bundled model has its own "
                "weights, and a packaged checkpoint is passed as the model itself"
            )
        if weights:
            raise ValueError(f"{path} is a checkpoint with its own weights; pass no weights")
        return ModelSource(path, "checkpoint")
    config = load_config(path)
    named = "weights argument"
    if weights:
        weights_path: Path | None = Path(weights).expanduser()
    elif config.model.get("weights"):
        named = f"{path}: model.weights"
        weights_path = Path(str(config.model["weights"])).expanduser()
        if not weights_path.is_absolute() and (path.parent / weights_path).exists():
            weights_path = path.parent / weights_path
    else:
        if require_weights:
            # a tracker on random weights "tracks" nothing: never build one silently
            raise ValueError(f"{path} names no model.weights; pass the weights file to use")
        weights_path = None
    if weights_path is not None and not weights_path.is_file():
        raise FileNotFoundError(f"weights file not found: {weights_path} (from the {named})")
    return ModelSource(path, "yaml", weights_path, config)


def _config_cache(root: Path | None, digest: str) -> Path | None:
    return None if root is None else root / "configs" / f"{digest}.json"


def _checkpoint_config(
    source: ModelSource, cache_root: Path | None
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """A checkpoint's config dict, from the config cache when it has it (no torch), else read
    from the file (returned second: its state dict, so it is not read twice)."""
    cached = _config_cache(cache_root, file_digest(source.path))
    if cached is not None and cached.is_file():
        try:
            data = json.loads(cached.read_text())
            if isinstance(data, dict):
                return data, None
        except (OSError, ValueError):
            pass
    from siam_tracker_ros.models.checkpoint import load_checkpoint

    state_dict, config_dict, _ = load_checkpoint(source.path)
    if not config_dict:
        raise ValueError(
            f"{source.path}: checkpoint carries no config; load a YAML with weights= instead"
        )
    if cached is not None:
        try:
            cached.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=cached.parent, prefix=".cfg-")
            with os.fdopen(fd, "w") as fh:
                json.dump(config_dict, fh)
            os.replace(tmp, cached)
        except OSError:
            pass  # an unwritable cache costs a torch load per start, never a failure
    return config_dict, state_dict


def _build_model(
    source: ModelSource, config: TrackingConfig, state_dict: dict[str, Any] | None
) -> SiameseModel:
    from siam_tracker_ros.models.checkpoint import (
        load_checkpoint,
        load_into,
        load_state_dict_file,
    )
    from siam_tracker_ros.models.registry import build_model

    model = build_model(config.model)
    if source.kind == "checkpoint":
        if state_dict is None:
            state_dict, _, _ = load_checkpoint(source.path)
        load_into(model, state_dict)
    elif source.weights is not None:
        load_into(model, load_state_dict_file(source.weights))
    return model


def load_tracker(
    model: str | Path | None = None,
    weights: str | Path | None = None,
    *,
    device: str | None = None,
    backend: str | None = None,
    threads: int | None = None,
    adaptive_threads: bool | None = None,
    background_searches: bool | None = None,
    precision: str | None = None,
    cache_dir: str | Path | None = None,
    require_weights: bool = True,
) -> Tracker:
    """Build a tracker from ``model`` (see :func:`resolve_model_source`; ``None``: the bundled
    model), through the one loading path (see the module docstring).

    ``device``, ``backend``, ``threads`` and ``adaptive_threads`` override the model file's
    ``runtime:`` section (``device``; ``backend``: a registry name or ``auto``; ``threads``: an
    exported-graph backend's intra-op threads; ``adaptive_threads``: ONNX Runtime on a CPU
    chooses between one thread and ``threads`` by measured run times; ``background_searches``: a
    search known ahead runs on a second core; ``precision``: ``fp32``, ``fp16`` or ``bf16``, see
    :class:`RuntimeConfig`). ``cache_dir``: where
    exported graphs (and checkpoint configs) are cached (default ``$SIAM_TRACKER_CACHE`` or the
    user cache; ``""``: no disk cache).
    Errors are ``FileNotFoundError`` / ``ValueError`` with one line naming the file and the key.
    """
    source = resolve_model_source(model, weights, require_weights)
    root: Path | None
    if cache_dir == "":
        root = None
    else:
        root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    state_dict = None
    if source.config is not None:
        config = source.config
    else:
        config_dict, state_dict = _checkpoint_config(source, root)
        try:
            config = config_from_dict(config_dict, source=str(source.path))
        except ValueError as exc:
            raise ValueError(f"{source.path}: {exc}") from None
    changes: dict[str, Any] = {}
    if device is not None:
        changes["device"] = str(device)
    if backend is not None:
        changes["backend"] = backend
    if threads is not None:
        changes["threads"] = int(threads)
    if adaptive_threads is not None:
        changes["adaptive_threads"] = bool(adaptive_threads)
    if background_searches is not None:
        changes["background_searches"] = bool(background_searches)
    if precision is not None:
        changes["precision"] = precision
    changes["cache_dir"] = None if cache_dir is None else str(cache_dir)
    try:
        runtime = replace(config.runtime, **changes)
    except ValueError as exc:
        raise ValueError(f"{source.path}: runtime.{exc}") from None
    entry, _ = resolve_backend(runtime, where=f"{source.path}: runtime")
    tracker_cfg = config.tracker
    sizes = Tracker.sizes_for(tracker_cfg)
    key = None
    if entry.runs_exported and root is not None:
        key = source_key(source.files, config.model, tracker_cfg.exemplar_size, entry.cache_tag())
        hit = cached_runtime(
            runtime, key, exemplar_size=tracker_cfg.exemplar_size, search_sizes=sizes
        )
        if hit is not None:
            return Tracker(
                config=tracker_cfg,
                runtime=hit[0],
                background_searches=runtime.background_searches,
            )
    net = _build_model(source, config, state_dict)
    backend_impl = build_runtime(
        net,
        runtime,
        exemplar_size=tracker_cfg.exemplar_size,
        search_sizes=sizes,
        cache_key=key,
        where=f"{source.path}: runtime",
    )
    return Tracker(
        net, tracker_cfg, runtime=backend_impl, background_searches=runtime.background_searches
    )
