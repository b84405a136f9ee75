"""Annotated sequences (frames + ground truth) from the common dataset layouts, for evaluation.

Supported layouts (auto-detected by :func:`detect_layout`):

- OTB: ``img/0001.jpg ...`` + ``groundtruth_rect.txt`` (1-based pixel boxes, kept as they are, as
  the OTB toolkit and ``got10k`` do; ``0,0,0,0`` or NaN = target absent).
- video: ``video.mp4`` (or .avi/.mkv/.mov) + ``groundtruth_rect.txt`` / ``groundtruth.txt``
  beside it, one line per decoded frame (``train-videos/<name>/``, ``dev-videos/<name>/``).
- VOT: ``color/00000001.jpg ...`` (or images directly in the folder, older editions) +
  ``groundtruth.txt``, 0-based; rotated 8-value polygons become their axis-aligned bounding box.
- GOT-10k: images in the folder + ``groundtruth.txt`` + ``absence.label`` (1 = absent).
- LaSOT: ``img/`` + ``groundtruth.txt`` + ``full_occlusion.txt`` / ``out_of_view.txt``.

Frames are listed in natural order and boxes parsed by the one parser
(:func:`~siam_tracker_ros.datasets.boxes.read_boxes`); training reads the same layouts through
:mod:`siam_tracker_ros.datasets.tracks`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from collections.abc import Sequence as SequenceABC
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from siam_tracker_ros.datasets.boxes import read_boxes, read_flags
from siam_tracker_ros.datasets.frames import FrameSource, ImageFrames, VideoFrames, count_frames
from siam_tracker_ros.datasets.paths import IMAGE_EXTS, VIDEO_EXTS, list_images
from siam_tracker_ros.datasets.splits import split_folders

__all__ = [
    "GT_FILES",
    "Sequence",
    "detect_layout",
    "find_video",
    "load_dataset",
    "load_sequence",
    "sequence_folders",
]

#: Ground-truth file names, in the order they are looked for.
GT_FILES = ("groundtruth_rect.txt", "groundtruth_rect.1.txt", "groundtruth.txt")


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


def _first_existing(folder: Path, names: SequenceABC[str]) -> Path | None:
    for name in names:
        p = folder / name
        if p.is_file():
            return p
    return None


def find_video(folder: str | Path) -> Path | None:
    """The video file of a video-layout sequence folder (``video.mp4`` first), if any."""
    d = Path(folder)
    if (d / "video.mp4").is_file():
        return d / "video.mp4"
    videos = sorted(p for p in d.iterdir() if p.suffix.lower() in VIDEO_EXTS and p.is_file())
    return videos[0] if videos else None


def detect_layout(folder: str | Path) -> str | None:
    """The layout name of a sequence folder, or ``None`` if it is not one."""
    d = Path(folder)
    if not d.is_dir():
        return None
    gt_otb = _first_existing(d, GT_FILES[:2])
    gt = d / "groundtruth.txt"
    if (d / "img").is_dir():
        if gt.is_file() and (
            (d / "full_occlusion.txt").is_file() or (d / "out_of_view.txt").is_file()
        ):
            return "lasot"
        if gt_otb is not None or gt.is_file():
            return "otb"
    if (gt_otb is not None or gt.is_file()) and find_video(d) is not None:
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
    gt_file = _first_existing(d, GT_FILES)
    assert gt_file is not None
    gt = read_boxes(gt_file)
    absent = np.zeros(len(gt), dtype=bool)
    frames: FrameSource
    if layout in ("otb", "lasot"):
        frames = ImageFrames(list_images(d / "img"), name=name)
        for flag_file in ("full_occlusion.txt", "out_of_view.txt"):
            if layout == "lasot" and (d / flag_file).is_file():
                absent |= read_flags(d / flag_file, len(gt))
    elif layout == "video":
        video = find_video(d)
        assert video is not None
        frames = VideoFrames(video)
        if len(frames) != len(gt):
            # Container frame counts are estimates for some codecs; trust a full count instead.
            frames = VideoFrames(video, count_frames(video))
    elif layout == "vot":
        frames = ImageFrames(list_images(d / "color" if (d / "color").is_dir() else d), name=name)
    elif layout == "got10k":
        frames = ImageFrames(list_images(d), name=name)
        absent |= read_flags(d / "absence.label", len(gt))
    else:  # pragma: no cover - detect_layout returns only the names above
        raise AssertionError(layout)
    return Sequence(name=name, frames=frames, groundtruth=gt, absent=absent, layout=layout, path=d)


def sequence_folders(base: str | Path) -> list[Path]:
    """The sequence folders of a dataset folder: itself, its children, or its grandchildren
    (LaSOT categories), sorted by name."""
    base = Path(base)
    if detect_layout(base) is not None:
        return [base]
    folders: list[Path] = []
    for child in sorted(p for p in base.iterdir() if p.is_dir()):
        if detect_layout(child) is not None:
            folders.append(child)
        else:
            folders.extend(
                g for g in sorted(child.iterdir()) if g.is_dir() and detect_layout(g) is not None
            )
    return folders


def load_dataset(
    root: str | Path, split: str | None = None, names: SequenceABC[str] | None = None
) -> list[Sequence]:
    """All sequences of ``split`` under ``root`` (sorted by name within each folder).

    ``split`` is a name from :data:`~siam_tracker_ros.datasets.splits.SPLITS` (``train``,
    ``val``, ``dev-videos``, ``dev`` = ``val`` + ``dev-videos``) or any other sub-folder name;
    ``None`` / ``""`` reads ``root`` itself. ``root`` may also be a single sequence folder or a
    dataset whose sequences sit one level deeper (LaSOT categories). ``names`` keeps only those
    sequences, in that order (an unknown name is an error, not silently dropped).
    """
    root = Path(root)
    bases = [root / f for f in split_folders(split)] if split else [root]
    folders: list[Path] = []
    for base in bases:
        if not base.is_dir():
            raise FileNotFoundError(f"{base}: no such data folder")
        folders.extend(sequence_folders(base))
    if names:
        by_name = {f.name: f for f in folders}
        missing = [n for n in names if n not in by_name]
        if missing:
            raise ValueError(f"unknown sequence(s) {missing}; available: {sorted(by_name)}")
        folders = [by_name[n] for n in names]
    if not folders:
        raise ValueError(f"{', '.join(map(str, bases))}: no sequences found")
    return [load_sequence(f) for f in folders]
