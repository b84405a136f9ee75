"""Fuzzing init boxes through the node's session (issue 21.5, node side): any 4 numbers (NaN,
inf, 1e300, negative, huge) either start a track on a box the tracker can use or raise
``InitError`` (a ``ValueError``), and a refused init never touches the running track.
Example counts come from the hypothesis profile (test/conftest.py)."""

from __future__ import annotations

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from ros_fakes import TemplateTracker, textured_target_frames  # noqa: E402

from siam_tracker_ros.core.result import TrackState  # noqa: E402
from siam_tracker_ros.ros.frame_buffer import Frame, FrameBuffer  # noqa: E402
from siam_tracker_ros.ros.session import (  # noqa: E402
    InitError,
    InitRequest,
    TrackingSession,
    validate_box,
)

VALUE = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(-1000, 1000),
    st.sampled_from([0.0, 1.0, 2.0, 1e15, 1e300, -1e300]),
)
BOX = st.tuples(VALUE, VALUE, VALUE, VALUE)
W, H = 320, 240


@given(box=BOX, width=st.integers(1, 2000), height=st.integers(1, 2000))
def test_validate_box_accepts_only_usable_boxes(
    box: tuple[float, ...], width: int, height: int
) -> None:
    try:
        b = validate_box(box, width, height)
    except InitError:
        return
    x, y, w, h = (float(v) for v in b)
    assert np.all(np.isfinite(b)) and w >= 2 and h >= 2
    assert 0 <= x + w / 2 < width and 0 <= y + h / 2 < height
    assert w <= 4 * width and h <= 4 * height and max(w / h, h / w) <= 100
    visible = max(0.0, min(x + w, width) - max(x, 0.0)) * max(0.0, min(y + h, height) - max(y, 0.0))
    assert visible >= 0.25 * min(w * h, width * height) * (1 - 1e-9)


class _StrictTracker(TemplateTracker):
    """The template tracker, refusing (like core Tracker.init) boxes of absurd aspect ratio
    before changing any state."""

    def init(self, image: np.ndarray, box: np.ndarray | tuple[float, ...]) -> None:
        w, h = float(box[2]), float(box[3])
        if max(w / h, h / w) > 100:
            raise ValueError(f"box {w:g}x{h:g} has an absurd aspect ratio")
        super().init(image, box)


IMAGES, TRUTH = textured_target_frames(3)
FRAMES = [Frame((i + 1) * 1_000_000, img) for i, img in enumerate(IMAGES)]


@given(box=BOX)
def test_a_refused_init_keeps_the_running_track(box: tuple[float, ...]) -> None:
    buf = FrameBuffer(10)
    for f in FRAMES[:2]:
        buf.add(f)
    tracker = _StrictTracker()
    session = TrackingSession(tracker, lambda f: f.msg)
    session.initialise(InitRequest(FRAMES[0].stamp_ns, tuple(TRUTH[0]), "first"), buf, 0, 0)
    try:
        session.initialise(InitRequest(FRAMES[1].stamp_ns, box, "second"), buf, 0, 0)
    except ValueError:  # InitError from the session, or the tracker's own refusal
        assert session.track_id == "first" and session.state == TrackState.TRACKING
        assert len(tracker.inits) == 1
        step = session.step(FRAMES[2])  # still tracking the first target
        np.testing.assert_allclose(step.result.box, TRUTH[2], atol=1.0)
        return
    assert session.track_id == "second" and len(tracker.inits) == 2
    assert np.all(np.isfinite(tracker.inits[-1][1]))
