"""Frames and boxes line up when frame files are numbered without padding (1.png ... 11.png).

Every reader that lists an image folder is run on the same kind of folder: frame ``i`` is filled
with grey level ``GREY * (i + 1)`` and box line ``i`` has ``x = i + 1``, so a frame paired with the
wrong box is caught by comparing the two. Sorting names alphabetically (what training used to do)
puts ``10.png`` and ``11.png`` right after ``1.png`` and fails every one of these tests.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from siam_tracker_ros.datasets import (
    FrameSource,
    ImageFrames,
    TrackSequence,
    list_images,
    load_dataset,
    load_sequence,
    natural_key,
    open_source,
    read_got10k,
    read_image_folder_sequences,
    read_lasot,
)

N = 11  # 1..11: alphabetically 1, 10, 11, 2, ...
GREY = 20


def _write_unpadded(folder: Path, ext: str = ".png") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(N):
        cv2.imwrite(str(folder / f"{i + 1}{ext}"), np.full((24, 32, 3), GREY * (i + 1), np.uint8))


def _gt_lines() -> str:
    return "\n".join(f"{i + 1},2,6,6" for i in range(N)) + "\n"


def _frame_number(image: np.ndarray) -> int:
    """The 1-based frame number a test frame was written with (lossless PNG)."""
    return int(round(float(image.mean()) / GREY))


def _check_evaluation(frames: FrameSource, boxes: np.ndarray) -> None:
    assert len(frames) == N == len(boxes)
    for i in range(N):
        assert _frame_number(frames[i]) == int(boxes[i, 0]) == i + 1


def _check_training(seq: TrackSequence) -> None:
    assert len(seq.frames) == N
    for i, path in enumerate(seq.frames):
        image = cv2.imread(path, cv2.IMREAD_COLOR)
        assert _frame_number(image) == int(seq.boxes[i, 0]) == i + 1, path


def _otb(root: Path) -> Path:
    d = root / "Seq"
    _write_unpadded(d / "img")
    (d / "groundtruth_rect.txt").write_text(_gt_lines())
    return d


def _vot(root: Path) -> Path:
    d = root / "ball"
    _write_unpadded(d / "color")
    (d / "groundtruth.txt").write_text(_gt_lines())
    return d


def _got10k(root: Path) -> Path:
    d = root / "train" / "GOT-10k_Train_000001"
    _write_unpadded(d)
    (d / "groundtruth.txt").write_text(_gt_lines())
    (d / "absence.label").write_text("0\n" * N)
    return d


def _lasot(root: Path) -> Path:
    d = root / "cat" / "cat-1"
    _write_unpadded(d / "img")
    (d / "groundtruth.txt").write_text(_gt_lines())
    (d / "full_occlusion.txt").write_text(",".join("0" * N))
    (d / "out_of_view.txt").write_text(",".join("0" * N))
    return d


def test_natural_key_orders_digit_runs_as_numbers() -> None:
    names = ["img10.jpg", "img1.jpg", "img11.jpg", "img2.jpg", "img9.jpg"]
    assert sorted(names, key=natural_key) == [
        "img1.jpg",
        "img2.jpg",
        "img9.jpg",
        "img10.jpg",
        "img11.jpg",
    ]


def test_list_images_orders_unpadded_names_numerically(tmp_path: Path) -> None:
    _write_unpadded(tmp_path)
    (tmp_path / "notes.txt").write_text("not a frame")
    assert [p.name for p in list_images(tmp_path)] == [f"{i + 1}.png" for i in range(N)]


@pytest.mark.parametrize(
    ("make", "layout"), [(_otb, "otb"), (_vot, "vot"), (_got10k, "got10k"), (_lasot, "lasot")]
)
def test_evaluation_loader_aligns_frames_and_boxes(
    tmp_path: Path, make: Callable[[Path], Path], layout: str
) -> None:
    seq = load_sequence(make(tmp_path))
    assert seq.layout == layout
    _check_evaluation(seq.frames, seq.groundtruth)


def test_evaluation_dataset_loader_aligns_frames_and_boxes(tmp_path: Path) -> None:
    _otb(tmp_path / "sequences")
    (seq,) = load_dataset(tmp_path, "val")
    _check_evaluation(seq.frames, seq.groundtruth)


def test_training_readers_align_frames_and_boxes(tmp_path: Path) -> None:
    _otb(tmp_path / "otb")
    (otb,) = read_image_folder_sequences(tmp_path / "otb")
    _check_training(otb)
    _got10k(tmp_path / "got")
    (got,) = read_got10k(tmp_path / "got")
    _check_training(got)
    _lasot(tmp_path / "lasot")
    (las,) = read_lasot(tmp_path / "lasot")
    _check_training(las)


def test_replay_sources_play_unpadded_frames_in_order(tmp_path: Path) -> None:
    seq = _otb(tmp_path)
    for src in (open_source(seq, fps=5.0), ImageFrames.from_folder(seq / "img", fps=5.0)):
        assert isinstance(src, ImageFrames) and src.fps == 5.0
        played = list(src.timed())
        assert [_frame_number(img) for img, _ in played] == list(range(1, N + 1))
        assert all(t is None for _, t in played)  # image folders have no clock
