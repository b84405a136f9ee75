"""The shared parameter machinery a second node builds on (issue 25): tables and settings
(``ros/parameters.py``), the command line as rcl reads it (``ros/ros_args.py``) and the binding
to a real rclpy node (``ros/node_parameters.py``).

The plain-data parts are tested here without ROS; the binding is tested on a small node made
only of the shared parts (test/ros/param_node_scenario.py), in real rclpy contexts inside a
loopback-only namespace. Issue 29's silent drop (a wrong-typed ``-p`` next to a params file that
sets the same name) is refused there and on the real tracker_node (test_lifecycle_startup.py).
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import pytest
from scenario_support import run_scenario_script

from siam_tracker_ros.ros.parameters import ParamSpec, ParamTable, Settings, settings_for
from siam_tracker_ros.ros.ros_args import (
    given_parameters,
    load_params_file,
    node_arguments,
    node_matches,
    params_file_problem,
    rcl_value,
    ros_arguments,
)
from siam_tracker_ros.ros.tracker_params import DEFAULT_PARAMS_FILE, SPECS
from siam_tracker_ros.testing.isolation import isolation_available

SCENARIO = Path(__file__).with_name("param_node_scenario.py")
TABLE = ParamTable(
    (
        ParamSpec("gain", 1.0, "Yaw gain.", True, range=(0.0, 5.0)),
        ParamSpec("io.limit", 10, "Queue depth.", False, range=(1, 100)),
    ),
    fixed_reason="the subscriptions are set up once",
)


# ------------------------------------------------------------------ tables and settings
def test_a_hand_written_settings_class_binds_to_its_table() -> None:
    @settings_for(TABLE)
    @dataclasses.dataclass(frozen=True)
    class FollowSettings(Settings):
        gain: float
        io_limit: int

    s = FollowSettings.from_values({"gain": 2.0})
    assert (s.gain, s.io_limit) == (2.0, 10) and s.as_values() == {"gain": 2.0, "io.limit": 10}
    with pytest.raises(ValueError, match=r"gain=9.0 outside \[0.0, 5.0\]"):
        FollowSettings.from_values({"gain": 9.0})
    with pytest.raises(ValueError, match="unknown parameters"):
        FollowSettings.from_values({"nope": 1})

    with pytest.raises(TypeError, match=r"missing \['io_limit'\]"):

        @settings_for(TABLE)
        @dataclasses.dataclass(frozen=True)
        class Half(Settings):
            gain: float


def test_a_generated_settings_class_is_frozen_and_typed_by_the_defaults() -> None:
    cls = TABLE.settings_class("Generated")
    s = cls.from_values({"io.limit": 20})
    assert s.as_values() == {"gain": 1.0, "io.limit": 20}
    assert {f.name: f.type for f in dataclasses.fields(s)} == {"gain": float, "io_limit": int}
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.gain = 2.0  # type: ignore[attr-defined]


def test_run_time_rules_come_from_the_table() -> None:
    cur = TABLE.settings_class("S").from_values({}).as_values()
    assert TABLE.check_update(cur, {"gain": 2.0}) is None
    reason = TABLE.check_update(cur, {"io.limit": 20})
    assert reason is not None and "the subscriptions are set up once" in reason
    assert TABLE.check_update(cur, {"io.limit": 20}, configured=False) is None
    assert TABLE.check_update(cur, {"io.limit": 10}) is None  # unchanged
    assert TABLE.check_update(cur, {"other": 1}) == "unknown parameter other"
    with pytest.raises(ValueError, match="unique"):
        ParamTable((TABLE["gain"], TABLE["gain"]), fixed_reason="")


def test_examples_in_refusals_are_valid_values() -> None:
    """A type-only spec (late parameters: the default is a placeholder) still suggests a value
    inside its range or words."""
    placeholder = ParamSpec("k", 0, "k", True, range=(1, 9))
    with pytest.raises(ValueError, match=r"set e\.g\. -p k:=1$"):
        placeholder.coerce("abc")
    words = ParamSpec("w", "", "w", True, choices=("a", "b"))
    assert words.example() == "a"
    assert SPECS["output.min_score"].example() == "0.0"


# ------------------------------------------------------------------ the command line
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("abc", "abc"),
        ("'0.5'", "0.5"),  # quoted: a string, whatever it looks like
        ('"true"', "true"),
        ("0.5", 0.5),
        ("1", 1),
        ("1e-3", 1e-3),  # strtod reads it (PyYAML's YAML 1.1 would say: a string)
        ("0x1f", 31),
        ("017", 15),  # strtol base 0: octal
        ("y", True),  # rcl's bool words include y/n (PyYAML's do not)
        ("Off", False),
        ("-.inf", -math.inf),
        ("1e999", "1e999"),  # strtod overflows: rcl keeps the text
        ("9223372036854775808", 9223372036854775808.0),  # strtol overflows, strtod reads it
        ("[1, 2]", [1, 2]),
        ("0.5  # comment", 0.5),
        ("", None),
    ],
)
def test_override_values_are_typed_as_rcl_types_them(text: str, expected: Any) -> None:
    value = rcl_value(text)
    assert type(value) is type(expected) and value == expected


def test_ros_arguments_are_read_inside_ros_args_sections_only() -> None:
    argv = ["prog", "-p", "x:=1", "--ros-args", "-r", "-p:=q", "-p", "a:=1"]
    argv += ["--params-file", "f.yaml", "--", "-p", "b:=2", "--ros-args", "--param", "c:=3"]
    assert list(ros_arguments(argv)) == [
        ("-p", "a:=1"),
        ("--params-file", "f.yaml"),
        ("-p", "c:=3"),
    ]


def test_a_node_reads_the_process_arguments_then_its_own() -> None:
    """As rclpy: global ``--ros-args`` (unless ``use_global_arguments=False``), then the node's
    ``cli_args``."""
    argv = ["prog", "--ros-args", "-p", "a:=1"]
    own = {"cli_args": ["--ros-args", "-p", "b:=2"]}
    assert list(ros_arguments(node_arguments(argv, own))) == [("-p", "a:=1"), ("-p", "b:=2")]
    alone = {**own, "use_global_arguments": False}
    assert list(ros_arguments(node_arguments(argv, alone))) == [("-p", "b:=2")]


@pytest.mark.parametrize(
    ("pattern", "fqn", "matches"),
    [
        ("/**", "/ns/tracker_node", True),
        ("tracker_node", "/tracker_node", True),
        ("tracker_node", "/ns/tracker_node", False),
        ("/**/tracker_node", "/ns/tracker_node", True),
        ("/ns/*", "/ns/tracker_node", True),
        ("/*", "/ns/tracker_node", False),
        ("follow_node", "/tracker_node", False),
    ],
)
def test_sections_and_node_prefixes_match_like_rclpy(pattern: str, fqn: str, matches: bool) -> None:
    assert node_matches(pattern, fqn) is matches


def test_given_values_keep_command_line_order_and_their_source(tmp_path: Path) -> None:
    f = tmp_path / "p.yaml"
    f.write_text(
        "/**:\n  ros__parameters:\n    output: {min_score: 0.0}\n"
        "/other_node:\n  ros__parameters:\n    output: {min_score: 0.9}\n"
    )
    argv = ["n", "--ros-args", "--params-file", str(f), "-p", "output.min_score:='0.5'"]
    argv += ["-p", "other_node:output.min_score:=abc", "-p", "tracker_node:log.throttle_s:=1"]
    given = given_parameters(argv, "/tracker_node")
    assert [(g.value, g.source) for g in given["output.min_score"]] == [
        (0.0, f"params file {f}"),
        ("0.5", "-p"),
    ]
    assert [g.value for g in given["log.throttle_s"]] == [1]


def test_the_shipped_params_file_is_read_with_rcl_types() -> None:
    values = load_params_file(DEFAULT_PARAMS_FILE)
    assert values["model.config"] == "" and values["model.num_threads"] == 0
    assert values["output.min_score"] == 0.0 and type(values["output.min_score"]) is float
    assert set(values) == set(SPECS)


def test_a_bad_params_file_is_named_before_rclpy_starts(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("/**: {ros__parameters: {a: [1, 2}}\n")
    assert params_file_problem(["n", "--ros-args", "--params-file", "/no/such.yaml"]) == (
        "params file /no/such.yaml not found"
    )
    problem = params_file_problem(["n", "--ros-args", "--params-file", str(bad)])
    assert problem is not None and "is not valid YAML" in problem and "line 1" in problem
    assert (
        params_file_problem(["n", "--ros-args", "--params-file", str(DEFAULT_PARAMS_FILE)]) is None
    )


# ------------------------------------------------------------------ a real node
@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    if not isolation_available():
        pytest.skip("no loopback-only namespace here")
    return run_scenario_script(SCENARIO, "params", tmp_path_factory.mktemp("params"), timeout=150)


@pytest.mark.ros
def test_the_table_is_declared_with_descriptors(demo: dict[str, Any]) -> None:
    d = demo["defaults"]
    assert d["problems"] == {} and d["log"] == []
    gain, limit, mode = (d["declared"][n] for n in ("gain", "limit", "mode"))
    assert (
        gain["value"] == 1.0 and gain["range"] == [0.0, 5.0] and "Yaw rate" in gain["description"]
    )
    assert limit["value"] == 10 and limit["range"] == [1, 100]
    assert mode["value"] == "stop"
    assert "use_sim_time" in d["declared"]  # rclpy's own stay


@pytest.mark.ros
@pytest.mark.parametrize(
    ("case", "name", "line"),
    [
        ("plain_bad", "gain", "parameter gain:='abc' is a string, but gain is a double"),
        # rclpy itself would silently keep the params file's value here (issue 29)
        ("file_bad", "gain", "parameter gain:='abc' is a string, but gain is a double"),
        ("file_quoted", "gain", "parameter gain:='0.5' is a string, but gain is a double"),
        ("file_bad_int", "limit", "parameter limit:='abc' is a string, but limit is a integer"),
        ("mixed_types", "gain", "parameter gain:=2.5 (-p) was not applied: ROS kept 1"),
        ("late_bad", "late.k", "parameter late.k:='abc' is a string, but late.k is a integer"),
    ],
)
def test_a_wrong_override_is_refused_by_name_with_one_line(
    demo: dict[str, Any], case: str, name: str, line: str
) -> None:
    problems = demo[case]["problems"]
    assert list(problems) == [name], problems
    assert problems[name].startswith(line) and "\n" not in problems[name]
    assert "set e.g." in problems[name] or "e.g. -p" in problems[name]


def test_the_plain_and_the_file_case_say_the_same() -> None:
    """Checked without ROS: both lines come from ``ParamSpec.coerce`` of the same value."""
    spec = SPECS["output.min_score"]
    with pytest.raises(ValueError) as err:
        spec.coerce(rcl_value("abc"))
    assert "output.min_score:='abc' is a string" in str(err.value)


@pytest.mark.ros
def test_valid_overrides_apply_and_a_later_file_value_wins(demo: dict[str, Any]) -> None:
    assert demo["file_good"]["problems"] == {}
    assert demo["file_good"]["settings"]["gain"] == 2.5
    assert demo["file_good"]["settings"]["limit"] == 20
    # the file comes after the bad -p: its double is what the user asked for last, and kept
    assert demo["file_last_wins"]["problems"] == {}
    assert demo["file_last_wins"]["settings"]["gain"] == 1.0
    # a -p rule for another node is not this node's business
    assert demo["other_node"]["problems"] == {}


@pytest.mark.ros
def test_setting_the_parameter_clears_its_start_up_problem(demo: dict[str, Any]) -> None:
    assert demo["plain_bad"]["fix"] == [[True, ""]] and demo["plain_bad"]["after_fix"] == {}


@pytest.mark.ros
def test_run_time_changes_follow_the_table(demo: dict[str, Any]) -> None:
    rt = demo["file_good"]["runtime"]
    assert rt["gain"] == [[True, ""]] and rt["mode_ok"] == [[True, ""]]
    assert rt["gain_range"][0][0] is False  # rclpy's range check from the descriptor
    assert rt["limit"][0][0] is False and "the demo node subscribes once" in rt["limit"][0][1]
    assert rt["limit_same"] == [[True, ""]]
    assert rt["mode"][0][0] is False and "one of: stop, slow" in rt["mode"][0][1]
    assert demo["file_good"]["after"] == {"gain": 3.0, "limit": 20, "mode": "slow", "enabled": True}
    assert demo["file_good"]["changes"][0] == [2.5, 3.0]  # on_change got (old, new)


@pytest.mark.ros
def test_unknown_names_are_warned_about_and_dropped(demo: dict[str, Any]) -> None:
    u = demo["unknown"]
    assert "nope" not in u["declared"] and "late.zzz" not in u["late_overrides"]
    warnings = [text for level, text in u["log"] if level == "warning"]
    assert len(warnings) == 2
    assert "unknown parameter 'nope'" in warnings[0]
    assert "unknown parameter 'late.zzz'" in warnings[1] and "late.k" in warnings[1]


@pytest.mark.ros
def test_late_parameters_keep_their_override_until_declared(demo: dict[str, Any]) -> None:
    g = demo["late_good"]
    assert "late.k" not in g["declared"] and g["late_value"] == 4 and g["late_declared"] == 4
    assert g["late_set"] == [[True, ""]]
    assert g["late_refused"] == [[False, "late.k=7 is refused by the model"]]
    assert g["late_applied"][-2:] == [{"late.k": 5}, {"late.k": 7}]
    # the declaration itself is quiet; the run-time change is logged
    assert g["late_log"] == [["info", "parameters updated: late.k=5"]]
