"""Node parameters (table, descriptors, run-time change rules, config/tracker.yaml), message
building and debug pictures. Message objects are plain rclpy types: no ROS process starts."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from siam_tracker_ros.core.result import TrackResult, TrackState
from siam_tracker_ros.ros.parameters import resolve_path
from siam_tracker_ros.ros.ros_args import load_params_file
from siam_tracker_ros.ros.tracker_params import (
    DEFAULT_PARAMS_FILE,
    PARAMS,
    SPECS,
    NodeSettings,
    check_update,
)


def test_every_parameter_is_documented_with_range_or_constraint() -> None:
    from rcl_interfaces.msg import ParameterType

    for spec in PARAMS:
        d = spec.descriptor()
        assert d.name == spec.name and len(d.description) > 20
        if isinstance(spec.default, (int, float)) and not isinstance(spec.default, bool):
            rng = d.integer_range or d.floating_point_range
            assert len(rng) == 1, f"{spec.name} has no range"
            assert rng[0].from_value <= spec.default <= rng[0].to_value
        if d.type == ParameterType.PARAMETER_STRING and spec.dynamic:
            assert spec.choices or spec.pattern
    names = {p.name for p in PARAMS}
    assert {
        "model.config",
        "model.weights",
        "model.device",
        "output.min_score",
        "input.reliability",
        "input.buffer_size",
    } <= names


def test_params_file_matches_the_table() -> None:
    values = load_params_file(DEFAULT_PARAMS_FILE)
    assert set(values) == set(SPECS), set(values) ^ set(SPECS)
    for name, value in values.items():
        # rclpy refuses e.g. an int for a double parameter: the YAML types must match.
        assert type(value) is type(SPECS[name].default), name
        assert value == SPECS[name].default, f"{name}: file {value!r} != code default"
    NodeSettings.from_values(values)


def test_settings_round_trip_and_validation() -> None:
    s = NodeSettings.from_values({"output.min_score": 0.4})
    assert s.output_min_score == 0.4 and s.model_device == "cpu"
    assert NodeSettings.from_values(s.as_values()) == s
    with pytest.raises(ValueError, match="outside"):
        NodeSettings.from_values({"output.min_score": 1.5})
    with pytest.raises(ValueError, match="unknown"):
        NodeSettings.from_values({"output.nope": 1})
    with pytest.raises(ValueError, match="one of"):
        NodeSettings.from_values({"input.reliability": "sometimes"})
    with pytest.raises(ValueError, match="must be a float"):
        NodeSettings.from_values({"output.min_score": 1})


def test_run_time_changes_accepted_only_where_they_make_sense() -> None:
    cur = NodeSettings.from_values({}).as_values()
    assert check_update(cur, {"output.min_score": 0.3, "debug.enabled": False}) is None
    assert check_update(cur, {"output.max_rate_hz": 15.0}) is None
    for name, value in [
        ("model.device", "cuda"),
        ("model.config", "other.yaml"),
        ("input.reliability", "reliable"),
        ("input.compressed", True),
    ]:
        reason = check_update(cur, {name: value})
        assert reason is not None and "restart" in reason and name in reason
    assert check_update(cur, {"model.device": "cpu"}) is None  # unchanged static value is fine
    assert "cuda:x" in check_update(cur, {"model.device": "cuda:x"})


def test_resolve_path_expands_shared_dir(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("SIAM_SHARED_DIR", str(tmp_path))
    assert resolve_path("${SIAM_SHARED_DIR}/w.pth") == tmp_path / "w.pth"
    assert resolve_path("") is None
    assert resolve_path("config/tracker.yaml") == DEFAULT_PARAMS_FILE


def _result(state: TrackState = TrackState.TRACKING) -> TrackResult:
    return TrackResult(
        np.array([10.0, 20.0, 30.0, 40.0]),
        0.75,
        True,
        state,
        np.arange(25, dtype=np.float32).reshape(5, 5),
        np.array([0.0, 0.0, 100.0, 100.0]),
    )


def test_detection_carries_source_header_box_score_and_id() -> None:
    from std_msgs.msg import Header

    from siam_tracker_ros.ros import messages

    header = Header(frame_id="cam", stamp=messages.time_from_ns(1_234_000_000_567))
    det = messages.detection_from_result(_result(), header, "track-3")
    assert det.header.frame_id == "cam"
    assert messages.stamp_to_ns(det.header.stamp) == 1_234_000_000_567
    assert (det.bbox.center.position.x, det.bbox.center.position.y) == (25.0, 40.0)
    assert (det.bbox.size_x, det.bbox.size_y) == (30.0, 40.0)
    assert det.results[0].hypothesis.score == 0.75 and det.id == "track-3"
    header.frame_id = "changed"  # the detection owns a copy
    assert det.header.frame_id == "cam"
    # A Detection2D used as an init request gives back the same box and stamp.
    req = messages.detection_to_request(det)
    assert req.box == (10.0, 20.0, 30.0, 40.0) and req.stamp_ns == 1_234_000_000_567
    assert req.track_id == "track-3"


def test_status_and_diagnostics_messages() -> None:
    from std_msgs.msg import Header

    from siam_tracker_ros.ros import messages

    st = messages.status_msg(
        Header(frame_id="cam"), TrackState.LOST, 0.2, False, "t", 3, 12.5, 8.0, 10, 4, 29.0
    )
    assert (st.state, st.frames_lost, st.frames_dropped, st.track_id) == (2, 3, 4, "t")
    assert st.state == type(st).LOST
    diag = messages.diagnostics_msg(
        messages.time_from_ns(0), "n", 1, "lost", {"rate_hz": 29.04, "x": float("nan"), "n": 3}
    )
    kv = {v.key: v.value for v in diag.status[0].values}
    assert kv == {"rate_hz": "29.04", "x": "nan", "n": "3"} and diag.status[0].level == b"\x01"


def test_draw_track_and_heatmap() -> None:
    from siam_tracker_ros.ros.visualization import draw_track, response_heatmap

    img = np.zeros((120, 160, 3), np.uint8)
    out = draw_track(img, (10, 20, 30, 40), 0.8, TrackState.LOST, "t")
    assert img.max() == 0  # input untouched
    edge = out[60, 9:12].astype(int).max(axis=0)  # left edge of the box (anti-aliased)
    assert edge[2] > 150 and edge[:2].max() < 30
    assert out[60, 60].max() == 0  # inside stays untouched
    heat = response_heatmap(np.arange(16, dtype=np.float32).reshape(4, 4), size=64)
    assert heat.shape == (64, 64, 3)
    assert not np.array_equal(heat[0, 0], heat[-1, -1])  # low vs high end of the colormap
    assert response_heatmap(np.zeros((3, 4, 4)), 32).shape == (32, 32, 3)
    with pytest.raises(ValueError):
        response_heatmap(np.zeros(0), 32)


def test_settings_is_frozen() -> None:
    s = NodeSettings.from_values({})
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.output_min_score = 0.5  # type: ignore[misc]
    assert math.isclose(s.init_stamp_tolerance_ms, 20.0)


def test_num_threads_sets_the_network_threads() -> None:
    """``model.num_threads`` reaches ONNX Runtime's sessions (the bundled model's runtime);
    0 keeps the model's own ``runtime.threads`` (1 for the bundled model)."""
    from siam_tracker_ros.ros.node import build_tracker

    tracker = build_tracker(NodeSettings.from_values({"model.num_threads": 2}))
    assert tracker.runtime.options.intra_op_threads == 2  # type: ignore[attr-defined]
    assert 2 in tracker.runtime.session_threads  # type: ignore[attr-defined]
    default = build_tracker(NodeSettings.from_values({}))
    assert default.runtime.session_threads == {1}  # type: ignore[attr-defined]
    assert default.runtime.thread_choice is None  # type: ignore[attr-defined]
    adaptive = build_tracker(NodeSettings.from_values({"model.adaptive_threads": True}))
    assert adaptive.runtime.thread_choice.choices == (1, 2)  # type: ignore[attr-defined]


def test_background_searches_can_be_turned_off() -> None:
    """``model.background_searches``: on by default (the re-detection crop of a LOST frame
    runs beside the tracker's own search, on a machine with two or more cores), false: one
    thread."""
    from siam_tracker_ros.core.tracker import usable_cores
    from siam_tracker_ros.ros.node import build_tracker

    default = build_tracker(NodeSettings.from_values({}))
    assert default.background_searches == (usable_cores() >= 2)
    off = build_tracker(NodeSettings.from_values({"model.background_searches": False}))
    assert off.background_searches is False


def _serialised(msg: object) -> bytes:
    from rclpy.serialization import serialize_message

    return serialize_message(msg)


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("frames_dropped", -1, 0),  # used to raise SystemError naming rate_hz
        ("frames_processed", 2**70, 2**64 - 1),
        ("frames_lost", 2**40, 2**32 - 1),
        ("frames_lost", float("nan"), 0),
        ("score", float("nan"), 0.0),
        ("score", 7.5, 1.0),
        ("score", -1e300, 0.0),
        ("latency_ms", 1e300, float(np.finfo(np.float32).max)),
        ("latency_ms", -float("inf"), -float(np.finfo(np.float32).max)),
        ("rate_hz", float("nan"), "nan"),
        ("state", 99, 2),  # unknown state: reported LOST
    ],
)
def test_status_values_out_of_range_are_clamped_and_serialise(
    field: str, value: object, expected: object
) -> None:
    """Issue 21.5: out-of-range values made serialisation raise SystemError (wrong field)."""
    from std_msgs.msg import Header

    from siam_tracker_ros.ros import messages

    args = {
        "header": Header(frame_id="cam"),
        "state": TrackState.TRACKING,
        "score": 0.5,
        "present": True,
        "track_id": "t",
        "frames_lost": 0,
        "latency_ms": 1.0,
        "processing_ms": 1.0,
        "frames_processed": 1,
        "frames_dropped": 0,
        "rate_hz": 30.0,
    }
    args[field] = value
    st = messages.status_msg(**args)
    assert len(_serialised(st)) > 0
    got = getattr(st, field)
    if expected == "nan":
        assert math.isnan(got)
    else:
        assert got == pytest.approx(expected, rel=1e-6)


def test_detection_score_is_clamped_and_serialises() -> None:
    from std_msgs.msg import Header

    from siam_tracker_ros.ros import messages

    for score, expected in ((float("nan"), 0.0), (3.0, 1.0), (-2.0, 0.0)):
        r = TrackResult(
            np.array([1e300, -1e300, 30.0, 40.0]),
            score,
            True,
            TrackState.TRACKING,
            np.zeros((2, 2), np.float32),
        )
        det = messages.detection_from_result(r, Header(), "x")
        assert det.results[0].hypothesis.score == expected and len(_serialised(det)) > 0


def test_input_robustness_parameters_match_the_session_policies() -> None:
    from siam_tracker_ros.ros.session import CLOCK_JUMP_POLICIES, RESOLUTION_POLICIES

    for name, choices in (
        ("input.on_clock_jump", CLOCK_JUMP_POLICIES),
        ("input.on_resolution_change", RESOLUTION_POLICIES),
    ):
        assert SPECS[name].choices == choices and SPECS[name].default == choices[0]
    s = NodeSettings.from_values({})
    assert (s.input_max_width, s.input_max_height, s.input_clock_jump_tolerance_s) == (
        8192,
        8192,
        1.0,
    )
    assert check_update(s.as_values(), {"input.on_clock_jump": "reset"}) is None
    assert "one of" in check_update(s.as_values(), {"input.on_resolution_change": "zoom"})
