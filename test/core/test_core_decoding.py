"""Anchor and point decoders and the penalised selection, on hand-made head outputs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from siam_tracker_ros.core.anchors import cosine_window, generate_anchors, generate_points
from siam_tracker_ros.core.decoding import (
    decode_anchor,
    decode_point,
    select_best,
)


def test_anchor_decoder_hand_case() -> None:
    n, a = 3, 2
    anchors = generate_anchors(8, [1.0, 2.0], [8], n)  # 64x64 and 40x80
    cls = np.zeros((1, 2 * a, n, n), np.float32)
    cls[0, a + 1, 2, 0] = math.log(9.0)  # fg of anchor 1, row 2, col 0: softmax -> 0.9
    cls[0, 0, 0, 0] = math.log(3.0)  # bg of anchor 0, (0, 0): fg prob 1 / (1 + 3) = 0.25
    loc = np.zeros((1, 4 * a, n, n), np.float32)
    loc[0, 0 * a + 1, 2, 0] = 0.5  # dx of anchor 1
    loc[0, 1 * a + 1, 2, 0] = -0.25  # dy
    loc[0, 2 * a + 1, 2, 0] = math.log(2.0)  # dw
    loc[0, 3 * a + 1, 2, 0] = 0.0  # dh
    dec = decode_anchor(cls, loc, anchors)
    k = 1 * n * n + 2 * n + 0  # anchor-major, then row, then column
    assert dec.score.shape == (a * n * n,) and dec.boxes.shape == (4, a * n * n)
    assert dec.score[k] == pytest.approx(0.9)
    assert dec.score[0] == pytest.approx(0.25)
    assert dec.score[1] == pytest.approx(0.5)
    # anchor 1 at (row 2, col 0): centre (-8, 8), 40 x 80
    np.testing.assert_allclose(dec.boxes[:, k], [-8 + 0.5 * 40, 8 - 0.25 * 80, 80, 80])
    np.testing.assert_allclose(dec.boxes[:, 0], [-8, -8, 64, 64])
    assert dec.response.shape == (n, n)
    assert dec.response[2, 0] == pytest.approx(0.9)  # max over anchors
    assert dec.response[1, 1] == pytest.approx(0.5)


def test_point_decoder_hand_case() -> None:
    n = 3
    points = generate_points(16, n)  # -16, 0, 16
    cls = np.zeros((1, 2, n, n), np.float32)
    cls[0, 1, 1, 1] = math.log(4.0)  # fg prob 0.8 at the centre point
    loc = np.zeros((1, 4, n, n), np.float32)
    loc[0, :, 1, 1] = [10.0, 20.0, 30.0, 40.0]  # l, t, r, b
    loc[0, :, 0, 2] = 5.0
    dec = decode_point(cls, loc, points)
    assert dec.score[4] == pytest.approx(0.8)
    # centre point (0, 0): x1=-10, y1=-20, x2=30, y2=40 -> cx 10, cy 10, w 40, h 60
    np.testing.assert_allclose(dec.boxes[:, 4], [10, 10, 40, 60])
    # row 0, col 2 -> point (16, -16)
    np.testing.assert_allclose(dec.boxes[:, 2], [16, -16, 10, 10])
    assert dec.response.shape == (n, n) and dec.response[1, 1] == pytest.approx(0.8)
    sig = decode_point(cls, loc, points, activation="sigmoid")
    assert sig.score[4] == pytest.approx(1 / (1 + math.exp(-math.log(4.0))))
    with pytest.raises(ValueError, match="activation"):
        decode_point(cls, loc, points, activation="relu")


def test_point_grid_matches_nanotrack_model_grid() -> None:
    nanotrack = pytest.importorskip("siam_tracker_ros.models.nanotrack")
    for size in (15, 16, 21, 22):
        pts = generate_points(16, size)
        np.testing.assert_array_equal(pts[:size, 0], nanotrack.point_offsets(size, 16))
        np.testing.assert_array_equal(pts[::size, 1], nanotrack.point_offsets(size, 16))


def test_selection_prefers_matching_shape_and_centre() -> None:
    n = 5
    anchors = generate_anchors(8, [0.33, 1.0, 3.0], [8], n)
    cls = np.zeros((1, 6, n, n), np.float32)
    cls[:, 3:] = 2.0  # uniform scores
    loc = np.zeros((1, 12, n, n), np.float32)
    dec = decode_anchor(cls, loc, anchors)
    window = cosine_window(n, 3)
    # a square target of 64 crop px (scale_z = 0.5 -> 128 image px): square anchor at the centre
    cand = select_best(dec, (128.0, 128.0), 0.5, 0.05, window, 0.4)
    assert cand.index == 1 * n * n + 2 * n + 2
    np.testing.assert_array_equal(cand.box, [0, 0, 64, 64])
    assert cand.penalty == pytest.approx(1.0)
    assert cand.score == pytest.approx(1 / (1 + math.exp(-2.0)))
    assert cand.pscore == pytest.approx(cand.score * 0.6 + 0.4)
    assert cand.response.shape == (n, n) and cand.response.dtype == np.float32
    # a tall target picks the tall anchor; the penalty of the square one is < 1
    assert select_best(dec, (60.0, 180.0), 1.0, 0.05, window, 0.4).index == 2 * n * n + 2 * n + 2
