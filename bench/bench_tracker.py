"""Tracking-step speed per config and device, and the extra cost of SiamMargin's online update.

Times ``Tracker.track`` (crop + resize + network + decoding + post-processing + policies) on a
synthetic moving-target sequence. Weights do not change the speed, so models are built from their
configs with random weights unless ``--weights`` is given (only with a single ``--configs``).
Each config runs with online update off and on, interleaved frame by frame on the same frames.

    python bench/bench_tracker.py                                  # all config/models/*.yaml, CPU
    python bench/bench_tracker.py --configs config/models/siamrpn_alex.yaml --device cuda
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from siam_tracker_ros.core.config import load_config
from siam_tracker_ros.core.loading import load_tracker
from siam_tracker_ros.core.tracker import Tracker
from siam_tracker_ros.evaluation.runner import with_overrides

ROOT = Path(__file__).resolve().parents[1]


def synthetic_frames(n: int, height: int = 480, width: int = 640) -> tuple[list[np.ndarray], list]:
    """A textured 60x80 target moving ~6 px/frame over a textured background."""
    rng = np.random.default_rng(0)
    bg = cv2.resize(
        rng.integers(0, 256, (height // 8, width // 8, 3), dtype=np.uint8), (width, height)
    )
    tex = cv2.resize(
        rng.integers(0, 256, (20, 15, 3), dtype=np.uint8), (60, 80), interpolation=cv2.INTER_NEAREST
    )
    frames = []
    for t in range(n):
        x, y = 100 + 6 * t % (width - 200), 150 + int(40 * np.sin(t / 8))
        f = bg.copy()
        f[y : y + 80, x : x + 60] = tex
        frames.append(f)
    return frames, [100.0, 150.0, 60.0, 80.0]


def time_runs(
    trackers: list[Tracker], frames: list[np.ndarray], box: list, warmup: int
) -> list[list[float]]:
    """Per-frame ``track`` times of several trackers, interleaved frame by frame.

    Interleaving (and alternating who goes first) exposes every tracker to the same machine load,
    which matters on a shared CPU when the difference measured is a few percent.
    """
    for tracker in trackers:
        tracker.init(frames[0], box)
    times: list[list[float]] = [[] for _ in trackers]
    for i, frame in enumerate(frames[1:]):
        order = list(range(len(trackers)))
        if i % 2:
            order.reverse()
        for k in order:
            tracker = trackers[k]
            if tracker.device.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            tracker.track(frame)  # returns host values: already synchronised
            if i >= warmup:
                times[k].append(time.perf_counter() - t0)
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--configs",
        nargs="*",
        type=Path,
        default=None,
        help="YAML configs (default: config/models/*.yaml)",
    )
    parser.add_argument("--weights", type=Path, default=None)
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N, auto")
    parser.add_argument(
        "--precision",
        default=None,
        choices=["fp32", "fp16", "bf16"],
        help="CUDA autocast precision (default: config)",
    )
    parser.add_argument("--frames", type=int, default=20, help="timed frames per run")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument(
        "--threads", type=int, default=1, help="CPU threads (torch and the runtime's network)"
    )
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    configs = args.configs or sorted((ROOT / "config" / "models").glob("*.yaml"))
    if args.weights is not None and len(configs) != 1:
        parser.error("--weights needs exactly one --configs")
    frames, box = synthetic_frames(1 + args.warmup + args.frames)

    rows = []
    for path in configs:
        config = load_config(path)
        # the one loading path, so each config runs on the runtime the node gives it (ONNX
        # Runtime on a CPU, PyTorch on a GPU); both trackers of the pair share that runtime
        tracker = load_tracker(
            path,
            weights=args.weights,
            device=args.device,
            threads=args.threads,
            precision=args.precision,
            require_weights=False,
        )
        pair = [
            with_overrides(tracker, [("mechanisms.online_update.enabled", on)])
            for on in (False, True)
        ]
        off_times, on_times = time_runs(pair, frames, box, args.warmup)
        medians = {False: statistics.median(off_times), True: statistics.median(on_times)}
        extra = 100.0 * (medians[True] / medians[False] - 1.0)
        rows.append(
            (
                path.stem,
                f"{tracker.device} ({type(tracker.runtime).__name__})",
                (args.precision or config.runtime.precision)
                if tracker.device.type == "cuda"
                else "fp32",
                1000 * medians[False],
                1 / medians[False],
                1000 * medians[True],
                extra,
            )
        )
        print(f"done {path.stem}", file=sys.stderr)

    header = ("config", "device", "prec", "ms/frame", "fps", "ms (online)", "online +%")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for name, dev, prec, ms, fps, ms_on, extra in rows:
        print(f"| {name} | {dev} | {prec} | {ms:.2f} | {fps:.1f} | {ms_on:.2f} | {extra:+.1f} |")
    print(
        f"(median of {args.frames} frames after {args.warmup} warm-up, "
        f"{args.threads} CPU thread(s), torch {torch.__version__})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
