"""The long-term dev material generator: the dev-lt layout, bit-reproducible frames, the refusal
of training footage, and the EVAL_ONLY marker every training reader refuses.

A miniature data root is built in ``tmp_path`` from a synthetic scene (OTB layout, PNG frames),
so these tests run without ``../shared``; the last ones check the committed recipe against the
real shared folder and skip without it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import yaml
from conftest import ROOT, SHARED, shared_path

from siam_tracker_ros.datasets import (
    load_sequence,
    read_image_folder_sequences,
    read_video_sequences,
)
from siam_tracker_ros.datasets.splits import EVAL_ONLY_MARKER, forbid_eval_split
from siam_tracker_ros.simulation import MOTIONS, SyntheticScene
from siam_tracker_ros.simulation.lt_dev import (
    frames_digest,
    generate,
    parse_recipe,
    recipe_split,
    render_entry,
    resolve_source,
    write_index,
)

RECIPE = ROOT / "config" / "lt_dev" / "recipe.yaml"
CHECK_RECIPE = ROOT / "config" / "lt_dev" / "check_recipe.yaml"
WIDE_RECIPE = ROOT / "config" / "lt_dev" / "wide_recipe.yaml"


def _otb_folder(folder: Path, n: int = 80, seed: int = 0) -> None:
    scene = SyntheticScene(n_frames=n, size=(320, 240), target_size=(24, 24), seed=seed)
    (folder / "img").mkdir(parents=True)
    for i in range(n):
        cv2.imwrite(str(folder / "img" / f"{i + 1:04d}.png"), scene[i])
    (folder / "groundtruth_rect.txt").write_text(
        "".join(",".join(f"{v:g}" for v in box) + "\n" for box in scene.boxes)
    )


@pytest.fixture
def data(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    _otb_folder(root / "sequences" / "Toy")
    _otb_folder(root / "train-videos" / "TrainToy", n=20, seed=1)
    return root


def _recipe(**overrides: Any) -> dict[str, Any]:
    entry = {
        "name": "gen_Toy",
        "source": "sequences/Toy",
        "window": [160, 120],
        "seed": 1,
        "motions": [
            {"follow": {"frames": 10}},
            {"glance": {"out": 4, "hold": 12, "back": 4}},
            {"follow": {"frames": 10}},
            {"occlude": {"enter": 3, "hold": 10, "exit": 3, "kind": "patch"}},
        ],
    }
    entry.update(overrides)
    return {"defaults": {"shake": 1.0}, "sequences": [entry]}


def test_generate_writes_the_dev_lt_layout(data: Path, tmp_path: Path) -> None:
    (entry,) = parse_recipe(_recipe())
    out = tmp_path / "gen"
    summary = generate(entry, data, out)
    folder = out / "gen_Toy"
    assert {p.name for p in folder.iterdir()} == {
        "video.mp4",
        "groundtruth_rect.txt",
        "SOURCE.txt",
        EVAL_ONLY_MARKER,
    }
    assert (out / EVAL_ONLY_MARKER).is_file()
    assert not list(out.glob(".*partial"))
    seq = load_sequence(folder)
    assert len(seq) == 80 and seq.frames[0].shape == (120, 160, 3)
    # the labels are the planned windows' labels: absent for the glance's hold and the cover
    _, script, frames = render_entry(entry, data)
    expected = np.array([gone for _, _, gone in frames])
    np.testing.assert_array_equal(seq.absent, expected)
    assert expected[14:26].all() and expected[43:53].all() and not expected[:10].any()
    assert summary.absent == int(expected.sum()) and summary.returns == 2
    lines = (folder / "groundtruth_rect.txt").read_text().splitlines()
    assert all(line == "0,0,0,0" for line, gone in zip(lines, expected, strict=True) if gone)
    text = (folder / "SOURCE.txt").read_text()
    assert (
        f"frames sha256 (shape + BGR bytes of every rendered frame, in order): {summary.digest}"
        in text
    )
    assert "sequences/Toy" in text and '"seed": 1' in text
    assert "glance direction=" in text.replace("motion=", "")
    # lossless: the frames read back are the rendered ones
    assert frames_digest(seq.frames) == summary.digest
    index, rows = write_index(out, "recipe.yaml")
    assert [r.name for r in rows] == ["gen_Toy"] and "| gen_Toy | sequences/Toy | 80 |" in (
        index.read_text()
    )


def test_same_recipe_same_frames(data: Path, tmp_path: Path) -> None:
    (entry,) = parse_recipe(_recipe())
    a = generate(entry, data, tmp_path / "a")
    b = generate(entry, data, tmp_path / "b")
    assert a.digest == b.digest
    for name in ("video.mp4", "groundtruth_rect.txt"):
        digests = {
            hashlib.sha256((d / "gen_Toy" / name).read_bytes()).hexdigest()
            for d in (tmp_path / "a", tmp_path / "b")
        }
        assert len(digests) == 1, name
    png = generate(entry, data, tmp_path / "png", fmt="png")
    assert png.digest == a.digest  # both formats are lossless
    assert load_sequence(tmp_path / "png" / "gen_Toy").layout == "otb"
    (other,) = parse_recipe(_recipe(seed=2))
    assert generate(other, data, tmp_path / "c").digest != a.digest


def test_a_train_source_is_refused_with_one_clear_error(data: Path, tmp_path: Path) -> None:
    (entry,) = parse_recipe(_recipe(source="train-videos/TrainToy"))
    with pytest.raises(ValueError, match="training footage.*never from train"):
        resolve_source(entry, data)
    with pytest.raises(ValueError, match="training footage"):
        generate(entry, data, tmp_path / "out")
    assert not (tmp_path / "out" / "gen_Toy").exists()
    # a symlink from an allowed folder into train-videos is refused too
    (data / "dev-videos").mkdir()
    (data / "dev-videos" / "Sneaky").symlink_to(data / "train-videos" / "TrainToy")
    (entry,) = parse_recipe(_recipe(source="dev-videos/Sneaky"))
    with pytest.raises(ValueError, match="training footage"):
        resolve_source(entry, data)
    # and anything outside sequences/ and dev-videos/
    (entry,) = parse_recipe(_recipe(source="../elsewhere"))
    with pytest.raises(ValueError, match="not a sequence folder of sequences/ or dev-videos/"):
        resolve_source(entry, data)
    # the command line: exit status 2, one line, nothing written
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump(_recipe(source="train-videos/TrainToy")))
    res = subprocess.run(
        [sys.executable, "scripts/make_lt_dev.py", "--recipe", str(recipe), "--data", str(data)]
        + ["--out", str(tmp_path / "cli")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 2, res.stderr
    errors = [line for line in res.stderr.splitlines() if line.startswith("make_lt_dev:")]
    assert len(errors) == 1 and "training footage" in errors[0]
    assert not (tmp_path / "cli").exists()


def test_the_command_line_generates_and_indexes(data: Path, tmp_path: Path) -> None:
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump(_recipe()))
    out = tmp_path / "cli"
    res = subprocess.run(
        [sys.executable, "scripts/make_lt_dev.py", "--recipe", str(recipe), "--data", str(data)]
        + ["--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr
    assert "gen_Toy: 80 frames 160x120" in res.stdout and "1 sequences, 80 frames" in res.stdout
    assert (out / "INDEX.md").is_file() and (out / "gen_Toy" / "video.mp4").is_file()


def test_a_recipe_writes_its_own_split_and_leaves_the_others_alone(
    data: Path, tmp_path: Path
) -> None:
    """Without ``--out`` the output folder is the recipe's ``split``: generating the check set
    must not drop the dev-lt material as folders "no longer in the recipe"."""
    generated = tmp_path / "generated"
    (dev_entry,) = parse_recipe(_recipe(name="gen_Other"))
    generate(dev_entry, data, generated / "dev-lt-gen")
    recipe = tmp_path / "check.yaml"
    recipe.write_text(yaml.safe_dump({"split": "dev-lt-check", **_recipe(name="chk_Toy")}))
    res = subprocess.run(
        [sys.executable, "scripts/make_lt_dev.py", "--recipe", str(recipe), "--data", str(data)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "SIAM_GENERATED_DIR": str(generated)},
    )
    assert res.returncode == 0, res.stderr
    assert (generated / "dev-lt-check" / "chk_Toy" / "video.mp4").is_file()
    assert (generated / "dev-lt-gen" / "gen_Other" / "video.mp4").is_file()
    assert "removing" not in res.stdout
    assert (generated / "dev-lt-check" / "INDEX.md").read_text().startswith("# dev-lt-check:")
    assert recipe_split(_recipe()) == "dev-lt-gen"
    with pytest.raises(ValueError, match="split 'train'"):
        recipe_split({"split": "train", **_recipe()})


def test_generated_material_is_refused_by_the_training_readers(data: Path, tmp_path: Path) -> None:
    (entry,) = parse_recipe(_recipe())
    out = tmp_path / "gen"
    generate(entry, data, out)
    generate(entry, data, tmp_path / "png", fmt="png")
    cache = tmp_path / "cache"
    for read in (
        lambda: read_video_sequences(out, cache_dir=cache),
        lambda: read_video_sequences(out, cache_dir=cache, names=["gen_Toy"]),
        lambda: read_image_folder_sequences(tmp_path / "png"),
    ):
        with pytest.raises(ValueError, match="generated long-term evaluation material"):
            read()
    assert not cache.exists()
    # the marker travels with a copy, and a folder holding generated material is refused
    copy = tmp_path / "elsewhere" / "mix"
    shutil.copytree(out / "gen_Toy", copy / "gen_Toy")
    with pytest.raises(ValueError, match="EVAL_ONLY"):
        forbid_eval_split(copy)
    with pytest.raises(ValueError, match="EVAL_ONLY"):
        forbid_eval_split(copy / "gen_Toy" / "video.mp4")
    forbid_eval_split(data / "train-videos")  # training footage stays trainable


def test_existing_folders_that_are_not_generated_are_not_overwritten(
    data: Path, tmp_path: Path
) -> None:
    (entry,) = parse_recipe(_recipe())
    (tmp_path / "gen" / "gen_Toy").mkdir(parents=True)
    (tmp_path / "gen" / "gen_Toy" / "mine.txt").write_text("keep")
    with pytest.raises(ValueError, match="not generated material"):
        generate(entry, data, tmp_path / "gen")
    assert (tmp_path / "gen" / "gen_Toy" / "mine.txt").read_text() == "keep"


@pytest.mark.parametrize(
    ("recipe", "message"),
    [
        ({"sequences": [{"name": "a"}]}, "missing 'source'"),
        (_recipe(colour="red"), r"unknown key\(s\) \['colour'\]"),
        (_recipe(window=[160]), "window: must be two whole numbers"),
        (_recipe(range=[5, 2]), "range"),
        (_recipe(motions=[{"glance": {"hold": -1}}]), "glance.hold"),
        ({"sequences": _recipe()["sequences"] * 2}, "duplicate sequence name"),
        ({"sequence": []}, "'sequences' list"),
    ],
)
def test_recipe_errors_name_the_entry_and_key(recipe: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_recipe(recipe)


def test_the_committed_recipe_covers_every_motion_from_the_dev_set_only() -> None:
    entries = parse_recipe(yaml.safe_load(RECIPE.read_text()))
    assert 10 <= len(entries) <= 12
    used = {m.name for e in entries for m in e.motions}
    assert used == set(MOTIONS)
    kinds = {getattr(m, "kind", None) for e in entries for m in e.motions} - {None}
    assert kinds == {"solid", "patch", "blur"}
    assert all(e.source.split("/")[0] in ("sequences", "dev-videos") for e in entries)


def test_the_check_recipe_uses_only_dev_footage_the_dev_lt_material_does_not() -> None:
    """The held-out check set (docs/dev/report.md, LTC1) shares no source with dev-lt."""
    raw = yaml.safe_load(CHECK_RECIPE.read_text())
    assert recipe_split(raw) == "dev-lt-check"
    check = parse_recipe(raw)
    dev = parse_recipe(yaml.safe_load(RECIPE.read_text()))
    assert len(check) >= 10
    assert all(e.source.split("/")[0] in ("sequences", "dev-videos") for e in check)
    assert not {e.source for e in check} & {e.source for e in dev}
    assert not {e.name for e in check} & {e.name for e in dev}
    shared_lt = SHARED / "data" / "dev-lt"
    if shared_lt.is_dir():  # the shared virtual-camera sequences are named vc_<source>
        made_from = {p.name.removeprefix("vc_") for p in shared_lt.iterdir() if p.is_dir()}
        assert not {Path(e.source).name for e in check} & made_from


def test_the_wide_recipe_makes_robot_size_frames_from_dev_lt_sources_only() -> None:
    """``dev-lt-wide`` (docs/dev/report.md, LTW1) may be tuned on, so it must not touch the
    check set's footage; it exists for frames of a robot camera's size with a far re-entry."""
    raw = yaml.safe_load(WIDE_RECIPE.read_text())
    assert recipe_split(raw) == "dev-lt-wide"
    wide = parse_recipe(raw)
    check = parse_recipe(yaml.safe_load(CHECK_RECIPE.read_text()))
    assert len(wide) >= 5
    assert not {e.source for e in wide} & {e.source for e in check}
    assert all(e.source.split("/")[0] in ("sequences", "dev-videos") for e in wide)
    assert all(e.window[0] >= 640 and e.zoom == 1.0 for e in wide)
    assert all(any(m.name == "reenter" for m in e.motions) for e in wide)


@pytest.mark.shared
@pytest.mark.parametrize(
    "recipe", [RECIPE, CHECK_RECIPE, WIDE_RECIPE], ids=["dev-lt", "dev-lt-check", "dev-lt-wide"]
)
def test_the_committed_recipes_resolve_on_the_shared_data(recipe: Path) -> None:
    data = shared_path("data", "dev-videos").parent
    entries = parse_recipe(yaml.safe_load(recipe.read_text()))
    for e in entries:
        assert resolve_source(e, data).parent.name in ("sequences", "dev-videos")
