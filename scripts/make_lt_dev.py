"""Generate the project's long-term dev material from the recipe (EVALUATION ONLY).

A virtual camera (``siam_tracker_ros.simulation``) moves a window over dev-set footage
(``shared/data/sequences`` = val and ``shared/data/dev-videos``; a ``train-videos`` source is
refused) by the scripted motions of ``config/lt_dev/recipe.yaml`` and writes each sequence in
the layout of ``shared/data/dev-lt`` (lossless FFV1 ``video.mp4``, ``groundtruth_rect.txt`` with
``0,0,0,0`` for absent, ``SOURCE.txt``, the ``EVAL_ONLY`` marker) into ``generated/dev-lt-gen/``
(gitignored), plus an ``INDEX.md``. Same recipe + same OpenCV build -> the same frames (the
SHA-256 in each SOURCE.txt). ``siam-tracker evaluate --split dev-lt`` then reads the shared
``dev-lt/`` and this folder; ``--split dev-lt-gen`` this folder alone.

    .venv/bin/python scripts/make_lt_dev.py                    # everything in the recipe
    .venv/bin/python scripts/make_lt_dev.py --only gen_Woman   # one sequence
    .venv/bin/python scripts/make_lt_dev.py --recipe config/lt_dev/check_recipe.yaml
                     # the held-out check set -> generated/dev-lt-check (its recipe's ``split``)
    .venv/bin/python scripts/make_lt_dev.py --recipe config/lt_dev/wide_recipe.yaml
                     # robot-size frames -> generated/dev-lt-wide
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

import cv2
import yaml

from siam_tracker_ros.datasets import data_dir
from siam_tracker_ros.datasets.splits import generated_dir
from siam_tracker_ros.simulation.lt_dev import (
    generate,
    generated_folders,
    parse_recipe,
    recipe_split,
    resolve_source,
    write_index,
)

REPO = Path(__file__).resolve().parents[1]
DEFAULT_RECIPE = REPO / "config" / "lt_dev" / "recipe.yaml"


def _commit() -> str:
    try:
        out = subprocess.run(
            ["git", "-C", str(REPO), "describe", "--always", "--dirty=+dirty"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recipe", type=Path, default=DEFAULT_RECIPE, help="recipe YAML")
    ap.add_argument(
        "--data", type=Path, default=data_dir(), help="data root (default: ../shared/data)"
    )
    ap.add_argument(
        "--out",
        type=Path,
        default=None,
        help="output folder (default: generated/<the recipe's split>: dev-lt-gen, which the "
        "dev-lt split reads, dev-lt-check or dev-lt-wide)",
    )
    ap.add_argument("--only", default="", help="comma-separated entry names to (re)generate")
    ap.add_argument("--format", choices=("mp4", "png"), default="mp4", help="lossless output")
    ap.add_argument("--no-verify", action="store_true", help="skip reading the frames back")
    ap.add_argument("--check", action="store_true", help="validate the recipe and sources only")
    args = ap.parse_args(argv)
    cv2.setNumThreads(1)
    try:
        raw = yaml.safe_load(args.recipe.read_text())
        entries = parse_recipe(raw)
        if args.out is None:
            args.out = generated_dir() / recipe_split(raw)
        for e in entries:
            resolve_source(e, args.data)  # every source is checked before anything is written
        only = [n for n in args.only.split(",") if n]
        unknown = sorted(set(only) - {e.name for e in entries})
        if unknown:
            raise ValueError(f"--only: not in the recipe: {unknown}")
    except (OSError, ValueError, yaml.YAMLError) as exc:
        print(f"make_lt_dev: {exc}", file=sys.stderr)
        return 2
    if args.check:
        print(f"{args.recipe}: {len(entries)} entries, sources ok")
        return 0
    try:
        recipe = str(args.recipe.resolve().relative_to(REPO))
    except ValueError:
        recipe = str(args.recipe)
    generator = f"scripts/make_lt_dev.py --recipe {recipe} (commit {_commit()})"
    start = time.perf_counter()
    for e in entries:
        if only and e.name not in only:
            continue
        t0 = time.perf_counter()
        try:
            s = generate(
                e,
                args.data,
                args.out,
                fmt=args.format,
                verify=not args.no_verify,
                generator=generator,
            )
        except (OSError, ValueError) as exc:
            print(f"make_lt_dev: {exc}", file=sys.stderr)
            return 1
        print(
            f"{s.name}: {s.frames} frames {s.size[0]}x{s.size[1]}, {s.absent} absent in "
            f"{len(s.stretches)} stretch(es), {s.returns} returns "
            f"({time.perf_counter() - t0:.1f} s)",
            flush=True,
        )
    if not only:  # a full run drops generated folders the recipe no longer lists
        names = {e.name for e in entries}
        for stale in generated_folders(args.out):
            if stale.name not in names:
                print(f"removing {stale} (not in the recipe)")
                shutil.rmtree(stale)
    index, summaries = write_index(args.out, recipe)
    frames = sum(s.frames for s in summaries)
    absent = sum(s.absent for s in summaries)
    returns = sum(s.returns for s in summaries)
    print(
        f"{len(summaries)} sequences, {frames} frames, {absent} absent, {returns} returns in "
        f"{args.out} ({time.perf_counter() - start:.1f} s); index: {index}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
