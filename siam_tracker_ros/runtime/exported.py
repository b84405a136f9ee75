"""Exported graphs on disk and what a runtime needs to know to drive them (no PyTorch needed:
a start from the export cache reads this and nothing of the model)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from siam_tracker_ros.models.contract import DYNAMIC, EXPORT_FORMAT, GridPoolSpec

__all__ = ["ExportedModel"]


@dataclass(frozen=True)
class ExportedModel:
    """The exported graphs and what a runtime needs to know to drive them."""

    template_path: Path
    #: search size -> graph; key :data:`DYNAMIC` (0) is a graph that accepts any size
    search_paths: Mapping[int, Path]
    levels: int
    head_type: Literal["anchor", "point"]
    stride: int
    exemplar_size: int
    out_dir: Path = field(default=Path("."))
    prefix: str = "model"
    #: whether :class:`runtime.host_pool.HostPool` was verified against the model these graphs
    #: came from (kept by the export cache so a cached start skips the check); ``None``: unknown
    host_pool: bool | None = None
    #: the model's pooling as data, verified against it (``host_pool`` True): a runtime pools
    #: on host arrays from it, without the model (see :mod:`runtime.host_pool`)
    pool_spec: GridPoolSpec | None = None

    POOL_FILE = "pool.npz"

    def save_pool_spec(self) -> None:
        """Write :attr:`pool_spec` beside the graphs (read back by :meth:`from_description`)."""
        if self.pool_spec is not None:
            arrays: dict[str, Any] = dict(self.pool_spec.to_arrays())
            np.savez(self.out_dir / self.POOL_FILE, **arrays)

    @property
    def dynamic(self) -> bool:
        return DYNAMIC in self.search_paths

    def search_path_for(self, size: int) -> Path | None:
        """The graph for a search size (the dynamic one unless a static one exists)."""
        return self.search_paths.get(size, self.search_paths.get(DYNAMIC))

    def with_search(self, size: int, path: Path) -> ExportedModel:
        paths = dict(self.search_paths)
        paths[size] = path
        return dataclasses.replace(self, search_paths=paths)

    def describe(self) -> dict[str, object]:
        """The description :meth:`from_description` reads back (file names relative to
        ``out_dir``), so a cache can reopen the graphs without parsing them."""
        return {
            "template": self.template_path.name,
            "search": {str(k): p.name for k, p in self.search_paths.items()},
            "levels": self.levels,
            "head_type": self.head_type,
            "stride": self.stride,
            "exemplar_size": self.exemplar_size,
            "prefix": self.prefix,
            "host_pool": self.host_pool,
            "pool_spec": self.POOL_FILE if self.pool_spec is not None else None,
            "format": EXPORT_FORMAT,
        }

    @classmethod
    def from_description(cls, folder: Path, desc: Mapping[str, object]) -> ExportedModel:
        """Inverse of :meth:`describe` (``ValueError`` for another export format)."""
        if desc.get("format") != EXPORT_FORMAT:
            raise ValueError(f"export format {desc.get('format')}, expected {EXPORT_FORMAT}")
        head_type = str(desc["head_type"])
        if head_type not in ("anchor", "point"):
            raise ValueError(f"unknown head_type {head_type!r}")
        search = desc["search"]
        if not isinstance(search, Mapping) or not search:
            raise ValueError("no search graphs")
        return cls(
            template_path=folder / str(desc["template"]),
            search_paths={int(k): folder / str(v) for k, v in search.items()},
            levels=int(str(desc["levels"])),
            head_type=head_type,  # type: ignore[arg-type]
            stride=int(str(desc["stride"])),
            exemplar_size=int(str(desc["exemplar_size"])),
            out_dir=folder,
            prefix=str(desc["prefix"]),
            host_pool=host_pool if isinstance(host_pool := desc.get("host_pool"), bool) else None,
            pool_spec=_read_pool_spec(folder, desc.get("pool_spec")),
        )

    def graph_meta(self, branch: str, size: int = DYNAMIC) -> dict[str, object]:
        return {
            "format": EXPORT_FORMAT,
            "branch": branch,
            "search_size": size,
            "levels": self.levels,
            "head_type": self.head_type,
            "stride": self.stride,
            "exemplar_size": self.exemplar_size,
        }


def _read_pool_spec(folder: Path, name: object) -> GridPoolSpec | None:
    if not isinstance(name, str) or not name:
        return None
    with np.load(folder / name) as arrays:
        return GridPoolSpec.from_arrays(dict(arrays))
