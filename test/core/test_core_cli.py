"""``siam-tracker track`` end to end on a small image folder."""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import pytest
from conftest import ROOT
from core_fakes import textured_sequence

from siam_tracker_ros.cli import main
from siam_tracker_ros.core.cli import parse_box


def test_parse_box() -> None:
    assert parse_box("1,2.5, 3,4") == (1.0, 2.5, 3.0, 4.0)
    for bad in ("1,2,3", "a,b,c,d", "1,2,3,4,5"):
        with pytest.raises(argparse.ArgumentTypeError):
            parse_box(bad)


def _frames(tmp_path: Path) -> tuple[Path, str]:
    frames, gt = textured_sequence(n_frames=4, height=160, width=200)
    folder = tmp_path / "frames"
    folder.mkdir()
    for i, f in enumerate(frames):
        cv2.imwrite(str(folder / f"{i:04d}.png"), f)
    x, y, w, h = gt[0]
    return folder, f"{x},{y},{w},{h}"


def test_track_images_writes_video(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """No --config: the bundled model (ONNX Runtime, here with 2 threads)."""
    folder, init = _frames(tmp_path)
    out = tmp_path / "out.mp4"
    rc = main(
        [
            "track",
            "--images",
            str(folder),
            "--init",
            init,
            "--output",
            str(out),
            "--device",
            "cpu",
            "--threads",
            "2",
        ]
    )
    assert rc == 0
    assert "tracked 3 frames on cpu" in capsys.readouterr().out
    cap = cv2.VideoCapture(str(out))
    count = 0
    while cap.read()[0]:
        count += 1
    cap.release()
    assert count == 4


def test_track_refuses_a_config_without_weights(tmp_path: Path) -> None:
    """A YAML that names no weights would track on random weights: refused, naming the file."""
    config = ROOT / "config" / "models" / "siamrpn_alex.yaml"
    folder, init = _frames(tmp_path)
    with pytest.raises(ValueError, match="names no model.weights"):
        main(["track", "--config", str(config), "--images", str(folder), "--init", init])


def test_track_reports_missing_inputs(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no images"):
        main(["track", "--images", str(tmp_path / "empty"), "--init", "1,2,3,4"])
    with pytest.raises(FileNotFoundError, match="model file not found"):
        main(
            [
                "track",
                "--config",
                str(tmp_path / "nope.yaml"),
                "--images",
                str(tmp_path),
                "--init",
                "1,2,3,4",
            ]
        )
    with pytest.raises(SystemExit):
        main(["track", "--init", "1,2,3,4"])  # no source
