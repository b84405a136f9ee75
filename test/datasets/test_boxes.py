"""The one box parser and what each consumer makes of absent and unannotated rows."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from siam_tracker_ros.datasets import (
    ImageFrames,
    Sequence,
    TrackSequence,
    read_boxes,
    read_flags,
    read_image_folder_sequences,
)


@pytest.mark.parametrize("sep", [",", "\t", " ", ", ", " \t"])
def test_separators(tmp_path: Path, sep: str) -> None:
    f = tmp_path / "gt.txt"
    f.write_text(f"1{sep}2{sep}3{sep}4\n5.5{sep}6{sep}7{sep}8\n\n\n")
    np.testing.assert_array_equal(read_boxes(f), [[1, 2, 3, 4], [5.5, 6, 7, 8]])


def test_bad_lines_are_one_clear_error_with_file_and_line(tmp_path: Path) -> None:
    f = tmp_path / "gt.txt"
    f.write_text("1,2,3,4\n1,2,x,4\n")
    with pytest.raises(ValueError, match=r"gt.txt:2: cannot parse"):
        read_boxes(f)
    f.write_text("1,2,3,4,5\n")
    with pytest.raises(ValueError, match=r"gt.txt:1: expected 4 or 8 values, got 5"):
        read_boxes(f)


def test_absent_and_unannotated_rows_in_evaluation_and_training(tmp_path: Path) -> None:
    gt = tmp_path / "Seq" / "groundtruth_rect.txt"
    (tmp_path / "Seq" / "img").mkdir(parents=True)
    for i in range(4):
        cv2.imwrite(str(tmp_path / "Seq" / "img" / f"{i:04d}.png"), np.zeros((8, 8, 3), np.uint8))
    gt.write_text("1,2,3,4\n0,0,0,0\nNaN,NaN,NaN,NaN\n2,2,3,4\n")
    boxes = read_boxes(gt)
    assert np.isnan(boxes[2]).all() and (boxes[1] == 0).all()
    seq = Sequence("Seq", ImageFrames(sorted((tmp_path / "Seq" / "img").iterdir())), boxes)
    assert seq.absent.tolist() == [False, True, True, False]
    assert (seq.groundtruth[[1, 2]] == 0).all()  # scored as absent, never against a dummy box
    (train,) = read_image_folder_sequences(tmp_path)
    assert isinstance(train, TrackSequence) and train.visible.tolist() == [0, 3]


def test_flag_files_must_match_the_frame_count(tmp_path: Path) -> None:
    f = tmp_path / "absence.label"
    f.write_text("0\n1\n0\n")
    assert read_flags(f, 3).tolist() == [False, True, False]
    f.write_text("0,1,0")
    assert read_flags(f, 3).tolist() == [False, True, False]
    with pytest.raises(ValueError, match="3 flags for 4 frames"):
        read_flags(f, 4)
