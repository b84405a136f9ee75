"""Geometry conventions of the tracking step: pysot's, and ``cv2.TrackerNano``'s emulation.

The tracking step (:class:`core.tracker.Tracker`) is one algorithm; where pysot and OpenCV's C++
port of NanoTrack differ is arithmetic detail -- how the init box becomes a centre, how the
template and search extents are rounded, how crops are cut and padded, the precision of the state
and which size the scale penalty compares with. Those details live here, one class per
convention, chosen by ``tracker.opencv_compat``. :class:`PysotGeometry` is the tracker's own (it
reproduces pysot's ``SiamRPNTracker`` to float32 round-off); :class:`OpenCVNanoGeometry`
reproduces ``cv2.TrackerNano`` box for box, lossy steps and one bug included, so the two can be
compared -- never for quality.

The template extent ``s_z`` (side of the square around the target plus context) is computed by
:func:`template_extent` only; each convention says how it is rounded where.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from siam_tracker_ros.core.geometry import get_subwindow, get_subwindow_opencv

__all__ = ["Geometry", "OpenCVNanoGeometry", "PysotGeometry", "geometry_for", "template_extent"]


def template_extent(
    size: Sequence[float] | np.ndarray, context_amount: float, *, truncate_context: bool = False
) -> float:
    """pysot's ``s_z = sqrt((w + c (w + h)) (h + c (w + h)))`` in image pixels (float64).

    ``truncate_context``: ``int(w + h)`` first, as ``cv2.TrackerNano`` does."""
    w, h = float(size[0]), float(size[1])
    total = w + h
    if truncate_context:
        total = float(int(total))
    return float(np.sqrt((w + context_amount * total) * (h + context_amount * total)))


class PysotGeometry:
    """pysot's ``SiamRPNTracker`` arithmetic (the tracker's own convention)."""

    name = "pysot"

    def init_state(self, box: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Centre and size of the target from an init box ``x, y, w, h``: centre
        ``x + (w - 1) / 2`` (pysot's pixel-index convention)."""
        center = np.array([box[0] + (box[2] - 1) / 2, box[1] + (box[3] - 1) / 2])
        return center, np.array([box[2], box[3]])

    def template_side(self, size: np.ndarray, context_amount: float) -> int:
        """Side of the template crop in image pixels at init."""
        return round(template_extent(size, context_amount))

    def extent(self, size: np.ndarray, context_amount: float) -> float:
        """``s_z`` while tracking (the scale between image and template crop)."""
        return template_extent(size, context_amount)

    def scale(self, scale_z: float) -> float:
        return scale_z

    def crop_side(self, s_x: float) -> int:
        """Search-crop side in image pixels from its exact extent."""
        return round(s_x)

    def crop(
        self,
        image: np.ndarray,
        center: np.ndarray,
        model_size: int,
        crop_size: int,
        channel_average: np.ndarray,
    ) -> np.ndarray:
        """The network's crop; outside the image padded with the first frame's mean colour."""
        return get_subwindow(image, center, model_size, crop_size, channel_average)

    def state(self, cx: float, cy: float, w: float, h: float) -> tuple[float, float, float, float]:
        """The tracker's state as stored (pysot: float64, unchanged)."""
        return cx, cy, w, h

    def reference_size(self, center: np.ndarray) -> float | None:
        """What the scale penalty compares candidates with; ``None``: the target's padded size."""
        return None


class OpenCVNanoGeometry(PysotGeometry):
    """``cv2.TrackerNano``: integer init box with centre ``x + w / 2``, truncated extents and crop
    origins, padding with the *current* frame's mean, float32 state, and the scale penalty
    measured against ``sz(cx, cy)`` -- the target's *position* instead of its size (an OpenCV
    bug)."""

    name = "opencv_compat"

    def init_state(self, box: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        box = np.trunc(box)
        return box[:2] + box[2:] / 2, box[2:].copy()

    def template_side(self, size: np.ndarray, context_amount: float) -> int:
        return int(template_extent(size, context_amount, truncate_context=True))

    def extent(self, size: np.ndarray, context_amount: float) -> float:
        s_z = template_extent(size, context_amount, truncate_context=True)
        return float(np.float32(s_z))

    def scale(self, scale_z: float) -> float:
        return float(np.float32(scale_z))

    def crop_side(self, s_x: float) -> int:
        return int(s_x)

    def crop(
        self,
        image: np.ndarray,
        center: np.ndarray,
        model_size: int,
        crop_size: int,
        channel_average: np.ndarray,
    ) -> np.ndarray:
        return get_subwindow_opencv(image, center, model_size, crop_size)

    def state(self, cx: float, cy: float, w: float, h: float) -> tuple[float, float, float, float]:
        x, y, ww, hh = (float(v) for v in np.array([cx, cy, w, h], np.float32))
        return x, y, ww, hh

    def reference_size(self, center: np.ndarray) -> float | None:
        x, y = float(center[0]), float(center[1])
        pad = (x + y) * 0.5
        return float(np.sqrt((x + pad) * (y + pad)))


Geometry = PysotGeometry


def geometry_for(opencv_compat: bool) -> PysotGeometry:
    """The convention ``tracker.opencv_compat`` selects."""
    return OpenCVNanoGeometry() if opencv_compat else PysotGeometry()
