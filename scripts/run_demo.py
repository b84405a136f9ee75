#!/usr/bin/env python3
"""The main demo: a real video through the real ROS 2 pipeline, recorded to files.

    .venv/bin/python scripts/run_demo.py   # vtest.avi (Debian's opencv-doc), the bundled model

``replay_node`` plays the video as a camera topic at its real rate, ``tracker_node`` (the real
Tracker) is initialised on a fixed box by a stamped ``InitTarget``, and a recorder subscribes to
``detection``, ``status``, ``debug/image`` and ``debug/response``. All three processes run inside
a loopback-only network namespace (``siam_tracker_ros.testing.isolation``): this script re-executes
itself there. Written to ``--out`` (default ``demo_out/``): ``annotated.mp4`` (the node's debug
image stream), ``response/*.png`` (response maps), ``frames/*.png`` (a few annotated frames),
``detections.csv``, ``statuses.csv``, ``summary.json`` and ``logs/``; a short summary is printed,
then the list of files written.

Every published frame is accounted for (:func:`frame_accounting`, printed and in
``summary.json``): frames published before the init frame (the node only buffers them), the init
frame itself (the tracker builds its template on it: it is not a tracked frame, which is why
"processed" is one short of "published" when nothing else is lost), frames tracked, frames dropped
because the tracker was busy (the node keeps only the newest frame), malformed frames, frames the
tracker failed on, and frames the node never received (the camera subscription is best effort).

What the default run shows (checked by looking at the frames, 2026-12-06, the bundled model with
its long-term mechanism, through the node on a quiet 2-core VM): the box follows the pedestrian
in black coat and trousers (statuses TRACKING 0-21); where he reaches the two men by the sign post
the status is LOST (23-58: no detection published) rather than TRACKING on one of them; on frame
57, still LOST, the re-detection moves the box to a different man (dark jacket, blue jeans) coming
in at the right of the path, whom the appearance check then accepts: TRACKING on him from 59, and
the box follows him up the road towards the parked van to the end (138; AMBIGUOUS 101-115 and
119-124 where he passes other pedestrians). The swap is delayed and flagged LOST, not prevented
(``summary.json``: ``statuses_lost``, ``statuses_tracking``; frames 25, 50, 75, 100 and 125 in
``frames/``).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT_VIDEO = "/usr/share/doc/opencv-doc/examples/data/vtest.avi"
#: vtest.avi (768x576, 10 fps, 795 frames), init on the pedestrian in black walking in from the
#: right in frame 0 (what the bundled model then does: the module docstring, README "Accuracy").
DEFAULT_START = 0
DEFAULT_FRAMES = 140
DEFAULT_BOX = "639,241,44,79"
#: published frame the init box belongs to (sent right after it)
INIT_FRAME = 0


def build_parser() -> argparse.ArgumentParser:
    from siam_tracker_ros.ros.tracker_params import DEFAULT_MODEL_CONFIG, DEFAULT_WEIGHTS

    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--video", default=DEFAULT_VIDEO, help="video file, image folder or bag")
    p.add_argument("--init-box", default=DEFAULT_BOX, help="x,y,w,h on the first played frame")
    p.add_argument("--start", type=int, default=DEFAULT_START, help="first source frame played")
    p.add_argument("--out", default="demo_out", help="output folder")
    p.add_argument(
        "--config",
        default=DEFAULT_MODEL_CONFIG,
        help="model YAML or checkpoint (default: the bundled model)",
    )
    p.add_argument("--weights", default=DEFAULT_WEIGHTS, help="weights for --config")
    p.add_argument("--device", default="cpu")
    p.add_argument("--fps", type=float, default=None, help="replay rate (default: the video's)")
    p.add_argument(
        "--max-frames",
        type=int,
        default=DEFAULT_FRAMES,
        help="stop after N frames (0 = to the end)",
    )
    p.add_argument(
        "--response-every",
        type=int,
        default=25,
        help="save every N-th response map and annotated frame as PNG",
    )
    p.add_argument(
        "--ros2-launch",
        action="store_true",
        help="start the node with `ros2 launch siam_tracker_ros tracker.launch.py` "
        "(needs the ROS 2 tools in the venv: scripts/setup_env.sh)",
    )
    p.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not Path(args.video).exists():
        print(
            f"run_demo: {args.video} not found (for the default video: apt-get install opencv-doc)",
            file=sys.stderr,
        )
        return 2
    if not args.inside:
        from siam_tracker_ros.testing.isolation import rerun_isolated

        argv = argv if argv is not None else sys.argv[1:]
        return rerun_isolated(__file__, argv, "run_demo", timeout=3600)
    return _inside(args)


def _inside(args: argparse.Namespace) -> int:
    import cv2
    import numpy as np

    from siam_tracker_ros.ros.parameters import resolve_path
    from siam_tracker_ros.testing.harness import node_args, run_scenario

    out = Path(args.out).resolve()
    for folder in ("response", "frames"):
        (out / folder).mkdir(parents=True, exist_ok=True)
        for stale in (out / folder).glob("*.png"):  # an earlier run's: the folder is this run's
            stale.unlink()
    writer: dict[str, Any] = {}
    counts = {"debug/image": 0, "debug/response": 0}
    pngs: list[Path] = []
    fps = args.fps or cv2.VideoCapture(args.video).get(cv2.CAP_PROP_FPS) or 10.0

    def sink(topic: str, stamp: int, img: np.ndarray) -> None:
        n = counts[topic]
        counts[topic] += 1
        if topic == "debug/image":
            if "video" not in writer:
                writer["video"] = cv2.VideoWriter(
                    str(out / "annotated.mp4"),
                    cv2.VideoWriter_fourcc(*"mp4v"),
                    fps,
                    (img.shape[1], img.shape[0]),
                )
            writer["video"].write(img)
            if n % args.response_every == 0:
                pngs.append(out / "frames" / f"{n:05d}.png")
                cv2.imwrite(str(pngs[-1]), img)
        elif n % args.response_every == 0:
            pngs.append(out / "response" / f"{n:05d}.png")
            cv2.imwrite(str(pngs[-1]), img)

    tracker_args = node_args(
        resolve_path(args.config),
        resolve_path(args.weights),
        f"model.device:={args.device}",
        "debug.max_rate_hz:=0.0",
        f"model.num_threads:={min(4, os.cpu_count() or 1)}",
    )
    replay_args = [
        args.video,
        "--init-box",
        args.init_box,
        "--init-frame",
        str(INIT_FRAME),
        "--start",
        str(args.start),
        "--wait-subscribers",
        "120",
        "--frame-id",
        "camera",
    ]
    if args.fps is not None:
        replay_args += ["--fps", str(args.fps)]
    if args.max_frames:
        replay_args += ["--max-frames", str(args.max_frames)]
    command, env = _ros2_launch(out / "logs", tracker_args) if args.ros2_launch else (None, None)
    res = run_scenario(
        out / "logs",
        tracker_args,
        replay_args,
        image_sink=sink,
        timeout=3000,
        settle=2.0,
        node_command=command,
        node_env=env,
    )
    written: list[tuple[Path, str]] = []
    if "video" in writer:
        writer["video"].release()
        written.append(
            (out / "annotated.mp4", f"{counts['debug/image']} frames, the node's debug image")
        )
    _write_csv(out / "detections.csv", res.detections)
    _write_csv(out / "statuses.csv", res.statuses)
    written.append((out / "detections.csv", f"{len(res.detections)} rows"))
    written.append((out / "statuses.csv", f"{len(res.statuses)} rows"))
    summary = _summary(res, counts)
    accounting = frame_accounting(res.stamps, INIT_FRAME, res.statuses, res.diagnostics)
    summary = {**accounting, **summary}
    written.append((out / "summary.json", "these figures"))
    written += [
        (p, "annotated frame" if p.parent.name == "frames" else "response map") for p in pngs
    ]
    written += [(p, "log") for p in sorted((out / "logs").glob("*.log"))]
    summary["files"] = [str(p.relative_to(out)) for p, _ in written]
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(f"demo: {args.video} -> {out}")
    print(f"  frames: {describe_accounting(accounting)}")
    for k, v in summary.items():
        if k not in accounting and k != "files":
            print(f"  {k:24s} {v}")
    print(f"demo: wrote {len(written)} files:")
    for path, what in written:
        print(f"  {path}  ({what})")
    if res.replay_rc not in (0, None) or not res.detections:
        print("demo: no detections; see logs/node.log and logs/replay.log", file=sys.stderr)
        return 1
    return 0


def _ros2_launch(logs: Path, node_args: list[str]) -> tuple[list[str], dict[str, str]]:
    """The same node settings through the user's command, ``ros2 launch siam_tracker_ros
    tracker.launch.py``: the ``-p`` overrides go into a params file next to the logs."""
    import yaml

    from siam_tracker_ros.ros.ros_args import load_params_file

    values: dict[str, Any] = dict(load_params_file(ROOT / "config" / "tracker.yaml"))
    for flag, arg in zip(node_args, node_args[1:], strict=False):
        if flag == "-p":
            name, _, text = arg.partition(":=")
            values[name] = yaml.safe_load(text) if text else ""
    logs.mkdir(parents=True, exist_ok=True)
    params = logs / "tracker_params.yaml"
    params.write_text(yaml.safe_dump({"/**": {"ros__parameters": values}}))
    venv = Path(sys.prefix)
    env = dict(
        os.environ, AMENT_PREFIX_PATH=str(venv), PATH=f"{venv / 'bin'}:{os.environ.get('PATH', '')}"
    )
    # the launch file's model/weights/device arguments override the params file: pass them on
    # (`name:=` with an empty value is refused by ros2 launch; empty is their default anyway)
    launch_args = [
        f"{arg}:={values[name]}"
        for arg, name in (
            ("model", "model.config"),
            ("weights", "model.weights"),
            ("device", "model.device"),
        )
        if values.get(name)
    ]
    return (
        [
            str(venv / "bin" / "ros2"),
            "launch",
            "siam_tracker_ros",
            "tracker.launch.py",
            "camera_topic:=image",
            f"params_file:={params}",
            *launch_args,
        ],
        env,
    )


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    with open(path, "w", newline="") as fh:
        if not rows:
            return
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def _summary(res: Any, counts: dict[str, int]) -> dict[str, Any]:
    import numpy as np

    lat = np.array([d["received_ns"] - d["stamp_ns"] for d in res.detections]) / 1e6
    proc = np.array([s["processing_ms"] for s in res.statuses])
    states = [s["state"] for s in res.statuses]
    return {
        "detections": len(res.detections),
        "statuses_tracking": states.count(1),
        "statuses_lost": states.count(2),
        "statuses_ambiguous": states.count(3),
        "first_ambiguous_status": states.index(3) if 3 in states else None,
        "mean_score": round(float(np.mean([d["score"] for d in res.detections])), 3)
        if res.detections
        else None,
        "latency_p50_ms": round(float(np.percentile(lat, 50)), 1) if lat.size else None,
        "latency_p95_ms": round(float(np.percentile(lat, 95)), 1) if lat.size else None,
        "tracker_step_mean_ms": round(float(proc.mean()), 1) if proc.size else None,
        "debug_images": counts["debug/image"],
        "response_maps": counts["debug/response"],
        "last_box_cx_cy_w_h": [round(res.detections[-1][k], 1) for k in ("cx", "cy", "w", "h")]
        if res.detections
        else None,
    }


#: what each category of :func:`frame_accounting` is, for the printout
ACCOUNTING_WORDS = {
    "frames_before_init": "before the init frame",
    "frames_init": "init frame (the template; not tracked)",
    "frames_processed": "tracked",
    "frames_dropped": "dropped (tracker busy; only the newest frame is kept)",
    "frames_malformed": "malformed",
    "frames_tracker_errors": "tracker errors",
    "frames_not_received": "not received by the node",
    "frames_unaccounted": "unaccounted",
}


def frame_accounting(
    stamps: list[int],
    init_frame: int,
    statuses: list[dict[str, Any]],
    diagnostics: list[dict[str, Any]],
) -> dict[str, int]:
    """Where each of the ``stamps`` (the frames the replay published) went; the categories add
    up to ``frames_published``.

    The node's counters come from its last ``/diagnostics`` message (published after the replay
    ended: the final counts), else from its last status: ``frames_processed`` and
    ``frames_dropped`` count from the init on (the init frame itself is in neither: the tracker
    takes its template there), ``frames_received`` every frame since the node started.
    ``frames_unaccounted`` is what is left; 0 unless the node skipped frames without counting
    them (e.g. more buffered frames after the init than ``init.catch_up_max_frames``)."""
    published = len(stamps)
    values = next(
        (d["values"] for d in reversed(diagnostics) if "frames_received" in d["values"]), {}
    )
    last = statuses[-1] if statuses else {}

    def counter(name: str) -> int:
        return int(float(values.get(name, last.get(name, 0))))

    init_sent = init_frame < published
    before = sum(1 for s in stamps if s < stamps[init_frame]) if init_sent else published
    out = {
        "frames_published": published,
        "frames_before_init": before,
        "frames_init": int(init_sent),
        "frames_processed": counter("frames_processed"),
        "frames_dropped": counter("frames_dropped"),
        "frames_malformed": counter("frames_malformed"),
        "frames_tracker_errors": counter("tracker_errors"),
        "frames_not_received": (
            max(0, published - counter("frames_received") - counter("frames_malformed"))
            if "frames_received" in values
            else 0
        ),
    }
    out["frames_unaccounted"] = published - sum(
        v for k, v in out.items() if k != "frames_published"
    )
    return out


def describe_accounting(accounting: dict[str, int]) -> str:
    """``140 published = 1 init frame (...) + 137 tracked + 2 dropped (...)``: the categories
    with frames in them (and ``unaccounted`` always, when not 0)."""
    parts = [
        f"{n} {ACCOUNTING_WORDS[k]}"
        for k, n in accounting.items()
        if k != "frames_published" and (n or k == "frames_processed")
    ]
    return f"{accounting['frames_published']} published = " + " + ".join(parts)


if __name__ == "__main__":
    raise SystemExit(main())
