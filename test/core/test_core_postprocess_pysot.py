"""Crops and post-processing against pysot's stored outputs (no network needed).

A replay model feeds pysot's raw per-frame head outputs (``cal_track_cls_frames`` /
``cal_track_loc_frames``) through our Tracker, so this checks everything around the network --
crops, anchors, softmax, decoding, penalties, window, smoothing, clipping, state -- frame by frame.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from core_fakes import ReplayModel
from helpers_pysot import PYSOT_CONFIGS, fixture_config, fixture_lib, reference, tracker_config

from siam_tracker_ros.core.geometry import get_subwindow
from siam_tracker_ros.core.tracker import Tracker

pytestmark = pytest.mark.shared

CONFIGS = sorted(PYSOT_CONFIGS)
BOX_TOL = 1e-2  # px (fixture README's acceptance tolerance)
SCORE_TOL = 1e-5


@pytest.fixture(scope="module")
def video() -> tuple[np.ndarray, np.ndarray]:
    frames, boxes = fixture_lib().make_video()
    return frames, boxes


def test_rebuilt_video_matches_fixture(video: tuple[np.ndarray, np.ndarray]) -> None:
    ref = reference(CONFIGS[0])
    assert fixture_lib().frames_sha256(video[0]) == [str(s) for s in ref["video_frame_sha256"]]


@pytest.mark.parametrize("name", CONFIGS)
def test_yaml_tracker_config_matches_pysot(name: str) -> None:
    cfg = tracker_config(name)
    pysot: dict[str, Any] = fixture_config(name)
    t, a = pysot["tracker"], pysot["anchor"]
    assert (cfg.exemplar_size, cfg.instance_size, cfg.base_size) == (
        t["EXEMPLAR_SIZE"],
        t["INSTANCE_SIZE"],
        t["BASE_SIZE"],
    )
    assert (cfg.context_amount, cfg.penalty_k, cfg.window_influence, cfg.lr) == (
        t["CONTEXT_AMOUNT"],
        t["PENALTY_K"],
        t["WINDOW_INFLUENCE"],
        t["LR"],
    )
    assert cfg.score_size() == t["score_size"]
    assert (cfg.anchor.stride, list(cfg.anchor.ratios), list(cfg.anchor.scales)) == (
        a["STRIDE"],
        a["RATIOS"],
        a["SCALES"],
    )


@pytest.mark.parametrize("name", CONFIGS)
def test_crops_bit_exact(name: str, video: tuple[np.ndarray, np.ndarray]) -> None:
    ref = reference(name)
    cfg = tracker_config(name)
    frames = video[0]
    box = ref["init_bbox"]
    center = np.array([box[0] + (box[2] - 1) / 2, box[1] + (box[3] - 1) / 2])
    size = box[2:]
    wz = size[0] + cfg.context_amount * np.sum(size)
    hz = size[1] + cfg.context_amount * np.sum(size)
    avg = np.mean(frames[0], axis=(0, 1))
    z = get_subwindow(frames[0], center, cfg.exemplar_size, round(np.sqrt(wz * hz)), avg)
    np.testing.assert_array_equal(z.transpose(2, 0, 1)[None], ref["track_z_crop"])
    s_x = np.sqrt(wz * hz) * (cfg.instance_size / cfg.exemplar_size)
    x = get_subwindow(frames[1], center, cfg.instance_size, round(s_x), avg)
    np.testing.assert_array_equal(x.transpose(2, 0, 1)[None], ref["track_x_crop_frame1"])


@pytest.mark.parametrize("name", CONFIGS)
def test_postprocessing_reproduces_pysot(name: str, video: tuple[np.ndarray, np.ndarray]) -> None:
    ref = reference(name)
    frames = video[0]
    model = ReplayModel(ref["cal_track_cls_frames"], ref["cal_track_loc_frames"])
    tracker = Tracker(model, tracker_config(name), device="cpu")
    tracker.init(frames[0], ref["init_bbox"])
    assert model.template_crop is not None
    np.testing.assert_array_equal(model.template_crop.astype(np.uint8), ref["track_z_crop"])
    boxes, scores, centers, sizes = [], [], [], []
    for t in range(1, len(frames)):
        res = tracker.track(frames[t])
        assert res.present and res.box.dtype == np.float64
        boxes.append(res.box)
        scores.append(res.score)
        centers.append(tracker.center_pos.copy())
        sizes.append(tracker.size.copy())
    np.testing.assert_array_equal(model.search_crops[0], ref["track_x_crop_frame1"])
    assert model.crop_sha256 == [str(s) for s in ref["cal_track_x_crop_sha256"]]
    box_err = np.abs(np.array(boxes) - ref["cal_track_bbox"]).max()
    score_err = np.abs(np.array(scores) - ref["cal_track_best_score"]).max()
    assert box_err <= BOX_TOL, f"{name}: max box diff {box_err} px"
    assert score_err <= SCORE_TOL, f"{name}: max score diff {score_err}"
    np.testing.assert_allclose(centers, ref["cal_track_center_pos"], atol=BOX_TOL, rtol=0)
    np.testing.assert_allclose(sizes, ref["cal_track_size"], atol=BOX_TOL, rtol=0)
