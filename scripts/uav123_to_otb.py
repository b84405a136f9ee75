#!/usr/bin/env python3
"""Lay out UAV123 (or UAV20L), as downloaded, as OTB-style sequence folders for
``siam-tracker evaluate``.

UAV123 keeps images and boxes in two trees (``data_seq/UAV123/<folder>/000001.jpg`` and
``anno/UAV123/<sequence>.txt``), and several sequences are frame ranges of one image folder
(``bird1_1``, ``bird1_2`` and ``bird1_3`` all come from ``bird1``). This writes, per sequence,
``<out>/<sequence>/img/`` (symbolic links to the images of its range, numbered from 000001) and
``<out>/<sequence>/groundtruth_rect.txt`` (its annotation file; ``NaN`` rows are frames without
the target). The frame ranges are the benchmark's own, as the ``got10k`` package ships them
(``got10k/datasets/uav123.json``). Nothing is copied but the small annotation files.

    python scripts/uav123_to_otb.py ~/data/UAV123 ~/data/UAV123_otb
    siam-tracker evaluate --data ~/data/UAV123_otb --split '' --out results/uav123
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def benchmark_ranges(version: str) -> dict[str, dict[str, Any]]:
    """``{sequence: {start_frame, end_frame, folder_name}}`` of UAV123 or UAV20L (from got10k)."""
    try:
        import got10k.datasets
    except ImportError:
        raise SystemExit(
            "uav123_to_otb: needs the got10k package for the frame ranges (pip install got10k)"
        ) from None
    meta = Path(got10k.datasets.__file__).with_name("uav123.json")
    return dict(json.loads(meta.read_text())[version])


def convert(
    root: Path, out: Path, version: str, ranges: Mapping[str, Mapping[str, Any]]
) -> list[str]:
    """Write the OTB-style folders under ``out``; returns the sequence names written. A sequence
    whose images or annotation file are missing is an error naming the path."""
    anno_dir = root / "anno" / version
    if not anno_dir.is_dir():
        raise FileNotFoundError(f"{anno_dir}: no such folder (is {root} the UAV123 download?)")
    written = []
    for anno in sorted(anno_dir.glob("*.txt")):
        name = anno.stem
        if name not in ranges:
            raise ValueError(f"{anno}: {name} is not a {version} sequence")
        r = ranges[name]
        frames = range(int(r["start_frame"]), int(r["end_frame"]) + 1)
        src_dir = root / "data_seq" / "UAV123" / str(r["folder_name"])
        seq = out / name
        img = seq / "img"
        if img.exists():
            shutil.rmtree(img)
        img.mkdir(parents=True)
        for i, f in enumerate(frames, start=1):
            src = src_dir / f"{f:06d}.jpg"
            if not src.is_file():
                raise FileNotFoundError(f"{src}: image of {name} missing")
            (img / f"{i:06d}.jpg").symlink_to(src.resolve())
        shutil.copyfile(anno, seq / "groundtruth_rect.txt")
        written.append(name)
    if not written:
        raise ValueError(f"{anno_dir}: no annotation files")
    return written


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("root", type=Path, help="the UAV123 download (holds data_seq/ and anno/)")
    p.add_argument("out", type=Path, help="folder for the OTB-style sequences")
    p.add_argument("--version", choices=("UAV123", "UAV20L"), default="UAV123")
    args = p.parse_args(argv)
    try:
        names = convert(args.root, args.out, args.version, benchmark_ranges(args.version))
    except (FileNotFoundError, ValueError) as exc:
        print(f"uav123_to_otb: error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {len(names)} {args.version} sequences to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
