#!/usr/bin/env python3
"""Lay the package out in a venv prefix the way ``colcon build --symlink-install`` would.

``ros2 launch siam_tracker_ros tracker.launch.py`` and ``ros2 run siam_tracker_ros tracker_node``
find a package through the ament index under ``AMENT_PREFIX_PATH`` and need, in that prefix:

  share/ament_index/resource_index/packages/siam_tracker_ros   (the index entry)
  share/siam_tracker_ros/package.xml, launch/, config/          (launch + parameter files)
  lib/siam_tracker_ros/tracker_node, replay_node                (the executables)

``pip install -e .`` installs none of these (an editable install skips ``data_files``), so the
pip path (scripts/setup_env.sh) runs this script after it. The files of ``launch/`` and
``config/`` are symlinked one by one into the checkout, like ``--symlink-install`` (``ros2 launch``
finds launch files with ``os.walk``, which does not enter a symlinked directory), so an edited
launch or parameter file is used at once; rerun it after adding a file. Real files left there by
a non-editable ``pip install .`` are kept. The executables
are two-line wrappers that run the venv's own interpreter, so they work whether or not the venv
is activated. Idempotent and silent unless something changed.

    python scripts/ros_layout.py --prefix .venv
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "siam_tracker_ros"
#: executable name -> module whose ``main()`` it runs
EXECUTABLES = {
    "tracker_node": "siam_tracker_ros.ros.node",
    "replay_node": "siam_tracker_ros.ros.replay",
    "follow_node": "siam_tracker_ros.ros.follow_node",
    "sim_camera_node": "siam_tracker_ros.ros.sim_camera_node",
}


def _link(target: Path, link: Path) -> bool:
    """Point ``link`` at ``target`` (replacing a stale symlink, keeping a real directory)."""
    if link.is_symlink():
        if Path(os.readlink(link)) == target:
            return False
        link.unlink()
    elif link.exists():
        return False
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(target, target_is_directory=target.is_dir())
    return True


def _write(path: Path, text: str, mode: int = 0o644) -> bool:
    if path.is_file() and not path.is_symlink() and path.read_text() == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_symlink():
        path.unlink()
    path.write_text(text)
    path.chmod(mode)
    return True


def install_layout(prefix: Path, python: Path, root: Path = ROOT) -> list[str]:
    """Create the colcon layout for this checkout under ``prefix``; returns what changed."""
    changed: list[str] = []
    index = prefix / "share" / "ament_index" / "resource_index" / "packages" / PACKAGE
    if not index.exists():
        _write(index, "")
        changed.append(str(index.relative_to(prefix)))
    share = prefix / "share" / PACKAGE
    # package.xml: the interfaces build (cmake) installs a copy; it is kept when present
    files = [root / "package.xml"]
    for folder in ("launch", "config"):
        if (share / folder).is_symlink():  # an older layout linked the whole folder
            (share / folder).unlink()
        files += sorted(
            p for p in (root / folder).rglob("*") if p.is_file() and "__pycache__" not in p.parts
        )
    for src in files:
        rel = src.relative_to(root)
        if _link(src, share / rel):
            changed.append(f"share/{PACKAGE}/{rel}")
    for folder in ("launch", "config"):  # links to files removed from the checkout
        for link in (share / folder).rglob("*"):
            if link.is_symlink() and not link.exists():
                link.unlink()
                changed.append(f"-share/{PACKAGE}/{link.relative_to(share)}")
    for exe, module in EXECUTABLES.items():
        text = (
            f"#!{python}\n"
            f'"""{exe} of {PACKAGE} (written by scripts/ros_layout.py)."""\n'
            f"import sys\n\nfrom {module} import main\n\nsys.exit(main())\n"
        )
        if _write(prefix / "lib" / PACKAGE / exe, text, 0o755):
            changed.append(f"lib/{PACKAGE}/{exe}")
    return changed


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--prefix",
        type=Path,
        default=Path(sys.prefix),
        help="install prefix (the venv; default: this interpreter's)",
    )
    parser.add_argument(
        "--python",
        type=Path,
        default=None,
        help="interpreter for the executables (default: PREFIX/bin/python)",
    )
    args = parser.parse_args()
    prefix = args.prefix.absolute()
    python = args.python or prefix / "bin" / "python"
    changed = install_layout(prefix, python)
    if changed:
        shown = ", ".join(changed[:4]) + (
            f" and {len(changed) - 4} more" if len(changed) > 4 else ""
        )
        print(f"[ros-layout] {PACKAGE} laid out in {prefix}: {shown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
