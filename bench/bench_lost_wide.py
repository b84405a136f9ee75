#!/usr/bin/env python3
"""A LOST step's cost on a robot-size frame with a far (small) target.

    .venv/bin/python bench/bench_lost_wide.py                       # 1920x1080, a 10x20 target
    .venv/bin/python bench/bench_lost_wide.py --size 1280x720 --target 16x32 --frames 300

The bundled tracker (through the API, as the node runs it) is started on a textured target over
a smooth background, tracks it for a few frames, then the target is gone and the background
drifts one pixel a frame. The re-detection sweep's tiles are at the target's scale, so a far
target on a wide frame has many of them; this prints the lost steps' p50 / p95, the `crop` phase
(which holds the sweep's planning) and the tile count.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from siam_tracker_ros.cli import parse_size  # noqa: E402
from siam_tracker_ros.core.loading import load_tracker  # noqa: E402
from siam_tracker_ros.core.result import TrackState  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--size", type=parse_size, default=(1920, 1080), help="frame WxH")
    p.add_argument("--target", type=parse_size, default=(10, 20), help="target WxH")
    p.add_argument("--frames", type=int, default=160, help="frames after the target is gone")
    p.add_argument("--model", default=None, help="model file (default: the bundled model)")
    args = p.parse_args(argv)
    (w, h), (tw, th) = args.size, args.target
    tracker = load_tracker(args.model)
    rng = np.random.default_rng(0)
    bg = cv2.resize(rng.integers(0, 256, (h // 16, w // 16, 3), dtype=np.uint8), (w, h))
    small = rng.integers(0, 256, (4, 4, 3), dtype=np.uint8)
    patch = cv2.resize(small, (tw, th), interpolation=cv2.INTER_NEAREST)
    x, y = w // 2, h // 2
    first = bg.copy()
    first[y : y + th, x : x + tw] = patch
    tracker.init(first, (x, y, tw, th))
    for _ in range(5):
        tracker.track(first)
    steps, crops, tiles = [], [], 0
    for i in range(args.frames):
        t0 = time.perf_counter()
        result = tracker.track(np.roll(bg, i, axis=1))
        dt = time.perf_counter() - t0
        info = tracker.last_step
        if result.state == TrackState.LOST and info is not None:
            steps.append(1000 * dt)
            crops.append(1000 * info.timings.get("crop", 0.0))
            tiles = int(info.policies.get("longterm", {}).get("tile_count", tiles))
    if not steps:
        print("the tracker never reported LOST: nothing to time")
        return 1
    p50, p95 = np.percentile(steps, [50, 95])
    print(
        f"{w}x{h}, target {tw}x{th}: {len(steps)} lost steps of {args.frames}, {tiles} tiles; "
        f"step p50 / p95 {p50:.1f} / {p95:.1f} ms, crop phase p50 {np.median(crops):.2f} ms"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
