"""ONNX export of a :class:`SiameseModel`'s two inference branches (the contract in
:mod:`siam_tracker_ros.models.export`), for ONNX Runtime; and the check that the graphs equal
PyTorch.

Search sizes: the search graph has a dynamic ``search_size`` axis, so one file serves the 255
crop, the 351 adaptive-search crop and the widened re-detection crops; :mod:`runtime.onnx_backend`
pins the axis per size with ONNX Runtime's free-dimension overrides (the static-shape
optimisations of a per-size export, measured equal). Should a model not export with a dynamic
size, ``dynamic="auto"`` falls back to one static graph per size. :func:`verify_export` holds the
graphs to PyTorch at several sizes. Exported graphs are kept between starts by
:mod:`runtime.export_cache`.

The legacy TorchScript exporter is used on purpose: it needs nothing beyond torch and onnx, takes
about a second for NanoTrack and handles every family here; its constant folding folds batch norm
into the convolutions, as in the released NanoTrack exports.
"""

from __future__ import annotations

import copy
import json
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import nn

from siam_tracker_ros.models.base import SiameseModel
from siam_tracker_ros.models.export import (
    DYNAMIC,
    EXPORT_FORMAT,
    SEARCH_AXIS,
    SEARCH_INPUT,
    TEMPLATE_INPUT,
    SearchBranch,
    TemplateBranch,
    example_crop,
    feature_name,
    kernel_names,
    traceable_ops,
)
from siam_tracker_ros.runtime.exported import ExportedModel

__all__ = [
    "ExportedModel",
    "VerifyReport",
    "export_model",
    "export_search",
    "load_exported",
    "verify_export",
]

_META_KEY = "siam_tracker_ros"


def _legacy_export(
    module: nn.Module,
    args: tuple[torch.Tensor, ...],
    path: Path,
    input_names: list[str],
    output_names: list[str],
    dynamic_axes: dict[str, dict[int, str]] | None,
    opset: int,
) -> None:
    # eval() first: the exporter restores the wrapper's training flag afterwards, recursively,
    # which would otherwise leave the wrapped model in training mode (batch-statistics BN)
    module.eval()
    with warnings.catch_warnings(), torch.no_grad(), traceable_ops():
        # The TorchScript exporter is deprecated in favour of the dynamo one (which would need
        # onnxscript); the graphs it writes are plain ONNX either way. Tracer warnings are about
        # Python ints taken from shapes, which verify_export checks at several sizes.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.simplefilter("ignore", UserWarning)
        torch.onnx.export(
            module,
            args,
            str(path),
            dynamo=False,
            input_names=input_names,
            output_names=output_names,
            dynamic_axes=dynamic_axes,
            opset_version=opset,
            do_constant_folding=True,
        )


def _write_metadata(path: Path, meta: dict[str, object]) -> None:
    import onnx  # imported when used: ~0.9 s of start-up that a cache hit does not need

    proto = onnx.load(str(path))
    entry = proto.metadata_props.add()
    entry.key = _META_KEY
    entry.value = json.dumps(meta)
    onnx.save(proto, str(path))


def _read_metadata(path: Path) -> dict[str, object]:
    import onnx

    proto = onnx.load(str(path), load_external_data=False)
    found = [p.value for p in proto.metadata_props if p.key == _META_KEY]
    if not found:
        raise ValueError(f"{path}: not written by siam_tracker_ros.runtime.onnx_export")
    meta: dict[str, object] = json.loads(found[0])
    if meta.get("format") != EXPORT_FORMAT:
        raise ValueError(
            f"{path}: export format {meta.get('format')}, this version reads {EXPORT_FORMAT}; "
            "export the model again"
        )
    return meta


def cpu_float_copy(model: SiameseModel) -> SiameseModel:
    """An eval-mode float32 CPU copy (the model being exported or compared is left untouched)."""
    return copy.deepcopy(model).eval().to("cpu").float()


def _template_kernels(model: SiameseModel, exemplar_size: int) -> list[torch.Tensor]:
    with torch.inference_mode():
        kernels = model.make_kernels(model.template_features(example_crop(exemplar_size, 0)))
    if len(kernels.loc) != len(kernels.cls):
        raise ValueError(f"model gives {len(kernels.cls)} cls but {len(kernels.loc)} loc levels")
    return [k.clone() for k in (*kernels.cls, *kernels.loc)]


def export_search(
    model: SiameseModel,
    exported: ExportedModel,
    size: int,
    opset: int = 17,
) -> ExportedModel:
    """Add a static search graph for ``size`` (or the dynamic one for :data:`DYNAMIC`).

    ``model`` must be the model ``exported`` came from. Returns the updated description.
    """
    cpu_model = cpu_float_copy(model)
    kernels = _template_kernels(cpu_model, exported.exemplar_size)
    levels = exported.levels
    trace_size = size if size != DYNAMIC else 255
    tag = "dynamic" if size == DYNAMIC else str(size)
    path = exported.out_dir / f"{exported.prefix}_search_{tag}.onnx"
    axes = {SEARCH_INPUT: {2: SEARCH_AXIS, 3: SEARCH_AXIS}} if size == DYNAMIC else None
    _legacy_export(
        SearchBranch(cpu_model, levels),
        (example_crop(trace_size, 1), *kernels),
        path,
        [SEARCH_INPUT, *kernel_names(levels)],
        ["cls", "loc", *(feature_name(i) for i in range(levels))],
        axes,
        opset,
    )
    _write_metadata(path, exported.graph_meta("search", size))
    return exported.with_search(size, path)


def export_model(
    model: SiameseModel,
    out_dir: str | Path,
    *,
    exemplar_size: int = 127,
    search_sizes: Iterable[int] = (255, 351),
    dynamic: bool | Literal["auto"] = "auto",
    opset: int = 17,
    prefix: str = "model",
) -> ExportedModel:
    """Export ``model``'s template graph and its search graph(s) to ``out_dir``.

    ``dynamic=True``: one search graph for every size (fails for depth-wise correlation heads);
    ``False``: one static graph per size in ``search_sizes``; ``"auto"``: dynamic when the model
    exports and verifies that way, else static. The model is exported from a float32 CPU copy, so
    a CUDA or half-precision model exports the same graphs and is not modified.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cpu_model = cpu_float_copy(model)
    kernels = _template_kernels(cpu_model, exemplar_size)
    levels = len(kernels) // 2
    head_type = getattr(cpu_model, "head_type", "anchor")
    if head_type not in ("anchor", "point"):
        raise ValueError(f"unsupported model.head_type {head_type!r}")
    exported = ExportedModel(
        template_path=out / f"{prefix}_template.onnx",
        search_paths={},
        levels=levels,
        head_type=head_type,  # type: ignore[arg-type]
        stride=int(cpu_model.stride),
        exemplar_size=exemplar_size,
        out_dir=out,
        prefix=prefix,
    )
    _legacy_export(
        TemplateBranch(cpu_model),
        (example_crop(exemplar_size, 0),),
        exported.template_path,
        [TEMPLATE_INPUT],
        kernel_names(levels),
        None,
        opset,
    )
    _write_metadata(exported.template_path, exported.graph_meta("template"))
    sizes = sorted(set(search_sizes))
    if dynamic in (True, "auto"):
        try:
            dyn = export_search(cpu_model, exported, DYNAMIC, opset)
            verify_export(cpu_model, dyn, sizes=tuple(sizes) or (255,))
            return dyn
        except (torch.onnx.errors.OnnxExporterError, ValueError, RuntimeError):
            if dynamic is True:
                raise
            (out / f"{prefix}_search_dynamic.onnx").unlink(missing_ok=True)
    for size in sizes:
        exported = export_search(cpu_model, exported, size, opset)
    return exported


def load_exported(out_dir: str | Path, prefix: str = "model") -> ExportedModel:
    """Read back the graphs :func:`export_model` wrote to ``out_dir``."""
    out = Path(out_dir)
    template = out / f"{prefix}_template.onnx"
    if not template.is_file():
        raise FileNotFoundError(f"{template}: no exported template graph")
    tmeta = _read_metadata(template)
    searches: dict[int, Path] = {}
    for path in sorted(out.glob(f"{prefix}_search_*.onnx")):
        meta = _read_metadata(path)
        if meta.get("branch") != "search":
            raise ValueError(f"{path}: expected a search graph, got {meta.get('branch')!r}")
        searches[int(str(meta["search_size"]))] = path
    if not searches:
        raise FileNotFoundError(f"{out}: no exported search graph for prefix {prefix!r}")
    head_type = str(tmeta["head_type"])
    if head_type not in ("anchor", "point"):
        raise ValueError(f"{template}: unknown head_type {head_type!r}")
    return ExportedModel(
        template_path=template,
        search_paths=searches,
        levels=int(str(tmeta["levels"])),
        head_type=head_type,  # type: ignore[arg-type]
        stride=int(str(tmeta["stride"])),
        exemplar_size=int(str(tmeta["exemplar_size"])),
        out_dir=out,
        prefix=prefix,
    )


@dataclass(frozen=True)
class VerifyReport:
    """Largest deviation of the exported graphs from PyTorch, per search size.

    ``max_rel`` is ``max |ort - torch| / max |torch|`` over every output (kernels, cls, loc,
    features): relative to each output's range, so entries near zero do not inflate it.
    """

    max_rel: dict[int, float]
    max_abs: dict[int, float]


def _rel_err(a: np.ndarray, b: np.ndarray) -> float:
    scale = max(float(np.abs(b).max()), 1e-6)
    return float(np.abs(a.astype(np.float64) - b).max()) / scale


def verify_export(
    model: SiameseModel,
    exported: ExportedModel,
    sizes: tuple[int, ...] = (255, 351),
    rtol: float = 1e-4,
) -> VerifyReport:
    """Run the exported graphs in ONNX Runtime and ``model`` in PyTorch on the same crops.

    Raises ``ValueError`` when a shape differs or the relative error exceeds ``rtol``.
    """
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    providers = ["CPUExecutionProvider"]
    cpu_model = cpu_float_copy(model)
    z = example_crop(exported.exemplar_size, 2)
    with torch.inference_mode():
        kernels = cpu_model.make_kernels(cpu_model.template_features(z))
    tsess = ort.InferenceSession(str(exported.template_path), opts, providers=providers)
    ref_kernels = [k.numpy() for k in (*kernels.cls, *kernels.loc)]
    got_kernels = tsess.run(None, {TEMPLATE_INPUT: z.numpy()})
    kern_err = max(_rel_err(g, r) for g, r in zip(got_kernels, ref_kernels, strict=True))
    max_rel: dict[int, float] = {}
    max_abs: dict[int, float] = {}
    for size in sizes:
        path = exported.search_path_for(size)
        if path is None:
            raise ValueError(f"no exported search graph for size {size}")
        ssess = ort.InferenceSession(str(path), opts, providers=providers)
        x = example_crop(size, 3 + size)
        with torch.inference_mode():
            xf = cpu_model.search_features(x)
            head = cpu_model.head(xf, kernels)
        feeds = {SEARCH_INPUT: x.numpy()}
        feeds.update(dict(zip(kernel_names(exported.levels), ref_kernels, strict=True)))
        got = ssess.run(None, feeds)
        ref = [head.cls.numpy(), head.loc.numpy(), *(f.numpy() for f in xf)]
        for g, r in zip(got, ref, strict=True):
            if g.shape != r.shape:
                raise ValueError(
                    f"exported search graph at size {size} gives shape {g.shape}, PyTorch {r.shape}"
                )
        rel = max([kern_err, *(_rel_err(g, r) for g, r in zip(got, ref, strict=True))])
        max_rel[size] = rel
        max_abs[size] = max(float(np.abs(g - r).max()) for g, r in zip(got, ref, strict=True))
        if not rel <= rtol:
            raise ValueError(
                f"exported graphs differ from PyTorch at search size {size}: relative error "
                f"{rel:.2e} > {rtol:.0e}"
            )
    return VerifyReport(max_rel=max_rel, max_abs=max_abs)
