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
from collections import Counter
from collections.abc import Callable, Iterator
from collections.abc import Sequence as SequenceABC
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from siam_tracker_ros.datasets.boxes import read_boxes, read_flags
from siam_tracker_ros.datasets.frames import FrameSource, ImageFrames, VideoFrames, count_frames
from siam_tracker_ros.datasets.paths import IMAGE_EXTS, VIDEO_EXTS, list_images
from siam_tracker_ros.datasets.splits import make_command, split_dirs

__all__ = [
    "OTB_FRAME_RANGES",
    "Sequence",
    "detect_layout",
    "find_video",
    "gt_files",
    "load_dataset",
    "load_sequence",
    "sequence_folders",
    "sequence_targets",
]


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


def _nonempty(path: Path) -> bool:
    return path.is_file() and bool(path.read_text(errors="replace").strip())


def _otb_gt_index(path: Path) -> int:
    parts = path.name.split(".")  # groundtruth_rect.2.txt -> 2
    return int(parts[1]) if len(parts) == 3 and parts[1].isdigit() else 0


def gt_files(folder: str | Path) -> list[Path]:
    """The ground-truth files of a sequence folder, one per annotated target.

    ``groundtruth_rect.txt`` (OTB), else the non-empty ``groundtruth_rect.N.txt`` files (OTB-100
    folders with two targets: Jogging, Skating2; Human4 has an empty ``.1``), else
    ``groundtruth.txt`` (VOT, GOT-10k, LaSOT); empty when there is none.
    """
    d = Path(folder)
    if (d / "groundtruth_rect.txt").is_file():
        return [d / "groundtruth_rect.txt"]
    numbered = sorted(
        (p for p in d.glob("groundtruth_rect.*.txt") if _otb_gt_index(p) and _nonempty(p)),
        key=_otb_gt_index,
    )
    if numbered:
        return numbered
    return [d / "groundtruth.txt"] if (d / "groundtruth.txt").is_file() else []


#: OTB-100 sequences whose ``img/`` holds more frames than the ground truth annotates, and the
#: 1-based inclusive frame range it does annotate (the OTB toolkit's and ``got10k``'s slicing).
OTB_FRAME_RANGES: dict[str, tuple[int, int]] = {
    "david": (300, 770),
    "football1": (1, 74),
    "freeman3": (1, 460),
    "freeman4": (1, 283),
    "diving": (1, 215),
}


def find_video(folder: str | Path) -> Path | None:
    """The video file of a video-layout sequence folder (``video.mp4`` first), if any."""
    d = Path(folder)
    if (d / "video.mp4").is_file():
        return d / "video.mp4"
    videos = sorted(p for p in d.iterdir() if p.suffix.lower() in VIDEO_EXTS and p.is_file())
    return videos[0] if videos else None


def _frames_match(folder: Path, gt: Path) -> bool:
    """Whether ``folder`` holds a VOT / GOT-10k ``groundtruth.txt`` and as many frame images
    (directly, or in ``color/``) as it has boxes: then a video beside them is a preview or an
    overlay, not the source (a poster image beside a video's ground truth is not frames)."""
    if not gt.is_file():
        return False
    images = list_images(folder / "color" if (folder / "color").is_dir() else folder)
    if not images:
        return False
    try:
        return len(images) == len(read_boxes(gt))
    except (ValueError, OSError):
        return False


def detect_layout(folder: str | Path) -> str | None:
    """The layout name of a sequence folder, or ``None`` if it is not one."""
    d = Path(folder)
    if not d.is_dir():
        return None
    gts = gt_files(d)
    gt = d / "groundtruth.txt"
    if (d / "img").is_dir():
        if gt.is_file() and (
            (d / "full_occlusion.txt").is_file() or (d / "out_of_view.txt").is_file()
        ):
            return "lasot"
        if gts:
            return "otb"
    if gts and find_video(d) is not None and not _frames_match(d, gt):
        return "video"  # unless frame images as many as the boxes sit beside it (a preview)
    if gt.is_file():
        if (d / "color").is_dir():
            return "vot"
        if (d / "absence.label").is_file():
            return "got10k"
        if any(p.suffix.lower() in IMAGE_EXTS for p in d.iterdir()):
            return "vot"
    return None


def load_sequence(
    folder: str | Path, name: str | None = None, gt_file: str | Path | None = None
) -> Sequence:
    """Load one sequence folder of any supported layout (see the module docstring).

    ``gt_file`` picks one target of a folder with several (default: the first of
    :func:`gt_files`); :func:`load_dataset` loads each target as its own sequence.
    """
    d = Path(folder)
    layout = detect_layout(d)
    name = name or d.name
    if layout is None:
        raise ValueError(f"{d}: not a sequence folder (no known images + ground-truth layout)")
    gt = read_boxes(Path(gt_file) if gt_file is not None else gt_files(d)[0])
    absent = np.zeros(len(gt), dtype=bool)
    frames: FrameSource
    if layout in ("otb", "lasot"):
        paths = list_images(d / "img")
        span = OTB_FRAME_RANGES.get(d.name.lower())
        if layout == "otb" and span is not None and len(paths) != len(gt):
            paths = paths[span[0] - 1 : span[1]]
        frames = ImageFrames(paths, name=name)
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


def sequence_targets(folder: Path) -> list[tuple[str, Path]]:
    """``(name, ground-truth file)`` per target of a sequence folder: the folder name, or
    ``<name>.1``, ``<name>.2`` where it annotates several targets (OTB-100 Jogging and Skating2,
    named as the OTB toolkit and ``got10k`` name them)."""
    files = gt_files(folder)
    if len(files) == 1:
        return [(folder.name, files[0])]
    return [(f"{folder.name}.{i}", f) for i, f in enumerate(files, 1)]


def load_dataset(
    root: str | Path,
    split: str | None = None,
    names: SequenceABC[str] | None = None,
    on_error: Callable[[str, Exception], None] | None = None,
) -> list[Sequence]:
    """All sequences of ``split`` under ``root`` (sorted by name within each folder).

    ``split`` is a name from :data:`~siam_tracker_ros.datasets.splits.SPLITS` (``train``,
    ``val``, ``dev-videos``, ``dev`` = ``val`` + ``dev-videos``, ``dev-lt`` = ``dev-lt/`` + the
    generated long-term folder when it exists) or any other sub-folder name; a
    split name whose shared-layout folders are absent but that exists as a sub-folder (GOT-10k's
    ``val/``, ``train/``) is that sub-folder; ``None`` / ``""`` reads ``root`` itself. ``root`` may
    also be a single sequence folder or a dataset whose sequences sit one level deeper (LaSOT
    categories). ``names`` keeps only those sequences, in that order (an unknown name is an
    error, not silently dropped). Two sequence folders of one name are named by their paths
    under their data folder (``A__seq``, ``B__seq``; see :func:`_unique_names`): one name is one
    record and one cache folder.

    ``on_error``: a sequence that cannot be loaded (a ground truth that does not match its
    frames, an unreadable file) is passed to it with the error and left out, instead of ending
    the whole load (an evaluation scores the others); with no sequence left it is an error.
    """
    root = Path(root)
    bases = [root]
    if split:
        bases = split_dirs(root, split)  # + generated material outside the root (dev-lt)
        if not any(b.is_dir() for b in bases) and (root / split).is_dir():
            bases = [root / split]
    targets: list[tuple[str, Path, Path]] = []
    for base in bases:
        if not base.is_dir():
            command = make_command(base)
            hint = f" (generated material: make it with {command})" if command else ""
            raise FileNotFoundError(f"{base}: no such data folder{hint}")
        for folder in sequence_folders(base):
            targets.extend((name, folder, gt) for name, gt in sequence_targets(folder))
    targets = _unique_names(targets, bases)
    if names:
        by_name = {t[0]: t for t in targets}
        missing = [n for n in names if n not in by_name]
        if missing:
            raise ValueError(f"unknown sequence(s) {missing}; available: {sorted(by_name)}")
        targets = [by_name[n] for n in names]
    if not targets:
        raise ValueError(f"{', '.join(map(str, bases))}: no sequences found")
    loaded = []
    for name, folder, gt in targets:
        try:
            loaded.append(load_sequence(folder, name, gt))
        except (ValueError, OSError) as exc:
            if on_error is None:
                raise
            on_error(name, exc)
    if not loaded:
        raise ValueError(f"{', '.join(map(str, bases))}: no sequence could be loaded")
    return loaded


def _unique_names(
    targets: list[tuple[str, Path, Path]], bases: SequenceABC[Path]
) -> list[tuple[str, Path, Path]]:
    """Targets whose name another one shares are named by their folder's path under its data
    folder instead, its parts joined by ``__`` (``A__seq``: a name is also a file name in the
    results), the data folder's name first where that still collides (two splits' folders of
    one name), and numbered as a last resort: no two sequences share a record or a cache
    folder."""
    counts = Counter(name for name, _, _ in targets)
    if all(c == 1 for c in counts.values()):
        return targets

    def renamed(depth: int) -> list[tuple[str, Path, Path]]:
        out = []
        for name, folder, gt in targets:
            if counts[name] > 1:
                base = next((b for b in bases if folder.is_relative_to(b)), folder.parent)
                parts = [base.name] if depth else []
                parts += list(folder.relative_to(base).parts) or [folder.name]
                name = "__".join(parts) + name[len(folder.name) :]  # keeps a ".1" suffix
            out.append((name, folder, gt))
        return out

    out = renamed(0)
    if len({n for n, _, _ in out}) < len(out):
        out = renamed(1)
    seen: Counter[str] = Counter()
    numbered = []
    for name, folder, gt in out:
        seen[name] += 1
        numbered.append((name if seen[name] == 1 else f"{name}__{seen[name]}", folder, gt))
    return numbered
