"""The ROS 2 workspace install path: ``colcon build`` of this package (ament_cmake: interfaces,
the Python package, node executables, launch and config), using the venv's ROS wheels as the
underlay. It proves the CMakeLists.txt/package.xml pair that a Jazzy/Kilted user builds."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
VENV = Path(sys.prefix)


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
