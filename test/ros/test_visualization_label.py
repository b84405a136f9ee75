"""The debug image's label (track id, state, score) stays whole inside the image wherever the box
is: at each edge and corner, and partly outside the image (the demo's first frames once lost the
score off the right edge)."""

from __future__ import annotations

import numpy as np
import pytest

from siam_tracker_ros.core.result import TrackState
from siam_tracker_ros.ros.visualization import draw_track

H, W = 240, 320
BOX_W, BOX_H = 40, 50
GREY = 128
LABEL = "track-12"

#: box positions: each corner and edge, and beyond the right and bottom edges
BOXES = {
    "top-left": (0, 0),
    "top": (140, 0),
    "top-right": (W - BOX_W, 0),
    "right": (W - BOX_W, 100),
    "bottom-right": (W - BOX_W, H - BOX_H),
    "bottom": (140, H - BOX_H),
    "bottom-left": (0, H - BOX_H),
    "left": (0, 100),
    "past the right edge": (W - 10, 100),
    "past the bottom edge": (140, H - 5),
    "just below the image": (140, H + 3),
    "past the top-left corner": (-20, -30),
}


def _label(x: float, y: float) -> tuple[tuple[int, int], int]:
    """The drawn label's black background: its size (width, height) and the number of text
    pixels in it (everything drawn there that is neither black nor the grey background)."""
    image = np.full((H, W, 3), GREY, np.uint8)
    out = draw_track(image, (x, y, BOX_W, BOX_H), 0.87, TrackState.AMBIGUOUS, label=LABEL)
    black = np.all(out == 0, axis=2)
    ys, xs = np.nonzero(black)
    assert ys.size, "no label background drawn"
    y0, y1, x0, x1 = ys.min(), ys.max(), xs.min(), xs.max()
    region = out[y0 : y1 + 1, x0 : x1 + 1]
    text = np.any(region != 0, axis=2) & np.any(region != GREY, axis=2)
    return (int(x1 - x0 + 1), int(y1 - y0 + 1)), int(text.sum())


@pytest.mark.parametrize("where", list(BOXES))
def test_the_label_is_whole_inside_the_image(where: str) -> None:
    # the same label with the box in the middle of the image, where nothing can clip it
    whole_size, whole_text = _label(140, 100)
    assert whole_text > 50  # the text is really there
    size, text = _label(*BOXES[where])
    assert size == whole_size, f"label background clipped at {where}: {size} != {whole_size}"
    assert text == whole_text, f"label text clipped at {where}: {text} != {whole_text} pixels"
