"""Scenario for test_init_cli.py: the README's "Start on a live camera" commands, run as written on
the pip path (the venv's ``tracker_node``, ``replay_node`` and ``siam-tracker`` console scripts),
plus ``siam-tracker init``'s mistakes, against the real node. Runs INSIDE the loopback-only
namespace (the test starts this script through ``run_isolated``) and writes ``result.json``;
the assertions live in the test.

    python init_cli_scenarios.py live_camera <workdir> <commands.json> [<ros2.json>]

``commands.json`` holds the README block's commands (argument lists), ``ros2.json`` the README's
``ros2 topic pub`` init (run when the ROS 2 tools are installed). The camera is a generated
still scene (a textured target at the README's box, a second object elsewhere) played by the
README's own ``replay_node`` line; a fake detector publishes both objects' boxes as a
``vision_msgs/Detection2DArray`` stamped with each camera frame, for ``init --point``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

VENV_BIN = Path(sys.executable).parent
sys.path.insert(0, str(Path(__file__).parent))
from ros_fakes import smooth_background  # noqa: E402
from scenario_support import scenario_main  # noqa: E402

from siam_tracker_ros.testing.harness import NodeProcess, Recorder, wait_until  # noqa: E402

#: the still scene: 640x480, the target where the README's box is, a second object to pick
SIZE = (480, 640)
TARGET = (300, 200, 60, 120)
OTHER = (80, 60, 64, 64)
#: a detector topic whose stamps are 30 s behind the camera's (no buffered frame has them)
STALE_DETECTIONS = "/detector/stale"
#: frames of the replayed still scene (an image folder plays at 30 fps): 6 minutes, longer than
#: the scenario needs once the node is up even on a loaded machine (it is stopped at the end)
FRAMES = 10800


def _texture(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    patch = rng.integers(0, 256, (max(h // 6, 1), max(w // 6, 1), 3), dtype=np.uint8)
    return cv2.resize(patch, (w, h), interpolation=cv2.INTER_NEAREST)


def make_scene(folder: Path, frames: int = FRAMES) -> Path:
    """An image folder of ``frames`` copies (links) of one still frame."""
    rng = np.random.default_rng(3)
    img = smooth_background(SIZE)
    for x, y, w, h in (TARGET, OTHER):
        img[y : y + h, x : x + w] = _texture(rng, w, h)
    folder.mkdir(parents=True, exist_ok=True)
    still = folder.parent / "still.png"
    cv2.imwrite(str(still), img)
    for i in range(frames):
        (folder / f"{i + 1:05d}.png").symlink_to(still)
    return folder


def _venv(argv: list[str]) -> list[str]:
    """A README command with its console script taken from the venv (what ``source
    .venv/bin/activate`` does for the shell)."""
    return [str(VENV_BIN / argv[0]), *argv[1:]]


def _spin(node: Any) -> Callable[[], None]:
    """Spin ``node`` on a thread of its own; returns what stops it: that thread is done before
    the node goes (on a loaded machine its last callback can outlast a short shutdown wait),
    then rclpy shuts down."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor

    executor = SingleThreadedExecutor()
    executor.add_node(node)
    spinning = threading.Thread(target=executor.spin, daemon=True)
    spinning.start()

    def stop() -> None:
        executor.shutdown(timeout_sec=10)
        spinning.join(timeout=10)
        node.destroy_node()
        rclpy.try_shutdown()

    return stop


def _run(argv: list[str], timeout: float = 90.0) -> dict[str, Any]:
    t0 = time.monotonic()
    res = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    return {
        "argv": argv,
        "rc": res.returncode,
        "out": res.stdout,
        "err": res.stderr,
        "s": round(time.monotonic() - t0, 2),
    }


def live_camera(work: Path, commands_json: str, ros2_json: str = "") -> dict[str, Any]:
    import rclpy
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image
    from vision_msgs.msg import BoundingBox2D, Detection2D, Detection2DArray

    from siam_tracker_ros.ros.qos import RELIABLE

    commands: list[list[str]] = json.loads(Path(commands_json).read_text())
    node_cmd = next(c for c in commands if c[0] == "tracker_node")
    replay_cmd = next(c for c in commands if c[0] == "replay_node")
    inits = [c for c in commands if c[:2] == ["siam-tracker", "init"]]
    camera = replay_cmd[replay_cmd.index("--topic") + 1]
    point_init = next(c for c in inits if "--point" in c)
    detections_topic = point_init[point_init.index("--detections") + 1]
    scene = make_scene(work / "scene" / "img")

    rclpy.init()
    node = rclpy.create_node("init_cli_check")
    rec = Recorder(node)
    det_pub = node.create_publisher(Detection2DArray, detections_topic, RELIABLE)

    seen = [0]

    def detect(img: Image) -> None:
        """A detector that sees both objects in every frame, stamped with that frame."""
        seen[0] += 1
        out = Detection2DArray(header=img.header)
        for i, (x, y, w, h) in enumerate((OTHER, TARGET)):
            d = Detection2D(header=img.header, id=f"object-{i}")
            d.bbox = BoundingBox2D()
            d.bbox.center.position.x, d.bbox.center.position.y = x + w / 2, y + h / 2
            d.bbox.size_x, d.bbox.size_y = float(w), float(h)
            out.detections.append(d)
        det_pub.publish(out)

    stale_pub = node.create_publisher(Detection2DArray, STALE_DETECTIONS, RELIABLE)

    def detect_stale(img: Image) -> None:
        """A detector whose clock is 30 s behind the camera's: stamps no node has buffered."""
        out = Detection2DArray(header=img.header)
        out.header.stamp.sec -= 30
        x, y, w, h = TARGET
        d = Detection2D(header=out.header, id="object-1")
        d.bbox = BoundingBox2D()
        d.bbox.center.position.x, d.bbox.center.position.y = x + w / 2, y + h / 2
        d.bbox.size_x, d.bbox.size_y = float(w), float(h)
        out.detections.append(d)
        stale_pub.publish(out)

    node.create_subscription(Image, camera, detect, qos_profile_sensor_data)
    node.create_subscription(Image, camera, detect_stale, qos_profile_sensor_data)
    stop_spinning = _spin(node)
    result: dict[str, Any] = {"target": TARGET, "other": OTHER, "size": SIZE, "runs": {}}
    tracker = NodeProcess("", [], work / "node.log", command=_venv(node_cmd))
    replay: NodeProcess | None = None
    runs = result["runs"]

    def first_detection(track_id: str, timeout: float = 30.0) -> dict[str, Any] | None:
        wait_until(lambda: any(d["id"] == track_id for d in rec.detections), timeout)
        return next((d for d in rec.detections if d["id"] == track_id), None)

    def states(track_id: str) -> list[int]:
        return [s["state"] for s in rec.statuses if s["track_id"] == track_id]

    try:
        result["node_active"] = wait_until(lambda: "active:" in tracker.output(), 180)
        # the README's video as the camera (here the still scene), once the node is up
        replay_argv = [str(scene.parent) if a == replay_cmd[1] else a for a in replay_cmd]
        replay = NodeProcess("", [], work / "replay.log", command=_venv(replay_argv))
        result["camera_frames"] = wait_until(lambda: seen[0] >= 5, 60)
        # the README's commands, as written
        for i, argv in enumerate(inits):
            runs[f"readme_{i}"] = _run(_venv(argv))
            runs[f"readme_{i}"]["first_detection"] = first_detection(f"track-{i + 1}")
            runs[f"readme_{i}"]["states"] = states(f"track-{i + 1}")
        n = len(inits)
        # the other object, picked by a point on it: a new track on that object
        runs["point_other"] = _run(
            _venv(["siam-tracker", "init", "--point", "100,90", "--detections", detections_topic])
        )
        runs["point_other"]["first_detection"] = first_detection(f"track-{n + 1}")
        # --stamp 0: the node's newest frame, no camera read here
        runs["stamp_zero"] = _run(
            _venv(["siam-tracker", "init", "--box", ",".join(map(str, TARGET)), "--stamp", "0"])
        )
        runs["stamp_zero"]["first_detection"] = first_detection(f"track-{n + 2}")
        if ros2_json:  # the README's `ros2 topic pub` line, as written
            from ros_cli_scenarios import ros2

            argv = json.loads(Path(ros2_json).read_text())
            assert argv[:3] == ["ros2", "topic", "pub"], argv
            runs["ros2_pub"] = ros2(*argv[1:], timeout=60, tries=1)
            runs["ros2_pub"]["first_detection"] = first_detection(f"track-{n + 3}")
        # mistakes: each one line, exit status 2, and no new track. Where the mistake comes after
        # the node is found (no camera, stamp, status), the wait also covers a new process's DDS
        # discovery of the node, which took over 3 s once on this 2-core VM (CI, 2026-12-07)
        found = ["--timeout", "10"]
        mistakes = {
            "no_node": ["--box", "300,200,60,120", "--namespace", "nowhere", "--timeout", "3"],
            "no_camera": ["--box", "300,200,60,120", "--image-topic", "/nocam", *found],
            "box_outside": ["--box", "700,500,40,40", "--image-topic", camera],
            "bad_box": ["--box", "300,200,-60,120"],
            "far_point": ["--point", "600,450", "--detections", detections_topic],
            "point_without_detections": ["--point", "330,260"],
            "stamp_not_buffered": ["--box", "300,200,60,120", "--stamp", "5", *found],
            "no_status": ["--box", "300,200,60,120", "--status-topic", "/nostatus", "--stamp", "0"]
            + found,
            # last: its three refusals use up the node's init warnings for log.throttle_s
            "stale_point": ["--point", "330,260", "--detections", STALE_DETECTIONS, *found],
        }
        for name, args in mistakes.items():
            runs[name] = _run(_venv(["siam-tracker", "init", *args]))
        result["track_ids"] = sorted({s["track_id"] for s in rec.statuses if s["track_id"]})
    finally:
        if replay is not None:
            replay.stop(10)
        result["node_rc"] = tracker.stop(10)
        stop_spinning()
    result["node_log"] = tracker.output()[-6000:]
    result["replay_log"] = replay.output()[-3000:] if replay is not None else ""
    result["camera_frames_seen"] = seen[0]
    return result


#: what the scripted node says when it refuses an init (the real node's words, ros/node.py)
MISSING = "init rejected: no buffered frame within 20.0 ms of init stamp {:.3f} s"
BAD_BOX = "init rejected: box (700, 500, 40, 40) outside the 64x48 image"


def refusing_node(work: Path) -> dict[str, Any]:
    """``siam-tracker init`` against a scripted node named ``tracker_node``: a 30-Hz camera of
    tiny frames, an IDLE status; it refuses the first two inits it gets for not having their
    frame (the real node's log line), then starts ``track-1`` on the third (``resend`` run).
    The ``bad_box`` run meets a refusal no newer frame mends; ``given_stamp`` one with a stamp
    the operator gave (not resent: that frame is what they asked for); ``quiet`` a refusal by
    a node whose log does not reach ``/rosout`` (``enable_rosout=False``, what
    ``--disable-rosout-logs`` does)."""
    runs: dict[str, Any] = {}
    found = ["--timeout", "20"]  # a new process's DDS discovery took over 3 s once (CI)
    box = ["--box", "10,10,20,20"]
    _serve_refusals(
        True,
        [
            ("resend", [*box, *found], 2, MISSING),
            ("bad_box", [*box, *found], 1, BAD_BOX),
            ("given_stamp", [*box, "--stamp", "5", *found], 1, MISSING),
        ],
        runs,
    )
    _serve_refusals(False, [("quiet", [*box, "--timeout", "10"], 1, MISSING)], runs)
    return {"runs": runs}


def _serve_refusals(
    enable_rosout: bool, plan: list[tuple[str, list[str], int, str]], runs: dict[str, Any]
) -> None:
    """The scripted node of :func:`refusing_node`, serving one ``siam-tracker init`` run per
    entry of ``plan`` (name, arguments, inits it refuses, the refusal's log line)."""
    import rclpy
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image
    from siam_tracker_ros.msg import InitTarget, TrackerStatus

    from siam_tracker_ros.ros.messages import stamp_to_ns
    from siam_tracker_ros.ros.qos import RELIABLE

    rclpy.init()
    node = rclpy.create_node("tracker_node", enable_rosout=enable_rosout)
    camera = node.create_publisher(Image, "image", qos_profile_sensor_data)
    status_pub = node.create_publisher(TrackerStatus, "status", RELIABLE)
    status = TrackerStatus(state=TrackerStatus.IDLE)
    received: list[int] = []
    mode: dict[str, Any] = {"refuse": 0, "reason": MISSING}

    def on_init(msg: InitTarget) -> None:
        stamp = stamp_to_ns(msg.header.stamp)
        received.append(stamp)
        if mode["refuse"] > 0:
            mode["refuse"] -= 1
            node.get_logger().warning(mode["reason"].format(stamp / 1e9))
            return
        status.header, status.state = msg.header, TrackerStatus.TRACKING
        status.track_id, status.frames_processed = f"track-{len(received)}", 1

    def tick() -> None:
        frame = Image(height=48, width=64, encoding="bgr8", step=64 * 3, data=bytes(64 * 48 * 3))
        frame.header.stamp = node.get_clock().now().to_msg()
        camera.publish(frame)
        if status.state == TrackerStatus.IDLE:
            status.header = frame.header
        status_pub.publish(status)

    node.create_subscription(InitTarget, "init_target", on_init, RELIABLE)
    node.create_timer(1 / 30, tick)
    stop_spinning = _spin(node)
    try:
        for name, args, refuse, reason in plan:
            status.state = TrackerStatus.IDLE
            mode.update(refuse=refuse, reason=reason)
            del received[:]
            runs[name] = _run(_venv(["siam-tracker", "init", *args]))
            runs[name]["inits"] = list(received)
    finally:
        stop_spinning()


if __name__ == "__main__":
    sys.exit(scenario_main({"live_camera": live_camera, "refusing_node": refusing_node}))
