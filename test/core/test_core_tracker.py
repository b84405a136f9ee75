"""Tracker API: input validation, construction from config/checkpoint, following a target."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import ROOT, shared_path
from core_fakes import ScriptedAnchorModel, iou_xywh, textured_sequence

from siam_tracker_ros.core.config import (
    AdaptiveSearchConfig,
    LostStateConfig,
    MechanismsConfig,
    OneMoreSearchConfig,
    OnlineUpdateConfig,
    TrackerConfig,
)
from siam_tracker_ros.core.loading import load_tracker
from siam_tracker_ros.core.result import TrackResult, TrackState
from siam_tracker_ros.core.tracker import Tracker
from siam_tracker_ros.runtime import RuntimeConfig, resolve_device


def _img(h: int = 120, w: int = 160) -> np.ndarray:
    return np.random.default_rng(1).integers(0, 256, (h, w, 3), dtype=np.uint8)


@pytest.mark.parametrize(
    ("box", "exc", "match"),
    [
        ((10, 10, 0, 20), ValueError, "width and height"),
        ((10, 10, -5, 20), ValueError, "width and height"),
        ((np.nan, 10, 20, 20), ValueError, "finite"),
        ((10, 10, np.inf, 20), ValueError, "finite"),
        ((500, 10, 20, 20), ValueError, "outside"),
        ((-50, -50, 20, 20), ValueError, "outside"),
        ((10, 10, 20), ValueError, "4 numbers"),
        ((), ValueError, "4 numbers"),
    ],
)
def test_init_rejects_bad_boxes(box: tuple, exc: type, match: str) -> None:
    tracker = Tracker(ScriptedAnchorModel(), TrackerConfig())
    with pytest.raises(exc, match=match):
        tracker.init(_img(), box)
    assert not tracker.initialized


@pytest.mark.parametrize(
    ("image", "exc", "match"),
    [
        (np.zeros((120, 160, 3), np.float32), TypeError, "uint8"),
        (np.zeros((120, 160), np.uint8), ValueError, "H x W x 3"),
        (np.zeros((120, 160, 4), np.uint8), ValueError, "H x W x 3"),
        (np.zeros((3, 120, 160), np.uint8), ValueError, "H x W x 3"),
        ([[0, 0, 0]], TypeError, "numpy array"),
        (None, TypeError, "image is None: no frame was read"),
    ],
)
def test_bad_images(image: object, exc: type, match: str) -> None:
    tracker = Tracker(ScriptedAnchorModel(), TrackerConfig())
    with pytest.raises(exc, match=match):
        tracker.init(image, (10, 10, 20, 20))  # type: ignore[arg-type]
    tracker.init(_img(), (10, 10, 20, 20))
    with pytest.raises(exc, match=match):
        tracker.track(image)  # type: ignore[arg-type]


def test_track_before_init_and_result_fields() -> None:
    tracker = Tracker(ScriptedAnchorModel(), TrackerConfig())
    assert tracker.state == TrackState.IDLE
    with pytest.raises(RuntimeError, match="before init"):
        tracker.track(_img())
    tracker.init(_img(), [40, 30, 30, 40])
    res = tracker.track(_img())
    assert isinstance(res, TrackResult)
    assert res.box.shape == (4,) and res.box.dtype == np.float64
    assert 0.0 <= res.score <= 1.0 and res.present and res.state == TrackState.TRACKING
    assert res.response.dtype == np.float32 and res.response.shape == (25, 25)
    # the search region is a square around the previous centre, as wide as round(s_x)
    assert res.search_box[2] == res.search_box[3] > 30


def test_anchor_count_mismatch_is_reported() -> None:
    model = ScriptedAnchorModel(anchor_num=3)
    tracker = Tracker(model, TrackerConfig())
    tracker.init(_img(), (40, 30, 30, 40))
    with pytest.raises(ValueError, match="anchors"):
        tracker.track(_img())


def test_device_resolution() -> None:
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA"):
            resolve_device("cuda")


def _siamrpn_alex_yaml() -> Path:
    path = ROOT / "config" / "models" / "siamrpn_alex.yaml"
    if not path.exists():
        pytest.skip("config/models/siamrpn_alex.yaml not present")
    return path


def test_from_config_and_checkpoint_round_trip(tmp_path: Path) -> None:
    checkpoint = pytest.importorskip("siam_tracker_ros.models.checkpoint")
    torch.manual_seed(0)
    tracker = load_tracker(_siamrpn_alex_yaml(), require_weights=False)
    assert tracker.head_type == "anchor" and tracker.config.instance_size == 287
    from siam_tracker_ros.core.config import load_config

    cfg = load_config(_siamrpn_alex_yaml())
    path = tmp_path / "alex.pt"
    checkpoint.save_checkpoint(path, tracker.model, cfg.to_dict(), {"note": "test"})
    again = load_tracker(path)
    assert again.config == tracker.config
    weights = tmp_path / "plain.pth"
    torch.save(tracker.model.state_dict(), weights)
    third = load_tracker(_siamrpn_alex_yaml(), weights=weights, require_weights=False)
    img = _img(200, 240)
    outs = []
    for t in (tracker, again, third):
        t.init(img, (100, 80, 40, 50))
        outs.append(t.track(img))
    np.testing.assert_array_equal(outs[0].box, outs[1].box)
    np.testing.assert_array_equal(outs[0].box, outs[2].box)


def _nanotrack_tracker(mechanisms: MechanismsConfig | None = None) -> Tracker:
    """NanoTrack v2 with its released weights and our shipped config."""
    weights = shared_path("weights", "nanotrack", "pretrained_nanotrackv2.pth")
    config = ROOT / "config" / "models" / "nanotrack_v2.yaml"
    if not config.exists():
        pytest.skip("config/models/nanotrack_v2.yaml not present")
    base = load_tracker(config, weights=weights, device="cpu", require_weights=False)
    if mechanisms is None:
        return base
    return Tracker(base.model, dataclasses.replace(base.config, mechanisms=mechanisms))


@pytest.mark.shared
@pytest.mark.parametrize("mechanisms", ["off", "all"])
def test_nanotrack_follows_moving_target(mechanisms: str) -> None:
    torch.set_num_threads(1)
    mech = None
    if mechanisms == "all":
        mech = MechanismsConfig(
            online_update=OnlineUpdateConfig(enabled=True),
            adaptive_search=AdaptiveSearchConfig(enabled=True),
            one_more_search=OneMoreSearchConfig(enabled=True),
            lost_state=LostStateConfig(enabled=True),
        )
    tracker = _nanotrack_tracker(mech)
    assert tracker.head_type == "point"
    frames, gt = textured_sequence()
    tracker.init(frames[0], gt[0])
    ious = []
    for frame, box in zip(frames[1:], gt[1:], strict=True):
        res = tracker.track(frame)
        assert res.present
        ious.append(iou_xywh(res.box, box))
    assert np.mean(ious) > 0.7, ious
    assert min(ious) > 0.4, ious
    if mechanisms == "all":
        assert tracker.policy("online_update").updates == len(frames) - 1


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("precision", ["fp32", "fp16", "bf16"])
def test_cuda_path_matches_cpu(precision: str) -> None:
    frames, gt = textured_sequence(n_frames=10)
    cpu = _nanotrack_tracker()
    gpu = Tracker(
        cpu.model, cpu.config, runtime_config=RuntimeConfig(precision=precision, device="cuda")
    )
    cpu = _nanotrack_tracker()
    cpu.init(frames[0], gt[0])
    gpu.init(frames[0], gt[0])
    for f in frames[1:]:
        a, b = cpu.track(f), gpu.track(f)
        tol = 0.5 if precision == "fp32" else 3.0
        np.testing.assert_allclose(a.box, b.box, atol=tol)


@pytest.mark.parametrize("scale", [0.5, 2.0])
def test_a_frame_of_another_size_is_tracked_in_the_init_frames_geometry(scale: float) -> None:
    """A camera that switches resolution mid-stream (same view): the box stays on the target,
    in the new frame's pixels (before: the state was read in the wrong pixels, and most frames
    were reported present off the target)."""
    import cv2

    from siam_tracker_ros.core.loading import load_tracker
    from siam_tracker_ros.evaluation.metrics import iou

    frames, gt = textured_sequence(n_frames=40, height=240, width=320)
    tracker = load_tracker()
    tracker.init(frames[0], gt[0])
    for i in range(1, 10):
        tracker.track(frames[i])
    overlaps = []
    for i in range(10, 40):
        result = tracker.track(cv2.resize(frames[i], None, fx=scale, fy=scale))
        overlaps.append(iou(result.box, gt[i] * scale))
        assert result.search_box[2] > 0
    assert min(overlaps) > 0.7, overlaps
    # probe looks at the next search the same way (it saw the resized frame as it was)
    cues = tracker.probe(cv2.resize(frames[39], None, fx=scale, fy=scale))
    assert cues.score > 0.8, cues
