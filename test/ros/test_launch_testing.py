"""Runs the ROS-style launch_testing integration test (launch_tests/tracker_node.launch.py:
tracker.launch.py brings the node up, a generated video with a stamped init goes in, the
Detection2DArray must follow the target, every process must exit cleanly) with the real
``launch_test`` inside a loopback-only namespace. Skipped when launch_testing is not installed
in the venv (scripts/setup_env.sh installs it from ../shared/ros)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from siam_tracker_ros.ros.isolation import isolation_available, run_isolated

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = Path(__file__).with_name("ros_cli_scenarios.py")
PREFIX = Path(sys.prefix)
TOOLS = (PREFIX / "bin" / "launch_test").exists() and importlib.util.find_spec(
    "launch_ros"
) is not None
LAID_OUT = (PREFIX / "share" / "siam_tracker_ros" / "launch" / "tracker.launch.py").exists()

pytestmark = [
    pytest.mark.ros,
    pytest.mark.slow,
    pytest.mark.skipif(not TOOLS, reason="launch_testing not installed (scripts/setup_env.sh)"),
    pytest.mark.skipif(
        not LAID_OUT,
        reason="package not laid out in the venv prefix "
        "(scripts/setup_env.sh runs scripts/ros_layout.py)",
    ),
    pytest.mark.skipif(not isolation_available(), reason="no loopback-only namespace here"),
]


def test_launch_testing_tracker_node(tmp_path: Path) -> None:
    res = run_isolated(
        [sys.executable, str(SCENARIOS), "launch_testing", str(tmp_path)], timeout=300, cwd=ROOT
    )
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    r = json.loads((tmp_path / "result.json").read_text())
    report = r["out"] + r["err"]
    assert r["rc"] == 0, report[-5000:]
    # both the active test and the post-shutdown exit-code check ran (and passed)
    assert "test_detections_follow_the_target" in report and "test_exit_codes" in report, report
    assert "Ran 1 test" in report and "FAILED" not in report, report[-5000:]
