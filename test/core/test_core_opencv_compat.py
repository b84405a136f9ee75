"""The ``TrackerConfig`` options that let the one Tracker follow ``cv2.TrackerNano`` (the
box-for-box comparison with OpenCV itself is in ``test_nanotrack_tracking.py``, it needs the
shared weights)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from core_fakes import ScriptedAnchorModel

from siam_tracker_ros.core.config import TrackerConfig, tracker_config_from_dict
from siam_tracker_ros.core.geometry import get_subwindow_opencv
from siam_tracker_ros.core.tracker import Tracker


@pytest.mark.parametrize(
    ("key", "value"),
    [("window_exponent", 0.0), ("search_scale", 0.5), ("channel_order", "bgra")],
)
def test_bad_opencv_options_are_rejected(key: str, value: object) -> None:
    with pytest.raises(ValueError, match=key):
        tracker_config_from_dict({key: value})


def test_opencv_crop_truncates_the_centre_and_pads_with_this_frames_mean() -> None:
    img = np.random.default_rng(0).integers(0, 256, (40, 50, 3), dtype=np.uint8)
    # origin int(10.9) - (5 + 1) // 2 = 7 (pysot's would be floor(10.9 - 3 + 0.5) = 8)
    np.testing.assert_array_equal(get_subwindow_opencv(img, (10.9, 10.9), 5, 5), img[7:12, 7:12])
    corner = get_subwindow_opencv(img, (1.0, 1.0), 7, 7)
    mean = np.round(np.array(cv2.mean(img)[:3])).astype(np.uint8)
    np.testing.assert_array_equal(corner[0, 0], mean)
    np.testing.assert_array_equal(corner[3:, 3:], img[:4, :4])


class ChannelProbe(ScriptedAnchorModel):
    def template_features(self, z: torch.Tensor) -> list[torch.Tensor]:
        self.first_channel = float(z[0, 0].mean())
        return super().template_features(z)


@pytest.mark.parametrize("order", ["bgr", "rgb"])
def test_channel_order_and_integer_boxes(order: str) -> None:
    img = np.zeros((240, 320, 3), np.uint8)
    img[..., 0], img[..., 2] = 10, 200  # blue 10, red 200
    model = ChannelProbe(dx=0.13)
    tracker = Tracker(model, TrackerConfig(channel_order=order, box_rounding="truncate"))  # type: ignore[arg-type]
    tracker.init(img, (100.5, 80.5, 40.3, 30.7))
    assert model.first_channel == (10.0 if order == "bgr" else 200.0)
    box = tracker.track(img).box
    np.testing.assert_array_equal(box, np.trunc(box))
    assert not np.array_equal(tracker.center_pos, np.trunc(tracker.center_pos))  # state exact
