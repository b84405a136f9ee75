#!/usr/bin/env python3
"""Build ROS 2 interfaces into a venv that got ROS from PyPI wheels (the pip-only path).

Builds, with cmake + the rosidl wheels (see ../shared/ros/NOTES.md for the measured recipe):
  1. ``interfaces/vision_msgs`` (vision_msgs 4.x field definitions), unless a real vision_msgs
     is already importable;
  2. this package's ``msg/`` (TrackerStatus, InitTarget) with SIAM_INSTALL_PYTHON=OFF, since pip
     installs the Python package itself.
Each build is skipped when its inputs have not changed since the last successful build (a stamp
file holds their hash), so re-running the set-up is cheap.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _inputs_hash(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for base in paths:
        files = sorted(p for p in base.rglob("*") if p.is_file()) if base.is_dir() else [base]
        for f in files:
            h.update(str(f.relative_to(ROOT)).encode())
            h.update(f.read_bytes())
    return h.hexdigest()


def _importable(venv_python: Path, module: str) -> bool:
    code = f"import {module}"
    return subprocess.run([str(venv_python), "-c", code], capture_output=True).returncode == 0


def _build(src: Path, venv: Path, name: str, inputs: list[Path], extra: list[str]) -> None:
    stamp = venv / f".siam_interfaces_{name}.sha256"
    digest = _inputs_hash(inputs + [Path(__file__)])
    # up to date = same inputs AND the result still imports (something may have deleted it)
    if (
        stamp.exists()
        and stamp.read_text() == digest
        and _importable(venv / "bin" / "python", f"{name}.msg")
    ):
        print(f"[interfaces] {name}: up to date")
        return
    build = venv / "build" / name
    shutil.rmtree(build, ignore_errors=True)
    env = dict(os.environ, AMENT_PREFIX_PATH=str(venv), CMAKE_PREFIX_PATH=str(venv))
    py = venv / "bin" / "python"
    cmake = [
        "cmake",
        "-S",
        str(src),
        "-B",
        str(build),
        "-G",
        "Ninja",
        f"-DCMAKE_INSTALL_PREFIX={venv}",
        f"-DCMAKE_PREFIX_PATH={venv}",
        f"-DPython3_EXECUTABLE={py}",
        "-DBUILD_TESTING=OFF",
        f"-DSIAM_CMAKE_DIR={ROOT / 'cmake'}",
        *extra,
    ]
    print(f"[interfaces] building {name} ...", flush=True)
    for cmd in (cmake, ["cmake", "--build", str(build)], ["cmake", "--install", str(build)]):
        res = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if res.returncode != 0:
            sys.stderr.write(res.stdout[-4000:] + res.stderr[-4000:])
            raise SystemExit(f"[interfaces] {name}: '{' '.join(cmd[:3])}' failed")
    stamp.write_text(digest)


def _site_packages(venv: Path) -> Path:
    rel = Path(sysconfig.get_path("purelib")).relative_to(sysconfig.get_path("data"))
    return venv / rel


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--venv", type=Path, default=ROOT / ".venv")
    args = parser.parse_args()
    venv = args.venv.resolve()
    py = venv / "bin" / "python"
    vision_src = ROOT / "interfaces" / "vision_msgs"
    stamp = venv / ".siam_interfaces_vision_msgs.sha256"
    if stamp.exists() or not _importable(py, "vision_msgs.msg"):
        _build(vision_src, venv, "vision_msgs", [vision_src, ROOT / "cmake"], [])
    else:
        print("[interfaces] vision_msgs: a real package is importable; not building ours")
    _build(
        ROOT,
        venv,
        "siam_tracker_ros",
        [ROOT / "msg", ROOT / "CMakeLists.txt", ROOT / "cmake"],
        ["-DSIAM_INSTALL_PYTHON=OFF"],
    )
    # rosidl writes an empty siam_tracker_ros/__init__.py into site-packages; removing it turns that
    # folder into a namespace portion, so the real (editable) package wins the import and extends
    # its __path__ to the generated msg module (see siam_tracker_ros/__init__.py).
    site = _site_packages(venv)
    stub = site / "siam_tracker_ros" / "__init__.py"
    if stub.exists() and stub.stat().st_size == 0:
        stub.unlink()
    # ...and its egg-info would be a second "siam_tracker_ros" distribution: the next
    # `pip install -e .` uninstalls it first, and with it the whole generated msg folder
    for egg in site.glob("siam_tracker_ros-*.egg-info"):
        shutil.rmtree(egg) if egg.is_dir() else egg.unlink()
    check = "import vision_msgs.msg, siam_tracker_ros.msg as m; print(m.TrackerStatus.LOST)"
    res = subprocess.run([str(py), "-c", check], capture_output=True, text=True)
    if res.returncode != 0:
        sys.stderr.write(res.stderr)
        raise SystemExit("[interfaces] built, but the messages do not import")
    print("[interfaces] vision_msgs and siam_tracker_ros.msg import")
    return 0


if __name__ == "__main__":
    sys.exit(main())
