"""The project's virtual camera: a window moving over real annotated footage (ROS-free).

- :mod:`.virtual_camera`: :class:`VirtualCamera` renders a window (sub-pixel position, optional
  zoom, occluders) over a source sequence and carries its ground truth into the window (clipped;
  absent below 30 % visible).
- :mod:`.motions`: scripted window paths from small composable segments (follow, glance away,
  drift out of view, long absence, re-entry on the other side, occluders), seeded.
- :mod:`.gimbal`: :class:`GimbalCamera`, the window driven by pan/tilt rates over simulated
  time, with pinhole intrinsics: the core of the follow node's closed-loop simulator.
- :mod:`.scene`: a small generated scene (exact ground truth) for tests without ``../shared``.
- :mod:`.lt_dev`: long-term dev material from a recipe (``scripts/make_lt_dev.py``).

Layering: imports numpy, OpenCV and :mod:`siam_tracker_ros.datasets` only; evaluation, ros and
scripts may import it.
"""

from __future__ import annotations

from siam_tracker_ros.simulation.gimbal import GimbalCamera, GimbalState, Intrinsics
from siam_tracker_ros.simulation.motions import (
    MOTIONS,
    Absence,
    Drift,
    Follow,
    Glance,
    Motion,
    Occlude,
    Reenter,
    Script,
    motion_from_dict,
    plan,
)
from siam_tracker_ros.simulation.scene import SyntheticScene, synthetic_sequence
from siam_tracker_ros.simulation.virtual_camera import (
    MIN_VISIBLE,
    Occluder,
    View,
    VirtualCamera,
    window_label,
)

__all__ = [
    "MIN_VISIBLE",
    "MOTIONS",
    "Absence",
    "Drift",
    "Follow",
    "GimbalCamera",
    "GimbalState",
    "Glance",
    "Intrinsics",
    "Motion",
    "Occlude",
    "Occluder",
    "Reenter",
    "Script",
    "SyntheticScene",
    "View",
    "VirtualCamera",
    "motion_from_dict",
    "plan",
    "synthetic_sequence",
    "window_label",
]
