"""``replay_node``'s mistakes are one line each (a corrupt or empty source, a bad --scale, a
ground truth without the init row), never a traceback. No ROS process is started: the ROS
context is replaced by a stand-in (what fails here fails before anything is published)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from siam_tracker_ros.ros import replay


@pytest.fixture
def no_ros(monkeypatch: pytest.MonkeyPatch) -> None:
    logger = SimpleNamespace(info=print, warning=print, error=print)
    node = SimpleNamespace(get_logger=lambda: logger, destroy_node=lambda: None)
    monkeypatch.setattr(replay.rclpy, "init", lambda **_: None)
    monkeypatch.setattr(replay.rclpy, "create_node", lambda _name: node)
    monkeypatch.setattr(replay.rclpy, "try_shutdown", lambda: None)


def _video(path: Path, frames: int = 3) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
    for i in range(frames):
        writer.write(np.full((48, 64, 3), 40 * i, np.uint8))
    writer.release()
    return path


@pytest.mark.usefixtures("no_ros")
def test_an_unreadable_source_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    corrupt = tmp_path / "bad.mp4"
    corrupt.write_bytes(b"not a video")
    empty = tmp_path / "empty"
    empty.mkdir()
    for source in (corrupt, empty):
        assert replay.main(["replay_node", str(source)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("replay_node: "), err


@pytest.mark.usefixtures("no_ros")
def test_a_groundtruth_without_the_init_row_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    video = _video(tmp_path / "v.avi")
    gt = tmp_path / "gt.txt"
    gt.write_text("1,1,10,10\n")
    rc = replay.main(["replay_node", str(video), "--groundtruth", str(gt), "--init-frame", "2"])
    assert rc == 2
    assert "no box for source frame 2" in capsys.readouterr().err


@pytest.mark.parametrize("bad", [["--scale", "0"], ["--fps", "-1"], ["--start", "-2"]])
def test_bad_numbers_are_refused_by_the_parser(bad: list[str], tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exit_info:
        replay.main(["replay_node", str(tmp_path), *bad])
    assert exit_info.value.code == 2
