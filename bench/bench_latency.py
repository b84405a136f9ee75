#!/usr/bin/env python3
"""What a robot pays for the tracker node: latency (image stamp -> Detection2D received), the
node's CPU use and its step time, while tracking and while the target is LOST.

    .venv/bin/python bench/bench_latency.py     # 30 and 60 Hz, 640x480, the bundled model
    .venv/bin/python bench/bench_latency.py --rates 30 --seconds 10 --device cuda
    .venv/bin/python bench/bench_latency.py --param model.num_threads:=2   # any node parameter

Two scenarios, each at every ``--rates`` rate, with the real ``tracker_node`` and ``replay_node``
and an in-process recorder (same machine, same clock):

- **tracking**: a synthetic 640x480 bgr8 sequence (a textured target moving over a gradient);
  the target is always visible, so every frame is a TRACKING step.
- **long-term**: a long-term dev sequence whose target leaves the view and comes back
  (``--lost-sequence``, default ``dev-lt/vc_Surfer``: absent in frames 116-152 and 248-283),
  scaled to the ``--size`` width, so the node spends stretches of frames LOST with whatever
  re-detection the model's config runs. Frames are split by the state the node reported for
  them (TrackerStatus of the same stamp).

Columns: latency = stamp -> message received, p50/p95 (``det``: the Detection2D, published only
for frames reported present; ``status``: the TrackerStatus, published for every frame right
after the detections, so it also measures LOST frames); ``step`` = the node's own processing time
per frame (``TrackerStatus.processing_ms``: conversion + tracker step), p50/p95; ``CPU`` = the
node process's CPU time (all its threads, ``/proc/<pid>/task/*/schedstat``) over wall time while
frames flow, in % of one core (a long-term row: over the intervals whose latest status had that
state). Frames that arrive while the node is busy are dropped by design (counted). Everything
runs inside a loopback-only network namespace (the script re-executes itself there).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from siam_tracker_ros.cli import parse_size  # noqa: E402

#: TrackerStatus.state values (siam_tracker_ros/msg/TrackerStatus.msg) -> row names
STATE_NAMES = {1: "TRACKING", 2: "LOST", 3: "AMBIGUOUS"}


def build_parser() -> argparse.ArgumentParser:
    from siam_tracker_ros.datasets import shared_dir
    from siam_tracker_ros.ros.tracker_params import DEFAULT_MODEL_CONFIG, DEFAULT_WEIGHTS

    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--rates", type=float, nargs="+", default=[30.0, 60.0])
    p.add_argument("--seconds", type=float, default=6.0, help="synthetic replay length per rate")
    p.add_argument("--size", type=parse_size, default=(640, 480), help="frame size WxH")
    p.add_argument(
        "--config",
        default=DEFAULT_MODEL_CONFIG,
        help="the node's model.config: a model YAML (empty: the bundled model; a packaged "
        "checkpoint goes in --param model.checkpoint:=PATH instead)",
    )
    p.add_argument(
        "--weights", default=DEFAULT_WEIGHTS, help="the node's model.weights, for --config"
    )
    p.add_argument("--device", default="cpu")
    p.add_argument(
        "--threads",
        type=int,
        default=0,
        help="the node's model.num_threads (default 0: the model's own setting, as shipped)",
    )
    p.add_argument("--reliability", default="best_effort", choices=["best_effort", "reliable"])
    p.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME:=VALUE",
        help="one more tracker_node parameter (repeatable)",
    )
    p.add_argument(
        "--lost-sequence",
        default=str(shared_dir() / "data" / "dev-lt" / "vc_Surfer"),
        help="long-term sequence folder (video + groundtruth_rect.txt) for the LOST rows; '' "
        "to skip them",
    )
    p.add_argument(
        "--lost-rates",
        type=float,
        nargs="+",
        default=None,
        help="rates of the long-term scenario (default: --rates)",
    )
    p.add_argument(
        "--only",
        choices=["tracking", "lost", "both"],
        default="both",
        help="which scenario to run",
    )
    p.add_argument("--json", default=None, help="also write the tables as JSON here")
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


def process_cpu_seconds(pid: int) -> float:
    """CPU time of every thread of process ``pid`` so far, in seconds (``schedstat``: ns
    resolution; ``/proc/<pid>/stat``'s clock ticks, 10 ms, where schedstat is missing)."""
    total = 0
    try:
        for task in os.scandir(f"/proc/{pid}/task"):
            with open(f"{task.path}/schedstat") as fh:
                total += int(fh.read().split()[0])
        return total / 1e9
    except (OSError, ValueError, IndexError):
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class CpuSampler:
    """Samples a process's CPU time every ``period`` seconds (``(wall_ns, cpu_s)``, wall on the
    recorder node's clock so samples line up with the messages' receipt times)."""

    def __init__(self, pid: int, clock: Any, period: float = 0.1) -> None:
        self.pid, self.clock, self.period = pid, clock, period
        self.samples: list[tuple[int, float]] = []
        self._stop = threading.Event()

    def run(self, alive: Any) -> None:
        while not self._stop.is_set() and alive():
            try:
                cpu = process_cpu_seconds(self.pid)
            except OSError:
                break
            self.samples.append((self.clock.now().nanoseconds, cpu))
            time.sleep(self.period)

    def stop(self) -> None:
        self._stop.set()

    def share(self, start_ns: int, end_ns: int) -> float:
        """CPU use in % of one core between two instants (the samples nearest inside them)."""
        inside = [s for s in self.samples if start_ns <= s[0] <= end_ns]
        if len(inside) < 2:
            return float("nan")
        (t0, c0), (t1, c1) = inside[0], inside[-1]
        return 100.0 * (c1 - c0) / ((t1 - t0) / 1e9)

    def share_by_state(self, statuses: list[dict[str, Any]]) -> dict[str, float]:
        """CPU use per reported state: each sampling interval counts for the state of the latest
        status received before it started (intervals before the first status are left out)."""
        import bisect

        received = [s["received_ns"] for s in statuses]
        cpu: dict[str, float] = {}
        wall: dict[str, float] = {}
        for (t0, c0), (t1, c1) in zip(self.samples, self.samples[1:], strict=False):
            i = bisect.bisect_right(received, t0) - 1
            if i < 0 or t0 > received[-1]:
                continue
            name = STATE_NAMES.get(statuses[i]["state"], "other")
            cpu[name] = cpu.get(name, 0.0) + (c1 - c0)
            wall[name] = wall.get(name, 0.0) + (t1 - t0) / 1e9
        return {k: 100.0 * cpu[k] / wall[k] for k in cpu if wall[k] > 0}


def _percentiles(values: Any) -> tuple[float, float]:
    import numpy as np

    arr = np.asarray(values, dtype=np.float64)
    if not arr.size:
        return float("nan"), float("nan")
    return float(np.percentile(arr, 50)), float(np.percentile(arr, 95))


def _run(
    workdir: Path, args: argparse.Namespace, replay: list[str], timeout: float
) -> tuple[Any, CpuSampler | None]:
    """One scenario: the node with the bench's parameters, the replay, the CPU sampler."""
    from siam_tracker_ros.ros.parameters import resolve_path
    from siam_tracker_ros.testing.harness import node_args, run_scenario

    params = [
        f"model.device:={args.device}",
        f"input.reliability:={args.reliability}",
        *args.param,
    ]
    if args.threads:
        params.append(f"model.num_threads:={args.threads}")
    holder: dict[str, CpuSampler] = {}

    def during(node: Any, tracker: Any, recorder: Any) -> None:
        sampler = CpuSampler(tracker.proc.pid, node.get_clock())
        holder["sampler"] = sampler
        sampler.run(tracker.running)

    res = run_scenario(
        workdir,
        node_args(resolve_path(args.config), resolve_path(args.weights), *params),
        [*replay, "--wait-subscribers", "120"],
        timeout=timeout,
        during=during,
    )
    sampler = holder.get("sampler")
    if sampler is not None:
        sampler.stop()
    return res, sampler


def _latencies(res: Any) -> tuple[Any, Any]:
    import numpy as np

    det = np.array([d["received_ns"] - d["stamp_ns"] for d in res.detections]) / 1e6
    status = np.array([s["received_ns"] - s["stamp_ns"] for s in res.statuses]) / 1e6
    return det, status


def _tracking_row(rate: float, args: argparse.Namespace, res: Any, cpu: CpuSampler | None) -> Any:

    det, _ = _latencies(res)
    proc = [s["processing_ms"] for s in res.statuses if s["state"] != 0]  # 0: IDLE
    last = res.statuses[-1] if res.statuses else {}
    peaks = [
        float(d["values"]["peak_rss_mib"]) for d in res.diagnostics if "peak_rss_mib" in d["values"]
    ]
    flowing = sorted(d["received_ns"] for d in res.detections)
    share = cpu.share(flowing[0], flowing[-1]) if cpu is not None and flowing else float("nan")
    p50, p95 = _percentiles(det)
    s50, s95 = _percentiles(proc)
    return {
        "rate_hz": rate,
        "frames": len(res.stamps),
        "detections": len(res.detections),
        "dropped": last.get("frames_dropped", 0),
        "p50_ms": p50,
        "p95_ms": p95,
        "max_ms": float(det.max()) if det.size else float("nan"),
        "step_p50_ms": s50,
        "step_p95_ms": s95,
        "cpu_pct": share,
        "out_hz": len(res.detections) / args.seconds,
        "node_peak_rss_mib": max(peaks) if peaks else float("nan"),
    }


def _lost_rows(rate: float, res: Any, cpu: CpuSampler | None) -> list[dict[str, Any]]:
    """Rows per reported state (and all frames) of the long-term scenario."""
    by_stamp = {d["stamp_ns"]: d for d in res.detections}
    statuses = [s for s in res.statuses if s["state"] != 0]  # 0: IDLE (no target yet)
    shares = cpu.share_by_state(statuses) if cpu is not None and statuses else {}
    groups: dict[str, list[dict[str, Any]]] = {"all": statuses}
    for s in statuses:
        groups.setdefault(STATE_NAMES.get(s["state"], "other"), []).append(s)
    rows = []
    for name, group in groups.items():
        if not group:
            continue
        status_lat = [(s["received_ns"] - s["stamp_ns"]) / 1e6 for s in group]
        det_lat = [
            (by_stamp[s["stamp_ns"]]["received_ns"] - s["stamp_ns"]) / 1e6
            for s in group
            if s["stamp_ns"] in by_stamp
        ]
        d50, d95 = _percentiles(det_lat)
        l50, l95 = _percentiles(status_lat)
        s50, s95 = _percentiles([s["processing_ms"] for s in group])
        share = shares.get(name, float("nan"))
        if name == "all" and cpu is not None:
            share = cpu.share(statuses[0]["received_ns"], statuses[-1]["received_ns"])
        rows.append(
            {
                "rate_hz": rate,
                "state": name,
                "frames": len(group),
                "detections": len(det_lat),
                "det_p50_ms": d50,
                "det_p95_ms": d95,
                "status_p50_ms": l50,
                "status_p95_ms": l95,
                "step_p50_ms": s50,
                "step_p95_ms": s95,
                "cpu_pct": float(share),
            }
        )
    return rows


def _inside(args: argparse.Namespace) -> int:
    w, h = args.size
    tracking: list[dict[str, Any]] = []
    lost: list[dict[str, Any]] = []
    ok = True
    with tempfile.TemporaryDirectory(prefix="bench_latency_") as tmp:
        if args.only in ("tracking", "both"):
            for rate in args.rates:
                n = int(rate * args.seconds)
                video, box = _sequence(Path(tmp) / f"seq_{rate:g}.avi", n, w, h)
                res, cpu = _run(
                    Path(tmp) / f"run_{rate:g}",
                    args,
                    [str(video), "--fps", str(rate), "--init-box", box],
                    timeout=args.seconds * 4 + 120,
                )
                tracking.append(_tracking_row(rate, args, res, cpu))
                ok = ok and bool(res.detections)
                if not res.detections:
                    print(
                        f"tracking at {rate:g} Hz: no detection\n{res.log_tail()}", file=sys.stderr
                    )
        seq = Path(args.lost_sequence) if args.lost_sequence else None
        if args.only in ("lost", "both") and seq is not None:
            if not seq.is_dir():
                print(f"long-term rows skipped: {seq} not found", file=sys.stderr)
            else:
                import cv2

                video = next((p for p in sorted(seq.iterdir()) if p.suffix == ".mp4"), seq)
                cap = cv2.VideoCapture(str(video))
                scale = w / max(cap.get(cv2.CAP_PROP_FRAME_WIDTH), 1.0)
                n_frames = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
                cap.release()
                for rate in args.lost_rates or args.rates:
                    replay = [
                        str(video),
                        "--fps",
                        str(rate),
                        "--groundtruth",
                        str(seq / "groundtruth_rect.txt"),
                        "--scale",
                        f"{scale:.6f}",
                    ]
                    res, cpu = _run(
                        Path(tmp) / f"lost_{rate:g}",
                        args,
                        replay,
                        timeout=max(n_frames, 1) / rate * 4 + 120,
                    )
                    lost += _lost_rows(rate, res, cpu)
                    ok = ok and bool(res.statuses)
                    if not res.statuses:
                        print(
                            f"long-term at {rate:g} Hz: no status\n{res.log_tail()}",
                            file=sys.stderr,
                        )
    threads = args.threads or "the model's"
    extra = f", parameters {' '.join(args.param)}" if args.param else ""
    if tracking:
        print(
            f"tracker_node, tracking: image stamp -> Detection2D received ({w}x{h} bgr8, "
            f"{args.device}, {threads} thread(s), {args.reliability} camera QoS{extra})"
        )
        print(
            "| input Hz | frames | detections | dropped | p50 ms | p95 ms | max ms | step p50 ms "
            "| step p95 ms | CPU % of one core | out Hz | node peak RSS |"
        )
        print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for r in tracking:
            print(
                f"| {r['rate_hz']:.0f} | {r['frames']} | {r['detections']} | {r['dropped']} | "
                f"{r['p50_ms']:.1f} | {r['p95_ms']:.1f} | {r['max_ms']:.1f} | "
                f"{r['step_p50_ms']:.1f} | {r['step_p95_ms']:.1f} | {r['cpu_pct']:.0f} | "
                f"{r['out_hz']:.1f} | {r['node_peak_rss_mib']:.0f} MiB |"
            )
    if lost:
        print(
            f"\ntracker_node, long-term ({Path(args.lost_sequence).name} scaled to {w} px wide; "
            "rows by the state the node reported for the frame)"
        )
        print(
            "| input Hz | state | frames | detections | det p50 ms | det p95 ms | status p50 ms "
            "| status p95 ms | step p50 ms | step p95 ms | CPU % of one core |"
        )
        print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for r in lost:
            print(
                f"| {r['rate_hz']:.0f} | {r['state']} | {r['frames']} | {r['detections']} | "
                f"{r['det_p50_ms']:.1f} | {r['det_p95_ms']:.1f} | {r['status_p50_ms']:.1f} | "
                f"{r['status_p95_ms']:.1f} | {r['step_p50_ms']:.1f} | {r['step_p95_ms']:.1f} | "
                f"{r['cpu_pct']:.0f} |"
            )
    if args.json:
        Path(args.json).write_text(json.dumps({"tracking": tracking, "longterm": lost}, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
