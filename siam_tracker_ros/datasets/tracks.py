"""Training readers: the usual single-object-tracking training sets, all into one shape.

Every reader returns :class:`TrackSequence` objects (frame *paths* + one ``x, y, w, h`` box per
frame, absent frames with zero size), so the pair sampler never needs to know where a sequence
came from, and DataLoader workers get cheap random access. Still-image sets (COCO) become
one-frame sequences; ImageNet VID becomes one sequence per track id. Videos
(``<name>/video.mp4`` + ``groundtruth_rect.txt``) are decoded once into a JPEG frame cache outside
the repository, because seeking in H.264 is slow and not frame-exact.

Frames are listed in natural order and boxes parsed by the same code evaluation uses, and every
reader refuses the evaluation-only splits (:func:`~.splits.forbid_eval_split`).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import xml.etree.ElementTree as ET
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from siam_tracker_ros.datasets.boxes import read_boxes, read_flags
from siam_tracker_ros.datasets.paths import list_images
from siam_tracker_ros.datasets.sequences import find_video
from siam_tracker_ros.datasets.splits import forbid_eval_split

__all__ = [
    "TrackSequence",
    "default_cache_dir",
    "read_coco",
    "read_got10k",
    "read_image_folder_sequences",
    "read_lasot",
    "read_vid",
    "read_video_sequences",
]

log = logging.getLogger(__name__)


@dataclass
class TrackSequence:
    """Frame paths and ``(T, 4)`` float32 ``x, y, w, h`` boxes (absent: w or h <= 0)."""

    name: str
    frames: list[str]
    boxes: np.ndarray

    def __post_init__(self) -> None:
        self.boxes = np.asarray(self.boxes, dtype=np.float32).reshape(-1, 4)
        if len(self.frames) != len(self.boxes):
            raise ValueError(f"{self.name}: {len(self.frames)} frames but {len(self.boxes)} boxes")

    @property
    def visible(self) -> np.ndarray:
        """Indices of frames whose target is present (positive size, finite)."""
        b = self.boxes
        ok = np.isfinite(b).all(1) & (b[:, 2] > 1) & (b[:, 3] > 1)
        return np.flatnonzero(ok)


def default_cache_dir() -> Path:
    """Where decoded video frames go (never inside the repository)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "siam_tracker_ros" / "frames"


def _paths(frames: Iterable[Path]) -> list[str]:
    return [str(p) for p in frames]


def _common_prefix(name: str, frames: list[str], boxes: np.ndarray) -> TrackSequence | None:
    """Frames and boxes cut to the shorter of the two (a warning when they differ)."""
    if len(frames) != len(boxes):
        log.warning(
            "%s: %d frames but %d boxes; using the common prefix", name, len(frames), len(boxes)
        )
    n = min(len(frames), len(boxes))
    return TrackSequence(name, frames[:n], boxes[:n]) if n else None


def _sequence_dirs(root: Path, names: Iterable[str] | None) -> list[Path]:
    """Sub-folders of ``root`` (only ``names`` if given), each checked against the eval splits."""
    forbid_eval_split(root)
    wanted = set(names) if names is not None else None
    dirs = [
        p for p in sorted(root.iterdir()) if p.is_dir() and (wanted is None or p.name in wanted)
    ]
    for d in dirs:
        forbid_eval_split(d)  # a symlink into an evaluation split is refused too
    return dirs


def read_image_folder_sequences(
    root: str | Path, names: Iterable[str] | None = None
) -> list[TrackSequence]:
    """OTB-style folders: ``<root>/<Name>/img/*.jpg`` + ``groundtruth_rect.txt``."""
    seqs = []
    for d in _sequence_dirs(Path(root), names):
        gt, img = d / "groundtruth_rect.txt", d / "img"
        if not gt.is_file() or not img.is_dir():
            continue
        seq = _common_prefix(d.name, _paths(list_images(img)), read_boxes(gt))
        if seq is not None:
            seqs.append(seq)
    return seqs


def _decode_video(video: Path, out_dir: Path, quality: int = 95) -> int:
    """Decode every frame of ``video`` into ``out_dir/%06d.jpg`` atomically; returns the count."""
    tmp = out_dir.with_name(out_dir.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    cap = cv2.VideoCapture(str(video))
    if not cap.isOpened():
        raise OSError(f"cannot open video {video}")
    count = 0
    try:
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            cv2.imwrite(str(tmp / f"{count:06d}.jpg"), frame, [cv2.IMWRITE_JPEG_QUALITY, quality])
            count += 1
    finally:
        cap.release()
    (tmp / "COMPLETE").write_text(str(count))
    try:
        tmp.rename(out_dir)
    except OSError:  # another process finished first
        shutil.rmtree(tmp, ignore_errors=True)
    return count


def read_video_sequences(
    root: str | Path, cache_dir: str | Path | None = None, names: Iterable[str] | None = None
) -> list[TrackSequence]:
    """``<root>/<Name>/video.mp4`` + ``groundtruth_rect.txt`` (one line per decoded frame)."""
    cache = Path(cache_dir) if cache_dir else default_cache_dir()
    seqs = []
    for d in _sequence_dirs(Path(root), names):
        video, gt = find_video(d), d / "groundtruth_rect.txt"
        if video is None or not gt.is_file():
            continue
        stamp = f"{video.stat().st_size}_{int(video.stat().st_mtime)}"
        out_dir = cache / f"{d.name}_{stamp}"
        if not (out_dir / "COMPLETE").is_file():
            log.info("decoding %s into %s", video, out_dir)
            _decode_video(video, out_dir)
        seq = _common_prefix(d.name, _paths(list_images(out_dir)), read_boxes(gt))
        if seq is not None:
            seqs.append(seq)
    return seqs


def read_got10k(root: str | Path, split: str = "train") -> list[TrackSequence]:
    """GOT-10k: ``<root>/<split>/<seq>/{00000001.jpg, groundtruth.txt, absence.label}``."""
    forbid_eval_split(root)
    base = Path(root) / split if (Path(root) / split).is_dir() else Path(root)
    listing = base / "list.txt"
    dirs = (
        [base / n.strip() for n in listing.read_text().splitlines() if n.strip()]
        if listing.is_file()
        else sorted(p for p in base.iterdir() if p.is_dir())
    )
    seqs = []
    for d in dirs:
        gt = d / "groundtruth.txt"
        if not gt.is_file():
            continue
        boxes = read_boxes(gt)
        absence = d / "absence.label"
        if absence.is_file():
            boxes[read_flags(absence, len(boxes))] = 0.0
        seq = _common_prefix(d.name, _paths(list_images(d)), boxes)
        if seq is not None:
            seqs.append(seq)
    return seqs


def read_lasot(root: str | Path) -> list[TrackSequence]:
    """LaSOT: ``<root>/<class>/<class>-<n>/img/*.jpg``, ``groundtruth.txt`` and the occlusion /
    out-of-view flags (flagged frames count as absent)."""
    forbid_eval_split(root)
    seqs = []
    for cls_dir in sorted(p for p in Path(root).iterdir() if p.is_dir()):
        for d in sorted(p for p in cls_dir.iterdir() if p.is_dir()):
            gt, img = d / "groundtruth.txt", d / "img"
            if not gt.is_file() or not img.is_dir():
                continue
            boxes = read_boxes(gt)
            for flag_file in ("full_occlusion.txt", "out_of_view.txt"):
                if (d / flag_file).is_file():
                    boxes[read_flags(d / flag_file, len(boxes))] = 0.0
            seq = _common_prefix(d.name, _paths(list_images(img)), boxes)
            if seq is not None:
                seqs.append(seq)
    return seqs


def read_coco(
    ann_file: str | Path, image_dir: str | Path, min_size: float = 8.0
) -> list[TrackSequence]:
    """COCO detection json: every non-crowd object becomes a one-frame sequence."""
    forbid_eval_split(image_dir)
    data = json.loads(Path(ann_file).read_text())
    files = {img["id"]: img["file_name"] for img in data.get("images", [])}
    seqs = []
    for ann in data.get("annotations", []):
        if ann.get("iscrowd", 0):
            continue
        x, y, w, h = (float(v) for v in ann["bbox"])
        if w < min_size or h < min_size or ann["image_id"] not in files:
            continue
        path = str(Path(image_dir) / files[ann["image_id"]])
        seqs.append(TrackSequence(f"coco_{ann['id']}", [path], np.array([[x, y, w, h]])))
    return seqs


def read_vid(root: str | Path, split: str = "train") -> list[TrackSequence]:
    """ImageNet VID: ``Annotations/VID/<split>/**/NNNNNN.xml`` -> one sequence per track id.

    Frames where a track is not annotated are left out of that track's sequence, so a frame
    range counts annotated frames (close enough for pair sampling).
    """
    forbid_eval_split(root)
    root = Path(root)
    ann_root = root / "Annotations" / "VID" / split
    data_root = root / "Data" / "VID" / split
    snippets: dict[Path, list[Path]] = defaultdict(list)
    for xml in sorted(ann_root.rglob("*.xml")):
        snippets[xml.parent].append(xml)
    seqs = []
    for snip, xmls in sorted(snippets.items()):
        tracks: dict[str, tuple[list[str], list[list[float]]]] = defaultdict(lambda: ([], []))
        for xml in xmls:
            tree = ET.parse(xml).getroot()
            frame = data_root / xml.relative_to(ann_root).with_suffix(".JPEG")
            for obj in tree.iter("object"):
                tid = obj.findtext("trackid", default="0")
                bb = obj.find("bndbox")
                if bb is None:
                    continue
                x1, y1 = float(bb.findtext("xmin", "0")), float(bb.findtext("ymin", "0"))
                x2, y2 = float(bb.findtext("xmax", "0")), float(bb.findtext("ymax", "0"))
                frames, boxes = tracks[tid]
                frames.append(str(frame))
                boxes.append([x1, y1, x2 - x1, y2 - y1])
        rel = snip.relative_to(ann_root)
        for tid, (frames, boxes) in tracks.items():
            name = f"vid_{rel}_{tid}".replace(os.sep, "_")
            seqs.append(TrackSequence(name, frames, np.array(boxes)))
    return seqs
