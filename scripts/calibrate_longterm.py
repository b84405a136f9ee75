#!/usr/bin/env python3
"""Tune the long-term mechanism on TRAINING footage: long-term material made from
``train-videos`` with the virtual camera (in memory, never written as dev material), and the
long-term scores of tracker settings on it.

Why train: the long-term dev set (``dev-lt``: the shared sequences plus those generated from dev
footage) decides defaults and must not be tuned on. Its material is made the same way, so the
settings chosen here face the same kinds of exits and returns without having seen them.

    .venv/bin/python scripts/calibrate_longterm.py                      # the built-in grid
    .venv/bin/python scripts/calibrate_longterm.py --config 'a=mechanisms.longterm.enabled=true'
    .venv/bin/python scripts/calibrate_longterm.py --limit 8 --json /tmp/cal.json

Each ``--config`` is ``LABEL=KEY=VALUE[+KEY=VALUE...]``: overrides of the bundled model's
``tracker:`` settings, as in ``siam-tracker evaluate``'s ``project+key=value`` specs. Prints,
per setting: phantom frames (absent, reported present), false lost (visible, not reported),
returns re-acquired within 90 frames, LT precision / recall / F at the tracker's own flag, and the
per-frame step time p95 (noisy on a shared machine).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from siam_tracker_ros.core.loading import load_tracker
from siam_tracker_ros.core.tracker import Tracker
from siam_tracker_ros.datasets import FrameSource, Sequence, load_dataset, shared_dir
from siam_tracker_ros.evaluation.longterm import longterm_scores
from siam_tracker_ros.evaluation.protocols import run_one_pass
from siam_tracker_ros.evaluation.runner import parse_override, with_overrides
from siam_tracker_ros.simulation.motions import motion_from_dict, plan
from siam_tracker_ros.simulation.virtual_camera import VirtualCamera

#: the motions every training sequence gets (cut to its length): exits and returns of each kind
MOTIONS: list[dict[str, Any]] = [
    {"follow": {"frames": 30}},
    {"glance": {"out": 6, "hold": 30, "back": 6}},
    {"follow": {"frames": 35}},
    {"occlude": {"enter": 5, "hold": 25, "exit": 5, "kind": "patch", "shape": "box"}},
    {"follow": {"frames": 35}},
    {"reenter": {"out": 6, "hold": 30, "back": 10}},
    {"follow": {"frames": 30}},
    {"drift": {"out": 30, "hold": 10, "back": 30}},
]

#: the built-in grid: the bundled model as it is, and the long-term mechanism in a few settings
GRID = [
    "bundled=",
    "lt=mechanisms.longterm.enabled=true",
    "lt_t65=mechanisms.longterm.enabled=true+mechanisms.longterm.threshold=0.65",
    "lt_t75=mechanisms.longterm.enabled=true+mechanisms.longterm.threshold=0.75",
    "lt_c2=mechanisms.longterm.enabled=true+mechanisms.longterm.confirm_frames=2",
    "lt_check5=mechanisms.longterm.enabled=true+mechanisms.longterm.check_every=5",
    "lt_lost2=mechanisms.longterm.enabled=true+mechanisms.lost_state.lost_threshold=0.2",
]


class _Frames(FrameSource):
    """Rendered windows held in memory."""

    def __init__(self, images: list[np.ndarray], name: str, fps: float) -> None:
        self._images, self.name, self.fps = images, name, fps

    def __len__(self) -> int:
        return len(self._images)

    def __getitem__(self, index: int) -> np.ndarray:
        return self._images[index]


def train_material(limit: int | None, seed: int = 7) -> list[Sequence]:
    """Long-term sequences made from ``train-videos`` (every motion of :data:`MOTIONS` that fits
    in the source, a window of 60 % of its frame)."""
    out = []
    for k, seq in enumerate(load_dataset(shared_dir() / "data", "train")[:limit]):
        h, w = seq.frame(0).shape[:2]
        size = (max(64, int(w * 0.6) // 2 * 2), max(64, int(h * 0.6) // 2 * 2))
        camera = VirtualCamera.from_sequence(seq, size=size)
        motions, used = [], 0
        for m in (motion_from_dict(d) for d in MOTIONS):
            if used + m.frames > len(camera):
                break
            motions.append(m)
            used += m.frames
        try:
            script = plan(camera, motions, seed=seed + k)
        except ValueError as exc:  # a source too small to look away in
            print(f"skip {seq.name}: {exc}", file=sys.stderr)
            continue
        images, boxes, absent = [], [], []
        for i in range(len(camera)):
            c = script.centres[i]
            view = camera.render(i, (float(c[0]), float(c[1])), script.occluders[i])
            images.append(view.image)
            boxes.append(view.box)
            absent.append(view.absent)
        seq.frames.close()
        if absent[0] or all(absent):
            continue
        frames = _Frames(images, f"train_lt_{seq.name}", camera.fps)
        out.append(Sequence(frames.name, frames, np.array(boxes), np.array(absent)))
    return out


def short_term_material(limit: int | None) -> list[Sequence]:
    """The training sequences as they are (the target always in view): what a long-term setting
    costs where nothing leaves -- false lost frames and one-pass AUC."""
    return load_dataset(shared_dir() / "data", "train")[:limit]


def score_short_term(tracker: Tracker, material: list[Sequence]) -> dict[str, Any]:
    from siam_tracker_ros.evaluation.metrics import mean_ope, ope_scores

    lost, visible, ope = 0, 0, []
    for seq in material:
        rec = run_one_pass(tracker, seq)
        assert rec.states is not None
        seen = ~seq.absent[1:]
        lost += int(((rec.states[1:] == 2) & seen).sum())
        visible += int(seen.sum())
        ope.append(ope_scores(rec.boxes, seq.groundtruth, seq.absent))
    return {"st_false_lost": lost / max(visible, 1), "st_auc": mean_ope(ope).auc}


def score(tracker: Tracker, material: list[Sequence]) -> dict[str, Any]:
    names, boxes, gts, absents, reported, scores, times = [], [], [], [], [], [], []
    for seq in material:
        rec = run_one_pass(tracker, seq)
        names.append(seq.name)
        boxes.append(rec.boxes)
        gts.append(seq.groundtruth)
        absents.append(seq.absent)
        assert rec.states is not None
        reported.append(np.asarray(rec.present, bool) & (rec.states != 2))
        scores.append(rec.scores)
        times.extend(rec.track_times.tolist())
    lt = longterm_scores(names, boxes, gts, absents, reported, scores)
    p = lt.presence
    return {
        "phantom": lt.phantom_fraction,
        "false_lost": lt.false_lost_fraction,
        "reacquired_90": f"{lt.reacquired(90)}/{lt.counted(90)}",
        "precision": p.precision,
        "recall": p.recall,
        "f": p.f_score,
        "ms_p95": float(np.percentile(np.asarray(times) * 1000, 95)) if times else float("nan"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", action="append", default=[], help="LABEL=KEY=VALUE[+...]")
    parser.add_argument("--limit", type=int, default=None, help="first N training sequences")
    parser.add_argument("--json", type=Path, default=None, help="write the table as JSON")
    parser.add_argument(
        "--short-term",
        action="store_true",
        help="also score the training sequences as they are (false lost, one-pass AUC)",
    )
    args = parser.parse_args(argv)
    t0 = time.time()
    material = train_material(args.limit)
    frames = sum(len(s) for s in material)
    absent = sum(int(s.absent.sum()) for s in material)
    print(f"{len(material)} training sequences, {frames} frames, {absent} absent", flush=True)
    short = short_term_material(args.limit) if args.short_term else []
    base = load_tracker()
    rows = {}
    for text in args.config or GRID:
        label, _, rest = text.partition("=")
        overrides = [parse_override(o) for o in rest.split("+") if o]
        tracker = with_overrides(base, overrides)
        rows[label] = score(tracker, material)
        if short:
            rows[label].update(score_short_term(tracker, short))
        r = rows[label]
        extra = (
            f" | short-term false-lost {r['st_false_lost']:.3f} AUC {r['st_auc']:.3f}"
            if short
            else ""
        )
        print(
            f"{label:>12}: phantom {r['phantom']:.3f} false-lost {r['false_lost']:.3f} "
            f"re-acq90 {r['reacquired_90']} P {r['precision']:.3f} R {r['recall']:.3f} "
            f"F {r['f']:.3f} p95 {r['ms_p95']:.1f} ms{extra}",
            flush=True,
        )
    print(f"({time.time() - t0:.0f} s)")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
