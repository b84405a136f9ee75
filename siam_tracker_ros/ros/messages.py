"""Tracker values <-> ROS messages (the node owns all ROS types; the core never sees them)."""

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
from siam_tracker_ros.msg import InitTarget, TrackerStatus
from siam_tracker_ros.ros.image_conversion import fill_image_msg
from siam_tracker_ros.ros.session import InitRequest

__all__ = [
    "CLASS_ID",
    "detection_from_result",
    "detection_to_request",
    "diagnostics_msg",
    "image_msg",
    "init_target_to_request",
    "stamp_to_ns",
    "status_msg",
    "time_from_ns",
]

#: ``results[0].hypothesis.class_id`` of published detections (a class-agnostic tracker).
CLASS_ID = "target"


def stamp_to_ns(stamp: Time) -> int:
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def time_from_ns(ns: int) -> Time:
    return Time(sec=int(ns // 1_000_000_000), nanosec=int(ns % 1_000_000_000))


def _copy_header(header: Header) -> Header:
    return Header(stamp=Time(sec=header.stamp.sec, nanosec=header.stamp.nanosec),
                  frame_id=header.frame_id)


def detection_from_result(result: TrackResult, header: Header, track_id: str) -> Detection2D:
    """Detection2D with the source image's header, box centre + size in pixels, the score in
    ``results[0].hypothesis.score`` and the track id in ``id``."""
    x, y, w, h = (float(v) for v in np.asarray(result.box, dtype=np.float64).reshape(4))
    det = Detection2D(header=_copy_header(header), id=track_id)
    det.bbox.center.position.x = x + w / 2
    det.bbox.center.position.y = y + h / 2
    det.bbox.size_x = w
    det.bbox.size_y = h
    hyp = ObjectHypothesisWithPose()
    hyp.hypothesis.class_id = CLASS_ID
    hyp.hypothesis.score = float(result.score)
    hyp.pose.pose.position.x = x + w / 2
    hyp.pose.pose.position.y = y + h / 2
    det.results = [hyp]
    return det


def status_msg(header: Header, state: TrackState, score: float, present: bool, track_id: str,
               frames_lost: int, latency_ms: float, processing_ms: float,
               frames_processed: int, frames_dropped: int, rate_hz: float) -> TrackerStatus:
    return TrackerStatus(
        header=_copy_header(header), state=int(state), score=float(score), present=bool(present),
        track_id=track_id, frames_lost=int(frames_lost), latency_ms=float(latency_ms),
        processing_ms=float(processing_ms), frames_processed=int(frames_processed),
        frames_dropped=int(frames_dropped), rate_hz=float(rate_hz))


def image_msg(bgr: np.ndarray, header: Header) -> Image:
    return fill_image_msg(Image(header=_copy_header(header)), bgr, "bgr8")


def init_target_to_request(msg: InitTarget) -> InitRequest:
    return InitRequest(stamp_to_ns(msg.header.stamp),
                       (float(msg.x), float(msg.y), float(msg.width), float(msg.height)),
                       msg.track_id)


def detection_to_request(msg: Detection2D) -> InitRequest:
    """A Detection2D (centre + size) as an init request stamped with its header."""
    w, h = float(msg.bbox.size_x), float(msg.bbox.size_y)
    cx, cy = float(msg.bbox.center.position.x), float(msg.bbox.center.position.y)
    return InitRequest(stamp_to_ns(msg.header.stamp), (cx - w / 2, cy - h / 2, w, h), msg.id)


def diagnostics_msg(stamp: Time, name: str, level: int, message: str,
                    values: Mapping[str, Any]) -> DiagnosticArray:
    """One DiagnosticStatus (level OK=0, WARN=1, ERROR=2) with ``values`` as key/value pairs."""
    def fmt(v: Any) -> str:
        return f"{v:.2f}" if isinstance(v, float) and math.isfinite(v) else str(v)

    status = DiagnosticStatus(level=bytes([level]), name=name, message=message,
                              hardware_id=name,
                              values=[KeyValue(key=k, value=fmt(v)) for k, v in values.items()])
    return DiagnosticArray(header=Header(stamp=stamp), status=[status])
