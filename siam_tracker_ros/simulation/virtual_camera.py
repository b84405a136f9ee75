"""A virtual camera: a window moving over the frames of a real annotated sequence.

Why: real long-term footage (the target leaves the view or hides, then comes back) with absence
labels is scarce, and a follow controller needs a camera that its own commands move. A window
over real footage gives both: real appearance, and the ground truth carried into the window, so
"the target is out of view" is known on every frame instead of being annotated by hand.

Coordinates (the convention of every ground-truth file here): boxes are ``x, y, w, h`` in
continuous pixel coordinates, pixel ``i`` spans ``[i, i + 1)`` and a box's centre is
``x + w / 2``.

- The *scene* is the source frame scaled by ``zoom`` (window pixels per source pixel; ``0.5``
  shows twice the source extent at half its resolution; ``1.5`` enlarges a small source so
  that a window of a useful size still has room to look away from the target). Scaling uses
  ``cv2.INTER_AREA`` when shrinking, ``cv2.INTER_CUBIC`` when enlarging, and boxes scale by the
  exact ratio of the integer scene size to the source size.
- A window of ``width x height`` pixels centred on scene point ``(cx, cy)`` shows the scene from
  ``origin = (cx - width / 2, cy - height / 2)``: window pixel ``u`` samples scene pixel
  ``origin_x + u``, so a box maps into the window by the pure translation ``x' = x - origin_x``.
  Sub-pixel origins are interpolated by ``cv2.warpAffine`` (bicubic by default: sharper than
  bilinear at half-pixel offsets, where bilinear would average two pixels).
- The part of the window outside the scene is filled with a constant colour (``border=
  "constant"``, default black). Replicating the edge (``border="replicate"``, available) smears
  a target that stands at the frame edge into the window while its label says "out of view",
  so the constant fill is the default; it also makes the edge of the footage plain to see.

Labels: the target box in the window is the scene box translated and clipped to the window; it
is *absent* (``0,0,0,0``) when less than ``min_visible`` (default 30 %) of the whole box's area
is visible, i.e. inside the window and not under an occluder. A partly occluded but visible
target keeps its clipped (not its uncovered) box, as occlusion is annotated in OTB and VOT.
"""

from __future__ import annotations

from collections.abc import Sequence as SequenceABC
from dataclasses import dataclass
from itertools import pairwise
from typing import Literal

import cv2
import numpy as np

from siam_tracker_ros.datasets import FrameSource, Sequence

__all__ = [
    "MIN_VISIBLE",
    "Occluder",
    "View",
    "VirtualCamera",
    "uncovered_area",
    "window_label",
]

#: Default share of the target box's area that must be visible for it to count as present.
MIN_VISIBLE = 0.3

OccluderKind = Literal["solid", "patch", "blur"]
Rect = tuple[float, float, float, float]  # x0, y0, x1, y1


@dataclass(frozen=True)
class Occluder:
    """Something pasted over the window: an integer pixel rectangle ``x, y, w, h`` in window
    coordinates and what fills it.

    ``solid``: a flat ``colour`` (BGR). ``patch``: the scene at ``offset`` (scene pixels) from
    the rectangle, i.e. texture cut from another part of the same frame. ``blur``: the same
    texture Gaussian-blurred with ``sigma`` (an out-of-focus object close to the lens). Integer
    rectangles keep the label exactly equal to what is painted.
    """

    rect: tuple[int, int, int, int]
    kind: OccluderKind = "solid"
    colour: tuple[int, int, int] = (128, 128, 128)
    offset: tuple[float, float] = (0.0, 0.0)
    sigma: float = 8.0

    def __post_init__(self) -> None:
        if self.kind not in ("solid", "patch", "blur"):
            raise ValueError(f"occluder kind must be solid, patch or blur, got {self.kind!r}")
        if self.rect[2] < 0 or self.rect[3] < 0:
            raise ValueError(f"occluder rectangle {self.rect} has a negative size")

    @property
    def corners(self) -> Rect:
        x, y, w, h = self.rect
        return (float(x), float(y), float(x + w), float(y + h))


@dataclass(frozen=True)
class View:
    """One rendered window: the image and the target's ground truth in it.

    ``box`` is ``x, y, w, h`` in window pixels (clipped to the window), all zero when ``absent``;
    ``visible`` is the share of the full target box that is in view and uncovered (0 where the
    source has no box); ``centre`` is the window centre in scene pixels.
    """

    image: np.ndarray
    box: np.ndarray
    absent: bool
    visible: float
    index: int
    centre: tuple[float, float]


def _intersect(a: Rect, b: Rect) -> Rect | None:
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[2], b[2]), min(a[3], b[3])
    return (x0, y0, x1, y1) if x1 > x0 and y1 > y0 else None


def uncovered_area(rect: Rect, covers: SequenceABC[Rect]) -> float:
    """Area of ``rect`` (``x0, y0, x1, y1``) not covered by any of ``covers``, exactly.

    Coordinate compression over the rectangles' edges: each cell of the grid is either wholly
    covered or not, so overlapping covers are counted once (a handful of rectangles at most).
    """
    x0, y0, x1, y1 = rect
    if x1 <= x0 or y1 <= y0:
        return 0.0
    clipped = [c for c in (_intersect(rect, cov) for cov in covers) if c is not None]
    if not clipped:
        return (x1 - x0) * (y1 - y0)
    xs = sorted({x0, x1, *(c[0] for c in clipped), *(c[2] for c in clipped)})
    ys = sorted({y0, y1, *(c[1] for c in clipped), *(c[3] for c in clipped)})
    area = 0.0
    for xa, xb in pairwise(xs):
        mx = 0.5 * (xa + xb)
        for ya, yb in pairwise(ys):
            my = 0.5 * (ya + yb)
            if not any(c[0] <= mx < c[2] and c[1] <= my < c[3] for c in clipped):
                area += (xb - xa) * (yb - ya)
    return area


def window_label(
    box: np.ndarray | None,
    origin: tuple[float, float],
    size: tuple[int, int],
    occluders: SequenceABC[Occluder] = (),
    min_visible: float = MIN_VISIBLE,
) -> tuple[np.ndarray, bool, float]:
    """``(box in the window, absent, visible fraction)`` of a scene ``box`` seen by a window.

    ``box`` is ``x, y, w, h`` in scene pixels (``None`` or a non-positive size: no target); the
    window of ``size = (width, height)`` starts at scene point ``origin``. The target is absent
    when less than ``min_visible`` of the full box's area is inside the window and uncovered.
    """
    zero = np.zeros(4, dtype=np.float64)
    if box is None:
        return zero, True, 0.0
    x, y, w, h = (float(v) for v in box)
    if not (np.isfinite([x, y, w, h]).all() and w > 0 and h > 0):
        return zero, True, 0.0
    bx0, by0 = x - origin[0], y - origin[1]
    target = (bx0, by0, bx0 + w, by0 + h)
    inside = _intersect(target, (0.0, 0.0, float(size[0]), float(size[1])))
    if inside is None:
        return zero, True, 0.0
    visible = uncovered_area(inside, [o.corners for o in occluders]) / (w * h)
    if visible < min_visible:
        return zero, True, visible
    clipped = np.array([inside[0], inside[1], inside[2] - inside[0], inside[3] - inside[1]])
    return clipped, False, visible


class VirtualCamera:
    """A ``width x height`` window over the (zoomed) frames of an annotated source.

    ``frames`` is any :class:`~siam_tracker_ros.datasets.FrameSource`; ``boxes`` its ``(N, 4)``
    ground truth in source pixels (``absent`` flags or non-positive sizes: no target). Frames are
    read on demand; the last scene is cached, so rendering several windows of one frame (patch
    occluders) decodes it once.
    """

    def __init__(
        self,
        frames: FrameSource,
        boxes: np.ndarray,
        absent: np.ndarray | None = None,
        *,
        size: tuple[int, int],
        zoom: float = 1.0,
        border: Literal["constant", "replicate"] = "constant",
        fill: tuple[int, int, int] = (0, 0, 0),
        min_visible: float = MIN_VISIBLE,
        interpolation: int = cv2.INTER_CUBIC,
    ) -> None:
        width, height = (int(v) for v in size)
        if width <= 0 or height <= 0 or (width, height) != tuple(size):
            raise ValueError(f"window size must be two positive integers, got {size}")
        if not (np.isfinite(zoom) and zoom > 0):
            raise ValueError(f"zoom must be a positive number, got {zoom}")
        if border not in ("constant", "replicate"):
            raise ValueError(f"border must be 'constant' or 'replicate', got {border!r}")
        if not 0.0 <= min_visible <= 1.0:
            raise ValueError(f"min_visible must be in [0, 1], got {min_visible}")
        gt = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        if len(gt) != len(frames):
            raise ValueError(f"{len(frames)} frames but {len(gt)} ground-truth boxes")
        if len(gt) == 0:
            raise ValueError("empty source")
        flags = np.zeros(len(gt), bool) if absent is None else np.asarray(absent, bool)
        if flags.shape != (len(gt),):
            raise ValueError(f"absent flags {flags.shape} do not match {len(gt)} boxes")
        flags = flags | ~np.isfinite(gt).all(axis=1) | (gt[:, 2] <= 0) | (gt[:, 3] <= 0)
        self.frames = frames
        self.size = (width, height)
        self.zoom = float(zoom)
        self.border = border
        self.fill = tuple(int(c) for c in fill)
        self.min_visible = float(min_visible)
        self.interpolation = int(interpolation)
        first = frames[0]
        src_h, src_w = first.shape[:2]
        self.source_size = (src_w, src_h)
        self.scene_size = (
            max(1, int(round(src_w * self.zoom))),
            max(1, int(round(src_h * self.zoom))),
        )
        self._ratio = np.array(
            [self.scene_size[0] / src_w, self.scene_size[1] / src_h] * 2, dtype=np.float64
        )
        self._boxes = np.where(flags[:, None], 0.0, np.nan_to_num(gt) * self._ratio)
        self._absent = flags
        self._cache: tuple[int, np.ndarray] | None = (0, self._scale(first))

    @classmethod
    def from_sequence(cls, sequence: Sequence, **kwargs: object) -> VirtualCamera:
        """A camera over a loaded :class:`~siam_tracker_ros.datasets.Sequence`."""
        return cls(sequence.frames, sequence.groundtruth, sequence.absent, **kwargs)  # type: ignore[arg-type]

    def __len__(self) -> int:
        return len(self._boxes)

    @property
    def fps(self) -> float:
        """The source's frame rate (the simulated clock of :class:`GimbalCamera`)."""
        return float(self.frames.fps)

    def target(self, index: int) -> np.ndarray | None:
        """The target box in scene pixels at ``index``, or ``None`` where the source has none."""
        return None if self._absent[index] else self._boxes[index].copy()

    def targets(self) -> tuple[np.ndarray, np.ndarray]:
        """``(boxes (N, 4) in scene pixels, absent (N,))`` of the whole source."""
        return self._boxes.copy(), self._absent.copy()

    def _scale(self, frame: np.ndarray) -> np.ndarray:
        if frame.shape[1::-1] != self.source_size:
            raise ValueError(
                f"frame size {frame.shape[1::-1]} differs from the first frame's {self.source_size}"
            )
        if self.scene_size == self.source_size:
            return frame
        shrink = self.zoom < 1.0
        return cv2.resize(
            frame,
            self.scene_size,
            interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC,
        )

    def scene(self, index: int) -> np.ndarray:
        """Source frame ``index`` scaled by ``zoom`` (cached: the last one read)."""
        if self._cache is None or self._cache[0] != index:
            self._cache = (index, self._scale(self.frames[index]))
        return self._cache[1]

    def origin(self, centre: tuple[float, float]) -> tuple[float, float]:
        """Scene point at the window's top-left corner for a window centred on ``centre``."""
        return (float(centre[0]) - self.size[0] / 2.0, float(centre[1]) - self.size[1] / 2.0)

    def _window(
        self, scene: np.ndarray, origin: tuple[float, float], size: tuple[int, int] | None = None
    ) -> np.ndarray:
        # window pixel u samples scene pixel origin + u (WARP_INVERSE_MAP: dst -> src)
        m = np.array([[1.0, 0.0, origin[0]], [0.0, 1.0, origin[1]]], dtype=np.float64)
        border = cv2.BORDER_CONSTANT if self.border == "constant" else cv2.BORDER_REPLICATE
        return cv2.warpAffine(
            scene,
            m,
            size or self.size,
            flags=self.interpolation | cv2.WARP_INVERSE_MAP,
            borderMode=border,
            borderValue=self.fill,
        )

    def label(
        self, index: int, centre: tuple[float, float], occluders: SequenceABC[Occluder] = ()
    ) -> tuple[np.ndarray, bool, float]:
        """The ground truth of a window (see :func:`window_label`) without rendering it."""
        return window_label(
            self.target(index), self.origin(centre), self.size, occluders, self.min_visible
        )

    def render(
        self, index: int, centre: tuple[float, float], occluders: SequenceABC[Occluder] = ()
    ) -> View:
        """The window centred on scene point ``centre`` over frame ``index``, occluders pasted
        in order, with its ground truth."""
        if not 0 <= index < len(self):
            raise IndexError(f"frame {index} out of range [0, {len(self)})")
        if not np.isfinite(centre).all():
            raise ValueError(f"window centre must be finite, got {centre}")
        scene = self.scene(index)
        origin = self.origin(centre)
        image = self._window(scene, origin)
        for occ in occluders:
            self._paste(image, scene, origin, occ)
        box, absent, visible = window_label(
            self.target(index), origin, self.size, occluders, self.min_visible
        )
        return View(image, box, absent, visible, index, (float(centre[0]), float(centre[1])))

    def _paste(
        self, image: np.ndarray, scene: np.ndarray, origin: tuple[float, float], occ: Occluder
    ) -> None:
        x, y, w, h = occ.rect
        x0, y0 = max(0, x), max(0, y)
        x1, y1 = min(self.size[0], x + w), min(self.size[1], y + h)
        if x1 <= x0 or y1 <= y0:
            return
        if occ.kind == "solid":
            image[y0:y1, x0:x1] = np.array(occ.colour, dtype=image.dtype)
            return
        # texture of the same frame `offset` away (blur: with a margin of 3 sigma, so the blur
        # sees real texture on every side, not the window's edge)
        pad = int(np.ceil(3.0 * occ.sigma)) if occ.kind == "blur" else 0
        src = (origin[0] + occ.offset[0] + x0 - pad, origin[1] + occ.offset[1] + y0 - pad)
        patch = self._window(scene, src, (x1 - x0 + 2 * pad, y1 - y0 + 2 * pad))
        if occ.kind == "blur":
            patch = cv2.GaussianBlur(patch, (0, 0), sigmaX=max(0.5, float(occ.sigma)))
        image[y0:y1, x0:x1] = patch[pad : pad + y1 - y0, pad : pad + x1 - x0]
