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

Search sizes: where the model traces with a dynamic spatial size (NanoTrack v1/v2's pixel-wise
correlation does), one search graph with a dynamic ``search_size`` axis serves the 255 crop, the
351 adaptive-search crop and the widened re-detection crops; :mod:`models.onnx_backend` pins the
axis per size with ONNX Runtime's free-dimension overrides, which gives it the static-shape
optimisations of a per-size export. Depth-wise correlation (SiamRPN++, NanoTrack v3) is a grouped
convolution whose weight is an input, and the TorchScript exporter needs that weight's shape to be
static, so those families get one static graph per search size instead (``dynamic="auto"`` picks).
:func:`verify_export` holds the graphs to PyTorch at several sizes.

The legacy TorchScript exporter is used on purpose: it needs nothing beyond torch and onnx, takes
about a second for NanoTrack and handles every family here; its constant folding folds batch norm
into the convolutions, as in the released NanoTrack exports.
"""

from __future__ import annotations

import contextlib
import copy
import json
import sys
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
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
POOL_ROI = "roi"
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
        return ExportedModel(
            template_path=self.template_path,
            search_paths=paths,
            levels=self.levels,
            head_type=self.head_type,
            stride=self.stride,
            exemplar_size=self.exemplar_size,
            out_dir=self.out_dir,
            prefix=self.prefix,
        )

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
    """A deterministic image-range (0..255) crop ``(1, 3, size, size)`` to trace and compare with."""
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


_GRID_SAMPLE = F.grid_sample


def _grid_sample_gather(
    x: torch.Tensor,
    grid: torch.Tensor,
    mode: str = "bilinear",
    padding_mode: str = "zeros",
    align_corners: bool | None = None,
) -> torch.Tensor:
    """Bilinear ``F.grid_sample`` written as four gathers (same result), for export.

    ONNX Runtime's ``GridSample`` kernel costs about 40 us for the online update's 8x8 samples
    of a 48x16x16 map -- most of the update's time -- while the same sampling as gathers and
    a weighted sum costs a few microseconds. Only bilinear with zeros/border padding is
    rewritten; anything else goes to the real op.
    """
    if mode != "bilinear" or padding_mode not in ("zeros", "border") or x.dim() != 4:
        return _GRID_SAMPLE(x, grid, mode, padding_mode, align_corners)
    n, c, h, w = (int(v) for v in x.shape)
    ho, wo = int(grid.shape[1]), int(grid.shape[2])
    gx, gy = grid[..., 0].float(), grid[..., 1].float()
    if align_corners:
        ix, iy = (gx + 1) * ((w - 1) / 2), (gy + 1) * ((h - 1) / 2)
    else:
        ix, iy = ((gx + 1) * w - 1) / 2, ((gy + 1) * h - 1) / 2
    if padding_mode == "border":
        ix, iy = ix.clamp(0, w - 1), iy.clamp(0, h - 1)
    x0, y0 = torch.floor(ix), torch.floor(iy)
    wx1, wy1 = ix - x0, iy - y0
    flat = x.reshape(n, c, h * w)
    out = torch.zeros((n, c, ho * wo), dtype=x.dtype)
    for dx, dy, weight in (
        (0, 0, (1 - wx1) * (1 - wy1)),
        (1, 0, wx1 * (1 - wy1)),
        (0, 1, (1 - wx1) * wy1),
        (1, 1, wx1 * wy1),
    ):
        xi, yi = x0 + dx, y0 + dy
        valid = (xi >= 0) & (xi <= w - 1) & (yi >= 0) & (yi <= h - 1)
        index = yi.clamp(0, h - 1) * w + xi.clamp(0, w - 1)
        index = index.long().reshape(n, 1, ho * wo).expand(n, c, ho * wo)
        taps = torch.gather(flat, 2, index)
        out = out + taps * (weight * valid.to(weight.dtype)).reshape(n, 1, ho * wo).to(x.dtype)
    return out.reshape(n, c, ho, wo)


@contextlib.contextmanager
def _traceable_ops() -> Iterator[None]:
    """Swap in the export-friendly ops wherever the models reference the eager ones."""
    original = rpn.xcorr_depthwise
    patched = [
        mod
        for name, mod in list(sys.modules.items())
        if name.startswith("siam_tracker_ros.models") and getattr(mod, "xcorr_depthwise", None)
        is original
    ]
    for mod in patched:
        mod.xcorr_depthwise = _xcorr_depthwise_traceable  # type: ignore[attr-defined]
    F.grid_sample = _grid_sample_gather  # type: ignore[assignment]
    try:
        yield
    finally:
        F.grid_sample = _GRID_SAMPLE
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


class _PoolBranch(nn.Module):
    """Search features + target box -> pooled classification kernels (online update)."""

    def __init__(self, model: SiameseModel, levels: int) -> None:
        super().__init__()
        self.model = model
        self.levels = levels

    def forward(self, roi: torch.Tensor, *features: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(self.model.pool_cls_kernel(list(features), roi))


def export_pool(
    model: SiameseModel,
    exported: ExportedModel,
    feature_shapes: Sequence[Sequence[int]],
    path: Path,
    opset: int = 17,
) -> bool:
    """Export ``model.pool_cls_kernel`` for search features of ``feature_shapes`` to ``path``.

    One static graph per search size (pooling reads the feature map's size). Returns ``False``
    (and writes nothing) when the traced graph does not reproduce PyTorch for boxes other than
    the one it was traced with -- a pooling that turns the box into Python numbers bakes it into
    the trace -- so the caller falls back to running the pooling in PyTorch.
    """
    cpu_model = cpu_float_copy(model)
    gen = torch.Generator().manual_seed(7)
    feats = [torch.randn(tuple(int(v) for v in s), generator=gen) for s in feature_shapes]
    size = float(feature_shapes[0][-1] * exported.stride)
    rois = [
        torch.tensor([0.40, 0.35, 0.62, 0.60]) * size,
        torch.tensor([0.10, 0.55, 0.30, 0.95]) * size,
        torch.tensor([0.55, 0.05, 0.99, 0.30]) * size,
    ]
    branch = _PoolBranch(cpu_model, exported.levels)
    tmp = path.with_suffix(".tmp.onnx")
    try:
        _legacy_export(
            branch,
            (rois[0], *feats),
            tmp,
            [POOL_ROI, *(feature_name(i) for i in range(exported.levels))],
            [cls_kernel_name(i) for i in range(exported.levels)],
            None,
            opset,
        )
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        sess = ort.InferenceSession(str(tmp), opts, providers=["CPUExecutionProvider"])
        for roi in rois[1:]:
            feeds = {POOL_ROI: roi.numpy()}
            feeds.update({feature_name(i): f.numpy() for i, f in enumerate(feats)})
            got = sess.run(None, feeds)
            with torch.inference_mode():
                ref = [k.numpy() for k in cpu_model.pool_cls_kernel(feats, roi)]
            if any(g.shape != r.shape or _rel_err(g, r) > 1e-4 for g, r in zip(got, ref)):
                return False
    except (torch.onnx.errors.OnnxExporterError, RuntimeError, ValueError):
        tmp.unlink(missing_ok=True)
        return False
    meta = exported._meta("pool", int(feature_shapes[0][-1]))
    _write_metadata(tmp, meta)
    tmp.replace(path)
    return True


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
        head_type=head_type,
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
                    f"exported search graph at size {size} gives shape {g.shape}, "
                    f"PyTorch {r.shape}"
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
