"""launch/tracker.launch.py, checked WITHOUT launch/launch_ros (they are not installable from any
registry here): the file is executed with small stand-in ``launch``/``launch_ros`` modules in
``sys.modules`` that record every constructor call, and the recorded arguments, parameters and
remappings are asserted. On a ROS install, ``ros2 launch siam_tracker_ros tracker.launch.py``
runs the same file against the real API (same class names and keyword arguments)."""

from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path
from typing import Any

import pytest

from siam_tracker_ros.ros.params import DEFAULT_MODEL_CONFIG, DEFAULT_PARAMS_FILE, SPECS

ROOT = Path(__file__).resolve().parents[2]
LAUNCH_FILE = ROOT / "launch" / "tracker.launch.py"


class Recorded:
    """Stand-in for any launch class: keeps its positional and keyword arguments."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args, self.kwargs = args, kwargs

    def __repr__(self) -> str:
        return f"{type(self).__name__}{self.args}"


def _stub_modules() -> dict[str, types.ModuleType]:
    classes = {
        "launch": ["LaunchDescription"],
        "launch.actions": ["DeclareLaunchArgument", "SetEnvironmentVariable"],
        "launch.conditions": ["IfCondition"],
        "launch.substitutions": ["LaunchConfiguration", "PathJoinSubstitution"],
        "launch_ros": [],
        "launch_ros.actions": ["Node"],
        "launch_ros.substitutions": ["FindPackageShare"],
    }
    mods = {}
    for mod, names in classes.items():
        m = types.ModuleType(mod)
        for n in names:
            setattr(m, n, type(n, (Recorded,), {}))
        mods[mod] = m
    return mods


@pytest.fixture()
def description(monkeypatch: pytest.MonkeyPatch) -> Recorded:
    for name, mod in _stub_modules().items():
        monkeypatch.setitem(sys.modules, name, mod)
    spec = importlib.util.spec_from_file_location("tracker_launch", LAUNCH_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.generate_launch_description()


def _lc(x: Any) -> str:
    assert type(x).__name__ == "LaunchConfiguration", x
    return x.args[0]


def test_launch_arguments(description: Recorded) -> None:
    entities = description.args[0]
    declared = {e.args[0]: e.kwargs for e in entities
                if type(e).__name__ == "DeclareLaunchArgument"}
    assert {"camera_topic", "params_file", "device", "model", "weights"} <= set(declared)
    assert all(kw.get("description") for kw in declared.values())
    assert declared["device"]["default_value"] == SPECS["model.device"].default
    assert declared["model"]["default_value"] == DEFAULT_MODEL_CONFIG
    params = declared["params_file"]["default_value"]
    pkg, *rest = params.args[0]
    assert type(pkg).__name__ == "FindPackageShare" and pkg.args == ("siam_tracker_ros",)
    assert Path(*rest) == DEFAULT_PARAMS_FILE.relative_to(ROOT)  # config/tracker.yaml exists


def test_node_executable_parameters_and_remappings(description: Recorded) -> None:
    nodes = [e for e in description.args[0] if type(e).__name__ == "Node"]
    assert len(nodes) == 1
    kw = nodes[0].kwargs
    assert (kw["package"], kw["executable"]) == ("siam_tracker_ros", "tracker_node")
    assert "tracker_node = siam_tracker_ros.ros.node:main" in (ROOT / "setup.py").read_text()
    params_file, overrides = kw["parameters"]
    assert _lc(params_file) == "params_file"
    assert set(overrides) <= set(SPECS)  # only real, declared parameter names
    assert {k: _lc(v) for k, v in overrides.items()} == {
        "model.config": "model", "model.weights": "weights", "model.device": "device"}
    remaps = dict((src, dst) for src, dst in kw["remappings"])
    assert _lc(remaps["image"]) == "camera_topic"
    cam, suffix = remaps["image/compressed"]
    assert _lc(cam) == "camera_topic" and suffix == "/compressed"
    assert _lc(kw["namespace"]) == "namespace"


def test_fast_dds_profile_is_optional(description: Recorded) -> None:
    env = [e for e in description.args[0] if type(e).__name__ == "SetEnvironmentVariable"]
    assert len(env) == 1 and env[0].args[0] == "FASTDDS_DEFAULT_PROFILES_FILE"
    assert _lc(env[0].kwargs["condition"].args[0]) == "large_shm"
    assert (ROOT / "config" / "fastdds_large_shm.xml").exists()
