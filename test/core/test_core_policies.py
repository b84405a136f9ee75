"""SiamMargin mechanisms: each policy on its own, and its effect inside the Tracker.

The tracker tests use a scripted fake model (``core_fakes.ScriptedAnchorModel``) whose scores,
regression and kernels are known, so each mechanism's effect is observable exactly.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import torch
from core_fakes import ScriptedAnchorModel, make_target

from siam_tracker_ros.core.config import (
    AdaptiveSearchConfig,
    LostStateConfig,
    MechanismsConfig,
    OneMoreSearchConfig,
    OnlineUpdateConfig,
    TrackerConfig,
)
from siam_tracker_ros.core.policies import (
    AdaptiveSearchPolicy,
    LostStatePolicy,
    OneMoreSearchPolicy,
    OnlineUpdatePolicy,
    valid_instance_size,
)
from siam_tracker_ros.core.result import TrackState
from siam_tracker_ros.core.tracker import Tracker
from siam_tracker_ros.models.base import Kernels


def _sigmoid(x: float) -> float:
    return float(np.float32(1 / (1 + math.exp(-x))))


def _logit(p: float) -> float:
    return math.log(p / (1 - p))


def _image(h: int = 240, w: int = 320, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _tracker(model: ScriptedAnchorModel, **mech: Any) -> Tracker:
    return Tracker(model, TrackerConfig(mechanisms=MechanismsConfig(**mech)), device="cpu")


# ---------------------------------------------------------------- policies on their own
def test_online_update_policy_math() -> None:
    first = Kernels(cls=[torch.full((1, 2), 10.0)], loc=[torch.full((1, 2), -1.0)])
    pol = OnlineUpdatePolicy(OnlineUpdateConfig(enabled=True))
    pol.reset(make_target(first))
    assert pol.kernels() is first
    pol.update([torch.full((1, 2), 20.0)], score=0.5)
    rate = 0.18 * 0.5
    ma = (1 - rate) * 10 + rate * 20
    k = pol.kernels()
    torch.testing.assert_close(k.cls[0], torch.full((1, 2), 0.6 * 10 + 0.4 * ma))
    assert k.loc[0] is first.loc[0]  # regression keeps the first-frame kernel
    pol.update([torch.full((1, 2), 20.0)], score=1.0)
    ma = (1 - 0.18) * ma + 0.18 * 20
    torch.testing.assert_close(pol.kernels().cls[0], torch.full((1, 2), 0.6 * 10 + 0.4 * ma))
    torch.testing.assert_close(first.cls[0], torch.full((1, 2), 10.0))  # never modified
    with pytest.raises(ValueError, match="shape"):
        pol.update([torch.zeros(3)], score=1.0)
    assert not pol.wants_update(0.9, tracking=False)
    assert not OnlineUpdatePolicy(OnlineUpdateConfig(enabled=False)).wants_update(0.9, True)
    strict = OnlineUpdatePolicy(OnlineUpdateConfig(enabled=True, min_score=0.5))
    assert strict.wants_update(0.6, True) and not strict.wants_update(0.4, True)


def test_adaptive_search_policy_thresholds() -> None:
    pol = AdaptiveSearchPolicy(AdaptiveSearchConfig(enabled=True))
    shape = (1000, 1000)  # area 1e6: small below 4000 px^2
    assert pol.instance_size(255, (50, 79), shape, 0.0) == 351  # 3950 < 4000
    assert pol.instance_size(255, (50, 81), shape, 0.0) == 255  # 4050
    assert pol.instance_size(255, (100, 100), shape, 80.5) == 351
    assert pol.instance_size(255, (100, 100), shape, 79.5) == 255
    off = AdaptiveSearchPolicy(AdaptiveSearchConfig(enabled=False))
    assert off.instance_size(255, (5, 5), shape, 500.0) == 255


def test_one_more_search_policy() -> None:
    pol = OneMoreSearchPolicy(OneMoreSearchConfig(enabled=True))
    c, m = np.array([100.0, 50.0]), np.array([10.0, -20.0])
    np.testing.assert_allclose(pol.retry_center(0.05, c, m), [109.0, 32.0])
    assert pol.retry_center(0.15, c, m) is None  # confident enough
    assert pol.retry_center(0.05, c, np.zeros(2)) is None  # no motion: same crop again
    off = OneMoreSearchPolicy(OneMoreSearchConfig(enabled=False))
    assert off.retry_center(0.0, c, m) is None


def test_lost_state_hysteresis() -> None:
    pol = LostStatePolicy(
        LostStateConfig(enabled=True, lost_threshold=0.3, found_threshold=0.6, patience=2)
    )
    pol.reset(make_target())
    seq = [0.9, 0.2, 0.5, 0.2, 0.2, 0.5, 0.59, 0.7, 0.2]
    states = [pol.update(s) for s in seq]
    T, L = TrackState.TRACKING, TrackState.LOST
    # one low frame is tolerated; the count restarts on a good one; 0.5/0.59 stay lost
    assert states == [T, T, T, T, L, L, L, T, T]
    off = LostStatePolicy(LostStateConfig(enabled=False))
    off.reset(make_target())
    assert all(off.update(0.0) == T for _ in range(5))


def test_valid_instance_size() -> None:
    assert valid_instance_size(382.5, 127, 8) == 383
    assert valid_instance_size(510, 127, 8) == 511
    assert valid_instance_size(100, 127, 8) == 127


# ---------------------------------------------------------------- inside the Tracker
def test_online_update_changes_cls_kernel_only() -> None:
    img = _image()
    model = ScriptedAnchorModel(fg_logits=[3.0], pool_value=100.0)
    tracker = _tracker(model, online_update=OnlineUpdateConfig(enabled=True))
    tracker.init(img, (140, 100, 40, 40))
    r1 = tracker.track(img)
    c0 = model.seen_cls[0]
    assert model.seen_loc[0] == c0
    s1 = r1.score
    assert s1 == pytest.approx(_sigmoid(3.0))
    tracker.track(img)
    ma = (1 - 0.18 * s1) * c0 + 0.18 * s1 * 100.0
    assert model.seen_cls[1] == pytest.approx(0.6 * c0 + 0.4 * ma, rel=1e-6)
    assert model.seen_loc[1] == c0  # regression kernel untouched
    assert tracker.policy("online_update").updates == 2
    # the pooled roi is the predicted box in search-crop pixels (centred target here)
    roi = model.rois[0].numpy()
    assert abs((roi[0] + roi[2]) / 2 - 127.5) < 2 and abs((roi[1] + roi[3]) / 2 - 127.5) < 2
    assert roi[2] - roi[0] > 10 and roi[3] - roi[1] > 10


def test_online_update_off_keeps_first_kernel() -> None:
    img = _image()
    model = ScriptedAnchorModel(fg_logits=[3.0])
    tracker = _tracker(model)
    tracker.init(img, (140, 100, 40, 40))
    for _ in range(3):
        tracker.track(img)
    assert len(set(model.seen_cls)) == 1 and model.rois == []


def test_adaptive_search_small_target_uses_351() -> None:
    img = _image(480, 640)
    for enabled, expected in ((True, 351), (False, 255)):
        model = ScriptedAnchorModel()
        tracker = _tracker(model, adaptive_search=AdaptiveSearchConfig(enabled=enabled))
        tracker.init(img, (300, 200, 12, 12))  # 144 / 307200 < 0.004
        res = tracker.track(img)
        assert model.search_sizes == [expected]
        assert res.response.shape == ((expected - 127) // 8 + 9,) * 2


def test_adaptive_search_fast_motion_uses_351_next_frame() -> None:
    img = _image(480, 640)
    model = ScriptedAnchorModel(dx=1.6)  # every candidate ~100+ crop px to the right
    tracker = _tracker(model, adaptive_search=AdaptiveSearchConfig(enabled=True))
    tracker.init(img, (200, 200, 60, 60))  # not small: 3600 / 307200 = 0.0117
    tracker.track(img)
    tracker.track(img)
    assert model.search_sizes == [255, 351]


def test_one_more_search_keeps_the_better() -> None:
    img = _image(480, 640)
    for retry_logit, use_retry in ((2.0, True), (-5.0, False)):
        model = ScriptedAnchorModel(fg_logits=[3.0, -4.0, retry_logit], dx=0.3)
        tracker = _tracker(model, one_more_search=OneMoreSearchConfig(enabled=True))
        tracker.init(img, (200, 200, 60, 60))
        before = tracker.center_pos.copy()
        tracker.track(img)
        motion = tracker.center_pos - before
        centre = tracker.center_pos.copy()
        res = tracker.track(img)
        assert model.calls == 3  # one extra search in frame 2
        searched = res.search_box[:2] + res.search_box[2:] / 2
        target = centre + 0.9 * motion if use_retry else centre
        np.testing.assert_allclose(searched, target, atol=1.0)
        assert res.score == pytest.approx(_sigmoid(retry_logit if use_retry else -4.0))
    model = ScriptedAnchorModel(fg_logits=[3.0, -4.0, 2.0], dx=0.3)
    tracker = _tracker(model)
    tracker.init(img, (200, 200, 60, 60))
    tracker.track(img)
    tracker.track(img)
    assert model.calls == 2  # disabled: no extra search


def test_lost_state_in_tracker() -> None:
    img = _image(480, 640)
    hi, lo, mid = 3.0, -3.0, _logit(0.45)
    model = ScriptedAnchorModel(fg_logits=[hi, lo, lo, lo, mid, hi, hi], dx=0.2)
    cfg = LostStateConfig(
        enabled=True, lost_threshold=0.3, found_threshold=0.6, patience=2, redetect_widen=(1.5, 2.0)
    )
    tracker = _tracker(model, lost_state=cfg)
    tracker.init(img, (200, 200, 60, 60))
    results = [tracker.track(img) for _ in range(7)]
    states = [r.state for r in results]
    T, L = TrackState.TRACKING, TrackState.LOST
    assert states == [T, T, L, L, L, T, T]
    assert [r.present for r in results] == [s == T for s in states]
    # while lost the reported box is the last confident one (frame 1)
    for r in results[2:5]:
        np.testing.assert_array_equal(r.box, results[0].box)
    # re-detection widens the search: 255 while tracking, then 1.5x and 2x (whole score maps)
    assert model.search_sizes == [255, 255, 255, 383, 511, 511, 255]
    assert results[5].box[0] != results[0].box[0]  # found again: the box moves on


def test_lost_state_disabled_is_always_present() -> None:
    img = _image(480, 640)
    model = ScriptedAnchorModel(fg_logits=[-6.0])
    tracker = _tracker(model)
    tracker.init(img, (200, 200, 60, 60))
    results = [tracker.track(img) for _ in range(5)]
    assert all(r.present and r.state == TrackState.TRACKING for r in results)
    assert set(model.search_sizes) == {255}


def test_reinit_resets_all_state() -> None:
    img = _image(480, 640)
    other = _image(480, 640, seed=5) // 2
    model = ScriptedAnchorModel(fg_logits=[3.0, -3.0, -3.0, -3.0, 3.0], dx=0.5)
    mech = dict(
        online_update=OnlineUpdateConfig(enabled=True),
        lost_state=LostStateConfig(enabled=True, patience=1),
        adaptive_search=AdaptiveSearchConfig(enabled=True),
        one_more_search=OneMoreSearchConfig(enabled=True),
    )
    tracker = _tracker(model, **mech)
    tracker.init(img, (200, 200, 60, 60))
    for _ in range(3):
        tracker.track(img)
    assert tracker.state == TrackState.LOST and tracker.policy("online_update").updates >= 1
    model.fg_logits, model.calls, model.dx = [3.0], 0, 0.0
    old_kernel = model.seen_loc[0]
    for seen in (model.search_sizes, model.seen_cls, model.seen_loc):
        seen.clear()
    tracker.init(other, (100, 100, 50, 70))
    assert tracker.state == TrackState.TRACKING and tracker.policy("online_update").updates == 0
    assert tracker.frame_index == 0
    np.testing.assert_array_equal(tracker.size, [50, 70])
    res = tracker.track(other)
    assert res.present and model.search_sizes == [255]  # no leftover widening / fast motion
    # searched at the new target (no motion carried over, no one-more search from old motion)
    assert tracker.last_step is not None
    assert [s.center for s in tracker.last_step.searches] == [(124.5, 134.5)]
    # fresh template kernels from the new image, no moving average carried over
    assert model.seen_cls[0] == model.seen_loc[0] != old_kernel
    tracker.reset()
    assert not tracker.initialized and tracker.state == TrackState.IDLE
    with pytest.raises(RuntimeError, match="before init"):
        tracker.track(other)
