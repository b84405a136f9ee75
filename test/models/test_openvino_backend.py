"""The OpenVINO backend (``runtime/openvino_backend.py``, an optional extra): the same exported
graphs as ONNX Runtime, equal outputs, equal boxes, chosen through the registry like any other.

Skipped cleanly when ``openvino`` is not installed (``pip install 'siam_tracker_ros[openvino]'``;
``scripts/setup_env.sh`` installs it, so CI runs these).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import ROOT

from siam_tracker_ros.core.config import load_config
from siam_tracker_ros.core.loading import load_tracker
from siam_tracker_ros.core.tracker import Tracker
from siam_tracker_ros.models.registry import build_model
from siam_tracker_ros.runtime import RuntimeConfig, resolve_backend
from siam_tracker_ros.runtime.onnx_backend import OnnxRuntimeBackend

pytest.importorskip("openvino", reason="the optional openvino extra is not installed")

from siam_tracker_ros.runtime.openvino_backend import OpenVinoBackend  # noqa: E402

REL_TOL = 1e-4


def _u8(size: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)


@pytest.mark.parametrize("config", ["nanotrack_v2.yaml", "nanotrack_v3.yaml"])
def test_outputs_equal_onnx_runtime(config: str) -> None:
    """Kernels, cls, loc, features and the pooled kernel within 1e-4 of ONNX Runtime's range, at
    the base size and at a size the graphs pin on first use (351, re-detection's 447)."""
    torch.manual_seed(0)
    model = build_model(load_config(ROOT / "config" / "models" / config).model).eval()
    ort = OnnxRuntimeBackend.from_model(model, search_sizes=(255,), cache_dir="")
    ov = OpenVinoBackend(ort.exported, torch_model=model)
    z = _u8(127, 1)
    k_ort, k_ov = ort.template(z), ov.template(z)
    for a, b in zip([*k_ort.cls, *k_ort.loc], [*k_ov.cls, *k_ov.loc], strict=True):
        assert np.abs(np.asarray(a) - b).max() <= REL_TOL * np.abs(np.asarray(a)).max()
    for size in (255, 351, 447):
        x = _u8(size, size)
        a, b = ort.search(x, k_ort), ov.search(x, k_ov)
        for got, want in [(b.cls, a.cls), (b.loc, a.loc), (b.features[0], a.features[0])]:
            assert got.shape == np.asarray(want).shape
            assert np.abs(got - want).max() <= REL_TOL * np.abs(want).max()
    roi = (100.0, 90.0, 180.0, 200.0)
    assert np.allclose(ov.pool(b.features, roi)[0], ort.pool(a.features, roi)[0], atol=1e-4)


def test_the_bundled_model_tracks_the_same_boxes_on_openvino(tmp_path: object) -> None:
    """Chosen by name through the loader (the one path), the bundled model tracks a synthetic
    scene with OpenVINO to the box of ONNX Runtime (0.01 px)."""
    ort = load_tracker(backend="onnxruntime", cache_dir=str(tmp_path))
    ov = load_tracker(backend="openvino", cache_dir=str(tmp_path))
    assert isinstance(ov.runtime, OpenVinoBackend)
    rng = np.random.default_rng(5)
    background = rng.integers(0, 255, (240, 320, 3), dtype=np.uint8)
    target = rng.integers(0, 255, (40, 30, 3), dtype=np.uint8)
    frames = []
    for i in range(12):
        frame = background.copy()
        frame[90 + i : 130 + i, 100 + 2 * i : 130 + 2 * i] = target
        frames.append(frame)
    for t in (ort, ov):
        t.init(frames[0], (100, 90, 30, 40))
    for frame in frames[1:]:
        a, b = ort.track(frame), ov.track(frame)
        np.testing.assert_allclose(b.box, a.box, atol=1e-2)
        assert a.state == b.state


def test_the_precision_is_always_asked_for() -> None:
    """fp32 explicitly (OpenVINO would pick bf16 by itself on a CPU with AMX, and the boxes would
    no longer be ONNX Runtime's); ``runtime.precision: bf16`` asks for bf16."""
    torch.manual_seed(0)
    model = build_model(load_config(ROOT / "config" / "models" / "nanotrack_v3.yaml").model).eval()
    ort = OnnxRuntimeBackend.from_model(model, search_sizes=(255,), cache_dir="")
    ov = OpenVinoBackend(ort.exported, torch_model=model)
    ov.template(_u8(127, 1))
    assert ov.precision == "fp32" and "precision=fp32" in repr(ov)
    assert ov.compiled_precisions() == ["f32"]
    half = OpenVinoBackend(ort.exported, torch_model=model, precision="bf16")
    half.template(_u8(127, 1))
    assert half.precision == "bf16"
    # bf16 where the CPU runs it natively; OpenVINO falls back to f32 elsewhere
    assert half.compiled_precisions() in (["bf16"], ["f32"])


def test_openvino_is_a_cpu_backend_in_the_registry() -> None:
    entry, device = resolve_backend(RuntimeConfig(backend="openvino"))
    assert (entry.name, device, entry.runs_exported) == ("openvino", "cpu", True)
    assert "openvino=" in entry.cache_tag()
    with pytest.raises(ValueError, match="'openvino' cannot run on cuda: it runs on cpu only"):
        resolve_backend(RuntimeConfig(backend="openvino", device="cuda"))
    # never picked silently: auto on a CPU stays ONNX Runtime
    assert resolve_backend(RuntimeConfig(backend="auto"))[0].name == "onnxruntime"


def test_tracker_accepts_a_prepared_openvino_runtime() -> None:
    base = load_tracker(backend="openvino")
    again = Tracker(config=base.config, runtime=base.runtime)
    frame = _u8(240, 3)
    again.init(frame, (100, 80, 40, 40))
    assert again.track(frame).box.shape == (4,)


def test_two_threads_searching_one_graph_get_their_own_outputs() -> None:
    """The tracker may run two searches at once (a LOST frame's re-detection crop on a second
    thread): on one OpenVINO infer request they take turns, so each caller gets the outputs of
    its own crop, equal to running them one after the other."""
    from concurrent.futures import ThreadPoolExecutor

    backend = load_tracker(backend="openvino").runtime
    kernels = backend.template(_u8(127, 1))
    crops = [_u8(255, seed) for seed in range(16)]
    alone = [backend.search(x, kernels).cls for x in crops]
    with ThreadPoolExecutor(2) as pool:
        together = list(pool.map(lambda x: backend.search(x, kernels).cls, crops * 4))
    for i, got in enumerate(together):
        np.testing.assert_array_equal(got, alone[i % len(crops)])
