"""The tracker says AMBIGUOUS when a look-alike competes with the target, keeps the box on the
target, and does not fold ambiguous frames into its template (issue 19: no silent swaps).

A scripted head (``TwoPeakModel``) puts the target's peak at the centre of every score map and,
from a chosen search on, a look-alike's peak ``offset`` cells to the right: what the tracker does
with such maps is what is tested, not a network.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from core_fakes import ScriptedAnchorModel

from siam_tracker_ros.core.config import TrackerConfig
from siam_tracker_ros.core.policies.distractors import DistractorConfig
from siam_tracker_ros.core.result import TrackState
from siam_tracker_ros.core.tracker import Tracker
from siam_tracker_ros.models.base import Features, HeadOutput, Kernels


class TwoPeakModel(ScriptedAnchorModel):
    """Background logit -6, the target's cell +6 at the map centre; from search ``from_search``
    on, a look-alike's cell with logit ``rival_logit`` ``offset`` cells right of the centre."""

    def __init__(self, from_search: int, rival_logit: float = 5.0, offset: int = 9) -> None:
        super().__init__()
        self.from_search, self.rival_logit, self.offset = from_search, rival_logit, offset

    def head(self, xf: Features, kernels: Kernels) -> HeadOutput:
        size = xf[0].shape[-1]
        n = (size - 127) // self.stride + 1 + self.base_size
        a = self.anchor_num
        c = n // 2
        cls = torch.zeros(1, 2 * a, n, n)
        cls[:, a:] = -6.0
        cls[:, a:, c, c] = 6.0
        if self.calls >= self.from_search:
            cls[:, a:, c, c + self.offset] = self.rival_logit
        self.calls += 1
        return HeadOutput(cls=cls, loc=torch.zeros(1, 4 * a, n, n))


def _config(**mechanisms: object) -> TrackerConfig:
    cfg = TrackerConfig()
    mech = dataclasses.replace(
        cfg.mechanisms,
        distractors=DistractorConfig(enabled=True, ambiguity_hold=0),
        **mechanisms,  # type: ignore[arg-type]
    )
    return dataclasses.replace(cfg, mechanisms=mech)


def _run(tracker: Tracker, frames: int = 6) -> list[TrackState]:
    img = np.full((240, 320, 3), 110, np.uint8)
    tracker.init(img, (120, 100, 40, 40))
    return [tracker.track(img).state for _ in range(frames)]


def test_a_look_alike_makes_the_state_ambiguous_and_the_box_stays_on_the_target() -> None:
    tracker = Tracker(TwoPeakModel(from_search=3), _config())
    states = _run(tracker)
    assert states == [TrackState.TRACKING] * 3 + [TrackState.AMBIGUOUS] * 3
    assert tracker.state == TrackState.AMBIGUOUS
    result = tracker.track(np.full((240, 320, 3), 110, np.uint8))
    assert result.present  # the target is believed in view; the state says it is contested
    np.testing.assert_allclose(result.box[:2], (120, 100), atol=1.0)


def test_a_weak_rival_or_the_switch_off_leaves_the_state_tracking() -> None:
    weak = Tracker(TwoPeakModel(from_search=1, rival_logit=-1.0), _config())
    assert set(_run(weak)) == {TrackState.TRACKING}
    off = _config()
    off = dataclasses.replace(
        off, mechanisms=dataclasses.replace(off.mechanisms, distractors=DistractorConfig())
    )
    assert set(_run(Tracker(TwoPeakModel(from_search=1), off))) == {TrackState.TRACKING}


def test_online_update_skips_ambiguous_frames() -> None:
    from siam_tracker_ros.core.config import OnlineUpdateConfig

    on = OnlineUpdateConfig(enabled=True)
    clean = Tracker(TwoPeakModel(from_search=100), _config(online_update=on))
    _run(clean)
    assert clean.policy("online_update").updates == 6
    crowded = Tracker(TwoPeakModel(from_search=2), _config(online_update=on))
    _run(crowded)
    assert (
        crowded.policy("online_update").updates == 2
    )  # the two frames before the look-alike appears


@pytest.mark.parametrize("value", [1.5, -0.1])
def test_distractor_settings_are_validated_at_run_time(value: float) -> None:
    tracker = Tracker(TwoPeakModel(from_search=1), _config())
    with pytest.raises(ValueError, match="ambiguity_ratio"):
        tracker.update_settings({"mechanisms.distractors.ambiguity_ratio": value})
