"""What the package's launch files share (``launch/*.launch.py`` import it, as they import the
model defaults from :mod:`~siam_tracker_ros.ros.tracker_params`): the arguments and nodes that
more than one of them declares, so that a name, default or wiring is written once.

Every node here is one of the package's executables under its own name, in the namespace of the
launch argument ``namespace``, logging to the screen, and ends the whole launch when it exits;
when it exits with an error (a failed start) the launch ends with status 1 and one error line,
so a script or CI sees the failure. A node's parameters file must exist (one error line, the
launch ends: ROS's launch would only warn and start the node on its defaults). Launch arguments
that set parameters (``model``, ``weights``, ``device``, ``autostart``, ``use_sim_time``) default
to empty, which leaves the parameter to the parameters file, else to the node's default: a value
given on the command line wins over the file, an absent one never silently overrides it.
Only ``ros2 launch`` imports this module (it needs ROS ``launch`` and ``launch_ros``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from launch.actions import DeclareLaunchArgument, EmitEvent, OpaqueFunction
from launch.events import Shutdown
from launch.events.process import ProcessExited
from launch.launch_context import LaunchContext
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

__all__ = [
    "PACKAGE",
    "follow_node",
    "model_arguments",
    "package_node",
    "params_file_argument",
    "tracker_node",
]

PACKAGE = "siam_tracker_ros"

#: a ``(from, to)`` topic remapping of a node
Remappings = Sequence[tuple[Any, Any]]


def params_file_argument(node: str, name: str | None = None) -> DeclareLaunchArgument:
    """``<node>_params`` (or ``name``): the parameters file of ``<node>_node`` (default: the
    package's ``config/<node>.yaml``)."""
    return DeclareLaunchArgument(
        name or f"{node}_params",
        default_value=PathJoinSubstitution([FindPackageShare(PACKAGE), "config", f"{node}.yaml"]),
        description=f"{node}_node parameters (YAML)",
    )


def model_arguments() -> list[DeclareLaunchArgument]:
    """``model``, ``weights`` and ``device``: the tracker's ``model.config``, ``model.weights``
    and ``model.device`` (empty: the parameters file's, else the bundled model on the CPU)."""
    unset = "empty: the parameters file's, else the node's default"
    return [
        DeclareLaunchArgument(
            "model", default_value="", description=f"model + tracker YAML, model.config ({unset})"
        ),
        DeclareLaunchArgument(
            "weights", default_value="", description=f"weights file, model.weights ({unset})"
        ),
        DeclareLaunchArgument(
            "device", default_value="", description=f"cpu, cuda or cuda:N, model.device ({unset})"
        ),
    ]


def _given(value: Any, context: LaunchContext) -> bool:
    """Whether a parameter value from a launch argument was given (not left empty)."""
    if isinstance(value, LaunchConfiguration):
        return value.perform(context) != ""
    return True


def package_node(
    executable: str,
    parameters: Sequence[Any],
    *,
    remappings: Remappings | None = None,
    exit_reason: str | None = None,
) -> Node:
    """The package's ``executable`` as described in the module doc; ``exit_reason`` is the
    shutdown's reason when it exits (default ``"<executable> exited"``)."""
    reason = exit_reason or f"{executable} exited"

    def on_exit(event: ProcessExited, context: LaunchContext) -> list[Any]:
        if event.returncode:  # a failed start or a crash: the launch ends with status 1
            raise RuntimeError(f"{executable} exited with status {event.returncode}")
        return [EmitEvent(event=Shutdown(reason=reason))]

    return Node(
        package=PACKAGE,
        executable=executable,
        name=executable,
        namespace=LaunchConfiguration("namespace"),
        output="screen",
        parameters=parameters,
        remappings=remappings,
        on_exit=on_exit,
    )


def _node_with_params(
    executable: str,
    params_file: str,
    overrides: Mapping[str, Any],
    remappings: Remappings | None,
) -> OpaqueFunction:
    """``executable`` with the file of the ``params_file`` argument (which must exist) and the
    ``overrides`` that were given on top (see the module doc), decided when the launch runs."""

    def build(context: LaunchContext) -> list[Any]:
        path = LaunchConfiguration(params_file).perform(context)
        if not Path(path).is_file():
            raise RuntimeError(f"{params_file}:={path}: no such parameters file")
        given = {k: v for k, v in overrides.items() if _given(v, context)}
        return [package_node(executable, [path, given], remappings=remappings)]

    return OpaqueFunction(function=build)


def tracker_node(
    overrides: Mapping[str, Any],
    remappings: Remappings | None = None,
    *,
    params_file: str = "tracker_params",
) -> OpaqueFunction:
    """``tracker_node``: the file of the ``params_file`` argument, then the model of the
    :func:`model_arguments` (``model``, ``weights``, ``device``) and ``overrides`` on top, each
    where given."""
    arg = LaunchConfiguration
    model = {
        "model.config": arg("model"),
        "model.weights": arg("weights"),
        "model.device": arg("device"),
    }
    return _node_with_params("tracker_node", params_file, {**model, **overrides}, remappings)


def follow_node(
    overrides: Mapping[str, Any], remappings: Remappings | None = None
) -> OpaqueFunction:
    """``follow_node``: the ``follow_params`` file, then ``overrides`` on top where given."""
    return _node_with_params("follow_node", "follow_params", overrides, remappings)
