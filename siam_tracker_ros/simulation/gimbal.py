"""A simulated pan/tilt camera over real footage: the virtual camera driven by angular rates.

Why: a follow controller is only tested when its own commands move the camera. This is the
ROS-free core of the closed-loop simulator of the follow node (the ROS node wraps it: commands
in, ``Image`` + ``CameraInfo`` + ``/clock`` out); the true target box in every view comes from
the source's ground truth.

Model (documented choices):

- Pinhole camera with square pixels: ``fx = fy = (width / 2) / tan(hfov / 2)`` window pixels,
  principal point at the window centre ``(width / 2, height / 2)`` in the continuous pixel
  coordinates of boxes (a box centred in the window, ``x + w / 2 == cx``, has zero bearing).
- The footage is a plane in front of the camera; pointing the camera moves the window over it.
  ``mapping="linear"`` (default, small-angle): the window centre moves ``fx * angle`` scene
  pixels, so a rate ``r`` for ``dt`` seconds moves it by exactly ``r * dt * fx`` pixels anywhere
  -- the inverse of the bearing ``(u - cx) / fx`` a controller computes, to first order.
  ``mapping="tan"``: ``fx * tan(angle)`` (a rotating camera over a flat scene; steps grow away
  from the centre). Both ignore the perspective distortion of a real rotation: the window is a
  translation of the footage.
- Axes follow REP-103 (body x forward, y left, z up): ``pan > 0`` turns left (yaw
  counter-clockwise seen from above), so the window moves towards smaller x and the scene
  appears to move right; ``tilt > 0`` pitches down, so the window moves towards larger y.
- Rates are clipped to ``max_rate`` (rad/s, per axis), then integrated over ``dt`` (explicit
  Euler: the rate is held for the step, as a commanded rate is); angles are clipped to their
  limits, by default the angles at which the window centre reaches the edge of the footage (at
  most half the view is border fill).
- Simulated time advances by ``dt`` per step; the source frame shown is ``floor(time * fps)``
  at the source's frame rate; past the last frame the view stays on it and ``finished`` is set.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from siam_tracker_ros.simulation.virtual_camera import View, VirtualCamera

__all__ = ["GimbalCamera", "GimbalState", "Intrinsics"]


@dataclass(frozen=True)
class Intrinsics:
    """What a ``sensor_msgs/CameraInfo`` needs: focal lengths and principal point in pixels,
    image size; no distortion."""

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int

    def matrix(self) -> np.ndarray:
        """The 3x3 camera matrix ``K`` (row-major, as CameraInfo's ``k``)."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])


@dataclass(frozen=True)
class GimbalState:
    """Pointing and clock after a step: angles (rad), the rates actually applied (after the rate
    limit; 0 on an axis held at an angle limit), simulated time (s), source frame, whether a
    limit clipped the command, and whether the footage has run out."""

    pan: float
    tilt: float
    pan_rate: float
    tilt_rate: float
    time: float
    index: int
    limited: bool
    finished: bool


def _pair(value: float | tuple[float, float], name: str) -> tuple[float, float]:
    pair = (float(value), float(value)) if np.isscalar(value) else tuple(map(float, value))  # type: ignore[arg-type]
    if len(pair) != 2 or not all(np.isfinite(v) and v > 0 for v in pair):
        raise ValueError(f"{name} must be a positive number or a (pan, tilt) pair, got {value}")
    return (pair[0], pair[1])


class GimbalCamera:
    """A pan/tilt camera: a :class:`VirtualCamera` window pointed by integrated angular rates.

    ``centre`` is the scene point the camera looks at with zero pan and tilt (default: the
    target's centre on the first frame with a box). ``pan_limits`` / ``tilt_limits`` are
    ``(min, max)`` angles in radians (default: the footage edges, see the module docstring).
    """

    def __init__(
        self,
        camera: VirtualCamera,
        *,
        hfov_deg: float = 60.0,
        max_rate: float | tuple[float, float] = 2.0,
        pan_limits: tuple[float, float] | None = None,
        tilt_limits: tuple[float, float] | None = None,
        mapping: Literal["linear", "tan"] = "linear",
        centre: tuple[float, float] | None = None,
    ) -> None:
        if not (np.isfinite(hfov_deg) and 0.0 < hfov_deg < 180.0):
            raise ValueError(f"hfov_deg must be in (0, 180), got {hfov_deg}")
        if mapping not in ("linear", "tan"):
            raise ValueError(f"mapping must be 'linear' or 'tan', got {mapping!r}")
        self.camera = camera
        self.mapping = mapping
        self.hfov = math.radians(hfov_deg)
        width, height = camera.size
        self.focal = (width / 2.0) / math.tan(self.hfov / 2.0)
        self.max_rate = _pair(max_rate, "max_rate")
        if centre is None:
            boxes, absent = camera.targets()
            present = np.flatnonzero(~absent)
            if present.size == 0:
                raise ValueError("the source has no target box; give the gimbal a centre")
            box = boxes[present[0]]
            centre = (box[0] + box[2] / 2.0, box[1] + box[3] / 2.0)
        self.home = (float(centre[0]), float(centre[1]))
        sw, sh = camera.scene_size
        # pan > 0 moves the window left: the left edge x = 0 is reached at +angle
        self.pan_limits = self._limits(pan_limits, self.home[0], sw - self.home[0], "pan")
        self.tilt_limits = self._limits(tilt_limits, sh - self.home[1], self.home[1], "tilt")
        self.reset()

    def _angle(self, pixels: float) -> float:
        return pixels / self.focal if self.mapping == "linear" else math.atan(pixels / self.focal)

    def _pixels(self, angle: float) -> float:
        return self.focal * angle if self.mapping == "linear" else self.focal * math.tan(angle)

    def _limits(
        self, given: tuple[float, float] | None, to_max: float, to_min: float, name: str
    ) -> tuple[float, float]:
        if given is None:
            low, high = -self._angle(max(0.0, to_min)), self._angle(max(0.0, to_max))
        else:
            low, high = (float(v) for v in given)
        if self.mapping == "tan":  # tan is unbounded at +-90 degrees
            edge = math.pi / 2.0 - 1e-3
            low, high = max(low, -edge), min(high, edge)
        if not (np.isfinite([low, high]).all() and low <= 0.0 <= high):
            raise ValueError(f"{name} limits must be finite with min <= 0 <= max, got {given}")
        return (low, high)

    def reset(self, pan: float = 0.0, tilt: float = 0.0, time: float = 0.0) -> None:
        """Point at ``(pan, tilt)`` (clipped to the limits) at simulated ``time``."""
        if not np.isfinite([pan, tilt, time]).all() or time < 0:
            raise ValueError("reset needs finite angles and a time >= 0")
        self.pan = float(np.clip(pan, *self.pan_limits))
        self.tilt = float(np.clip(tilt, *self.tilt_limits))
        self.time = float(time)
        self._applied = (0.0, 0.0)
        self._limited = False

    def intrinsics(self) -> Intrinsics:
        """Focal lengths and principal point of the simulated camera (window pixels)."""
        width, height = self.camera.size
        return Intrinsics(self.focal, self.focal, width / 2.0, height / 2.0, width, height)

    @property
    def index(self) -> int:
        """The source frame at the current simulated time (the last one once finished)."""
        return min(int(math.floor(self.time * self.camera.fps + 1e-9)), len(self.camera) - 1)

    @property
    def finished(self) -> bool:
        """Whether simulated time has passed the last source frame."""
        return self.time * self.camera.fps + 1e-9 >= len(self.camera)

    def centre(self) -> tuple[float, float]:
        """The window centre in scene pixels for the current angles."""
        return (self.home[0] - self._pixels(self.pan), self.home[1] + self._pixels(self.tilt))

    def state(self) -> GimbalState:
        """Angles, applied rates, time and frame now."""
        return GimbalState(
            self.pan,
            self.tilt,
            self._applied[0],
            self._applied[1],
            self.time,
            self.index,
            self._limited,
            self.finished,
        )

    def view(self) -> View:
        """The current view (image + true target box) without advancing time."""
        return self.camera.render(self.index, self.centre())

    def step(self, pan_rate: float, tilt_rate: float, dt: float) -> View:
        """Apply the commanded rates (rad/s) for ``dt`` seconds of simulated time and return
        the new view. Non-finite input or ``dt <= 0`` is a :class:`ValueError` (a simulator
        must not silently turn a bad command into motion)."""
        if not np.isfinite([pan_rate, tilt_rate, dt]).all():
            raise ValueError(f"non-finite gimbal command ({pan_rate}, {tilt_rate}, dt={dt})")
        if dt <= 0:
            raise ValueError(f"dt must be > 0, got {dt}")
        rates = (
            float(np.clip(pan_rate, -self.max_rate[0], self.max_rate[0])),
            float(np.clip(tilt_rate, -self.max_rate[1], self.max_rate[1])),
        )
        limited = rates != (float(pan_rate), float(tilt_rate))
        pan = float(np.clip(self.pan + rates[0] * dt, *self.pan_limits))
        tilt = float(np.clip(self.tilt + rates[1] * dt, *self.tilt_limits))
        limited |= pan != self.pan + rates[0] * dt or tilt != self.tilt + rates[1] * dt
        self._applied = ((pan - self.pan) / dt, (tilt - self.tilt) / dt)
        self.pan, self.tilt = pan, tilt
        self.time += float(dt)
        self._limited = limited
        return self.view()
