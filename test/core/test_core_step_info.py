"""``Tracker.last_step``: the public record of what one tracking step did (benches and
calibration read it instead of patching the tracker)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from core_fakes import ScriptedAnchorModel

from siam_tracker_ros.core.config import (
    MechanismsConfig,
    OneMoreSearchConfig,
    OnlineUpdateConfig,
    TrackerConfig,
)
from siam_tracker_ros.core.tracker import Tracker

PHASES = {"crop", "network", "decode", "presence", "online_update", "total"}


def _image() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8)


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def test_step_info_records_both_searches_and_the_chosen_one() -> None:
    model = ScriptedAnchorModel(fg_logits=[3.0, -4.0, 2.0], dx=0.3)
    mech = MechanismsConfig(one_more_search=OneMoreSearchConfig(enabled=True))
    tracker = Tracker(model, TrackerConfig(mechanisms=mech))
    tracker.init(_image(), (200, 200, 60, 60))
    assert tracker.last_step is None
    tracker.track(_image())
    first = tracker.last_step
    assert first is not None and first.frame_index == 1 and len(first.searches) == 1
    result = tracker.track(_image())  # score sigmoid(-4) < 0.1: one more search, which wins
    step = tracker.last_step
    assert step is not None and step.frame_index == 2
    assert [s.instance_size for s in step.searches] == [255, 255]
    assert step.chosen == 1 and step.candidate is step.searches[1].candidate
    assert step.searches[0].candidate.score == pytest.approx(_sigmoid(-4.0), rel=1e-5)
    assert step.candidate.score == pytest.approx(result.score)
    assert step.searches[1].center != step.searches[0].center  # moved by the last motion
    crop = step.searches[1].crop_size
    np.testing.assert_allclose(result.search_box[2:], [crop, crop])
    assert set(step.timings) == PHASES
    assert all(v >= 0 for v in step.timings.values())
    assert step.timings["total"] >= sum(v for k, v in step.timings.items() if k != "total")
    assert step.presence == pytest.approx(result.score) and step.appearance is None


def test_step_info_says_when_the_template_was_updated() -> None:
    model = ScriptedAnchorModel(fg_logits=[3.0])
    online = OnlineUpdateConfig(enabled=True, min_score=0.5)
    tracker = Tracker(model, TrackerConfig(mechanisms=MechanismsConfig(online_update=online)))
    tracker.init(_image(), (200, 200, 60, 60))
    tracker.track(_image())
    assert tracker.last_step is not None and tracker.last_step.online_update
    tracker.update_settings({"mechanisms.online_update.min_score": 0.99})
    tracker.track(_image())
    assert tracker.last_step is not None and not tracker.last_step.online_update
    tracker.reset()
    assert tracker.last_step is None
