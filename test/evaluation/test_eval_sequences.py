"""Loaders on tiny folders and videos written in tmp_path."""

from __future__ import annotations

import pickle
from pathlib import Path

import cv2
import numpy as np
import pytest
from eval_helpers import write_otb_sequence

from siam_tracker_ros.datasets import (
    VideoFrames,
    detect_layout,
    load_dataset,
    load_sequence,
    read_boxes,
)


def _write_images(
    folder: Path, n: int, size: tuple[int, int] = (40, 30), ext: str = ".jpg"
) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        img = np.full((size[1], size[0], 3), 10 * i, dtype=np.uint8)
        cv2.imwrite(str(folder / f"{i + 1:08d}{ext}"), img)


def _write_video(folder: Path, n: int) -> Path:
    """``folder/video.mp4``: ``n`` 64x48 frames of grey level 30 * i."""
    folder.mkdir(parents=True)
    writer = cv2.VideoWriter(
        str(folder / "video.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 10, (64, 48)
    )
    for i in range(n):
        writer.write(np.full((48, 64, 3), 30 * i, dtype=np.uint8))
    writer.release()
    return folder


@pytest.mark.parametrize("sep", [",", "\t", " "])
def test_otb_folder_with_any_separator_and_absent_rows(tmp_path: Path, sep: str) -> None:
    gt = write_otb_sequence(tmp_path / "Toy", n=6, sep=sep, absent=(4,))
    seq = load_sequence(tmp_path / "Toy")
    assert seq.layout == "otb" and seq.name == "Toy" and len(seq) == 6
    np.testing.assert_allclose(seq.groundtruth, gt)
    assert seq.absent.tolist() == [False, False, False, False, True, False]
    frame = seq.frame(2)
    assert frame.shape == (120, 160, 3) and frame.dtype == np.uint8


def test_read_boxes_handles_nan_polygons_and_special_codes(tmp_path: Path) -> None:
    f = tmp_path / "gt.txt"
    f.write_text("1,2,3,4\nNaN,NaN,NaN,NaN\n0\n10,0,20,10,10,20,0,10\n5 6\t7,8\n\n")
    boxes = read_boxes(f)
    assert boxes.shape == (5, 4)
    np.testing.assert_allclose(boxes[0], [1, 2, 3, 4])
    assert np.isnan(boxes[1]).all() and np.isnan(boxes[2]).all()
    np.testing.assert_allclose(boxes[3], [0, 0, 20, 20])  # rotated square -> bounding box
    np.testing.assert_allclose(boxes[4], [5, 6, 7, 8])
    f.write_text("1,2,3\n")
    with pytest.raises(ValueError, match="4 or 8"):
        read_boxes(f)


def test_vot_folder_polygons_become_axis_aligned(tmp_path: Path) -> None:
    d = tmp_path / "ball"
    _write_images(d / "color", 3)
    (d / "groundtruth.txt").write_text(
        "1.5,2.5,11.5,2.5,11.5,7.5,1.5,7.5\n2,2,12,4,10,14,0,12\n3,4,5,6\n"
    )
    seq = load_sequence(d)
    assert seq.layout == "vot"
    np.testing.assert_allclose(seq.groundtruth, [[1.5, 2.5, 10, 5], [0, 2, 12, 12], [3, 4, 5, 6]])


def test_got10k_and_lasot_absence_flags(tmp_path: Path) -> None:
    g = tmp_path / "GOT-10k_Val_000001"
    _write_images(g, 4)
    (g / "groundtruth.txt").write_text("1,1,5,5\n2,2,5,5\n3,3,5,5\n4,4,5,5\n")
    (g / "absence.label").write_text("0\n0\n1\n0\n")
    seq = load_sequence(g)
    assert seq.layout == "got10k" and seq.absent.tolist() == [False, False, True, False]
    assert (seq.groundtruth[2] == 0).all()

    lasot = tmp_path / "lasot" / "cat" / "cat-1"
    _write_images(lasot / "img", 4)
    (lasot / "groundtruth.txt").write_text("1,1,5,5\n2,2,5,5\n3,3,5,5\n4,4,5,5\n")
    (lasot / "full_occlusion.txt").write_text("0,1,0,0")
    (lasot / "out_of_view.txt").write_text("0,0,0,1")
    seq = load_sequence(lasot)
    assert seq.layout == "lasot" and seq.absent.tolist() == [False, True, False, True]
    # a dataset whose sequences sit one level deeper (LaSOT categories) is found too
    assert [s.name for s in load_dataset(tmp_path / "lasot")] == ["cat-1"]


def test_video_with_groundtruth_beside_it_decodes_lazily_and_pickles(tmp_path: Path) -> None:
    d = _write_video(tmp_path / "clip", 7)
    (d / "groundtruth_rect.txt").write_text("\n".join(f"{i},1,10,10" for i in range(7)))
    assert detect_layout(d) == "video"
    seq = load_sequence(d)
    assert len(seq) == 7 and isinstance(seq.frames, VideoFrames)
    levels = [float(seq.frame(i).mean()) for i in range(7)]
    np.testing.assert_allclose(levels, [30 * i for i in range(7)], atol=4)
    # random access backwards re-opens the video; forwards skips by grabbing
    assert abs(float(seq.frame(2).mean()) - 60) < 4
    assert abs(float(seq.frame(5).mean()) - 150) < 4
    clone = pickle.loads(pickle.dumps(seq))
    assert abs(float(clone.frame(6).mean()) - 180) < 4


def test_frame_and_box_count_mismatch_is_an_error(tmp_path: Path) -> None:
    write_otb_sequence(tmp_path / "Bad", n=4)
    with (tmp_path / "Bad" / "groundtruth_rect.txt").open("a") as fh:
        fh.write("1,1,5,5\n")
    with pytest.raises(ValueError, match="4 frames but 5"):
        load_sequence(tmp_path / "Bad")


def test_load_dataset_split_and_names(tmp_path: Path) -> None:
    for name in ("B", "A", "C"):
        write_otb_sequence(tmp_path / "sequences" / name, n=3)
    assert [s.name for s in load_dataset(tmp_path, "val")] == ["A", "B", "C"]
    assert [s.name for s in load_dataset(tmp_path, "val", ["C", "A"])] == ["C", "A"]
    with pytest.raises(ValueError, match="unknown sequence"):
        load_dataset(tmp_path, "val", ["Z"])
    with pytest.raises(FileNotFoundError):
        load_dataset(tmp_path, "train")


# ------------------------------------------------------------ unseen benchmark folders (audit)
def test_a_sequence_that_cannot_be_loaded_is_passed_on_and_the_others_load(
    tmp_path: Path,
) -> None:
    """With ``on_error`` a bad sequence is named with its reason and left out (an evaluation of
    new benchmark data scores the others); without it the load stops at the first one."""
    write_otb_sequence(tmp_path / "good", n=4)
    write_otb_sequence(tmp_path / "fewer", n=4)
    lines = (tmp_path / "fewer" / "groundtruth_rect.txt").read_text().splitlines()
    (tmp_path / "fewer" / "groundtruth_rect.txt").write_text("\n".join(lines[:3]) + "\n")
    skipped: dict[str, str] = {}
    loaded = load_dataset(tmp_path, on_error=lambda name, exc: skipped.update({name: str(exc)}))
    assert [s.name for s in loaded] == ["good"]
    assert list(skipped) == ["fewer"] and "4 frames but 3" in skipped["fewer"]
    with pytest.raises(ValueError, match="4 frames but 3"):
        load_dataset(tmp_path)
    with pytest.raises(ValueError, match="no sequence could be loaded"):
        load_dataset(tmp_path / "fewer", on_error=lambda name, exc: None)


def test_two_sequence_folders_of_one_name_stay_two_sequences(tmp_path: Path) -> None:
    write_otb_sequence(tmp_path / "A" / "seqx", n=3)
    write_otb_sequence(tmp_path / "B" / "seqx", n=4)
    names = sorted(s.name for s in load_dataset(tmp_path))
    assert names == ["A__seqx", "B__seqx"]  # a name is a file name in the results too
    # a folder "s.1" beside a folder "s" with two targets ("s.1", "s.2"): numbered, never a path
    other = tmp_path / "other"
    write_otb_sequence(other / "s.1", n=3)
    write_otb_sequence(other / "s", n=3)
    (other / "s" / "groundtruth_rect.txt").rename(other / "s" / "groundtruth_rect.1.txt")
    (other / "s" / "groundtruth_rect.2.txt").write_text(
        (other / "s" / "groundtruth_rect.1.txt").read_text()
    )
    names = [s.name for s in load_dataset(other)]
    assert len(set(names)) == 3 and not any("/" in n for n in names), names


def test_a_byte_order_mark_and_macos_resource_files_are_not_data(tmp_path: Path) -> None:
    gt = write_otb_sequence(tmp_path / "Win", n=3)
    path = tmp_path / "Win" / "groundtruth_rect.txt"
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())  # saved by a Windows tool
    for i in range(3):  # what a macOS archive puts beside each frame
        (tmp_path / "Win" / "img" / f"._{i + 1:04d}.jpg").write_bytes(b"\x00\x05\x16\x07")
    seq = load_sequence(tmp_path / "Win")
    assert len(seq) == 3
    np.testing.assert_allclose(seq.groundtruth, gt)


def test_a_video_beside_frame_images_does_not_replace_them(tmp_path: Path) -> None:
    d = tmp_path / "vv"
    _write_images(d, 3)
    (d / "groundtruth.txt").write_text("1,1,10,10\n2,2,10,10\n3,3,10,10\n")
    (d / "preview.avi").write_bytes(b"")  # an overlay or preview, not the source
    assert detect_layout(d) == "vot"
    assert len(load_sequence(d)) == 3
    # the other way round: a poster image beside a video and its ground truth
    clip = _write_video(tmp_path / "clip", 5)
    (clip / "groundtruth.txt").write_text("\n".join(f"{i},1,10,10" for i in range(5)))
    cv2.imwrite(str(clip / "poster.jpg"), np.zeros((48, 64, 3), np.uint8))
    assert detect_layout(clip) == "video" and len(load_sequence(clip)) == 5


def test_track_images_reads_a_vot_color_folder(tmp_path: Path) -> None:
    from siam_tracker_ros.datasets.frames import ImageFrames

    _write_images(tmp_path / "ball" / "color", 4)
    assert len(ImageFrames.from_folder(tmp_path / "ball")) == 4
