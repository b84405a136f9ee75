"""Benchmarks as downloaded: OTB-100's partly annotated and two-target folders, GOT-10k's split
folders, VOT2020+ mask ground truth (refused with a clear error)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from siam_tracker_ros.datasets import load_dataset, load_sequence, read_boxes


def _frames(folder: Path, n: int) -> None:
    """``n`` tiny frames 0001.jpg ... whose grey level encodes the 1-based number (mod 250)."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(1, n + 1):
        cv2.imwrite(str(folder / f"{i:04d}.png"), np.full((4, 4, 3), i % 250, np.uint8))


def _number(image: np.ndarray) -> int:
    return int(image[0, 0, 0])


def test_otb100_sequences_annotated_on_part_of_their_frames(tmp_path: Path) -> None:
    football = tmp_path / "otb" / "Football1"
    _frames(football / "img", 80)
    (football / "groundtruth_rect.txt").write_text("1,1,2,2\n" * 74)
    david = tmp_path / "otb" / "David"
    _frames(david / "img", 770)
    (david / "groundtruth_rect.txt").write_text("1,1,2,2\n" * 471)
    seqs = {s.name: s for s in load_dataset(tmp_path / "otb")}
    assert len(seqs["Football1"]) == 74 and _number(seqs["Football1"].frame(73)) == 74
    # David's ground truth starts at frame 300 (the OTB toolkit's range 300-770)
    assert len(seqs["David"]) == 471
    assert _number(seqs["David"].frame(0)) == 300 % 250
    assert _number(seqs["David"].frame(470)) == 770 % 250


def test_otb100_folders_with_two_targets_become_two_sequences(tmp_path: Path) -> None:
    jog = tmp_path / "otb" / "Jogging"
    _frames(jog / "img", 3)
    (jog / "groundtruth_rect.1.txt").write_text("1,1,5,5\n" * 3)
    (jog / "groundtruth_rect.2.txt").write_text("9,9,4,4\n" * 3)
    human = tmp_path / "otb" / "Human4"
    _frames(human / "img", 3)
    (human / "groundtruth_rect.1.txt").write_text("\n")  # empty in OTB-100 as downloaded
    (human / "groundtruth_rect.2.txt").write_text("2,2,6,6\n" * 3)
    seqs = {s.name: s for s in load_dataset(tmp_path / "otb")}
    assert sorted(seqs) == ["Human4", "Jogging.1", "Jogging.2"]
    assert seqs["Jogging.1"].init_box.tolist() == [1, 1, 5, 5]
    assert seqs["Jogging.2"].init_box.tolist() == [9, 9, 4, 4]
    assert seqs["Human4"].init_box.tolist() == [2, 2, 6, 6]
    assert [s.name for s in load_dataset(tmp_path / "otb", names=["Jogging.2"])] == ["Jogging.2"]
    assert load_sequence(jog).init_box.tolist() == [1, 1, 5, 5]  # a folder alone: first target


def test_got10k_split_folders_are_read_by_split_name(tmp_path: Path) -> None:
    got = tmp_path / "GOT-10k"
    for split in ("train", "val"):
        d = got / split / f"GOT-10k_{split.title()}_000001"
        _frames(d, 3)
        (d / "groundtruth.txt").write_text("1,1,2,2\n" * 3)
        (d / "absence.label").write_text("0\n0\n0\n")
    assert [s.name for s in load_dataset(got, "val")] == ["GOT-10k_Val_000001"]
    assert [s.layout for s in load_dataset(got, "train")] == ["got10k"]
    with pytest.raises(FileNotFoundError):
        load_dataset(got, "dev")  # neither sequences/ + dev-videos/ nor a dev/ folder


def test_vot_mask_ground_truth_is_one_clear_error(tmp_path: Path) -> None:
    f = tmp_path / "groundtruth.txt"
    f.write_text("m281.000,166.000,24.000,46.000,0,6,18,7\n")
    with pytest.raises(ValueError, match=r"groundtruth.txt:1: a VOT segmentation mask"):
        read_boxes(f)
