"""The debug image can be drawn in every tracker state (an unmapped state once killed the node's
tracking thread when the tracker first said AMBIGUOUS, issue 19)."""

from __future__ import annotations

import numpy as np
import pytest

from siam_tracker_ros.core.result import TrackState
from siam_tracker_ros.ros.visualization import STATE_COLOURS, draw_track


@pytest.mark.parametrize("state", list(TrackState))
def test_every_state_has_a_colour_and_draws(state: TrackState) -> None:
    assert state in STATE_COLOURS
    image = np.zeros((120, 160, 3), np.uint8)
    out = draw_track(image, (40, 30, 50, 40), 0.9, state, label="t")
    assert out.shape == image.shape and out.any()
    assert not image.any()  # drawn on a copy
