"""The ``siamrpn`` family: pysot's SiamRPN++ (backbone -> adjust neck -> depthwise RPN head).

Module names are pysot's (``backbone``, ``neck``, ``rpn_head``), so pysot's model-zoo state dicts
(and training snapshots, after :func:`~siam_tracker_ros.models.checkpoint.load_state_dict_file`
strips ``module.``) load with ``strict=True``, and ``model(z, x)`` matches pysot's
``template(z); track(x)`` to float32 rounding (``test/models/test_siamrpn_pysot.py``).

The ``model:`` config section mirrors pysot's ``BACKBONE`` / ``ADJUST`` / ``RPN`` keys::

    model:
      family: siamrpn
      backbone: {type: resnet50, kwargs: {used_layers: [2, 3, 4]}}
      neck: {type: AdjustAllLayer, in_channels: [512, 1024, 2048],
             out_channels: [256, 256, 256], center_size: 7}        # or null (alexnet)
      head: {type: MultiRPN, anchor_num: 5, in_channels: [256, 256, 256], weighted: true}
      exemplar_size: 127          # template geometry the weights were trained with; used to
      context_amount: 0.5         # place the online-update sampling grid (pool_cls_kernel)

The anchor geometry (stride, ratios, scales) lives in the tracker section, which decodes the
outputs; the model only needs ``anchor_num`` (= ``len(ratios) * len(scales)``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
import torch.nn.functional as F

from siam_tracker_ros.models.backbones import build_backbone
from siam_tracker_ros.models.base import Features, HeadOutput, Kernels, SiameseModel
from siam_tracker_ros.models.heads.rpn import DepthwiseRPN, MultiRPN
from siam_tracker_ros.models.necks import CROP_BELOW_WIDTH, AdjustAllLayer
from siam_tracker_ros.typed_config import build_dataclass, to_plain

#: Total stride of every supported backbone level.
STRIDE = 8

#: Search-crop pixel at the centre of feature cell 0 of each backbone (``pixel = stride * f +
#: offset``); the feature grids of template and search crops are centre-aligned with the crops.
#: Derived from the layer geometry: pysot's ResNet-50 / MobileNetV2 stride-8 stages have
#: receptive-field centre ``8 f + 7``, the unpadded AlexNet ``8 f + 43``.
FEATURE_OFFSET: dict[str, float] = {"resnet50": 7.0, "mobilenetv2": 7.0, "alexnetlegacy": 43.0}

#: stride-8 stages of each backbone (other stages have another stride and are not supported)
_STRIDE8_STAGES: dict[str, frozenset[int]] = {
    "resnet50": frozenset({2, 3, 4}),
    "mobilenetv2": frozenset({3, 4, 5, 6, 7}),
    "alexnetlegacy": frozenset(),
}


# --------------------------------------------------------------------------------------------------
# typed config
# --------------------------------------------------------------------------------------------------


def _positive(values: tuple[int, ...] | list[int], key: str) -> None:
    if not values:
        raise ValueError(f"{key}: must not be empty")
    for i, v in enumerate(values):
        if v <= 0:
            raise ValueError(f"{key}[{i}]: must be > 0, got {v}")


@dataclass(frozen=True)
class BackboneConfig:
    """``type`` is pysot's ``BACKBONE.TYPE``; ``kwargs`` its ``BACKBONE.KWARGS``."""

    type: Literal["resnet50", "alexnetlegacy", "mobilenetv2"]
    kwargs: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # YAML and checkpoints hold lists; the backbones take lists (``used_layers``)
        plain = {str(k): list(v) if isinstance(v, tuple) else v for k, v in self.kwargs.items()}
        object.__setattr__(self, "kwargs", plain)


@dataclass(frozen=True)
class NeckConfig:
    """pysot's ``AdjustAllLayer``: per-level 1x1 conv + BN, template centre crop."""

    in_channels: tuple[int, ...]
    out_channels: tuple[int, ...]
    center_size: int = 7
    type: Literal["AdjustAllLayer"] = "AdjustAllLayer"

    def __post_init__(self) -> None:
        _positive(self.in_channels, "in_channels")
        _positive(self.out_channels, "out_channels")
        if self.center_size <= 0:
            raise ValueError(f"center_size: must be > 0, got {self.center_size}")
        if len(self.in_channels) != len(self.out_channels):
            raise ValueError("out_channels: in_channels and out_channels differ in length")


@dataclass(frozen=True)
class HeadConfig:
    """pysot's ``RPN``: ``DepthwiseRPN`` (one level, ``in_channels`` -> ``out_channels`` hidden,
    default ``in_channels``; a single number is accepted for its one level) or ``MultiRPN`` (one
    DepthwiseRPN per level, hidden = in, optional learnt fusion weights)."""

    type: Literal["DepthwiseRPN", "MultiRPN"]
    in_channels: tuple[int, ...]
    anchor_num: int = 5
    out_channels: int | None = None
    weighted: bool = False

    def __post_init__(self) -> None:
        _positive(self.in_channels, "in_channels")
        if self.anchor_num <= 0:
            raise ValueError(f"anchor_num: must be > 0, got {self.anchor_num}")
        if self.type == "DepthwiseRPN":
            if len(self.in_channels) != 1:
                raise ValueError("in_channels: DepthwiseRPN takes exactly one level")
            if self.out_channels is None:
                object.__setattr__(self, "out_channels", self.in_channels[0])
            elif self.out_channels <= 0:
                raise ValueError(f"out_channels: must be > 0, got {self.out_channels}")
            if self.weighted:
                raise ValueError("weighted: only MultiRPN has fusion weights")
        elif self.out_channels is not None:
            raise ValueError("out_channels: MultiRPN's hidden width is in_channels")


@dataclass(frozen=True)
class SiamRPNConfig:
    """The validated ``model:`` section of a ``siamrpn`` config.

    ``exemplar_size`` / ``context_amount`` describe the template crop the weights expect (pysot:
    127 px, context 0.5); the model uses them to size its template features and to place the
    online-update sampling grid. The tracker section must agree (``Tracker`` checks it).
    """

    backbone: BackboneConfig
    head: HeadConfig
    neck: NeckConfig | None = None
    exemplar_size: int = 127
    context_amount: float = 0.5
    family: Literal["siamrpn"] = "siamrpn"

    def __post_init__(self) -> None:
        if self.exemplar_size <= 0:
            raise ValueError(f"exemplar_size: must be > 0, got {self.exemplar_size}")
        if not 0.0 <= self.context_amount <= 10.0:
            raise ValueError(f"context_amount: must be in [0, 10], got {self.context_amount}")
        if self.neck is not None and tuple(self.neck.out_channels) != tuple(self.head.in_channels):
            raise ValueError(
                f"head.in_channels: {list(self.head.in_channels)} must equal "
                f"neck.out_channels {list(self.neck.out_channels)}"
            )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SiamRPNConfig:
        """Strict parse through the typed-config builder; errors name the dotted key
        (``model.head.type``)."""
        if not isinstance(data, Mapping):
            raise ValueError(f"model: expected a mapping, got {type(data).__name__}")
        head = data.get("head")
        if isinstance(head, Mapping) and isinstance(head.get("in_channels"), int):
            # DepthwiseRPN's one level may be written as a number
            data = {**data, "head": {**head, "in_channels": [head["in_channels"]]}}
        return build_dataclass(cls, data, "model")

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (lists, not tuples) that :meth:`from_dict` reads back."""
        return to_plain(dataclasses.asdict(self))


# --------------------------------------------------------------------------------------------------
# RoI pooling (SiamMargin online update)
# --------------------------------------------------------------------------------------------------


def roi_grid_pool(feature: torch.Tensor, roi: torch.Tensor, size: int) -> torch.Tensor:
    """Bilinearly sample a ``size x size`` grid spanning ``roi`` (corners included).

    ``feature`` is ``(B, C, H, W)``; ``roi`` is ``(4,)`` or ``(B, 4)`` ``x1, y1, x2, y2`` in
    *feature-cell* coordinates (cell centres at integers). Sample ``(i, j)`` lies at
    ``x1 + (x2 - x1) * j / (size - 1)``, ``y1 + (y2 - y1) * i / (size - 1)`` -- the
    ``align_corners=True`` grid of SiamMargin's RoIAlign-like pooling -- so a roi whose corners
    are integer cells returns exactly that window of ``feature``. Samples outside the map take
    the nearest border value (``padding_mode="border"``) rather than zeros, so a target at the
    crop edge does not fold artificial zeros into the kernel.

    Pure tensor code (``F.grid_sample``), no host synchronisation: ``roi`` may live on the GPU.
    """
    if size < 2:
        raise ValueError(f"roi_grid_pool needs size >= 2, got {size}")
    batch, _, height, width = feature.shape
    roi = roi.to(device=feature.device, dtype=torch.float32)
    if roi.dim() == 1:
        roi = roi.unsqueeze(0).expand(batch, 4)
    if roi.shape != (batch, 4):
        raise ValueError(f"roi must be (4,) or ({batch}, 4), got {tuple(roi.shape)}")
    t = torch.linspace(0.0, 1.0, size, device=feature.device, dtype=torch.float32)
    xs = roi[:, 0:1] + (roi[:, 2:3] - roi[:, 0:1]) * t  # (B, size)
    ys = roi[:, 1:2] + (roi[:, 3:4] - roi[:, 1:2]) * t
    # align_corners=True: -1 and +1 are the centres of the first and last cells
    gx = xs * (2.0 / max(width - 1, 1)) - 1.0
    gy = ys * (2.0 / max(height - 1, 1)) - 1.0
    grid = torch.stack(
        (gx[:, None, :].expand(batch, size, size), gy[:, :, None].expand(batch, size, size)),
        dim=-1,
    )
    return F.grid_sample(
        feature,
        grid.to(feature.dtype),
        mode="bilinear",
        padding_mode="border",
        align_corners=True,
    )


# --------------------------------------------------------------------------------------------------
# the model
# --------------------------------------------------------------------------------------------------


class SiamRPN(SiameseModel):
    """SiamRPN++ as in pysot, with the head split into cacheable steps.

    ``template_features`` / ``search_features`` run backbone + neck; ``make_kernels`` applies
    each level's cls/loc ``conv_kernel`` once per target; ``head`` applies ``conv_search``,
    depthwise correlation and the prediction convs and fuses the levels. Channel layout of the
    outputs is pysot's (see :class:`~siam_tracker_ros.models.base.HeadOutput`).
    """

    stride = STRIDE
    head_type: Literal["anchor", "point"] = "anchor"

    def __init__(self, config: SiamRPNConfig) -> None:
        super().__init__()
        self.config = config
        bb = config.backbone
        self.backbone = build_backbone(bb.type, dict(bb.kwargs))
        channels: list[int] = list(getattr(self.backbone, "channels"))  # noqa: B009
        used = set(bb.kwargs.get("used_layers", ()))
        if used - _STRIDE8_STAGES[bb.type]:
            raise ValueError(
                f"model.backbone.kwargs.used_layers: only stride-8 stages "
                f"{sorted(_STRIDE8_STAGES[bb.type])} are supported for {bb.type}, "
                f"got {sorted(used)}"
            )
        self.neck: AdjustAllLayer | None = None
        if config.neck is not None:
            if list(config.neck.in_channels) != channels:
                raise ValueError(
                    f"model.neck.in_channels {list(config.neck.in_channels)} must equal the "
                    f"backbone's output channels {channels}"
                )
            self.neck = AdjustAllLayer(
                config.neck.in_channels, config.neck.out_channels, config.neck.center_size
            )
            channels = list(config.neck.out_channels)
        hd = config.head
        if list(hd.in_channels) != channels:
            raise ValueError(
                f"model.head.in_channels {list(hd.in_channels)} must equal the feature channels "
                f"{channels} (backbone, or neck when present)"
            )
        self.rpn_head: DepthwiseRPN | MultiRPN
        if hd.type == "DepthwiseRPN":
            out = hd.out_channels if hd.out_channels is not None else hd.in_channels[0]
            self.rpn_head = DepthwiseRPN(hd.anchor_num, hd.in_channels[0], out)
        else:
            self.rpn_head = MultiRPN(hd.anchor_num, hd.in_channels, hd.weighted)
        self.anchor_num = hd.anchor_num
        self.feature_offset = FEATURE_OFFSET[bb.type]
        #: side of the template feature maps the kernels are made from (7 for r50/mobilenetv2
        #: after the neck's centre crop, 6 for alexnet); ``pool_cls_kernel`` pools to this size
        self.template_feature_size = self._template_feature_size()

    def _template_feature_size(self) -> int:
        ex = self.config.exemplar_size
        side = (ex - 1 - 2 * self.feature_offset) / self.stride + 1
        if side < 1 or side != int(side):
            raise ValueError(
                f"model.exemplar_size {ex} does not give a whole feature map for "
                f"{self.config.backbone.type} (stride {self.stride}, offset {self.feature_offset})"
            )
        n = int(side)
        if self.config.neck is not None and n < CROP_BELOW_WIDTH:
            n = min(n, self.config.neck.center_size)
        return n

    # -- features -----------------------------------------------------------------------------

    def _features(self, img: torch.Tensor) -> Features:
        feats: list[torch.Tensor] = self.backbone(img)
        if self.neck is not None:
            feats = self.neck(feats)
        return feats

    def template_features(self, z: torch.Tensor) -> Features:
        return self._features(z)

    def search_features(self, x: torch.Tensor) -> Features:
        return self._features(x)

    # -- head -----------------------------------------------------------------------------------

    def make_kernels(self, zf: Features) -> Kernels:
        branches = self.rpn_head.branches
        if len(zf) != len(branches):
            raise ValueError(f"expected {len(branches)} template levels, got {len(zf)}")
        return Kernels(
            cls=[b.cls.make_kernel(z) for b, z in zip(branches, zf, strict=True)],
            loc=[b.loc.make_kernel(z) for b, z in zip(branches, zf, strict=True)],
        )

    def head(self, xf: Features, kernels: Kernels) -> HeadOutput:
        branches = self.rpn_head.branches
        if not len(xf) == len(kernels.cls) == len(kernels.loc) == len(branches):
            raise ValueError(
                f"expected {len(branches)} levels, got {len(xf)} search levels and "
                f"{len(kernels.cls)}/{len(kernels.loc)} kernels"
            )
        corr, cls, loc = [], [], []
        for b, x, kc, kl in zip(branches, xf, kernels.cls, kernels.loc, strict=True):
            c = b.cls.correlate(x, kc)
            corr.append(c)
            cls.append(b.cls.predict(c))
            loc.append(b.loc.predict(b.loc.correlate(x, kl)))
        cls_out, loc_out = self.rpn_head.combine(cls, loc)
        return HeadOutput(cls=cls_out, loc=loc_out, corr=corr)

    def template_window(self, roi: torch.Tensor) -> torch.Tensor:
        """Feature-cell square the template kernel would cover for a target box ``roi``.

        ``roi`` ``(4,)`` or ``(B, 4)`` is the target box ``x1, y1, x2, y2`` in search-crop pixels.
        The template crop of that box has side ``s = sqrt((w + p)(h + p))``,
        ``p = context_amount * (w + h)`` (pysot), resized to ``exemplar_size``; the kernel's
        ``P x P`` template cells sit ``stride * (i - (P - 1) / 2)`` exemplar pixels from the
        target centre. Scaled back by ``s / exemplar_size`` and mapped to search-feature cells
        (``(pixel - feature_offset) / stride``) this gives the returned ``x1, y1, x2, y2``.
        """
        r = roi.to(dtype=torch.float32)
        w = (r[..., 2] - r[..., 0]).clamp(min=1.0)
        h = (r[..., 3] - r[..., 1]).clamp(min=1.0)
        cx = (r[..., 0] + r[..., 2]) / 2
        cy = (r[..., 1] + r[..., 3]) / 2
        pad = self.config.context_amount * (w + h)
        side = torch.sqrt((w + pad) * (h + pad))
        half = (
            side * (self.stride * (self.template_feature_size - 1) / 2) / self.config.exemplar_size
        )
        window = torch.stack((cx - half, cy - half, cx + half, cy + half), dim=-1)
        return (window - self.feature_offset) / self.stride

    def pool_cls_kernel(self, xf: Features, roi: torch.Tensor) -> list[torch.Tensor]:
        """Classification kernels of the target whose box in the search crop is ``roi``.

        Samples every level on the grid the template kernel would occupy for this box
        (:meth:`template_window`, bilinear, ``align_corners=True``) and applies the same cls
        ``conv_kernel`` as :meth:`make_kernels`. For an unpadded backbone and a box at the
        template's scale this reproduces the template kernel exactly
        (``test/models/test_heads.py``). SiamMargin's released code samples a similar grid
        around the predicted box; using pysot's own crop geometry keeps the pooled kernel
        aligned with the first-frame kernel it is averaged with.
        """
        branches = self.rpn_head.branches
        if len(xf) != len(branches):
            raise ValueError(f"expected {len(branches)} search levels, got {len(xf)}")
        if roi.shape[-1:] != (4,) or roi.dim() > 2:
            raise ValueError(f"roi must be (4,) or (B, 4), got {tuple(roi.shape)}")
        window = self.template_window(roi)
        return [
            b.cls.make_kernel(roi_grid_pool(x, window.to(x.device), self.template_feature_size))
            for b, x in zip(branches, xf, strict=True)
        ]


def build(model_cfg: Mapping[str, Any]) -> SiamRPN:
    """Registry entry point: ``model:`` mapping -> (untrained) :class:`SiamRPN`."""
    return SiamRPN(SiamRPNConfig.from_dict(model_cfg))


def pysot_model_config(
    backbone: str,
) -> dict[str, Any]:
    """The ``model:`` mapping of pysot's ``siamrpn_<backbone>_dwxcorr`` experiments.

    ``backbone``: ``"r50_l234"``, ``"alex"`` or ``"mobilev2_l234"`` (pysot's experiment names).
    The YAML files in ``config/models/`` hold the same values; this is for code and tests.
    """
    if backbone == "r50_l234":
        return {
            "family": "siamrpn",
            "backbone": {"type": "resnet50", "kwargs": {"used_layers": [2, 3, 4]}},
            "neck": {"in_channels": [512, 1024, 2048], "out_channels": [256, 256, 256]},
            "head": {
                "type": "MultiRPN",
                "anchor_num": 5,
                "in_channels": [256, 256, 256],
                "weighted": True,
            },
        }
    if backbone == "alex":
        return {
            "family": "siamrpn",
            "backbone": {"type": "alexnetlegacy", "kwargs": {"width_mult": 1.0}},
            "neck": None,
            "head": {
                "type": "DepthwiseRPN",
                "anchor_num": 5,
                "in_channels": 256,
                "out_channels": 256,
            },
        }
    if backbone == "mobilev2_l234":
        return {
            "family": "siamrpn",
            "backbone": {
                "type": "mobilenetv2",
                "kwargs": {"used_layers": [3, 5, 7], "width_mult": 1.4},
            },
            "neck": {"in_channels": [44, 134, 448], "out_channels": [256, 256, 256]},
            "head": {
                "type": "MultiRPN",
                "anchor_num": 5,
                "in_channels": [256, 256, 256],
                "weighted": False,
            },
        }
    raise ValueError(
        f"unknown pysot SiamRPN++ config {backbone!r}; known: 'r50_l234', 'alex', 'mobilev2_l234'"
    )
