"""The split policy of the shared data, in one place (``../shared/data/README.md``).

``train`` (``train-videos/``) is the only split to train on. The dev set that defaults are decided
on is ``val`` (``sequences/``) + ``dev-videos/``: evaluation only. Training on it would make every
reported accuracy meaningless, so every training reader calls :func:`forbid_eval_split` and it is
a hard error, not a warning.
"""

from __future__ import annotations

from pathlib import Path

from siam_tracker_ros.datasets.paths import data_dir

__all__ = ["EVAL_ONLY_FOLDERS", "SPLITS", "forbid_eval_split", "split_folders"]

#: split name -> its folders under the data root.
SPLITS: dict[str, tuple[str, ...]] = {
    "train": ("train-videos",),
    "val": ("sequences",),
    "dev-videos": ("dev-videos",),
    "dev": ("sequences", "dev-videos"),
}

#: folder under the data root -> the evaluation-only split it holds (never trained on).
EVAL_ONLY_FOLDERS: dict[str, str] = {
    "sequences": "validation split",
    "dev-videos": "dev-videos split of the dev set",
}


def split_folders(split: str) -> tuple[str, ...]:
    """The folders of ``split``; a name that is no split is taken as one sub-folder."""
    return SPLITS.get(split, (split,))


def forbid_eval_split(path: str | Path) -> None:
    """Raise :class:`ValueError` if ``path`` is, or lies inside, an evaluation-only folder.

    Recognised both under the configured shared data root (symlinks resolved) and by shape
    anywhere (``.../data/sequences/...``, ``.../data/dev-videos/...``), so a copy of the shared
    folder elsewhere is refused too.
    """
    p = Path(path).resolve()
    root = data_dir().resolve()
    for folder, label in EVAL_ONLY_FOLDERS.items():
        banned = root / folder
        by_root = p == banned or banned in p.parents
        by_shape = any(q.name == folder and q.parent.name == "data" for q in (p, *p.parents))
        if by_root or by_shape:
            raise ValueError(
                f"{path} is in the {label} (shared/data/{folder}/): evaluation only, never train "
                "on it; train on shared/data/train-videos/"
            )
