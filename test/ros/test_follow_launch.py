"""The follow launch files as a user starts them (``ros2 launch``, the venv laid out as colcon
does; follow_scenarios.py ``launch``, inside a loopback-only namespace): ``sim_follow.launch.py``
closes the loop on the generated scene and ends by itself when the footage has played;
``follow.launch.py`` with every topic remapped (camera, camera_info, cmd_vel, gimbal) closes the
same loop through a simulator publishing under those names, and Ctrl-C ends it with the
follower's final zero. Skipped when the ROS 2 tools are not installed in the venv."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from scenario_support import LAID_OUT, NOT_LAID_OUT, has_tool, run_scenario_script

from siam_tracker_ros.testing.isolation import isolation_available

SCENARIOS = Path(__file__).with_name("follow_scenarios.py")
pytestmark = [
    pytest.mark.ros,
    pytest.mark.slow,
    pytest.mark.skipif(
        not has_tool("ros2", "launch_ros"),
        reason="ROS 2 CLI/launch not installed (scripts/setup_env.sh)",
    ),
    pytest.mark.skipif(not LAID_OUT, reason=NOT_LAID_OUT),
    pytest.mark.skipif(not isolation_available(), reason="no loopback-only namespace here"),
]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return run_scenario_script(
        SCENARIOS, "launch", tmp_path_factory.mktemp("follow_launch"), timeout=360
    )


def test_sim_follow_launch_closes_the_loop_and_ends_with_the_footage(run: dict[str, Any]) -> None:
    log = run["sim_follow_log"]
    assert run["sim_follow_rc"] == 0, log
    for node in ("sim_camera_node-1", "tracker_node-2", "follow_node-3"):
        assert f"[{node}]" in log, log
    assert "footage played: shutting down" in log and "stopped: shutdown" in log, log
    s = run["sim_follow"]
    assert s["frames"] == 60 and s["in_view"] >= 0.95 and s["mean_abs_error_x"] <= 0.15, s
    assert "Traceback" not in log


def test_follow_launch_remaps_every_topic_and_stops_on_ctrl_c(run: dict[str, Any]) -> None:
    log = run["follow_launch_log"]
    assert run["sim_rc"] == 0 and run["follow_launch_rc"] == 0, log
    assert "waiting for images on /cam/image_raw" in log and "following track-1" in log, log
    s = run["follow"]  # the simulator moved only by commands on /robot/gimbal_cmd
    assert s["frames"] == 60 and s["in_view"] >= 0.95 and s["mean_abs_error_x"] <= 0.15, s
    assert s["latency_frames"] >= 55, s
    assert "stopped: shutdown" in log and "Traceback" not in log, log
