"""``Tracker.update_settings``: run-time tracker settings (what the ROS node's tunables call)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from core_fakes import ScriptedAnchorModel

from siam_tracker_ros.core.config import (
    LostStateConfig,
    MechanismsConfig,
    TrackerConfig,
    settings_with_overrides,
)
from siam_tracker_ros.core.result import TrackState
from siam_tracker_ros.core.tracker import Tracker


def _image(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (480, 640, 3), dtype=np.uint8)


def _logit(p: float) -> float:
    return math.log(p / (1 - p))


def _lost_tracker(model: ScriptedAnchorModel, **lost: object) -> Tracker:
    lost_cfg = LostStateConfig(enabled=True, **lost)  # type: ignore[arg-type]
    cfg = TrackerConfig(mechanisms=MechanismsConfig(lost_state=lost_cfg))
    return Tracker(model, cfg)


def test_threshold_change_applies_from_the_next_track() -> None:
    # score 0.45 every frame: above lost_threshold 0.3, below 0.6 once the setting is raised
    model = ScriptedAnchorModel(fg_logits=[_logit(0.45)])
    tracker = _lost_tracker(model, lost_threshold=0.3, found_threshold=0.7, patience=1)
    tracker.init(_image(), (200, 200, 60, 60))
    assert tracker.track(_image()).state == TrackState.TRACKING
    tracker.update_settings({"mechanisms.lost_state.lost_threshold": 0.6})
    # not applied before a frame is tracked: the current config is the one the last step used
    assert tracker.config.mechanisms.lost_state.lost_threshold == 0.3
    assert tracker.track(_image()).state == TrackState.LOST
    assert tracker.config.mechanisms.lost_state.lost_threshold == 0.6
    # the target survives a settings change (no re-init needed)
    assert tracker.initialized


def test_several_keys_validate_together_and_tracker_prefix_is_accepted() -> None:
    tracker = Tracker(ScriptedAnchorModel(), TrackerConfig())
    # raising lost above the current found threshold only works with found raised in the same call
    with pytest.raises(ValueError, match=r"tracker\.mechanisms\.lost_state\.found_threshold"):
        tracker.update_settings({"mechanisms.lost_state.lost_threshold": 0.8})
    tracker.update_settings(
        {
            "tracker.mechanisms.lost_state.lost_threshold": 0.8,
            "mechanisms.lost_state.found_threshold": 0.9,
            "window_influence": 0.2,
        }
    )
    tracker.update_settings({"mechanisms.online_update.rate": 0.05})  # builds on the pending ones
    tracker.init(_image(), (200, 200, 60, 60))
    tracker.track(_image())
    cfg = tracker.config
    assert cfg.mechanisms.lost_state.lost_threshold == 0.8
    assert cfg.mechanisms.lost_state.found_threshold == 0.9
    assert cfg.window_influence == 0.2 and cfg.mechanisms.online_update.rate == 0.05


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"window_influence": 1.5}, r"tracker\.window_influence: must be in \[0, 1\]"),
        ({"window_influence": "high"}, r"tracker\.window_influence: expected a number"),
        ({"window_influence": float("nan")}, r"tracker\.window_influence: must be finite"),
        ({"mechanisms.lost_state.patience": 0}, r"tracker\.mechanisms\.lost_state\.patience"),
        ({"mechanisms.lost_state.patience": 2.5}, r"patience: expected an integer"),
        ({"mechanisms.online_update.enabled": "yes"}, r"enabled: expected true/false"),
        ({"mechanisms.lost_state.lost_treshold": 0.2}, r"lost_treshold: unknown key"),
        ({"mechanisms.nope.rate": 0.2}, r"tracker\.mechanisms\.nope: unknown section"),
        ({"mechanisms.lost_state": {}}, r"is a section"),
        ({"instance_size": 287}, r"tracker\.instance_size: cannot change while running"),
        ({"mechanisms.order": ["online_update"]}, r"tracker\.mechanisms\.order: cannot change"),
        ({"anchor.stride": 16}, r"tracker\.anchor\.stride: cannot change while running"),
        ({"device": "cpu"}, r"tracker\.device: unknown key"),  # the runtime's, not tracking
    ],
)
def test_bad_settings_are_refused_and_change_nothing(overrides: dict, match: str) -> None:
    tracker = Tracker(ScriptedAnchorModel(), TrackerConfig())
    before = tracker.config
    with pytest.raises(ValueError, match=match):
        tracker.update_settings(overrides)
    tracker.init(_image(), (200, 200, 60, 60))
    tracker.track(_image())
    assert tracker.config == before


def test_online_update_can_be_switched_on_mid_track() -> None:
    model = ScriptedAnchorModel(fg_logits=[3.0], pool_value=100.0)
    tracker = Tracker(model, TrackerConfig())
    tracker.init(_image(), (200, 200, 60, 60))
    tracker.track(_image())
    assert not model.rois  # off: nothing pooled
    tracker.update_settings({"mechanisms.online_update.enabled": True})
    tracker.track(_image())  # updates after this search
    tracker.track(_image())  # searches with the updated kernel
    assert len(model.rois) == 2
    first = model.seen_cls[0]
    assert model.seen_cls[-1] != first and model.seen_loc[-1] == model.seen_loc[0]


def test_settings_with_overrides_is_pure() -> None:
    cfg = TrackerConfig()
    new = settings_with_overrides(cfg, {"penalty_k": 0.1})
    assert cfg.penalty_k == 0.05 and new == dataclasses.replace(cfg, penalty_k=0.1)
