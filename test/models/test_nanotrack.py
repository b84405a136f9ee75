"""NanoTrack v1/v2/v3: config, shapes, pooling geometry, strict checkpoint loading and numerical
equivalence with the released ONNX exports (run in onnxruntime on real crops).

The equivalence tests need ../shared (weights and a val sequence) and skip cleanly without it.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from conftest import shared_path

from siam_tracker_ros.core.geometry import get_subwindow
from siam_tracker_ros.models.checkpoint import load_into, load_state_dict_file
from siam_tracker_ros.models.heads.ban import xcorr_pixelwise
from siam_tracker_ros.models.nanotrack import NanoTrack, NanoTrackConfig, point_offsets
from siam_tracker_ros.models.registry import build_model

#: (backbone, head) ONNX file names per version, as released
ONNX = {
    1: ("nanotrackv1_nanotrack_backbone_sim.onnx", "nanotrackv1_nanotrack_head_sim.onnx"),
    2: ("nanotrackv2_nanotrack_backbone_sim.onnx", "nanotrackv2_nanotrack_head_sim.onnx"),
    3: ("nanotrackv3_nanotrack_backbone.onnx", "nanotrackv3_nanotrack_head.onnx"),
}
#: parameter counts the weights README states (about 292k / 338k / 551k)
PARAMS = {1: 292_190, 2: 338_302, 3: 550_854}
#: "about 1e-4 relative": max |ours - onnx| <= REL_TOL * max |onnx|
REL_TOL = 1e-4


# ------------------------------------------------------------------------------------ no ../shared
def test_config_is_strict() -> None:
    assert NanoTrackConfig.from_dict({"family": "nanotrack", "version": 3}).version == 3
    with pytest.raises(ValueError, match="model.versoin"):
        NanoTrackConfig.from_dict({"family": "nanotrack", "versoin": 2})
    with pytest.raises(ValueError, match="model.version"):
        NanoTrackConfig.from_dict({"family": "nanotrack", "version": 4})
    with pytest.raises(ValueError, match="model.version"):
        NanoTrackConfig.from_dict({"family": "nanotrack", "version": "2"})
    with pytest.raises(ValueError, match="model.family"):
        NanoTrackConfig.from_dict({"family": "siamrpn"})
    with pytest.raises(ValueError, match="exemplar_size"):
        NanoTrack(NanoTrackConfig(exemplar_size=255))  # 16x16 template features: wrong head


@pytest.mark.parametrize(
    ("version", "sizes"),
    [(1, {255: 16, 351: 22}), (2, {255: 16, 351: 22}), (3, {255: 15, 351: 21})],
)
def test_shapes_and_contract(version: int, sizes: dict[int, int]) -> None:
    torch.manual_seed(0)
    model = build_model({"family": "nanotrack", "version": version}).eval()
    assert isinstance(model, NanoTrack)
    assert model.head_type == "point" and model.stride == 16
    assert sum(p.numel() for p in model.parameters()) == PARAMS[version]
    with torch.inference_mode():
        kernels = model.make_kernels(model.template_features(torch.rand(1, 3, 127, 127) * 255))
        assert len(kernels.cls) == len(kernels.loc) == 1
        for inst, n in sizes.items():
            xf = model.search_features(
                torch.rand(2, 3, inst, inst) * 255
            )  # batch of 2, shared kernel
            out = model.head(xf, kernels)
            assert out.cls.shape == (2, 2, n, n) and out.loc.shape == (2, 4, n, n)
            assert bool((out.loc > 0).all())  # exp(): distances are positive
            assert model.score_size(inst) == n
            assert out.corr is not None and out.corr[0].shape[-1] == n
            roi = torch.tensor([100.0, 100.0, 150.0, 160.0])
            pooled = model.pool_cls_kernel([xf[0][:1]], roi)
            assert [p.shape for p in pooled] == [k.shape for k in kernels.cls]


def test_xcorr_pixelwise_matches_definition() -> None:
    torch.manual_seed(1)
    x = torch.randn(2, 5, 6, 7)
    k = torch.randn(2, 5, 3, 2)
    out = xcorr_pixelwise(x, k)
    assert out.shape == (2, 6, 6, 7)
    for b in range(2):
        for i in range(3):
            for j in range(2):
                ref = (x[b] * k[b, :, i, j][:, None, None]).sum(0)
                torch.testing.assert_close(out[b, i * 2 + j], ref, rtol=1e-5, atol=1e-5)
    # a single template broadcasts over a batch of search crops
    torch.testing.assert_close(xcorr_pixelwise(x, k[:1])[1], xcorr_pixelwise(x[1:], k[:1])[0])


@pytest.mark.parametrize("version", [1, 2, 3])
def test_pool_cls_kernel_samples_where_the_template_features_sit(version: int) -> None:
    """A target centred in the search crop at the template's scale (context box 127 px) must be
    pooled from exactly the search cells a template crop would cover: cells 4..11 of 16.

    Exemplar cell i sits on exemplar pixel 16 i, i.e. 16 i - 63 from the target centre; in a 255
    crop centred on the same point that is search pixel 16 i + 64 = cell i + 4.
    """
    torch.manual_seed(2)
    model = NanoTrack(NanoTrackConfig(version=version)).eval()
    xf = [torch.randn(1, model.backbone.channels[0], 16, 16)]
    half = 127 / 4  # context box s = sqrt((w + (w+h)/2)(h + (w+h)/2)) = 2 w = 127 for w = h
    roi = torch.tensor([127 - half, 127 - half, 127 + half, 127 + half])
    with torch.inference_mode():
        pooled = model.pool_cls_kernel(xf, roi)[0]
        expected = model.make_kernels([xf[0][:, :, 4:12, 4:12]]).cls[0]
    torch.testing.assert_close(pooled, expected, rtol=1e-5, atol=1e-5)


def test_point_offsets_are_nanotracks_grid() -> None:
    np.testing.assert_array_equal(point_offsets(16, 16), np.arange(-128, 113, 16))
    np.testing.assert_array_equal(point_offsets(15, 16), np.arange(-112, 113, 16))
    assert point_offsets(22, 16)[0] == -176


# ------------------------------------------------------------------------------- needs ../shared
def _ort_session(path: Path, input_hw: int | None = None) -> object:
    """onnxruntime session; ``input_hw`` re-declares the backbone's fixed 255x255 input size."""
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    proto = onnx.load(str(path))
    if input_hw is not None:
        dims = proto.graph.input[0].type.tensor_type.shape.dim
        dims[2].dim_value = dims[3].dim_value = input_hw
        for out in proto.graph.output:
            for d in out.type.tensor_type.shape.dim[2:]:
                d.dim_param = "n"
        del proto.graph.value_info[:]
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    return ort.InferenceSession(proto.SerializeToString(), opts, providers=["CPUExecutionProvider"])


def _real_crops() -> tuple[np.ndarray, np.ndarray]:
    """A template (127) and a search (255) crop of a real frame, pysot geometry, BGR float."""
    seq = shared_path("data", "sequences", "Crossing")
    frames = sorted((seq / "img").glob("*.jpg"))
    x, y, w, h = np.loadtxt(seq / "groundtruth_rect.txt", delimiter=",")[0]
    img0, img1 = cv2.imread(str(frames[0])), cv2.imread(str(frames[5]))
    center = np.array([x + (w - 1) / 2, y + (h - 1) / 2])
    s_z = np.sqrt((w + (w + h) / 2) * (h + (w + h) / 2))
    avg = img0.mean(axis=(0, 1))
    z = get_subwindow(img0, center, 127, round(s_z), avg)
    xc = get_subwindow(img1, center, 255, round(s_z * 255 / 127), avg)

    def to_blob(patch: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(patch.transpose(2, 0, 1)[None], dtype=np.float32)

    return to_blob(z), to_blob(xc)


def _rel(a: np.ndarray, ref: np.ndarray) -> float:
    """max |a - ref| / max |ref| (printed with the absolute max |a - ref| by the test)."""
    return float(np.abs(a - ref).max() / np.abs(ref).max())


@pytest.mark.shared
@pytest.mark.parametrize("version", [1, 2, 3])
def test_released_checkpoint_matches_onnx_export(version: int) -> None:
    weights = shared_path("weights", "nanotrack")
    z, x = _real_crops()
    model = NanoTrack(NanoTrackConfig(version=version)).eval()
    load_into(model, load_state_dict_file(weights / f"pretrained_nanotrackv{version}.pth"))
    backbone_x = _ort_session(weights / ONNX[version][0])
    backbone_z = _ort_session(weights / ONNX[version][0], input_hw=127)
    head = _ort_session(weights / ONNX[version][1])
    ref_xf = backbone_x.run(None, {"input": x})[0]  # type: ignore[attr-defined]
    ref_zf = backbone_z.run(None, {"input": z})[0]  # type: ignore[attr-defined]
    ref_cls, ref_loc = head.run(None, {"input1": ref_zf, "input2": ref_xf})  # type: ignore[attr-defined]
    with torch.inference_mode():
        zf = model.template_features(torch.from_numpy(z))
        xf = model.search_features(torch.from_numpy(x))
        out = model.head(xf, model.make_kernels(zf))
    diffs = {
        "search features": _rel(xf[0].numpy(), ref_xf),
        "template features": _rel(zf[0].numpy(), ref_zf),
        "cls": _rel(out.cls.numpy(), ref_cls),
        "loc": _rel(out.loc.numpy(), ref_loc),
    }
    absolute = {
        "search features": np.abs(xf[0].numpy() - ref_xf).max(),
        "template features": np.abs(zf[0].numpy() - ref_zf).max(),
        "cls": np.abs(out.cls.numpy() - ref_cls).max(),
        "loc": np.abs(out.loc.numpy() - ref_loc).max(),
    }
    print(
        f"v{version} max |diff| (relative to max |onnx|): "
        + ", ".join(f"{k} {absolute[k]:.1e} ({v:.1e})" for k, v in diffs.items())
    )
    assert all(v <= REL_TOL for v in diffs.values()), diffs
    # the tracker's view agrees too: same best point and a saturated foreground score there
    fg = torch.softmax(out.cls, 1)[0, 1]
    ref_fg = torch.softmax(torch.from_numpy(ref_cls), 1)[0, 1]
    assert int(fg.argmax()) == int(ref_fg.argmax())


@pytest.mark.shared
def test_training_checkpoint_loads_strictly_and_wrong_version_is_refused() -> None:
    weights = shared_path("weights", "nanotrack")
    sd = load_state_dict_file(weights / "pretrained_nanotrackv3.pth")
    assert any(k.startswith("neck.") for k in sd)  # kept in the model so strict loading works
    with pytest.raises(ValueError, match="state dict does not fit"):
        load_into(NanoTrack(NanoTrackConfig(version=2)), sd)


@pytest.mark.shared
@pytest.mark.parametrize("version", [1, 2, 3])
def test_pooled_kernel_is_most_like_the_template_at_the_true_box(version: int) -> None:
    """On a real frame, the kernel pooled from the search features at the target's box resembles
    the template kernel most when the roi is exactly on the target (the sampling geometry is
    right to well under a feature cell), and less 8 px off in any direction."""
    seq = shared_path("data", "sequences", "Woman")
    img = cv2.imread(str(seq / "img" / "0001.jpg"))
    x, y, w, h = np.loadtxt(seq / "groundtruth_rect.txt", delimiter=",")[0]
    center = np.array([x + (w - 1) / 2, y + (h - 1) / 2])
    s_z = np.sqrt((w + (w + h) / 2) * (h + (w + h) / 2))
    avg = img.mean(axis=(0, 1))
    model = NanoTrack(NanoTrackConfig(version=version)).eval()
    weights = shared_path("weights", "nanotrack", f"pretrained_nanotrackv{version}.pth")
    load_into(model, load_state_dict_file(weights))

    def blob(patch: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(patch.transpose(2, 0, 1)[None].astype(np.float32))

    with torch.inference_mode():
        zf = model.template_features(blob(get_subwindow(img, center, 127, round(s_z), avg)))
        kernel = model.make_kernels(zf).cls[0].flatten()
        xf = model.search_features(blob(get_subwindow(img, center, 255, round(s_z * 2.008), avg)))
        bw, bh = w * 127 / s_z, h * 127 / s_z

        def similarity(dx: float, dy: float) -> float:
            roi = torch.tensor([127 + dx - bw / 2, 127 + dy - bh / 2,
                                127 + dx + bw / 2, 127 + dy + bh / 2])  # fmt: skip
            pooled = model.pool_cls_kernel(xf, roi)[0].flatten()
            return float(torch.nn.functional.cosine_similarity(pooled, kernel, dim=0))

        on_target = similarity(0, 0)
        assert on_target > 0.6
        for dx, dy in ((-8, 0), (8, 0), (0, -8), (0, 8)):
            assert similarity(dx, dy) < on_target, (dx, dy)
