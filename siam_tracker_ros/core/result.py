"""What one tracking step returns: the box, a confidence, a presence flag and the response map.

ROS users need a reliable "target lost" signal (pytracking-style presence), so ``present`` and
``state`` are first-class fields, not something derived downstream from a raw score.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

import numpy as np


class TrackState(enum.IntEnum):
    """Tracker state; values match ``siam_tracker_ros/msg/TrackerStatus`` constants."""

    IDLE = 0
    TRACKING = 1
    LOST = 2


@dataclass(frozen=True)
class TrackResult:
    """Result of ``Tracker.track``.

    box: ``(x, y, w, h)`` float64 in image pixels (top-left corner, size); when the target is lost
        this is the last confident box (so consumers can keep a reasonable estimate), or the
        tracker's current estimate with ``lost_state.keep_tracking``.
    score: the network's best raw (un-penalised) foreground score in [0, 1].
    present: ``False`` when the lost-state policy says the target is not visible.
    state: TRACKING or LOST.
    response: float32 response map (H x W, max over anchors) of the search region, for debugging.
    search_box: ``(x, y, w, h)`` of the search region in image pixels that ``response`` covers.
    """

    box: np.ndarray
    score: float
    present: bool
    state: TrackState
    response: np.ndarray = field(repr=False)
    search_box: np.ndarray = field(default_factory=lambda: np.zeros(4))
