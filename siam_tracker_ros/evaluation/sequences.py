"""Tracking sequences: ground truth plus lazily decoded frames, from the common dataset layouts.

Why lazy: a sequence may be a 1280x720 video of hundreds of frames and the runner ships sequences
to worker processes, so a :class:`Sequence` holds only paths and the ground-truth array; frames are
decoded one at a time while a tracker consumes them (and frames a protocol does not need, e.g.
during a VOT re-initialisation gap, are skipped without decoding where the source allows it).

Supported layouts (auto-detected by :func:`load_sequence`):

- OTB: ``img/0001.jpg ...`` + ``groundtruth_rect.txt`` (1-based pixel boxes, kept as they are, as
  the OTB toolkit and ``got10k`` do; ``0,0,0,0`` or NaN = target absent).
- video: ``video.mp4`` (or .avi/.mkv/.mov) + ``groundtruth_rect.txt`` / ``groundtruth.txt``
  beside it, one line per decoded frame (``../shared/data/train-videos/<name>/``).
- VOT: ``color/00000001.jpg ...`` (or images directly in the folder, older editions) +
  ``groundtruth.txt``, 0-based; rotated 8-value polygons become their axis-aligned bounding box.
- GOT-10k: images in the folder + ``groundtruth.txt`` + ``absence.label`` (1 = absent).
- LaSOT: ``img/`` + ``groundtruth.txt`` + ``full_occlusion.txt`` / ``out_of_view.txt``.

Ground-truth files may be comma-, tab- or space-separated.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from collections.abc import Sequence as SequenceABC
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

__all__ = [
    "FrameSource",
    "ImageFrames",
    "Sequence",
    "VideoFrames",
    "load_dataset",
    "load_sequence",
    "read_boxes",
]

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
VIDEO_EXTS = (".mp4", ".avi", ".mkv", ".mov", ".m4v", ".webm")

#: ``--split`` name -> sub-folder of the data root (``../shared/data`` layout, see its README).
SPLIT_FOLDERS: dict[str, str] = {"val": "sequences", "train": "train-videos"}


class FrameSource(Protocol):
    """Random-access (but cheapest when read in order) BGR uint8 frames."""

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> np.ndarray: ...


def _natural_key(path: Path) -> list[Any]:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", path.name)]


def _list_images(folder: Path) -> list[Path]:
    return sorted(
        (p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTS and p.is_file()),
        key=_natural_key,
    )


class ImageFrames:
    """Frames stored as image files, read with OpenCV on access."""

    def __init__(self, paths: SequenceABC[str | Path]) -> None:
        self.paths = [Path(p) for p in paths]

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> np.ndarray:
        path = self.paths[index]
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise OSError(f"cannot read image {path}")
        return image

    def path(self, index: int) -> Path:
        """The file behind a frame (the TraX client and the overlay video use it)."""
        return self.paths[index]


class VideoFrames:
    """Frames of a video file, decoded sequentially.

    Seeking in compressed video is not frame-exact with every backend, so random access re-opens
    the file and *grabs* (demuxes without decoding) up to the wanted frame; reading in order, the
    way every protocol here does, costs one decode per frame. Picklable: the capture is re-opened
    in the process that reads.
    """

    def __init__(self, path: str | Path, num_frames: int | None = None) -> None:
        self.path = Path(path)
        self._cap: cv2.VideoCapture | None = None
        self._next = 0  # index of the frame the capture returns next
        if num_frames is None:
            cap = cv2.VideoCapture(str(self.path))
            if not cap.isOpened():
                raise OSError(f"cannot open video {self.path}")
            num_frames = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
            cap.release()
        self._len = int(num_frames)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_cap"] = None
        state["_next"] = 0
        return state

    def __len__(self) -> int:
        return self._len

    def _open(self) -> cv2.VideoCapture:
        if self._cap is not None:
            self._cap.release()
        cap = cv2.VideoCapture(str(self.path))
        if not cap.isOpened():
            raise OSError(f"cannot open video {self.path}")
        self._cap = cap
        self._next = 0
        return cap

    def __getitem__(self, index: int) -> np.ndarray:
        if not 0 <= index < self._len:
            raise IndexError(f"frame {index} out of range [0, {self._len}) in {self.path}")
        cap = self._cap
        if cap is None or index < self._next:
            cap = self._open()
        while self._next < index:
            if not cap.grab():
                raise OSError(f"{self.path}: video ended before frame {index}")
            self._next += 1
        ok, frame = cap.read()
        if not ok or frame is None:
            raise OSError(f"{self.path}: cannot decode frame {index}")
        self._next += 1
        return frame

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None
            self._next = 0


@dataclass
class Sequence:
    """One annotated sequence.

    ``groundtruth`` is ``(N, 4)`` float64 ``x, y, w, h``; rows of absent frames are zero and
    flagged in ``absent`` so metrics can leave them out rather than score against a dummy box.
    """

    name: str
    frames: FrameSource
    groundtruth: np.ndarray
    absent: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    layout: str = "otb"
    path: Path | None = None

    def __post_init__(self) -> None:
        gt = np.asarray(self.groundtruth, dtype=np.float64).reshape(-1, 4)
        absent = np.asarray(self.absent, dtype=bool)
        if absent.size == 0:
            absent = np.zeros(len(gt), dtype=bool)
        if absent.shape != (len(gt),):
            raise ValueError(
                f"{self.name}: absent flags {absent.shape} do not match {len(gt)} boxes"
            )
        bad = ~np.isfinite(gt).all(axis=1) | (gt[:, 2] <= 0) | (gt[:, 3] <= 0)
        absent = absent | bad
        gt = gt.copy()
        gt[absent] = 0.0
        self.groundtruth = gt
        self.absent = absent
        if len(self.frames) != len(gt):
            raise ValueError(
                f"{self.name}: {len(self.frames)} frames but {len(gt)} ground-truth boxes"
            )
        if len(gt) == 0:
            raise ValueError(f"{self.name}: empty sequence")
        if absent[0]:
            raise ValueError(f"{self.name}: target absent in the first frame (nothing to init on)")

    def __len__(self) -> int:
        return len(self.groundtruth)

    def frame(self, index: int) -> np.ndarray:
        return self.frames[index]

    def iter_frames(self) -> Iterator[np.ndarray]:
        for i in range(len(self)):
            yield self.frames[i]

    @property
    def init_box(self) -> np.ndarray:
        return self.groundtruth[0].copy()

    @property
    def has_absent(self) -> bool:
        return bool(self.absent.any())

    def fingerprint(self) -> str:
        """Hash of the name, frame count and ground truth: part of every cache key."""
        h = hashlib.sha1(self.name.encode())
        h.update(np.ascontiguousarray(self.groundtruth).tobytes())
        h.update(np.ascontiguousarray(self.absent).tobytes())
        h.update(str(len(self.frames)).encode())
        return h.hexdigest()[:16]


# --------------------------------------------------------------------------------------------------
# ground-truth parsing
# --------------------------------------------------------------------------------------------------

_SPLIT = re.compile(r"[,\s;]+")


def _polygon_to_box(values: np.ndarray) -> np.ndarray:
    xs, ys = values[0::2], values[1::2]
    x0, y0 = xs.min(), ys.min()
    return np.array([x0, y0, xs.max() - x0, ys.max() - y0])


def read_boxes(path: str | Path) -> np.ndarray:
    """Read a ground-truth file into ``(N, 4)`` ``x, y, w, h`` (NaN rows where unannotated).

    Each line holds 4 values (a box), 8 values (a VOT polygon, converted to its axis-aligned
    bounding rectangle) or 1 value (a VOT special code such as ``0``: no box). Separators may be
    commas, tabs or spaces; empty lines at the end are ignored.
    """
    rows: list[np.ndarray] = []
    lines = Path(path).read_text(encoding="utf-8", errors="replace").splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    for lineno, line in enumerate(lines, 1):
        tokens = [t for t in _SPLIT.split(line.strip()) if t]
        try:
            values = np.array([float(t) for t in tokens], dtype=np.float64)
        except ValueError as exc:
            raise ValueError(f"{path}:{lineno}: cannot parse {line!r}") from exc
        if len(values) == 4:
            rows.append(values)
        elif len(values) >= 6 and len(values) % 2 == 0:
            rows.append(
                _polygon_to_box(values) if np.isfinite(values).all() else np.full(4, np.nan)
            )
        elif len(values) <= 1:
            rows.append(np.full(4, np.nan))
        else:
            raise ValueError(f"{path}:{lineno}: expected 4 or 8 values, got {len(values)}")
    return np.array(rows, dtype=np.float64).reshape(-1, 4)


def _read_flags(path: Path, n: int) -> np.ndarray:
    """0/1 flags, one per frame, one per line or comma-separated on one line (LaSOT)."""
    tokens = [t for t in _SPLIT.split(path.read_text().strip()) if t]
    flags = np.array([int(float(t)) for t in tokens], dtype=bool)
    if len(flags) != n:
        raise ValueError(f"{path}: {len(flags)} flags for {n} frames")
    return flags


# --------------------------------------------------------------------------------------------------
# layouts
# --------------------------------------------------------------------------------------------------


def _first_existing(folder: Path, names: SequenceABC[str]) -> Path | None:
    for name in names:
        p = folder / name
        if p.is_file():
            return p
    return None


def detect_layout(folder: str | Path) -> str | None:
    """The layout name of a sequence folder, or ``None`` if it is not one."""
    d = Path(folder)
    if not d.is_dir():
        return None
    gt_otb = _first_existing(d, ["groundtruth_rect.txt", "groundtruth_rect.1.txt"])
    gt = d / "groundtruth.txt"
    if (d / "img").is_dir():
        if gt.is_file() and (
            (d / "full_occlusion.txt").is_file() or (d / "out_of_view.txt").is_file()
        ):
            return "lasot"
        if gt_otb is not None or gt.is_file():
            return "otb"
    if any(p.suffix.lower() in VIDEO_EXTS for p in d.iterdir() if p.is_file()) and (
        gt_otb is not None or gt.is_file()
    ):
        return "video"
    if gt.is_file():
        if (d / "color").is_dir():
            return "vot"
        if (d / "absence.label").is_file():
            return "got10k"
        if any(p.suffix.lower() in IMAGE_EXTS for p in d.iterdir()):
            return "vot"
    return None


def load_sequence(folder: str | Path, name: str | None = None) -> Sequence:
    """Load one sequence folder of any supported layout (see the module docstring)."""
    d = Path(folder)
    layout = detect_layout(d)
    name = name or d.name
    if layout is None:
        raise ValueError(f"{d}: not a sequence folder (no known images + ground-truth layout)")
    gt_file = _first_existing(
        d, ["groundtruth_rect.txt", "groundtruth_rect.1.txt", "groundtruth.txt"]
    )
    assert gt_file is not None
    gt = read_boxes(gt_file)
    absent = np.zeros(len(gt), dtype=bool)
    frames: FrameSource
    if layout == "otb":
        frames = ImageFrames(_list_images(d / "img"))
    elif layout == "lasot":
        frames = ImageFrames(_list_images(d / "img"))
        for flag_file in ("full_occlusion.txt", "out_of_view.txt"):
            if (d / flag_file).is_file():
                absent |= _read_flags(d / flag_file, len(gt))
    elif layout == "video":
        video = sorted(p for p in d.iterdir() if p.suffix.lower() in VIDEO_EXTS)[0]
        frames = VideoFrames(video)
        if len(frames) != len(gt):
            # Container frame counts are estimates for some codecs; trust a full count instead.
            frames = VideoFrames(video, _count_frames(video))
    elif layout == "vot":
        img_dir = d / "color" if (d / "color").is_dir() else d
        frames = ImageFrames(_list_images(img_dir))
    elif layout == "got10k":
        frames = ImageFrames(_list_images(d))
        absent |= _read_flags(d / "absence.label", len(gt))
    else:  # pragma: no cover - detect_layout returns only the names above
        raise AssertionError(layout)
    return Sequence(name=name, frames=frames, groundtruth=gt, absent=absent, layout=layout, path=d)


def _count_frames(video: Path) -> int:
    cap = cv2.VideoCapture(str(video))
    n = 0
    while cap.grab():
        n += 1
    cap.release()
    return n


def load_dataset(
    root: str | Path, split: str | None = None, names: SequenceABC[str] | None = None
) -> list[Sequence]:
    """All sequences under ``root`` (sorted by name).

    ``split`` picks the sub-folder of the shared data layout (``val`` -> ``sequences/``, ``train``
    -> ``train-videos/``); any other value is taken as a sub-folder name. ``root`` may also be a
    single sequence folder or a dataset whose sequences sit one level deeper (LaSOT categories).
    ``names`` keeps only those sequences (an unknown name is an error, not silently dropped).
    """
    base = Path(root)
    if split:
        base = base / SPLIT_FOLDERS.get(split, split)
    if not base.is_dir():
        raise FileNotFoundError(f"{base}: no such data folder")
    if detect_layout(base) is not None:
        folders = [base]
    else:
        folders = []
        for child in sorted(p for p in base.iterdir() if p.is_dir()):
            if detect_layout(child) is not None:
                folders.append(child)
            else:
                folders.extend(
                    g
                    for g in sorted(child.iterdir())
                    if g.is_dir() and detect_layout(g) is not None
                )
    if names:
        by_name = {f.name: f for f in folders}
        missing = [n for n in names if n not in by_name]
        if missing:
            raise ValueError(f"unknown sequence(s) {missing}; available: {sorted(by_name)}")
        folders = [by_name[n] for n in names]
    if not folders:
        raise ValueError(f"{base}: no sequences found")
    return [load_sequence(f) for f in folders]
