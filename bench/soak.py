#!/usr/bin/env python3
"""Soak test of the real ``tracker_node``: hours-long behaviour in minutes-long tables.

    .venv/bin/python bench/soak.py --rates 30 60 --minutes 15
    .venv/bin/python bench/soak.py --rates 60 --minutes 2 --size 320x240   # a quick look
    .venv/bin/python bench/soak.py --rates 30 --minutes 30 --away 8 --every 30  # long-term path

For each rate a fresh ``tracker_node`` (the bundled model unless ``--config``/``--weights``) is
fed generated 640x480 bgr8 frames (a textured target on a slow Lissajous path over a gradient,
drawn on the fly so this process stays small) at that rate, like a camera driver (best-effort,
depth 1, stamps from the clock). One init target is sent, on the 10th frame. Every 10 s the node
process's resident memory (``/proc/<pid>/status`` VmRSS) is sampled together with the
image-stamp -> Detection2DArray-received latencies of that window (one array a processed frame,
empty when the target is not reported) and the node's own drop counter
(TrackerStatus.frames_dropped: frames replaced while the tracker was busy). The output is a
per-minute table (frames sent, frames processed, detections, node drops, latency p50/p95/p99,
RSS) and a
memory-growth verdict over the samples after ``--warmup-min`` minutes: a least-squares slope in
MiB/min, and "flat" when that slope extrapolated over the measured span stays under 2 % of the
RSS and under 20 MiB, "GROWING" otherwise. Everything runs inside a loopback-only network
namespace (the script re-executes itself there).

With ``--away S`` the target leaves the picture for S seconds every ``--every`` seconds (from the
first period on), so the hours the long-term path runs on a robot are soaked too: the LOST
state, the re-detection sweep and its background worker, the way back. Each absence is then
judged from the frames' stamps: how long the node took to stop reporting the target, any
detection while it was away after that (a phantom: what a follower must never act on), and how
long after its return the node reported it again on the target (IoU >= 0.3); visible frames
reported off the target count as off-target.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from siam_tracker_ros.cli import parse_size  # noqa: E402
from siam_tracker_ros.process_memory import growth_verdict, process_status  # noqa: E402

SAMPLE_S = 10.0
#: the init target is stamped with this frame (not the first: it may be lost), re-sent on the
#: newest frame up to INIT_TRIES times until a detection comes back
INIT_AFTER_FRAMES = 10
INIT_TRIES = 5


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--rates", type=float, nargs="+", default=[30.0, 60.0])
    p.add_argument("--minutes", type=float, default=15.0, help="soak length per rate")
    p.add_argument(
        "--warmup-min",
        type=float,
        default=2.0,
        help="minutes excluded from the memory-growth verdict",
    )
    p.add_argument("--size", type=parse_size, default=(640, 480), help="frame size WxH")
    p.add_argument("--config", default="")
    p.add_argument("--weights", default="")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=1, help="CPU threads of the node's network")
    p.add_argument(
        "--away",
        type=float,
        default=0.0,
        help="seconds the target is out of the picture each period (0: always there)",
    )
    p.add_argument("--every", type=float, default=30.0, help="period of the absences, seconds")
    p.add_argument("--json", default=None, help="also write samples and tables as JSON here")
    p.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    if args.inside:
        return _inside(args)
    from siam_tracker_ros.testing.isolation import rerun_isolated

    limit = len(args.rates) * (args.minutes * 60 + 180) + 60
    return rerun_isolated(__file__, argv, "soak", timeout=limit)


@dataclass
class Sample:
    """One 10 s window of one rate's run."""

    t_s: float
    rss_mib: float
    sent: int
    detections: int  # processed frames that reported the target
    node_dropped: int  # cumulative TrackerStatus.frames_dropped at the end of the window
    latencies_ms: list[float] = field(default_factory=list)  # one per processed frame
    phantom: int = 0  # detections while the target was away, after the node had let it go
    off_target: int = 0  # detections of a visible target with IoU < 0.3


@dataclass
class Absence:
    """What the node did during one absence of the target and after its return (seconds from
    the absence's start or from the return; None: did not happen)."""

    start_s: float
    away_s: float
    let_go_after_s: float | None = None  # first frame not reported
    lag_frames: int = 0  # frames still reported before that
    phantom_frames: int = 0  # frames reported after that, while still away
    back_after_s: float | None = None  # first frame reported on the target after the return


class Absences:
    """The absence schedule (away for ``away_s`` at the start of every ``every_s`` period from
    the first period on) and the judgment of each absence from processed frames' times."""

    def __init__(self, away_s: float, every_s: float) -> None:
        if away_s and not 0 < away_s < every_s:
            raise ValueError(f"--away {away_s:g} must lie between 0 and --every {every_s:g}")
        self.away_s, self.every_s = away_s, every_s
        self.log: dict[int, Absence] = {}

    def hidden(self, t: float) -> bool:
        return self.away_s > 0 and t >= self.every_s and t % self.every_s < self.away_s

    def observe(self, t: float, present: bool, on_target: bool) -> str:
        """Record a processed frame at scene time ``t``; returns ``"phantom"`` when it reported
        a target that had been let go and is still away, ``"off"`` for a visible target
        reported elsewhere, else ``""``."""
        if self.away_s <= 0 or t < self.every_s:
            return "" if on_target or not present else "off"
        k = int(t // self.every_s)
        ab = self.log.setdefault(k, Absence(k * self.every_s, self.away_s))
        since = t - ab.start_s
        if self.hidden(t):
            if not present:
                if ab.let_go_after_s is None:
                    ab.let_go_after_s = since
                return ""
            if ab.let_go_after_s is None:
                ab.lag_frames += 1
                return ""
            ab.phantom_frames += 1
            return "phantom"
        if present and on_target and ab.back_after_s is None:
            ab.back_after_s = since - self.away_s
        return "" if on_target or not present else "off"

    def summary(self, until_s: float) -> dict[str, Any]:
        """Figures over the absences whose return lies at least one period before ``until_s``
        (the later ones had no fair chance to be found again)."""
        import numpy as np

        done = [a for a in self.log.values() if a.start_s + self.every_s <= until_s]
        let_go = [a.let_go_after_s for a in done if a.let_go_after_s is not None]
        back = [a.back_after_s for a in done if a.back_after_s is not None]
        return {
            "absences": len(done),
            "let_go": len(let_go),
            "let_go_after_s_p50_max": _p50_max(np.array(let_go)),
            "lag_frames": sum(a.lag_frames for a in done),
            "phantom_frames": sum(a.phantom_frames for a in done),
            "found_back": len(back),
            "back_after_s_p50_max": _p50_max(np.array(back)),
            "each": [asdict(a) for a in sorted(done, key=lambda a: a.start_s)],
        }


def _p50_max(values: np.ndarray) -> list[float] | None:
    import numpy as np

    return [float(np.median(values)), float(values.max())] if values.size else None


class Scene:
    """Generated frames: a textured square on a slow Lissajous path over a colour gradient."""

    def __init__(self, width: int, height: int) -> None:
        import cv2
        import numpy as np

        rng = np.random.default_rng(0)
        yy, xx = np.mgrid[0:height, 0:width]
        bg = 0.5 * np.stack([xx * 255 / width, yy * 255 / height, np.full_like(xx, 90.0)], -1)
        self.bg = (bg + 40).astype(np.uint8)
        self.size = max(24, min(width, height) // 8)
        small = rng.integers(0, 256, (self.size // 4, self.size // 4, 3), dtype=np.uint8)
        self.patch = cv2.resize(small, (self.size, self.size), interpolation=cv2.INTER_NEAREST)
        self.w, self.h = width, height

    def box(self, t: float) -> tuple[int, int, int, int]:
        import math

        mx, my = self.w - self.size - 20, self.h - self.size - 20
        x = 10 + 0.5 * mx * (1 + math.sin(2 * math.pi * t / 13.0))
        y = 10 + 0.5 * my * (1 + math.sin(2 * math.pi * t / 17.0))
        return int(x), int(y), self.size, self.size

    def frame(self, t: float, hidden: bool = False) -> np.ndarray:
        img = self.bg.copy()
        if not hidden:
            x, y, s, _ = self.box(t)
            img[y : y + s, x : x + s] = self.patch
        return img


def _soak_one(
    rate: float, args: argparse.Namespace, workdir: Path
) -> tuple[list[Sample], Absences]:
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
    from sensor_msgs.msg import Image
    from siam_tracker_ros.msg import InitTarget, TrackerStatus
    from vision_msgs.msg import Detection2DArray

    from siam_tracker_ros.evaluation.metrics import iou
    from siam_tracker_ros.ros.messages import (
        detection_to_request,
        image_msg,
        init_target_msg,
        stamp_to_ns,
        stamped_header,
    )
    from siam_tracker_ros.ros.parameters import resolve_path
    from siam_tracker_ros.testing.harness import NodeProcess, node_args

    w, h = args.size
    scene = Scene(w, h)
    absences = Absences(args.away, args.every)
    workdir.mkdir(parents=True, exist_ok=True)
    if not rclpy.ok():
        rclpy.init()
    node = rclpy.create_node(f"soak_camera_{int(rate)}")
    camera_qos = QoSProfile(
        history=HistoryPolicy.KEEP_LAST,
        depth=1,
        reliability=ReliabilityPolicy.BEST_EFFORT,
        durability=qos_profile_sensor_data.durability,
    )
    reliable = QoSProfile(
        history=HistoryPolicy.KEEP_LAST, depth=50, reliability=ReliabilityPolicy.RELIABLE
    )
    pub = node.create_publisher(Image, "image", camera_qos)
    init_pub = node.create_publisher(InitTarget, "init_target", reliable)
    state: dict[str, Any] = {
        "sent": 0,
        "dets": 0,
        "dropped": 0,
        "lat": [],
        "phantom": 0,
        "off": 0,
        "t0_ns": None,
    }

    def now_ns() -> int:
        return int(node.get_clock().now().nanoseconds)

    def scene_time(stamp_ns: int) -> float:
        """The scene is drawn at the frame's own stamp, so every output is judged against
        exactly the picture it came from."""
        return (stamp_ns - state["t0_ns"]) / 1e9

    def on_dets(m: Detection2DArray) -> None:
        stamp = stamp_to_ns(m.header.stamp)
        state["lat"].append((now_ns() - stamp) / 1e6)
        t = scene_time(stamp)
        present = bool(m.detections)
        on_target = present and bool(
            iou(detection_to_request(m.detections[0]).box, scene.box(t)) >= 0.3
        )
        state["dets"] += present
        verdict = absences.observe(t, present, on_target)
        state["phantom"] += verdict == "phantom"
        state["off"] += verdict == "off"

    def on_status(m: TrackerStatus) -> None:
        state["dropped"] = int(m.frames_dropped)

    node.create_subscription(Detection2DArray, "detections", on_dets, reliable)
    node.create_subscription(TrackerStatus, "status", on_status, reliable)

    def publish() -> None:
        if state["t0_ns"] is None:
            return
        stamp = now_ns()
        t = scene_time(stamp)
        frame = scene.frame(t, hidden=absences.hidden(t))
        pub.publish(image_msg(frame, stamped_header(stamp, "soak_cam")))
        state["sent"] += 1
        state["latest"] = (stamp, scene.box(t))

    node.create_timer(1.0 / rate, publish)
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    proc = NodeProcess(
        "siam_tracker_ros.ros.node",
        node_args(
            resolve_path(args.config),
            resolve_path(args.weights),
            f"model.device:={args.device}",
            f"model.num_threads:={args.threads}",
        ),
        workdir / "node.log",
    )
    samples: list[Sample] = []
    try:
        end_wait = time.monotonic() + 120
        while pub.get_subscription_count() == 0 or init_pub.get_subscription_count() == 0:
            if time.monotonic() > end_wait or not proc.running():
                raise RuntimeError("tracker_node did not subscribe:\n" + proc.output()[-3000:])
            executor.spin_once(timeout_sec=0.1)
        t0 = time.monotonic()
        state["t0_ns"] = now_ns()
        while state["sent"] < INIT_AFTER_FRAMES:
            executor.spin_once(timeout_sec=0.01)
        # The first best-effort frames can be lost while discovery settles, and an init stamped
        # with a frame the node never got is rejected; so init on a later frame, and again on
        # the newest one until a detection comes back.
        for _ in range(INIT_TRIES):
            stamp, box = state["latest"]
            init_pub.publish(init_target_msg(stamped_header(stamp, "soak_cam"), box, "soak"))
            retry_at = time.monotonic() + 2.0
            while state["dets"] == 0 and time.monotonic() < retry_at:
                executor.spin_once(timeout_sec=0.01)
            if state["dets"]:
                break
        else:
            raise RuntimeError(f"no detection after {INIT_TRIES} inits:\n" + proc.output()[-3000:])
        end = t0 + args.minutes * 60
        next_sample = t0 + SAMPLE_S
        last = {"sent": 0, "dets": 0, "phantom": 0, "off": 0}
        while time.monotonic() < end:
            executor.spin_once(timeout_sec=0.005)
            if time.monotonic() >= next_sample:
                samples.append(
                    Sample(
                        t_s=round(next_sample - t0, 1),
                        rss_mib=process_status(proc.proc.pid)["rss_mib"],
                        sent=state["sent"] - last["sent"],
                        detections=state["dets"] - last["dets"],
                        node_dropped=state["dropped"],
                        latencies_ms=state["lat"],
                        phantom=state["phantom"] - last["phantom"],
                        off_target=state["off"] - last["off"],
                    )
                )
                last = {k: state[k] for k in last}
                state["lat"] = []
                next_sample += SAMPLE_S
                if not proc.running():
                    raise RuntimeError("tracker_node exited:\n" + proc.output()[-3000:])
    finally:
        proc.stop()
        executor.remove_node(node)
        node.destroy_node()
    return samples, absences


def minute_table(samples: list[Sample]) -> list[dict[str, Any]]:
    """Per-minute rows from 10 s samples."""
    import numpy as np

    rows = []
    per_min = int(round(60 / SAMPLE_S))
    prev_dropped = 0
    for m in range(0, len(samples), per_min):
        chunk = samples[m : m + per_min]
        lat = np.array([v for s in chunk for v in s.latencies_ms])
        p50, p95, p99 = np.percentile(lat, [50, 95, 99]) if lat.size else (float("nan"),) * 3
        rows.append(
            {
                "minute": m // per_min + 1,
                "sent": sum(s.sent for s in chunk),
                "processed": int(lat.size),
                "detections": sum(s.detections for s in chunk),
                "phantom": sum(s.phantom for s in chunk),
                "off_target": sum(s.off_target for s in chunk),
                "node_dropped": chunk[-1].node_dropped - prev_dropped,
                "p50_ms": float(p50),
                "p95_ms": float(p95),
                "p99_ms": float(p99),
                "rss_mib": chunk[-1].rss_mib,
                "rss_min_mib": min(s.rss_mib for s in chunk),
                "rss_max_mib": max(s.rss_mib for s in chunk),
            }
        )
        prev_dropped = chunk[-1].node_dropped
    return rows


def memory_verdict(samples: list[Sample], warmup_min: float) -> dict[str, Any]:
    """The RSS samples after warm-up through the one flat/GROWING rule
    (:func:`siam_tracker_ros.process_memory.growth_verdict`), per minute."""
    kept = [s for s in samples if s.t_s > warmup_min * 60]
    verdict = growth_verdict([s.t_s / 60.0 for s in kept], [s.rss_mib for s in kept])
    if "span" in verdict:
        verdict["slope_mib_per_min"] = verdict.pop("slope_mib_per_unit")
        verdict["span_min"] = verdict.pop("span")
    return verdict


def _inside(args: argparse.Namespace) -> int:
    import tempfile

    import rclpy

    results = []
    with tempfile.TemporaryDirectory(prefix="soak_") as tmp:
        for rate in args.rates:
            samples, absences = _soak_one(rate, args, Path(tmp) / f"rate_{rate:g}")
            rows = minute_table(samples)
            verdict = memory_verdict(samples, args.warmup_min)
            longterm = absences.summary(samples[-1].t_s if samples else 0.0)
            results.append(
                {
                    "rate_hz": rate,
                    "rows": rows,
                    "memory": verdict,
                    "longterm": longterm,
                    "samples": [asdict(s) | {"latencies_ms": len(s.latencies_ms)} for s in samples],
                }
            )
            _print(rate, args, rows, verdict, longterm)
    if rclpy.ok():
        rclpy.shutdown()
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0 if all(r["rows"] and r["memory"]["verdict"] != "GROWING" for r in results) else 1


def _print(
    rate: float,
    args: argparse.Namespace,
    rows: list[dict[str, Any]],
    verdict: dict[str, Any],
    longterm: dict[str, Any],
) -> None:
    away = f", target away {args.away:g} s every {args.every:g} s" if args.away else ""
    print(
        f"\ntracker_node soak at {rate:g} Hz, {args.size[0]}x{args.size[1]} bgr8, "
        f"{args.minutes:g} min, {args.device}, {args.threads} network thread(s){away}; "
        "latency = image stamp -> Detection2DArray received"
    )
    print(
        f"{'min':>4} {'sent':>6} {'procd':>6} {'dets':>6} {'phantom':>7} {'off':>5} "
        f"{'dropped':>8} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} {'RSS MiB':>8}"
    )
    for r in rows:
        print(
            f"{r['minute']:4d} {r['sent']:6d} {r['processed']:6d} {r['detections']:6d} "
            f"{r['phantom']:7d} {r['off_target']:5d} {r['node_dropped']:8d} "
            f"{r['p50_ms']:7.1f} {r['p95_ms']:7.1f} {r['p99_ms']:7.1f} {r['rss_mib']:8.1f}"
        )
    if args.away:
        lt = longterm

        def p50_max(v: list[float] | None) -> str:
            return f"p50 {v[0]:.2f} s, max {v[1]:.2f} s" if v else "-"

        print(
            f"long-term: {lt['absences']} judged absences; let go in {lt['let_go']} "
            f"({p50_max(lt['let_go_after_s_p50_max'])} after leaving; {lt['lag_frames']} "
            f"frames reported before that); phantom frames after letting go: "
            f"{lt['phantom_frames']}; found back on the target in {lt['found_back']} "
            f"({p50_max(lt['back_after_s_p50_max'])} after the return)"
        )
    if verdict["verdict"] == "too short":
        print(f"memory: too short for a verdict after {args.warmup_min:g} min warm-up")
        return
    print(
        f"memory after {args.warmup_min:g} min warm-up: {verdict['verdict']} "
        f"(slope {verdict['slope_mib_per_min']:+.3f} MiB/min over {verdict['span_min']:.1f} "
        f"min = {verdict['growth_fit_mib']:+.1f} MiB; RSS {verdict['first_mib']:.1f} -> "
        f"{verdict['last_mib']:.1f} MiB, range {verdict['min_mib']:.1f}.."
        f"{verdict['max_mib']:.1f})"
    )
    sys.stdout.flush()


if __name__ == "__main__":
    raise SystemExit(main())
