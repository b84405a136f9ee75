"""Box conversions, input validation and pysot's crop (``get_subwindow``).

The crop is the part of the tracker that has to match pysot bit for bit: the network sees exactly
these pixels, so any off-by-one in rounding or padding shows up as a different box. The rules (all
taken from pysot's ``SiameseTracker.get_subwindow``):

* crop side ``sz`` is an integer chosen by the caller with Python ``round`` (ties to even);
* origin ``floor(pos - (sz + 1) / 2 + 0.5)``, so the crop spans ``[origin, origin + sz - 1]``;
* pixels outside the image take the per-channel mean of the first frame, truncated to uint8;
* ``cv2.resize`` (bilinear) to the model size only when ``sz`` differs from it.

pysot builds a whole padded copy of the frame; here only the ``sz x sz`` patch is filled, which
gives the same pixels without the full-frame allocation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np

__all__ = [
    "clip_box_cxcywh",
    "cxcywh_to_xywh",
    "cxcywh_to_xyxy",
    "get_subwindow",
    "get_subwindow_opencv",
    "subwindow_origin",
    "validate_box",
    "validate_image",
    "validate_target",
    "xywh_to_cxcywh",
    "xywh_to_xyxy",
    "xyxy_to_cxcywh",
    "xyxy_to_xywh",
]

BoxLike = Sequence[float] | np.ndarray


def _as_box(box: BoxLike) -> np.ndarray:
    arr = np.asarray(box, dtype=np.float64)
    if arr.shape[-1:] != (4,):
        raise ValueError(f"a box needs 4 values, got shape {arr.shape}")
    return arr


def xywh_to_cxcywh(box: BoxLike) -> np.ndarray:
    """Top-left/size to centre/size (continuous convention: ``cx = x + w / 2``)."""
    b = _as_box(box)
    return np.concatenate([b[..., :2] + b[..., 2:] / 2.0, b[..., 2:]], axis=-1)


def cxcywh_to_xywh(box: BoxLike) -> np.ndarray:
    b = _as_box(box)
    return np.concatenate([b[..., :2] - b[..., 2:] / 2.0, b[..., 2:]], axis=-1)


def xywh_to_xyxy(box: BoxLike) -> np.ndarray:
    b = _as_box(box)
    return np.concatenate([b[..., :2], b[..., :2] + b[..., 2:]], axis=-1)


def xyxy_to_xywh(box: BoxLike) -> np.ndarray:
    b = _as_box(box)
    return np.concatenate([b[..., :2], b[..., 2:] - b[..., :2]], axis=-1)


def cxcywh_to_xyxy(box: BoxLike) -> np.ndarray:
    return xywh_to_xyxy(cxcywh_to_xywh(box))


def xyxy_to_cxcywh(box: BoxLike) -> np.ndarray:
    return xywh_to_cxcywh(xyxy_to_xywh(box))


def validate_image(image: object) -> np.ndarray:
    """Check that ``image`` is an ``H x W x 3`` uint8 BGR array; return it (C-contiguous).

    Raises ``TypeError`` for a non-array or a wrong dtype (a float image would silently be read as
    0..1 and destroy tracking), ``ValueError`` for a wrong shape.
    """
    if image is None:  # what cv2.VideoCapture.read() / cv2.imread return for an unread frame
        raise TypeError(
            "image is None: no frame was read (check the ok flag of VideoCapture.read(), "
            "the file path, and that OpenCV can decode the file)"
        )
    if not isinstance(image, np.ndarray):
        raise TypeError(f"image must be a numpy array (H x W x 3 uint8 BGR), got {type(image)}")
    if image.dtype != np.uint8:
        raise TypeError(f"image must be uint8 (H x W x 3 BGR), got dtype {image.dtype}")
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image must be H x W x 3 (BGR), got shape {image.shape}")
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise ValueError(f"image must not be empty, got shape {image.shape}")
    return np.ascontiguousarray(image)


def validate_box(box: object, image_shape: Sequence[int] | None = None) -> np.ndarray:
    """Check an ``(x, y, w, h)`` box: 4 finite numbers, positive size, overlapping the image.

    Returns it as float64. A box fully outside the image cannot be tracked (the template would be
    pure padding), so it is rejected rather than clipped silently.
    """
    try:
        arr = np.asarray(box, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"box must be 4 numbers (x, y, w, h), got {box!r}") from exc
    if arr.shape != (4,):
        raise ValueError(f"box must be 4 numbers (x, y, w, h), got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"box must be finite, got {arr.tolist()}")
    x, y, w, h = arr
    if w <= 0 or h <= 0:
        raise ValueError(f"box width and height must be > 0, got w={w}, h={h}")
    if image_shape is not None:
        height, width = int(image_shape[0]), int(image_shape[1])
        if x >= width or y >= height or x + w <= 0 or y + h <= 0:
            raise ValueError(f"box {arr.tolist()} lies fully outside the {width}x{height} image")
    return arr


#: an init box may be at most this many times the image's side (a target filling the frame, plus
#: the part of it beyond the border); beyond it the template would be mostly padding and its
#: crop gigabytes (issue 21: a 1e5 px wide box asked for 21 GiB)
MAX_TARGET_TO_IMAGE = 4.0
#: the smallest init box side in pixels (below it the template crop has no pixels)
MIN_TARGET_SIDE = 1.0
#: the most elongated init box accepted (w / h or h / w)
MAX_ASPECT = 100.0
#: the least part of an init box's area (of the image's, for a box larger than the image) that
#: must lie inside the image
MIN_VISIBLE_FRACTION = 0.25


def validate_target(box: object, image_shape: Sequence[int]) -> np.ndarray:
    """:func:`validate_box`, plus the limits of what the tracker can track from an init box:
    sides of at least :data:`MIN_TARGET_SIDE` px and at most :data:`MAX_TARGET_TO_IMAGE` times
    the image's width / height, an aspect ratio of at most :data:`MAX_ASPECT`, and at least
    :data:`MIN_VISIBLE_FRACTION` of the box inside the image. ``ValueError`` says which limit,
    with the numbers."""
    arr = validate_box(box, image_shape)
    x, y, w, h = (float(v) for v in arr)
    height, width = int(image_shape[0]), int(image_shape[1])
    if w < MIN_TARGET_SIDE or h < MIN_TARGET_SIDE:
        raise ValueError(
            f"box width and height must be at least {MIN_TARGET_SIDE:g} px, got {w:g}x{h:g}"
        )
    if w > MAX_TARGET_TO_IMAGE * width or h > MAX_TARGET_TO_IMAGE * height:
        raise ValueError(
            f"box {w:g}x{h:g} is too large for the {width}x{height} image "
            f"(at most {MAX_TARGET_TO_IMAGE:g}x its width and height)"
        )
    aspect = max(w / h, h / w)
    if aspect > MAX_ASPECT:
        raise ValueError(
            f"box {w:g}x{h:g} has an aspect ratio of {aspect:.3g}:1 (at most {MAX_ASPECT:g}:1)"
        )
    visible_w = max(0.0, min(x + w, width) - max(x, 0.0))
    visible_h = max(0.0, min(y + h, height) - max(y, 0.0))
    # of the box's area, or of the image's when the box is larger than the image
    fraction = visible_w * visible_h / min(w * h, float(width * height))
    if fraction < MIN_VISIBLE_FRACTION:
        raise ValueError(
            f"box {arr.tolist()} lies mostly outside the {width}x{height} image "
            f"({fraction:.0%} inside, at least {MIN_VISIBLE_FRACTION:.0%} needed)"
        )
    return arr


def clip_box_cxcywh(
    cx: float, cy: float, w: float, h: float, image_shape: Sequence[int], min_size: float
) -> tuple[float, float, float, float]:
    """pysot's ``_bbox_clip``: centre inside ``[0, W] x [0, H]``, size in ``[min_size, W/H]``,
    where the image wins over ``min_size`` (pysot lets ``min_size`` win: a frame smaller than it,
    or a large ``min_size`` set at run time, gave a box larger than the frame, whose next crop
    could not be allocated; the same boxes wherever the frame is at least ``min_size``)."""
    height, width = image_shape[0], image_shape[1]
    cx = max(0, min(cx, width))
    cy = max(0, min(cy, height))
    w = min(max(min_size, w), width)
    h = min(max(min_size, h), height)
    return cx, cy, w, h


def subwindow_origin(pos: float, crop_size: int) -> int:
    """pysot crop origin along one axis: ``floor(pos - (sz + 1) / 2 + 0.5)``."""
    return int(math.floor(pos - (crop_size + 1) / 2 + 0.5))


def get_subwindow(
    image: np.ndarray,
    center: Sequence[float] | np.ndarray,
    model_size: int,
    crop_size: int,
    avg_chans: np.ndarray,
) -> np.ndarray:
    """Square crop of side ``crop_size`` around ``center`` resized to ``model_size`` (HxWx3 uint8).

    ``crop_size`` must already be an integer (``round(s_x)`` in pysot). ``avg_chans`` is the
    float per-channel mean used for padding (truncated to uint8 exactly like numpy's assignment
    in pysot).
    """
    sz = int(crop_size)
    if sz < 1:
        raise ValueError(f"crop size must be >= 1, got {crop_size}")
    im_h, im_w = image.shape[:2]
    x0 = subwindow_origin(float(center[0]), sz)
    y0 = subwindow_origin(float(center[1]), sz)
    x1, y1 = x0 + sz, y0 + sz  # exclusive
    if x0 >= 0 and y0 >= 0 and x1 <= im_w and y1 <= im_h:
        patch = image[y0:y1, x0:x1]
    else:
        fill = [int(v) for v in np.asarray(avg_chans, dtype=np.float64).astype(np.uint8)]
        ix0, iy0 = max(x0, 0), max(y0, 0)
        ix1, iy1 = min(x1, im_w), min(y1, im_h)
        if ix0 < ix1 and iy0 < iy1:
            # the visible part framed by constant borders in one OpenCV call: filling a whole
            # NumPy patch and pasting into it costs ~15x more on large crops
            top, left = iy0 - y0, ix0 - x0
            patch = cv2.copyMakeBorder(
                image[iy0:iy1, ix0:ix1],
                top,
                sz - top - (iy1 - iy0),
                left,
                sz - left - (ix1 - ix0),
                cv2.BORDER_CONSTANT,
                value=fill,
            )
        else:
            patch = np.empty((sz, sz, image.shape[2]), np.uint8)
            patch[...] = fill
    if sz != model_size:
        patch = cv2.resize(patch, (model_size, model_size))
    return np.ascontiguousarray(patch)


def get_subwindow_opencv(
    image: np.ndarray, center: Sequence[float] | np.ndarray, model_size: int, crop_size: int
) -> np.ndarray:
    """``cv2.TrackerNano``'s crop (``TrackerNanoImpl::getSubwindow``), for ``opencv_compat`` only.

    Differs from :func:`get_subwindow` in two lossy details: the origin truncates the centre,
    ``int(c) - (sz + 1) // 2`` (up to a pixel off), and the padding is the mean of the *current*
    frame (``cv2.mean``), not of the first one.
    """
    sz = int(crop_size)
    if sz < 1:
        raise ValueError(f"crop size must be >= 1, got {crop_size}")
    im_h, im_w = image.shape[:2]
    c = (sz + 1) // 2
    x0, y0 = int(float(center[0])) - c, int(float(center[1])) - c
    x1, y1 = x0 + sz, y0 + sz
    if x0 >= 0 and y0 >= 0 and x1 <= im_w and y1 <= im_h:
        patch = image[y0:y1, x0:x1]
    else:
        pads = (max(0, -y0), max(0, y1 - im_h), max(0, -x0), max(0, x1 - im_w))
        mean = cv2.mean(image)[:3]
        big = cv2.copyMakeBorder(image, *pads, cv2.BORDER_CONSTANT, value=mean)
        patch = big[y0 + pads[0] : y0 + pads[0] + sz, x0 + pads[2] : x0 + pads[2] + sz]
    if sz != model_size:
        patch = cv2.resize(patch, (model_size, model_size))
    return np.ascontiguousarray(patch)
