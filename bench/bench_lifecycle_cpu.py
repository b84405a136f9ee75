#!/usr/bin/env python3
"""CPU of ``tracker_node`` by lifecycle state while a camera keeps publishing (issue 20).

A 640x480 camera at ``--rate`` Hz (a textured target moving over a smooth background) and one
stamped init run throughout; the node (``autostart:=false``) is driven through its lifecycle
services: unconfigured, then active (tracking), inactive (deactivated), active again. The node
process's CPU time (``/proc/<pid>/stat`` utime+stime) over ``--seconds`` per phase is printed as %
of one core. Everything runs inside a loopback-only network namespace (re-executes itself there).

With ``--cycles N`` the node then goes N times round the whole lifecycle a mission manager drives
(deactivate, cleanup, configure, activate, a new init, ``--cycle-seconds`` of tracking), and the
node process's resident memory, threads and open file descriptors are sampled after each round:
a model, a worker thread or a file kept by a cleanup shows as a rising series. Memory is judged
by the soaks' rule (``process_memory.growth_verdict``); threads and descriptors must come back
to the first round's count.

    .venv/bin/python bench/bench_lifecycle_cpu.py --seconds 10 --rate 30
    .venv/bin/python bench/bench_lifecycle_cpu.py --seconds 2 --cycles 100
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _inside(args: argparse.Namespace) -> int:
    import cv2
    import numpy as np
    import rclpy
    from lifecycle_msgs.msg import Transition
    from lifecycle_msgs.srv import ChangeState
    from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image
    from siam_tracker_ros.msg import InitTarget

    from siam_tracker_ros.process_memory import process_status
    from siam_tracker_ros.ros.messages import image_msg, init_target_msg, stamped_header
    from siam_tracker_ros.testing.harness import NodeProcess

    work = Path(args.out)
    work.mkdir(parents=True, exist_ok=True)
    node_proc = NodeProcess(
        "siam_tracker_ros.ros.node",
        [
            "--ros-args",
            "-p",
            "autostart:=false",
            "-p",
            f"model.num_threads:={args.threads}",
            "-p",
            "input.reliability:=reliable",
        ],
        work / "node.log",
    )
    rclpy.init()
    node = rclpy.create_node("lifecycle_cpu_bench")
    qos = QoSProfile(
        history=HistoryPolicy.KEEP_LAST, depth=5, reliability=ReliabilityPolicy.RELIABLE
    )
    image_pub = node.create_publisher(Image, "image", qos)
    init_pub = node.create_publisher(InitTarget, "init_target", qos)
    change = node.create_client(ChangeState, "/tracker_node/change_state")
    h, w, side = 480, 640, 60
    yy, xx = np.mgrid[0:h, 0:w]
    background = np.dstack([(xx * 255 // w), (yy * 255 // h), np.full((h, w), 96)]).astype(np.uint8)
    patch = cv2.resize(
        np.random.default_rng(0).integers(0, 256, (8, 8, 3), dtype=np.uint8),
        (side, side),
        interpolation=cv2.INTER_NEAREST,
    )
    frame_no = 0
    stamps: list[int] = []

    def publish_frame() -> None:
        nonlocal frame_no
        x = int(100 + 200 * (0.5 + 0.5 * np.sin(frame_no / 40)))
        img = background.copy()
        img[200 : 200 + side, x : x + side] = patch
        stamp = node.get_clock().now().nanoseconds
        image_pub.publish(image_msg(img, stamped_header(stamp, "cam")))
        stamps.append(stamp)
        frame_no += 1

    def run_for(seconds: float) -> None:
        end = time.monotonic() + seconds
        next_t = time.monotonic()
        while time.monotonic() < end:
            publish_frame()
            next_t += 1.0 / args.rate
            while time.monotonic() < next_t:
                rclpy.spin_once(node, timeout_sec=max(0.0, next_t - time.monotonic()))

    def transition(tid: int) -> bool:
        if not change.wait_for_service(timeout_sec=60):
            raise RuntimeError("tracker_node lifecycle services not found")
        future = change.call_async(ChangeState.Request(transition=Transition(id=tid)))
        while not future.done():
            publish_frame()
            rclpy.spin_once(node, timeout_sec=1.0 / args.rate)
        return bool(future.result().success)

    def send_init() -> None:
        x = int(100 + 200 * (0.5 + 0.5 * np.sin((frame_no - 1) / 40)))
        init_pub.publish(init_target_msg(stamped_header(stamps[-1], "cam"), (x, 200, side, side)))

    rows: list[tuple[str, float]] = []
    rounds: list[dict[str, float]] = []

    def measure(name: str) -> None:
        run_for(1.0)  # settle
        c0, t0 = _cpu_s(node_proc.proc.pid), time.monotonic()
        run_for(args.seconds)
        rows.append((name, 100 * (_cpu_s(node_proc.proc.pid) - c0) / (time.monotonic() - t0)))

    try:
        measure("unconfigured (process up, no model)")
        assert transition(Transition.TRANSITION_CONFIGURE)
        measure("inactive (model loaded, not subscribed)")
        assert transition(Transition.TRANSITION_ACTIVATE)
        run_for(0.5)
        send_init()
        measure(f"active, tracking at {args.rate:g} Hz")
        assert transition(Transition.TRANSITION_DEACTIVATE)
        measure("inactive again (deactivated)")
        for cycle in range(args.cycles):
            t0 = time.monotonic()
            for tid in (
                Transition.TRANSITION_CLEANUP,
                Transition.TRANSITION_CONFIGURE,
                Transition.TRANSITION_ACTIVATE,
            ):
                assert transition(tid), f"round {cycle + 1}: transition {tid} failed"
            run_for(0.2)
            send_init()
            run_for(args.cycle_seconds)
            assert transition(Transition.TRANSITION_DEACTIVATE)
            rounds.append({"s": time.monotonic() - t0, **process_status(node_proc.proc.pid)})
    finally:
        node_proc.stop()
        node.destroy_node()
        rclpy.try_shutdown()
    tracked = node_proc.output().count("tracking track-1")
    print(
        f"tracker_node CPU by lifecycle state: 640x480 bgr8 camera at {args.rate:g} Hz, "
        f"{args.seconds:g} s per phase, model.num_threads={args.threads} "
        f"(% of one core; init applied: {bool(tracked)})"
    )
    for name, pct in rows:
        print(f"  {name:44s} {pct:6.1f} %")
    if not rounds:
        return 0
    return _print_rounds(rounds, args, node_proc.output().count("tracking track-"))


def _print_rounds(rounds: list[dict[str, float]], args: argparse.Namespace, tracks: int) -> int:
    """The lifecycle rounds' table (every tenth round and the last) and their verdict; exit
    status 1 when memory grows or threads or descriptors are left behind."""
    from siam_tracker_ros.process_memory import growth_verdict

    print(
        f"\n{len(rounds)} lifecycle rounds (cleanup, configure, activate, init, "
        f"{args.cycle_seconds:g} s tracking, deactivate); node process after each round; "
        f"tracks started: {tracks}"
    )
    print(f"  {'round':>5s} {'round s':>8s} {'RSS MiB':>8s} {'threads':>8s} {'fds':>5s}")
    step = max(1, len(rounds) // 10)
    for i, r in enumerate(rounds, start=1):
        if i == 1 or i % step == 0 or i == len(rounds):
            print(f"  {i:5d} {r['s']:8.2f} {r['rss_mib']:8.1f} {r['threads']:8.0f} {r['fds']:5.0f}")
    # the first round loads what stays for good (caches, the runtime's pools): judged after it
    kept = rounds[1:] if len(rounds) > 3 else rounds
    memory = growth_verdict(list(range(len(kept))), [r["rss_mib"] for r in kept])
    left_threads = max(r["threads"] for r in kept) - kept[0]["threads"]
    left_fds = max(r["fds"] for r in kept) - kept[0]["fds"]
    print(
        f"memory after round 1: {memory['verdict']}"
        + (
            f" ({memory['growth_fit_mib']:+.1f} MiB fitted over {len(kept)} rounds, "
            f"{memory['first_mib']:.1f} -> {memory['last_mib']:.1f} MiB)"
            if "growth_fit_mib" in memory
            else ""
        )
        + f"; threads {left_threads:+.0f}, file descriptors {left_fds:+.0f} at most "
        "against round 2"
    )
    return 0 if memory["verdict"] != "GROWING" and left_threads <= 0 and left_fds <= 0 else 1


def main() -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--rate", type=float, default=30.0, help="camera rate (Hz)")
    p.add_argument("--threads", type=int, default=1, help="model.num_threads")
    p.add_argument("--cycles", type=int, default=0, help="lifecycle rounds after the phases")
    p.add_argument("--cycle-seconds", type=float, default=1.0, help="tracking in each round")
    p.add_argument("--out", default="/tmp/bench_lifecycle_cpu")
    p.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.inside:
        return _inside(args)
    from siam_tracker_ros.testing.isolation import rerun_isolated

    return rerun_isolated(
        __file__,
        sys.argv[1:],
        "bench_lifecycle_cpu",
        timeout=120 + 8 * args.seconds + args.cycles * (30 + args.cycle_seconds),
        cwd=ROOT,
    )


if __name__ == "__main__":
    raise SystemExit(main())
