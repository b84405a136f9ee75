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
from siam_tracker_ros.core.loading import load_tracker
from siam_tracker_ros.core.tracker import Tracker
from siam_tracker_ros.models.base import Kernels
from siam_tracker_ros.models.export import DYNAMIC
from siam_tracker_ros.models.registry import build_model
from siam_tracker_ros.runtime import RuntimeConfig
from siam_tracker_ros.runtime.host_pool import HostPool
from siam_tracker_ros.runtime.onnx_backend import (
    OnnxRuntimeBackend,
    OnnxRuntimeOptions,
    onnxruntime_available,
)
from siam_tracker_ros.runtime.onnx_export import export_model, load_exported, verify_export
from siam_tracker_ros.runtime.torch_backend import TorchBackend

REL_TOL = 1e-4
NANO_V2 = ROOT / "config" / "models" / "nanotrack_v2.yaml"


def _model(config: str, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return build_model(load_config(ROOT / "config" / "models" / config).model).eval()


@pytest.fixture(scope="module")
def nano_v2() -> torch.nn.Module:
    return _model("nanotrack_v2.yaml")


@pytest.fixture(scope="module")
def nano_backend(nano_v2: torch.nn.Module) -> OnnxRuntimeBackend:
    return OnnxRuntimeBackend.from_model(nano_v2, search_sizes=(255, 351), cache_dir="")


def _u8(size: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)


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
    # the backend exports a missing size from the PyTorch model on first use (not into the
    # folder it was given, which may be the shared cache) ...
    backend = OnnxRuntimeBackend(exported, torch_model=nano_v2)
    kernels = backend.template(_u8(127, 0))
    out = backend.search(_u8(351, 1), kernels)
    assert out.cls.shape == (1, 2, 22, 22) and 351 in backend.exported.search_paths
    assert backend.exported.search_paths[351].parent != tmp_path
    assert sorted(p.name for p in tmp_path.glob("*.onnx")) == [
        "model_search_255.onnx",
        "model_template.onnx",
    ]
    # ... and refuses it without one
    bare = OnnxRuntimeBackend(load_exported(tmp_path))
    with pytest.raises(ValueError, match="no exported search graph for size 287"):
        bare.search(_u8(287, 2), kernels)


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
    nano_v2: torch.nn.Module, nano_backend: OnnxRuntimeBackend
) -> None:
    z, x = _u8(127, 1), _u8(351, 2)
    eager = TorchBackend(_model("nanotrack_v2.yaml"), RuntimeConfig(channels_last=False))
    ref_k = eager.template(z)
    ref = eager.search(x, ref_k)
    kernels = nano_backend.template(z)
    out = nano_backend.search(x, kernels)
    assert nano_backend.head_type == "point" and nano_backend.stride == 16
    for got, want in [
        (out.cls, ref.cls),
        (out.loc, ref.loc),
        (np.asarray(kernels.cls[0]), ref_k.cls[0].numpy()),
        (np.asarray(kernels.loc[0]), ref_k.loc[0].numpy()),
        (np.asarray(out.features[0]), ref.features[0].numpy()),
    ]:
        assert got.shape == want.shape and got.dtype == np.float32
        assert np.abs(got - want).max() <= REL_TOL * np.abs(want).max()
    roi = (120.0, 100.0, 200.0, 260.0)
    want_pool = eager.pool(ref.features, roi)[0].numpy()
    got_pool = np.asarray(nano_backend.pool(out.features, roi)[0])
    assert np.abs(got_pool - want_pool).max() <= REL_TOL * np.abs(want_pool).max()


def test_backend_rejects_misuse(nano_backend: OnnxRuntimeBackend) -> None:
    kernels = nano_backend.template(_u8(127, 0))
    with pytest.raises(ValueError, match="expected 1 cls and loc kernels"):
        nano_backend.search(_u8(255, 1), Kernels(cls=kernels.cls * 2, loc=kernels.loc))
    with pytest.raises(ValueError, match="must be square"):
        nano_backend.search(np.zeros((255, 200, 3), np.uint8), kernels)
    bare = OnnxRuntimeBackend(nano_backend.exported)  # no PyTorch model: no online update
    out = bare.search(_u8(255, 1), kernels)
    with pytest.raises(RuntimeError, match="needs its PyTorch model to pool"):
        bare.pool(out.features, (10.0, 10.0, 50.0, 50.0))


# ------------------------------------------------------------------------------- host pooling
@pytest.mark.parametrize("config", ["nanotrack_v1.yaml", "nanotrack_v2.yaml", "nanotrack_v3.yaml"])
def test_host_pool_matches_the_model(config: str) -> None:
    """The NumPy pooling equals ``NanoTrack.pool_cls_kernel``, also for boxes off the map (v3:
    the pixel-wise and depth-wise kernels stacked, two affine maps in one)."""
    model = _model(config, seed=3)
    # non-trivial batch-norm statistics, so the folded affine maps are really exercised
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    pool = HostPool.for_model(model)
    assert pool is not None
    channels = model.ban_head.spec.in_channels
    rng = np.random.default_rng(0)
    for side in (16, 22):
        feat = rng.standard_normal((1, channels, side, side)).astype(np.float32)
        for _ in range(20):
            x1, y1 = rng.uniform(-80, side * 16, 2)
            w, h = rng.uniform(2, 200, 2)
            roi = np.array([x1, y1, x1 + w, y1 + h], np.float32)
            with torch.inference_mode():
                want = model.pool_cls_kernel([torch.from_numpy(feat)], torch.from_numpy(roi))[0]
            got = pool(feat, roi)
            assert got.shape == tuple(want.shape)
            assert np.abs(got - want.numpy()).max() <= REL_TOL * np.abs(want.numpy()).max()


def test_host_pool_covers_only_nanotrack() -> None:
    assert HostPool.for_model(_model("siamrpn_alex.yaml")) is None  # stays PyTorch


# ------------------------------------------------------------------------------- tracker
def test_runtime_switch() -> None:
    """The ``runtime:`` section picks the backend from the registry; an unknown or impossible one
    is one error naming the key (and the file, through the loader)."""
    model = _model("nanotrack_v2.yaml")
    cfg = load_config(NANO_V2).tracker
    tracker = Tracker(model, cfg, runtime_config=RuntimeConfig(backend="onnxruntime"))
    assert isinstance(tracker.runtime, OnnxRuntimeBackend)
    assert isinstance(Tracker(model, cfg).runtime, TorchBackend)
    with pytest.raises(ValueError, match=r"runtime\.backend: unknown backend 'tensorrt'"):
        from siam_tracker_ros.core.config import config_from_dict

        config_from_dict({"model": {"family": "nanotrack"}, "runtime": {"backend": "tensorrt"}})
    with pytest.raises(ValueError, match=rf"{NANO_V2}: runtime\.backend: unknown backend"):
        load_tracker(NANO_V2, backend="tensorrt", require_weights=False)
    with pytest.raises(TypeError):  # no runtime keys in the tracker settings any more
        TrackerConfig(**{"runtime": "onnxruntime"})  # type: ignore[arg-type]
    assert RuntimeConfig().backend == "torch"


def test_legacy_runtime_keys_are_read_with_a_deprecation_note(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Files written before the ``runtime:`` section keep working, through one adapter."""
    from siam_tracker_ros.core.config import load_config as load

    path = tmp_path / "old.yaml"
    path.write_text(
        "model: {family: nanotrack, version: 2}\n"
        "tracker: {runtime: onnxruntime, cpu_threads: 2, device: cpu, penalty_k: 0.1}\n"
    )
    with caplog.at_level("WARNING"):
        cfg = load(path)
    assert cfg.runtime.backend == "onnxruntime" and cfg.runtime.threads == 2
    assert cfg.tracker.penalty_k == 0.1
    assert any("deprecated" in r.message and str(path) in r.message for r in caplog.records)
    both = tmp_path / "both.yaml"
    both.write_text(
        "model: {family: nanotrack}\ntracker: {runtime: torch}\nruntime: {backend: torch}\n"
    )
    with pytest.raises(ValueError, match=r"tracker\.runtime: given also as runtime\.backend"):
        load(both)


def test_threads_reach_the_onnx_runtime_sessions() -> None:
    """``runtime.threads`` (YAML, ``load_tracker(threads=)``, the node's ``model.num_threads``)
    is the intra-op thread count of every ONNX Runtime session; default 1."""

    def session_threads(tracker: Tracker) -> set[int]:
        assert isinstance(tracker.runtime, OnnxRuntimeBackend)
        return tracker.runtime.session_threads

    assert RuntimeConfig().threads == 1
    assert session_threads(load_tracker()) == {1}  # the bundled model: ONNX Runtime
    # two threads, and one-thread sessions for a run beside another (see the next test)
    assert session_threads(load_tracker(threads=2)) == {1, 2}
    with pytest.raises(ValueError, match="threads"):
        RuntimeConfig(threads=-1)


def test_two_threads_searching_one_onnx_runtime_graph_get_their_own_outputs() -> None:
    """The tracker may run two searches at once (``runtime.background_searches``: a LOST frame's
    re-detection crop on a second thread); ONNX Runtime's sessions may be run from two threads,
    and each caller gets the outputs of its own crop."""
    from concurrent.futures import ThreadPoolExecutor

    backend = load_tracker().runtime
    kernels = backend.template(np.full((127, 127, 3), 90, np.uint8))
    rng = np.random.default_rng(0)
    crops = [rng.integers(0, 256, (255, 255, 3), dtype=np.uint8) for _ in range(16)]
    alone = [backend.search(x, kernels).cls for x in crops]
    with ThreadPoolExecutor(2) as pool:
        together = list(pool.map(lambda x: backend.search(x, kernels).cls, crops * 4))
    for i, got in enumerate(together):
        np.testing.assert_array_equal(got, alone[i % len(crops)])


def test_a_search_beside_another_runs_on_one_thread_with_the_same_outputs() -> None:
    """With two intra-op threads, a run that starts while another run of the backend is in
    flight (the re-detection crop beside the tracker's own search) takes the one-thread session:
    two two-thread runs on two cores wait for each other's workers. Outputs are the same; and
    every multi-thread session stops its workers spinning when a run returns (a spinning pool
    took the cores from the next session's run: docs/speed.md, *Threads*)."""
    from concurrent.futures import ThreadPoolExecutor

    backend = load_tracker(threads=2).runtime
    assert isinstance(backend, OnnxRuntimeBackend)
    kernels = backend.template(np.full((127, 127, 3), 90, np.uint8))
    rng = np.random.default_rng(1)
    crops = [rng.integers(0, 256, (255, 255, 3), dtype=np.uint8) for _ in range(8)]
    alone = [backend.search(x, kernels) for x in crops]
    assert backend.search_runs[1] == 0  # one at a time: always both cores
    before = backend.search_runs[2]
    with ThreadPoolExecutor(2) as pool:
        together = list(pool.map(lambda x: backend.search(x, kernels), crops * 6))
    assert backend.search_runs[1] > 0  # some started while the other thread's run was on
    assert backend.search_runs[1] + backend.search_runs[2] - before == len(together)
    for i, got in enumerate(together):
        np.testing.assert_array_equal(got.cls, alone[i % len(crops)].cls)
        np.testing.assert_array_equal(got.loc, alone[i % len(crops)].loc)
    assert backend.session_threads == {1, 2}
    assert backend.session_config("session.force_spinning_stop") == {"1"}


@pytest.mark.parametrize("cores", [2, 4])
def test_while_background_work_is_open_every_run_takes_one_thread(
    cores: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``beside()`` is open from when the tracker hands work to its background worker until the
    work is done. On a CPU with no more cores than the runs' threads (two here), the calling
    thread's own search -- which starts at once, before the worker has even woken -- and the
    worker's runs take the one-thread session, so the two share the cores; once it is closed a
    run has both threads again. With more cores both fit: ``beside()`` changes nothing. Outputs
    are the same."""
    from siam_tracker_ros.runtime import onnx_backend

    monkeypatch.setattr(onnx_backend, "usable_cores", lambda: cores)
    base = load_tracker().runtime
    assert isinstance(base, OnnxRuntimeBackend)
    backend = OnnxRuntimeBackend(
        base.exported, options=OnnxRuntimeOptions(intra_op_threads=2), pool=base.host_pool
    )
    kernels = backend.template(np.full((127, 127, 3), 90, np.uint8))
    crop = np.random.default_rng(2).integers(0, 256, (255, 255, 3), dtype=np.uint8)
    alone = backend.search(crop, kernels)
    ones, twos = backend.search_runs[1], backend.search_runs[2]
    with backend.beside():
        with backend.beside():  # nested: a prefetched crop and a deferred check
            backend.search(crop, kernels)
        inside = backend.search(crop, kernels)
    held = 2 if cores == 2 else 0
    assert (backend.search_runs[1] - ones, backend.search_runs[2] - twos) == (held, 2 - held)
    twos = backend.search_runs[2]
    after = backend.search(crop, kernels)
    assert backend.search_runs[2] == twos + 1
    for got in (inside, after):
        np.testing.assert_array_equal(got.cls, alone.cls)
        np.testing.assert_array_equal(got.loc, alone.loc)


def test_adaptive_threads_is_a_runtime_setting() -> None:
    """``runtime.adaptive_threads`` (YAML, ``load_tracker(adaptive_threads=)``, the node's
    ``model.adaptive_threads``): ONNX Runtime keeps a one-thread and an at-least-two-thread
    session per graph and tracks on whichever it measured faster; off by default."""
    from siam_tracker_ros.runtime.config import runtime_config_from_dict

    assert runtime_config_from_dict({"adaptive_threads": True}).adaptive_threads
    assert RuntimeConfig().to_dict()["adaptive_threads"] is False
    plain = load_tracker()
    assert isinstance(plain.runtime, OnnxRuntimeBackend) and plain.runtime.thread_choice is None
    tracker = load_tracker(adaptive_threads=True)  # threads 1 in the model: the choice is 1 or 2
    assert isinstance(tracker.runtime, OnnxRuntimeBackend)
    assert tracker.runtime.thread_choice is not None
    assert tracker.runtime.thread_choice.choices == (1, 2)
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 255, (240, 320, 3), dtype=np.uint8)
    tracker.init(frame, np.array([140.0, 100.0, 40.0, 40.0]))
    for _ in range(6):  # both sessions are measured before the choice settles
        tracker.track(frame)
    assert tracker.runtime.session_threads == {1, 2}


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
        t = load_tracker(NANO_V2, weights=weights, backend=runtime, require_weights=False)
        cfg = dataclasses.replace(
            t.config,
            mechanisms=dataclasses.replace(
                t.config.mechanisms,
                online_update=mech.online_update,
                adaptive_search=mech.adaptive_search,
            ),
        )
        trackers.append(Tracker(t.model, cfg, runtime=t.runtime))
    torch_t, ort_t = trackers
    assert isinstance(ort_t.runtime, OnnxRuntimeBackend)
    torch_t.init(frames[0], box)
    ort_t.init(frames[0], box)
    for frame in frames[1:]:
        a, b = torch_t.track(frame), ort_t.track(frame)
        np.testing.assert_allclose(b.box, a.box, atol=1e-2)
        assert abs(a.score - b.score) < 1e-4 and a.state == b.state
    assert ort_t.policy("online_update").updates == torch_t.policy("online_update").updates > 0


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
    cfg = load_config(NANO_V2).tracker
    ort = RuntimeConfig(backend="onnxruntime")
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, (240, 320, 3), dtype=np.uint8) for _ in range(5)]
    cpu = Tracker(model, cfg, device="cpu", runtime_config=ort)
    gpu = Tracker(_model("nanotrack_v2.yaml"), cfg, device="cuda", runtime_config=ort)
    assert isinstance(gpu.runtime, OnnxRuntimeBackend)
    for t in (cpu, gpu):
        t.init(frames[0], (100, 80, 60, 50))
    for frame in frames[1:]:
        np.testing.assert_allclose(gpu.track(frame).box, cpu.track(frame).box, atol=0.05)


@pytest.mark.gpu
@pytest.mark.skipif(
    not (torch.cuda.is_available() and onnxruntime_available("cuda")),
    reason="needs CUDA and onnxruntime-gpu",
)
def test_onnxruntime_cuda_runs_beside_each_other_on_its_own_sessions() -> None:
    """Two searches at once on CUDA keep to the backend's sessions (the one-thread sessions for
    a run beside another are a CPU matter: no second session per graph on a GPU)."""
    from concurrent.futures import ThreadPoolExecutor

    cfg = load_config(NANO_V2).tracker
    ort = RuntimeConfig(backend="onnxruntime", threads=2)
    gpu = Tracker(_model("nanotrack_v2.yaml"), cfg, device="cuda", runtime_config=ort)
    backend = gpu.runtime
    assert isinstance(backend, OnnxRuntimeBackend)
    kernels = backend.template(np.full((127, 127, 3), 90, np.uint8))
    crop = np.full((255, 255, 3), 120, np.uint8)
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda _: backend.search(crop, kernels), range(16)))
    assert backend.session_threads == {2}
    assert set(backend.search_runs) == {2}
