"""Box geometry, input validation, pysot crops and anchors against hand-computed cases."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from siam_tracker_ros.core.anchors import (
    base_anchors,
    cosine_window,
    generate_anchors,
    generate_points,
)
from siam_tracker_ros.core.geometry import (
    clip_box_cxcywh,
    cxcywh_to_xywh,
    cxcywh_to_xyxy,
    get_subwindow,
    subwindow_origin,
    validate_box,
    validate_image,
    xywh_to_cxcywh,
    xywh_to_xyxy,
    xyxy_to_cxcywh,
    xyxy_to_xywh,
)


def test_box_conversions() -> None:
    b = np.array([10.0, 20.0, 30.0, 40.0])
    np.testing.assert_array_equal(xywh_to_cxcywh(b), [25, 40, 30, 40])
    np.testing.assert_array_equal(xywh_to_xyxy(b), [10, 20, 40, 60])
    np.testing.assert_array_equal(cxcywh_to_xywh([25, 40, 30, 40]), b)
    np.testing.assert_array_equal(xyxy_to_xywh([10, 20, 40, 60]), b)
    np.testing.assert_array_equal(cxcywh_to_xyxy([25, 40, 30, 40]), [10, 20, 40, 60])
    np.testing.assert_array_equal(xyxy_to_cxcywh([10, 20, 40, 60]), [25, 40, 30, 40])
    batch = np.random.default_rng(0).uniform(1, 100, (7, 4))
    np.testing.assert_allclose(cxcywh_to_xywh(xywh_to_cxcywh(batch)), batch)
    np.testing.assert_allclose(xyxy_to_xywh(xywh_to_xyxy(batch)), batch)
    with pytest.raises(ValueError, match="4 values"):
        xywh_to_xyxy([1, 2, 3])


def test_validate_image() -> None:
    img = np.zeros((4, 5, 3), np.uint8)
    assert validate_image(img) is not None
    assert validate_image(img[:, ::-1]).flags.c_contiguous
    with pytest.raises(TypeError, match="uint8"):
        validate_image(img.astype(np.float32))
    with pytest.raises(TypeError, match="numpy array"):
        validate_image(img.tolist())
    with pytest.raises(ValueError, match="H x W x 3"):
        validate_image(np.zeros((4, 5), np.uint8))
    with pytest.raises(ValueError, match="H x W x 3"):
        validate_image(np.zeros((4, 5, 4), np.uint8))
    with pytest.raises(ValueError, match="empty"):
        validate_image(np.zeros((0, 5, 3), np.uint8))


@pytest.mark.parametrize(
    ("box", "match"),
    [
        ([1, 2, 3], "4 numbers"),
        (["a", 1, 1, 1], "4 numbers"),
        ([np.nan, 1, 10, 10], "finite"),
        ([1, 1, np.inf, 10], "finite"),
        ([1, 1, 0, 10], "width and height"),
        ([1, 1, 10, -2], "width and height"),
        ([100, 10, 10, 10], "outside"),  # x >= W
        ([-20, 10, 10, 10], "outside"),  # x + w <= 0
        ([10, 50, 10, 10], "outside"),  # y >= H
        ([10, -10, 10, 10], "outside"),  # y + h <= 0
    ],
)
def test_validate_box_rejects(box: list, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        validate_box(box, (50, 100, 3))


def test_validate_box_accepts_partial_overlap() -> None:
    np.testing.assert_array_equal(validate_box([-5, -5, 10, 10], (50, 100)), [-5, -5, 10, 10])
    assert validate_box((1, 2, 3, 4)).dtype == np.float64


def test_clip_box_like_pysot() -> None:
    shape = (360, 480, 3)
    assert clip_box_cxcywh(-3.0, 400.0, 5.0, 1000.0, shape, 10) == (0, 360, 10, 360)
    assert clip_box_cxcywh(500.0, -1.0, 600.0, 2.0, shape, 10) == (480, 0, 480, 10)
    assert clip_box_cxcywh(10.5, 20.5, 30.5, 40.5, shape, 10) == (10.5, 20.5, 30.5, 40.5)


def test_the_image_bounds_the_box_even_below_min_size() -> None:
    """A frame smaller than ``min_size``, or a ``min_size`` larger than the frame (a run-time
    setting): the box is never larger than the image (pysot's order gave 2000x2000 on 640x480,
    and the next crop asked for ~120 GB)."""
    assert clip_box_cxcywh(1.0, 1.0, 1.0, 1.0, (3, 2, 3), 10) == (1.0, 1.0, 2, 3)
    assert clip_box_cxcywh(320.0, 240.0, 40.0, 50.0, (480, 640, 3), 2000) == (320, 240, 640, 480)


def test_a_large_min_size_set_at_run_time_cannot_break_the_tracker() -> None:
    from core_fakes import textured_sequence

    from siam_tracker_ros.core.loading import load_tracker

    frames, gt = textured_sequence(n_frames=8, height=240, width=320)
    tracker = load_tracker()
    tracker.init(frames[0], gt[0])
    tracker.update_settings({"min_size": 2000.0})
    for f in frames[1:4]:
        box = tracker.track(f).box
        assert box[2] <= 320 and box[3] <= 240
    tracker.update_settings({"min_size": 10.0})
    for f in frames[4:]:
        assert np.all(np.isfinite(tracker.track(f).box))


def test_subwindow_origin_hand_cases() -> None:
    # floor(pos - (sz + 1) / 2 + 0.5)
    assert subwindow_origin(10.0, 5) == 7  # floor(7.5)
    assert subwindow_origin(10.0, 4) == 8  # floor(8.0)
    assert subwindow_origin(10.4, 4) == 8
    assert subwindow_origin(10.5, 4) == 8  # floor(8.5)
    assert subwindow_origin(11.0, 4) == 9
    assert subwindow_origin(0.0, 9) == -5  # floor(-4.5)


def _ramp_image(h: int = 20, w: int = 30) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    return np.stack([xx, yy, (xx + yy) % 256], -1).astype(np.uint8)


def test_subwindow_inside_is_a_plain_slice() -> None:
    img = _ramp_image()
    patch = get_subwindow(img, (10.0, 8.0), 5, 5, np.zeros(3))
    np.testing.assert_array_equal(patch, img[5:10, 7:12])  # x0 = floor(7.5), y0 = floor(5.5)


def test_subwindow_padding_uses_truncated_mean() -> None:
    img = _ramp_image()
    avg = np.array([100.9, 3.99, 255.0])  # truncated, not rounded: 100, 3, 255
    patch = get_subwindow(img, (1.0, 2.0), 7, 7, avg)
    # x0 = floor(1 - 4 + .5) = -3, y0 = floor(2 - 4 + .5) = -2
    expected = np.empty((7, 7, 3), np.uint8)
    expected[...] = [100, 3, 255]
    expected[2:, 3:] = img[0:5, 0:4]
    np.testing.assert_array_equal(patch, expected)
    # a crop fully outside the frame is pure padding
    far = get_subwindow(img, (-50.0, -50.0), 4, 4, avg)
    assert (far == np.array([100, 3, 255], np.uint8)).all()
    # padding on the right/bottom too
    br = get_subwindow(img, (29.0, 19.0), 6, 6, avg)
    x0, y0 = subwindow_origin(29.0, 6), subwindow_origin(19.0, 6)
    exp = np.empty((6, 6, 3), np.uint8)
    exp[...] = [100, 3, 255]
    exp[: 20 - y0, : 30 - x0] = img[y0:, x0:]
    np.testing.assert_array_equal(br, exp)
    # a crop larger than the frame: padding on all four sides at once
    big = get_subwindow(img, (15.0, 10.0), 50, 50, avg)
    x0, y0 = subwindow_origin(15.0, 50), subwindow_origin(10.0, 50)
    exp = np.empty((50, 50, 3), np.uint8)
    exp[...] = [100, 3, 255]
    exp[-y0 : -y0 + 20, -x0 : -x0 + 30] = img
    np.testing.assert_array_equal(big, exp)


def test_subwindow_resizes_only_when_sizes_differ() -> None:
    img = _ramp_image(60, 80)
    same = get_subwindow(img, (40.0, 30.0), 21, 21, np.zeros(3))  # x0 = 29, y0 = 19
    np.testing.assert_array_equal(same, img[19:40, 29:50])
    resized = get_subwindow(img, (40.0, 30.0), 11, 21, np.zeros(3))
    np.testing.assert_array_equal(resized, cv2.resize(img[19:40, 29:50], (11, 11)))
    with pytest.raises(ValueError, match="crop size"):
        get_subwindow(img, (40.0, 30.0), 11, 0, np.zeros(3))


def test_base_anchors_match_pysot_values() -> None:
    # hand: r = 0.33 -> ws = int(sqrt(64 / 0.33)) = 13, hs = int(13 * 0.33) = 4, x8 -> 104 x 32
    expected = [
        [-52, -16, 52, 16],
        [-44, -20, 44, 20],
        [-32, -32, 32, 32],
        [-20, -40, 20, 40],
        [-16, -48, 16, 48],
    ]
    got = base_anchors(8, [0.33, 0.5, 1, 2, 3], [8])
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, expected)


def test_anchor_grid_is_anchor_major_then_row_then_column() -> None:
    n = 5
    anchors = generate_anchors(8, [0.33, 0.5, 1, 2, 3], [8], n)
    assert anchors.shape == (5 * n * n, 4) and anchors.dtype == np.float32
    for a, (w, h) in enumerate([(104, 32), (88, 40), (64, 64), (40, 80), (32, 96)]):
        for i in range(n):
            for j in range(n):
                np.testing.assert_array_equal(
                    anchors[a * n * n + i * n + j], [-16 + 8 * j, -16 + 8 * i, w, h]
                )


def test_points_and_window() -> None:
    pts = generate_points(16, 4)  # ori = -(4 // 2) * 16 = -32 -> -32, -16, 0, 16
    assert pts.shape == (16, 2)
    np.testing.assert_array_equal(pts[:4], [[-32, -32], [-16, -32], [0, -32], [16, -32]])
    np.testing.assert_array_equal(pts[::4, 1], [-32, -16, 0, 16])
    w = cosine_window(5, 3)
    assert w.shape == (75,) and w.dtype == np.float64
    np.testing.assert_array_equal(w[:25], w[25:50])
    assert w[12] == 1.0 and w[0] == 0.0
