"""What one tracking step returns: the box, a confidence, a presence flag and the response map.

ROS users need a reliable "target lost" signal (pytracking-style presence), so ``present`` and
``state`` are first-class fields, not something derived downstream from a raw score.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from siam_tracker_ros.core.decoding import Candidate

__all__ = ["PresenceCues", "SearchInfo", "StepInfo", "TrackResult", "TrackState"]


class TrackState(enum.IntEnum):
    """Tracker state; values match ``siam_tracker_ros/msg/TrackerStatus`` constants."""

    IDLE = 0
    TRACKING = 1
    LOST = 2
    #: the target is believed visible but another candidate competes with it (a look-alike):
    #: the box may be on the wrong one, so a follower should slow down (``core.distractors``)
    AMBIGUOUS = 3


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


@dataclass(frozen=True)
class SearchInfo:
    """One search of a tracking step.

    center: crop centre ``(x, y)`` in image pixels. crop_size: side of the crop in image pixels.
    instance_size: side of the network input. candidate: the best (penalised) candidate, with its
    raw score, penalty and the response map; its box is in search-crop pixels relative to the
    crop centre.
    """

    center: tuple[float, float]
    crop_size: int
    instance_size: int
    candidate: Candidate


@dataclass(frozen=True)
class PresenceCues:
    """The cues a presence signal can be built from, for one search (calibration).

    score: raw best score. psr: peak-to-sidelobe ratio of the response map. appearance: cosine
    similarity of the classification kernel pooled at the predicted box with the first frame's.
    """

    score: float
    psr: float
    appearance: float


@dataclass(frozen=True)
class StepInfo:
    """What one ``Tracker.track`` call did (``Tracker.last_step``): for benches, calibration and
    debugging, so nothing outside the tracker needs its internals.

    searches: every search run, in order (a second one is SiamMargin's "one more search");
    chosen: index of the search whose candidate was used. presence: the signal the lost-state
    thresholds saw; appearance: the appearance similarity when it was computed (``None``
    otherwise). online_update: whether the template was updated. timings: seconds per phase --
    ``crop`` (cutting the crops), ``network`` (the backend, including the device round trip),
    ``decode`` (boxes, penalties, selection), ``presence`` (cues and the state machine),
    ``online_update`` and ``total`` (the whole step). policies: what each policy did this step,
    by policy name (only policies that did something; see ``core.policies``).
    """

    frame_index: int
    searches: tuple[SearchInfo, ...]
    chosen: int
    presence: float
    appearance: float | None
    online_update: bool
    timings: Mapping[str, float]
    policies: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @property
    def candidate(self) -> Candidate:
        """The candidate the step used."""
        return self.searches[self.chosen].candidate
