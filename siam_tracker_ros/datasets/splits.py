"""The split policy of the shared data, in one place (``../shared/data/README.md``).

``train`` (``train-videos/``) is the only split to train on. The dev set that defaults are decided
on is ``val`` (``sequences/``) + ``dev-videos/``: evaluation only. Long-term behaviour is decided
on ``dev-lt`` = the shared ``dev-lt/`` folder plus, when it exists, the long-term material the
project generates from the dev set's footage (``scripts/make_lt_dev.py``, by default into
``<repo>/generated/dev-lt-gen/``, outside the data root; ``dev-lt-gen`` alone is a split too).
``dev-lt-check`` (``generated/dev-lt-check/``, from ``config/lt_dev/check_recipe.yaml``) is a
held-out confirmation set made the same way from the dev footage that ``dev-lt`` does not use:
never tuned on, reported beside ``dev-lt`` as a check that its gains carry over.
``dev-lt-wide`` (``generated/dev-lt-wide/``, from ``config/lt_dev/wide_recipe.yaml``) is dev
material at a robot camera's frame size (640-960 px wide, the target small in it), from
``dev-lt``'s own sources.
Training on any of it would make every reported accuracy meaningless, so every training reader
calls :func:`forbid_eval_split` and it is a hard error, not a warning. Generated material is
recognised wherever it lies by the :data:`EVAL_ONLY_MARKER` file the generator writes into its
output folder and into every sequence folder.
"""

from __future__ import annotations

import os
from pathlib import Path

from siam_tracker_ros.datasets.paths import data_dir

__all__ = [
    "EVAL_ONLY_FOLDERS",
    "EVAL_ONLY_MARKER",
    "GENERATED_BY",
    "GENERATED_SPLITS",
    "SPLITS",
    "forbid_eval_split",
    "generated_dir",
    "make_command",
    "missing_generated",
    "split_dirs",
    "split_folders",
    "write_eval_only_marker",
]

#: split name -> its folders under the data root.
SPLITS: dict[str, tuple[str, ...]] = {
    "train": ("train-videos",),
    "val": ("sequences",),
    "dev-videos": ("dev-videos",),
    "dev": ("sequences", "dev-videos"),
    "dev-lt": ("dev-lt",),
    "dev-lt-gen": (),
    "dev-lt-check": (),
    "dev-lt-wide": (),
}

#: split name -> its folder under :func:`generated_dir` (generated material, outside the data
#: root): part of the split when it exists (``dev-lt``), or the whole split (``dev-lt-gen``,
#: ``dev-lt-check``, ``dev-lt-wide``).
GENERATED_SPLITS: dict[str, str] = {
    "dev-lt": "dev-lt-gen",
    "dev-lt-gen": "dev-lt-gen",
    "dev-lt-check": "dev-lt-check",
    "dev-lt-wide": "dev-lt-wide",
}

#: generated folder -> the command that makes it (said when it is missing: a fresh checkout has
#: none, ``generated/`` is not in git)
GENERATED_BY: dict[str, str] = {
    "dev-lt-gen": "scripts/make_lt_dev.py",
    "dev-lt-check": "scripts/make_lt_dev.py --recipe config/lt_dev/check_recipe.yaml",
    "dev-lt-wide": "scripts/make_lt_dev.py --recipe config/lt_dev/wide_recipe.yaml",
}

#: folder under the data root -> the evaluation-only split it holds (never trained on).
EVAL_ONLY_FOLDERS: dict[str, str] = {
    "sequences": "validation split",
    "dev-videos": "dev-videos split of the dev set",
    "dev-lt": "long-term dev split",
}

#: File that marks a folder as generated evaluation material (written by the generator).
EVAL_ONLY_MARKER = "EVAL_ONLY"

_REPO_ROOT = Path(__file__).resolve().parents[2]


def generated_dir() -> Path:
    """``$SIAM_GENERATED_DIR`` or ``<repo>/generated``: generated evaluation material (never in
    git, never under the read-only shared folder)."""
    env = os.environ.get("SIAM_GENERATED_DIR")
    return Path(env) if env else _REPO_ROOT / "generated"


def split_folders(split: str) -> tuple[str, ...]:
    """The folders of ``split``; a name that is no split is taken as one sub-folder."""
    return SPLITS.get(split, (split,))


def split_dirs(root: str | Path, split: str) -> list[Path]:
    """The folders :func:`~siam_tracker_ros.datasets.load_dataset` reads for ``split``: its
    folders under ``root``, then its generated folder when it exists (always, for a split that
    is only generated material, so that a missing one is reported)."""
    dirs = [Path(root) / f for f in split_folders(split)]
    gen = GENERATED_SPLITS.get(split)
    if gen is not None and (not dirs or (generated_dir() / gen).is_dir()):
        dirs.append(generated_dir() / gen)
    return dirs


def make_command(folder: str | Path) -> str | None:
    """The command that makes ``folder`` when it is a generated split's folder (see
    :data:`GENERATED_BY`), else ``None``."""
    folder = Path(folder)
    if folder.parent != generated_dir() or folder.name not in GENERATED_BY:
        return None
    return f".venv/bin/python {GENERATED_BY[folder.name]}"


def missing_generated(split: str) -> str | None:
    """A one-line note when ``split`` reads generated material besides its shared folders and
    that material is not there (``dev-lt`` on a fresh checkout is then the shared sequences
    alone, not the set the long-term decisions were made on), else ``None``."""
    gen = GENERATED_SPLITS.get(split)
    folder = generated_dir() / gen if gen is not None else None
    if folder is None or not SPLITS.get(split) or folder.is_dir():
        return None
    command = make_command(folder)
    return (
        f"note: {split} without {folder}: the shared sequences only; make the rest with {command}"
    )


def write_eval_only_marker(folder: str | Path) -> Path:
    """Mark ``folder`` as generated evaluation material (training readers refuse it)."""
    path = Path(folder) / EVAL_ONLY_MARKER
    path.write_text(
        "Generated long-term evaluation material (scripts/make_lt_dev.py, from the dev set's "
        "footage): evaluation only, never train on it. Training readers refuse this folder.\n"
    )
    return path


def _marked(p: Path) -> Path | None:
    """The folder holding an :data:`EVAL_ONLY_MARKER` at ``p``, above it or directly below it."""
    for q in (p, *p.parents):
        if (q / EVAL_ONLY_MARKER).is_file():
            return q
    if p.is_dir():
        with os.scandir(p) as entries:  # d_type: no stat per entry of a big image folder
            for entry in entries:
                if entry.is_dir() and os.path.isfile(os.path.join(entry.path, EVAL_ONLY_MARKER)):
                    return Path(entry.path)
    return None


def forbid_eval_split(path: str | Path) -> None:
    """Raise :class:`ValueError` if ``path`` is, or lies inside, an evaluation-only folder.

    Recognised both under the configured shared data root (symlinks resolved) and by shape
    anywhere (``.../data/sequences/...``, ``.../data/dev-videos/...``, ``.../data/dev-lt/...``),
    so a copy of the shared folder elsewhere is refused too; generated material by its
    :data:`EVAL_ONLY_MARKER` (in the folder, a parent, or a direct sub-folder) or by lying in
    :func:`generated_dir`.
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
    marked = _marked(p)
    generated = [(generated_dir() / f).resolve() for f in sorted(set(GENERATED_SPLITS.values()))]
    inside = [g for g in generated if p == g or g in p.parents]
    if marked is not None or inside:
        where = (
            f"marked by {marked / EVAL_ONLY_MARKER}" if marked is not None else f"in {inside[0]}"
        )
        raise ValueError(
            f"{path} is generated long-term evaluation material ({where}): evaluation only, "
            "never train on it; train on shared/data/train-videos/"
        )
