"""``siam-tracker``: ``track`` end to end on generated frames and videos (CSV, MOT, the source's
frame rate, ROI selection), and the CLI's error edge (one line on stderr, exit status 2)."""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import ROOT
from core_fakes import textured_sequence

from siam_tracker_ros import cli
from siam_tracker_ros.cli import main
from siam_tracker_ros.core import cli as core_cli
from siam_tracker_ros.core.cli import CSV_COLUMNS, parse_box


def test_parse_box() -> None:
    assert parse_box("1,2.5, 3,4") == (1.0, 2.5, 3.0, 4.0)
    for bad in ("1,2,3", "a,b,c,d", "1,2,3,4,5", "1,2,-3,4", "1,2,3,0", "nan,1,2,3"):
        with pytest.raises(argparse.ArgumentTypeError):
            parse_box(bad)


def test_parse_size() -> None:
    assert cli.parse_size("640x480") == (640, 480) and cli.parse_size("1920X1080") == (1920, 1080)
    for bad in ("640", "640x", "x480", "640x480x3", "0x480", "-1x2", "axb", "6.5x4"):
        with pytest.raises(argparse.ArgumentTypeError):
            cli.parse_size(bad)


def _frames(tmp_path: Path, n: int = 4) -> tuple[Path, str]:
    frames, gt = textured_sequence(n_frames=n, height=160, width=200)
    folder = tmp_path / "frames"
    folder.mkdir()
    for i, f in enumerate(frames):
        cv2.imwrite(str(folder / f"{i:04d}.png"), f)
    x, y, w, h = gt[0]
    return folder, f"{x},{y},{w},{h}"


def _video(tmp_path: Path, fps: float, n: int = 6) -> tuple[Path, np.ndarray]:
    """An MJPG .avi of the textured sequence at ``fps`` and its ground truth."""
    frames, gt = textured_sequence(n_frames=n, height=160, width=200)
    path = tmp_path / "in.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), fps, (200, 160))
    for f in frames:
        writer.write(f)
    writer.release()
    return path, gt


def _count_and_fps(path: Path) -> tuple[int, float]:
    cap = cv2.VideoCapture(str(path))
    fps = float(cap.get(cv2.CAP_PROP_FPS))
    count = 0
    while cap.read()[0]:
        count += 1
    cap.release()
    return count, fps


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
    count, fps = _count_and_fps(out)
    assert count == 4
    assert fps == pytest.approx(core_cli.DEFAULT_FPS)  # an image folder has no rate of its own


def test_track_video_writes_csv_mot_and_keeps_the_frame_rate(tmp_path: Path) -> None:
    video, gt = _video(tmp_path, fps=12.5, n=6)
    out, csv_path, mot_path = tmp_path / "o" / "out.mp4", tmp_path / "b.csv", tmp_path / "m.txt"
    x, y, w, h = gt[0]
    rc = main(
        [
            "track",
            "--video",
            str(video),
            "--init",
            f"{x},{y},{w},{h}",
            "--output",
            str(out),
            "--csv",
            str(csv_path),
            "--mot",
            str(mot_path),
        ]
    )
    assert rc == 0
    count, fps = _count_and_fps(out)
    assert (count, fps) == (6, pytest.approx(12.5))

    with open(csv_path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert [int(r["frame"]) for r in rows] == list(range(6))
    assert [float(r["time"]) for r in rows] == pytest.approx([i / 12.5 for i in range(6)])
    assert rows[0]["state"] == "init"
    assert [float(rows[0][k]) for k in "xywh"] == pytest.approx([x, y, w, h])
    for r, truth in zip(rows[1:], gt[1:], strict=True):
        assert r["state"] in ("tracking", "lost")
        assert r["presence"] in ("0", "1")
        assert 0.0 <= float(r["score"]) <= 1.0
        # the textured target is easy: the tracked centre stays within 10 px of the truth
        box = np.array([float(r[k]) for k in "xywh"])
        assert np.abs((box[:2] + box[2:] / 2) - (truth[:2] + truth[2:] / 2)).max() < 10

    mot = [line.split(",") for line in mot_path.read_text().splitlines()]
    present = [r for r in rows if r["presence"] == "1"]
    assert len(mot) == len(present) >= 1
    for fields, r in zip(mot, present, strict=True):
        assert len(fields) == 10
        assert int(fields[0]) == int(r["frame"]) + 1  # MOT frames are 1-based
        assert fields[1] == "1" and fields[7:] == ["-1", "-1", "-1"]
        assert [float(v) for v in fields[2:6]] == pytest.approx([float(r[k]) for k in "xywh"])
        assert float(fields[6]) == pytest.approx(float(r["score"]))


def test_frame_rate_falls_back_to_30_when_the_source_reports_none() -> None:
    assert core_cli.frame_rate(12.5) == 12.5
    for bad in (0.0, None, float("nan"), -1.0, 90000.0):
        assert core_cli.frame_rate(bad) == core_cli.DEFAULT_FPS == 30.0


def test_select_roi_takes_the_first_frame_box(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a display, the box drawn in OpenCV's ROI window on frame 0 is the init box."""
    video, gt = _video(tmp_path, fps=10.0, n=3)
    x, y, w, h = (int(v) for v in gt[0])
    seen: list[tuple[int, ...]] = []

    def fake_select(title: str, frame: np.ndarray, showCrosshair: bool = True) -> tuple:
        seen.append(frame.shape)
        return (x, y, w, h)

    monkeypatch.setattr(core_cli, "display_problem", lambda: None)
    monkeypatch.setattr(core_cli.cv2, "selectROI", fake_select)
    monkeypatch.setattr(core_cli.cv2, "destroyAllWindows", lambda: None)
    csv_path = tmp_path / "b.csv"
    assert main(["track", "--video", str(video), "--select-roi", "--csv", str(csv_path)]) == 0
    assert seen == [(160, 200, 3)]  # called once, on the first frame
    with open(csv_path, newline="") as fh:
        first = next(csv.DictReader(fh))
    assert [float(first[k]) for k in "xywh"] == [x, y, w, h]


def test_select_roi_without_a_display_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    video, _ = _video(tmp_path, fps=10.0, n=2)
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setattr(core_cli.sys, "platform", "linux")
    assert main(["track", "--video", str(video), "--select-roi"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "needs a display" in err and "--init" in err


def test_select_roi_with_headless_opencv_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISPLAY", ":0")
    monkeypatch.setattr(core_cli.cv2, "getBuildInformation", lambda: "  GUI:    NONE\n")
    problem = core_cli.display_problem()
    assert problem is not None and "headless" in problem


# --------------------------------------------------------------------------- user errors
def _user_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """Run the CLI; assert exit status 2 and exactly one stderr line; return that line."""
    try:
        rc = main(argv)
    except SystemExit as exc:  # argparse's usage errors
        rc = int(exc.code or 0)
    err = capsys.readouterr().err
    assert rc == 2, err
    lines = err.splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith("siam-tracker"), lines[0]
    return lines[0]


#: name -> (arguments with {frames} / {tmp} / {alex} / {init} placeholders, expected text)
USER_ERRORS = {
    "negative width": (
        "track --images {frames} --init 10,10,-5,20",
        "width and height must be > 0",
    ),
    "malformed --init": ("track --images {frames} --init 10,10,20", "expected 4 values"),
    "box outside the image": ("track --images {frames} --init 500,500,20,20", "outside"),
    "missing video": ("track --video {tmp}/nope.mp4 --init {init}", "video not found"),
    "missing weights": (
        "track --images {frames} --init {init} --config {alex} --weights {tmp}/w.pth",
        "w.pth",
    ),
    "YAML without weights": ("track --images {frames} --init {init} --config {alex}", "weights"),
    "missing model file": (
        "track --images {frames} --init {init} --config {tmp}/nope.yaml",
        "model file not found",
    ),
    "empty image folder": ("track --images {tmp}/empty --init {init}", "no images"),
    "images is a file": ("track --images {tmp}/in.avi --init {init}", "not a folder"),
    "missing train config": ("train --config {tmp}/t.yaml", "t.yaml"),
    "missing evaluate data": (
        "evaluate --data {tmp}/nodata --trackers csrt --out {tmp}/r",
        "no such data folder",
    ),
    "missing ablate data": ("ablate --data {tmp}/nodata --out {tmp}/r", "no such data folder"),
    "no source": ("track --init {init}", "one of the arguments --video --images"),
}


@pytest.mark.parametrize("case", list(USER_ERRORS))
def test_user_errors_are_one_line_with_status_2(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder, init = _frames(tmp_path, n=2)
    _video(tmp_path, fps=10.0, n=2)
    (tmp_path / "empty").mkdir()
    template, expected = USER_ERRORS[case]
    alex = ROOT / "config" / "models" / "siamrpn_alex.yaml"
    argv = template.format(frames=folder, tmp=tmp_path, alex=alex, init=init).split()
    line = _user_error(argv, capsys)
    assert expected in line, line


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    """--debug (before or after the command) re-raises the library's own exception."""
    missing = str(tmp_path / "nope.mp4")
    for argv in (
        ["--debug", "track", "--video", missing, "--init", "1,2,3,4"],
        ["track", "--video", missing, "--init", "1,2,3,4", "--debug"],
    ):
        with pytest.raises(FileNotFoundError, match="video not found"):
            main(argv)


def test_console_entry_prints_no_traceback(tmp_path: Path) -> None:
    """The real process: one stderr line and status 2 (not only the in-process function)."""
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "siam_tracker_ros.cli",
            "track",
            "--video",
            "x.mp4",
            "--init",
            "1,2,3,4",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 2
    assert res.stderr == "siam-tracker track: error: video not found: x.mp4\n"


def test_top_level_help_is_for_users(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for command in ("track", "evaluate", "ablate", "train"):
        assert f"\n  {command} " in out
    assert "examples:" in out and "siam-tracker track --video" in out
    assert "add_parser" not in out  # the code's structure is not the user's business
    assert cli.USAGE_ERROR == 2


def test_training_module_entry_has_the_same_error_edge(tmp_path: Path) -> None:
    """``python -m siam_tracker_ros.training`` (what torchrun runs) reports like siam-tracker."""
    res = subprocess.run(
        [sys.executable, "-m", "siam_tracker_ros.training", "--config", "missing.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 2
    assert res.stderr == "siam-tracker train: error: No such file or directory: missing.yaml\n"


def test_track_reads_a_ros2_bag(tmp_path: Path) -> None:
    """--video also takes a ROS 2 bag (through datasets.open_source); CSV time counts from the
    first message (10 Hz here), not from the bag's absolute clock."""
    rosbag2 = pytest.importorskip("rosbags.rosbag2")
    typesys = pytest.importorskip("rosbags.typesys")
    frames, gt = textured_sequence(n_frames=5, height=160, width=200)
    ts = typesys.get_typestore(typesys.Stores.ROS2_HUMBLE)
    image_t, header_t = ts.types["sensor_msgs/msg/Image"], ts.types["std_msgs/msg/Header"]
    time_t = ts.types["builtin_interfaces/msg/Time"]
    bag = tmp_path / "bag"
    with rosbag2.Writer(bag, version=9, storage_plugin=rosbag2.StoragePlugin.MCAP) as writer:
        conn = writer.add_connection("/camera/image", image_t.__msgtype__, typestore=ts)
        for i, img in enumerate(frames):
            t_ns = 1_700_000_000 * 10**9 + i * 100_000_000
            header = header_t(stamp=time_t(sec=t_ns // 10**9, nanosec=t_ns % 10**9), frame_id="c")
            msg = image_t(
                header=header,
                height=160,
                width=200,
                encoding="bgr8",
                is_bigendian=0,
                step=600,
                data=np.ascontiguousarray(img).reshape(-1),
            )
            writer.write(conn, t_ns, ts.serialize_cdr(msg, image_t.__msgtype__))
    x, y, w, h = gt[0]
    csv_path = tmp_path / "b.csv"
    argv = ["track", "--video", str(bag), "--init", f"{x},{y},{w},{h}", "--csv", str(csv_path)]
    assert main(argv) == 0
    with open(csv_path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [float(r["time"]) for r in rows] == pytest.approx([0.1 * i for i in range(5)])
    assert rows[-1]["state"] in ("tracking", "lost")


# --------------------------------------------------------------------------- help texts
def _help(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as exc:
        main([*argv, "--help"])
    assert exc.value.code == 0
    return capsys.readouterr().out


def test_no_help_shows_rest_markup(capsys: pytest.CaptureFixture[str]) -> None:
    """Every command's --help is plain text: no reStructuredText double backticks or roles
    (several commands take their description from a module docstring)."""
    commands = list(cli.build_parser()._subparsers._group_actions[0].choices)  # type: ignore[union-attr]
    assert {"track", "evaluate", "ablate", "train", "init"} <= set(commands)
    for argv in ([], *([c] for c in commands)):
        text = _help(argv, capsys)
        assert "``" not in text and ":func:" not in text, (argv, text)


def test_plain_text_drops_the_markup_only() -> None:
    assert cli.plain_text("see ``docs/x.md`` and :func:`load` (a `quoted` word)") == (
        "see docs/x.md and load (a `quoted` word)"
    )


def test_track_help_lists_every_csv_state(capsys: pytest.CaptureFixture[str]) -> None:
    """The --csv help names each value of the state column, generated from TrackState."""
    text = " ".join(_help(["track"], capsys).split())
    assert core_cli.csv_states() == ("init", "tracking", "lost", "ambiguous")
    assert "state: init, tracking, lost, ambiguous" in text, text


# --------------------------------------------------------------------------- failed runs
#: a failing run -> (arguments with {frames} / {tmp} / {init}, what its error line says)
FAILED_RUNS = {
    "box outside the image": ("--images {frames} --init 500,500,20,20", "outside"),
    "unreadable video": ("--video {tmp}/broken.mp4 --init {init}", "broken.mp4"),
    "a single frame": ("--images {tmp}/one --init {init}", "no frames tracked"),
}


@pytest.mark.parametrize("case", list(FAILED_RUNS))
def test_a_failed_run_leaves_no_output_files(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No header-only CSV, no empty MOT file or video, no folder made for them, and an earlier
    result of the same name is not truncated."""
    folder, init = _frames(tmp_path, n=2)
    (tmp_path / "broken.mp4").write_bytes(b"not a video at all" * 100)
    (tmp_path / "one").mkdir()
    cv2.imwrite(str(tmp_path / "one" / "0000.png"), cv2.imread(str(folder / "0000.png")))
    out = tmp_path / "out"
    earlier = tmp_path / "earlier.csv"
    earlier.write_text("frame,time\n0,0.0\n")
    template, expected = FAILED_RUNS[case]
    argv = ["track", *template.format(frames=folder, tmp=tmp_path, init=init).split()]
    argv += ["--csv", str(out / "b.csv"), "--mot", str(out / "sub" / "m.txt")]
    argv += ["--output", str(tmp_path / "v.mp4")]
    line = _user_error(argv, capsys)
    assert expected in line, line
    assert not out.exists() and not (tmp_path / "v.mp4").exists()
    assert not list(tmp_path.glob(".*partial*"))
    argv[argv.index("--csv") + 1] = str(earlier)
    _user_error(argv, capsys)
    assert earlier.read_text() == "frame,time\n0,0.0\n"


def test_a_good_run_leaves_only_its_outputs(tmp_path: Path) -> None:
    folder, init = _frames(tmp_path, n=3)
    out = tmp_path / "out"
    argv = ["track", "--images", str(folder), "--init", init]
    argv += ["--csv", str(out / "b.csv"), "--mot", str(out / "m.txt")]
    argv += ["--output", str(out / "v.mp4")]
    assert main(argv) == 0
    assert sorted(p.name for p in out.iterdir()) == ["b.csv", "m.txt", "v.mp4"]
    assert len((out / "b.csv").read_text().splitlines()) == 4  # header + 3 frames


def test_an_interrupted_run_keeps_what_it_tracked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C after frame 1: the rows written so far are kept under the final name."""
    folder, init = _frames(tmp_path, n=4)
    real_write = core_cli.ResultWriters.write

    def write_then_interrupt(self: core_cli.ResultWriters, index: int, *args: object) -> None:
        real_write(self, index, *args)  # type: ignore[arg-type]
        if index == 1:
            raise KeyboardInterrupt

    monkeypatch.setattr(core_cli.ResultWriters, "write", write_then_interrupt)
    csv_path = tmp_path / "b.csv"
    assert main(["track", "--images", str(folder), "--init", init, "--csv", str(csv_path)]) == 130
    rows = csv_path.read_text().splitlines()
    assert rows[0] == ",".join(CSV_COLUMNS) and [r.split(",")[0] for r in rows[1:]] == ["0", "1"]


@pytest.mark.parametrize("x, y", [(0, 0), (170, 0), (170, 130), (0, 130), (185, 60), (60, 158)])
def test_track_video_score_stays_inside_the_frame(
    x: int, y: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--output's score label is drawn whole even for a box at an edge or corner (or past it)."""
    drawn: list[tuple[str, tuple[int, int], float]] = []
    real_put_text = core_cli.cv2.putText

    def put_text(img: np.ndarray, text: str, org: tuple[int, int], font: int, scale: float, *a):  # type: ignore[no-untyped-def]
        drawn.append((text, org, scale))
        return real_put_text(img, text, org, font, scale, *a)

    monkeypatch.setattr(core_cli.cv2, "putText", put_text)
    frame = np.full((160, 200, 3), 128, np.uint8)
    core_cli.draw(frame, np.array([x, y, 30, 30], float), True, 0.87)
    ((text, (tx, ty), scale),) = drawn
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    assert text == "0.87"
    assert 0 <= tx and tx + tw < 200 and ty - th >= 0 and ty + base < 160, (tx, ty, tw, th)
