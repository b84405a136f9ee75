"""Scenarios that drive the node through the REAL ROS 2 tools (``ros2 launch``, ``ros2 run``,
``ros2 param``, ``ros2 topic``, ``ros2 lifecycle``, ``launch_test``) for test_launch_ros2.py,
test_lifecycle_cli.py and test_lifecycle_startup.py. Each runs INSIDE the loopback-only namespace
(the test starts this script through ``run_isolated``) and writes ``result.json`` into its work
folder; the assertions live in the tests.

    python ros_cli_scenarios.py <scenario> <workdir> [args...]
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[2]
VENV = Path(sys.prefix)
sys.path.insert(0, str(Path(__file__).parent))
from scenario_support import scenario_main  # noqa: E402

from siam_tracker_ros.testing.harness import NodeProcess, wait_until  # noqa: E402


def tools_env() -> dict[str, str]:
    """The environment a user has after setup: the venv prefix in the ament index and on PATH."""
    env = dict(os.environ)
    prefixes = [str(VENV), *[p for p in env.get("AMENT_PREFIX_PATH", "").split(":") if p]]
    env["AMENT_PREFIX_PATH"] = ":".join(dict.fromkeys(prefixes))
    env["PATH"] = f"{VENV / 'bin'}:{env.get('PATH', '')}"
    return env


#: verbs that would otherwise start a ROS 2 daemon (a background process outliving the test)
NO_DAEMON = {
    ("lifecycle", "get"),
    ("lifecycle", "set"),
    ("param", "set"),
    ("param", "get"),
    ("topic", "info"),
    ("topic", "echo"),
    ("topic", "list"),
    ("node", "list"),
}


def ros2_cmd(*args: str, spin_time: float = 1.0) -> list[str]:
    """A ``ros2`` command line, with ``--no-daemon`` (and a discovery wait of ``spin_time``
    seconds) added where the verb takes it."""
    extra = ["--no-daemon", "--spin-time", str(spin_time)] if tuple(args[:2]) in NO_DAEMON else []
    return [str(VENV / "bin" / "ros2"), *args[:2], *extra, *args[2:]]


#: what a one-shot CLI call without the daemon says when discovery had not finished yet (on a
#: loaded 2-core machine it sometimes has not); nothing was done, so the call is repeated
NOT_DISCOVERED = ("Node not found", "Unknown topic")


def ros2(
    *args: str, timeout: float = 30.0, tries: int = 4, expect: tuple[str, ...] = ()
) -> dict[str, Any]:
    """One-shot ``ros2`` CLI call, repeated while the target was not discovered yet (or the
    output lacks one of ``expect``: a list that discovery had not completed)."""
    t0 = time.monotonic()
    for attempt in range(tries):
        if attempt:
            time.sleep(attempt)  # back off: discovery on a loaded machine takes seconds
        try:
            res = subprocess.run(
                ros2_cmd(*args, spin_time=1.0 + attempt),
                env=tools_env(),
                capture_output=True,
                text=True,
                timeout=timeout,
            )
            rc, out, err = res.returncode, res.stdout, res.stderr
        except subprocess.TimeoutExpired as exc:
            rc, out, err = -9, str(exc.stdout or ""), f"timeout after {timeout} s"
        if not any(m in out + err for m in NOT_DISCOVERED) and all(w in out for w in expect):
            break
    return {
        "cmd": " ".join(args),
        "rc": rc,
        "out": out,
        "err": err[-2000:],
        "s": round(time.monotonic() - t0, 2),
    }


#: seconds a stopped command gets after its SIGINT (``ros2 launch`` passes it on to its nodes and
#: waits for them) before SIGKILL
STOP_S = 10.0


def background(cmd: list[str], log: Path) -> NodeProcess:
    """A long-running command (``ros2 launch``/``ros2 run``) with the tools' environment and
    its output in ``log``; :meth:`NodeProcess.stop` (with :data:`STOP_S`) signals its whole
    process group, like Ctrl-C in a terminal."""
    return NodeProcess(cmd[0], cmd[1:], log, env=tools_env(), command=cmd, new_session=True)


def make_sequence(work: Path, source: str) -> tuple[Path, np.ndarray]:
    """An OTB-style folder to replay and its per-frame boxes. With ``source`` (a real sequence
    folder) its frames play forwards and backwards five times in all (symlinks in ``work``;
    nothing is copied), so a short real clip lasts long enough for the CLI steps on a loaded
    machine (the replay is stopped once they are done);
    without it, a generated video of a textured target moving over a smooth background."""
    folder = work / "seq" / "img"
    folder.mkdir(parents=True, exist_ok=True)
    if source:
        src = Path(source)
        frames = sorted((src / "img").iterdir())
        gt = np.loadtxt(src / "groundtruth_rect.txt", delimiter=",", ndmin=2)
        there, back = list(range(len(frames))), list(range(len(frames) - 2, 0, -1))
        order = [*there, *back, *there, *back, *there]
        for i, k in enumerate(order):
            (folder / f"{i + 1:04d}{frames[k].suffix}").symlink_to(frames[k])
        return folder.parent, gt[order]
    from ros_fakes import textured_target_frames

    images, boxes = textured_target_frames(300, step=(0.8, 0.4))
    for i, img in enumerate(images):
        cv2.imwrite(str(folder / f"{i + 1:04d}.png"), img)
    return folder.parent, np.asarray(boxes)


# ------------------------------------------------------------------------------------ scenarios
def launch(work: Path, source: str = "") -> dict[str, Any]:
    """``ros2 launch siam_tracker_ros tracker.launch.py`` with ``replay_node`` (``ros2 run``)
    playing a sequence and sending a stamped init; while it tracks: ``ros2 node list``,
    ``ros2 topic list -t``, ``ros2 topic echo --once /status``, ``ros2 param set`` of
    output.min_score up and down again, and a re-init through ``ros2 topic pub --once``."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
    from vision_msgs.msg import Detection2DArray

    from siam_tracker_ros.ros.messages import stamp_to_ns
    from siam_tracker_ros.testing.harness import Recorder, read_stamps

    seq, boxes = make_sequence(work, source)
    init_frame, delay = 3, 4
    rclpy.init()
    node = rclpy.create_node("launch_check")
    rec = Recorder(node)
    arrays: list[dict[str, Any]] = []
    q = QoSProfile(
        history=HistoryPolicy.KEEP_LAST, depth=50, reliability=ReliabilityPolicy.RELIABLE
    )

    # every replayed frame's stamp, in order, from the replay's own --stamps-out file (written
    # as frames go out); a subscription here could miss the first frames while discovery with
    # this process is still under way on a loaded machine, shifting every index
    stamps_file = work / "stamps.csv"
    node.create_subscription(
        Detection2DArray,
        "detections",
        lambda m: arrays.append(
            {
                "stamp_ns": stamp_to_ns(m.header.stamp),
                "frame_id": m.header.frame_id,
                "ids": [d.id for d in m.detections],
            }
        ),
        q,
    )
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    now = lambda: node.get_clock().now().nanoseconds  # noqa: E731
    log: dict[str, Any] = {}
    from ament_index_python.packages import PackageNotFoundError, get_package_share_directory

    try:  # rviz:=true is exercised only where rviz2 is absent (it would open a window)
        os.environ["AMENT_PREFIX_PATH"] = tools_env()["AMENT_PREFIX_PATH"]
        get_package_share_directory("rviz2")
        log["rviz_absent"] = False
    except PackageNotFoundError:
        log["rviz_absent"] = True
    # the package's parameters, with 10 s of frames buffered: on a loaded 2-core machine the
    # stamped re-init through `ros2 topic pub` arrives seconds after its frame
    import yaml

    from siam_tracker_ros.ros.tracker_params import DEFAULT_PARAMS_FILE

    params = yaml.safe_load(DEFAULT_PARAMS_FILE.read_text())
    params["/**"]["ros__parameters"]["input"]["buffer_size"] = 120
    (work / "params.yaml").write_text(yaml.safe_dump(params))
    ros_launch = background(
        [
            str(VENV / "bin" / "ros2"),
            "launch",
            "siam_tracker_ros",
            "tracker.launch.py",
            "camera_topic:=/camera/image_raw",
            f"params_file:={work / 'params.yaml'}",
            *(["rviz:=true"] if log["rviz_absent"] else []),
        ],
        work / "launch.log",
    )
    replay = background(
        [
            str(VENV / "bin" / "ros2"),
            "run",
            "siam_tracker_ros",
            "replay_node",
            str(seq),
            "--topic",
            "/camera/image_raw",
            "--fps",
            "12",
            "--frame-id",
            "cam",
            "--max-frames",
            str(len(boxes)),
            "--init-box",
            ",".join(str(v) for v in boxes[init_frame]),
            "--init-frame",
            str(init_frame),
            "--init-delay",
            str(delay),
            "--wait-subscribers",
            "90",
            "--stamps-out",
            str(stamps_file),
        ],
        work / "replay.log",
    )
    try:
        if not wait_until(lambda: len(rec.detections) >= 8, 120):
            log["error"] = "no detections within 120 s"
            return log
        probes = [
            threading.Thread(
                target=lambda k=k, a=a, e=e: log.__setitem__(
                    k, ros2(*a, timeout=60, expect=e)["out"]
                ),
                daemon=True,
            )
            for k, a, e in (
                ("echo", ["topic", "echo", "--once", "/status"], ("track_id",)),
                ("nodes", ["node", "list"], ("/tracker_node",)),
                # every topic the test looks for: a one-shot list may see part of the graph
                (
                    "topics",
                    ["topic", "list", "-t"],
                    ("/detections", "/status", "/camera/image_raw"),
                ),
            )
        ]
        for t in probes:
            t.start()
        log["set_high"] = ros2("param", "set", "/tracker_node", "output.min_score", "1.0")
        log["set_high_done_ns"] = now()
        n = len(rec.statuses)
        wait_until(lambda: len(rec.statuses) >= n + 8, 30)
        log["set_low"] = ros2("param", "set", "/tracker_node", "output.min_score", "0.0")
        log["set_low_done_ns"] = now()
        for t in probes:
            t.join(timeout=120)
        n = len(rec.detections)
        wait_until(lambda: len(rec.detections) >= n + 3, 30)
        # a new stamped init (the true box of the newest replayed frame, stamped with it), as a
        # detector would send: the tracker starts a new track with a new id
        camera = read_stamps(stamps_file)
        k = len(camera) - 1
        x, y, w, h = (float(v) for v in boxes[k])
        sec, nsec = divmod(camera[k], 1_000_000_000)
        log["reinit_frame"] = k
        log["reinit_sent_ns"] = now()
        log["replay_running_at_reinit"] = replay.running()
        log["reinit"] = ros2(
            "topic",
            "pub",
            "--once",
            # stay up until the reliable message was surely delivered (the default 0.1 s can
            # be too short for a loaded machine)
            "--keep-alive",
            "3",
            "/init_target",
            "siam_tracker_ros/msg/InitTarget",
            f"{{header: {{stamp: {{sec: {sec}, nanosec: {nsec}}}, frame_id: cam}},"
            f" x: {x:.1f}, y: {y:.1f}, width: {w:.1f}, height: {h:.1f}}}",
        )
        wait_until(lambda: sum(d["id"] == "track-2" for d in rec.detections) >= 8, 30)
        log["replay_rc"] = replay.stop(STOP_S)
        # shutdown from ACTIVE: the node exits 0 and the launch ends with it (on_exit)
        log["shutdown"] = ros2("lifecycle", "set", "/tracker_node", "shutdown")
        log["launch_exited_by_itself"] = ros_launch.wait(30) is not None
    finally:
        replay.stop(STOP_S)
        log["launch_rc"] = ros_launch.stop(STOP_S)
        executor.shutdown(timeout_sec=5)
        spinner.join(timeout=5)
        node.destroy_node()
        rclpy.try_shutdown()
    log.update(
        detections=rec.detections,
        statuses=rec.statuses,
        arrays=arrays,
        stamps=read_stamps(stamps_file),
        boxes=boxes.tolist(),
        init_frame=init_frame,
        launch_log=ros_launch.output(),
        replay_log=replay.output(),
    )
    return log


def lifecycle(work: Path) -> dict[str, Any]:
    """``ros2 run siam_tracker_ros tracker_node`` as a managed node (autostart:=false) with a
    corrupt model file, driven by ``ros2 lifecycle set`` / ``ros2 param set``."""
    bad = work / "corrupt.pt"
    bad.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    good = ROOT / "siam_tracker_ros" / "weights" / "siammargin_nano.pt"
    node = background(
        [
            str(VENV / "bin" / "ros2"),
            "run",
            "siam_tracker_ros",
            "tracker_node",
            "--ros-args",
            "-p",
            "autostart:=false",
            "-p",
            f"model.checkpoint:={bad}",
            "-p",
            "model.num_threads:=1",
        ],
        work / "node.log",
    )
    steps: list[dict[str, Any]] = []
    log: dict[str, Any] = {"steps": steps}

    def cli(*args: str, tries: int = 4) -> dict[str, Any]:
        r = ros2(*args, timeout=60, tries=tries)
        r["node_log_len"] = len(node.output())
        steps.append(r)
        return r

    try:
        if not wait_until(
            lambda: "unconfigured" in cli("lifecycle", "get", "/tracker_node")["out"], 60
        ):
            log["error"] = "node never answered lifecycle get"
            return log
        cli("lifecycle", "set", "/tracker_node", "configure")  # fails: corrupt model
        cli("lifecycle", "get", "/tracker_node")
        log["alive_after_bad_configure"] = node.running()
        cli("param", "set", "/tracker_node", "model.checkpoint", str(good))
        cli("lifecycle", "set", "/tracker_node", "configure")
        cli("lifecycle", "set", "/tracker_node", "activate")
        cli("topic", "info", "/image")  # active: subscribed
        cli("lifecycle", "set", "/tracker_node", "deactivate")
        cli("topic", "info", "/image", tries=1)  # inactive: nobody
        cli("lifecycle", "set", "/tracker_node", "cleanup")
        cli("lifecycle", "set", "/tracker_node", "shutdown")
        log["exit_rc"] = node.wait(20)
    finally:
        node.stop(STOP_S)
    log["node_log"] = node.output()
    return log


def startup(work: Path) -> dict[str, Any]:
    """``tracker_node`` started (autostart) with one bad setting each, all at once: exit status
    and output of each."""
    empty = work / "empty.pth"
    empty.write_bytes(b"")
    corrupt = work / "corrupt.pt"
    corrupt.write_bytes(np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    bad_yaml = work / "bad.yaml"
    bad_yaml.write_text("/**:\n  ros__parameters:\n    output: {min_score: [1, 2\n")
    shipped = ["--params-file", str(ROOT / "config" / "tracker.yaml")]
    cases = {
        "missing": ["model.checkpoint:=/nonexistent/model.pt"],
        "corrupt": [f"model.checkpoint:={corrupt}"],
        "empty_weights": [
            "model.config:=config/models/nanotrack_v2.yaml",
            f"model.weights:={empty}",
        ],
        "cuda": ["model.device:=cuda"],
        "bad_type": ["output.min_score:=abc", "foo.bar:=1"],
        "bad_range": ["debug.heatmap_size:=5"],
        # with the shipped params file setting the same name, rclpy itself keeps the file's
        # value without a word (issue 29): the node reads its command line back and refuses
        "file_bad_type": [*shipped, "output.min_score:=abc"],
        "file_quoted": [*shipped, "output.min_score:='0.5'"],
        "file_bad_int": [*shipped, "input.buffer_size:=abc"],
        "no_params_file": ["--params-file", "/nonexistent/params.yaml"],
        "bad_yaml": ["--params-file", str(bad_yaml)],
    }
    procs = {}
    for name, params in cases.items():
        args = [sys.executable, "-m", "siam_tracker_ros.ros.node", "--ros-args"]
        for p in params:
            args += [p] if p.startswith("-") or p.startswith("/") else ["-p", p]
        procs[name] = subprocess.Popen(
            args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
    out: dict[str, Any] = {}
    for name, proc in procs.items():
        try:
            text = proc.communicate(timeout=90)[0]
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGINT)
            try:
                text = "TIMEOUT " + proc.communicate(timeout=10)[0]
            except subprocess.TimeoutExpired:
                # stuck in native code (a DDS lock): SIGINT never reaches Python; never leave it
                # running behind the test, and report the other cases all the same
                proc.kill()
                text = "TIMEOUT, killed (no answer to SIGINT) " + proc.communicate()[0]
        out[name] = {"rc": proc.returncode, "output": text}
    return out


def launch_errors(work: Path) -> dict[str, Any]:
    """``ros2 launch siam_tracker_ros tracker.launch.py`` started three wrong ways at once: a
    params file that does not exist, a device the node cannot use, and a params file that asks
    for that device with no launch argument (its value must reach the node: before, the launch
    arguments' defaults overrode it without a word). Exit status and output of each."""
    cuda_file = work / "cuda.yaml"
    cuda_file.write_text("/**:\n  ros__parameters:\n    model: {device: cuda}\n")
    launch = [str(VENV / "bin" / "ros2"), "launch", "siam_tracker_ros", "tracker.launch.py"]
    cases = {
        "no_params_file": ["params_file:=/nonexistent/params.yaml"],
        "device_argument": ["device:=cuda"],
        "device_in_params_file": [f"params_file:={cuda_file}"],
    }
    procs = {
        name: subprocess.Popen(
            [*launch, *extra],
            cwd=work,
            env=tools_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for name, extra in cases.items()
    }
    out: dict[str, Any] = {}
    for name, proc in procs.items():
        try:
            text = proc.communicate(timeout=60)[0]  # each ends by itself in seconds
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGINT)  # ros2 launch passes it on to its node
            try:
                text = "TIMEOUT " + proc.communicate(timeout=STOP_S)[0]
            except subprocess.TimeoutExpired:
                proc.kill()
                text = "TIMEOUT, killed " + proc.communicate()[0]
        out[name] = {"rc": proc.returncode, "output": text}
    return out


def launch_testing(work: Path) -> dict[str, Any]:
    """``launch_test`` of the ROS-style integration test (launch_tests/tracker_node.launch.py)."""
    test = Path(__file__).parent / "launch_tests" / "tracker_node.launch.py"
    t0 = time.monotonic()
    res = subprocess.run(
        [str(VENV / "bin" / "launch_test"), str(test)],
        env=tools_env(),
        capture_output=True,
        text=True,
        timeout=240,
        cwd=work,
    )
    return {
        "rc": res.returncode,
        "out": res.stdout[-6000:],
        "err": res.stderr[-6000:],
        "s": time.monotonic() - t0,
    }


if __name__ == "__main__":
    raise SystemExit(
        scenario_main(
            {
                "launch": launch,
                "lifecycle": lifecycle,
                "startup": startup,
                "launch_errors": launch_errors,
                "launch_testing": launch_testing,
            }
        )
    )
