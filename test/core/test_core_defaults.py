"""The default-model entry point shared by the CLI, the evaluation harness and the ROS node."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from siam_tracker_ros.core.defaults import BUNDLED_CHECKPOINT, load_tracker
from siam_tracker_ros.core.result import TrackState

ROOT = Path(__file__).resolve().parents[2]


def _scene(shift: int) -> np.ndarray:
    rng = np.random.default_rng(3)
    img = rng.integers(90, 140, (240, 320, 3), dtype=np.uint8)
    target = np.random.default_rng(5).integers(0, 256, (40, 30, 3), dtype=np.uint8)
    img[100:140, 120 + shift : 150 + shift] = target
    return img


def test_bundled_model_is_shipped_and_tracks() -> None:
    assert BUNDLED_CHECKPOINT.is_file()
    tracker = load_tracker()  # no arguments: the bundled model, with its own config
    tracker.init(_scene(0), (120, 100, 30, 40))
    for shift in range(3, 30, 3):
        result = tracker.track(_scene(shift))
    assert result.state is TrackState.TRACKING and result.present
    assert abs(result.box[0] - (120 + 27)) < 6 and abs(result.box[1] - 100) < 6


def test_missing_model_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nope.pt"):
        load_tracker(tmp_path / "nope.pt")


def test_yaml_without_weights_is_refused() -> None:
    with pytest.raises(ValueError, match="names no model.weights"):
        load_tracker(ROOT / "config" / "models" / "nanotrack_v2.yaml")


def test_checkpoint_plus_weights_is_refused() -> None:
    with pytest.raises(ValueError, match="pass no weights"):
        load_tracker(BUNDLED_CHECKPOINT, weights=BUNDLED_CHECKPOINT)


def test_corrupt_checkpoint_gives_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "corrupt.pt"
    bad.write_bytes(BUNDLED_CHECKPOINT.read_bytes()[:1000])
    with pytest.raises(ValueError, match="corrupt.pt"):
        load_tracker(bad)


def test_bundled_model_runs_with_its_lost_state_switched_off() -> None:
    """Ablations switch the lost state off while the presence mode stays 'combined'."""
    import dataclasses

    from siam_tracker_ros.core.tracker import Tracker

    base = load_tracker()
    mech = base.config.mechanisms
    off = dataclasses.replace(mech.lost_state, enabled=False)
    cfg = dataclasses.replace(base.config, mechanisms=dataclasses.replace(mech, lost_state=off))
    tracker = Tracker(base.model, cfg)
    tracker.init(_scene(0), (120, 100, 30, 40))
    result = tracker.track(_scene(3))
    assert result.present and result.state is TrackState.TRACKING


def test_cuda_device_selects_the_pytorch_runtime(monkeypatch: pytest.MonkeyPatch) -> None:
    """The bundled config asks for ONNX Runtime (the CPU fast path); a CUDA device must get the
    PyTorch path instead. Checked without a GPU by recording what the loader asks for."""
    from siam_tracker_ros.core import tracker as tracker_module

    seen: dict[str, object] = {}

    def fake_from_checkpoint(
        path: object,
        device: object = None,
        runtime: object = None,
        cpu_threads: object = None,
        cache_dir: object = None,
    ) -> str:
        seen.update(device=device, runtime=runtime)
        return "built"

    monkeypatch.setattr(
        tracker_module.Tracker, "from_checkpoint", staticmethod(fake_from_checkpoint)
    )
    assert load_tracker(device="cuda:0") == "built"
    assert seen == {"device": "cuda:0", "runtime": "torch"}
    load_tracker(device="cpu")
    assert seen["runtime"] is None  # the checkpoint's own choice (ONNX Runtime)
