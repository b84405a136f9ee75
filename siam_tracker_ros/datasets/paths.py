"""Where the shared data lives, which files are frames, and the one frame order.

Why one module: evaluation, training and replay used to carry their own shared-folder lookup and
their own frame sort; training sorted file names alphabetically while evaluation sorted them
naturally, so a sequence with unpadded names (``1.jpg ... 10.jpg``) paired frame 10 with box 2 in
training. Every reader now lists frames through :func:`list_images`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

__all__ = [
    "IMAGE_EXTS",
    "VIDEO_EXTS",
    "data_dir",
    "list_images",
    "natural_key",
    "shared_dir",
]

#: Image file suffixes read as frames (compared lower-case).
IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
#: Video file suffixes read as frame sources (compared lower-case).
VIDEO_EXTS = (".mp4", ".avi", ".mkv", ".mov", ".m4v", ".webm")

_REPO_ROOT = Path(__file__).resolve().parents[2]


def shared_dir() -> Path:
    """``$SIAM_SHARED_DIR`` or ``<repo>/../shared`` (read-only data and weights, never copied)."""
    env = os.environ.get("SIAM_SHARED_DIR")
    return Path(env) if env else _REPO_ROOT.parent / "shared"


def data_dir() -> Path:
    """The shared data root (``train-videos/``, ``sequences/``, ``dev-videos/``)."""
    return shared_dir() / "data"


def natural_key(path: str | Path) -> list[int | str]:
    """Sort key that orders ``2.jpg`` before ``10.jpg`` (digit runs compare as numbers)."""
    name = Path(path).name
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def list_images(folder: str | Path) -> list[Path]:
    """The image files directly in ``folder``, in natural order (frame ``i`` <-> box line ``i``).
    Hidden files are not frames (macOS archives carry a ``._0001.jpg`` beside each image)."""
    d = Path(folder)
    return sorted(
        (
            p
            for p in d.iterdir()
            if p.suffix.lower() in IMAGE_EXTS and not p.name.startswith(".") and p.is_file()
        ),
        key=natural_key,
    )
