"""Scenario for test_node_parameters.py: a small node built ONLY from the shared parameter
machinery (``ros/parameters.py``, ``ros/node_parameters.py``), as a second node of the package
(e.g. the follow node) would be. Runs INSIDE the loopback-only namespace (started through
``run_isolated``) and writes ``result.json``; the assertions live in the test.

    python param_node_scenario.py params <workdir>

Each case creates the node in a fresh rclpy context initialised with its own command line (what
``rclpy.init`` would get from a shell) and records what was declared, the start-up problems, the
warnings, and the answers to run-time changes.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from scenario_support import scenario_main  # noqa: E402

from siam_tracker_ros.ros.parameters import ParamSpec, ParamTable  # noqa: E402

#: the demo node's table: what a second node writes to get declaration, start-up checks and
#: run-time updates
TABLE = ParamTable(
    (
        ParamSpec("gain", 1.0, "Yaw rate per radian of bearing error.", True, range=(0.0, 5.0)),
        ParamSpec("limit", 10, "A start-up-only integer (subscriptions).", False, range=(1, 100)),
        ParamSpec(
            "mode",
            "stop",
            "What to do when the target is ambiguous.",
            True,
            choices=("stop", "slow"),
        ),
        ParamSpec("enabled", True, "Publish commands at all.", True),
    ),
    fixed_reason="the demo node subscribes once",
)
DemoSettings = TABLE.settings_class("DemoSettings")
LATE = {
    "late.k": ParamSpec(
        "late.k", 0, "A setting declared once a model is loaded.", True, range=(0, 9)
    )
}


def make_node(argv: list[str], name: str = "demo_node") -> Any:
    """The demo node in a fresh context initialised with ``argv``."""
    from rclpy.context import Context
    from rclpy.node import Node

    from siam_tracker_ros.ros.node_parameters import LateParameters, NodeParameters

    class Recording:
        """The node's logger, keeping what it says (the warnings are part of the result)."""

        def __init__(self, logger: Any) -> None:
            self.logger, self.lines = logger, []

        def __getattr__(self, level: str) -> Any:
            def log(text: str) -> None:
                self.lines.append([level, text])
                getattr(self.logger, level)(text)

            return log

    class DemoNode(Node):
        def __init__(self, context: Context) -> None:
            super().__init__(
                name, context=context, automatically_declare_parameters_from_overrides=True
            )
            self.log = Recording(super().get_logger())
            self.changes: list[list[Any]] = []
            self.late_applied: list[dict[str, Any]] = []
            self.params = NodeParameters(
                self,
                DemoSettings,
                argv=argv,
                late=LateParameters("late.", LATE, self._apply_late),
                on_change=lambda old, new: self.changes.append([old.gain, new.gain]),
            )

        def get_logger(self) -> Any:
            return getattr(self, "log", None) or super().get_logger()

        def _apply_late(self, updates: dict[str, Any]) -> str | None:
            self.late_applied.append(updates)
            return "late.k=7 is refused by the model" if updates.get("late.k") == 7 else None

    context = Context()
    context.init(argv)
    return DemoNode(context)


def close(node: Any) -> None:
    context = node.context
    node.destroy_node()
    context.shutdown()


def snapshot(node: Any) -> dict[str, Any]:
    declared = {}
    for name in node.list_parameters([], 0).names:
        d = node.describe_parameter(name)
        ranges = list(d.floating_point_range) + list(d.integer_range)
        declared[name] = {
            "value": node.get_parameter(name).value,
            "type": int(d.type),
            "description": d.description,
            "range": [ranges[0].from_value, ranges[0].to_value] if ranges else None,
            "read_only": bool(d.read_only),
        }
    return {
        "declared": declared,
        "settings": node.params.settings.as_values(),
        "problems": dict(node.params.problems),
        "late_overrides": dict(node.params.late_overrides),
        "log": list(node.log.lines),
    }


def set_params(node: Any, **values: Any) -> list[Any]:
    from rclpy.parameter import Parameter

    results = node.set_parameters([Parameter(k, value=v) for k, v in values.items()])
    return [[r.successful, r.reason] for r in results]


def run(work: Path) -> dict[str, Any]:
    params_file = work / "demo.yaml"
    params_file.write_text(
        "/**:\n  ros__parameters:\n    gain: 1.0\n    limit: 10\n    late: {k: 2}\n"
    )
    int_file = work / "int.yaml"  # a double written as an integer: rclpy prefers the integer
    int_file.write_text("/**:\n  ros__parameters:\n    gain: 1\n")
    file = ["--params-file", str(params_file)]
    cases = {
        "defaults": [],
        "plain_bad": ["-p", "gain:=abc"],
        "file_bad": [*file, "-p", "gain:=abc"],
        "file_quoted": [*file, "-p", "gain:='0.5'"],
        "file_bad_int": [*file, "-p", "limit:=abc"],
        "file_good": [*file, "-p", "gain:=2.5", "-p", "limit:=20"],
        "file_last_wins": ["-p", "gain:=abc", *file],
        "other_node": [*file, "-p", "other_node:gain:=abc"],
        "mixed_types": ["--params-file", str(int_file), "-p", "gain:=2.5"],
        "unknown": [*file, "-p", "nope:=1", "-p", "late.zzz:=1"],
        "late_bad": [*file, "-p", "late.k:=abc"],
        "late_good": [*file, "-p", "late.k:=4"],
    }
    out: dict[str, Any] = {}
    for case, args in cases.items():
        node = make_node(["demo", "--ros-args", *args])
        try:
            out[case] = snapshot(node)
            if case == "plain_bad":  # setting the parameter clears its start-up problem
                out[case]["fix"] = set_params(node, gain=0.5)
                out[case]["after_fix"] = dict(node.params.problems)
            if case == "file_good":
                out[case]["runtime"] = {
                    "gain": set_params(node, gain=3.0),
                    "gain_range": set_params(node, gain=9.0),
                    "limit": set_params(node, limit=30),
                    "limit_same": set_params(node, limit=20),
                    "mode": set_params(node, mode="fly"),
                    "mode_ok": set_params(node, mode="slow"),
                }
                out[case]["changes"] = node.changes
                out[case]["after"] = node.params.settings.as_values()
            if case == "late_good":
                out[case]["late_value"] = node.params.late_value("late.k", 0)
                node.params.declare_late({"late.k": out[case]["late_value"]})
                out[case]["late_declared"] = node.get_parameter("late.k").value
                out[case]["late_set"] = set_params(node, **{"late.k": 5})
                out[case]["late_refused"] = set_params(node, **{"late.k": 7})
                out[case]["late_applied"] = node.late_applied
                out[case]["late_log"] = list(node.log.lines)
        finally:
            close(node)
    return out


if __name__ == "__main__":
    raise SystemExit(scenario_main({"params": run}))
