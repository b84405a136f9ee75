"""Exported ONNX graphs kept on disk between starts, so a robot's node (or any ``Tracker``) does
not re-export the model on every start (a NanoTrack export takes seconds on a small CPU; loading
the cached graphs takes milliseconds).

A start whose graphs are cached needs no PyTorch: :func:`lookup` reads an entry with NumPy and
JSON only, and an entry keyed by the model *files* (:func:`source_key`, what
:func:`siam_tracker_ros.core.loading.load_tracker` uses) also keeps the config the tracker needs,
so the model is never built. An in-memory model is keyed by its weights instead
(:func:`cache_key`).

Where: ``$SIAM_TRACKER_CACHE``, else ``$XDG_CACHE_HOME/siam_tracker_ros``, else
``~/.cache/siam_tracker_ros``; ``RuntimeConfig.cache_dir`` overrides both. Each entry is a folder
``onnx/<key>`` whose key hashes everything the graphs depend on: the model class and its config,
every parameter and buffer byte, the template size, the export format, the source of
``models/`` and ``runtime/``, and the versions of this package, torch, onnx and onnxruntime.
New weights, edited code or a library upgrade therefore never reuse stale graphs; old entries
are simply no longer read (delete the folder to reclaim the space).

Safety: an entry is exported into a private temporary folder beside it, described by a manifest
with each file's SHA-256, and published with one atomic ``rename``; two processes starting at
once both export, one rename wins and the other discards its copy and reads the winner's. An entry
whose files do not match its manifest (a disk fault, an interrupted copy, a hand edit) is warned
about once and exported again. A cache folder that cannot be written (a read-only home) costs an
export per start into a temporary folder, with one warning, never a failure.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import hashlib
import importlib.metadata
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from siam_tracker_ros.models.contract import EXPORT_FORMAT
from siam_tracker_ros.runtime.exported import ExportedModel

if TYPE_CHECKING:
    from siam_tracker_ros.models.base import SiameseModel

__all__ = [
    "ENV_VAR",
    "cache_key",
    "cached_export",
    "default_cache_dir",
    "file_digest",
    "lookup",
    "source_key",
]

ENV_VAR = "SIAM_TRACKER_CACHE"
MANIFEST = "manifest.json"
_log = logging.getLogger(__name__)


def default_cache_dir() -> Path:
    """``$SIAM_TRACKER_CACHE``, else the user cache folder's ``siam_tracker_ros``."""
    explicit = os.environ.get(ENV_VAR)
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "siam_tracker_ros"


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "none"


def _common(h: Any, exemplar_size: int, backend_tag: str) -> None:
    versions = [_version(d) for d in ("siam_tracker_ros", "torch", "onnx")]
    h.update(f"{EXPORT_FORMAT}:{exemplar_size}:{versions}:{backend_tag}".encode())
    h.update(_code_digest())


def cache_key(model: SiameseModel, exemplar_size: int, backend_tag: str = "") -> str:
    """Hash of everything the exported graphs of an in-memory model depend on (see the module
    docstring); ``backend_tag``: what the backend adds (``BackendEntry.cache_tag``)."""
    import torch

    h = hashlib.sha256()
    h.update(f"{type(model).__module__}.{type(model).__qualname__}".encode())
    config = getattr(model, "config", None) or getattr(model, "cfg", None)
    h.update(repr(config).encode())
    h.update(torch.__version__.encode())
    _common(h, exemplar_size, backend_tag)
    for name, t in model.state_dict().items():
        h.update(name.encode())
        h.update(str(t.dtype).encode())
        h.update(t.detach().to("cpu").contiguous().numpy().tobytes())
    return h.hexdigest()[:24]


def source_key(
    files: Sequence[str | Path],
    model_section: Mapping[str, Any] | None,
    exemplar_size: int,
    backend_tag: str = "",
) -> str:
    """Hash of a model given by *files* (a checkpoint; or a YAML's ``model:`` section and its
    weights file): their bytes, the model section, the template size, the code and the library
    versions. Computed without PyTorch, so a start can find its graphs before building
    anything."""
    h = hashlib.sha256(b"source")
    for f in files:
        h.update(file_digest(Path(f)).encode())
    h.update(json.dumps(model_section or {}, sort_keys=True, default=str).encode())
    _common(h, exemplar_size, backend_tag)
    return h.hexdigest()[:24]


def _code_digest() -> bytes:
    """Hash of the code that defines the networks and the export (``models/``, ``runtime/``), so
    that an edited checkout with the same version number never reuses the old code's graphs."""
    package = Path(__file__).resolve().parents[1]
    h = hashlib.sha256()
    for folder in ("models", "runtime"):
        for path in sorted((package / folder).rglob("*.py")):
            h.update(path.relative_to(package).as_posix().encode())
            h.update(path.read_bytes())
    return h.digest()


def file_digest(path: Path) -> str:
    """SHA-256 of a file's bytes (hex)."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _entry_files(folder: Path) -> list[Path]:
    return sorted([*folder.glob("*.onnx"), *folder.glob("*.npz")])


def _write_manifest(
    folder: Path, key: str, exported: ExportedModel, extra: Mapping[str, Any] | None
) -> None:
    files = {p.name: file_digest(p) for p in _entry_files(folder)}
    manifest = {
        "key": key,
        "files": files,
        "exported": exported.describe(),
        "extra": dict(extra or {}),
    }
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=1))


Entry = tuple[ExportedModel, dict[str, Any]]


def _read_entry(folder: Path, key: str) -> tuple[Entry | None, str]:
    """The entry's graphs and extra data, described by its manifest (no ONNX parsing: a hit
    stays fast), or ``None`` and why the entry cannot be used."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
        files = manifest["files"]
        if manifest.get("key") != key or not isinstance(files, dict) or not files:
            return None, "manifest does not describe this entry"
        on_disk = {p.name for p in _entry_files(folder)}
        if on_disk != set(files):
            return None, f"files {sorted(on_disk)} differ from the manifest's {sorted(files)}"
        for name, digest in files.items():
            if file_digest(folder / name) != digest:
                return None, f"{name} does not match its checksum"
        exported = ExportedModel.from_description(folder, manifest["exported"])
        named = {exported.template_path.name, *(p.name for p in exported.search_paths.values())}
        if not named <= set(files):
            return None, "manifest names graphs it has no checksum for"
        extra = manifest.get("extra") or {}
        if not isinstance(extra, dict):
            return None, "manifest's extra data is not a mapping"
        return (exported, extra), ""
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return None, f"unreadable manifest ({type(exc).__name__}: {exc})"


def _discard(folder: Path) -> None:
    """Remove an entry: renamed aside first (atomic), so no reader sees it half deleted."""
    aside = folder.with_name(f".{folder.name}.stale-{os.getpid()}")
    try:
        os.rename(folder, aside)
    except OSError:
        return
    shutil.rmtree(aside, ignore_errors=True)


def _load(folder: Path, key: str) -> tuple[Entry | None, str | None]:
    """The entry, or ``None`` and why the entry was unusable (``None``: no entry)."""
    if not folder.is_dir():
        return None, None
    entry, problem = _read_entry(folder, key)
    if entry is not None:
        return entry, None
    _discard(folder)
    return None, problem


def lookup(root: str | Path, key: str) -> Entry | None:
    """The cached graphs and extra data under ``key``, or ``None`` (no entry, or a corrupt one,
    which is removed with one warning). Needs neither PyTorch nor ONNX."""
    folder = Path(root) / "onnx" / key
    entry, problem = _load(folder, key)
    if problem is not None:
        _log.warning(
            "ONNX cache entry %s is corrupt (%s); it will be exported again", folder, problem
        )
    return entry


def cached_export(
    model: SiameseModel,
    root: str | Path,
    exemplar_size: int,
    search_sizes: Sequence[int],
    key: str | None = None,
    extra: Mapping[str, Any] | None = None,
    backend_tag: str = "",
) -> Entry:
    """The model's exported graphs from the cache under ``root``, exported there first if needed.

    ``key``: the entry's key (default :func:`cache_key` of ``model``); ``extra``: JSON data kept
    with the graphs (the loader keeps the model file's config there). ``search_sizes`` are the
    sizes the export is verified at (and the static graphs made for, should the model not
    export with a dynamic size). Raises ``OSError`` when ``root`` cannot be written (the caller
    falls back to a temporary export).
    """
    from siam_tracker_ros.runtime.host_pool import HostPool
    from siam_tracker_ros.runtime.onnx_export import cpu_float_copy, export_model

    key = key or cache_key(model, exemplar_size, backend_tag)
    base = Path(root) / "onnx"
    final = base / key
    found, problem = _load(final, key)
    if found is not None:
        return found
    base.mkdir(parents=True, exist_ok=True)
    if problem is not None:
        _log.warning(
            "ONNX cache entry %s is corrupt (%s); exporting the model to ONNX again", final, problem
        )
    else:
        _log.warning(
            "exporting the model to ONNX (once; cached in %s for later starts)",
            final,
        )
    tmp = Path(tempfile.mkdtemp(prefix=f".{key}.tmp-", dir=base))
    try:
        exported = export_model(model, tmp, exemplar_size=exemplar_size, search_sizes=search_sizes)
        # verified on an eval-mode copy: pooling in training mode would update batch-norm stats
        pool = HostPool.for_model(cpu_float_copy(model))
        exported = dataclasses.replace(
            exported, host_pool=pool is not None, pool_spec=pool.spec if pool else None
        )
        exported.save_pool_spec()
        _write_manifest(tmp, key, exported, extra)
        try:
            os.replace(tmp, final)
        except OSError as exc:  # another process published the entry first: use theirs
            if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                raise
    finally:
        with contextlib.suppress(OSError):
            if tmp.exists():
                shutil.rmtree(tmp)
    found, problem = _load(final, key)
    if found is None:
        raise OSError(f"{final}: the ONNX cache entry is unusable right after writing ({problem})")
    return found
