"""ONNX export of a :class:`SiameseModel`'s two inference branches, for ONNX Runtime.

Why two graphs and not one: the tracker computes the template kernels once per target and reuses
them on every frame, so the per-frame work is only the *search* branch. Exporting

* ``template``: template crop ``(1, 3, Z, Z)`` -> the kernels (``cls_kernel_<i>``, then
  ``loc_kernel_<i>``, one per feature level), and
* ``search``: search crop ``(1, 3, S, S)`` + those kernels -> ``cls``, ``loc`` and the search
  features ``feature_<i>`` (what SiamMargin's online update pools the new template from),

keeps the kernels an *input* of the per-frame graph: the online update swaps the classification
kernels without re-exporting anything, and a frame is one ONNX Runtime call (backbone, correlation
and head fused, so the runtime plans across them).

Search sizes: the search graph has a dynamic ``search_size`` axis, so one file serves the 255
crop, the 351 adaptive-search crop and the widened re-detection crops; :mod:`models.onnx_backend`
pins the axis per size with ONNX Runtime's free-dimension overrides (the static-shape
optimisations of a per-size export, measured equal). Depth-wise correlation (SiamRPN++, NanoTrack
v3) is a grouped convolution whose weight is a graph input, which the exporter only accepts with
a static weight shape; :func:`_traceable_ops` supplies that during export. Should a model still
not export with a dynamic size, ``dynamic="auto"`` falls back to one static graph per size.
:func:`verify_export` holds the graphs to PyTorch at several sizes.

The legacy TorchScript exporter is used on purpose: it needs nothing beyond torch and onnx, takes
about a second for NanoTrack and handles every family here; its constant folding folds batch norm
into the convolutions, as in the released NanoTrack exports.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
import sys
import warnings
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from torch import nn

from siam_tracker_ros.models.base import Kernels, SiameseModel
from siam_tracker_ros.models.heads import rpn

__all__ = [
    "DYNAMIC",
    "EXPORT_FORMAT",
    "ExportedModel",
    "VerifyReport",
    "cls_kernel_name",
    "export_model",
    "export_search",
    "feature_name",
    "load_exported",
    "loc_kernel_name",
    "verify_export",
]

#: bumped when the graph interface changes, so stale exports are refused, not misread
EXPORT_FORMAT = 1
#: key of the dynamic-size search graph in :attr:`ExportedModel.search_paths`
DYNAMIC = 0
TEMPLATE_INPUT = "template"
SEARCH_INPUT = "search"
SEARCH_AXIS = "search_size"
_META_KEY = "siam_tracker_ros"


def cls_kernel_name(level: int) -> str:
    return f"cls_kernel_{level}"


def loc_kernel_name(level: int) -> str:
    return f"loc_kernel_{level}"


def feature_name(level: int) -> str:
    return f"feature_{level}"


def kernel_names(levels: int) -> list[str]:
    """Kernel inputs of the search graph, in order: cls levels, then loc levels."""
    return [cls_kernel_name(i) for i in range(levels)] + [loc_kernel_name(i) for i in range(levels)]


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

    def _meta(self, branch: str, size: int = DYNAMIC) -> dict[str, object]:
        return {
            "format": EXPORT_FORMAT,
            "branch": branch,
            "search_size": size,
            "levels": self.levels,
            "head_type": self.head_type,
            "stride": self.stride,
            "exemplar_size": self.exemplar_size,
        }


class _TemplateBranch(nn.Module):
    """Template crop -> flat tuple of kernels (cls levels, then loc levels)."""

    def __init__(self, model: SiameseModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, ...]:
        kernels = self.model.make_kernels(self.model.template_features(z))
        return (*kernels.cls, *kernels.loc)


class _SearchBranch(nn.Module):
    """Search crop + kernels -> cls, loc and the search features (for the online update)."""

    def __init__(self, model: SiameseModel, levels: int) -> None:
        super().__init__()
        self.model = model
        self.levels = levels

    def forward(self, x: torch.Tensor, *kernels: torch.Tensor) -> tuple[torch.Tensor, ...]:
        xf = self.model.search_features(x)
        kern = Kernels(cls=list(kernels[: self.levels]), loc=list(kernels[self.levels :]))
        out = self.model.head(xf, kern)
        return (out.cls, out.loc, *xf)


def example_crop(size: int, seed: int) -> torch.Tensor:
    """A deterministic image-like (0..255) crop ``(1, 3, size, size)`` to trace and compare."""
    gen = torch.Generator().manual_seed(seed)
    return torch.rand((1, 3, size, size), generator=gen) * 255.0


def _xcorr_depthwise_traceable(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """``heads.rpn.xcorr_depthwise`` with the kernel's shape as constants (same result).

    The TorchScript exporter records every ``tensor.shape`` read as a graph value, so the eager
    version's ``kernel.reshape(B * C, 1, h, w)`` gets a computed shape, and ONNX's grouped
    ``Conv`` cannot take a weight of unknown shape. The kernel's shape is fixed by the template
    size, so reading it as Python ints (``int(...)``, which the tracer records as constants) is
    exact; only the search size stays dynamic.
    """
    batch, channels = int(x.shape[0]), int(x.shape[1])
    kb, kc, kh, kw = (int(v) for v in kernel.shape)
    if kc != channels or kb not in (1, batch):
        raise ValueError(f"kernel {tuple(kernel.shape)} does not fit search features {x.shape}")
    if batch != 1:
        kernel = kernel.expand(batch, channels, kh, kw)
        x = x.reshape(1, batch * channels, x.shape[2], x.shape[3])
    out = F.conv2d(x, kernel.reshape(batch * channels, 1, kh, kw), groups=batch * channels)
    return out if batch == 1 else out.reshape(batch, channels, out.shape[2], out.shape[3])


@contextlib.contextmanager
def _traceable_ops() -> Iterator[None]:
    """Swap in :func:`_xcorr_depthwise_traceable` wherever the models reference the eager one."""
    original = rpn.xcorr_depthwise
    patched = [
        mod
        for name, mod in list(sys.modules.items())
        if name.startswith("siam_tracker_ros.models")
        and getattr(mod, "xcorr_depthwise", None) is original
    ]
    for mod in patched:
        mod.xcorr_depthwise = _xcorr_depthwise_traceable  # type: ignore[attr-defined]
    try:
        yield
    finally:
        for mod in patched:
            mod.xcorr_depthwise = original  # type: ignore[attr-defined]


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
    with warnings.catch_warnings(), torch.no_grad(), _traceable_ops():
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
    proto = onnx.load(str(path))
    entry = proto.metadata_props.add()
    entry.key = _META_KEY
    entry.value = json.dumps(meta)
    onnx.save(proto, str(path))


def _read_metadata(path: Path) -> dict[str, object]:
    proto = onnx.load(str(path), load_external_data=False)
    found = [p.value for p in proto.metadata_props if p.key == _META_KEY]
    if not found:
        raise ValueError(f"{path}: not written by siam_tracker_ros.models.export")
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
        _SearchBranch(cpu_model, levels),
        (example_crop(trace_size, 1), *kernels),
        path,
        [SEARCH_INPUT, *kernel_names(levels)],
        ["cls", "loc", *(feature_name(i) for i in range(levels))],
        axes,
        opset,
    )
    _write_metadata(path, exported._meta("search", size))
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
        _TemplateBranch(cpu_model),
        (example_crop(exemplar_size, 0),),
        exported.template_path,
        [TEMPLATE_INPUT],
        kernel_names(levels),
        None,
        opset,
    )
    _write_metadata(exported.template_path, exported._meta("template"))
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
