"""The search economy policy: a smaller search crop while the target is steady, the full crop
again at the first sign of trouble, and nothing changed while it is off.

The scripted fake model (``core_fakes.ScriptedAnchorModel``) sets each search's best score and
shift and records the size of every search crop, so what the policy plans is observable exactly.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from core_fakes import ScriptedAnchorModel, textured_sequence

from siam_tracker_ros.core.config import (
    AdaptiveSearchConfig,
    LostStateConfig,
    MechanismsConfig,
    TrackerConfig,
)
from siam_tracker_ros.core.policies import POLICIES, SearchEconomyConfig, SearchEconomyPolicy
from siam_tracker_ros.core.result import TrackState
from siam_tracker_ros.core.tracker import Tracker

HI, LO = 3.0, -3.0  # raw best scores 0.95 and 0.05
BOX = (200, 200, 60, 60)  # not small for the adaptive search (3600 / 307200 > 0.004)


def _image(h: int = 480, w: int = 640, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _tracker(model: ScriptedAnchorModel, **mech: Any) -> Tracker:
    return Tracker(model, TrackerConfig(mechanisms=MechanismsConfig(**mech)), device="cpu")


def _economy(**kw: Any) -> SearchEconomyConfig:
    return SearchEconomyConfig(**{"enabled": True, "steady_frames": 3, **kw})


def test_registered_last_and_off_by_default() -> None:
    # last in the registry: its plan runs after the policies that widen the search
    assert list(POLICIES)[-1] == "search_economy"
    assert not TrackerConfig().mechanisms.search_economy.enabled
    assert not SearchEconomyPolicy(SearchEconomyConfig()).enabled


def test_shrinks_after_steady_frames() -> None:
    model = ScriptedAnchorModel(fg_logits=[HI])
    tracker = _tracker(model, search_economy=_economy())
    assert 223 in tracker.search_sizes()  # prepared before the first frame
    tracker.init(_image(), BOX)
    results = [tracker.track(_image()) for _ in range(6)]
    # 3 calm frames at the full size, then the economical crop
    assert model.search_sizes == [255, 255, 255, 223, 223, 223]
    # smaller in the image too (same resolution): 223/255 of the full crop's side (the target's
    # size, and so the crop's, changes a little from frame to frame)
    full, small = results[2].search_box[2], results[3].search_box[2]
    assert small == pytest.approx(full * 223 / 255, rel=0.02)
    assert results[3].response.shape == ((223 - 127) // 8 + 9,) * 2
    policy = tracker.policy("search_economy")
    assert (policy.steps, policy.economical, policy.researched) == (6, 3, 0)
    tracker.probe(_image())  # a look at the next search, not a step: nothing counted
    assert (policy.steps, policy.economical) == (6, 3)
    assert tracker.last_step is not None
    assert tracker.last_step.policies["search_economy"] == {"instance_size": 223}


def test_low_score_researches_at_full_size_and_restarts_the_streak() -> None:
    model = ScriptedAnchorModel(fg_logits=[HI, HI, HI, HI, LO, LO] + [HI] * 5)
    tracker = _tracker(model, search_economy=_economy())
    tracker.init(_image(), BOX)
    results = [tracker.track(_image()) for _ in range(8)]
    # frame 5: the economical search scores low -> the same frame again at 255, and its result
    # is the one used; frame 6 is at full size; then 3 calm frames before the next economy
    assert model.search_sizes == [255, 255, 255, 223, 223, 255, 255, 255, 255]
    assert results[4].response.shape == results[0].response.shape == (25, 25)
    assert tracker.policy("search_economy").researched == 1


def test_without_research_the_next_frame_widens() -> None:
    model = ScriptedAnchorModel(fg_logits=[HI, HI, HI, HI, LO] + [HI] * 5)
    tracker = _tracker(model, search_economy=_economy(research=False))
    tracker.init(_image(), BOX)
    for _ in range(8):
        tracker.track(_image())
    assert model.search_sizes == [255, 255, 255, 223, 223, 255, 255, 255]


def test_fast_motion_is_trouble() -> None:
    # every candidate ~13 crop px off the centre: calm under max_shift 16, trouble under 8
    for max_shift, sizes in ((16.0, [255, 255, 255, 223]), (8.0, [255, 255, 255, 255])):
        model = ScriptedAnchorModel(fg_logits=[HI], dx=0.2)
        tracker = _tracker(model, search_economy=_economy(max_shift=max_shift))
        tracker.init(_image(), BOX)
        for _ in range(4):
            tracker.track(_image())
        assert model.search_sizes == sizes


def test_never_shrinks_a_plan_another_policy_changed() -> None:
    # a small target: the adaptive search's large crop stays, however calm the target
    model = ScriptedAnchorModel(fg_logits=[HI])
    mech = {"adaptive_search": AdaptiveSearchConfig(enabled=True), "search_economy": _economy()}
    tracker = _tracker(model, **mech)
    tracker.init(_image(), (300, 200, 12, 12))
    for _ in range(6):
        tracker.track(_image())
    assert model.search_sizes == [351] * 6
    policy = tracker.policy("search_economy")
    assert policy.base_size == 255 and policy.economical == 0


def test_lost_widens_and_economy_waits_for_calm_tracking() -> None:
    model = ScriptedAnchorModel(fg_logits=[HI] * 4 + [LO] * 3 + [HI] * 5)
    lost = LostStateConfig(enabled=True, lost_threshold=0.3, found_threshold=0.6, patience=1)
    tracker = _tracker(model, lost_state=lost, search_economy=_economy(research=False))
    tracker.init(_image(), BOX)
    states = [tracker.track(_image()).state for _ in range(11)]
    T, L = TrackState.TRACKING, TrackState.LOST
    assert states == [T, T, T, T, L, L, L, T, T, T, T]
    # economy from frame 4; lost at frame 5 -> the lost state's widened re-detection, never the
    # economical crop; found again (calm) at frame 8 -> full size until 3 calm frames in a row
    assert model.search_sizes == [255, 255, 255, 223, 223, 383, 511, 511, 255, 255, 223]


def test_reinit_starts_over() -> None:
    model = ScriptedAnchorModel(fg_logits=[HI])
    tracker = _tracker(model, search_economy=_economy())
    tracker.init(_image(), BOX)
    for _ in range(5):
        tracker.track(_image())
    model.search_sizes.clear()
    tracker.init(_image(seed=1), (100, 100, 50, 70))
    tracker.track(_image(seed=1))
    assert model.search_sizes == [255]
    assert tracker.policy("search_economy").calm_frames == 1


def test_switched_off_at_run_time() -> None:
    model = ScriptedAnchorModel(fg_logits=[HI])
    tracker = _tracker(model, search_economy=_economy())
    tracker.init(_image(), BOX)
    for _ in range(4):
        tracker.track(_image())
    tracker.update_settings({"mechanisms.search_economy.enabled": False})
    for _ in range(2):
        tracker.track(_image())
    assert model.search_sizes == [255, 255, 255, 223, 255, 255]
    with pytest.raises(ValueError, match="search_economy.instance_size"):
        tracker.update_settings({"mechanisms.search_economy.instance_size": 191})


def test_off_leaves_the_step_unchanged() -> None:
    """Disabled, however configured, the tracker is the one without the policy: same crops,
    boxes, scores and step records, on a real (textured, moving) sequence."""
    frames, gt = textured_sequence(n_frames=30)
    runs = []
    for economy in (SearchEconomyConfig(), SearchEconomyConfig(instance_size=191, max_shift=99)):
        model = ScriptedAnchorModel(fg_logits=[HI], dx=0.05)
        tracker = _tracker(model, search_economy=economy)
        tracker.init(frames[0], gt[0])
        out = []
        for frame in frames[1:]:
            res = tracker.track(frame)
            assert tracker.last_step is not None
            searches = [
                (s.center, s.crop_size, s.instance_size) for s in tracker.last_step.searches
            ]
            out.append((res.box.tolist(), res.score, searches))
        runs.append((out, list(model.search_sizes)))
    assert runs[0] == runs[1]
    assert set(runs[0][1]) == {255}


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("instance_size", 0),
        ("steady_frames", 0),
        ("min_score", 1.5),
        ("min_presence", -0.1),
        ("max_shift", float("nan")),
    ],
)
def test_config_errors_name_the_key(key: str, value: Any) -> None:
    with pytest.raises(ValueError, match=key):
        SearchEconomyConfig(**{key: value})


def test_economy_size_keeps_the_map_parity_and_never_grows() -> None:
    def size(configured: int, base: int = 255) -> int | None:
        policy = SearchEconomyPolicy(SearchEconomyConfig(enabled=True, instance_size=configured))
        return policy.economy_size(base, 127, 16)

    # two strides at a time below 255 (15 x 15 map): 223 (13 x 13), 191 (11 x 11), 159 (9 x 9)
    configured = (254, 239, 223, 207, 195, 191, 160, 127)
    assert [size(s) for s in configured] == [223, 223, 223, 191, 191, 191, 159, 127]
    assert size(100) is None  # below the exemplar: no economy
    assert size(255) is None and size(300) is None  # not smaller than the base: no economy
    assert size(191, base=191) is None
    assert SearchEconomyPolicy(SearchEconomyConfig(instance_size=300)).search_sizes(255) == []
