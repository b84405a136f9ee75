"""Collect presence features on the *train* split (never `val`) to calibrate the lost signal.

For every train video the project tracker (``--config``, presence switch as shipped) tracks the
visible target; on each sampled frame it also searches -- from the same state, without updating
it -- two synthetic target-absent variants of that frame: the target box filled in with its
surroundings (``cv2.inpaint``) and the same-sized frame of another train video. For each search it
records the raw best score, the peak-to-sidelobe ratio of the response map and the appearance
similarity (cosine between the cls kernel pooled at the predicted box and the first frame's).
Writes ``features.npz`` (``visible`` / ``absent`` arrays of those three columns) and prints the
separation of each feature and of thresholds on them.

    .venv/bin/python scripts/calibrate_presence.py --config config/models/nanotrack_v2.yaml \\
        --weights ../shared/weights/nanotrack/pretrained_nanotrackv2.pth --out /tmp/presence
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
import torch

from siam_tracker_ros.core.loading import load_tracker
from siam_tracker_ros.core.tracker import Tracker
from siam_tracker_ros.datasets import Sequence, forbid_eval_split, load_dataset


def features(tracker: Tracker, image: np.ndarray) -> tuple[float, float, float]:
    """(score, PSR, appearance) of one search from the tracker's current state (state kept)."""
    cues = tracker.probe(image)
    return cues.score, cues.psr, cues.appearance


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="config/models/nanotrack_v2.yaml")
    ap.add_argument("--weights", default="../shared/weights/nanotrack/pretrained_nanotrackv2.pth")
    ap.add_argument("--data", default="../shared/data/train-videos")
    ap.add_argument("--frames", type=int, default=120, help="frames read per video")
    ap.add_argument("--every", type=int, default=4, help="probe absent variants every N frames")
    ap.add_argument("--out", default="/tmp/presence")
    args = ap.parse_args()
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    tracker = load_tracker(args.config, weights=args.weights, require_weights=False)
    forbid_eval_split(args.data)  # calibrating on val or dev-videos would leak into decisions
    videos: list[Sequence] = load_dataset(args.data)
    rng = np.random.default_rng(0)
    visible: list[tuple[float, float, float]] = []
    absent: list[tuple[float, float, float]] = []
    others = {v.name: v.frame(0) for v in videos}
    for video in videos:
        frames = [video.frame(i) for i in range(min(len(video), args.frames))]
        gt = video.groundtruth[: len(frames)]
        with torch.inference_mode():
            tracker.init(frames[0], gt[0])
            for t in range(1, len(frames)):
                frame = frames[t]
                if t % args.every == 0:
                    visible.append(features(tracker, frame))
                    x, y, w, h = gt[t]
                    mask = np.zeros(frame.shape[:2], np.uint8)
                    m = 0.15
                    cv2.rectangle(
                        mask,
                        (int(x - m * w), int(y - m * h)),
                        (int(x + (1 + m) * w), int(y + (1 + m) * h)),
                        255,
                        -1,
                    )
                    absent.append(features(tracker, cv2.inpaint(frame, mask, 5, cv2.INPAINT_TELEA)))
                    names = [n for n in others if n != video.name]
                    other = others[names[int(rng.integers(len(names)))]]
                    other = cv2.resize(other, (frame.shape[1], frame.shape[0]))
                    absent.append(features(tracker, other))
                tracker.track(frame)
        print(video.name, len(visible), len(absent), flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    vis, ab = np.array(visible), np.array(absent)
    np.savez(out / "features.npz", visible=vis, absent=ab)
    for i, name in enumerate(("score", "psr", "appearance")):
        v, a = vis[:, i], ab[:, i]
        print(
            f"{name:10s} visible median {np.median(v):.3f} p5 {np.percentile(v, 5):.3f}"
            f" | absent median {np.median(a):.3f} p95 {np.percentile(a, 95):.3f}"
        )
    weights, bias = fit_presence(vis, ab)
    prob_v = presence_probability(vis, weights, bias)
    prob_a = presence_probability(ab, weights, bias)
    print("lost_state (presence: combined):")
    print(
        f"  presence_weights: [{', '.join(f'{w:.2f}' for w in weights)}]"
        "   # raw score, ln PSR, appearance similarity"
    )
    print(f"  presence_bias: {bias:.2f}")
    for thr in (0.1, 0.3, 0.5):
        print(
            f"  threshold {thr}: visible below {np.mean(prob_v < thr):.3f},"
            f" absent below {np.mean(prob_a < thr):.3f}"
        )


def _design(x: np.ndarray) -> np.ndarray:
    """Columns the presence model uses: raw score, ln PSR, appearance (as core/policies does)."""
    return np.stack([x[:, 0], np.log(np.maximum(x[:, 1], 1e-6)), x[:, 2]], axis=1)


def fit_presence(visible: np.ndarray, absent: np.ndarray) -> tuple[np.ndarray, float]:
    """Logistic regression (present = 1) on the train-split probes, balanced classes, L-BFGS."""
    x = torch.tensor(np.concatenate([_design(visible), _design(absent)]), dtype=torch.float64)
    y = torch.cat([torch.ones(len(visible)), torch.zeros(len(absent))]).double()
    sample_w = torch.where(y > 0, 0.5 / len(visible), 0.5 / len(absent))
    w = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    b = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], max_iter=500, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        logits = x @ w + b
        loss = (
            sample_w
            * torch.nn.functional.binary_cross_entropy_with_logits(logits, y, reduction="none")
        ).sum() + 1e-4 * (w**2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return w.detach().numpy(), float(b.item())


def presence_probability(x: np.ndarray, weights: np.ndarray, bias: float) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-(_design(x) @ weights + bias)))


if __name__ == "__main__":
    main()
