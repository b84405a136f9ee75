"""How the ROS tests and their scenario scripts meet, in one place.

A test runs ``python <script> <scenario> <workdir> [args...]`` inside a loopback-only network
namespace (:func:`run_scenario_script`: every ROS process of the scenario is started from there,
so none can reach a real network); the script (ros_scenarios.py, ros_cli_scenarios.py,
robust_scenarios.py, tunables_scenario.py) dispatches to the scenario and writes what it saw as
``result.json`` in the work folder (:func:`scenario_main`); the test asserts on that JSON only.
Also the checks that decide whether the ROS 2 command-line tools are there to test.

No rclpy import here: the tests import this module before any ROS process exists.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from siam_tracker_ros.testing.isolation import run_isolated

ROOT = Path(__file__).resolve().parents[2]
PREFIX = Path(sys.prefix)
#: the package laid out in the venv prefix as colcon would (scripts/setup_env.sh runs
#: scripts/ros_layout.py): what ``ros2 launch siam_tracker_ros ...`` and ``launch_test`` need
LAID_OUT = (PREFIX / "share" / "siam_tracker_ros" / "launch" / "tracker.launch.py").exists()
NOT_LAID_OUT = (
    "package not laid out in the venv prefix (scripts/setup_env.sh runs scripts/ros_layout.py)"
)


def has_tool(executable: str, module: str) -> bool:
    """True when the ROS 2 tool ``executable`` is installed in the venv with its Python
    ``module`` (scripts/setup_env.sh installs them from ../shared/ros)."""
    return (PREFIX / "bin" / executable).exists() and importlib.util.find_spec(module) is not None


def scenario_main(
    scenarios: Mapping[str, Callable[..., dict[str, Any]]], argv: Sequence[str] | None = None
) -> int:
    """A scenario script's ``main``: ``<scenario> <workdir> [args...]`` runs
    ``scenarios[scenario](workdir, *args)`` and writes its result to ``<workdir>/result.json``."""
    argv = sys.argv[1:] if argv is None else argv
    name, work = argv[0], Path(argv[1])
    work.mkdir(parents=True, exist_ok=True)
    result = scenarios[name](work, *argv[2:])
    (work / "result.json").write_text(json.dumps(result))
    return 0


def run_scenario_script(
    script: Path, name: str, work: Path, *args: str, timeout: float
) -> dict[str, Any]:
    """Run scenario ``name`` of ``script`` in a loopback-only namespace (from the repository
    root) and return its ``result.json``; a failed run fails the test with the script's output."""
    res = run_isolated(
        [sys.executable, str(script), name, str(work), *args], timeout=timeout, cwd=ROOT
    )
    result_file = work / "result.json"
    assert res.returncode == 0 and result_file.exists(), res.stdout[-3000:] + res.stderr[-3000:]
    return dict(json.loads(result_file.read_text()))


def det_box(d: Mapping[str, Any]) -> np.ndarray:
    """``x, y, w, h`` of a recorded detection (the harness records its centre and size)."""
    return np.array([d["cx"] - d["w"] / 2, d["cy"] - d["h"] / 2, d["w"], d["h"]])
