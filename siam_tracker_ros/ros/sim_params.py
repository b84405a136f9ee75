"""``sim_camera_node``'s parameters: the footage, the simulated camera and gimbal, how simulated
time is paced, and what is logged. One table through the shared machinery
(:mod:`~siam_tracker_ros.ros.node_parameters`), like every node of the package; the world is
built once at ``configure``, so its parameters are start-up only; the command input and pacing
change at run time.
"""

from __future__ import annotations

from dataclasses import dataclass

from siam_tracker_ros.ros.parameters import ParamSpec, ParamTable, Settings, settings_for

__all__ = ["NODE_NAME", "PARAMS", "SimSettings"]

NODE_NAME = "sim_camera_node"

PARAMS = ParamTable(
    (
        ParamSpec(
            "autostart",
            True,
            "Configure and activate at start-up (false: wait for `ros2 lifecycle set`).",
            dynamic=False,
        ),
        ParamSpec(
            "source",
            "",
            "Annotated sequence folder (../shared/data layouts: OTB image folder or video + "
            "groundtruth_rect.txt; $SIAM_SHARED_DIR is expanded), or empty for the generated "
            "follow scene (a target sweeping across a 1280x720 background).",
            dynamic=False,
        ),
        ParamSpec(
            "source_first", 0, "First source frame (0-based).", dynamic=False, range=(0, 10**7)
        ),
        ParamSpec(
            "source_frames",
            0,
            "Source frames to play (0 = to the end; the generated scene: 240).",
            dynamic=False,
            range=(0, 10**7),
        ),
        ParamSpec(
            "camera.width", 480, "Window (image) width in pixels.", dynamic=False, range=(16, 8192)
        ),
        ParamSpec(
            "camera.height",
            270,
            "Window (image) height in pixels.",
            dynamic=False,
            range=(16, 8192),
        ),
        ParamSpec(
            "camera.zoom",
            1.0,
            "Window pixels per source pixel (0.5 shows twice the extent at half resolution).",
            dynamic=False,
            range=(0.05, 20.0),
        ),
        ParamSpec(
            "camera.hfov_deg",
            60.0,
            "Horizontal field of view: fx = (width / 2) / tan(hfov / 2) in camera_info.",
            dynamic=False,
            range=(1.0, 170.0),
        ),
        ParamSpec(
            "camera.frame_id", "camera", "frame_id of the images and camera_info.", dynamic=False
        ),
        ParamSpec(
            "gimbal.max_rate",
            2.0,
            "Rate limit of the simulated gimbal per axis (rad/s); faster commands are clipped.",
            dynamic=False,
            range=(0.01, 100.0),
        ),
        ParamSpec(
            "gimbal.mapping",
            "linear",
            "How angles move the window: linear (fx * angle) or tan (fx * tan(angle)).",
            dynamic=False,
            choices=("linear", "tan"),
        ),
        ParamSpec(
            "drive",
            "gimbal",
            "Which command moves the camera: gimbal (gimbal/rate_cmd: z pan, y tilt), cmd_vel "
            "(angular.z as the pan rate, no tilt: a robot turning on the spot) or none (a fixed "
            "camera: the open-loop baseline).",
            dynamic=True,
            choices=("gimbal", "cmd_vel", "none"),
        ),
        ParamSpec(
            "sync.lockstep",
            True,
            "Advance simulated time only when the loop has answered the last frame (a command "
            "stamped with it, or the tracker's status plus sync.grace_s) or after "
            "sync.timeout_s of wall time: deterministic on a loaded machine. False: simulated "
            "time runs at sync.real_time_factor x wall time whatever the loop does.",
            dynamic=True,
        ),
        ParamSpec(
            "sync.timeout_s",
            0.5,
            "Lockstep: longest wall-time wait for the loop's answer to one frame.",
            dynamic=True,
            range=(0.001, 60.0),
        ),
        ParamSpec(
            "sync.grace_s",
            0.05,
            "Lockstep: wall time to wait for a command after the tracker's status for the "
            "frame arrived (a stopped follower may publish nothing).",
            dynamic=True,
            range=(0.0, 10.0),
        ),
        ParamSpec(
            "sync.real_time_factor",
            1.0,
            "Without lockstep: simulated seconds per wall second.",
            dynamic=True,
            range=(0.01, 100.0),
        ),
        ParamSpec(
            "sync.start_time_s",
            100.0,
            "Simulated time of the first frame (/clock; not 0: a zero stamp means 'newest "
            "frame' to the tracker's init).",
            dynamic=False,
            range=(0.001, 1e9),
        ),
        ParamSpec(
            "sync.wait_subscribers_s",
            30.0,
            "Wall time to wait at start for a subscriber of image (and of init_target when "
            "init.send) before the first frame.",
            dynamic=False,
            range=(0.0, 3600.0),
        ),
        ParamSpec(
            "init.send",
            True,
            "Initialise the tracker: an InitTarget with the true box of the first frame, "
            "stamped with that frame.",
            dynamic=False,
        ),
        ParamSpec(
            "init.track_id",
            "",
            "track_id of that InitTarget (empty: the tracker numbers its tracks).",
            dynamic=False,
        ),
        ParamSpec(
            "output.csv",
            "",
            "Write one CSV row per frame here (view, true box, centring error, command, "
            "latency); empty = no log.",
            dynamic=False,
        ),
        ParamSpec(
            "exit_when_done",
            True,
            "End the process when the footage has been played (a launch file then ends).",
            dynamic=False,
        ),
    ),
    fixed_reason="the simulated world is built once at configure",
)


@settings_for(PARAMS)
@dataclass(frozen=True)
class SimSettings(Settings):
    """The simulator's parameter values."""

    autostart: bool
    source: str
    source_first: int
    source_frames: int
    camera_width: int
    camera_height: int
    camera_zoom: float
    camera_hfov_deg: float
    camera_frame_id: str
    gimbal_max_rate: float
    gimbal_mapping: str
    drive: str
    sync_lockstep: bool
    sync_timeout_s: float
    sync_grace_s: float
    sync_real_time_factor: float
    sync_start_time_s: float
    sync_wait_subscribers_s: float
    init_send: bool
    init_track_id: str
    output_csv: str
    exit_when_done: bool
