"""Serve a tracker over the TraX protocol, so the official VOT toolkit (or ``traxclient``) can run
it. The toolkit starts this as a subprocess and talks over its stdin/stdout (or a socket when it
sets ``TRAX_SOCKET``); libtrax picks the channel from the environment.

    python -m siam_tracker_ros.evaluation.trax_server --tracker project:config/models/x.yaml:w.pth

``--tracker`` takes the same specs as ``siam-tracker evaluate --trackers`` (one of them). Every
INITIALIZE request re-initialises the tracker (which resets all its state), so one process serves a
whole VOT sequence with its failures and restarts. Replies carry the box as a rectangle plus the
``confidence`` score and a ``present`` 0/1 property (used by long-term stacks).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from siam_tracker_ros.evaluation.protocols import SupportsTracking
from siam_tracker_ros.evaluation.runner import DEFAULT_PROJECT_CONFIG, parse_tracker_specs

__all__ = ["main", "region_to_box", "serve", "trax_image_to_bgr"]


def region_to_box(region: Any) -> np.ndarray:
    """A TraX rectangle or polygon as an axis-aligned ``x, y, w, h`` box."""
    from trax import Region

    if region.type == Region.RECTANGLE:
        return np.asarray(region.bounds(), dtype=np.float64)
    if region.type == Region.POLYGON:
        pts = np.array([region[i] for i in range(region.size())], dtype=np.float64)
        x0, y0 = pts.min(axis=0)
        x1, y1 = pts.max(axis=0)
        return np.array([x0, y0, x1 - x0, y1 - y0])
    raise ValueError(f"unsupported TraX region type {region.type!r} (need rectangle or polygon)")


def trax_image_to_bgr(image: Any) -> np.ndarray:
    """Decode a TraX image (file path, in-memory RGB/gray or an encoded buffer) to BGR uint8."""
    from trax import Image

    kind = image.type()
    if kind == Image.PATH:
        out = cv2.imread(image.path(), cv2.IMREAD_COLOR)
        if out is None:
            raise OSError(f"cannot read {image.path()}")
        return out
    if kind == Image.MEMORY:
        arr = image.array()
        if arr.ndim == 3 and arr.shape[2] == 3:
            return cv2.cvtColor(arr, cv2.COLOR_RGB2BGR)
        gray = arr[..., 0] if arr.ndim == 3 else arr
        if gray.dtype != np.uint8:
            gray = (gray >> 8).astype(np.uint8)
        return cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)
    if kind == Image.BUFFER:
        data = np.frombuffer(image.buffer(), dtype=np.uint8)
        out = cv2.imdecode(data, cv2.IMREAD_COLOR)
        if out is None:
            raise OSError("cannot decode TraX image buffer")
        return out
    raise ValueError(f"unsupported TraX image type {kind!r}")


def serve(
    tracker: SupportsTracking, name: str = "siam_tracker_ros", log: bool | str = False
) -> int:
    """Answer TraX requests until the client quits; returns the number of frames tracked."""
    from trax import Image, ImageChannel, Region, Server, TraxException, TraxStatus
    from trax.region import Rectangle

    frames = 0
    with Server(
        [Region.RECTANGLE, Region.POLYGON],
        [Image.PATH, Image.MEMORY, Image.BUFFER],
        [ImageChannel.COLOR],
        tracker_name=name,
        tracker_description="Siamese single-object tracker (siam_tracker_ros)",
        tracker_family="siamese",
        log=log,
    ) as server:
        initialized = False
        while True:
            try:
                request = server.wait()
            except TraxException:  # the client went away without a quit message
                break
            if request.type in (TraxStatus.QUIT, TraxStatus.ERROR):
                break
            image = trax_image_to_bgr(request.image[ImageChannel.COLOR])
            if request.type == TraxStatus.INITIALIZE:
                if not request.objects:
                    raise ValueError("TraX initialize request carries no object")
                box = region_to_box(request.objects[0][0])
                tracker.init(image, box)
                initialized = True
                score, present = 1.0, True
            else:
                if not initialized:
                    raise RuntimeError("TraX frame request before initialize")
                result = tracker.track(image)
                box = np.asarray(result.box, dtype=np.float64).reshape(4)
                score, present = float(result.score), bool(result.present)
                frames += 1
            rect = Rectangle.create(*(float(v) for v in box))
            server.status([(rect, {"confidence": f"{score:.6f}", "present": int(present)})])
    return frames


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m siam_tracker_ros.evaluation.trax_server",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--tracker",
        default="project",
        help="project[:CONFIG[:WEIGHTS]] or csrt|kcf|mil|nanotrack|vittrack",
    )
    parser.add_argument("--project-config", type=Path, default=DEFAULT_PROJECT_CONFIG)
    parser.add_argument(
        "--weights-dir",
        type=Path,
        default=None,
        help="weights folder (peers with ONNX weights, default project weights)",
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1, help="torch / OpenCV threads")
    parser.add_argument("--log", default="", help="file for libtrax's protocol log")
    args = parser.parse_args(argv)
    if args.weights_dir is None:
        from siam_tracker_ros.datasets import shared_dir

        args.weights_dir = shared_dir() / "weights"
    specs = parse_tracker_specs(args.tracker, args.weights_dir, args.project_config)
    if len(specs) != 1:
        parser.error("--tracker takes exactly one tracker")
    spec = specs[0]
    reason = spec.unavailable_reason()
    if reason is not None:
        print(f"trax_server: {reason}", file=sys.stderr)
        return 2
    cv2.setNumThreads(args.threads)
    if spec.kind == "project":
        import torch

        torch.set_num_threads(args.threads)
    # Anything printed by Python must not interleave with the protocol on stdout.
    sys.stdout = sys.stderr
    from dataclasses import replace

    tracker = replace(spec, device=args.device).build()
    serve(tracker, name=spec.name, log=args.log or False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
