"""The managed node driven by the real ``ros2 lifecycle set`` (``ros2 run siam_tracker_ros
tracker_node --ros-args -p autostart:=false``): a corrupt model file leaves it unconfigured with
one error line and the process up; the path is fixed with ``ros2 param set`` and it configures;
``activate`` subscribes to the camera,
``deactivate`` unsubscribes, ``cleanup`` releases the model, ``shutdown`` ends the process.
Skipped when the ROS 2 tools are not installed in the venv (scripts/setup_env.sh installs them
from ../shared/ros) or no loopback-only namespace can be made."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from scenario_support import has_tool, run_scenario_script

from siam_tracker_ros.testing.isolation import isolation_available

SCENARIOS = Path(__file__).with_name("ros_cli_scenarios.py")
TOOLS = has_tool("ros2", "ros2lifecycle")

pytestmark = [
    pytest.mark.ros,
    pytest.mark.slow,
    pytest.mark.skipif(not TOOLS, reason="ROS 2 CLI not installed (scripts/setup_env.sh)"),
]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    if not isolation_available():
        pytest.skip("no loopback-only namespace here")
    work = tmp_path_factory.mktemp("lifecycle")
    result = run_scenario_script(SCENARIOS, "lifecycle", work, timeout=240)
    assert "error" not in result, result
    return result


def _step(run: dict[str, Any], i: int) -> dict[str, Any]:
    return run["steps"][i]


def _new_log(run: dict[str, Any], i: int) -> str:
    """Node output written while step ``i`` ran."""
    before = _step(run, i - 1)["node_log_len"] if i > 0 else 0
    return run["node_log"][before : _step(run, i)["node_log_len"]]


def test_bad_model_leaves_the_node_unconfigured_with_one_error_line(run: dict[str, Any]) -> None:
    get0, configure, get1 = (_step(run, i) for i in range(3))
    assert "unconfigured" in get0["out"]
    assert "Transitioning failed" in configure["out"] + configure["err"], configure
    assert "unconfigured" in get1["out"], get1
    assert run["alive_after_bad_configure"]
    log = run["node_log"]
    errors = [ln for ln in log.splitlines() if "[ERROR]" in ln]
    assert len(errors) == 1 and "model.checkpoint:=" in errors[0], log
    assert "corrupt.pt" in errors[0] and "Traceback" not in log


def test_fixed_parameter_configures(run: dict[str, Any]) -> None:
    set_good, configure = _step(run, 3), _step(run, 4)
    assert "Set parameter successful" in set_good["out"], set_good
    assert "Transitioning successful" in configure["out"], (configure, run["node_log"][-2000:])
    assert "configured: model loaded" in _new_log(run, 4)


def test_activate_subscribes_and_deactivate_stops_all_work(run: dict[str, Any]) -> None:
    activate, info_active, deactivate, info_inactive = (_step(run, i) for i in range(5, 9))
    assert "Transitioning successful" in activate["out"], activate
    assert "Subscription count: 1" in info_active["out"], info_active
    assert "Transitioning successful" in deactivate["out"], deactivate
    assert "inactive: not subscribed" in _new_log(run, 7)
    text = info_inactive["out"] + info_inactive["err"]
    assert "Subscription count: 0" in text or "Unknown topic '/image'" in text, info_inactive


def test_cleanup_releases_the_model_and_shutdown_ends_the_process(run: dict[str, Any]) -> None:
    cleanup, shutdown = _step(run, 9), _step(run, 10)
    assert "Transitioning successful" in cleanup["out"], cleanup
    assert "model released" in _new_log(run, 9)
    assert "Transitioning successful" in shutdown["out"], shutdown
    assert run["exit_rc"] == 0, run["node_log"][-2000:]
    assert "Traceback" not in run["node_log"]
