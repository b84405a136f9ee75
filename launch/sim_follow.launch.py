# ruff: noqa: I001 - `launch` is the ROS package, not this repo's launch/ folder
"""The closed loop in simulation: ``sim_camera_node`` (a pan/tilt camera over real footage,
``/clock``) + ``tracker_node`` + ``follow_node``, the last two on simulated time.

    ros2 launch siam_tracker_ros sim_follow.launch.py                       # generated scene
    ros2 launch siam_tracker_ros sim_follow.launch.py \
        source:='$SIAM_SHARED_DIR/data/sequences/dtb_Animal3' width:=384 height:=216 csv:=sim.csv

The simulator initialises the tracker on the true first box, moves its window by the
follower's gimbal rates (``drive:=cmd_vel``: by ``cmd_vel``'s yaw rate; ``drive:=none``: a fixed
camera) and ends the launch when the footage has played. Arguments: source (a sequence folder;
empty = the generated follow scene), frames (0 = all), width, height (window pixels), zoom,
hfov_deg, drive, lockstep (pace simulated time by the loop's answers; false = real time), csv
(the per-frame log: true box, centring error, commands, loop latency), follow_params,
tracker_params, model, weights, device, namespace.
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration
from launch_ros.parameter_descriptions import ParameterValue

from siam_tracker_ros.ros.launch_parts import (
    follow_node,
    model_arguments,
    package_node,
    params_file_argument,
    tracker_node,
)


def generate_launch_description() -> LaunchDescription:
    arg = LaunchConfiguration
    args = [
        DeclareLaunchArgument(
            "source", default_value="", description="sequence folder (empty: generated scene)"
        ),
        DeclareLaunchArgument("frames", default_value="0", description="frames to play (0 = all)"),
        DeclareLaunchArgument("width", default_value="480", description="window width (px)"),
        DeclareLaunchArgument("height", default_value="270", description="window height (px)"),
        DeclareLaunchArgument("zoom", default_value="1.0", description="window px per source px"),
        DeclareLaunchArgument("hfov_deg", default_value="60.0", description="horizontal FOV"),
        DeclareLaunchArgument(
            "drive", default_value="gimbal", description="gimbal | cmd_vel | none (fixed camera)"
        ),
        DeclareLaunchArgument(
            "lockstep", default_value="true", description="pace simulated time by the loop"
        ),
        DeclareLaunchArgument("csv", default_value="", description="per-frame log (CSV)"),
        params_file_argument("follow"),
        params_file_argument("tracker"),
        *model_arguments(),
        DeclareLaunchArgument("namespace", default_value="", description="namespace of the nodes"),
    ]
    sim = package_node(
        "sim_camera_node",
        [
            {
                "source": ParameterValue(arg("source"), value_type=str),
                "source_frames": ParameterValue(arg("frames"), value_type=int),
                "camera.width": ParameterValue(arg("width"), value_type=int),
                "camera.height": ParameterValue(arg("height"), value_type=int),
                "camera.zoom": ParameterValue(arg("zoom"), value_type=float),
                "camera.hfov_deg": ParameterValue(arg("hfov_deg"), value_type=float),
                "drive": ParameterValue(arg("drive"), value_type=str),
                "sync.lockstep": ParameterValue(arg("lockstep"), value_type=bool),
                "output.csv": ParameterValue(arg("csv"), value_type=str),
            }
        ],
        exit_reason="simulation finished",
    )
    tracker = tracker_node({"use_sim_time": True})
    follower = follow_node({"use_sim_time": True})
    return LaunchDescription([*args, sim, tracker, follower])
