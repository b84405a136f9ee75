"""The ``nanotrack`` family: NanoTrack v1/v2/v3 (MobileNetV3-small backbone + anchor-free BAN head).

Loads the released ``pretrained_nanotrackv{1,2,3}.pth`` with strict key checking and reproduces
the released ONNX exports (see ``test/models/test_nanotrack.py``). Inputs are raw BGR 0..255
crops, template 127x127 -> 8x8 features, search 255x255 -> 16x16 (v1/v2) or 15x15 (v3) maps;
any search size ``S`` works (351 -> 22x22 / 21x21), which SiamMargin's adaptive search uses.

The checkpoints carry a ``neck`` (AdjustLayer: 1x1 conv + BN) that NanoTrack's inference path
does not use: the released ONNX exports feed the backbone output straight into the head, and in
v1/v2 the neck's width (64) does not even match the backbone's (48). It is kept as a module so
the checkpoints load strictly, and skipped in the forward pass.

Point convention (``head_type == "point"``): loc channels are left/top/right/bottom distances in
search-crop pixels from each point; point ``(i, j)`` of an ``N x N`` map sits at
``stride * (j - N // 2), stride * (i - N // 2)`` from the search-crop centre -- NanoTrack's own
``generate_points`` (OpenCV's TrackerNano uses the same grid). That is the convention the
regression was trained with, and it stays right for other search sizes ``S`` with
``(S - 255) / 16`` even (351: 22x22 or 21x21 maps), see :func:`point_offsets`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from siam_tracker_ros.models.backbones.mobilenetv3_nano import MobileNetV3Nano
from siam_tracker_ros.models.base import Features, GridPoolSpec, HeadOutput, Kernels, SiameseModel
from siam_tracker_ros.models.heads.ban import BAN_SPECS, BANHead
from siam_tracker_ros.typed_config import build_dataclass

__all__ = ["NanoTrack", "NanoTrackConfig", "build", "point_offsets"]


@dataclass(frozen=True)
class NanoTrackConfig:
    """The ``model:`` section of a NanoTrack config.

    ``version``: 1, 2 or 3 (architecture of the released checkpoint).
    ``weights``: optional checkpoint path (``.pth`` training checkpoint or a plain state dict);
    relative paths are resolved by the caller (the tracker), not here.
    ``exemplar_size`` / ``context_amount``: the template geometry the model was trained with; used
    by :meth:`NanoTrack.pool_cls_kernel` to sample the search features where the template
    features would have been.
    """

    family: Literal["nanotrack"] = "nanotrack"
    version: Literal[1, 2, 3] = 2
    weights: str | None = None
    exemplar_size: int = 127
    context_amount: float = 0.5

    def __post_init__(self) -> None:
        # messages name the key relative to ``model.`` (the builder prefixes it)
        if isinstance(self.version, bool) or self.version not in (1, 2, 3):
            raise ValueError(f"version: must be 1, 2 or 3, got {self.version!r}")
        if self.exemplar_size <= 0:
            raise ValueError(f"exemplar_size: must be > 0, got {self.exemplar_size}")
        if not (0.0 <= self.context_amount <= 10.0):
            raise ValueError(f"context_amount: must be in [0, 10], got {self.context_amount}")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> NanoTrackConfig:
        """Strict parse through the typed-config builder: unknown keys, wrong types and bad
        values raise ``ValueError`` naming the dotted key (``model.version``)."""
        if not isinstance(data, Mapping):
            raise ValueError(f"model: expected a mapping, got {type(data).__name__}")
        return build_dataclass(cls, data, "model")


def point_offsets(size: int, stride: int) -> np.ndarray:
    """Offsets of an ``size x size`` point grid from the search-crop centre, ``(size,)`` float32.

    NanoTrack's grid: ``stride * (k - size // 2)`` for ``k = 0..size-1`` (x for columns, y for
    rows). It is asymmetric for even sizes (16: -128..112), which the regression learnt.
    """
    return (stride * (np.arange(size, dtype=np.float32) - size // 2)).astype(np.float32)


class _UnusedNeck(nn.Module):
    """The checkpoints' ``neck.downsample`` (1x1 conv + BN), not on the inference path."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.downsample = nn.Sequential(
            nn.Conv2d(channels, channels, 1, bias=False), nn.BatchNorm2d(channels)
        )


class NanoTrack(SiameseModel):
    """NanoTrack v1/v2/v3 behind the :class:`SiameseModel` contract."""

    stride = 16
    head_type: Literal["anchor", "point"] = "point"

    def __init__(self, config: NanoTrackConfig | None = None) -> None:
        super().__init__()
        self.config = config or NanoTrackConfig()
        spec = BAN_SPECS[self.config.version]
        self.backbone = MobileNetV3Nano(num_blocks=9 if self.config.version == 3 else 8)
        if self.backbone.channels[0] != spec.in_channels:  # programming error guard
            raise AssertionError("backbone/head width mismatch")
        # v1/v2 necks are 64 wide, v3's 96 (see module docstring: unused)
        self.neck = _UnusedNeck(96 if self.config.version == 3 else 64)
        self.ban_head = BANHead(spec)
        #: template feature side for the configured exemplar size (127 -> 8)
        self.template_feat = _feat_size(self.config.exemplar_size)
        if self.template_feat != spec.template_feat:
            raise ValueError(
                f"model.exemplar_size {self.config.exemplar_size} gives "
                f"{self.template_feat}x{self.template_feat} template features; the NanoTrack "
                f"head needs {spec.template_feat}x{spec.template_feat} (exemplar 113..128)"
            )

    # -- SiameseModel ------------------------------------------------------------------------------
    def template_features(self, z: torch.Tensor) -> Features:
        return [self.backbone(z)]

    def search_features(self, x: torch.Tensor) -> Features:
        return [self.backbone(x)]

    def make_kernels(self, zf: Features) -> Kernels:
        z = _single(zf)
        cls = self.ban_head.branch_kernel(z, "cls")
        if self.ban_head.spec.shared_corr:
            reg = cls  # v1: one kernel for both branches (the head then correlates once)
        else:
            reg = self.ban_head.branch_kernel(z, "reg")
        return Kernels(cls=[cls], loc=[reg])

    def head(self, xf: Features, kernels: Kernels) -> HeadOutput:
        x = _single(xf)
        if len(kernels.cls) != 1 or len(kernels.loc) != 1:
            raise ValueError("NanoTrack has one feature level: expected one cls and one loc kernel")
        cls, loc, corr = self.ban_head(x, kernels.cls[0], kernels.loc[0])
        return HeadOutput(cls=cls, loc=loc, corr=[corr])

    def pool_cls_kernel(self, xf: Features, roi: torch.Tensor) -> list[torch.Tensor]:
        """Classification kernel of the target at ``roi`` (its box) in a search crop.

        ``roi`` is the target box ``x1, y1, x2, y2`` in search-crop pixels. NanoTrack's template
        features cover the whole exemplar crop (target plus context: ``s = sqrt((w + p)(h + p))``,
        ``p = context_amount * (w + h)``, resized to ``exemplar_size``), and the pixel-wise
        correlation is position-specific, so the search features are sampled on exactly the
        grid the template features would occupy: template cell ``i`` sits on exemplar pixel
        ``16 i``, i.e. ``16 i - (exemplar_size - 1) / 2`` from the target centre in exemplar
        pixels, scaled by ``s / exemplar_size`` into search-crop pixels. Samples are bilinear on
        the search feature map (cell ``j`` on search pixel ``16 j``; ``align_corners=True``,
        zeros outside). The result goes through the same cls transform as ``make_kernels``.
        """
        x = _single(xf)
        if roi.shape != (4,):
            raise ValueError(f"roi must have shape (4,), got {tuple(roi.shape)}")
        r = roi.to(device=x.device, dtype=torch.float32)
        w = (r[2] - r[0]).clamp(min=1.0)
        h = (r[3] - r[1]).clamp(min=1.0)
        cx = (r[0] + r[2]) / 2
        cy = (r[1] + r[3]) / 2
        pad = self.config.context_amount * (w + h)
        span = torch.sqrt((w + pad) * (h + pad)) / self.config.exemplar_size
        cells = torch.arange(self.template_feat, device=x.device, dtype=torch.float32)
        offs = (self.stride * cells - (self.config.exemplar_size - 1) / 2) * span
        fx = (cx + offs) / self.stride
        fy = (cy + offs) / self.stride
        height, width = x.shape[-2:]
        gx = 2 * fx / max(width - 1, 1) - 1
        gy = 2 * fy / max(height - 1, 1) - 1
        grid = torch.stack(torch.meshgrid(gy, gx, indexing="ij")[::-1], dim=-1)  # (n, n, [x, y])
        grid = grid.unsqueeze(0).expand(x.shape[0], -1, -1, -1).to(x.dtype)
        pooled = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=True)
        return [self.ban_head.branch_kernel(pooled, "cls")]

    def grid_pool_spec(self) -> GridPoolSpec | None:
        """:meth:`pool_cls_kernel` as data: its sampling grid and the cls kernel transform folded
        into one affine map (``None`` when a transform does not fold: the model pools itself).

        v1/v2: the pixel-wise branch's 1x1 conv + batch norm (or nothing, without adapters). v3
        stacks the depth-wise branch's own 1x1 conv + batch norm on the pixel-wise kernel along
        the channels (``BANHead.branch_kernel``), so its map is the two maps stacked row-wise."""
        head = self.ban_head
        pw = head.pixelwise("cls")
        maps: list[tuple[np.ndarray, np.ndarray] | None] = []
        if pw.adapt:
            maps.append(_fold_conv_bn(pw.conv_kernel))
        elif head.spec.depthwise:  # an identity block, so the depth-wise rows stack under it
            c = head.spec.in_channels
            maps.append((np.eye(c, dtype=np.float32), np.zeros(c, np.float32)))
        if head.spec.depthwise:
            maps.append(_fold_conv_bn(head.depthwise("cls").conv_kernel))
        folded = [m for m in maps if m is not None]
        if len(folded) < len(maps):
            return None
        affine = (
            (np.concatenate([a for a, _ in folded]), np.concatenate([b for _, b in folded]))
            if folded
            else None
        )
        return GridPoolSpec(
            self.stride,
            self.config.exemplar_size,
            self.config.context_amount,
            self.template_feat,
            head.spec.in_channels,
            affine,
        )

    # -- helpers -----------------------------------------------------------------------------------
    def score_size(self, instance_size: int) -> int:
        """Side of the cls/loc maps for a search crop of ``instance_size`` pixels."""
        n = _feat_size(instance_size)
        return n - 1 if self.ban_head.spec.depthwise else n


def _feat_size(size: int) -> int:
    """Backbone output side for an input side (four stride-2 convs padded by ``k // 2``)."""
    for _ in range(4):
        size = (size - 1) // 2 + 1
    return size


def _fold_conv_bn(seq: nn.Module) -> tuple[np.ndarray, np.ndarray] | None:
    """``Sequential(Conv2d 1x1, BatchNorm2d)`` (eval) -> ``(A, b)`` with ``y = A @ x + b``."""
    if not isinstance(seq, nn.Sequential) or len(seq) != 2:
        return None
    conv, bn = seq[0], seq[1]
    if not isinstance(conv, nn.Conv2d) or not isinstance(bn, nn.BatchNorm2d):
        return None
    if conv.kernel_size != (1, 1) or conv.groups != 1 or bn.running_var is None:
        return None
    with torch.no_grad():
        weight = conv.weight.detach().double()[:, :, 0, 0]
        bias = (
            conv.bias.detach().double()
            if conv.bias is not None
            else torch.zeros(weight.shape[0], dtype=torch.float64)
        )
        assert bn.running_mean is not None
        scale = bn.weight.detach().double() / torch.sqrt(bn.running_var.double() + bn.eps)
        a = scale[:, None] * weight
        b = scale * (bias - bn.running_mean.double()) + bn.bias.detach().double()
    return a.float().cpu().numpy(), b.float().cpu().numpy()


def _single(feats: Features) -> torch.Tensor:
    if len(feats) != 1:
        raise ValueError(f"NanoTrack has one feature level, got {len(feats)}")
    return feats[0]


def build(model_cfg: dict[str, Any]) -> NanoTrack:
    """Registry entry: ``model:`` dict -> :class:`NanoTrack` (weights are not loaded here)."""
    return NanoTrack(NanoTrackConfig.from_dict(model_cfg))
