"""The virtual camera: the ground truth carried into the window (clipped; absent below 30 %
visible, occluders included) and the window pixels (exact crops, sub-pixel, border fill, zoom,
pasted occluders)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from siam_tracker_ros.datasets import Sequence
from siam_tracker_ros.simulation import (
    Occluder,
    SyntheticScene,
    VirtualCamera,
    synthetic_sequence,
    window_label,
)
from siam_tracker_ros.simulation.virtual_camera import uncovered_area

WINDOW = (100, 80)


def test_a_box_inside_the_window_is_translated() -> None:
    box, absent, visible = window_label(np.array([150.0, 120, 20, 30]), (100.0, 100.0), WINDOW)
    assert not absent and visible == 1.0
    np.testing.assert_allclose(box, [50, 20, 20, 30])


def test_a_box_half_outside_is_clipped_to_the_window() -> None:
    # right half beyond the window's right edge (x = 100 in window coordinates)
    box, absent, visible = window_label(np.array([190.0, 120, 20, 30]), (100.0, 100.0), WINDOW)
    assert not absent and visible == pytest.approx(0.5)
    np.testing.assert_allclose(box, [90, 20, 10, 30])
    # half above the top edge
    box, absent, _ = window_label(np.array([150.0, 85, 20, 30]), (100.0, 100.0), WINDOW)
    assert not absent
    np.testing.assert_allclose(box, [50, 0, 20, 15])


@pytest.mark.parametrize(
    ("inside", "absent"), [(6.2, False), (5.8, True), (6.0, False), (2.0, True)]
)
def test_less_than_30_percent_inside_is_absent(inside: float, absent: bool) -> None:
    # a 20 px wide box with `inside` px left of the window's right edge: 30 % is 6 px
    x = 100.0 + WINDOW[0] - inside
    box, gone, visible = window_label(np.array([x, 120, 20, 30]), (100.0, 100.0), WINDOW)
    assert visible == pytest.approx(inside / 20)
    assert gone == absent
    if gone:
        assert not box.any()  # 0,0,0,0
    else:
        np.testing.assert_allclose(box, [WINDOW[0] - inside, 20, inside, 30])


def test_min_visible_is_a_parameter() -> None:
    args = (np.array([190.0, 120, 20, 30]), (100.0, 100.0), WINDOW)  # 50 % inside
    assert not window_label(*args, min_visible=0.5)[1]
    assert window_label(*args, min_visible=0.51)[1]


def test_no_box_or_a_box_wholly_outside_is_absent() -> None:
    assert window_label(None, (0.0, 0.0), WINDOW)[1]
    assert window_label(np.array([0.0, 0, 0, 0]), (0.0, 0.0), WINDOW)[1]
    assert window_label(np.array([500.0, 0, 20, 20]), (0.0, 0.0), WINDOW)[1]


def test_occluders_count_against_the_visible_area_but_do_not_shrink_the_box() -> None:
    target = np.array([40.0, 20, 20, 20])  # window coordinates (origin 0, 0)
    half = Occluder((40, 20, 10, 20))  # covers the left half
    box, absent, visible = window_label(target, (0.0, 0.0), WINDOW, [half])
    assert not absent and visible == pytest.approx(0.5)
    np.testing.assert_allclose(box, target)  # the occluded target keeps its box
    most = Occluder((40, 20, 15, 20))  # 75 % covered
    assert window_label(target, (0.0, 0.0), WINDOW, [most])[1]
    # two overlapping occluders covering 60 % together (not 80 %): present
    a, b = Occluder((40, 20, 8, 20)), Occluder((44, 20, 8, 20))
    _, absent, visible = window_label(target, (0.0, 0.0), WINDOW, [a, b])
    assert visible == pytest.approx(0.4) and not absent


def test_uncovered_area_is_exact_for_overlapping_covers() -> None:
    rect = (0.0, 0.0, 10.0, 10.0)
    assert uncovered_area(rect, []) == 100
    assert uncovered_area(rect, [(5.0, 0.0, 20.0, 10.0)]) == 50
    assert uncovered_area(rect, [(0.0, 0.0, 6.0, 6.0), (4.0, 4.0, 10.0, 10.0)]) == 100 - 36 - 36 + 4
    assert uncovered_area(rect, [(-5.0, -5.0, 20.0, 20.0)]) == 0


def _camera(**kwargs: object) -> tuple[SyntheticScene, VirtualCamera]:
    scene = SyntheticScene(n_frames=5, size=(320, 240), target_size=(30, 20), seed=3)
    seq = Sequence("s", scene, scene.boxes.copy())
    return scene, VirtualCamera.from_sequence(seq, size=WINDOW, **kwargs)


def test_an_integer_window_is_an_exact_crop_with_the_box_translated() -> None:
    scene, cam = _camera()
    view = cam.render(2, (160.0, 120.0))  # origin (110, 80)
    np.testing.assert_array_equal(view.image, scene[2][80:160, 110:210])
    x, y, w, h = scene.boxes[2]
    expected, absent, _ = window_label(scene.boxes[2], (110.0, 80.0), WINDOW)
    assert not absent
    np.testing.assert_allclose(view.box, expected)
    assert view.box[0] == pytest.approx(max(0.0, x - 110))


def test_sub_pixel_windows_interpolate() -> None:
    scene, cam = _camera(interpolation=cv2.INTER_LINEAR)
    a = cam.render(1, (160.0, 120.0)).image.astype(np.float64)
    b = cam.render(1, (161.0, 120.0)).image.astype(np.float64)
    half = cam.render(1, (160.5, 120.0)).image.astype(np.float64)
    assert np.abs(half - (a + b) / 2).max() <= 1.0  # bilinear: the mean of the neighbours
    assert np.abs(half - a).mean() > 1.0  # and not a copy of either
    box = cam.render(1, (160.25, 120.0)).box
    np.testing.assert_allclose(box[0], scene.boxes[1][0] - 110.25)


@pytest.mark.parametrize("border", ["constant", "replicate"])
def test_outside_the_footage_is_filled(border: str) -> None:
    scene, cam = _camera(border=border, fill=(7, 8, 9))
    view = cam.render(0, (20.0, 120.0))  # origin x = -30: 30 columns outside
    outside = view.image[:, :30]
    if border == "constant":
        assert (outside == np.array([7, 8, 9], np.uint8)).all()
    else:
        edge = scene[0][80:160, 0]
        assert (outside == edge[:, None, :]).all()
    np.testing.assert_array_equal(view.image[:, 30:], scene[0][80:160, 0:70])


def test_zoom_scales_frames_and_boxes() -> None:
    scene, cam = _camera(zoom=0.5)
    assert cam.scene_size == (160, 120)
    boxes, _ = cam.targets()
    np.testing.assert_allclose(boxes, scene.boxes * 0.5)
    view = cam.render(0, (80.0, 60.0))
    expected = cv2.resize(scene[0], (160, 120), interpolation=cv2.INTER_AREA)[20:100, 30:130]
    np.testing.assert_array_equal(view.image, expected)


def test_occluders_are_painted_where_the_label_says() -> None:
    scene, cam = _camera()
    centre = (160.0, 120.0)
    solid = Occluder((10, 10, 20, 15), kind="solid", colour=(1, 2, 3))
    image = cam.render(0, centre, [solid]).image
    assert (image[10:25, 10:30] == np.array([1, 2, 3], np.uint8)).all()
    np.testing.assert_array_equal(image[30:, 40:], cam.render(0, centre).image[30:, 40:])
    # a patch: texture of the same frame 50 px to the right
    patch = Occluder((10, 10, 20, 15), kind="patch", offset=(50.0, 0.0))
    image = cam.render(0, centre, [patch]).image
    np.testing.assert_array_equal(image[10:25, 10:30], scene[0][90:105, 170:190])
    blurred = cam.render(0, centre, [Occluder((10, 10, 20, 15), "blur", offset=(50.0, 0.0))])
    region = blurred.image[10:25, 10:30].astype(np.float64)
    assert (
        np.abs(np.diff(region, axis=1)).mean()
        < np.abs(np.diff(image[10:25, 10:30].astype(np.float64), axis=1)).mean()
    )


def test_a_covered_target_is_absent_in_the_view() -> None:
    scene, cam = _camera()
    centre = (160.0, 120.0)
    box = cam.render(3, centre).box
    cover = Occluder((int(box[0]) - 2, int(box[1]) - 2, int(box[2]) + 4, int(box[3]) + 4))
    view = cam.render(3, centre, [cover])
    assert view.absent and view.visible == 0.0 and not view.box.any()


def test_bad_arguments_are_one_clear_error() -> None:
    seq = synthetic_sequence(n_frames=3, size=(64, 48), target_size=(10, 10))
    with pytest.raises(ValueError, match="window size"):
        VirtualCamera.from_sequence(seq, size=(0, 10))
    with pytest.raises(ValueError, match="zoom"):
        VirtualCamera.from_sequence(seq, size=(32, 24), zoom=0.0)
    with pytest.raises(ValueError, match="border"):
        VirtualCamera.from_sequence(seq, size=(32, 24), border="reflect")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="boxes"):
        VirtualCamera(seq.frames, seq.groundtruth[:2], size=(32, 24))
    cam = VirtualCamera.from_sequence(seq, size=(32, 24))
    with pytest.raises(ValueError, match="finite"):
        cam.render(0, (float("nan"), 1.0))
    with pytest.raises(IndexError):
        cam.render(3, (10.0, 10.0))
