"""Correlation heads: pysot's depthwise RPN heads and a SiamFC-style response-map head."""

from siam_tracker_ros.models.heads.rpn import (
    DepthwiseRPN,
    DepthwiseXCorr,
    MultiRPN,
    xcorr_depthwise,
)
from siam_tracker_ros.models.heads.siamfc import SiamFCHead, xcorr_full

__all__ = [
    "DepthwiseRPN",
    "DepthwiseXCorr",
    "MultiRPN",
    "SiamFCHead",
    "xcorr_depthwise",
    "xcorr_full",
]
