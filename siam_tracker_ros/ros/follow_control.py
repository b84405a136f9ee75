"""The follow controller as plain Python (no rclpy): a box in the image -> body rates and speed.

Why its own module: the control law is what moves a robot, so it is unit-tested (and fuzzed)
without ROS processes; :mod:`~siam_tracker_ros.ros.follow_safety` decides *whether* a command may
go out, :mod:`~siam_tracker_ros.ros.follow_node` only moves messages.

Conventions (REP-103: body x forward, y left, z up; angles counter-clockwise positive):

- **Bearing, not pixels.** The box centre ``(u, v)`` is turned into a ray through the camera
  intrinsics (undistorted when ``CameraInfo`` gives a supported distortion model):
  ``x = (u - cx) / fx``, ``y = (v - cy) / fy`` in the optical frame (x right, y down). The
  *yaw error* is the angle of the target left of the optical axis, ``atan2(-x, 1)`` (target on
  the right: negative, turn right); the *pitch error* is the angle below it,
  ``atan2(y, hypot(1, x))`` (target below: positive, pitch down, as a rotation about +y). So the
  gains are in rad/s per radian whatever the resolution or lens: a camera swap needs no retune.
- **Size.** The apparent size ``s`` is a box measure (``sqrt_area``, ``height`` or ``width``)
  divided by the image height. Its error is ``ln(setpoint / s)``: the relative distance error to
  first order (distance ~ 1 / size), positive when the target is too small (too far: drive
  forward), symmetric for approaching and receding. A set point of 0 means "the size of the
  first box of this track": the robot holds the distance it had when the target was chosen.
- **PID per axis** with a shifted deadband (no step at its edge), derivative on the error over
  the time between the two *frame stamps* (not arrival times: transport jitter is not motion),
  integral clamped so that ``|ki * I|`` never exceeds the output limit (anti-windup) and frozen
  while the box may be on the wrong object (AMBIGUOUS), output clipped to its limit. A gap
  longer than ``max_dt`` between boxes starts the axis afresh (no derivative kick, no integral
  jump). Acceleration limits are applied to what is published, over node time
  (:func:`limit_accel`), so a republished command ramps too.
- Outputs: ``yaw_rate`` (rad/s about z, > 0 turns left: ``cmd_vel.angular.z`` and the gimbal
  pan rate), ``pitch_rate`` (rad/s about y, > 0 pitches down: the gimbal tilt rate),
  ``forward`` (m/s along x: ``cmd_vel.linear.x``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "SIZE_MEASURES",
    "CameraModel",
    "ControlConfig",
    "FollowCommand",
    "FollowController",
    "Pid",
    "PidGains",
    "TargetBox",
    "ZERO",
    "TargetError",
    "apply_deadband",
    "limit_accel",
    "slew",
]

#: how the apparent size of a box is measured (divided by the image height)
SIZE_MEASURES = ("sqrt_area", "height", "width")
#: distortion models whose coefficients are applied when computing bearings
_PINHOLE_MODELS = ("plumb_bob", "rational_polynomial")
_FISHEYE_MODELS = ("equidistant",)


@dataclass(frozen=True)
class PidGains:
    """One axis: gains, a deadband on the error (error units), the output limit (output units,
    > 0) and the acceleration limit of the published output (output units per second; 0 = none)."""

    kp: float
    ki: float = 0.0
    kd: float = 0.0
    deadband: float = 0.0
    max_output: float = 1.0
    max_accel: float = 0.0


def apply_deadband(error: float, band: float) -> float:
    """``error`` with ``band`` taken off its magnitude (0 inside the band): continuous at the
    band's edge, so the command does not jump when the target drifts out of it."""
    if band <= 0.0:
        return error
    return math.copysign(max(0.0, abs(error) - band), error)


def slew(previous: float, target: float, dt: float, max_accel: float) -> float:
    """``target``, moved at most ``max_accel * dt`` away from ``previous`` (``max_accel <= 0``:
    no limit)."""
    if max_accel <= 0.0:
        return target
    step = max_accel * max(0.0, dt)
    return previous + min(max(target - previous, -step), step)


class Pid:
    """A PID on one axis (see the module doc); state: the integral and the last error."""

    def __init__(self) -> None:
        self.integral = 0.0
        self.last_error: float | None = None

    def reset(self) -> None:
        self.integral = 0.0
        self.last_error = None

    def update(
        self, error: float, dt: float | None, gains: PidGains, *, integrate: bool = True
    ) -> float:
        """The output for ``error`` (``dt``: seconds since the previous error, None for the
        first one). A non-finite error is a ``ValueError`` (never turned into motion)."""
        if not math.isfinite(error):
            raise ValueError(f"non-finite control error {error}")
        e = apply_deadband(error, gains.deadband)
        derivative = 0.0
        if dt is not None and dt > 0.0 and self.last_error is not None:
            derivative = (e - self.last_error) / dt
            if integrate and gains.ki > 0.0:
                bound = gains.max_output / gains.ki
                self.integral = min(max(self.integral + e * dt, -bound), bound)
        self.last_error = e
        out = gains.kp * e + gains.ki * self.integral + gains.kd * derivative
        return min(max(out, -gains.max_output), gains.max_output)


@dataclass(frozen=True)
class CameraModel:
    """Intrinsics of the image the boxes are drawn on (``sensor_msgs/CameraInfo``: ``K``, ``D``,
    ``distortion_model``, size). Distortion is applied for ``plumb_bob``,
    ``rational_polynomial`` and ``equidistant``; other models are ignored (``ignored_model``
    names it, the node warns once)."""

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int
    distortion: tuple[float, ...] = ()
    model: str = "plumb_bob"
    #: the camera's optical frame (CameraInfo's ``header.frame_id``; "" when unknown)
    frame_id: str = ""

    def __post_init__(self) -> None:
        values = (self.fx, self.fy, self.cx, self.cy)
        if not (all(math.isfinite(v) for v in values) and self.fx > 0 and self.fy > 0):
            raise ValueError(
                f"camera intrinsics need finite fx, fy > 0 (K is {values}): is the camera "
                "calibrated?"
            )
        if self.width <= 0 or self.height <= 0:
            raise ValueError(f"camera_info has no image size ({self.width}x{self.height})")
        if not all(math.isfinite(v) for v in self.distortion):
            raise ValueError("camera_info distortion coefficients are not finite")

    @classmethod
    def from_k(
        cls,
        k: Sequence[float],
        width: int,
        height: int,
        distortion: Sequence[float] = (),
        model: str = "plumb_bob",
        frame_id: str = "",
    ) -> CameraModel:
        """From a row-major 3x3 ``K`` (CameraInfo's ``k``)."""
        if len(k) != 9:
            raise ValueError(f"K needs 9 values, got {len(k)}")
        return cls(
            float(k[0]),
            float(k[4]),
            float(k[2]),
            float(k[5]),
            int(width),
            int(height),
            tuple(float(v) for v in distortion),
            model,
            frame_id,
        )

    @property
    def distorted(self) -> bool:
        return any(v != 0.0 for v in self.distortion)

    @property
    def ignored_model(self) -> str | None:
        """The distortion model when its non-zero coefficients are ignored, else None."""
        known = _PINHOLE_MODELS + _FISHEYE_MODELS
        return self.model if self.distorted and self.model not in known else None

    def normalized(self, u: float, v: float) -> tuple[float, float]:
        """The undistorted normalised image coordinates ``(x, y)`` of pixel ``(u, v)``."""
        if not self.distorted or self.ignored_model is not None:
            return (u - self.cx) / self.fx, (v - self.cy) / self.fy
        import cv2  # only for distorted cameras

        k = np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])
        pts = np.array([[[u, v]]], dtype=np.float64)
        d = np.asarray(self.distortion, dtype=np.float64)
        if self.model in _FISHEYE_MODELS:
            out = cv2.fisheye.undistortPoints(pts, k, d[:4])
        else:
            out = cv2.undistortPoints(pts, k, d)
        return float(out[0, 0, 0]), float(out[0, 0, 1])

    def bearing(self, u: float, v: float) -> tuple[float, float]:
        """``(yaw, pitch)`` in radians of the ray through pixel ``(u, v)``: yaw > 0 left of the
        optical axis, pitch > 0 below it (REP-103 rotations about z and y)."""
        x, y = self.normalized(u, v)
        return math.atan2(-x, 1.0), math.atan2(y, math.hypot(1.0, x))


@dataclass(frozen=True)
class TargetBox:
    """A box the controller may act on: centre and size in pixels of the image described by the
    camera model, its frame stamp (ns), its track id and the frame id of the image it was found
    in ("" when unknown)."""

    stamp_ns: int
    track_id: str
    cx: float
    cy: float
    width: float
    height: float
    score: float = 1.0
    frame_id: str = ""

    def valid(self) -> bool:
        """Finite centre, size and score, and a size > 0 (a NaN score would pass any
        ``score < min_score`` test)."""
        values = (self.cx, self.cy, self.width, self.height, self.score)
        return all(math.isfinite(v) for v in values) and self.width > 0 and self.height > 0


@dataclass(frozen=True)
class TargetError:
    """Errors of one box: yaw and pitch bearings (rad) and the size error ``ln(setpoint/s)``
    (0 when forward control is off or the size is unusable); ``size`` is the measured apparent
    size."""

    yaw: float
    pitch: float
    size_error: float
    size: float


@dataclass(frozen=True)
class FollowCommand:
    """Rates and speed in REP-103 body axes (see the module doc)."""

    yaw_rate: float = 0.0
    pitch_rate: float = 0.0
    forward: float = 0.0

    def scaled(self, factor: float) -> FollowCommand:
        return FollowCommand(
            self.yaw_rate * factor, self.pitch_rate * factor, self.forward * factor
        )

    def is_zero(self) -> bool:
        return self.yaw_rate == 0.0 and self.pitch_rate == 0.0 and self.forward == 0.0


ZERO = FollowCommand()


@dataclass(frozen=True)
class ControlConfig:
    """Everything the control law reads: one :class:`PidGains` per axis and the size rules.

    ``size_setpoint`` is the apparent size to hold (box measure / image height; 0 = the first
    box of each track); ``bearing_cutoff`` (rad, 0 = off) scales the forward speed down linearly
    to 0 at that yaw error, so the robot turns towards a target before driving at it;
    ``allow_reverse`` permits backing away from a target that is too close; ``max_dt`` (s) is the
    longest gap between two boxes that still counts as one motion for D and I."""

    yaw: PidGains = field(default_factory=lambda: PidGains(3.0, 1.0, 0.05, 0.01, 1.5, 6.0))
    pitch: PidGains = field(default_factory=lambda: PidGains(3.0, 1.0, 0.05, 0.01, 1.5, 6.0))
    forward: PidGains = field(default_factory=lambda: PidGains(1.0, 0.0, 0.0, 0.05, 0.5, 1.0))
    size_setpoint: float = 0.0
    size_measure: str = "sqrt_area"
    bearing_cutoff: float = 0.5
    allow_reverse: bool = False
    max_dt: float = 0.5

    def __post_init__(self) -> None:
        if self.size_measure not in SIZE_MEASURES:
            raise ValueError(f"size_measure must be one of {SIZE_MEASURES}")


#: how far (px) a box centre may lie outside camera_info's image before the box is refused
#: (rounding; a centre further out was not seen by this camera)
_EDGE_PX = 1.0


def _apparent_size(box: TargetBox, camera: CameraModel, measure: str) -> float:
    px = {
        "sqrt_area": math.sqrt(box.width * box.height),
        "height": box.height,
        "width": box.width,
    }[measure]
    return px / camera.height


class FollowController:
    """The control law of one track (see the module doc): PIDs per axis and the track's size set
    point. :meth:`reset` at every new track, stop or gap."""

    def __init__(self) -> None:
        self.yaw = Pid()
        self.pitch = Pid()
        self.forward = Pid()
        self.setpoint: float | None = None
        self.last_stamp_ns: int | None = None

    def reset(self, *, keep_setpoint: bool = False) -> None:
        """Forget the axes' state (and the size set point unless ``keep_setpoint``: a new track
        takes a new one, a stop of the same track keeps it)."""
        for pid in (self.yaw, self.pitch, self.forward):
            pid.reset()
        self.last_stamp_ns = None
        if not keep_setpoint:
            self.setpoint = None

    def errors(self, box: TargetBox, camera: CameraModel, config: ControlConfig) -> TargetError:
        """The errors of ``box`` (fixes this track's size set point on its first box when the
        configured one is 0)."""
        if not box.valid():
            raise ValueError(f"invalid box {box}")
        if box.width < 1.0 or box.height < 1.0:  # and it would become the size set point
            raise ValueError(f"box {box.width:g}x{box.height:g} px is too small to measure")
        if box.frame_id and camera.frame_id and box.frame_id != camera.frame_id:
            raise ValueError(
                f"detection in frame {box.frame_id!r} but camera_info is of {camera.frame_id!r}: "
                "boxes and intrinsics must come from the same camera"
            )
        if not (
            -_EDGE_PX <= box.cx <= camera.width + _EDGE_PX
            and -_EDGE_PX <= box.cy <= camera.height + _EDGE_PX
        ):
            raise ValueError(
                f"box centre ({box.cx:.1f}, {box.cy:.1f}) outside the {camera.width}x"
                f"{camera.height} image of camera_info: another camera or resolution?"
            )
        yaw, pitch = camera.bearing(box.cx, box.cy)
        size = _apparent_size(box, camera, config.size_measure)  # > 0: a pixel at least
        setpoint = config.size_setpoint
        if setpoint <= 0.0:
            if self.setpoint is None:
                self.setpoint = size
            setpoint = self.setpoint
        size_error = math.log(setpoint / size)
        if not math.isfinite(size_error):
            raise ValueError(f"size error not finite (set point {setpoint:g}, size {size:g})")
        return TargetError(yaw, pitch, size_error, size)

    def update(
        self, box: TargetBox, camera: CameraModel, config: ControlConfig, *, integrate: bool = True
    ) -> tuple[FollowCommand, TargetError]:
        """The command for ``box`` (before acceleration limits) and its errors. ``integrate``
        False freezes the integrals (an ambiguous box may be on the wrong object)."""
        err = self.errors(box, camera, config)
        dt: float | None = None
        if self.last_stamp_ns is not None:
            dt = (box.stamp_ns - self.last_stamp_ns) / 1e9
            if not 0.0 < dt <= config.max_dt:  # a gap, or not newer: start the axes afresh
                self.reset(keep_setpoint=True)
                dt = None
        self.last_stamp_ns = box.stamp_ns
        yaw_rate = self.yaw.update(err.yaw, dt, config.yaw, integrate=integrate)
        pitch_rate = self.pitch.update(err.pitch, dt, config.pitch, integrate=integrate)
        forward = self.forward.update(err.size_error, dt, config.forward, integrate=integrate)
        if config.bearing_cutoff > 0.0:
            forward *= max(0.0, 1.0 - abs(err.yaw) / config.bearing_cutoff)
        if not config.allow_reverse:
            forward = max(0.0, forward)
        return FollowCommand(yaw_rate, pitch_rate, forward), err


def limit_accel(
    previous: FollowCommand, target: FollowCommand, dt: float, config: ControlConfig
) -> FollowCommand:
    """``target`` with each axis moved at most its ``max_accel * dt`` from ``previous`` (what
    was last published, ``dt`` seconds ago)."""
    return FollowCommand(
        slew(previous.yaw_rate, target.yaw_rate, dt, config.yaw.max_accel),
        slew(previous.pitch_rate, target.pitch_rate, dt, config.pitch.max_accel),
        slew(previous.forward, target.forward, dt, config.forward.max_accel),
    )
