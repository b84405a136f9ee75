"""The simulator's world without ROS (ros/follow_sim.py): the generated follow scene needs
following (a fixed window loses the target), sequences are cut to a range with one clear error
for a bad one, and the log's measures are what the closed-loop tests assert on; and the follow
demo (scripts/run_follow_demo.py) writes a video, frames and a plot a person can look at."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import ROOT

from siam_tracker_ros.ros.follow_sim import (
    LOG_FIELDS,
    LogRow,
    SimLog,
    follow_scene,
    make_gimbal,
    open_source,
    read_log,
    summarize,
)
from siam_tracker_ros.testing.isolation import isolation_available


def test_a_fixed_window_loses_the_generated_target_for_a_third_of_the_time() -> None:
    gimbal = make_gimbal(follow_scene(240), (480, 270))
    seen = [not gimbal.step(0.0, 0.0, 1 / 30).absent for _ in range(239)]
    assert 0.55 < np.mean(seen) < 0.75
    assert gimbal.camera.scene_size == (1280, 720)


def test_open_source_cuts_a_range_and_refuses_a_bad_one() -> None:
    seq = open_source(None, 10, 20)
    assert len(seq.groundtruth) == 20 and len(seq.frames) == 20
    np.testing.assert_array_equal(seq.groundtruth[0], follow_scene(240).groundtruth[10])
    assert seq.frames[0].shape == (720, 1280, 3)
    with pytest.raises(ValueError, match="past the sequence"):
        open_source(None, 230, 20)
    with pytest.raises(ValueError, match="outside"):
        open_source(None, 240)


def test_the_log_round_trips_and_its_measures(tmp_path: Path) -> None:
    gimbal = make_gimbal(follow_scene(20), (480, 270))
    log = SimLog(tmp_path / "sim.csv")
    view = gimbal.view()
    for i in range(20):
        state = gimbal.state()
        nxt = gimbal.step(3.0 if i >= 10 else 0.0, 0.0, 1 / 30)  # swing away from frame 10 on
        latency = 20.0 + i if i % 2 == 0 else math.nan
        log.write(LogRow(i, i, state, view, 480, 270, (0.0, 0.0), 0, (0.0, 0.0), latency, "x", 0))
        view = nxt
    log.close()
    rows = read_log(tmp_path / "sim.csv")
    assert list(rows[0]) == list(LOG_FIELDS) and len(rows) == 20
    s = summarize(rows)
    absent = [r["absent"] == "1" for r in rows]
    assert s["in_view"] == pytest.approx(1 - np.mean(absent)) and 0 < s["in_view"] < 1
    err = [abs(float(r["error_x"])) for r, a in zip(rows, absent, strict=True) if not a]
    assert s["mean_abs_error_x"] == pytest.approx(np.mean(err))
    assert s["latency_frames"] == 10 and s["latency_p50_ms"] == pytest.approx(29.0)
    assert s["paced_by"] == {"x": 20} and summarize(rows, skip=20) == {"frames": 0}


@pytest.mark.ros
@pytest.mark.skipif(not isolation_available(), reason="no loopback-only namespace here")
def test_the_follow_demo_writes_a_video_frames_and_a_plot(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    res = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "run_follow_demo.py"),
            "--source",
            "",
            "--frames",
            "20",
            "--png-every",
            "10",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=ROOT,
    )
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert "follower on : target in view" in res.stdout and str(out / "follow.mp4") in res.stdout
    video = cv2.VideoCapture(str(out / "follow.mp4"))
    assert int(video.get(cv2.CAP_PROP_FRAME_COUNT)) == 20
    ok, frame = video.read()
    assert ok and frame.shape == (432, 768, 3)  # 384x216 window, scaled x2
    assert sorted(p.name for p in (out / "frames").glob("*.png")) == ["0000.png", "0010.png"]
    plot = cv2.imread(str(out / "centring_error.png"))
    assert plot is not None and plot.shape[0] > 300
    summary = json.loads((out / "summary.json").read_text())
    assert summary["frames"] == 20 and summary["follow"]["in_view"] >= 0.95
    assert summary["tracker_on_target"] >= 0.9
