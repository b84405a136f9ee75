"""Fuzzing the node's parameter table and its message builders (issue 21): any name/value
mix either builds ``NodeSettings`` / passes ``check_update`` or is refused with a
``ValueError`` / a reason string; any numbers a step can produce build a ``TrackerStatus`` and a
``Detection2D`` that rclpy serialises (no SystemError). No ROS processes. Example counts come
from the hypothesis profile (test/conftest.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from siam_tracker_ros.core.result import TrackResult, TrackState  # noqa: E402
from siam_tracker_ros.ros.tracker_params import PARAMS, SPECS, NodeSettings, check_update  # noqa: E402

ANY_VALUE = st.one_of(
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.none(),
    st.lists(st.integers(), max_size=3),
)
NAMES = st.one_of(st.sampled_from(sorted(SPECS)), st.text(max_size=20))


def _typed_value(name: str) -> st.SearchStrategy[object]:
    """Values of the parameter's own type (the interesting ones: ranges and choices)."""
    spec = SPECS[name]
    if isinstance(spec.default, bool):
        return st.booleans()
    if isinstance(spec.default, int):
        return st.integers(-(2**40), 2**40)
    if isinstance(spec.default, float):
        return st.floats(allow_nan=True, allow_infinity=True)
    return st.one_of(st.text(max_size=12), st.sampled_from(list(spec.choices or ("",))))


@st.composite
def _updates(draw: st.DrawFn) -> dict[str, object]:
    out: dict[str, object] = {}
    for _ in range(draw(st.integers(0, 4))):
        name = draw(NAMES)
        out[name] = draw(_typed_value(name) if name in SPECS and draw(st.booleans()) else ANY_VALUE)
    return out


@given(values=_updates())
def test_settings_from_any_values_build_or_raise_value_error(values: dict[str, object]) -> None:
    try:
        settings = NodeSettings.from_values(values)  # type: ignore[arg-type]
    except ValueError:
        return
    for spec in PARAMS:
        assert spec.check(settings.as_values()[spec.name]) is None


@given(updates=_updates())
def test_check_update_returns_none_or_a_reason(updates: dict[str, object]) -> None:
    current = NodeSettings.from_values({}).as_values()
    reason = check_update(current, updates)  # type: ignore[arg-type]
    if reason is None:
        merged = {**current, **updates}
        NodeSettings.from_values(merged)  # an accepted update always builds valid settings
    else:
        assert isinstance(reason, str) and reason


NUMBER = st.one_of(st.integers(-(2**70), 2**70), st.floats(allow_nan=True, allow_infinity=True))


@given(
    state=st.one_of(st.sampled_from(list(TrackState)), st.integers(-5, 300)),
    score=NUMBER,
    present=st.booleans(),
    track_id=st.text(max_size=30),
    frames_lost=NUMBER,
    latency=NUMBER,
    processing=NUMBER,
    processed=NUMBER,
    dropped=NUMBER,
    rate=NUMBER,
)
def test_status_message_always_serialises(
    state: int,
    score: float,
    present: bool,
    track_id: str,
    frames_lost: float,
    latency: float,
    processing: float,
    processed: float,
    dropped: float,
    rate: float,
) -> None:
    from rclpy.serialization import deserialize_message, serialize_message
    from siam_tracker_ros.msg import TrackerStatus
    from std_msgs.msg import Header

    from siam_tracker_ros.ros import messages

    msg = messages.status_msg(
        Header(frame_id="cam"),
        state,
        score,
        present,  # type: ignore[arg-type]
        track_id,
        frames_lost,
        latency,
        processing,  # type: ignore[arg-type]
        processed,
        dropped,
        rate,
    )  # type: ignore[arg-type]
    back = deserialize_message(serialize_message(msg), TrackerStatus)
    assert back.state in {int(s) for s in TrackState} and 0.0 <= back.score <= 1.0
    assert back.track_id == track_id.split("\x00")[0] or back.track_id == track_id
    assert 0 <= back.frames_lost < 2**32 and back.present == present


FINITE = st.floats(allow_nan=False, allow_infinity=False)


@given(box=st.tuples(FINITE, FINITE, FINITE, FINITE), score=NUMBER, track_id=st.text(max_size=30))
def test_detection_message_always_serialises(
    box: tuple[float, float, float, float], score: float, track_id: str
) -> None:
    from rclpy.serialization import serialize_message
    from std_msgs.msg import Header

    from siam_tracker_ros.ros import messages

    try:
        float_score = float(score)
    except OverflowError:
        float_score = math.inf
    result = TrackResult(
        np.array(box), float_score, True, TrackState.TRACKING, np.zeros((1, 1), np.float32)
    )
    with np.errstate(over="ignore"):
        det = messages.detection_from_result(result, Header(), track_id)
    assert len(serialize_message(det)) > 0
    assert 0.0 <= det.results[0].hypothesis.score <= 1.0
    req = messages.detection_to_request(det)
    assert req.track_id == det.id
