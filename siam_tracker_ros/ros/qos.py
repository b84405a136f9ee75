"""The QoS the package's nodes share: one definition of the reliable profile of their outputs,
services-side inputs and simulator topics, and of how an ``input.reliability`` parameter value
becomes a reliability policy (the camera-side QoS stays with each node)."""

from __future__ import annotations

from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy

__all__ = ["RELIABLE", "input_reliability"]

#: keep the last 10, reliable: detections, statuses, commands, diagnostics, debug images
RELIABLE = QoSProfile(
    history=HistoryPolicy.KEEP_LAST, depth=10, reliability=ReliabilityPolicy.RELIABLE
)


def input_reliability(name: str) -> ReliabilityPolicy:
    """``"reliable"`` -> RELIABLE, anything else (the tables allow only ``"best_effort"``) ->
    BEST_EFFORT."""
    return ReliabilityPolicy.RELIABLE if name == "reliable" else ReliabilityPolicy.BEST_EFFORT
