"""Start-up faults of the real ``tracker_node`` (issue 21.3): a missing, corrupt or empty model
file, CUDA on a machine without it, a string for a double (also next to the shipped params file
that sets the same name, where rclpy alone keeps the file's value: issue 29), an out-of-range
value. Each gives ONE error line that names the parameter or file, says what is wrong and what
to do, no traceback (before: 31-75 lines ending in an unrelated ``AttributeError: ... '_slot'``),
and exit status 1; an unknown parameter is warned about by name. The nodes run in a
loopback-only namespace; the parameter checks themselves are unit-tested below without ROS
processes."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from scenario_support import LAID_OUT, has_tool, run_scenario_script

from siam_tracker_ros.ros.parameters import StartupError
from siam_tracker_ros.ros.tracker_params import SPECS, NodeSettings, check_model_files, check_update
from siam_tracker_ros.testing.isolation import isolation_available

SCENARIOS = Path(__file__).with_name("ros_cli_scenarios.py")


def test_parameter_types_are_enforced_with_one_clear_line() -> None:
    spec = SPECS["output.min_score"]
    with pytest.raises(ValueError) as err:
        spec.coerce("abc")
    line = str(err.value)
    assert "\n" not in line
    assert "output.min_score:='abc' is a string" in line and "double" in line
    assert "-p output.min_score:=0.0" in line  # what to do
    assert spec.coerce(1) == 1.0 and type(spec.coerce(1)) is float  # ROS reads `:=1` as int
    with pytest.raises(ValueError, match=r"debug.heatmap_size=5 outside \[16, 2048\]"):
        SPECS["debug.heatmap_size"].coerce(5)
    with pytest.raises(ValueError, match="is a double, but model.num_threads is a integer"):
        SPECS["model.num_threads"].coerce(1.5)
    with pytest.raises(ValueError, match="one of: best_effort, reliable"):
        SPECS["input.reliability"].coerce("sometimes")


def test_model_files_are_checked_before_loading(tmp_path: Path) -> None:
    empty = tmp_path / "w.pth"
    empty.write_bytes(b"")
    cases = [
        ({"model.checkpoint": str(tmp_path / "nope.pt")}, "model.checkpoint", "not found"),
        ({"model.weights": str(empty)}, "model.weights", "is empty (0 bytes"),
        ({"model.config": str(tmp_path)}, "model.config", "is not a file"),
    ]
    for values, name, what in cases:
        with pytest.raises(StartupError) as err:
            check_model_files(NodeSettings.from_values(values))
        assert str(err.value).startswith(f"{name}:=") and what in str(err.value)
        assert "bundled model" in str(err.value)
    check_model_files(NodeSettings.from_values({}))  # the bundled model: nothing to check


def test_start_up_settings_change_only_while_unconfigured() -> None:
    cur = NodeSettings.from_values({}).as_values()
    update = {"model.checkpoint": "other.pt"}
    assert check_update(cur, update, configured=False) is None  # fix a bad path, configure again
    assert "lifecycle" in check_update(cur, update, configured=True)


@pytest.fixture(scope="module")
def startup(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    if not isolation_available():
        pytest.skip("no loopback-only namespace here")
    return run_scenario_script(
        SCENARIOS, "startup", tmp_path_factory.mktemp("startup"), timeout=150
    )


def _one_error(case: dict[str, Any]) -> str:
    out = case["output"]
    assert case["rc"] == 1, out
    assert "Traceback" not in out and "AttributeError" not in out, out
    errors = [ln for ln in out.splitlines() if "[ERROR]" in ln]
    assert len(errors) == 1, out
    return errors[0]


@pytest.mark.ros
@pytest.mark.parametrize(
    "case, expected",
    [
        ("missing", r"model\.checkpoint:=/nonexistent/model\.pt: file not found"),
        ("corrupt", r"cannot load the model from model\.checkpoint:=\S+corrupt\.pt: \w+: \S"),
        ("empty_weights", r"model\.weights:=\S+empty\.pth: \S+ is empty \(0 bytes"),
        ("bad_type", r"output\.min_score:='abc' is a string, but output\.min_score is a double"),
        ("bad_range", r"debug\.heatmap_size=5 outside \[16, 2048\]"),
        # the same line when the shipped params file also sets the name (issue 29)
        (
            "file_bad_type",
            r"output\.min_score:='abc' is a string, but output\.min_score is a double",
        ),
        (
            "file_quoted",
            r"output\.min_score:='0\.5' is a string, but output\.min_score is a double",
        ),
        (
            "file_bad_int",
            r"input\.buffer_size:='abc' is a string, but input\.buffer_size is a integer",
        ),
        ("no_params_file", r"cannot start: params file /nonexistent/params\.yaml not found"),
        ("bad_yaml", r"params file \S+bad\.yaml is not valid YAML \(.+ at line \d+\)"),
    ],
)
def test_start_up_fault_gives_one_line_and_exit_status_1(
    startup: dict[str, Any], case: str, expected: str
) -> None:
    line = _one_error(startup[case])
    assert re.search(expected, line), line
    assert line.rstrip()[-1] != ":"  # never an empty reason


@pytest.mark.ros
def test_cuda_on_a_cpu_machine_says_so(startup: dict[str, Any]) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    line = _one_error(startup["cuda"])
    assert "model.device:=cuda, but the model cannot run there" in line
    assert "CUDA is not available" in line and "model.device:=cpu" in line


@pytest.mark.ros
def test_unknown_parameter_is_warned_about_by_name(startup: dict[str, Any]) -> None:
    out = startup["bad_type"]["output"]
    warnings = [ln for ln in out.splitlines() if "[WARN]" in ln and "foo.bar" in ln]
    assert len(warnings) == 1 and "unknown parameter 'foo.bar'" in warnings[0], out


def test_a_second_ctrl_c_during_clean_up_does_not_end_the_node_with_a_traceback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A Ctrl-C reaches a launched node twice (the terminal's process group, then ``ros2
    launch``); the second one landing while the clean-up swaps the SIGINT handler used to escape
    as a KeyboardInterrupt traceback (a clean-clone CI run of test_follow_launch). The swap is
    retried until it goes through."""
    import signal

    from siam_tracker_ros.ros import lifecycle_main

    calls: list[object] = []

    def interrupted_twice(signum: int, handler: object) -> object:
        calls.append(handler)
        if len(calls) <= 2:
            raise KeyboardInterrupt
        return signal.SIG_DFL

    monkeypatch.setattr(lifecycle_main.signal, "signal", interrupted_twice)
    lifecycle_main.ignore_sigint_for_cleanup()
    assert calls == [signal.SIG_IGN] * 3


@pytest.fixture(scope="module")
def launch_errors(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    if not isolation_available():
        pytest.skip("no loopback-only namespace here")
    if not has_tool("ros2", "launch_ros") or not LAID_OUT:
        pytest.skip("ROS 2 CLI/launch not installed or the package not laid out")
    return run_scenario_script(
        SCENARIOS, "launch_errors", tmp_path_factory.mktemp("launch_errors"), timeout=200
    )


@pytest.mark.ros
@pytest.mark.slow
def test_ros2_launch_fails_with_status_1_and_one_line(launch_errors: dict[str, Any]) -> None:
    """A params file that does not exist ends the launch at once (ROS's launch only warned and
    started the node on its defaults); a node that cannot start ends it with status 1 (it
    ended with 0: a script or CI could not see the failure)."""
    missing = launch_errors["no_params_file"]
    assert missing["rc"] == 1, missing
    errors = [ln for ln in missing["output"].splitlines() if "[ERROR]" in ln]
    assert len(errors) == 1 and "params_file:=/nonexistent/params.yaml: no such" in errors[0]
    assert "[tracker_node" not in missing["output"]  # nothing started
    device = launch_errors["device_argument"]
    assert device["rc"] == 1, device
    assert "model.device:=cuda" in device["output"]
    assert "tracker_node exited with status 1" in device["output"]


@pytest.mark.ros
@pytest.mark.slow
def test_a_params_file_value_is_not_overridden_by_unset_launch_arguments(
    launch_errors: dict[str, Any],
) -> None:
    run = launch_errors["device_in_params_file"]
    assert "model.device:=cuda" in run["output"], run  # the file's device reached the node
    assert run["rc"] == 1
