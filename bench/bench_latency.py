#!/usr/bin/env python3
"""End-to-end latency of the ROS pipeline: image stamp -> Detection2D received, p50/p95.

    .venv/bin/python bench/bench_latency.py     # 30 and 60 Hz, 640x480, the bundled model
    .venv/bin/python bench/bench_latency.py --rates 30 --seconds 10 --device cuda

``replay_node`` publishes a synthetic 640x480 bgr8 sequence (a textured target moving over a
gradient) at each rate, the real ``tracker_node`` tracks it, and an in-process recorder stamps
every Detection2D on arrival (same machine, same clock). Latency covers DDS transport both ways,
decoding, the tracker step and message building; frames that arrive while the tracker is busy are
dropped by design (counted), so the table also shows how many frames got a detection. Everything
runs inside a loopback-only network namespace (the script re-executes itself there).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def build_parser() -> argparse.ArgumentParser:
    from siam_tracker_ros.ros.tracker_params import DEFAULT_MODEL_CONFIG, DEFAULT_WEIGHTS

    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--rates", type=float, nargs="+", default=[30.0, 60.0])
    p.add_argument("--seconds", type=float, default=6.0, help="replay length per rate")
    p.add_argument("--size", default="640x480", help="frame size WxH")
    p.add_argument("--config", default=DEFAULT_MODEL_CONFIG)
    p.add_argument("--weights", default=DEFAULT_WEIGHTS)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=1, help="torch threads in the node")
    p.add_argument("--reliability", default="best_effort", choices=["best_effort", "reliable"])
    p.add_argument("--json", default=None, help="also write the table as JSON here")
    p.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    if args.inside:
        return _inside(args)
    from siam_tracker_ros.testing.isolation import rerun_isolated

    return rerun_isolated(__file__, argv, "bench_latency", timeout=1800)


def _sequence(path: Path, n: int, w: int, h: int) -> tuple[Path, str]:
    """A moving textured square on a gradient as an MJPG video; returns it and the init box."""
    import cv2
    import numpy as np

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:h, 0:w]
    bg = 0.5 * np.stack([xx * 255 / w, yy * 255 / h, np.full_like(xx, 90.0)], -1) + 40
    bg = bg.astype(np.uint8)
    size = max(24, min(w, h) // 8)
    patch = cv2.resize(
        rng.integers(0, 256, (size // 4, size // 4, 3), dtype=np.uint8),
        (size, size),
        interpolation=cv2.INTER_NEAREST,
    )
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, (w, h))
    x0, y0 = w // 6, h // 6
    for i in range(n):
        t = i / max(n - 1, 1)
        x = int(x0 + (w - 2 * x0 - size) * 0.5 * (1 - np.cos(2 * np.pi * t)))
        y = int(y0 + (h - 2 * y0 - size) * 0.5 * (1 - np.cos(np.pi * t)))
        img = bg.copy()
        img[y : y + size, x : x + size] = patch
        vw.write(img)
    vw.release()
    return path, f"{x0},{y0},{size},{size}"


def _inside(args: argparse.Namespace) -> int:
    import numpy as np

    from siam_tracker_ros.ros.parameters import resolve_path
    from siam_tracker_ros.testing.harness import node_args, run_scenario

    w, h = (int(v) for v in args.size.lower().split("x"))
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench_latency_") as tmp:
        for rate in args.rates:
            n = int(rate * args.seconds)
            video, box = _sequence(Path(tmp) / f"seq_{rate:g}.avi", n, w, h)
            res = run_scenario(
                Path(tmp) / f"run_{rate:g}",
                node_args(
                    resolve_path(args.config),
                    resolve_path(args.weights),
                    f"model.device:={args.device}",
                    f"model.num_threads:={args.threads}",
                    f"input.reliability:={args.reliability}",
                ),
                [str(video), "--fps", str(rate), "--init-box", box, "--wait-subscribers", "120"],
                timeout=args.seconds * 4 + 120,
            )
            lat = np.array([d["received_ns"] - d["stamp_ns"] for d in res.detections]) / 1e6
            proc = np.array([s["processing_ms"] for s in res.statuses])
            last = res.statuses[-1] if res.statuses else {}
            # the node process's own peak resident memory, from its /diagnostics
            peaks = [
                float(d["values"]["peak_rss_mib"])
                for d in res.diagnostics
                if "peak_rss_mib" in d["values"]
            ]
            rows.append(
                {
                    "rate_hz": rate,
                    "frames": len(res.stamps),
                    "detections": len(res.detections),
                    "dropped": last.get("frames_dropped", 0),
                    "p50_ms": float(np.percentile(lat, 50)) if lat.size else float("nan"),
                    "p95_ms": float(np.percentile(lat, 95)) if lat.size else float("nan"),
                    "max_ms": float(lat.max()) if lat.size else float("nan"),
                    "step_ms": float(proc.mean()) if proc.size else float("nan"),
                    "out_hz": len(res.detections) / args.seconds,
                    "node_peak_rss_mib": max(peaks) if peaks else float("nan"),
                }
            )
    print(
        f"tracker_node latency, image stamp -> Detection2D received ({w}x{h} bgr8, "
        f"{args.device}, {args.threads} torch thread(s), {args.reliability} camera QoS)"
    )
    print(
        f"{'input Hz':>8} {'frames':>7} {'dets':>6} {'dropped':>8} {'p50 ms':>8} "
        f"{'p95 ms':>8} {'max ms':>8} {'step ms':>8} {'out Hz':>7} {'node peak RSS':>14}"
    )
    for r in rows:
        print(
            f"{r['rate_hz']:8.0f} {r['frames']:7d} {r['detections']:6d} {r['dropped']:8d} "
            f"{r['p50_ms']:8.1f} {r['p95_ms']:8.1f} {r['max_ms']:8.1f} {r['step_ms']:8.1f} "
            f"{r['out_hz']:7.1f} {r['node_peak_rss_mib']:10.0f} MiB"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0 if all(r["detections"] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
