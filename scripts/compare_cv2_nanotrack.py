"""Mean IoU between the project tracker's boxes and cv2.TrackerNano's (same NanoTrack v2 weights).

    .venv/bin/python scripts/compare_cv2_nanotrack.py config/models/nanotrack_v2_opencv.yaml \\
        [--frames N] [SEQUENCE ...]

Both trackers start from the first ground-truth box of each `val` sequence and run one pass;
prints per-sequence mean / minimum IoU and the fraction of identical boxes, then the mean IoU
over all tracked frames. Data and weights come from ``$SIAM_SHARED_DIR`` (default ``../shared``).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from siam_tracker_ros.core.loading import load_tracker
from siam_tracker_ros.datasets import load_sequence, shared_dir


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    lo = np.maximum(a[:, :2], b[:, :2])
    hi = np.minimum(a[:, :2] + a[:, 2:], b[:, :2] + b[:, 2:])
    inter = np.prod(np.clip(hi - lo, 0, None), axis=1)
    return inter / (np.prod(a[:, 2:], 1) + np.prod(b[:, 2:], 1) - inter)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("config")
    ap.add_argument("sequences", nargs="*", help="default: every val sequence")
    ap.add_argument("--frames", type=int, default=None, help="cap frames per sequence")
    ap.add_argument("--shared", default=str(shared_dir()))
    args = ap.parse_args()
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    shared = Path(args.shared)
    weights = shared / "weights" / "nanotrack"
    root = shared / "data" / "sequences"
    names = args.sequences or sorted(p.name for p in root.iterdir() if p.is_dir())
    tracker = load_tracker(
        args.config, weights=weights / "pretrained_nanotrackv2.pth", require_weights=False
    )
    ious = []
    for name in names:
        start = time.perf_counter()
        seq = load_sequence(root / name)
        n = len(seq) if args.frames is None else min(len(seq), args.frames)
        frames = [seq.frame(i) for i in range(n)]
        gt = seq.groundtruth[:n]
        params = cv2.TrackerNano_Params()
        params.backbone = str(weights / "nanotrackv2_nanotrack_backbone_sim.onnx")
        params.neckhead = str(weights / "nanotrackv2_nanotrack_head_sim.onnx")
        reference = cv2.TrackerNano_create(params)
        reference.init(frames[0], tuple(int(v) for v in gt[0]))
        theirs = np.array([reference.update(f)[1] for f in frames[1:]], np.float64)
        tracker.init(frames[0], gt[0])
        ours = np.array([tracker.track(f).box for f in frames[1:]])
        iou = _iou(ours, theirs)
        ious.append(iou)
        same = float(np.mean(np.all(ours == theirs, axis=1)))
        print(
            f"{name}: {len(iou)} frames, mean IoU {iou.mean():.4f}, min {iou.min():.3f}, "
            f"identical {same:.3f} ({time.perf_counter() - start:.0f} s)",
            flush=True,
        )
    all_iou = np.concatenate(ious)
    print(f"ALL: mean IoU {all_iou.mean():.4f} over {len(all_iou)} frames")


if __name__ == "__main__":
    main()
