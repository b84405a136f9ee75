# ruff: noqa: I001 - `launch` is the ROS package, not this repo's launch/ folder
"""Start ``tracker_node`` on a camera topic (and RViz2 on request).

    ros2 launch siam_tracker_ros tracker.launch.py camera_topic:=/camera/image_raw device:=cuda
    ros2 launch siam_tracker_ros tracker.launch.py autostart:=false   # then: ros2 lifecycle set
    ros2 launch siam_tracker_ros tracker.launch.py rviz:=true

Arguments: camera_topic (remapped to the node's ``image``; ``<camera_topic>/compressed`` to
``image/compressed``), params_file (default: the package's config/tracker.yaml; it must exist),
model (model + tracker YAML), weights, device (these three and autostart: empty leaves them to
the parameters file, else to the node's defaults, the bundled model on the CPU), namespace,
large_shm (use the Fast DDS profile with a large shared-memory segment, measured 15 ms -> 4.5 ms
per 640x480 image between processes), autostart (the lifecycle node configures and activates
itself; false: it waits, unconfigured, for ``ros2 lifecycle set /tracker_node configure``), rviz
(open config/tracker.rviz in rviz2 when rviz2 is installed; a log line says so when it is not).
The launch ends when the node exits (e.g. after ``ros2 lifecycle set /tracker_node shutdown``;
after a failed start with status 1 and one error line).
"""

from typing import Any

from launch import LaunchContext, LaunchDescription
from launch.actions import DeclareLaunchArgument, LogInfo, OpaqueFunction, SetEnvironmentVariable
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

from siam_tracker_ros.ros.launch_parts import (
    PACKAGE,
    model_arguments,
    params_file_argument,
    tracker_node,
)


def generate_launch_description() -> LaunchDescription:
    share = FindPackageShare(PACKAGE)
    camera = LaunchConfiguration("camera_topic")
    args = [
        DeclareLaunchArgument(
            "camera_topic",
            default_value="/camera/image_raw",
            description="sensor_msgs/Image topic to track on",
        ),
        params_file_argument("tracker", name="params_file"),
        *model_arguments(),
        DeclareLaunchArgument(
            "namespace", default_value="", description="namespace of the node and its topics"
        ),
        DeclareLaunchArgument(
            "large_shm",
            default_value="true",
            description="use config/fastdds_large_shm.xml for Fast DDS",
        ),
        DeclareLaunchArgument(
            "autostart",
            default_value="",
            description="configure and activate the lifecycle node at start "
            "(false: drive it with `ros2 lifecycle set`; empty: the parameters file's, else true)",
        ),
        DeclareLaunchArgument(
            "rviz",
            default_value="false",
            description="open RViz2 with config/tracker.rviz (if installed)",
        ),
    ]
    shm = SetEnvironmentVariable(
        "FASTDDS_DEFAULT_PROFILES_FILE",
        PathJoinSubstitution([share, "config", "fastdds_large_shm.xml"]),
        condition=IfCondition(LaunchConfiguration("large_shm")),
    )
    node = tracker_node(
        {"autostart": LaunchConfiguration("autostart")},
        remappings=[("image", camera), ("image/compressed", [camera, "/compressed"])],
        params_file="params_file",
    )
    rviz = OpaqueFunction(function=_rviz, condition=IfCondition(LaunchConfiguration("rviz")))
    return LaunchDescription([*args, shm, node, rviz])


def _rviz(context: LaunchContext) -> list[Any]:
    """rviz2 with the package's config, or one log line when rviz2 is not installed (the
    pip-only path has no rviz2: it is not on PyPI)."""
    from ament_index_python.packages import PackageNotFoundError, get_package_share_directory

    config = PathJoinSubstitution([FindPackageShare(PACKAGE), "config", "tracker.rviz"])
    try:
        get_package_share_directory("rviz2")
    except PackageNotFoundError:
        return [
            LogInfo(
                msg="rviz:=true, but rviz2 is not installed (on a ROS install: "
                "apt install ros-$ROS_DISTRO-rviz2); starting without it"
            )
        ]
    return [
        Node(
            package="rviz2",
            executable="rviz2",
            name="rviz2",
            output="screen",
            namespace=LaunchConfiguration("namespace"),
            arguments=["-d", config],
        )
    ]
