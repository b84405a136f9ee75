"""Crops, readers, pair sampling and synthetic sequences."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from siam_tracker_ros.datasets import (
    TrackSequence,
    data_dir,
    forbid_eval_split,
    read_coco,
    read_got10k,
    read_image_folder_sequences,
    read_lasot,
    read_vid,
    read_video_sequences,
)
from siam_tracker_ros.training.augment import AugmentConfig, context_size, crop_view
from siam_tracker_ros.training.dataset import PairDataset, SequenceSource, SourceSpec
from siam_tracker_ros.training.synthetic import SyntheticConfig, SyntheticSource

NO_AUG = AugmentConfig(shift=0, scale=0, blur=0, color=0)


def _image_with_box(box: tuple[int, int, int, int], size=(240, 320)) -> np.ndarray:
    img = np.full((*size, 3), 40, np.uint8)
    x, y, w, h = box
    img[y : y + h, x : x + w] = (255, 255, 255)
    return img


def test_crop_without_augmentation_centres_the_target_at_template_scale() -> None:
    box = np.array([100, 60, 40, 20], np.float32)
    img = _image_with_box((100, 60, 40, 20))
    crop, b = crop_view(img, box, 127, NO_AUG, np.random.default_rng(0))
    scale = 127 / context_size(40, 20, 0.5)
    np.testing.assert_allclose([(b[0] + b[2]) / 2, (b[1] + b[3]) / 2], [63.5, 63.5], atol=1e-3)
    np.testing.assert_allclose([b[2] - b[0], b[3] - b[1]], [40 * scale, 20 * scale], rtol=1e-5)
    # the pixels inside the mapped box are the white target, outside it the grey background
    x1, y1, x2, y2 = (int(round(v)) for v in b)
    assert crop[y1 + 2 : y2 - 2, x1 + 2 : x2 - 2].min() > 250
    assert crop[:, : x1 - 3].max() < 100 and crop.dtype == np.float32


def test_search_crop_shift_moves_the_box_and_padding_is_the_image_mean() -> None:
    img = _image_with_box((10, 10, 30, 30))
    aug = AugmentConfig(shift=40, scale=0.1, blur=0, color=0)
    crop, b = crop_view(img, np.array([10, 10, 30, 30]), 255, aug, np.random.default_rng(3))
    centre = np.array([(b[0] + b[2]) / 2, (b[1] + b[3]) / 2])
    assert np.all(np.abs(centre - 127.5) <= 40 + 1e-3)
    assert not np.allclose(centre, 127.5)
    mean = img.reshape(-1, 3).mean(0)
    np.testing.assert_allclose(crop[0, 0], mean, atol=1.0)  # outside the image (top-left)


def test_never_trains_on_the_validation_or_dev_videos_split(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="validation split"):
        forbid_eval_split(data_dir() / "sequences")
    with pytest.raises(ValueError, match="validation split"):
        forbid_eval_split(data_dir() / "sequences" / "Woman")
    with pytest.raises(ValueError, match="dev-videos split"):
        forbid_eval_split(data_dir() / "dev-videos" / "otb_Coke")
    forbid_eval_split(tmp_path)  # anything else is fine
    forbid_eval_split(data_dir() / "train-videos")


def _write_frames(folder: Path, n: int, pattern: str = "{:04d}.jpg") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        cv2.imwrite(str(folder / pattern.format(i + 1)), _image_with_box((20 + i, 20, 16, 16)))


def test_readers_for_otb_got10k_lasot_coco_vid_and_video(tmp_path: Path) -> None:
    otb = tmp_path / "otb" / "Seq"
    _write_frames(otb / "img", 3)
    (otb / "groundtruth_rect.txt").write_text("20,20,16,16\n21\t20\t16\t16\n22 20 16 16\n")
    (s,) = read_image_folder_sequences(tmp_path / "otb")
    assert len(s.frames) == 3 and s.boxes[1].tolist() == [21, 20, 16, 16]

    got = tmp_path / "got" / "train" / "GOT-10k_Train_000001"
    _write_frames(got, 3, "{:08d}.jpg")
    (got / "groundtruth.txt").write_text("20,20,16,16\n21,20,16,16\n22,20,16,16\n")
    (got / "absence.label").write_text("0\n1\n0\n")
    (g,) = read_got10k(tmp_path / "got")
    assert g.visible.tolist() == [0, 2]

    las = tmp_path / "lasot" / "cat" / "cat-1"
    _write_frames(las / "img", 3, "{:08d}.jpg")
    (las / "groundtruth.txt").write_text("20,20,16,16\n21,20,16,16\n22,20,16,16\n")
    (las / "full_occlusion.txt").write_text("0,0,1")
    (las / "out_of_view.txt").write_text("1,0,0")
    (lz,) = read_lasot(tmp_path / "lasot")
    assert lz.visible.tolist() == [1]

    ann = {
        "images": [{"id": 7, "file_name": "a.jpg"}],
        "annotations": [
            {"id": 1, "image_id": 7, "bbox": [5, 6, 30, 40], "iscrowd": 0},
            {"id": 2, "image_id": 7, "bbox": [5, 6, 3, 4], "iscrowd": 0},
            {"id": 3, "image_id": 7, "bbox": [5, 6, 30, 40], "iscrowd": 1},
        ],
    }
    (tmp_path / "ann.json").write_text(json.dumps(ann))
    (c,) = read_coco(tmp_path / "ann.json", tmp_path / "img")
    assert c.frames == [str(tmp_path / "img" / "a.jpg")] and c.boxes[0].tolist() == [5, 6, 30, 40]

    snip = tmp_path / "vid" / "Annotations" / "VID" / "train" / "a" / "snip0"
    snip.mkdir(parents=True)
    for i in range(2):
        objs = "".join(
            f"<object><trackid>{t}</trackid><bndbox><xmin>{10 + i}</xmin><ymin>5</ymin>"
            f"<xmax>{30 + i}</xmax><ymax>25</ymax></bndbox></object>"
            for t in ((0, 1) if i == 0 else (0,))
        )
        (snip / f"{i:06d}.xml").write_text(f"<annotation>{objs}</annotation>")
    vids = {s.name: s for s in read_vid(tmp_path / "vid")}
    assert sorted(len(s.frames) for s in vids.values()) == [1, 2]
    two = next(s for s in vids.values() if len(s.frames) == 2)
    assert two.boxes[1].tolist() == [11, 5, 20, 20] and two.frames[1].endswith("000001.JPEG")

    vdir = tmp_path / "videos" / "Clip"
    vdir.mkdir(parents=True)
    writer = cv2.VideoWriter(
        str(vdir / "video.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 10, (320, 240)
    )
    for i in range(5):
        writer.write(_image_with_box((40 + 5 * i, 50, 30, 30)))
    writer.release()
    (vdir / "groundtruth_rect.txt").write_text("\n".join("40,50,30,30" for _ in range(5)))
    (v,) = read_video_sequences(tmp_path / "videos", cache_dir=tmp_path / "cache")
    assert len(v.frames) == 5 and all(Path(f).is_file() for f in v.frames)
    assert str(tmp_path / "cache") in v.frames[0]
    again = read_video_sequences(tmp_path / "videos", cache_dir=tmp_path / "cache")
    assert again[0].frames == v.frames  # decoded once, then reused


def _dataset(neg_prob: float = 0.2, seed: int = 0) -> PairDataset:
    seqs = [
        TrackSequence(
            f"s{k}",
            [f"/nonexistent/{k}_{i}.jpg" for i in range(50)],
            np.array([[10, 10, 20, 20] if i % 5 else [0, 0, 0, 0] for i in range(50)]),
        )
        for k in range(4)
    ]
    return PairDataset(
        [SourceSpec(SequenceSource("fake", seqs), 1.0, frame_range=3)],
        100,
        template_aug=NO_AUG,
        search_aug=NO_AUG,
        neg_prob=neg_prob,
        seed=seed,
    )


def test_pair_sampling_rules() -> None:
    ds = _dataset(neg_prob=0.2)
    rng = np.random.default_rng(0)
    n_neg = 0
    for _ in range(2000):
        (zs, zq, zt), (xs, xq, xt), positive = ds.sample_indices(rng)
        assert zt % 5 and xt % 5  # never a frame whose target is absent
        if positive:
            assert zq == xq and abs(zt - xt) <= 3
        else:
            n_neg += 1
            assert zq != xq
    assert 0.16 < n_neg / 2000 < 0.24


def test_items_are_a_function_of_seed_epoch_and_index() -> None:
    src = SyntheticSource(SyntheticConfig(num_sequences=5, length=30, width=160, height=120))

    def make() -> PairDataset:
        return PairDataset(
            [SourceSpec(src, 1.0, 10)],
            10,
            template_aug=NO_AUG,
            search_aug=AugmentConfig(shift=20, scale=0.1, blur=0.5, color=1),
            seed=4,
        )

    a, b = make(), make()
    for k in ("template", "search", "box", "positive"):
        assert np.array_equal(a[3][k].numpy(), b[3][k].numpy())
    b.set_epoch(1)
    assert not np.array_equal(a[3]["search"].numpy(), b[3]["search"].numpy())
    item = a[0]
    assert item["template"].shape == (3, 127, 127) and item["search"].shape == (3, 255, 255)
    assert float(item["search"].max()) <= 255 and float(item["search"].min()) >= 0


def test_synthetic_sequences_move_change_and_have_look_alikes() -> None:
    cfg = SyntheticConfig(
        num_sequences=40,
        length=60,
        width=200,
        height=150,
        seed=1,
        distractor_prob=1.0,
        occlusion_prob=1.0,
    )
    src = SyntheticSource(cfg)
    f0, b0 = src.load(2, 0)
    f0b, b0b = src.load(2, 0)
    assert np.array_equal(f0, f0b) and np.array_equal(b0, b0b)  # deterministic
    assert f0.shape == (150, 200, 3) and f0.dtype == np.uint8
    boxes = np.stack([src.load(2, t)[1] for t in range(0, 60, 5)])
    assert np.ptp(boxes[:, 0]) > 1 or np.ptp(boxes[:, 1]) > 1  # it moves
    sizes = boxes[:, 2] * boxes[:, 3]
    assert sizes.max() / sizes.min() > 1.01  # and changes scale
    assert (boxes[:, 0] >= -1).all() and (boxes[:, 0] + boxes[:, 2] <= 201).all()
    params = src.params(2)
    assert params.distractors and params.occluder is not None
    # distractors copy the target's appearance source (look-alikes)
    assert all(
        d.photo == params.target.photo and d.seed == params.target.seed for d in params.distractors
    )
    vis = src.visible(2)
    assert 0 < len(vis) <= 60
