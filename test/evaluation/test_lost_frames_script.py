"""``scripts/lost_frames.py``: the ranking AUC and the colour cue it reports."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[2]


def _script() -> ModuleType:
    path = ROOT / "scripts" / "lost_frames.py"
    spec = importlib.util.spec_from_file_location("lost_frames", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SCRIPT = _script()


def _pairwise_auc(values: np.ndarray, positive: np.ndarray) -> float:
    """The definition: over every (positive, negative) pair, 1 when the positive is higher, 1/2
    on a tie."""
    pos, neg = values[positive], values[~positive]
    wins = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(wins / (len(pos) * len(neg)))


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 5), st.booleans()), min_size=2, max_size=40).filter(
        lambda rows: 0 < sum(p for _, p in rows) < len(rows)
    )
)
def test_ranking_auc_is_the_pairwise_definition_with_ties(rows: list[tuple[int, bool]]) -> None:
    values = np.array([float(v) for v, _ in rows])
    positive = np.array([p for _, p in rows])
    assert SCRIPT.ranking_auc(values, positive) == pytest.approx(
        _pairwise_auc(values, positive), abs=1e-12
    )


def test_ranking_auc_ends_and_one_class() -> None:
    positive = np.array([True, True, False, False])
    assert SCRIPT.ranking_auc(np.array([3.0, 4.0, 1.0, 2.0]), positive) == 1.0
    assert SCRIPT.ranking_auc(np.array([1.0, 2.0, 3.0, 4.0]), positive) == 0.0
    assert SCRIPT.ranking_auc(np.ones(4), positive) == 0.5
    assert np.isnan(SCRIPT.ranking_auc(np.arange(3.0), np.ones(3, bool)))


def test_fitted_auc_separates_what_one_cue_separates() -> None:
    rng = np.random.default_rng(0)
    positive = rng.random(200) < 0.3
    informative = positive + 0.3 * rng.standard_normal(200)
    noise = rng.standard_normal(200)
    assert SCRIPT.fitted_auc(np.c_[informative, noise], positive) > 0.9
    assert abs(SCRIPT.fitted_auc(noise[:, None], positive) - 0.5) < 0.15


def test_colour_histogram_matches_itself_and_tells_colours_apart() -> None:
    image = np.zeros((60, 80, 3), np.uint8)
    image[:, :40] = (255, 0, 0)  # blue in BGR
    image[:, 40:] = (0, 0, 255)  # red
    blue = SCRIPT.colour_histogram(image, np.array([5.0, 5.0, 20.0, 20.0]))
    blue_again = SCRIPT.colour_histogram(image, np.array([10.0, 30.0, 15.0, 25.0]))
    red = SCRIPT.colour_histogram(image, np.array([50.0, 5.0, 20.0, 20.0]))
    assert blue is not None and blue_again is not None and red is not None
    assert abs(float(blue.sum()) - 1.0) < 1e-6
    same = 1.0 - cv2.compareHist(blue, blue_again, cv2.HISTCMP_BHATTACHARYYA)
    other = 1.0 - cv2.compareHist(blue, red, cv2.HISTCMP_BHATTACHARYYA)
    assert same > 0.99 and other < 0.01
    # a box (almost) outside the image has no histogram
    assert SCRIPT.colour_histogram(image, np.array([79.0, 10.0, 30.0, 30.0])) is None
    assert SCRIPT.colour_histogram(image, np.array([-50.0, -50.0, 20.0, 20.0])) is None


def test_vittrack_crop_centres_the_box_at_its_own_scale() -> None:
    """A bright square at the box's centre lands at the crop's centre, 2x the box's side across
    the crop's 128 px when the crop is 2x the box; outside the image is black (normalised)."""
    image = np.zeros((200, 240, 3), np.uint8)
    image[95:105, 115:125] = 255  # a 10x10 square centred on (120, 100)
    crop = SCRIPT.VitTrackScore.crop(image, np.array([110.0, 90.0, 20.0, 20.0]), 2.0, 128)
    assert crop.shape == (1, 3, 128, 128) and crop.dtype == np.float32
    bright = crop[0, 0] > 1.0
    ys, xs = np.nonzero(bright)
    assert abs(xs.mean() - 63.5) < 1.0 and abs(ys.mean() - 63.5) < 1.0
    assert 30 <= xs.max() - xs.min() + 1 <= 34  # 10 px at 128 / 40 = 3.2 px each
    # a box at the corner: most of its 4x crop is outside, i.e. black after normalising
    corner = SCRIPT.VitTrackScore.crop(image, np.array([0.0, 0.0, 10.0, 10.0]), 4.0, 256)
    black = (0.0 - 0.485 * 255.0) / (0.229 * 255.0)
    assert abs(float(corner[0, 0, 0, 0]) - black) < 1e-4


def test_vittrack_scores_the_target_above_a_blank_frame() -> None:
    """On real footage (../shared): the first frame's target in the next frame scores well
    above the same box on a grey frame and on a part of the frame far from the target."""
    from conftest import shared_path

    from siam_tracker_ros.datasets import load_dataset

    model = shared_path("weights", "opencv_zoo", "vitTracker.onnx")
    seq = load_dataset(shared_path("data"), "val", ["uav_group3_2_f070-150"])[0]
    vit = SCRIPT.VitTrackScore(model)
    first, second = seq.frame(0), seq.frame(1)
    box = np.asarray(seq.init_box, np.float64)
    vit.init(first, box)
    target = vit(second, box)
    grey = vit(np.full_like(second, 128), box)
    far = box.copy()
    far[0] = (box[0] + second.shape[1] / 2) % (second.shape[1] - box[2])
    elsewhere = vit(second, far)
    assert target > 0.6 and grey < 0.2, (target, grey)
    assert target > elsewhere + 0.2, (target, elsewhere)


def test_cue_table_reads_every_cue_and_not_the_jump_flag(capsys: pytest.CaptureFixture) -> None:
    """A cue missing from the first row is still a row of the table; ``jumped`` is not a cue."""
    rows = [
        {"kind": "on", "jumped": 1.0, "raw score": 0.9},
        {"kind": "off", "jumped": 0.0, "raw score": 0.5, "colour": 0.2},
        {"kind": "on", "jumped": 0.0, "raw score": 0.8, "colour": 0.7},
        {"kind": "absent", "jumped": 0.0, "raw score": 0.1, "colour": 0.1},
    ]
    SCRIPT.cue_table(rows)
    out = capsys.readouterr().out
    assert "| raw score |" in out and "| colour |" in out and "jumped" not in out
    assert "| raw score | 0.83/0.85/0.88 | 0.50/0.50/0.50 | 0.10/0.10/0.10 | 1.000 |" in out
