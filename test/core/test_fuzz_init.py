"""``Tracker.init`` refuses what it cannot track, says why, and never loses the previous target.

Issue 21: ``(0, 0, 100, 1e300)`` raised ``OverflowError``, ``(0, 0, 1e15, 1e15)`` a ``cv2.error``,
``(190, 111, 1e5, 50)`` a ``MemoryError`` (21 GiB), a 10000 px wide box on 640x480 was accepted
(+0.9 GB), and after the ``OverflowError`` the previous target was gone. The fuzz test runs the
conftest hypothesis profile (``ci``: 2,000 examples; ``HYPOTHESIS_PROFILE=long``: 20,000).
"""

from __future__ import annotations

import numpy as np
import pytest
from core_fakes import ScriptedAnchorModel, textured_sequence

from siam_tracker_ros.core.config import TrackerConfig
from siam_tracker_ros.core.tracker import Tracker

hypothesis = pytest.importorskip("hypothesis")
st = pytest.importorskip("hypothesis.strategies")

ISSUE_21_BOXES = [
    ((0, 0, 100, 1e300), "too large"),
    ((0, 0, 1e15, 1e15), "too large"),
    ((190, 111, 1e5, 50), "too large"),
    ((0, 100, 10000, 120), "too large"),  # 10000 px wide on 640x480
    ((float("nan"), 10, 50, 50), "finite"),
    ((10, 10, float("inf"), 50), "finite"),
    ((10, 10, -5, 50), "width and height"),
    ((10, 10, 0.2, 50), "at least 1 px"),
    ((100, 100, 400, 2), "aspect ratio"),
    ((600, 400, 200, 200), "mostly outside"),  # 40 x 80 of 200 x 200 inside
    ((700, 10, 20, 20), "outside"),
]


def _frame(h: int = 480, w: int = 640, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


@pytest.mark.parametrize(("box", "why"), ISSUE_21_BOXES)
def test_rejected_init_says_why_and_keeps_the_previous_target(box: tuple, why: str) -> None:
    """The bundled model: a refused init leaves the running track exactly as it was."""
    from siam_tracker_ros.core.loading import load_tracker

    tracker = load_tracker()
    frames, gt = textured_sequence(n_frames=4, height=480, width=640)
    tracker.init(frames[0], gt[0])
    tracker.track(frames[1])
    before = (tracker.center_pos.copy(), tracker.size.copy(), tracker.frame_index)
    with pytest.raises(ValueError, match=why):
        tracker.init(frames[1], box)
    assert tracker.initialized
    np.testing.assert_array_equal(tracker.center_pos, before[0])
    np.testing.assert_array_equal(tracker.size, before[1])
    assert tracker.frame_index == before[2]
    result = tracker.track(frames[2])  # the previous target still tracks
    assert np.all(np.isfinite(result.box))
    x, y, w, h = result.box
    assert abs(x + w / 2 - (gt[2, 0] + gt[2, 2] / 2)) < 20 and abs(y + h / 2 - (gt[2, 1] + 28)) < 20


def test_a_box_on_the_border_and_a_large_one_are_still_accepted() -> None:
    tracker = Tracker(ScriptedAnchorModel(), TrackerConfig())
    image = _frame()
    tracker.init(image, (600, 400, 80, 120))  # half inside: a target entering the frame
    tracker.init(image, (-500, -400, 2000, 1500))  # larger than the image, within 4x
    tracker.init(image, (10, 10, 300, 4))  # 75:1
    assert tracker.track(image).box.shape == (4,)


_coordinate = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.floats(min_value=-200, max_value=400),
    st.integers(min_value=-(10**6), max_value=10**6).map(float),
)


@hypothesis.given(box=st.tuples(_coordinate, _coordinate, _coordinate, _coordinate))
def test_fuzz_init_boxes(box: tuple[float, float, float, float]) -> None:
    """Any 4 floats: either a ``ValueError`` that leaves the previous target tracking, or an
    accepted target that then tracks a frame with a finite box of bounded size."""
    image = _frame(120, 160, seed=1)
    tracker = _fuzz_tracker()
    tracker.init(image, (60, 40, 30, 30))
    before = tracker.center_pos.copy()
    try:
        tracker.init(image, box)
    except ValueError as exc:
        assert str(exc)
        np.testing.assert_array_equal(tracker.center_pos, before)
    result = tracker.track(image)
    assert np.all(np.isfinite(result.box))
    assert 0 < result.box[2] <= 160 and 0 < result.box[3] <= 120  # clipped to the image


_TRACKER: list[Tracker] = []


def _fuzz_tracker() -> Tracker:
    """One fake-model tracker for all examples (init resets it; building one per example would
    dominate the run)."""
    if not _TRACKER:
        _TRACKER.append(Tracker(ScriptedAnchorModel(), TrackerConfig()))
    return _TRACKER[0]
