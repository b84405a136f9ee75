# ruff: noqa: I001 - `launch` is the ROS package, not this repo's launch/ folder
"""Start ``tracker_node`` + ``follow_node`` on a real camera: the robot (or its gimbal) follows
what the tracker tracks.

    ros2 launch siam_tracker_ros follow.launch.py camera_topic:=/camera/image_raw \
        camera_info_topic:=/camera/camera_info cmd_vel_topic:=/cmd_vel
    ros2 launch siam_tracker_ros follow.launch.py gimbal_topic:=/gimbal/rate_cmd \
        follow_params:=/path/my_robot_follow.yaml
    # then send an init box: ros2 topic pub --once /init_target siam_tracker_ros/msg/InitTarget ...

Arguments: camera_topic (the tracker's ``image``; ``<camera_topic>/compressed`` for
``image/compressed``), camera_info_topic (the CameraInfo of that image: bearings need its
intrinsics), cmd_vel_topic, gimbal_topic (where the follower's ``cmd_vel`` and
``gimbal/rate_cmd`` go), tracker_params / follow_params (YAML; default the package's
config/tracker.yaml and config/follow.yaml), model, weights, device, namespace, use_sim_time,
autostart, large_shm (as tracker.launch.py). The follower starts *armed* (``enabled: true`` in
follow.yaml) but commands nothing before the tracker has a target; disarm with ``ros2 param set
/follow_node enabled false``. docs/follow.md says what to tune first. The launch ends when either
node exits (after stopping, the follower has published zero).
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, SetEnvironmentVariable
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.substitutions import FindPackageShare

from siam_tracker_ros.ros.launch_parts import (
    PACKAGE,
    follow_node,
    model_arguments,
    params_file_argument,
    tracker_node,
)


def generate_launch_description() -> LaunchDescription:
    share = FindPackageShare(PACKAGE)
    arg = LaunchConfiguration
    args = [
        DeclareLaunchArgument(
            "camera_topic", default_value="/camera/image_raw", description="image topic to track on"
        ),
        DeclareLaunchArgument(
            "camera_info_topic",
            default_value="/camera/camera_info",
            description="sensor_msgs/CameraInfo of that image (intrinsics for the bearings)",
        ),
        DeclareLaunchArgument(
            "cmd_vel_topic", default_value="/cmd_vel", description="geometry_msgs/Twist output"
        ),
        DeclareLaunchArgument(
            "gimbal_topic",
            default_value="gimbal/rate_cmd",
            description="geometry_msgs/Vector3Stamped gimbal rate output",
        ),
        params_file_argument("tracker"),
        params_file_argument("follow"),
        *model_arguments(),
        DeclareLaunchArgument("namespace", default_value="", description="namespace of both nodes"),
        DeclareLaunchArgument(
            "use_sim_time",
            default_value="",
            description="follow /clock (bags, simulators; empty: the parameters files', "
            "else false)",
        ),
        DeclareLaunchArgument(
            "autostart",
            default_value="",
            description="configure and activate both lifecycle nodes at start "
            "(empty: the parameters files', else true)",
        ),
        DeclareLaunchArgument(
            "large_shm", default_value="true", description="use config/fastdds_large_shm.xml"
        ),
    ]
    shm = SetEnvironmentVariable(
        "FASTDDS_DEFAULT_PROFILES_FILE",
        PathJoinSubstitution([share, "config", "fastdds_large_shm.xml"]),
        condition=IfCondition(arg("large_shm")),
    )
    camera = arg("camera_topic")
    live = {"autostart": arg("autostart"), "use_sim_time": arg("use_sim_time")}
    tracker = tracker_node(
        live, remappings=[("image", camera), ("image/compressed", [camera, "/compressed"])]
    )
    follower = follow_node(
        live,
        remappings=[
            ("camera_info", arg("camera_info_topic")),
            ("cmd_vel", arg("cmd_vel_topic")),
            ("gimbal/rate_cmd", arg("gimbal_topic")),
        ],
    )
    return LaunchDescription([*args, shm, tracker, follower])
