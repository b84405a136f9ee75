"""The tracker node's debug topics: ``debug/image`` (the frame with the box, state and score) and
``debug/response`` (the response map as a heatmap).

Rendering costs a copy of the frame and an OpenCV drawing pass, so it happens only when it is
wanted: ``debug.enabled`` is on, the rate cap ``debug.max_rate_hz`` allows it, and someone
subscribes to the topic. The drawing itself is :mod:`~siam_tracker_ros.ros.visualization`
(pure NumPy/OpenCV, shared with the demo).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from siam_tracker_ros.core.result import TrackState
from siam_tracker_ros.ros import messages
from siam_tracker_ros.ros.session import SessionStep
from siam_tracker_ros.ros.visualization import draw_track, response_heatmap

__all__ = ["DebugImages", "rate_allows"]


def rate_allows(now: float, last: float, max_rate_hz: float) -> bool:
    """Whether a publication at ``now`` (s) keeps within ``max_rate_hz`` after one at ``last``
    (0 Hz: no cap)."""
    return max_rate_hz <= 0 or now - last >= 1.0 / max_rate_hz


class DebugImages:
    """Publishes the debug pictures of processed frames on two publishers (any objects with
    ``publish`` and ``get_subscription_count``: the node's lifecycle publishers)."""

    def __init__(self, image_pub: Any, response_pub: Any) -> None:
        self._image_pub = image_pub
        self._response_pub = response_pub
        self._last = -float("inf")

    def publish(
        self,
        step: SessionStep,
        state: TrackState,
        *,
        enabled: bool,
        max_rate_hz: float,
        heatmap_size: int,
        now: float,
    ) -> bool:
        """Render and publish what is wanted for ``step`` (``now``: monotonic seconds); True
        when anything was published."""
        if not enabled or not rate_allows(now, self._last, max_rate_hz):
            return False
        want_image = self._image_pub.get_subscription_count() > 0
        response = step.result.response
        want_heat = (
            self._response_pub.get_subscription_count() > 0
            and response is not None
            and np.size(response) > 0
        )
        if not (want_image or want_heat):
            return False
        self._last = now
        header = step.frame.msg.header
        r = step.result
        if want_image:
            img = draw_track(step.image, r.box, r.score, state, step.track_id, r.search_box)
            self._image_pub.publish(messages.image_msg(img, header))
        if want_heat:
            heat = response_heatmap(np.asarray(response), heatmap_size)
            self._response_pub.publish(messages.image_msg(heat, header))
        return True
