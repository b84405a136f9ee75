"""``follow_node``'s parameters: one table (declared with descriptors and ranges, checked at
start-up, changeable at run time through the shared machinery of
:mod:`~siam_tracker_ros.ros.node_parameters`) and the conversion into the ROS-free configs of the
control law (:class:`~siam_tracker_ros.ros.follow_control.ControlConfig`) and the safety rules
(:class:`~siam_tracker_ros.ros.follow_safety.SafetyConfig`).

Units are SI as ROS uses them: radians, rad/s, rad/s^2, m/s, seconds. Everything but the
topics' QoS and the choice of outputs changes at run time (``ros2 param set /follow_node
yaw.kp 2.0``): gains and limits apply from the next box, ``control.rate_hz`` re-arms the
control timer. ``config/follow.yaml`` is checked against this table by a test.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from siam_tracker_ros.ros.follow_control import SIZE_MEASURES, ControlConfig, PidGains
from siam_tracker_ros.ros.follow_safety import SafetyConfig
from siam_tracker_ros.ros.parameters import (
    PACKAGE_ROOT,
    ParamSpec,
    ParamTable,
    Settings,
    settings_for,
)

__all__ = ["DEFAULT_PARAMS_FILE", "NODE_NAME", "PARAMS", "FollowSettings"]

NODE_NAME = "follow_node"
#: the control law's defaults are the parameters' defaults
_DEFAULT = ControlConfig()
DEFAULT_PARAMS_FILE = PACKAGE_ROOT / "config" / "follow.yaml"


def _axis(
    name: str,
    what: str,
    unit: str,
    error_unit: str,
    default: PidGains,
) -> tuple[ParamSpec, ...]:
    """The six parameters of one PID axis (defaults: the control law's own; all changeable at
    run time, none negative)."""

    def spec(key: str, value: float, text: str, high: float) -> ParamSpec:
        return ParamSpec(f"{name}.{key}", value, f"{what}: {text}", dynamic=True, range=(0.0, high))

    return (
        spec(
            "kp",
            default.kp,
            f"proportional gain ({unit} per {error_unit} of error); 0 turns the axis off.",
            100.0,
        ),
        spec(
            "ki",
            default.ki,
            f"integral gain ({unit} per {error_unit}*s); the integral is clamped so that ki*I "
            "never exceeds the output limit, and frozen while AMBIGUOUS.",
            100.0,
        ),
        spec(
            "kd",
            default.kd,
            f"derivative gain ({unit} per {error_unit}/s), over frame-stamp time.",
            100.0,
        ),
        spec(
            "deadband",
            default.deadband,
            f"errors smaller than this ({error_unit}) command nothing; larger ones lose this "
            "much (no step at the band's edge).",
            10.0,
        ),
        spec("max", default.max_output, f"output limit ({unit}, both directions).", 100.0),
        spec(
            "max_accel",
            default.max_accel,
            f"largest change of the published output per second ({unit}/s); 0 = none. Stops "
            "are immediate (no ramp).",
            1000.0,
        ),
    )


PARAMS = ParamTable(
    (
        ParamSpec(
            "autostart",
            True,
            "Configure and activate at start-up; false = a managed node that waits for "
            "`ros2 lifecycle set /follow_node configure` / `activate`.",
            dynamic=False,
        ),
        ParamSpec(
            "enabled",
            True,
            "Arm switch: false publishes zero (reason 'disabled') until set true again.",
            dynamic=True,
        ),
        ParamSpec(
            "control.rate_hz",
            20.0,
            "Control period: the held command is republished (and the stale-input check runs) "
            "at this rate, on the node clock (simulated time with use_sim_time). A stop for "
            "stale input comes within one period of safety.timeout_s.",
            dynamic=True,
            range=(1.0, 500.0),
        ),
        *_axis("yaw", "Yaw (cmd_vel angular.z, gimbal pan)", "rad/s", "rad", _DEFAULT.yaw),
        *_axis("pitch", "Pitch (gimbal tilt)", "rad/s", "rad", _DEFAULT.pitch),
        *_axis("forward", "Forward (cmd_vel linear.x)", "m/s", "ln(size)", _DEFAULT.forward),
        ParamSpec(
            "forward.size_setpoint",
            0.0,
            "Apparent size to hold (box measure / image height); 0 = the size of the first box "
            "of each track (hold the distance the target was chosen at).",
            dynamic=True,
            range=(0.0, 10.0),
        ),
        ParamSpec(
            "forward.size_measure",
            "sqrt_area",
            "Box measure for the apparent size: sqrt_area, height (people) or width.",
            dynamic=True,
            choices=SIZE_MEASURES,
        ),
        ParamSpec(
            "forward.bearing_cutoff",
            0.5,
            "Forward speed is scaled down linearly to 0 at this yaw error (rad): turn towards "
            "the target before driving at it; 0 = no scaling.",
            dynamic=True,
            range=(0.0, math.pi),
        ),
        ParamSpec(
            "forward.allow_reverse",
            False,
            "Allow negative linear.x (back away from a target that is too close).",
            dynamic=True,
        ),
        ParamSpec(
            "safety.timeout_s",
            0.5,
            "A detection older than this (frame stamp vs node clock) is not acted on, and the "
            "held command turns into zero once its detection is this old.",
            dynamic=True,
            range=(0.01, 10.0),
        ),
        ParamSpec(
            "safety.max_future_s",
            0.1,
            "Detections stamped further ahead of the node clock are refused (clocks out of "
            "sync, or use_sim_time missing on one side).",
            dynamic=True,
            range=(0.0, 10.0),
        ),
        ParamSpec(
            "safety.on_ambiguous",
            "slow",
            "While the tracker says AMBIGUOUS (a look-alike competes): slow (commands scaled by "
            "safety.ambiguous_scale) or stop.",
            dynamic=True,
            choices=("slow", "stop"),
        ),
        ParamSpec(
            "safety.ambiguous_scale",
            0.5,
            "Command scale while AMBIGUOUS with safety.on_ambiguous=slow.",
            dynamic=True,
            range=(0.0, 1.0),
        ),
        ParamSpec(
            "safety.zero_while_stopped",
            True,
            "While stopped, keep publishing zero at the control rate (a base with a cmd_vel "
            "watchdog stays stopped); false = three zeros per stop, then silence (lets a "
            "twist_mux fall back to teleop).",
            dynamic=True,
        ),
        ParamSpec(
            "input.require_status",
            True,
            "Act only on a detection whose tracker status (same stamp) says TRACKING or "
            "AMBIGUOUS with the same track id; false for a detector that publishes no "
            "TrackerStatus (a LOST status still stops).",
            dynamic=True,
        ),
        ParamSpec(
            "input.min_score",
            0.0,
            "Detections with a lower score stop the robot (reason low_score).",
            dynamic=True,
            range=(0.0, 1.0),
        ),
        ParamSpec(
            "input.reliability",
            "reliable",
            "QoS reliability of the detection and status subscriptions (tracker_node publishes "
            "reliable); best_effort also receives from best-effort publishers.",
            dynamic=False,
            choices=("reliable", "best_effort"),
        ),
        ParamSpec(
            "output.cmd_vel",
            True,
            "Publish geometry_msgs/Twist on cmd_vel (angular.z yaw rate, linear.x speed).",
            dynamic=False,
        ),
        ParamSpec(
            "output.gimbal",
            True,
            "Publish gimbal rates on gimbal/rate_cmd (geometry_msgs/Vector3Stamped, rad/s: "
            "y = tilt, > 0 pitches down; z = pan, > 0 turns left; stamp = the frame stamp the "
            "command accounts for).",
            dynamic=False,
        ),
        ParamSpec(
            "output.gimbal_frame_id",
            "",
            "frame_id of the gimbal rate commands; empty = the detections' frame_id.",
            dynamic=True,
        ),
        ParamSpec(
            "diagnostics.period_s",
            1.0,
            "Period of the /diagnostics status (each new stop is also sent at once).",
            dynamic=True,
            range=(0.1, 60.0),
        ),
        ParamSpec(
            "log.throttle_s",
            2.0,
            "Shortest interval between two warnings of one kind.",
            dynamic=True,
            range=(0.0, 3600.0),
        ),
    ),
    fixed_reason="the publishers and subscriptions are set up once",
)


@settings_for(PARAMS)
@dataclass(frozen=True)
class FollowSettings(Settings):
    """The follow node's parameter values (attribute = name with dots as ``_``)."""

    autostart: bool
    enabled: bool
    control_rate_hz: float
    yaw_kp: float
    yaw_ki: float
    yaw_kd: float
    yaw_deadband: float
    yaw_max: float
    yaw_max_accel: float
    pitch_kp: float
    pitch_ki: float
    pitch_kd: float
    pitch_deadband: float
    pitch_max: float
    pitch_max_accel: float
    forward_kp: float
    forward_ki: float
    forward_kd: float
    forward_deadband: float
    forward_max: float
    forward_max_accel: float
    forward_size_setpoint: float
    forward_size_measure: str
    forward_bearing_cutoff: float
    forward_allow_reverse: bool
    safety_timeout_s: float
    safety_max_future_s: float
    safety_on_ambiguous: str
    safety_ambiguous_scale: float
    safety_zero_while_stopped: bool
    input_require_status: bool
    input_min_score: float
    input_reliability: str
    output_cmd_vel: bool
    output_gimbal: bool
    output_gimbal_frame_id: str
    diagnostics_period_s: float
    log_throttle_s: float

    def _gains(self, axis: str) -> PidGains:
        get = lambda key: float(getattr(self, f"{axis}_{key}"))  # noqa: E731
        return PidGains(
            get("kp"), get("ki"), get("kd"), get("deadband"), get("max"), get("max_accel")
        )

    def control(self) -> ControlConfig:
        """The control law's configuration."""
        return ControlConfig(
            yaw=self._gains("yaw"),
            pitch=self._gains("pitch"),
            forward=self._gains("forward"),
            size_setpoint=self.forward_size_setpoint,
            size_measure=self.forward_size_measure,
            bearing_cutoff=self.forward_bearing_cutoff,
            allow_reverse=self.forward_allow_reverse,
            max_dt=self.safety_timeout_s,
        )

    def safety(self) -> SafetyConfig:
        """The safety rules' configuration."""
        return SafetyConfig(
            enabled=self.enabled,
            timeout_s=self.safety_timeout_s,
            max_future_s=self.safety_max_future_s,
            on_ambiguous=self.safety_on_ambiguous,
            ambiguous_scale=self.safety_ambiguous_scale,
            require_status=self.input_require_status,
            min_score=self.input_min_score,
            zero_while_stopped=self.safety_zero_while_stopped,
            period_s=1.0 / self.control_rate_hz,
        )
