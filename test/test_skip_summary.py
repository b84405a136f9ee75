"""The end of a pytest run names each group of skipped tests and why, one line each (the
``pytest_terminal_summary`` hook in test/conftest.py): checked on a real pytest run of a tiny test
file that skips the way the suite's tests do."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import ROOT, skip_groups

#: pyproject.toml's addopts: -ra (pytest's list of every skip) and the ROS launch tools' pytest
#: plugins kept out; the tiny run has them too
ADDOPTS = ("-ra", "-p", "no:launch_testing", "-p", "no:launch_ros", "-p", "no:launch_pytest")

TINY = """
import pytest
from conftest import shared_path

TOOLS = pytest.mark.skipif(True, reason="ROS 2 CLI not installed (scripts/setup_env.sh)")


@TOOLS
def test_ros2_one() -> None: ...


@TOOLS
def test_ros2_two() -> None: ...


@pytest.mark.skipif(True, reason="launch_testing not installed (scripts/setup_env.sh)")
def test_launch_testing() -> None: ...


def test_shared_data() -> None:
    shared_path("data", "sequences")


@pytest.mark.skipif(True, reason="needs CUDA")
def test_gpu() -> None: ...


def test_something_else() -> None:
    pytest.skip("an unusual reason")


def test_runs() -> None:
    assert True
"""


def test_the_run_ends_with_one_line_per_skipped_group(tmp_path: Path) -> None:
    shutil.copy(ROOT / "test" / "conftest.py", tmp_path / "conftest.py")
    (tmp_path / "test_tiny.py").write_text(TINY)
    env = dict(os.environ, SIAM_SHARED_DIR=str(tmp_path / "no_shared"))
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            *ADDOPTS,
            "-q",
            "test_tiny.py",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    lines = [ln for ln in res.stdout.splitlines() if ln.startswith("skipped: ")]
    assert lines == [
        "skipped: 3 ROS CLI tests (ros2 tools not installed: run scripts/setup_env.sh with "
        "../shared/ros present)",
        "skipped: 1 ../shared test (../shared not present: put it beside the repository or set "
        "SIAM_SHARED_DIR)",
        "skipped: 1 GPU test (no CUDA device here)",
        "skipped: 1 test (an unusual reason)",
    ], res.stdout
    # after pytest's own list of skips (-ra), just above its final count
    last = res.stdout.strip().splitlines()[-1]
    assert "1 passed, 6 skipped" in last, last
    short_summary = res.stdout.index("short test summary info")
    assert short_summary < res.stdout.index(lines[0]) < res.stdout.index(last)


def test_no_line_when_nothing_was_skipped() -> None:
    assert skip_groups([]) == []
    assert skip_groups(["no loopback-only namespace here"] * 2) == [
        "skipped: 2 ROS process tests (no loopback-only network namespace: needs unshare and "
        "ip, and root or user namespaces)"
    ]
