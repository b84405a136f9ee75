"""Tracker values <-> ROS messages (the node owns all ROS types; the core never sees them).

Message builders never fail on a value: rclpy checks field ranges only when the message is
serialised, and then raises a ``SystemError`` that names the wrong field, from the publisher. So
every number is brought into its field's range here first: unsigned counters are clamped to
``[0, max]``, the score to ``[0, 1]`` (non-finite: 0), other float32 values to the float32 range
(NaN kept: "unknown"), and the state to a valid ``TrackerStatus`` constant.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from sensor_msgs.msg import Image
from std_msgs.msg import Header
from vision_msgs.msg import Detection2D, ObjectHypothesisWithPose

from siam_tracker_ros.core.result import TrackResult, TrackState
from siam_tracker_ros.datasets.image_conversion import fill_image_msg
from siam_tracker_ros.msg import InitTarget, TrackerStatus
from siam_tracker_ros.ros.session import InitRequest

__all__ = [
    "CLASS_ID",
    "detection_from_result",
    "detection_to_request",
    "diagnostics_msg",
    "image_msg",
    "init_target_msg",
    "init_target_to_request",
    "stamp_to_ns",
    "stamped_header",
    "status_msg",
    "time_from_ns",
]

#: ``results[0].hypothesis.class_id`` of published detections (a class-agnostic tracker).
CLASS_ID = "target"


def stamp_to_ns(stamp: Time) -> int:
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def time_from_ns(ns: int) -> Time:
    return Time(sec=int(ns // 1_000_000_000), nanosec=int(ns % 1_000_000_000))


def stamped_header(stamp_ns: int, frame_id: str) -> Header:
    """A header stamped ``stamp_ns`` (nanoseconds) in ``frame_id``."""
    return Header(stamp=time_from_ns(stamp_ns), frame_id=frame_id)


_FLOAT32_MAX = float(np.finfo(np.float32).max)
_UINT32_MAX = 2**32 - 1
_UINT64_MAX = 2**64 - 1


def _uint(value: Any, maximum: int) -> int:
    """``value`` as an unsigned counter in ``[0, maximum]`` (non-finite or invalid: 0)."""
    try:
        v = float(value) if not isinstance(value, (int, np.integer)) else int(value)
    except (TypeError, ValueError, OverflowError):
        return 0
    if isinstance(v, float):
        if not math.isfinite(v):
            return maximum if v == math.inf else 0
        v = int(v)
    return min(max(v, 0), maximum)


def _float32(value: Any) -> float:
    """``value`` clamped to the float32 range (NaN stays NaN: an unknown measurement)."""
    try:
        v = float(value)
    except (TypeError, ValueError, OverflowError):
        return math.nan
    return v if math.isnan(v) else min(max(v, -_FLOAT32_MAX), _FLOAT32_MAX)


def _score(value: Any) -> float:
    """A score in ``[0, 1]``; non-finite scores become 0 (no confidence)."""
    try:
        v = float(value)
    except (TypeError, ValueError, OverflowError):
        return 0.0
    return min(max(v, 0.0), 1.0) if math.isfinite(v) else 0.0


def _state(state: Any) -> int:
    """A ``TrackState`` value (they match the ``TrackerStatus`` constants); anything unknown is
    reported as LOST, the safe reading for a follower."""
    try:
        v = int(state)
    except (TypeError, ValueError, OverflowError):
        return int(TrackState.LOST)
    return v if v in {int(s) for s in TrackState} else int(TrackState.LOST)


def _copy_header(header: Header) -> Header:
    return Header(
        stamp=Time(sec=header.stamp.sec, nanosec=header.stamp.nanosec), frame_id=header.frame_id
    )


def detection_from_result(result: TrackResult, header: Header, track_id: str) -> Detection2D:
    """Detection2D with the source image's header, box centre + size in pixels, the score in
    ``results[0].hypothesis.score`` (clamped to [0, 1]) and the track id in ``id``. Box values
    are float64 fields: any finite value is valid; the session never hands over non-finite
    boxes (it raises instead)."""
    x, y, w, h = (float(v) for v in np.asarray(result.box, dtype=np.float64).reshape(4))
    det = Detection2D(header=_copy_header(header), id=track_id)
    det.bbox.center.position.x = x + w / 2
    det.bbox.center.position.y = y + h / 2
    det.bbox.size_x = w
    det.bbox.size_y = h
    hyp = ObjectHypothesisWithPose()
    hyp.hypothesis.class_id = CLASS_ID
    hyp.hypothesis.score = _score(result.score)
    hyp.pose.pose.position.x = x + w / 2
    hyp.pose.pose.position.y = y + h / 2
    det.results = [hyp]
    return det


def status_msg(
    header: Header,
    state: TrackState,
    score: float,
    present: bool,
    track_id: str,
    frames_lost: int,
    latency_ms: float,
    processing_ms: float,
    frames_processed: int,
    frames_dropped: int,
    rate_hz: float,
) -> TrackerStatus:
    """A TrackerStatus with every value brought into its field's range (see module doc)."""
    return TrackerStatus(
        header=_copy_header(header),
        state=_state(state),
        score=_score(score),
        present=bool(present),
        track_id=str(track_id),
        frames_lost=_uint(frames_lost, _UINT32_MAX),
        latency_ms=_float32(latency_ms),
        processing_ms=_float32(processing_ms),
        frames_processed=_uint(frames_processed, _UINT64_MAX),
        frames_dropped=_uint(frames_dropped, _UINT64_MAX),
        rate_hz=_float32(rate_hz),
    )


def image_msg(bgr: np.ndarray, header: Header) -> Image:
    return fill_image_msg(Image(header=_copy_header(header)), bgr, "bgr8")


def init_target_msg(header: Header, box: Any, track_id: str = "") -> InitTarget:
    """The InitTarget a client sends: ``box`` ``x, y, w, h`` in pixels of the frame stamped in
    ``header`` (the node searches its buffer for that frame); an empty ``track_id`` lets the
    node number the track."""
    x, y, w, h = (float(v) for v in box)
    return InitTarget(header=header, x=x, y=y, width=w, height=h, track_id=track_id)


def init_target_to_request(msg: InitTarget) -> InitRequest:
    return InitRequest(
        stamp_to_ns(msg.header.stamp),
        (float(msg.x), float(msg.y), float(msg.width), float(msg.height)),
        msg.track_id,
    )


def detection_to_request(msg: Detection2D) -> InitRequest:
    """A Detection2D (centre + size) as an init request stamped with its header."""
    w, h = float(msg.bbox.size_x), float(msg.bbox.size_y)
    cx, cy = float(msg.bbox.center.position.x), float(msg.bbox.center.position.y)
    return InitRequest(stamp_to_ns(msg.header.stamp), (cx - w / 2, cy - h / 2, w, h), msg.id)


def diagnostics_msg(
    stamp: Time, name: str, level: int, message: str, values: Mapping[str, Any]
) -> DiagnosticArray:
    """One DiagnosticStatus (level OK=0, WARN=1, ERROR=2) with ``values`` as key/value pairs."""

    def fmt(v: Any) -> str:
        return f"{v:.2f}" if isinstance(v, float) and math.isfinite(v) else str(v)

    status = DiagnosticStatus(
        level=bytes([level]),
        name=name,
        message=message,
        hardware_id=name,
        values=[KeyValue(key=k, value=fmt(v)) for k, v in values.items()],
    )
    return DiagnosticArray(header=Header(stamp=stamp), status=[status])
