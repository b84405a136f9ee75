"""The default-model entry point shared by the CLI, the evaluation harness and the ROS node."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from siam_tracker_ros.core.defaults import BUNDLED_CHECKPOINT
from siam_tracker_ros.core.loading import load_tracker
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


def test_weights_without_a_model_yaml_say_where_a_checkpoint_goes() -> None:
    """Weights alone (``model.weights`` with no ``model.config``): the bundled model has its
    own, and a packaged checkpoint is the model itself -- the message says so rather than
    blaming the bundled file the caller never named."""
    with pytest.raises(ValueError, match="without a model YAML") as err:
        load_tracker(None, weights=BUNDLED_CHECKPOINT)
    assert "checkpoint is passed as the model itself" in str(err.value)


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
    tracker = Tracker(base.model, cfg, runtime=base.runtime)
    tracker.init(_scene(0), (120, 100, 30, 40))
    result = tracker.track(_scene(3))
    assert result.present and result.state is TrackState.TRACKING


def test_cuda_device_selects_the_pytorch_runtime(monkeypatch: pytest.MonkeyPatch) -> None:
    """The bundled model's ``runtime.backend`` is ``auto``: ONNX Runtime on a CPU (the fast
    path), PyTorch on CUDA -- the registry's choice, not a silent override. Checked without a GPU
    by pretending the PyTorch backend can run on CUDA."""
    from siam_tracker_ros.core.config import config_from_dict
    from siam_tracker_ros.models.checkpoint import load_checkpoint
    from siam_tracker_ros.runtime import registry
    from siam_tracker_ros.runtime.config import RuntimeConfig

    runtime = config_from_dict(load_checkpoint(BUNDLED_CHECKPOINT)[1]).runtime
    assert runtime.backend == "auto"
    assert registry.resolve_backend(runtime)[0].name == "onnxruntime"
    monkeypatch.setattr(registry, "_torch_probe", lambda device: None)
    monkeypatch.setitem(
        registry.BACKENDS,
        "torch",
        dataclasses.replace(registry.BACKENDS["torch"], probe=None),
    )
    cuda = RuntimeConfig(backend="auto", device="cuda:0")
    entry, device = registry.resolve_backend(cuda)
    assert (entry.name, device) == ("torch", "cuda")


def test_an_impossible_backend_choice_is_one_line_naming_the_file_and_key() -> None:
    """Asked for something that cannot run here, the loader refuses -- never swaps silently."""
    with pytest.raises(ValueError) as info:
        load_tracker(backend="onnxruntime", device="cuda")
    text = str(info.value)
    assert "\n" not in text and str(BUNDLED_CHECKPOINT) in text
    assert "runtime.backend: 'onnxruntime' cannot run on cuda" in text
