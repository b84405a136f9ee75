"""The split policy: training readers refuse the evaluation-only folders (val = ``sequences/``,
``dev-videos/``, the long-term ``dev-lt/`` and generated material marked ``EVAL_ONLY``), ``dev``
= val + dev-videos and ``dev-lt`` = ``dev-lt/`` + the generated long-term folder for evaluation.

A miniature shared data root is built in ``tmp_path`` (``SIAM_SHARED_DIR`` points at it), with
the real layouts: OTB image folders in ``sequences/`` and video + ground truth in
``train-videos/``, ``dev-videos/`` and ``dev-lt/``; ``SIAM_GENERATED_DIR`` points at an empty
folder beside it, so the repository's own generated material never leaks in.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import shared_path

from siam_tracker_ros.datasets import (
    SPLITS,
    data_dir,
    forbid_eval_split,
    load_dataset,
    read_got10k,
    read_image_folder_sequences,
    read_lasot,
    read_video_sequences,
    sequence_folders,
)
from siam_tracker_ros.datasets.splits import (
    generated_dir,
    missing_generated,
    split_dirs,
    write_eval_only_marker,
)
from siam_tracker_ros.training.config import train_config_from_dict
from siam_tracker_ros.training.sources import build_sources


def _video_sequence(d: Path, n: int = 4, absent: int | None = None) -> None:
    """A video sequence; ``absent``: the index of a frame whose target is absent."""
    d.mkdir(parents=True)
    writer = cv2.VideoWriter(str(d / "video.mp4"), cv2.VideoWriter.fourcc(*"mp4v"), 10, (64, 48))
    for i in range(n):
        writer.write(np.full((48, 64, 3), 40 * i, np.uint8))
    writer.release()
    lines = ["0,0,0,0\n" if i == absent else f"{5 + i},5,20,20\n" for i in range(n)]
    (d / "groundtruth_rect.txt").write_text("".join(lines))


def _otb_sequence(d: Path, n: int = 3) -> None:
    (d / "img").mkdir(parents=True)
    for i in range(n):
        cv2.imwrite(str(d / "img" / f"{i + 1:04d}.jpg"), np.full((48, 64, 3), 9, np.uint8))
    (d / "groundtruth_rect.txt").write_text("5,5,20,20\n" * n)


@pytest.fixture
def shared(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A shared folder with one sequence per split; returns its data root."""
    root = tmp_path / "shared"
    monkeypatch.setenv("SIAM_SHARED_DIR", str(root))
    monkeypatch.setenv("SIAM_GENERATED_DIR", str(tmp_path / "generated"))
    data = root / "data"
    _video_sequence(data / "train-videos" / "TrainClip")
    _otb_sequence(data / "sequences" / "ValSeq")
    _video_sequence(data / "dev-videos" / "DevClip")
    _video_sequence(data / "dev-lt" / "LtClip", absent=2)
    assert data_dir() == data and generated_dir() == tmp_path / "generated"
    return data


def _generated(shared: Path) -> Path:
    """A generated long-term sequence, marked as the generator marks its output."""
    out = generated_dir() / "dev-lt-gen"
    _video_sequence(out / "gen_Clip", absent=1)
    write_eval_only_marker(out)
    write_eval_only_marker(out / "gen_Clip")
    return out


def test_split_names_map_to_the_shared_folders() -> None:
    assert SPLITS["train"] == ("train-videos",)
    assert SPLITS["val"] == ("sequences",)
    assert SPLITS["dev"] == ("sequences", "dev-videos")
    assert SPLITS["dev-lt"] == ("dev-lt",)


def test_dev_split_is_val_plus_dev_videos_and_train_is_separate(shared: Path) -> None:
    assert [s.name for s in load_dataset(shared, "dev")] == ["ValSeq", "DevClip"]
    assert [s.name for s in load_dataset(shared, "dev-videos")] == ["DevClip"]
    assert [s.name for s in load_dataset(shared, "train")] == ["TrainClip"]
    assert [s.name for s in load_dataset(shared, "dev", ["DevClip"])] == ["DevClip"]
    with pytest.raises(ValueError, match="unknown sequence"):
        load_dataset(shared, "dev", ["TrainClip"])


def test_dev_lt_is_the_shared_folder_plus_the_generated_one_when_it_exists(shared: Path) -> None:
    (lt,) = load_dataset(shared, "dev-lt")
    assert lt.name == "LtClip" and lt.absent.tolist() == [False, False, True, False]
    with pytest.raises(FileNotFoundError, match="dev-lt-gen.*make it with .*make_lt_dev.py"):
        load_dataset(shared, "dev-lt-gen")  # nothing generated yet: said so, not an empty split
    with pytest.raises(FileNotFoundError, match="make_lt_dev.py --recipe .*check_recipe.yaml"):
        load_dataset(shared, "dev-lt-check")
    note = missing_generated("dev-lt")  # dev-lt is then the shared sequences alone: said so
    assert note is not None and "dev-lt-gen" in note and "make_lt_dev.py" in note
    out = _generated(shared)
    assert missing_generated("dev-lt") is None and missing_generated("val") is None
    assert split_dirs(shared, "dev-lt") == [shared / "dev-lt", out]
    seqs = load_dataset(shared, "dev-lt")
    assert [s.name for s in seqs] == ["LtClip", "gen_Clip"]
    assert seqs[1].absent.tolist() == [False, True, False, False]
    assert [s.name for s in load_dataset(shared, "dev-lt-gen")] == ["gen_Clip"]
    assert [s.name for s in load_dataset(shared, "dev-lt", ["gen_Clip"])] == ["gen_Clip"]
    # the other splits never see generated material
    assert [s.name for s in load_dataset(shared, "dev")] == ["ValSeq", "DevClip"]


@pytest.mark.parametrize(
    ("folder", "label"),
    [
        ("sequences", "validation split"),
        ("dev-videos", "dev-videos split"),
        ("dev-lt", "long-term dev split"),
        ("generated", "generated long-term evaluation material"),
    ],
)
def test_every_training_reader_refuses_evaluation_folders(
    shared: Path, tmp_path: Path, folder: str, label: str
) -> None:
    split = _generated(shared) if folder == "generated" else shared / folder
    cache = tmp_path / "cache"
    readers = [
        lambda: read_video_sequences(split, cache_dir=cache),
        lambda: read_image_folder_sequences(split),
        lambda: read_got10k(split),
        lambda: read_lasot(split),
        lambda: read_video_sequences(split / next(iter(sequence_folders(split))).name),
    ]
    for read in readers:
        with pytest.raises(ValueError, match=label):
            read()
    assert not cache.exists()  # refused before decoding anything


def test_a_symlink_into_dev_videos_is_refused(shared: Path, tmp_path: Path) -> None:
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    (mixed / "TrainClip").symlink_to(shared / "train-videos" / "TrainClip")
    (mixed / "DevClip").symlink_to(shared / "dev-videos" / "DevClip")
    with pytest.raises(ValueError, match="dev-videos split"):
        read_video_sequences(mixed, cache_dir=tmp_path / "cache")
    # the same folder without the dev sequence trains
    (mixed / "DevClip").unlink()
    (seq,) = read_video_sequences(mixed, cache_dir=tmp_path / "cache")
    assert seq.name == "TrainClip" and len(seq.frames) == 4


def test_a_copy_of_the_shared_layout_elsewhere_is_refused_by_its_shape(tmp_path: Path) -> None:
    copy = tmp_path / "elsewhere" / "data" / "dev-videos" / "Clip"
    _video_sequence(copy)
    with pytest.raises(ValueError, match="dev-videos split"):
        forbid_eval_split(copy)
    forbid_eval_split(tmp_path / "elsewhere" / "data" / "train-videos")


def test_training_config_pointing_at_dev_videos_is_refused(shared: Path) -> None:
    cfg = train_config_from_dict(
        {
            "model": {"family": "nanotrack"},
            "data": {"sources": [{"type": "video", "root": "${SHARED}/data/dev-videos"}]},
        }
    )
    with pytest.raises(ValueError, match="dev-videos split"):
        build_sources(cfg.data)


@pytest.mark.shared
def test_the_real_shared_dev_set_is_refused_for_training() -> None:
    data = shared_path("data", "dev-videos").parent
    dev = {p.name for p in sequence_folders(data / "dev-videos")}
    val = {p.name for p in sequence_folders(data / "sequences")}
    train = {p.name for p in sequence_folders(data / "train-videos")}
    assert len(dev) >= 20 and len(val) >= 6 and len(train) >= 20
    assert not (dev | val) & train  # no sequence is in both
    # the dev split loads (every video's frame count matches its ground truth) and is val + dev
    assert {s.name for s in load_dataset(data, "dev")} == dev | val
    for folder in ("sequences", "dev-videos"):
        with pytest.raises(ValueError, match="evaluation only"):
            read_video_sequences(data / folder, cache_dir="/nonexistent/never-written")
        one = sequence_folders(data / folder)[0]
        with pytest.raises(ValueError, match="evaluation only"):
            read_video_sequences(one.parent, names=[one.name], cache_dir="/nonexistent/x")
        with pytest.raises(ValueError, match="evaluation only"):
            forbid_eval_split(one)


def test_generated_material_is_refused_wherever_it_lies(shared: Path, tmp_path: Path) -> None:
    out = _generated(shared)
    # a copy elsewhere carries its marker; a folder holding one is refused as a whole
    copy = tmp_path / "elsewhere" / "gen_Clip"
    copy.parent.mkdir()
    (copy.parent / "TrainClip").symlink_to(shared / "train-videos" / "TrainClip")
    copy.mkdir()
    for f in (out / "gen_Clip").iterdir():
        (copy / f.name).write_bytes(f.read_bytes())
    for path in (copy, copy / "video.mp4", copy.parent):
        with pytest.raises(ValueError, match="EVAL_ONLY"):
            forbid_eval_split(path)
    with pytest.raises(ValueError, match="generated long-term"):
        read_video_sequences(copy.parent, cache_dir=tmp_path / "cache")
    # the generated folder itself is refused even without its marker
    (out / "EVAL_ONLY").unlink()
    (out / "gen_Clip" / "EVAL_ONLY").unlink()
    with pytest.raises(ValueError, match=f"in {out}"):
        forbid_eval_split(out / "gen_Clip")
    (copy / "EVAL_ONLY").unlink()
    (seq,) = read_video_sequences(copy.parent, names=["TrainClip"], cache_dir=tmp_path / "c")
    assert seq.name == "TrainClip"  # an unmarked folder of training footage trains


@pytest.mark.parametrize("split", ["dev-lt-check", "dev-lt-wide"])
def test_the_other_generated_sets_are_splits_of_their_own_and_never_trained_on(
    shared: Path, split: str
) -> None:
    """``dev-lt-check`` (the held-out long-term check set) and ``dev-lt-wide`` (robot-size
    frames) read only their generated folders: ``dev-lt`` never mixes them in, and training
    refuses them even without their markers."""
    folder = generated_dir() / split
    _video_sequence(folder / "x_Clip", absent=1)
    _generated(shared)
    assert [s.name for s in load_dataset(shared, split)] == ["x_Clip"]
    assert "x_Clip" not in [s.name for s in load_dataset(shared, "dev-lt")]
    with pytest.raises(ValueError, match=f"in .*{split}"):
        forbid_eval_split(folder / "x_Clip")


@pytest.mark.shared
def test_the_real_dev_lt_split_loads_and_is_refused_for_training() -> None:
    data = shared_path("data", "dev-lt").parent
    names = {s.name for s in load_dataset(data, "dev-lt")}
    assert {p.name for p in sequence_folders(data / "dev-lt")} <= names
    with pytest.raises(ValueError, match="long-term dev split"):
        read_video_sequences(data / "dev-lt", cache_dir="/nonexistent/never-written")
