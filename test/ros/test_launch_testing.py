"""Runs the ROS-style launch_testing integration test (launch_tests/tracker_node.launch.py:
tracker.launch.py brings the node up, a generated video with a stamped init goes in, the
Detection2DArray must follow the target, every process must exit cleanly) with the real
``launch_test`` inside a loopback-only namespace. Skipped when launch_testing is not installed
in the venv (scripts/setup_env.sh installs it from ../shared/ros)."""

from __future__ import annotations

from pathlib import Path

import pytest
from scenario_support import LAID_OUT, NOT_LAID_OUT, has_tool, run_scenario_script

from siam_tracker_ros.testing.isolation import isolation_available

SCENARIOS = Path(__file__).with_name("ros_cli_scenarios.py")
TOOLS = has_tool("launch_test", "launch_ros")

pytestmark = [
    pytest.mark.ros,
    pytest.mark.slow,
    pytest.mark.skipif(not TOOLS, reason="launch_testing not installed (scripts/setup_env.sh)"),
    pytest.mark.skipif(not LAID_OUT, reason=NOT_LAID_OUT),
    pytest.mark.skipif(not isolation_available(), reason="no loopback-only namespace here"),
]


def test_launch_testing_tracker_node(tmp_path: Path) -> None:
    r = run_scenario_script(SCENARIOS, "launch_testing", tmp_path, timeout=300)
    report = r["out"] + r["err"]
    assert r["rc"] == 0, report[-5000:]
    # both the active test and the post-shutdown exit-code check ran (and passed)
    assert "test_detections_follow_the_target" in report and "test_exit_codes" in report, report
    assert "Ran 1 test" in report and "FAILED" not in report, report[-5000:]
