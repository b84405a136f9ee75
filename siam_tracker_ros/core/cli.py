"""``siam-tracker track``: run the tracker on a video file or an image folder (no ROS).

Writes an optional annotated video (green box while tracking, red while lost) and prints the
tracking speed, so a config and its weights can be tried without a robot.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}


def parse_box(text: str) -> tuple[float, float, float, float]:
    """``"x,y,w,h"`` -> four floats (argparse type)."""
    parts = text.replace(" ", "").split(",")
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--init expects x,y,w,h numbers, got {text!r}") from None
    if len(values) != 4:
        raise argparse.ArgumentTypeError(f"--init expects 4 values x,y,w,h, got {text!r}")
    return values  # type: ignore[return-value]


def iter_frames(video: str | None, images: str | None) -> Iterator[np.ndarray]:
    """BGR uint8 frames from a video file or the sorted images of a folder."""
    if images is not None:
        folder = Path(images)
        files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise ValueError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in {folder}")
        for p in files:
            frame = cv2.imread(str(p), cv2.IMREAD_COLOR)
            if frame is None:
                raise ValueError(f"cannot read image {p}")
            yield frame
        return
    assert video is not None
    cap = cv2.VideoCapture(video)
    if not cap.isOpened():
        raise ValueError(f"cannot open video {video}")
    try:
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            yield frame
    finally:
        cap.release()


def draw(frame: np.ndarray, box: np.ndarray, present: bool, score: float) -> np.ndarray:
    out = frame.copy()
    x, y, w, h = (int(round(v)) for v in box)
    color = (0, 200, 0) if present else (0, 0, 255)
    cv2.rectangle(out, (x, y), (x + w, y + h), color, 2)
    cv2.putText(out, f"{score:.2f}", (x, max(12, y - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.5, color, 1)
    return out


def run_track(args: argparse.Namespace) -> int:
    import torch

    from siam_tracker_ros.core.defaults import load_tracker

    torch.set_num_threads(args.threads)
    tracker = load_tracker(
        args.config,
        args.weights,
        device=args.device,
        runtime=args.runtime,
        cpu_threads=args.threads,
    )
    writer: cv2.VideoWriter | None = None
    n, elapsed = 0, 0.0
    for i, frame in enumerate(iter_frames(args.video, args.images)):
        if args.max_frames is not None and i >= args.max_frames:
            break
        if i == 0:
            tracker.init(frame, args.init)
            x, y, w, h = args.init
            box, present, score = np.array([x, y, w, h]), True, 1.0
        else:
            t0 = time.perf_counter()
            res = tracker.track(frame)
            elapsed += time.perf_counter() - t0
            n += 1
            box, present, score = res.box, res.present, res.score
        if args.output:
            if writer is None:
                Path(args.output).parent.mkdir(parents=True, exist_ok=True)
                fourcc = cv2.VideoWriter.fourcc(*"mp4v")
                size = (frame.shape[1], frame.shape[0])
                writer = cv2.VideoWriter(str(args.output), fourcc, args.fps, size)
            writer.write(draw(frame, box, present, score))
    if writer is not None:
        writer.release()
    if n == 0:
        print("no frames tracked (need at least 2 frames)")
        return 1
    print(
        f"tracked {n} frames on {tracker.device}: {n / elapsed:.1f} fps "
        f"({1000 * elapsed / n:.2f} ms/frame)"
    )
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("track", help="track a target through a video or image folder")
    p.add_argument(
        "--config",
        default=None,
        help="model: a YAML config (model + tracker) or a self-describing checkpoint (.pt); "
        "default: the bundled model",
    )
    p.add_argument("--weights", default=None, help="weights file for a YAML config")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--video", help="video file")
    src.add_argument("--images", help="folder of frames (sorted by name)")
    p.add_argument("--init", required=True, type=parse_box, help="first-frame box x,y,w,h")
    p.add_argument("--output", default=None, help="annotated video to write (.mp4)")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:N or auto (default: config)")
    p.add_argument("--fps", type=float, default=30.0, help="frame rate of the output video")
    p.add_argument(
        "--threads", type=int, default=1, help="CPU threads (ONNX Runtime per run, and torch)"
    )
    p.add_argument(
        "--runtime",
        choices=("torch", "onnxruntime"),
        default=None,
        help="network runtime (default: tracker.runtime of the config)",
    )
    p.add_argument("--max-frames", type=int, default=None, help="stop after this many frames")
    p.set_defaults(func=run_track)
