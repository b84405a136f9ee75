"""Readers for the usual single-object-tracking training sets, all into one shape.

Every reader returns :class:`TrackSequence` objects (frame paths + one ``x, y, w, h`` box per
frame, absent frames with zero size), so the pair sampler never needs to know where a sequence
came from. Still-image sets (COCO) become one-frame sequences; ImageNet VID becomes one sequence
per track id.

Videos (``<name>/video.mp4`` + ``groundtruth_rect.txt``) are decoded once into a JPEG frame cache
outside the repository, because DataLoader workers need random access to frames and seeking in
H.264 is slow and not frame-exact.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import xml.etree.ElementTree as ET
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

__all__ = [
    "TrackSequence",
    "default_cache_dir",
    "forbid_val_split",
    "parse_boxes",
    "read_coco",
    "read_got10k",
    "read_image_folder_sequences",
    "read_lasot",
    "read_video_sequences",
    "read_vid",
    "shared_dir",
]

log = logging.getLogger(__name__)

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".JPEG", ".JPG", ".PNG")


@dataclass
class TrackSequence:
    """Frame paths and ``(T, 4)`` float32 ``x, y, w, h`` boxes (absent: w or h <= 0)."""

    name: str
    frames: list[str]
    boxes: np.ndarray

    def __post_init__(self) -> None:
        self.boxes = np.asarray(self.boxes, dtype=np.float32).reshape(-1, 4)
        if len(self.frames) != len(self.boxes):
            raise ValueError(
                f"{self.name}: {len(self.frames)} frames but {len(self.boxes)} boxes"
            )

    @property
    def visible(self) -> np.ndarray:
        """Indices of frames whose target is present (positive size, finite)."""
        b = self.boxes
        ok = np.isfinite(b).all(1) & (b[:, 2] > 1) & (b[:, 3] > 1)
        return np.flatnonzero(ok)


def shared_dir() -> Path:
    """``$SIAM_SHARED_DIR`` or ``<repo>/../shared`` (read-only reference material)."""
    env = os.environ.get("SIAM_SHARED_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2].parent / "shared"


def default_cache_dir() -> Path:
    """Where decoded video frames go (never inside the repository)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "siam_tracker_ros" / "frames"


def forbid_val_split(path: str | Path) -> None:
    """Refuse to train on ``shared/data/sequences`` -- the validation split figures come from.

    Training on it would make every reported accuracy meaningless, so this is a hard error and not
    a warning.
    """
    p = Path(path).resolve()
    val = (shared_dir() / "data" / "sequences").resolve()
    if p == val or val in p.parents or (p.name == "sequences" and p.parent.name == "data"):
        raise ValueError(
            f"{path} is the validation split (shared/data/sequences); never train on it -- use "
            "shared/data/train-videos"
        )


def parse_boxes(path: str | Path) -> np.ndarray:
    """``x,y,w,h`` lines separated by commas, tabs or spaces; unparsable lines become NaN."""
    rows = []
    for line in Path(path).read_text().splitlines():
        line = line.strip()
        if not line:
            continue
        parts = [p for p in re.split(r"[,\s]+", line) if p]
        try:
            vals = [float(v) for v in parts[:4]]
        except ValueError:
            vals = [float("nan")] * 4
        if len(vals) < 4:
            vals = [float("nan")] * 4
        rows.append(vals)
    return np.asarray(rows, dtype=np.float32).reshape(-1, 4)


def _images_in(folder: Path) -> list[str]:
    return sorted(str(p) for p in folder.iterdir() if p.suffix in IMAGE_EXTS)


def read_image_folder_sequences(root: str | Path, names: Iterable[str] | None = None) -> list[
    TrackSequence
]:
    """OTB-style folders: ``<root>/<Name>/img/*.jpg`` + ``groundtruth_rect.txt``."""
    root = Path(root)
    forbid_val_split(root)
    wanted = set(names) if names is not None else None
    seqs = []
    for d in sorted(p for p in root.iterdir() if p.is_dir()):
        if wanted is not None and d.name not in wanted:
            continue
        gt, img = d / "groundtruth_rect.txt", d / "img"
        if not gt.is_file() or not img.is_dir():
            continue
        frames, boxes = _images_in(img), parse_boxes(gt)
        n = min(len(frames), len(boxes))
        if n == 0:
            continue
        seqs.append(TrackSequence(d.name, frames[:n], boxes[:n]))
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
    root = Path(root)
    forbid_val_split(root)
    cache = Path(cache_dir) if cache_dir else default_cache_dir()
    wanted = set(names) if names is not None else None
    seqs = []
    for d in sorted(p for p in root.iterdir() if p.is_dir()):
        if wanted is not None and d.name not in wanted:
            continue
        video, gt = d / "video.mp4", d / "groundtruth_rect.txt"
        if not video.is_file() or not gt.is_file():
            continue
        stamp = f"{video.stat().st_size}_{int(video.stat().st_mtime)}"
        out_dir = cache / f"{d.name}_{stamp}"
        if not (out_dir / "COMPLETE").is_file():
            log.info("decoding %s into %s", video, out_dir)
            _decode_video(video, out_dir)
        frames = _images_in(out_dir)
        boxes = parse_boxes(gt)
        if len(frames) != len(boxes):
            log.warning("%s: %d frames but %d boxes; using the common prefix", d.name,
                        len(frames), len(boxes))
        n = min(len(frames), len(boxes))
        if n:
            seqs.append(TrackSequence(d.name, frames[:n], boxes[:n]))
    return seqs


def read_got10k(root: str | Path, split: str = "train") -> list[TrackSequence]:
    """GOT-10k: ``<root>/<split>/<seq>/{00000001.jpg, groundtruth.txt, absence.label}``."""
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
        frames, boxes = _images_in(d), parse_boxes(gt)
        n = min(len(frames), len(boxes))
        boxes = boxes[:n].copy()
        absence = d / "absence.label"
        if absence.is_file():
            flags = np.array([int(v) for v in absence.read_text().split()][:n], dtype=bool)
            boxes[: len(flags)][flags] = 0.0
        if n:
            seqs.append(TrackSequence(d.name, frames[:n], boxes))
    return seqs


def _flags(path: Path, n: int) -> np.ndarray:
    if not path.is_file():
        return np.zeros(n, dtype=bool)
    vals = [int(v) for v in re.split(r"[,\s]+", path.read_text().strip()) if v]
    out = np.zeros(n, dtype=bool)
    out[: min(n, len(vals))] = np.asarray(vals[:n], dtype=bool)
    return out


def read_lasot(root: str | Path) -> list[TrackSequence]:
    """LaSOT: ``<root>/<class>/<class>-<n>/img/*.jpg``, ``groundtruth.txt`` and the occlusion /
    out-of-view flags (flagged frames count as absent)."""
    seqs = []
    for cls_dir in sorted(p for p in Path(root).iterdir() if p.is_dir()):
        for d in sorted(p for p in cls_dir.iterdir() if p.is_dir()):
            gt, img = d / "groundtruth.txt", d / "img"
            if not gt.is_file() or not img.is_dir():
                continue
            frames, boxes = _images_in(img), parse_boxes(gt)
            n = min(len(frames), len(boxes))
            boxes = boxes[:n].copy()
            hidden = _flags(d / "full_occlusion.txt", n) | _flags(d / "out_of_view.txt", n)
            boxes[hidden] = 0.0
            if n:
                seqs.append(TrackSequence(d.name, frames[:n], boxes))
    return seqs


def read_coco(
    ann_file: str | Path, image_dir: str | Path, min_size: float = 8.0
) -> list[TrackSequence]:
    """COCO detection json: every non-crowd object becomes a one-frame sequence."""
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
