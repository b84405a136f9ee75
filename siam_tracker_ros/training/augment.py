"""pysot-style crops with shift/scale/blur/colour/grey augmentation (no flip).

The crop geometry is the tracker's: a square of side ``s_z = sqrt((w + p)(h + p))``,
``p = context * (w + h)``, maps to the 127 template, and the search crop covers
``s_z * search_size / exemplar_size`` around the target. Shift and scale jitter move and stretch
that window (so the target is not always centred and its size varies, which is what the
tracker's search crop sees between frames). Flips are left out on purpose: they teach the model
that mirrored objects are the same target, which hurts discrimination against look-alikes.

Crops come out as raw BGR float32 0..255 (the models' input convention). Pixels outside the image
take the image mean, as the tracker pads.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["AugmentConfig", "crop_view", "to_gray"]

# pysot's PCA colour basis (rgbVar), applied as a random offset per crop
_RGB_VAR = np.array(
    [
        [-0.55919361, 0.98062831, -0.41940627],
        [1.72091413, 0.19879334, -1.82968581],
        [4.64467907, 4.73710203, 4.88324118],
    ],
    dtype=np.float32,
)


@dataclass(frozen=True)
class AugmentConfig:
    """One crop's augmentation (pysot's ``DATASET.TEMPLATE``/``SEARCH`` fields).

    shift: max displacement of the target from the crop centre, in output pixels.
    scale: max relative change of the crop size, drawn per axis (so aspect changes too).
    blur: probability of a Gaussian or motion blur.
    color: probability of colour jitter (PCA offset + brightness/contrast).
    """

    shift: float = 0.0
    scale: float = 0.0
    blur: float = 0.0
    color: float = 1.0

    def __post_init__(self) -> None:
        if self.shift < 0 or self.scale < 0 or not 0 <= self.scale < 1:
            raise ValueError("augment: shift must be >= 0 and scale in [0, 1)")
        if not (0 <= self.blur <= 1 and 0 <= self.color <= 1):
            raise ValueError("augment: blur and color are probabilities in [0, 1]")


def context_size(w: float, h: float, context: float) -> float:
    """pysot's exemplar context side ``sqrt((w + p)(h + p))`` with ``p = context * (w + h)``."""
    p = context * (w + h)
    return math.sqrt(max((w + p) * (h + p), 1.0))


def crop_view(
    image: np.ndarray,
    box_xywh: np.ndarray,
    out_size: int,
    aug: AugmentConfig,
    rng: np.random.Generator,
    *,
    exemplar_size: int = 127,
    context: float = 0.5,
) -> tuple[np.ndarray, np.ndarray]:
    """Augmented crop around ``box_xywh`` -> ``(crop float32 HxWx3, box x1y1x2y2 in the crop)``."""
    x, y, w, h = (float(v) for v in box_xywh)
    w, h = max(w, 1.0), max(h, 1.0)
    cx, cy = x + w / 2, y + h / 2
    side = context_size(w, h, context) * out_size / exemplar_size
    sx = 1.0 + rng.uniform(-aug.scale, aug.scale) if aug.scale else 1.0
    sy = 1.0 + rng.uniform(-aug.scale, aug.scale) if aug.scale else 1.0
    win_w, win_h = side / sx, side / sy
    a, b = out_size / win_w, out_size / win_h
    dx = rng.uniform(-aug.shift, aug.shift) if aug.shift else 0.0
    dy = rng.uniform(-aug.shift, aug.shift) if aug.shift else 0.0
    # window left/top so that the target centre lands at (out/2 + dx, out/2 + dy)
    wx0 = cx - (out_size / 2 + dx) / a
    wy0 = cy - (out_size / 2 + dy) / b
    # continuous coordinates (pixel i spans [i, i+1)) -> cv2's pixel-centre convention
    mat = np.array(
        [[a, 0.0, a * (0.5 - wx0) - 0.5], [0.0, b, b * (0.5 - wy0) - 0.5]], dtype=np.float64
    )
    mean = tuple(float(v) for v in image.reshape(-1, image.shape[-1]).mean(0))
    crop = cv2.warpAffine(
        image,
        mat,
        (out_size, out_size),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=mean,
    ).astype(np.float32)
    box = np.array(
        [a * (x - wx0), b * (y - wy0), a * (x + w - wx0), b * (y + h - wy0)], dtype=np.float32
    )
    if aug.color and rng.random() < aug.color:
        crop = _color_jitter(crop, rng)
    if aug.blur and rng.random() < aug.blur:
        crop = _blur(crop, rng)
    return np.clip(crop, 0.0, 255.0), box


def _color_jitter(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    offset = (_RGB_VAR @ rng.standard_normal(3).astype(np.float32))[::-1]  # RGB basis -> BGR
    gain = rng.uniform(0.8, 1.2)
    contrast = rng.uniform(0.8, 1.2)
    mean = img.mean()
    return (img - mean) * contrast + mean * gain - offset.reshape(1, 1, 3)


def _blur(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    if rng.random() < 0.5:
        sigma = rng.uniform(0.5, 2.0)
        return cv2.GaussianBlur(img, (0, 0), sigma)
    length = int(rng.integers(3, 10))
    kernel = np.zeros((length, length), np.float32)
    kernel[length // 2, :] = 1.0 / length
    rot = cv2.getRotationMatrix2D((length / 2 - 0.5, length / 2 - 0.5), rng.uniform(0, 180), 1.0)
    rotated = np.asarray(cv2.warpAffine(kernel, rot, (length, length)), np.float32)
    return cv2.filter2D(img, -1, rotated / max(float(rotated.sum()), 1e-6))


def to_gray(image: np.ndarray) -> np.ndarray:
    """Grey image with three identical channels (pysot's GRAY augmentation)."""
    g = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    return cv2.cvtColor(g, cv2.COLOR_GRAY2BGR)
