"""The ROS 2 workspace install path: ``colcon build`` of this package (ament_cmake: interfaces,
the Python package, node executables, launch and config), using the venv's ROS wheels as the
underlay. It proves the CMakeLists.txt/package.xml pair that a Jazzy/Kilted user builds, and that
the installed ``tracker_node`` starts and tracks with nothing from the source tree on its path
(every runtime dependency it imports is installed, not borrowed from the repository)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from siam_tracker_ros.testing.isolation import IsolationUnavailable, ros_environment, run_isolated

ROOT = Path(__file__).resolve().parents[1]
VENV = Path(sys.prefix)


#: Runs inside the loopback-only namespace with only the install space on PYTHONPATH: starts the
#: installed tracker_node and replay_node executables (a generated video with an init box) and
#: prints what the node published as JSON.
DRIVER = r"""
import json, subprocess, sys, time
from pathlib import Path

import cv2
import numpy as np
import rclpy
from rclpy.executors import SingleThreadedExecutor

import siam_tracker_ros
from siam_tracker_ros.testing.harness import Recorder

prefix, work = Path(sys.argv[1]), Path(sys.argv[2])
# a textured 40x40 square moving right 4 px per frame over a textured background
rng = np.random.default_rng(0)
bg = cv2.resize(rng.integers(0, 256, (30, 40, 3), dtype=np.uint8), (320, 240))
tex = cv2.resize(rng.integers(0, 256, (10, 10, 3), dtype=np.uint8), (40, 40),
                 interpolation=cv2.INTER_NEAREST)
video = work / "moving.avi"
writer = cv2.VideoWriter(str(video), cv2.VideoWriter.fourcc(*"MJPG"), 10.0, (320, 240))
truth = []
for i in range(40):
    frame, x = bg.copy(), 60 + 4 * i
    frame[100:140, x:x + 40] = tex
    writer.write(frame)
    truth.append((x + 20.0, 120.0))
writer.release()

rclpy.init()
node = rclpy.create_node("install_space_probe")
rec = Recorder(node)
executor = SingleThreadedExecutor()
executor.add_node(node)
lib = prefix / "lib" / "siam_tracker_ros"
logs = {n: open(work / f"{n}.log", "w") for n in ("tracker", "replay")}
tracker = subprocess.Popen([str(lib / "tracker_node")], stdout=logs["tracker"],
                           stderr=subprocess.STDOUT)
replay = subprocess.Popen([str(lib / "replay_node"), str(video), "--init-box", "60,100,40,40",
                           "--fps", "10", "--wait-subscribers", "120",
                           "--stamps-out", str(work / "stamps.csv")],
                          stdout=logs["replay"], stderr=subprocess.STDOUT)
end = time.monotonic() + 200
while time.monotonic() < end and replay.poll() is None and tracker.poll() is None:
    executor.spin_once(timeout_sec=0.05)  # a node that exits (no model) ends the wait at once
settle = time.monotonic() + 1.0
while time.monotonic() < settle:
    executor.spin_once(timeout_sec=0.05)
for proc in (replay, tracker):
    if proc.poll() is None:
        proc.send_signal(2)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
frame_of = {}
if (work / "stamps.csv").exists():
    rows = (work / "stamps.csv").read_text().split()[1:]
    frame_of = {int(r.split(",")[1]): int(r.split(",")[0]) for r in rows}
dets = [dict(d, frame=frame_of.get(d["stamp_ns"])) for d in rec.detections]
print(json.dumps({"package": siam_tracker_ros.__file__, "detections": dets, "truth": truth}))
"""


@pytest.mark.slow
def test_colcon_build_installs_a_working_package(tmp_path: Path) -> None:
    colcon = VENV / "bin" / "colcon"
    if not colcon.exists() or not shutil.which("cmake"):
        pytest.skip("colcon or cmake not installed")
    src = tmp_path / "ws" / "src" / "siam_tracker_ros"
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    for rel in files:
        if (ROOT / rel).is_file():
            (src / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, src / rel)
    env = dict(
        os.environ,
        AMENT_PREFIX_PATH=str(VENV),
        CMAKE_PREFIX_PATH=str(VENV),
        PATH=f"{VENV / 'bin'}:{os.environ['PATH']}",
    )
    listed = subprocess.run(
        [str(colcon), "list", "--names-only"],
        cwd=src.parents[1],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    # the vision_msgs stand-in under interfaces/ must never shadow a real vision_msgs in a workspace
    assert listed == ["siam_tracker_ros"]
    res = subprocess.run(
        [
            str(colcon),
            "build",
            "--cmake-args",
            "-G",
            "Ninja",
            f"-DPython3_EXECUTABLE={sys.executable}",
            "-DBUILD_TESTING=OFF",
        ],
        cwd=src.parents[1],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    prefix = src.parents[1] / "install" / "siam_tracker_ros"
    for rel in (
        "lib/siam_tracker_ros/tracker_node",
        "lib/siam_tracker_ros/replay_node",
        "share/siam_tracker_ros/launch/tracker.launch.py",
        "lib/siam_tracker_ros/follow_node",
        "lib/siam_tracker_ros/sim_camera_node",
        "share/siam_tracker_ros/launch/follow.launch.py",
        "share/siam_tracker_ros/launch/sim_follow.launch.py",
        "share/siam_tracker_ros/config/follow.yaml",
        "share/siam_tracker_ros/config/tracker.yaml",
        "share/ament_index/resource_index/packages/siam_tracker_ros",
    ):
        assert (prefix / rel).exists(), rel
    site = (
        prefix
        / "lib"
        / f"python{sys.version_info.major}.{sys.version_info.minor}"
        / "site-packages"
    )
    probe = (
        "import siam_tracker_ros, siam_tracker_ros.msg as m, siam_tracker_ros.core.tracker;"
        "print(siam_tracker_ros.__file__); print(m.TrackerStatus.LOST)"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=dict(env, PYTHONPATH=str(site)),
        check=True,
    ).stdout.split()
    assert out[0].startswith(str(site)) and out[1] == "2"

    _installed_node_tracks(tmp_path, prefix, site, env)


def _installed_node_tracks(tmp_path: Path, prefix: Path, site: Path, env: dict[str, str]) -> None:
    """The installed node gets a detection on target with only the install space importable (the
    part of ``source install/setup.bash`` a Python node needs: PYTHONPATH, libraries, ament)."""
    work = tmp_path / "run"
    work.mkdir()
    driver = work / "driver.py"
    driver.write_text(DRIVER)
    run_env = ros_environment(
        dict(
            env,
            PYTHONPATH=str(site),
            AMENT_PREFIX_PATH=f"{prefix}:{VENV}",
            LD_LIBRARY_PATH=":".join(
                p for p in (str(prefix / "lib"), os.environ.get("LD_LIBRARY_PATH", "")) if p
            ),
            XDG_CACHE_HOME=str(tmp_path / "cache"),  # exported graphs stay in the test's folder
        ),
        log_dir=work / "ros",
    )
    try:
        res = run_isolated(
            [sys.executable, str(driver), str(prefix), str(work)],
            timeout=300,
            env=run_env,
            cwd=work,
        )
    except IsolationUnavailable as exc:
        pytest.skip(f"no loopback-only network namespace here: {exc}")
    logs = "".join(f"\n--- {p.name}\n{p.read_text()[-3000:]}" for p in sorted(work.glob("*.log")))
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-3000:] + logs
    report = json.loads(res.stdout.strip().splitlines()[-1])
    assert report["package"].startswith(str(site)), report["package"]
    assert report["detections"], "no Detection2D from the installed node" + logs
    truth = report["truth"]
    for det in report["detections"]:
        assert det["frame"] is not None, det  # every detection carries a published frame's stamp
        cx, cy = truth[det["frame"]]
        assert abs(det["cx"] - cx) < 12 and abs(det["cy"] - cy) < 12, (det, (cx, cy))
        assert 25 < det["w"] < 60 and 25 < det["h"] < 60, det
