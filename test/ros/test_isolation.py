"""The loopback-only namespace every ROS process of the tests, benches and demo runs in
(``siam_tracker_ros.testing.isolation``): only ``lo``, and where a mount namespace can be made a
``/dev/shm`` of its own, so Fast DDS segments left by a killed process never reach another run."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

import pytest

from siam_tracker_ros.testing.isolation import isolated_command, isolation_available

pytestmark = pytest.mark.skipif(not isolation_available(), reason="no loopback-only namespace")


def _inside(script: str) -> str:
    res = subprocess.run(
        isolated_command(["sh", "-c", script]), capture_output=True, text=True, timeout=30
    )
    assert res.returncode == 0, res.stderr
    return res.stdout


def test_only_loopback_is_up_inside() -> None:
    links = _inside("ip -o link show | awk -F': ' '{print $2}'").split()
    assert links == ["lo"]


def test_a_private_dev_shm_starts_empty_and_keeps_its_files() -> None:
    if "-m" not in isolated_command(["true"]):
        pytest.skip("no mount namespace here: the runs share /dev/shm")
    name = f"fastdds_isolation_check_{uuid.uuid4().hex}"
    outside = Path("/dev/shm") / name
    outside.write_bytes(b"stale")  # what a killed process leaves behind
    try:
        script = f"ls -A /dev/shm; echo made > /dev/shm/{name}_in; echo ${{SIAM_PRIVATE_SHM-done}}"
        listing = _inside(script).split()
        assert listing == ["done"], listing  # nothing from outside, not even the stale file
        assert not (Path("/dev/shm") / f"{name}_in").exists()  # and nothing comes out
    finally:
        outside.unlink()


def test_a_process_killed_by_a_signal_leaves_its_python_stack() -> None:
    """A ROS process that crashes in native code says where (the fault handler is on), so a
    rare crash in CI is never an empty log again."""
    from siam_tracker_ros.testing.isolation import ros_environment

    crash = "import ctypes\ndef deep():\n    ctypes.string_at(0)\ndeep()\n"
    res = subprocess.run(
        isolated_command(["python3", "-c", crash]),
        env=ros_environment(),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert res.returncode != 0
    assert "Fatal Python error: Segmentation fault" in res.stderr, res.stderr
    assert "in deep" in res.stderr  # the Python frame where it happened
