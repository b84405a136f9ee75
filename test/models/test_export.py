"""ONNX export + ONNX Runtime backend: same outputs as PyTorch, same boxes, same Tracker API.

Tolerance: every exported output (kernels, cls, loc, search features) within 1e-4 of the
PyTorch output's range (``max |ort - torch| <= 1e-4 * max |torch|``); measured ~1e-6. Tracked
boxes on a real sequence within 0.01 px. Tests needing ../shared skip cleanly without it; the
CUDA ones skip without CUDA (and without onnxruntime-gpu for the ONNX Runtime CUDA path).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import ROOT, shared_path

from siam_tracker_ros.core.config import (
    AdaptiveSearchConfig,
    MechanismsConfig,
    OnlineUpdateConfig,
    TrackerConfig,
    load_config,
)
from siam_tracker_ros.core.tracker import Tracker
from siam_tracker_ros.models.base import Kernels
from siam_tracker_ros.models.export import (
    DYNAMIC,
    export_model,
    load_exported,
    verify_export,
)
from siam_tracker_ros.models.host_pool import HostPool
from siam_tracker_ros.models.onnx_backend import (
    LazyFeatures,
    OnnxRuntimeModel,
    onnxruntime_available,
)
from siam_tracker_ros.models.registry import build_model

REL_TOL = 1e-4
NANO_V2 = ROOT / "config" / "models" / "nanotrack_v2.yaml"


def _model(config: str, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return build_model(load_config(ROOT / "config" / "models" / config).model).eval()


@pytest.fixture(scope="module")
def nano_v2() -> torch.nn.Module:
    return _model("nanotrack_v2.yaml")


@pytest.fixture(scope="module")
def nano_backend(nano_v2: torch.nn.Module) -> OnnxRuntimeModel:
    return OnnxRuntimeModel.from_model(nano_v2, search_sizes=(255, 351))


# ------------------------------------------------------------------------------- export
@pytest.mark.parametrize(
    "config", ["nanotrack_v1.yaml", "nanotrack_v2.yaml", "nanotrack_v3.yaml", "siamrpn_alex.yaml"]
)
def test_exported_graphs_match_pytorch(config: str, tmp_path: Path) -> None:
    """Template + search graphs equal PyTorch at the base and the adaptive-search size.

    v3 and SiamRPN correlate depth-wise (a grouped conv whose weight is a graph input), the case
    the export rewrites; all of them must come out as one dynamic-size search graph.
    """
    model = _model(config)
    base = load_config(ROOT / "config" / "models" / config).tracker.instance_size
    sizes = (base, base + 96)
    exported = export_model(model, tmp_path, search_sizes=sizes)
    assert exported.dynamic and set(exported.search_paths) == {DYNAMIC}
    report = verify_export(model, exported, sizes=(*sizes, base + 2 * 96), rtol=REL_TOL)
    assert max(report.max_rel.values()) < REL_TOL
    # the files describe themselves
    again = load_exported(tmp_path)
    assert again.levels == exported.levels and again.head_type == model.head_type
    assert again.stride == model.stride and again.search_paths == exported.search_paths


def test_static_export_and_missing_sizes(nano_v2: torch.nn.Module, tmp_path: Path) -> None:
    exported = export_model(nano_v2, tmp_path, search_sizes=(255,), dynamic=False)
    assert not exported.dynamic and set(exported.search_paths) == {255}
    verify_export(nano_v2, exported, sizes=(255,))
    with pytest.raises(ValueError, match="no exported search graph for size 351"):
        verify_export(nano_v2, exported, sizes=(351,))
    # the backend exports a missing size from the PyTorch model on first use ...
    backend = OnnxRuntimeModel(exported, torch_model=nano_v2)
    kernels = backend.make_kernels(backend.template_features(torch.zeros(1, 3, 127, 127)))
    out = backend.head(backend.search_features(torch.zeros(1, 3, 351, 351)), kernels)
    assert out.cls.shape == (1, 2, 22, 22) and 351 in backend.exported.search_paths
    # ... and refuses it without one
    bare = OnnxRuntimeModel(load_exported(tmp_path))
    with pytest.raises(ValueError, match="no exported search graph for size 287"):
        bare.head(bare.search_features(torch.zeros(1, 3, 287, 287)), kernels)


def test_export_leaves_model_untouched(nano_v2: torch.nn.Module, tmp_path: Path) -> None:
    model = _model("nanotrack_v2.yaml", seed=3).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    export_model(model, tmp_path, search_sizes=(255,))
    assert model.training  # mode kept; the export runs on an eval copy
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_load_exported_errors(tmp_path: Path, nano_v2: torch.nn.Module) -> None:
    with pytest.raises(FileNotFoundError):
        load_exported(tmp_path)
    export_model(nano_v2, tmp_path, search_sizes=(255,))
    (tmp_path / "model_search_dynamic.onnx").unlink()
    with pytest.raises(FileNotFoundError, match="no exported search graph"):
        load_exported(tmp_path)


# ------------------------------------------------------------------------------- backend
def test_backend_implements_the_contract(
    nano_v2: torch.nn.Module, nano_backend: OnnxRuntimeModel
) -> None:
    torch.manual_seed(1)
    z = torch.rand(1, 3, 127, 127) * 255
    x = torch.rand(1, 3, 351, 351) * 255
    with torch.inference_mode():
        ref_k = nano_v2.make_kernels(nano_v2.template_features(z))
        ref_xf = nano_v2.search_features(x)
        ref = nano_v2.head(ref_xf, ref_k)
    kernels = nano_backend.make_kernels(nano_backend.template_features(z))
    xf = nano_backend.search_features(x)
    out = nano_backend.head(xf, kernels)
    assert nano_backend.head_type == "point" and nano_backend.stride == 16
    for got, want in [
        (out.cls, ref.cls),
        (out.loc, ref.loc),
        (kernels.cls[0], ref_k.cls[0]),
        (kernels.loc[0], ref_k.loc[0]),
    ]:
        assert got.shape == want.shape and got.dtype == torch.float32
        assert (got - want).abs().max() <= REL_TOL * want.abs().max()
    assert isinstance(xf, LazyFeatures) and xf.computed is not None
    assert (xf.computed[0] - ref_xf[0]).abs().max() <= REL_TOL * ref_xf[0].abs().max()
    roi = torch.tensor([120.0, 100.0, 200.0, 260.0])
    with torch.inference_mode():
        want_pool = nano_v2.pool_cls_kernel(ref_xf, roi)[0]
    got_pool = nano_backend.pool_cls_kernel(xf, roi)[0]
    assert (got_pool - want_pool).abs().max() <= REL_TOL * want_pool.abs().max()


def test_backend_rejects_misuse(nano_backend: OnnxRuntimeModel, tmp_path: Path) -> None:
    z = torch.zeros(1, 3, 127, 127)
    kernels = nano_backend.make_kernels(nano_backend.template_features(z))
    with pytest.raises(TypeError, match="crops, not from PyTorch features"):
        nano_backend.make_kernels([z])
    with pytest.raises(ValueError, match="expected 1 cls and loc kernels"):
        nano_backend.head(
            nano_backend.search_features(torch.zeros(1, 3, 255, 255)),
            Kernels(cls=kernels.cls * 2, loc=kernels.loc),
        )
    with pytest.raises(RuntimeError, match="before head"):
        nano_backend.pool_cls_kernel(
            nano_backend.search_features(torch.zeros(1, 3, 255, 255)), torch.zeros(4)
        )
    bare = OnnxRuntimeModel(nano_backend.exported)  # no PyTorch model: no online update
    xf = bare.search_features(torch.zeros(1, 3, 255, 255))
    bare.head(xf, kernels)
    with pytest.raises(RuntimeError, match="online template update needs the PyTorch model"):
        bare.pool_cls_kernel(xf, torch.tensor([10.0, 10.0, 50.0, 50.0]))


def test_export_cache_is_reused(nano_v2: torch.nn.Module, tmp_path: Path) -> None:
    first = OnnxRuntimeModel.from_model(nano_v2, search_sizes=(255,), cache_dir=tmp_path)
    stamp = first.exported.template_path.stat().st_mtime_ns
    second = OnnxRuntimeModel.from_model(nano_v2, search_sizes=(255,), cache_dir=tmp_path)
    assert second.exported.template_path == first.exported.template_path
    assert second.exported.template_path.stat().st_mtime_ns == stamp  # not exported again
    other = OnnxRuntimeModel.from_model(
        _model("nanotrack_v2.yaml", seed=5), search_sizes=(255,), cache_dir=tmp_path
    )
    assert other.exported.out_dir != first.exported.out_dir  # other weights, other graphs


# ------------------------------------------------------------------------------- host pooling
def test_host_pool_matches_the_model(nano_v2: torch.nn.Module) -> None:
    """The NumPy pooling equals ``NanoTrack.pool_cls_kernel``, also for boxes off the map."""
    pool = HostPool.for_model(nano_v2)
    assert pool is not None
    rng = np.random.default_rng(0)
    for side in (16, 22):
        feat = rng.standard_normal((1, 48, side, side)).astype(np.float32)
        for _ in range(20):
            x1, y1 = rng.uniform(-80, side * 16, 2)
            w, h = rng.uniform(2, 200, 2)
            roi = np.array([x1, y1, x1 + w, y1 + h], np.float32)
            with torch.inference_mode():
                want = nano_v2.pool_cls_kernel([torch.from_numpy(feat)], torch.from_numpy(roi))
            got = pool(feat, roi)
            assert np.abs(got - want[0].numpy()).max() <= REL_TOL * np.abs(want[0].numpy()).max()
    assert HostPool.for_model(_model("nanotrack_v3.yaml")) is None  # not covered: stays PyTorch
    assert HostPool.for_model(_model("siamrpn_alex.yaml")) is None


# ------------------------------------------------------------------------------- tracker
def test_runtime_switch() -> None:
    model = _model("nanotrack_v2.yaml")
    cfg = load_config(NANO_V2).tracker
    tracker = Tracker(model, dataclasses.replace(cfg, runtime="onnxruntime"))
    assert isinstance(tracker.model, OnnxRuntimeModel)
    assert isinstance(Tracker(model, cfg).model, type(model))
    with pytest.raises(ValueError, match="tracker.runtime"):
        from siam_tracker_ros.core.config import tracker_config_from_dict

        tracker_config_from_dict({"runtime": "tensorrt"})
    with pytest.raises(ValueError, match="runtime must be"):
        Tracker.from_config(NANO_V2, runtime="tensorrt")
    assert TrackerConfig().runtime == "torch"
    assert TrackerConfig(runtime="onnxruntime").to_dict()["runtime"] == "onnxruntime"


def test_cpu_threads_reach_the_onnx_runtime_sessions() -> None:
    """``tracker.cpu_threads`` (YAML, ``load_tracker``, the node's ``model.num_threads``) is the
    intra-op thread count of every ONNX Runtime session; default 1."""
    from siam_tracker_ros.core.defaults import load_tracker

    def session_threads(tracker: Tracker) -> set[int]:
        assert isinstance(tracker.model, OnnxRuntimeModel)
        sessions = tracker.model._sessions.values()
        assert sessions
        return {int(s.get_session_options().intra_op_num_threads) for s in sessions}

    assert TrackerConfig().cpu_threads == 1
    assert session_threads(load_tracker()) == {1}  # the bundled model: ONNX Runtime
    tracker = load_tracker(cpu_threads=2)
    assert tracker.config.cpu_threads == 2 and session_threads(tracker) == {2}
    with pytest.raises(ValueError, match="cpu_threads"):
        TrackerConfig(cpu_threads=-1)


def _val_frames(name: str, count: int) -> tuple[list[np.ndarray], np.ndarray]:
    from siam_tracker_ros.datasets import load_sequence

    seq = load_sequence(shared_path("data", "sequences", name))
    return [seq.frame(i) for i in range(count)], seq.init_box


@pytest.mark.parametrize("name", ["Surfer", "Woman"])
def test_onnxruntime_tracks_the_same_boxes(name: str) -> None:
    """Released NanoTrack v2, all four mechanisms on (Surfer takes the 351 adaptive crop)."""
    weights = shared_path("weights", "nanotrack", "pretrained_nanotrackv2.pth")
    frames, box = _val_frames(name, 40)
    mech = MechanismsConfig(
        online_update=OnlineUpdateConfig(enabled=True),
        adaptive_search=AdaptiveSearchConfig(enabled=True),
    )
    trackers = []
    for runtime in ("torch", "onnxruntime"):
        t = Tracker.from_config(NANO_V2, weights=weights, runtime=runtime)
        cfg = dataclasses.replace(
            t.config,
            mechanisms=dataclasses.replace(
                t.config.mechanisms,
                online_update=mech.online_update,
                adaptive_search=mech.adaptive_search,
            ),
        )
        trackers.append(Tracker(t.model, cfg))
    torch_t, ort_t = trackers
    assert isinstance(ort_t.model, OnnxRuntimeModel)
    torch_t.init(frames[0], box)
    ort_t.init(frames[0], box)
    for frame in frames[1:]:
        a, b = torch_t.track(frame), ort_t.track(frame)
        np.testing.assert_allclose(b.box, a.box, atol=1e-2)
        assert abs(a.score - b.score) < 1e-4 and a.state == b.state
    assert ort_t.online.updates == torch_t.online.updates > 0


# ------------------------------------------------------------------------------- CUDA
@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_export_from_cuda_model(tmp_path: Path) -> None:
    model = _model("nanotrack_v2.yaml").cuda()
    exported = export_model(model, tmp_path, search_sizes=(255,))
    verify_export(model, exported, sizes=(255,))
    assert next(model.parameters()).is_cuda  # exported from a CPU copy


@pytest.mark.gpu
@pytest.mark.skipif(
    not (torch.cuda.is_available() and onnxruntime_available("cuda")),
    reason="needs CUDA and onnxruntime-gpu",
)
def test_onnxruntime_cuda_matches_cpu() -> None:
    model = _model("nanotrack_v2.yaml")
    cfg = dataclasses.replace(load_config(NANO_V2).tracker, runtime="onnxruntime")
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, (240, 320, 3), dtype=np.uint8) for _ in range(5)]
    cpu = Tracker(model, cfg, device="cpu")
    gpu = Tracker(_model("nanotrack_v2.yaml"), cfg, device="cuda")
    assert isinstance(gpu.model, OnnxRuntimeModel)
    for t in (cpu, gpu):
        t.init(frames[0], (100, 80, 60, 50))
    for frame in frames[1:]:
        np.testing.assert_allclose(gpu.track(frame).box, cpu.track(frame).box, atol=0.05)
