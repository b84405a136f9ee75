"""Tracker tunables as node parameters (issue 22): the ``tracker.*`` table in
``ros/tracker_tunables.py`` maps ROS values onto ``Tracker.update_settings``; a change alters the
real tracker's behaviour from the next frame on. No ROS process is started here (the table is
plain data)."""

from __future__ import annotations

from collections.abc import Iterator

import cv2
import numpy as np
import pytest

from siam_tracker_ros.core.loading import load_tracker
from siam_tracker_ros.core.result import TrackState
from siam_tracker_ros.core.tracker import Tracker
from siam_tracker_ros.ros.tracker_params import PARAMS
from siam_tracker_ros.ros.tracker_tunables import (
    TUNABLE_NAMES,
    TUNABLES,
    TunableTracker,
    tunable_overrides,
    tunable_reason,
    tunable_values,
)


def _scene(shift: int = 0) -> np.ndarray:
    """A textured 48x48 target on a textured background (an easy target to track)."""
    rng = np.random.default_rng(3)
    bg = cv2.resize(rng.integers(0, 256, (30, 40, 3), dtype=np.uint8), (320, 240))
    tex = cv2.resize(
        rng.integers(0, 256, (12, 12, 3), dtype=np.uint8), (48, 48), interpolation=cv2.INTER_NEAREST
    )
    bg[96:144, 120 + shift : 168 + shift] = tex
    return bg


@pytest.fixture(scope="module")
def bundled() -> Tracker:
    t = load_tracker()  # the bundled model (loaded once for this module)
    assert isinstance(t, TunableTracker)
    return t


@pytest.fixture
def tracker(bundled: Tracker) -> Iterator[Tracker]:
    """The bundled tracker, its settings put back to the model's own after each test."""
    model = tunable_values(bundled.config.to_dict())
    yield bundled
    bundled.update_settings(tunable_overrides(model))


def test_names_do_not_clash_with_the_node_table() -> None:
    assert not TUNABLE_NAMES & {p.name for p in PARAMS}
    assert all(name.startswith("tracker.") for name in TUNABLE_NAMES)
    assert len(TUNABLE_NAMES) == len(TUNABLES)


def test_defaults_are_the_models_own_values(tracker: Tracker) -> None:
    values = tunable_values(tracker.config.to_dict())
    lost = tracker.config.mechanisms.lost_state
    assert values["tracker.detect_lost"] == lost.enabled
    assert values["tracker.lost_threshold"] == lost.lost_threshold
    assert values["tracker.found_threshold"] == lost.found_threshold
    assert values["tracker.patience"] == lost.patience
    assert values["tracker.presence"] == lost.presence
    assert values["tracker.window_influence"] == tracker.config.window_influence
    assert values["tracker.search_region"] == (
        "adaptive" if tracker.config.mechanisms.adaptive_search.enabled else "fixed"
    )
    assert values["tracker.search_while_lost"] == ("follow" if lost.keep_tracking else "redetect")
    # each ROS value is a valid parameter value of its own table entry, and maps back unchanged
    for t in TUNABLES:
        assert t.param(values[t.name]).check(values[t.name]) is None
    back = tunable_overrides(values)
    assert back["mechanisms.lost_state.keep_tracking"] == lost.keep_tracking
    assert back["window_influence"] == tracker.config.window_influence


@pytest.mark.parametrize(
    ("updates", "message"),
    [
        ({"tracker.lost_threshold": 1.5}, "tracker.lost_threshold=1.5 outside [0.0, 1.0]"),
        ({"tracker.patience": 0}, "tracker.patience=0 outside"),
        ({"tracker.patience": 2.5}, "tracker.patience must be a int, got float"),
        ({"tracker.search_region": "huge"}, "one of: adaptive, fixed"),
        ({"tracker.presence": "maybe"}, "one of: score, combined"),
        ({"tracker.nope": 1.0}, "unknown tracker parameter tracker.nope"),
    ],
)
def test_bad_values_are_refused_naming_the_parameter(updates: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace(".", r"\.")):
        tunable_overrides(updates)


def test_an_integer_passes_for_a_double() -> None:
    assert tunable_overrides({"tracker.window_influence": 1}) == {"window_influence": 1.0}


def test_a_threshold_change_applies_on_the_next_frame(tracker: Tracker) -> None:
    """Raising the lost threshold above any presence makes the very next step LOST; setting it
    back lets the target be found again. The target is never re-initialised."""
    model = tunable_values(tracker.config.to_dict())
    tracker.init(_scene(), (120, 96, 48, 48))
    assert tracker.track(_scene(2)).state == TrackState.TRACKING
    high = {"tracker.lost_threshold": 1.0, "tracker.found_threshold": 1.0, "tracker.patience": 1}
    tracker.update_settings(tunable_overrides({**high, "tracker.detect_lost": True}))
    result = tracker.track(_scene(4))
    assert result.state == TrackState.LOST and not result.present
    assert tunable_values(tracker.config.to_dict())["tracker.lost_threshold"] == 1.0
    tracker.update_settings(
        tunable_overrides(
            {k: model[k] for k in ("tracker.lost_threshold", "tracker.found_threshold")}
        )
    )
    states = [tracker.track(_scene(4)).state for _ in range(3)]
    assert states[-1] == TrackState.TRACKING


def test_detect_lost_off_keeps_tracking_whatever_the_thresholds(tracker: Tracker) -> None:
    tracker.init(_scene(), (120, 96, 48, 48))
    high = {"tracker.lost_threshold": 1.0, "tracker.found_threshold": 1.0, "tracker.patience": 1}
    tracker.update_settings(tunable_overrides({**high, "tracker.detect_lost": False}))
    results = [tracker.track(_scene(2 * i)) for i in range(1, 4)]
    assert all(r.state == TrackState.TRACKING and r.present for r in results)
    tracker.update_settings(tunable_overrides({"tracker.detect_lost": True}))
    assert tracker.track(_scene(8)).state == TrackState.LOST  # the same thresholds now apply


def test_mode_and_window_changes_reach_the_tracker(tracker: Tracker) -> None:
    tracker.init(_scene(), (120, 96, 48, 48))
    tracker.update_settings(
        tunable_overrides(
            {
                "tracker.search_region": "fixed",
                "tracker.search_while_lost": "follow",
                "tracker.window_influence": 0.2,
            }
        )
    )
    assert tracker.track(_scene(2)).state == TrackState.TRACKING
    values = tunable_values(tracker.config.to_dict())
    assert values["tracker.search_region"] == "fixed"
    assert values["tracker.search_while_lost"] == "follow"
    assert values["tracker.window_influence"] == 0.2


def test_cross_key_errors_name_the_ros_parameter(tracker: Tracker) -> None:
    """found >= lost is the tracker's own rule; its error comes back in parameter names."""
    with pytest.raises(ValueError) as exc:
        tracker.update_settings(
            tunable_overrides({"tracker.lost_threshold": 0.9, "tracker.found_threshold": 0.2})
        )
    reason = tunable_reason(exc.value)
    assert "tracker.found_threshold" in reason and "mechanisms" not in reason, reason
