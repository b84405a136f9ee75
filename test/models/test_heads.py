"""Heads and the SiamRPN model's split steps on hand-checkable inputs and tiny random models.

Nothing here needs ../shared; pysot equivalence is in ``test_siamrpn_pysot.py``.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch

from siam_tracker_ros.models.heads import MultiRPN, SiamFCHead, xcorr_depthwise, xcorr_full
from siam_tracker_ros.models.registry import build_model
from siam_tracker_ros.models.siamrpn import SiamRPN, SiamRPNConfig, build, roi_grid_pool


def _tiny_alex() -> dict[str, Any]:
    """pysot's AlexNet at quarter width: unpadded, so template and search features align."""
    return {
        "family": "siamrpn",
        "backbone": {"type": "alexnetlegacy", "kwargs": {"width_mult": 0.25}},
        "neck": None,
        "head": {"type": "DepthwiseRPN", "anchor_num": 5, "in_channels": 64, "out_channels": 32},
    }


def _tiny_mobilenet() -> dict[str, Any]:
    """Three-level MobileNetV2 + neck + weighted MultiRPN, small enough for CPU tests."""
    return {
        "family": "siamrpn",
        "backbone": {
            "type": "mobilenetv2",
            "kwargs": {"used_layers": [3, 5, 7], "width_mult": 0.35},
        },
        "neck": {"in_channels": [11, 33, 112], "out_channels": [16, 16, 16]},
        "head": {
            "type": "MultiRPN",
            "anchor_num": 5,
            "in_channels": [16, 16, 16],
            "weighted": True,
        },
    }


def _model(cfg: dict[str, Any], seed: int = 0) -> SiamRPN:
    torch.manual_seed(seed)
    model = build(cfg)
    # non-trivial BN statistics so eval mode is not an identity
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    return model.eval()


# --------------------------------------------------------------------------------------------------
# correlation
# --------------------------------------------------------------------------------------------------


def _hand_case() -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.stack([torch.arange(1.0, 10.0).view(3, 3), torch.full((3, 3), 2.0)])[None]
    k = torch.stack(
        [torch.tensor([[1.0, 0.0], [0.0, 1.0]]), torch.tensor([[1.0, 2.0], [3.0, 4.0]])]
    )
    return x, k[None]


def test_xcorr_depthwise_by_hand() -> None:
    x, k = _hand_case()
    out = xcorr_depthwise(x, k)
    # channel 0: x[i, j] + x[i+1, j+1]; channel 1: 2 * (1 + 2 + 3 + 4)
    expected = torch.tensor([[[[6.0, 8.0], [12.0, 14.0]], [[20.0, 20.0], [20.0, 20.0]]]])
    assert torch.equal(out, expected)


def test_xcorr_depthwise_shares_one_kernel_across_batch() -> None:
    x, k = _hand_case()
    x2 = torch.cat([x, 3 * x])
    out = xcorr_depthwise(x2, k)
    assert torch.equal(out[1], 3 * xcorr_depthwise(x, k)[0])
    per_sample = xcorr_depthwise(x2, torch.cat([k, -k]))
    assert torch.equal(per_sample[1], -out[1])
    with pytest.raises(ValueError, match="kernel batch 3"):
        xcorr_depthwise(x2, k.expand(3, -1, -1, -1))
    with pytest.raises(ValueError, match="channels"):
        xcorr_depthwise(x, k[:, :1])


def test_siamfc_head_sums_over_channels() -> None:
    x, k = _hand_case()
    assert torch.equal(xcorr_full(x, k), torch.tensor([[[[26.0, 28.0], [32.0, 34.0]]]]))
    head = SiamFCHead(out_scale=0.5)
    two = head(torch.cat([k, 2 * k]), torch.cat([x, x]))
    assert two.shape == (2, 1, 2, 2)
    assert torch.allclose(two[1], 2 * two[0]) and torch.allclose(two[0], 0.5 * xcorr_full(x, k)[0])
    assert torch.equal(head(k, torch.cat([x, x]))[1], two[0])  # one template, batch of searches


def test_multirpn_fuses_levels_with_softmax_weights() -> None:
    rpn = MultiRPN(anchor_num=1, in_channels=[4, 4], weighted=True)
    with torch.no_grad():
        rpn.cls_weight.copy_(torch.tensor([0.0, math.log(3.0)]))  # softmax -> 0.25, 0.75
        rpn.loc_weight.copy_(torch.tensor([5.0, 5.0]))  # -> 0.5, 0.5
    a, b = torch.full((1, 2, 3, 3), 4.0), torch.full((1, 2, 3, 3), 8.0)
    cls, loc = rpn.combine([a, b], [a, b])
    assert torch.allclose(cls, torch.full_like(a, 7.0))
    assert torch.allclose(loc, torch.full_like(a, 6.0))
    plain = MultiRPN(anchor_num=1, in_channels=[4, 4, 4])
    cls, _ = plain.combine([a, b, 3 * b], [a, b, b])
    assert torch.allclose(cls, torch.full_like(a, 12.0))
    assert not hasattr(plain, "cls_weight")


# --------------------------------------------------------------------------------------------------
# RoI pooling and pool_cls_kernel
# --------------------------------------------------------------------------------------------------


def test_roi_grid_pool_constant_and_linear_maps() -> None:
    height, width = 10, 12
    const = torch.full((2, 3, height, width), 3.5)
    for roi in ([1.5, 2.0, 7.0, 8.25], [-4.0, -3.0, 20.0, 30.0]):  # inside / beyond the map
        assert torch.allclose(
            roi_grid_pool(const, torch.tensor(roi), 7), torch.full((2, 3, 7, 7), 3.5)
        )
    ys, xs = torch.meshgrid(
        torch.arange(height, dtype=torch.float32),
        torch.arange(width, dtype=torch.float32),
        indexing="ij",
    )
    linear = (2.0 * xs + 3.0 * ys + 1.0).expand(1, 2, height, width)
    pooled = roi_grid_pool(linear, torch.tensor([1.5, 2.25, 7.5, 6.75]), 5)
    gx = torch.linspace(1.5, 7.5, 5)  # corners included (align_corners=True)
    gy = torch.linspace(2.25, 6.75, 5)
    expected = 2.0 * gx[None, :] + 3.0 * gy[:, None] + 1.0
    assert torch.allclose(pooled[0, 1], expected, atol=1e-4)


def test_roi_grid_pool_integer_roi_is_a_window_and_rois_are_per_sample() -> None:
    torch.manual_seed(1)
    feat = torch.randn(2, 4, 15, 17)
    rois = torch.tensor([[2.0, 3.0, 8.0, 9.0], [0.0, 0.0, 6.0, 6.0]])
    pooled = roi_grid_pool(feat, rois, 7)
    assert torch.allclose(pooled[0], feat[0, :, 3:10, 2:9], atol=1e-5)
    assert torch.allclose(pooled[1], feat[1, :, 0:7, 0:7], atol=1e-5)
    with pytest.raises(ValueError, match="roi must be"):
        roi_grid_pool(feat, torch.zeros(3, 4), 7)


def test_pool_cls_kernel_at_template_scale_reproduces_template_kernel() -> None:
    """AlexNet is unpadded: the 127 centre of a 255 search crop has exactly the template's
    features. A square target of side 63.5 px has a template crop of sqrt(2w * 2w) = 127 px,
    i.e. the same scale, so pooling its box gives the template's cls kernel exactly."""
    model = _model(_tiny_alex())
    torch.manual_seed(2)
    x = torch.rand(1, 3, 255, 255) * 255
    z = x[:, :, 64:191, 64:191]
    box = torch.tensor([127 - 31.75, 127 - 31.75, 127 + 31.75, 127 + 31.75])
    with torch.inference_mode():
        kernels = model.make_kernels(model.template_features(z))
        xf = model.search_features(x)
        pooled = model.pool_cls_kernel(xf, box)
        shifted = model.pool_cls_kernel(xf, box + 8.0)  # one cell to the right and down
    assert len(pooled) == 1 and pooled[0].shape == kernels.cls[0].shape
    scale = kernels.cls[0].abs().max()
    assert torch.allclose(pooled[0], kernels.cls[0], atol=1e-4 * float(scale))
    assert not torch.allclose(shifted[0], kernels.cls[0], atol=1e-2 * float(scale))


def test_template_window_follows_box_centre_and_scale() -> None:
    """Alex: feature cell ``(p - 43) / 8``; the 6x6 kernel spans 40 exemplar px."""
    model = _model(_tiny_alex())
    box = torch.tensor([95.25, 95.25, 158.75, 158.75])  # template scale, centred at 127
    assert torch.allclose(model.template_window(box), torch.tensor([8.0, 8.0, 13.0, 13.0]))
    big = torch.tensor([63.5, 63.5, 190.5, 190.5])  # twice as large: twice the span
    assert torch.allclose(model.template_window(big), torch.tensor([5.5, 5.5, 15.5, 15.5]))
    # a 2:1 box gets the pysot crop side sqrt((w + p)(h + p)), p = (w + h) / 2
    wide = torch.tensor([[100.0, 120.0, 160.0, 150.0]])
    side = math.sqrt((60 + 45) * (30 + 45))
    half = side * 20 / 127 / 8
    expected = torch.tensor(
        [
            [
                (130 - 43) / 8 - half,
                (135 - 43) / 8 - half,
                (130 - 43) / 8 + half,
                (135 - 43) / 8 + half,
            ]
        ]
    )
    assert torch.allclose(model.template_window(wide), expected)


def test_pool_cls_kernel_multilevel_on_constant_features() -> None:
    model = _model(_tiny_mobilenet())
    with torch.inference_mode():
        kernels = model.make_kernels(model.template_features(torch.rand(1, 3, 127, 127) * 255))
        xf = [torch.full((1, 16, 31, 31), v) for v in (0.5, -1.0, 2.0)]
        pooled = model.pool_cls_kernel(xf, torch.tensor([90.0, 100.0, 150.0, 170.0]))
        with pytest.raises(ValueError, match="roi must be"):
            model.pool_cls_kernel(xf, torch.zeros(5))
        size = model.template_feature_size
        for level, (p, k) in enumerate(zip(pooled, kernels.cls, strict=True)):
            assert p.shape == k.shape
            branch = model.rpn_head.branches[level]
            direct = branch.cls.make_kernel(torch.full((1, 16, size, size), xf[level][0, 0, 0, 0]))
            assert torch.allclose(p, direct, atol=1e-5)


# --------------------------------------------------------------------------------------------------
# model steps, geometry, memory formats, config validation
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("make_cfg", [_tiny_alex, _tiny_mobilenet])
def test_split_steps_geometry_and_batching(make_cfg: Any) -> None:
    model = _model(make_cfg())
    torch.manual_seed(3)
    z = torch.rand(1, 3, 127, 127) * 255
    xs = torch.rand(2, 3, 255, 255) * 255
    with torch.inference_mode():
        zf = model.template_features(z)
        kernels = model.make_kernels(zf)  # computed once, reused for every search crop
        xf = model.search_features(xs)
        out = model.head(xf, kernels)
        single = model.head(model.search_features(xs[1:]), kernels)
        full = model(z, xs[1:])
    n = (255 - 127) // 8 + 1 + (8 if model.neck is not None else 0)  # pysot score size
    assert out.cls.shape == (2, 10, n, n) and out.loc.shape == (2, 20, n, n)
    assert out.corr is not None and len(out.corr) == len(zf)
    assert torch.allclose(out.cls[1:], single.cls, rtol=1e-4, atol=1e-4)
    assert torch.equal(single.cls, full.cls) and torch.equal(single.loc, full.loc)
    assert zf[0].shape[-1] == model.template_feature_size
    assert model.stride * (xf[0].shape[-1] - 1) / 2 + model.feature_offset == (255 - 1) / 2


def test_channels_last_and_cpu_autocast() -> None:
    model = _model(_tiny_mobilenet())
    torch.manual_seed(4)
    z, x = torch.rand(1, 3, 127, 127) * 255, torch.rand(1, 3, 255, 255) * 255
    roi = torch.tensor([100.0, 100.0, 160.0, 170.0])
    with torch.inference_mode():
        ref = model(z, x)
        ref_pool = model.pool_cls_kernel(model.search_features(x), roi)
        cl = model.to(memory_format=torch.channels_last)
        zc, xc = (t.contiguous(memory_format=torch.channels_last) for t in (z, x))
        got = cl(zc, xc)
        got_pool = cl.pool_cls_kernel(cl.search_features(xc), roi)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = cl(zc, xc)
            low_pool = cl.pool_cls_kernel(cl.search_features(xc), roi)
    scale = float(ref.cls.abs().max())
    assert torch.allclose(got.cls, ref.cls, atol=1e-4 * scale)
    assert torch.allclose(got_pool[0], ref_pool[0], atol=1e-4 * float(ref_pool[0].abs().max()))
    assert torch.isfinite(low.cls.float()).all() and low_pool[0].shape == ref_pool[0].shape
    assert torch.allclose(low.cls.float(), ref.cls, atol=0.1 * scale)


def test_registry_builds_family_and_config_round_trips() -> None:
    model = build_model(_tiny_alex())
    assert isinstance(model, SiamRPN) and model.head_type == "anchor" and model.stride == 8
    for make_cfg in (_tiny_alex, _tiny_mobilenet):
        cfg = SiamRPNConfig.from_dict(make_cfg())
        assert SiamRPNConfig.from_dict(cfg.to_dict()) == cfg


@pytest.mark.parametrize(
    ("patch", "match"),
    [
        (lambda c: c["head"].update(foo=1), r"model\.head\.foo: unknown key"),
        (lambda c: c.update(extra=1), r"model\.extra: unknown key"),
        (lambda c: c["backbone"].update(type="vgg"), r"model\.backbone\.type"),
        (lambda c: c["head"].update(type="UPChannelRPN"), r"model\.head\.type"),
        (lambda c: c["neck"].update(out_channels=[16, 16, 8]), r"model\.head\.in_channels"),
        (lambda c: c["neck"].update(in_channels=[11, 33, 111]), r"backbone's output channels"),
        (lambda c: c["backbone"]["kwargs"].update(used_layers=[2, 5, 7]), r"stride-8 stages"),
        (lambda c: c["backbone"]["kwargs"].update(depth=3), r"bad arguments for backbone"),
        (lambda c: c["head"].update(anchor_num=0), r"model\.head\.anchor_num"),
        (lambda c: c.pop("head"), r"model\.head: missing"),
    ],
)
def test_bad_model_config_names_the_key(patch: Any, match: str) -> None:
    cfg = _tiny_mobilenet()
    patch(cfg)
    with pytest.raises(ValueError, match=match):
        build(cfg)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_autocast_channels_last_without_host_syncs() -> None:
    """The per-frame steps must not synchronise with the host (the tracker runs them async)."""
    model = _model(_tiny_mobilenet()).cuda().to(memory_format=torch.channels_last)
    torch.manual_seed(5)
    z = (torch.rand(1, 3, 127, 127) * 255).cuda().contiguous(memory_format=torch.channels_last)
    x = (torch.rand(2, 3, 255, 255) * 255).cuda().contiguous(memory_format=torch.channels_last)
    roi = torch.tensor([100.0, 100.0, 160.0, 170.0], device="cuda")
    with torch.inference_mode():
        ref = model(z, x)
        torch.cuda.synchronize()
        torch.cuda.set_sync_debug_mode("error")
        try:
            with torch.autocast("cuda", dtype=torch.float16):
                kernels = model.make_kernels(model.template_features(z))
                xf = model.search_features(x)
                out = model.head(xf, kernels)
                pooled = model.pool_cls_kernel(xf, roi)
        finally:
            torch.cuda.set_sync_debug_mode("default")
    assert pooled[0].shape == kernels.cls[0].shape
    scale = float(ref.cls.abs().max())
    assert torch.allclose(out.cls.float(), ref.cls, atol=0.05 * scale)
