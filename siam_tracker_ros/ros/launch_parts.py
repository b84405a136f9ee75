"""What the package's launch files share (``launch/*.launch.py`` import it, as they import the
model defaults from :mod:`~siam_tracker_ros.ros.tracker_params`): the arguments and nodes that
more than one of them declares, so that a name, default or wiring is written once.

Every node here is one of the package's executables under its own name, in the namespace of the
launch argument ``namespace``, logging to the screen, and ends the whole launch when it exits.
Only ``ros2 launch`` imports this module (it needs ROS ``launch`` and ``launch_ros``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from launch.actions import DeclareLaunchArgument, EmitEvent
from launch.events import Shutdown
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

from siam_tracker_ros.ros.tracker_params import DEFAULT_MODEL_CONFIG, DEFAULT_WEIGHTS

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
    and ``model.device`` (defaults: the bundled model on the CPU)."""
    return [
        DeclareLaunchArgument(
            "model", default_value=DEFAULT_MODEL_CONFIG, description="model.config"
        ),
        DeclareLaunchArgument(
            "weights", default_value=DEFAULT_WEIGHTS, description="model.weights"
        ),
        DeclareLaunchArgument("device", default_value="cpu", description="cpu, cuda or cuda:N"),
    ]


def package_node(
    executable: str,
    parameters: Sequence[Any],
    *,
    remappings: Remappings | None = None,
    exit_reason: str | None = None,
) -> Node:
    """The package's ``executable`` as described in the module doc; ``exit_reason`` is the
    shutdown's reason when it exits (default ``"<executable> exited"``)."""
    return Node(
        package=PACKAGE,
        executable=executable,
        name=executable,
        namespace=LaunchConfiguration("namespace"),
        output="screen",
        parameters=parameters,
        remappings=remappings,
        on_exit=[EmitEvent(event=Shutdown(reason=exit_reason or f"{executable} exited"))],
    )


def tracker_node(
    overrides: Mapping[str, Any],
    remappings: Remappings | None = None,
    *,
    params_file: str = "tracker_params",
) -> Node:
    """``tracker_node``: the file of the ``params_file`` argument, then the model of the
    :func:`model_arguments` (``model``, ``weights``, ``device``) and ``overrides`` on top."""
    arg = LaunchConfiguration
    model = {
        "model.config": arg("model"),
        "model.weights": arg("weights"),
        "model.device": arg("device"),
    }
    return package_node(
        "tracker_node", [arg(params_file), {**model, **overrides}], remappings=remappings
    )


def follow_node(overrides: Mapping[str, Any], remappings: Remappings | None = None) -> Node:
    """``follow_node``: the ``follow_params`` file, then ``overrides`` on top."""
    return package_node(
        "follow_node",
        [LaunchConfiguration("follow_params"), dict(overrides)],
        remappings=remappings,
    )
