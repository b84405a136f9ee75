"""Run node + replay + a recorder as one scenario (for the demo, the benchmark and the tests).

Call :func:`run_scenario` from a process that already runs inside the loopback-only namespace
(see :mod:`siam_tracker_ros.testing.isolation`): it spawns ``tracker_node`` and ``replay_node`` as
child processes (which inherit the namespace), records the node's outputs in-process, and stops
everything when the replay ends. Nothing here talks to a real network by itself.
"""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
from vision_msgs.msg import Detection2D

from siam_tracker_ros.datasets.image_conversion import image_to_bgr
from siam_tracker_ros.msg import TrackerStatus
from siam_tracker_ros.ros.messages import stamp_to_ns
from siam_tracker_ros.ros.tracker_params import DEFAULT_PARAMS_FILE, model_param_args

__all__ = [
    "NodeProcess",
    "Recorder",
    "ScenarioResult",
    "node_args",
    "read_stamps",
    "run_scenario",
    "wait_until",
]

ImageSink = Callable[[str, int, np.ndarray], None]


def node_args(config: str | Path | None, weights: str | Path | None, *params: str) -> list[str]:
    """``tracker_node``'s command line as the benches, the demo and the tests start it: the
    shipped parameter file (``config/tracker.yaml``), the model (empty: the bundled one) and each
    of ``params`` (``name:=value``) as a ``-p`` override."""
    args = ["--ros-args", "--params-file", str(DEFAULT_PARAMS_FILE)]
    args += model_param_args(config, weights)
    for param in params:
        args += ["-p", param]
    return args


def wait_until(cond: Callable[[], Any], timeout: float, poll: float = 0.02) -> bool:
    """Poll ``cond`` until it is true (True) or ``timeout`` seconds have passed (False)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(poll)
    return False


class NodeProcess:
    """A child ``python -m <module>`` (or ``python <script.py>``) process with its output in a
    log file; stopped by SIGINT (clean rclpy shutdown), then SIGKILL if it does not exit."""

    def __init__(
        self,
        module: str,
        args: Sequence[str],
        log_path: Path,
        env: dict[str, str] | None = None,
        command: Sequence[str] | None = None,
        new_session: bool = False,
    ) -> None:
        """``command``, when given, is run as it is instead of ``python -m module args`` (e.g.
        ``ros2 launch ...``: launch forwards the SIGINT of :meth:`stop` to its nodes).
        ``new_session`` starts it as the leader of a process group of its own and :meth:`stop`
        signals the whole group, like Ctrl-C in a terminal (for ``ros2 run``, whose node is a
        grandchild that would not see a SIGINT sent to the ``ros2`` process alone)."""
        self.log_path = log_path
        self._log = open(log_path, "w")  # noqa: SIM115 - closed in stop()
        self._group = new_session
        target = [module] if module.endswith(".py") else ["-m", module]
        cmd = list(command) if command else [sys.executable, *target, *args]
        self.proc = subprocess.Popen(
            cmd,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env or dict(os.environ),
            start_new_session=new_session,
        )

    def running(self) -> bool:
        return self.proc.poll() is None

    def wait(self, timeout: float) -> int | None:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, timeout: float = 5.0) -> int:
        if self.proc.poll() is None:
            self._signal(signal.SIGINT)
            if self.wait(timeout) is None:
                self._signal(signal.SIGKILL)
                self.proc.wait()
        self._log.close()
        return int(self.proc.returncode)

    def _signal(self, sig: int) -> None:
        if self._group:
            os.killpg(self.proc.pid, sig)
        else:
            self.proc.send_signal(sig)

    def output(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")


@dataclass
class Recorder:
    """Subscribes to the node's outputs and keeps what arrives, with receipt times (ns)."""

    node: Node
    detections: list[dict[str, Any]] = field(default_factory=list)
    statuses: list[dict[str, Any]] = field(default_factory=list)
    image_sink: ImageSink | None = None
    #: the replay's ``--stamps-out`` file: :attr:`camera_stamps` reads the frames published so far
    stamps_file: Path | None = None
    debug_stamps: dict[str, list[int]] = field(default_factory=dict)
    #: /diagnostics statuses: name, level, message and the key/value pairs (strings)
    diagnostics: list[dict[str, Any]] = field(default_factory=list)
    _outputs: list[Any] = field(default_factory=list, init=False, repr=False)

    def __post_init__(self) -> None:
        q = QoSProfile(
            history=HistoryPolicy.KEEP_LAST, depth=50, reliability=ReliabilityPolicy.RELIABLE
        )
        self._outputs = [
            self.node.create_subscription(Detection2D, "detection", self._on_det, q),
            self.node.create_subscription(TrackerStatus, "status", self._on_status, q),
        ]
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diagnostics, q)
        if self.image_sink is not None:
            for topic in ("debug/image", "debug/response"):
                self.debug_stamps[topic] = []
                self.node.create_subscription(
                    Image, topic, lambda m, t=topic: self._on_image(t, m), q
                )

    def connected(self) -> bool:
        """Whether the node's detection and status publishers are matched (discovery done), so
        that no output of the first frames is missed."""
        return all(sub.get_publisher_count() > 0 for sub in self._outputs)

    @property
    def camera_stamps(self) -> list[int]:
        """The stamps of the frames the replay has published so far, frame ``i`` at index ``i``
        (from its ``--stamps-out`` file: a subscription here could miss the first frames while
        discovery is under way on a loaded machine, shifting every index)."""
        return read_stamps(self.stamps_file) if self.stamps_file is not None else []

    def _now(self) -> int:
        return self.node.get_clock().now().nanoseconds

    def _on_det(self, m: Detection2D) -> None:
        self.detections.append(
            {
                "stamp_ns": stamp_to_ns(m.header.stamp),
                "frame_id": m.header.frame_id,
                "received_ns": self._now(),
                "id": m.id,
                "cx": m.bbox.center.position.x,
                "cy": m.bbox.center.position.y,
                "w": m.bbox.size_x,
                "h": m.bbox.size_y,
                "score": m.results[0].hypothesis.score if m.results else float("nan"),
            }
        )

    def _on_status(self, m: TrackerStatus) -> None:
        self.statuses.append(
            {
                "stamp_ns": stamp_to_ns(m.header.stamp),
                "received_ns": self._now(),
                "state": int(m.state),
                "score": float(m.score),
                "present": bool(m.present),
                "track_id": m.track_id,
                "frames_lost": int(m.frames_lost),
                "latency_ms": float(m.latency_ms),
                "processing_ms": float(m.processing_ms),
                "frames_processed": int(m.frames_processed),
                "frames_dropped": int(m.frames_dropped),
                "rate_hz": float(m.rate_hz),
            }
        )

    def _on_diagnostics(self, m: DiagnosticArray) -> None:
        for s in m.status:
            level = s.level[0] if isinstance(s.level, (bytes, bytearray)) else int(s.level)
            self.diagnostics.append(
                {
                    "received_ns": self._now(),
                    "name": s.name,
                    "level": level,
                    "message": s.message,
                    "values": {kv.key: kv.value for kv in s.values},
                }
            )

    def _on_image(self, topic: str, m: Image) -> None:
        stamp = stamp_to_ns(m.header.stamp)
        self.debug_stamps[topic].append(stamp)
        if self.image_sink is not None:
            self.image_sink(topic, stamp, image_to_bgr(m))


@dataclass
class ScenarioResult:
    detections: list[dict[str, Any]]
    statuses: list[dict[str, Any]]
    stamps: list[int]
    node_log: str
    replay_log: str
    replay_rc: int | None
    debug_stamps: dict[str, list[int]]
    diagnostics: list[dict[str, Any]] = field(default_factory=list)

    def log_tail(self, lines: int = 12) -> str:
        """The last ``lines`` lines of the node's and the replay's logs: why a scenario that
        produced nothing produced nothing (a model the node refused, a replay that failed)."""

        def tail(text: str) -> str:
            return "\n".join(text.rstrip().splitlines()[-lines:]) or "(empty)"

        return f"node log:\n{tail(self.node_log)}\nreplay log:\n{tail(self.replay_log)}"


def read_stamps(path: Path) -> list[int]:
    """``replay_node --stamps-out`` rows (index,stamp_ns) in frame order; [] before the file
    exists. Read while the replay writes: a row it has not finished is not counted."""
    if not path.exists():
        return []
    stamps: list[int] = []
    with open(path) as fh:
        for row in csv.DictReader(fh):
            try:
                stamps.append(int(row["stamp_ns"]))
            except (TypeError, ValueError):
                break
    return stamps


def run_scenario(
    workdir: Path,
    node_args: Sequence[str],
    replay_args: Sequence[str],
    node_module: str = "siam_tracker_ros.ros.node",
    image_sink: ImageSink | None = None,
    timeout: float = 60.0,
    settle: float = 1.0,
    during: Callable[[Node, NodeProcess, Recorder], None] | None = None,
    node_command: Sequence[str] | None = None,
    node_env: dict[str, str] | None = None,
) -> ScenarioResult:
    """Start the node, record its outputs while ``replay_node`` plays, stop both.

    ``node_args``/``replay_args`` are the command lines after the module (ROS args included);
    ``during`` runs in a thread while the replay plays (to call services or set parameters).
    ``node_command`` (with ``node_env``) starts the node another way, e.g. ``ros2 launch``.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    stamps_file = workdir / "stamps.csv"
    if not rclpy.ok():
        rclpy.init()
    rec_node = rclpy.create_node("scenario_recorder")
    recorder = Recorder(rec_node, image_sink=image_sink, stamps_file=stamps_file)
    executor = SingleThreadedExecutor()
    executor.add_node(rec_node)
    tracker = NodeProcess(
        node_module, node_args, workdir / "node.log", env=node_env, command=node_command
    )
    replay: NodeProcess | None = None
    try:
        # Discovery between this recorder and the node can take seconds on a loaded machine:
        # play only once the node's outputs reach the recorder (or the node is gone or never
        # publishes, e.g. a node that is not configured).
        connect_end = time.monotonic() + min(timeout, 30.0)
        while not recorder.connected() and tracker.running() and time.monotonic() < connect_end:
            executor.spin_once(timeout_sec=0.05)
        replay = NodeProcess(
            "siam_tracker_ros.ros.replay",
            [*replay_args, "--stamps-out", str(stamps_file)],
            workdir / "replay.log",
        )
        extra: threading.Thread | None = None
        if during is not None:
            extra = threading.Thread(target=during, args=(rec_node, tracker, recorder), daemon=True)
            extra.start()
        end = time.monotonic() + timeout
        while replay.running() and time.monotonic() < end:
            executor.spin_once(timeout_sec=0.05)
        settle_end = time.monotonic() + settle
        while time.monotonic() < settle_end:
            executor.spin_once(timeout_sec=0.05)
        # Keep spinning while ``during`` still works: its service calls complete on this thread.
        extra_end = time.monotonic() + 15.0
        while extra is not None and extra.is_alive() and time.monotonic() < extra_end:
            executor.spin_once(timeout_sec=0.05)
    finally:
        replay_rc = replay.stop() if replay is not None else None
        tracker.stop()
        executor.remove_node(rec_node)
        rec_node.destroy_node()
    return ScenarioResult(
        recorder.detections,
        recorder.statuses,
        read_stamps(stamps_file),
        tracker.output(),
        replay.output() if replay is not None else "",
        replay_rc,
        recorder.debug_stamps,
        recorder.diagnostics,
    )
