"""NanoTrack's anchor-free BAN heads (v1, v2, v3), parameter-compatible with its checkpoints.

Reconstructed from the released checkpoints' keys/shapes and the ONNX exports' graphs:

* **pixel-wise correlation** (all versions): every template feature cell (8x8 = 64 of them) is a
  1x1 kernel correlated with the search features, giving a 64-channel map of search size; a
  squeeze-excite style channel attention (``CA_layer``: GAP -> 1x1 -> ReLU -> 1x1 -> sigmoid)
  reweights it. v2/v3 first pass template and search features through 1x1 conv + BN adapters
  (``conv_kernel``/``conv_search``); v1 correlates the raw backbone features and shares one
  correlation between both branches. v3 adds a depthwise 2x2 conv block (``conv``) that turns the
  16x16 map into 15x15.
* **depth-wise correlation** (v3 only): the centre 4x4 of the adapted template correlates channel
  by channel with the adapted search features (zero padding 1, so 16x16 -> 15x15). It is fused
  with the pixel-wise map by concatenation and a 1x1 conv (``down_cls``/``down_reg``, 160 -> 96).
* **towers**: depthwise-separable conv stacks with ReLU6; v1/v2 units are
  ``[dw, pw, BN, ReLU6]``, v3 units ``[dw, BN, ReLU6, pw, BN]``.
* **outputs**: cls ``(B, 2, N, N)`` logits (channel 1 = foreground, softmax) and loc
  ``(B, 4, N, N)`` = ``exp(...)`` distances left/top/right/bottom from each point to the box
  sides, in search-crop pixels.

Template kernels are what the head precomputes once per target (``make_kernels``); for v3 the
pixel-wise and the depth-wise kernels of a branch are stacked along channels into one tensor
(both are per-cell 1x1 transforms of the same 8x8 template features, the depth-wise one is
centre-cropped when it is used), so one branch has one kernel tensor, as ``Kernels`` expects.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from siam_tracker_ros.models.heads.rpn import match_kernel, xcorr_depthwise


def xcorr_pixelwise(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Pixel-wise correlation: one output channel per template feature cell.

    ``x`` ``(B, C, H, W)``, ``kernel`` ``(B, C, h, w)`` or ``(1, C, h, w)`` -> ``(B, h*w, H, W)``,
    channel ``i * w + j`` being the dot product of template cell ``(i, j)`` with every search cell.
    """
    batch, channels, height, width = x.shape
    kernel = match_kernel(x, kernel)
    k = kernel.reshape(batch, channels, -1).transpose(1, 2)  # (B, h*w, C)
    out = torch.bmm(k, x.reshape(batch, channels, height * width))
    return out.reshape(batch, -1, height, width)


def _conv1x1_bn(channels: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(channels, channels, 1), nn.BatchNorm2d(channels))


class ChannelAttention(nn.Module):
    """NanoTrack's ``CA_layer``: squeeze-excite gate over the correlation channels."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.fc1 = nn.Conv2d(channels, channels, 1)
        self.fc2 = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate = torch.sigmoid(self.fc2(F.relu(self.fc1(x.mean(dim=(2, 3), keepdim=True)))))
        return x * gate


class PixelwiseCorr(nn.Module):
    """Pixel-wise correlation + channel attention (+ v2/v3 adapters, + v3 2x2 post block)."""

    def __init__(self, channels: int, cells: int, adapt: bool, post: bool) -> None:
        super().__init__()
        self.adapt = adapt
        if adapt:
            self.conv_kernel = _conv1x1_bn(channels)
            self.conv_search = _conv1x1_bn(channels)
        self.CA_layer = ChannelAttention(cells)
        self.post = post
        if post:
            self.conv = nn.Sequential(
                nn.Conv2d(cells, cells, 2, groups=cells, bias=False),
                nn.BatchNorm2d(cells),
                nn.ReLU6(inplace=True),
                nn.Conv2d(cells, cells, 1),
                nn.BatchNorm2d(cells),
            )

    def make_kernel(self, z: torch.Tensor) -> torch.Tensor:
        return self.conv_kernel(z) if self.adapt else z

    def correlate(self, x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
        xs = self.conv_search(x) if self.adapt else x
        out = self.CA_layer(xcorr_pixelwise(xs, kernel))
        return self.conv(out) if self.post else out


class DepthwiseCorr(nn.Module):
    """v3's depth-wise branch: adapters, centre-cropped template, padded channel-wise xcorr."""

    def __init__(self, channels: int, template_size: int, padding: int) -> None:
        super().__init__()
        self.conv_kernel = _conv1x1_bn(channels)
        self.conv_search = _conv1x1_bn(channels)
        self.template_size = template_size
        self.padding = padding

    def make_kernel(self, z: torch.Tensor) -> torch.Tensor:
        """Adapted full template (cropped in :meth:`correlate`, the 1x1 adapter commutes)."""
        out: torch.Tensor = self.conv_kernel(z)
        return out

    def correlate(self, x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
        size = kernel.shape[-1]
        lo = (size - self.template_size) // 2
        hi = lo + self.template_size
        k = kernel[:, :, lo:hi, lo:hi]
        xs = F.pad(self.conv_search(x), [self.padding] * 4)
        return xcorr_depthwise(xs, k)


def _tower(
    style: Literal["dw_pw_bn", "dw_bn_pw_bn"],
    in_channels: int,
    width: int,
    kernels: tuple[int, ...],
) -> nn.Sequential:
    layers: list[nn.Module] = []
    ch = in_channels
    for k in kernels:
        dw = nn.Conv2d(ch, ch, k, padding=k // 2, groups=ch, bias=False)
        pw = nn.Conv2d(ch, width, 1, bias=False)
        if style == "dw_pw_bn":
            layers += [dw, pw, nn.BatchNorm2d(width), nn.ReLU6(inplace=True)]
        else:
            layers += [dw, nn.BatchNorm2d(ch), nn.ReLU6(inplace=True), pw, nn.BatchNorm2d(width)]
        ch = width
    return nn.Sequential(*layers)


@dataclass(frozen=True)
class BANSpec:
    """What differs between the NanoTrack heads (module names included, for checkpoint keys)."""

    in_channels: int
    adapt: bool
    shared_corr: bool
    depthwise: bool
    tower_style: Literal["dw_pw_bn", "dw_bn_pw_bn"]
    cls_tower: tuple[int, ...]
    cls_width: int
    bbox_tower: tuple[int, ...]
    bbox_width: int
    cls_tower_name: str = "cls_tower"
    bbox_tower_name: str = "bbox_tower"
    cls_pred_name: str = "cls_logits"
    #: template feature side (127 exemplar / stride 16 -> 8): pixel-wise correlation width is 64
    template_feat: int = 8
    #: v3 depth-wise branch: template centre crop and search padding
    dw_template: int = 4
    dw_padding: int = 1
    fused_width: int = 96


#: the three released heads
BAN_SPECS: dict[int, BANSpec] = {
    1: BANSpec(
        in_channels=48,
        adapt=False,
        shared_corr=True,
        depthwise=False,
        tower_style="dw_pw_bn",
        cls_tower=(5, 5, 3),
        cls_width=128,
        bbox_tower=(3, 3, 5, 5),
        bbox_width=96,
    ),
    2: BANSpec(
        in_channels=48,
        adapt=True,
        shared_corr=False,
        depthwise=False,
        tower_style="dw_pw_bn",
        cls_tower=(3,) * 6,
        cls_width=96,
        bbox_tower=(3,) * 6,
        bbox_width=96,
        cls_tower_name="cls_pw_tower",
        bbox_tower_name="bbox_pw_tower",
        cls_pred_name="cls_pred",
    ),
    3: BANSpec(
        in_channels=96,
        adapt=True,
        shared_corr=False,
        depthwise=True,
        tower_style="dw_bn_pw_bn",
        cls_tower=(3,) * 6,
        cls_width=96,
        bbox_tower=(3,) * 6,
        bbox_width=96,
    ),
}


class BANHead(nn.Module):
    """The NanoTrack head for one :class:`BANSpec` (module names match the checkpoints)."""

    def __init__(self, spec: BANSpec) -> None:
        super().__init__()
        self.spec = spec
        cells = spec.template_feat**2
        post = spec.depthwise
        if spec.shared_corr:
            self.corr_pw = PixelwiseCorr(spec.in_channels, cells, spec.adapt, post)
        else:
            # registration order = checkpoint order (reg before cls), for readable state dicts
            if spec.depthwise:
                self.corr_dw_reg = DepthwiseCorr(
                    spec.in_channels, spec.dw_template, spec.dw_padding
                )
            self.corr_pw_reg = PixelwiseCorr(spec.in_channels, cells, spec.adapt, post)
            if spec.depthwise:
                self.corr_dw_cls = DepthwiseCorr(
                    spec.in_channels, spec.dw_template, spec.dw_padding
                )
            self.corr_pw_cls = PixelwiseCorr(spec.in_channels, cells, spec.adapt, post)
        tower_in = spec.fused_width if spec.depthwise else cells
        self.add_module(
            spec.cls_tower_name, _tower(spec.tower_style, tower_in, spec.cls_width, spec.cls_tower)
        )
        self.add_module(
            spec.bbox_tower_name,
            _tower(spec.tower_style, tower_in, spec.bbox_width, spec.bbox_tower),
        )
        self.add_module(spec.cls_pred_name, nn.Sequential(nn.Conv2d(spec.cls_width, 2, 1)))
        self.bbox_pred = nn.Sequential(nn.Conv2d(spec.bbox_width, 4, 1))
        if spec.depthwise:
            self.down_reg = nn.Sequential(nn.Conv2d(cells + spec.in_channels, spec.fused_width, 1))
            self.down_cls = nn.Sequential(nn.Conv2d(cells + spec.in_channels, spec.fused_width, 1))

    # -- per-branch pieces -------------------------------------------------------------------------
    def pixelwise(self, branch: Literal["cls", "reg"]) -> PixelwiseCorr:
        """The branch's pixel-wise correlation (v1 shares one between both branches)."""
        mod = self.corr_pw if self.spec.shared_corr else getattr(self, f"corr_pw_{branch}")
        assert isinstance(mod, PixelwiseCorr)
        return mod

    def depthwise(self, branch: Literal["cls", "reg"]) -> DepthwiseCorr:
        """The branch's depth-wise correlation (v3 only)."""
        mod = getattr(self, f"corr_dw_{branch}")
        assert isinstance(mod, DepthwiseCorr)
        return mod

    def branch_kernel(self, z: torch.Tensor, branch: Literal["cls", "reg"]) -> torch.Tensor:
        """Template features ``(B, C, 8, 8)`` -> this branch's kernel (v3: pw and dw stacked)."""
        kernel = self.pixelwise(branch).make_kernel(z)
        if self.spec.depthwise:
            kernel = torch.cat([kernel, self.depthwise(branch).make_kernel(z)], dim=1)
        return kernel

    def branch_corr(
        self, x: torch.Tensor, kernel: torch.Tensor, branch: Literal["cls", "reg"]
    ) -> torch.Tensor:
        """Search features + branch kernel -> the map the branch's tower consumes."""
        if not self.spec.depthwise:
            return self.pixelwise(branch).correlate(x, kernel)
        c = self.spec.in_channels
        pw = self.pixelwise(branch).correlate(x, kernel[:, :c])
        dw = self.depthwise(branch).correlate(x, kernel[:, c:])
        down: nn.Module = getattr(self, f"down_{branch}")
        fused: torch.Tensor = down(torch.cat([pw, dw], dim=1))
        return fused

    def predict(
        self, cls_corr: torch.Tensor, reg_corr: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Towers and output convs: cls logits and ``exp``-ed l/t/r/b distances."""
        cls_feat = getattr(self, self.spec.cls_tower_name)(cls_corr)
        reg_feat = getattr(self, self.spec.bbox_tower_name)(reg_corr)
        cls = getattr(self, self.spec.cls_pred_name)(cls_feat)
        loc = torch.exp(self.bbox_pred(reg_feat))
        return cls, loc

    def forward(
        self, x: torch.Tensor, cls_kernel: torch.Tensor, reg_kernel: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Returns ``(cls, loc, cls_corr)``."""
        cls_corr = self.branch_corr(x, cls_kernel, "cls")
        if self.spec.shared_corr and reg_kernel is cls_kernel:
            reg_corr = cls_corr  # v1 shares one correlation unless the cls kernel was updated
        else:
            reg_corr = self.branch_corr(x, reg_kernel, "reg")
        cls, loc = self.predict(cls_corr, reg_corr)
        return cls, loc, cls_corr
