"""Scenarios for test_follow_node.py and test_follow_closed_loop.py. Each runs INSIDE the
loopback-only namespace (the test starts this script through ``run_isolated``) and writes
``result.json``; the assertions live in the tests.

    python follow_scenarios.py safety <workdir>
    python follow_scenarios.py sigint <workdir>
    python follow_scenarios.py closed_loop <workdir> <source or ''> <width> <height> <frames> <mode>

``safety`` drives a real ``follow_node`` process (``use_sim_time``) from this process: it owns
``/clock``, so every time is exact, publishes ``camera_info``, ``status`` and ``detection`` the
way ``tracker_node`` does, and records ``cmd_vel``, ``gimbal/rate_cmd`` and ``/diagnostics``
(whose header stamp is the follower's clock when it stopped) phase by phase.

``closed_loop`` runs ``sim_camera_node`` + ``tracker_node`` + ``follow_node`` (``mode`` =
``follow``) or the simulator alone with a fixed camera (``mode`` = ``fixed``: ``drive:=none``,
nothing else running, faster than real time), and returns the simulator's log summary.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from scenario_support import scenario_main  # noqa: E402

from siam_tracker_ros.ros.follow_sim import read_log, summarize  # noqa: E402
from siam_tracker_ros.testing.harness import NodeProcess, node_args  # noqa: E402

FOLLOW = "siam_tracker_ros.ros.follow_node"
#: the driver's camera: 640x480, fx = fy = 500, principal point at the centre
FX, CX, CY = 500.0, 320.0, 240.0
PERIOD, TIMEOUT = 0.05, 0.3
FOLLOW_ARGS = [
    "--ros-args",
    "-p",
    "use_sim_time:=true",
    "-p",
    f"control.rate_hz:={1 / PERIOD}",
    "-p",
    f"safety.timeout_s:={TIMEOUT}",
]


class Driver:
    """This process's side of the safety scenario: clock, inputs, recorded outputs."""

    def __init__(self) -> None:
        import rclpy
        from diagnostic_msgs.msg import DiagnosticArray
        from geometry_msgs.msg import Twist, Vector3Stamped
        from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
        from rosgraph_msgs.msg import Clock
        from sensor_msgs.msg import CameraInfo
        from siam_tracker_ros.msg import TrackerStatus
        from vision_msgs.msg import Detection2D

        if not rclpy.ok():
            rclpy.init()
        self.node = rclpy.create_node("follow_driver")
        q = QoSProfile(
            history=HistoryPolicy.KEEP_LAST, depth=50, reliability=ReliabilityPolicy.RELIABLE
        )
        n = self.node
        self.pubs = {
            "clock": n.create_publisher(Clock, "/clock", q),
            "info": n.create_publisher(CameraInfo, "camera_info", q),
            "status": n.create_publisher(TrackerStatus, "status", q),
            "det": n.create_publisher(Detection2D, "detection", q),
        }
        self.events: list[dict[str, Any]] = []
        self.phase = "start"
        self.now = 0.0
        n.create_subscription(Twist, "cmd_vel", self._on_twist, q)
        n.create_subscription(Vector3Stamped, "gimbal/rate_cmd", self._on_gimbal, q)
        n.create_subscription(DiagnosticArray, "/diagnostics", self._on_diag, q)

    # ---------------------------------------------------------------- recording
    def _add(self, kind: str, **values: Any) -> None:
        self.events.append({"kind": kind, "phase": self.phase, "now": self.now, **values})

    def _on_twist(self, m: Any) -> None:
        self._add("cmd", yaw=m.angular.z, forward=m.linear.x)

    def _on_gimbal(self, m: Any) -> None:
        from siam_tracker_ros.ros.messages import stamp_to_ns

        stamp = stamp_to_ns(m.header.stamp) / 1e9
        self._add("gimbal", pan=m.vector.z, tilt=m.vector.y, stamp=stamp, frame=m.header.frame_id)

    def _on_diag(self, m: Any) -> None:
        from siam_tracker_ros.ros.messages import stamp_to_ns

        for s in m.status:
            if s.name.endswith(": follow"):
                values = {kv.key: kv.value for kv in s.values}
                level = s.level[0] if isinstance(s.level, bytes | bytearray) else int(s.level)
                self._add(
                    "diag",
                    level=level,
                    message=s.message,
                    stamp=stamp_to_ns(m.header.stamp) / 1e9,
                    reason=values.get("reason"),
                    values=values,
                )

    def count(self, kind: str) -> int:
        return sum(e["kind"] == kind for e in self.events)

    # ---------------------------------------------------------------- driving
    def spin(self, wall: float) -> None:
        import rclpy

        end = time.monotonic() + wall
        while time.monotonic() < end:
            rclpy.spin_once(self.node, timeout_sec=0.005)

    def spin_until(self, cond: Any, timeout: float = 3.0) -> bool:
        import rclpy

        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if cond():
                return True
            rclpy.spin_once(self.node, timeout_sec=0.01)
        return bool(cond())

    def clock(self, t: float) -> None:
        from rosgraph_msgs.msg import Clock

        from siam_tracker_ros.ros.messages import time_from_ns

        self.now = round(t, 6)
        self.pubs["clock"].publish(Clock(clock=time_from_ns(int(round(t * 1e9)))))
        self.spin(0.01)

    def advance(self, to: float, step: float = 0.01) -> None:
        """Move the clock to ``to`` in ``step`` increments (the follower's timer fires)."""
        t = self.now
        while t < to - 1e-9:
            t = min(to, t + step)
            self.clock(t)
        self.spin(0.05)

    def camera_info(self) -> None:
        from sensor_msgs.msg import CameraInfo

        info = CameraInfo(width=640, height=480, distortion_model="plumb_bob")
        info.k = [FX, 0.0, CX, 0.0, FX, CY, 0.0, 0.0, 1.0]
        info.d = [0.0] * 5
        self.pubs["info"].publish(info)
        self.spin(0.05)

    def status(self, stamp: float, state: int, track: str) -> None:
        from siam_tracker_ros.msg import TrackerStatus

        from siam_tracker_ros.ros.messages import stamped_header

        header = stamped_header(int(round(stamp * 1e9)), "cam")
        self.pubs["status"].publish(TrackerStatus(header=header, state=state, track_id=track))

    def det(self, stamp: float, track: str, u: float, v: float = CY, size: float = 40.0) -> None:
        from vision_msgs.msg import Detection2D, ObjectHypothesisWithPose

        from siam_tracker_ros.ros.messages import stamped_header

        det = Detection2D(header=stamped_header(int(round(stamp * 1e9)), "cam"), id=track)
        det.bbox.center.position.x, det.bbox.center.position.y = float(u), float(v)
        det.bbox.size_x = det.bbox.size_y = float(size)
        hyp = ObjectHypothesisWithPose()
        hyp.hypothesis.class_id, hyp.hypothesis.score = "target", 0.9
        det.results = [hyp]
        self.pubs["det"].publish(det)

    def frame(self, stamp: float, state: int, track: str, u: float | None, v: float = CY) -> None:
        """What tracker_node publishes for one frame: the detection (unless ``u`` is None),
        then the status; waits for the follower's answer to arrive."""
        before = self.count("gimbal")
        if u is not None:
            self.det(stamp, track, u, v)
        self.status(stamp, state, track)
        self.spin_until(lambda: self.count("gimbal") > before, timeout=2.0)
        self.spin(0.05)

    def call(self, srv_type: Any, name: str, request: Any) -> Any:
        import rclpy

        client = self.node.create_client(srv_type, name)
        if not client.wait_for_service(timeout_sec=10.0):
            raise RuntimeError(f"service {name} not available")
        future = client.call_async(request)
        rclpy.spin_until_future_complete(self.node, future, timeout_sec=10.0)
        self.node.destroy_client(client)
        return future.result()

    def set_param(self, name: str, value: Any) -> list[Any]:
        from rcl_interfaces.srv import SetParameters
        from rclpy.parameter import Parameter

        req = SetParameters.Request(parameters=[Parameter(name, value=value).to_parameter_msg()])
        res = self.call(SetParameters, "/follow_node/set_parameters", req)
        self.spin(0.1)
        return [bool(res.results[0].successful), str(res.results[0].reason)]

    def describe(self, name: str) -> dict[str, Any]:
        from rcl_interfaces.srv import DescribeParameters

        res = self.call(
            DescribeParameters,
            "/follow_node/describe_parameters",
            DescribeParameters.Request(names=[name]),
        )
        d = res.descriptors[0]
        ranges = list(d.floating_point_range)
        return {
            "description": d.description,
            "range": [ranges[0].from_value, ranges[0].to_value] if ranges else None,
        }

    def transition(self, label: str) -> bool:
        from lifecycle_msgs.msg import Transition
        from lifecycle_msgs.srv import ChangeState

        ids = {
            "deactivate": Transition.TRANSITION_DEACTIVATE,
            "activate": Transition.TRANSITION_ACTIVATE,
            "shutdown": Transition.TRANSITION_ACTIVE_SHUTDOWN,
        }
        req = ChangeState.Request(transition=Transition(id=ids[label]))
        ok = bool(self.call(ChangeState, "/follow_node/change_state", req).success)
        self.spin(0.2)
        return ok

    def wait_for_follower(self) -> bool:
        """Until the follower has subscribed to every input and publishes (discovery done)."""
        ready = self.spin_until(
            lambda: (
                all(self.pubs[k].get_subscription_count() > 0 for k in ("status", "det", "info"))
                and self.node.count_publishers("gimbal/rate_cmd") > 0
            ),
            timeout=30.0,
        )
        self.spin(0.5)
        return ready


def safety(work: Path) -> dict[str, Any]:
    d = Driver()
    node = NodeProcess(FOLLOW, FOLLOW_ARGS, work / "follow.log")
    out: dict[str, Any] = {}
    try:
        assert d.wait_for_follower(), node.output()
        d.phase = "idle"
        d.clock(10.0)
        d.camera_info()
        d.advance(10.2)

        d.phase = "follow"  # a box right of and below the centre, then nothing more
        d.clock(10.25)
        d.frame(10.25, 1, "track-1", 420.0, 300.0)
        d.advance(10.8)

        d.phase = "lost"
        d.clock(11.0)
        d.frame(11.0, 1, "track-1", 420.0)
        d.advance(11.1)  # the command ramps up (yaw.max_accel)
        d.frame(11.1, 1, "track-1", 420.0)
        d.phase = "lost_now"
        d.frame(11.1 + 1e-3, 2, "track-1", None)  # LOST: no detection, status LOST
        out["lost_sent_at"] = d.now
        d.advance(11.3)

        d.phase = "stale_arrival"  # fresh-looking messages with a stamp 0.4 s old
        d.clock(12.0)
        d.frame(11.6, 1, "track-1", 420.0)
        d.advance(12.1)

        d.phase = "future"
        d.clock(12.2)
        d.frame(12.5, 1, "track-1", 420.0)
        d.advance(12.3)

        d.phase = "reinit_old"  # track-1 on the LEFT
        d.clock(13.0)
        d.frame(13.0, 1, "track-1", 100.0)
        d.phase = "reinit_new"  # re-init: track-2 on the RIGHT; late track-1 boxes arrive too
        d.clock(13.033)
        d.status(13.033, 1, "track-2")
        d.spin(0.1)
        d.det(13.033, "track-1", 100.0)  # the old track's box of the same frame
        d.spin(0.1)
        d.advance(13.066)
        d.det(13.066, "track-1", 100.0)  # and a newer one of the old id
        d.spin(0.1)
        d.det(13.033, "track-2", 560.0)  # the new track's box of the re-init frame: pairs
        d.spin(0.2)
        d.frame(13.066, 1, "track-2", 560.0)
        d.advance(13.2)

        d.phase = "params"
        out["describe_kp"] = d.describe("yaw.kp")
        out["set_kp_range"] = d.set_param("yaw.kp", 1000.0)
        out["set_static"] = d.set_param("input.reliability", "best_effort")
        out["set_no_accel"] = d.set_param("yaw.max_accel", 0.0)
        d.phase = "tracking_first_box"  # a fresh track: the first box is P only
        d.clock(14.0)
        d.frame(14.0, 1, "track-3", 420.0)
        d.phase = "ambiguous_first_box"
        d.clock(14.5)
        d.frame(14.5, 3, "track-4", 420.0)
        out["set_stop"] = d.set_param("safety.on_ambiguous", "stop")
        d.phase = "ambiguous_stop"
        d.clock(14.533)
        d.frame(14.533, 3, "track-4", 420.0)
        d.advance(14.6)

        d.phase = "disable"
        d.clock(15.0)
        d.frame(15.0, 1, "track-5", 420.0)
        d.phase = "disabled"
        out["set_disabled"] = d.set_param("enabled", False)
        d.frame(15.033, 1, "track-5", 420.0)
        d.advance(15.1)
        out["set_enabled"] = d.set_param("enabled", True)

        d.phase = "deactivate_before"
        d.clock(16.0)
        d.frame(16.0, 1, "track-6", 420.0)
        d.phase = "deactivated"
        out["deactivate"] = d.transition("deactivate")
        d.advance(16.2)
        out["activate"] = d.transition("activate")
        d.phase = "shutdown_before"
        d.camera_info()
        d.clock(17.0)
        d.frame(17.0, 1, "track-7", 420.0)
        d.phase = "shutdown"
        out["shutdown"] = d.transition("shutdown")
        d.spin(0.3)
        out["exit_code"] = node.wait(10.0)
    finally:
        node.stop()
        out["log"] = node.output()
        out["events"] = d.events
        d.node.destroy_node()
    return out


def sigint(work: Path) -> dict[str, Any]:
    """A follower without camera_info, then with it, then Ctrl-C while it commands motion."""
    d = Driver()
    node = NodeProcess(FOLLOW, FOLLOW_ARGS, work / "follow.log")
    out: dict[str, Any] = {}
    try:
        assert d.wait_for_follower(), node.output()
        d.phase = "no_camera_info"
        d.clock(5.0)
        d.frame(5.0, 1, "track-1", 420.0)
        d.phase = "moving"
        d.camera_info()
        d.clock(5.033)
        d.frame(5.033, 1, "track-1", 420.0)
        d.phase = "sigint"
        node.proc.send_signal(2)
        out["exit_code"] = node.wait(10.0)
        d.spin(0.5)
    finally:
        node.stop()
        out["log"] = node.output()
        out["events"] = d.events
        d.node.destroy_node()
    return out


class _BoxRecorder:
    """The tracker's detections by frame stamp, recorded in a thread while the loop runs."""

    def __init__(self) -> None:
        import threading

        import rclpy
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
        from vision_msgs.msg import Detection2D

        from siam_tracker_ros.ros.messages import stamp_to_ns

        if not rclpy.ok():
            rclpy.init()
        self.node = rclpy.create_node("box_recorder")
        self.boxes: dict[int, list[float]] = {}

        def on_det(m: Any) -> None:
            w, h = m.bbox.size_x, m.bbox.size_y
            x, y = m.bbox.center.position.x - w / 2, m.bbox.center.position.y - h / 2
            self.boxes[stamp_to_ns(m.header.stamp)] = [x, y, w, h]

        q = QoSProfile(
            history=HistoryPolicy.KEEP_LAST, depth=100, reliability=ReliabilityPolicy.RELIABLE
        )
        self.sub = self.node.create_subscription(Detection2D, "detection", on_det, q)
        self.executor = SingleThreadedExecutor()
        self.executor.add_node(self.node)
        threading.Thread(target=self.executor.spin, daemon=True).start()

    def spin(self, wall: float) -> None:
        time.sleep(wall)

    def wait_connected(self, timeout: float = 60.0) -> bool:
        """Until the tracker's detection publisher is matched (no detection is missed)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.sub.get_publisher_count() > 0:
                time.sleep(0.3)
                return True
            time.sleep(0.05)
        return False

    def on_target(self, rows: list[dict[str, str]]) -> dict[str, float]:
        """Over the frames with the target in view (IoU >= 0.3 with the true box counts as on
        it): ``precision``, the share of the published detections that are on the target (the
        loop followed the target, not something else) and ``coverage``, the share of those frames
        with a detection on the target (frames the tracker calls LOST have none: the follower
        stops there)."""
        from siam_tracker_ros.evaluation.metrics import iou

        published = []
        visible = 0
        for r in rows[1:]:  # frame 0 is the init frame: no detection for it
            if r["absent"] != "0":
                continue
            visible += 1
            box = self.boxes.get(int(r["stamp_ns"]))
            if box is not None:
                truth = [float(r[k]) for k in ("truth_x", "truth_y", "truth_w", "truth_h")]
                published.append(float(iou(box, truth)) >= 0.3)
        return {
            "precision": sum(published) / max(1, len(published)),
            "coverage": sum(published) / max(1, visible),
        }


def closed_loop(
    work: Path, source: str, width: str, height: str, frames: str, mode: str
) -> dict[str, Any]:
    """One closed-loop run; the simulator's log summary and the three logs' tails."""
    csv = work / "sim.csv"
    sim_args = [
        "--ros-args",
        "-p",
        f"output.csv:={csv}",
        "-p",
        f"camera.width:={width}",
        "-p",
        f"camera.height:={height}",
        "-p",
        f"source_frames:={frames}",
    ]
    if source:
        sim_args += ["-p", f"source:={source}"]
    procs: list[NodeProcess] = []
    start = time.monotonic()
    if mode == "fixed":
        sim_args += ["-p", "drive:=none", "-p", "init.send:=false", "-p", "sync.lockstep:=false"]
        sim_args += ["-p", "sync.real_time_factor:=20.0", "-p", "sync.wait_subscribers_s:=0.0"]
    else:
        procs.append(
            NodeProcess(
                "siam_tracker_ros.ros.node",
                node_args("", "", "model.num_threads:=1", "use_sim_time:=true"),
                work / "tracker.log",
            )
        )
        procs.append(
            NodeProcess(FOLLOW, ["--ros-args", "-p", "use_sim_time:=true"], work / "follow.log")
        )
    boxes = _BoxRecorder() if mode == "follow" else None
    if boxes is not None:
        boxes.wait_connected()
    sim = NodeProcess("siam_tracker_ros.ros.sim_camera_node", sim_args, work / "sim.log")
    try:
        rc = sim.wait(150.0)
        if boxes is not None:
            boxes.spin(0.5)  # the last detections
    finally:
        sim.stop()
        for p in procs:
            p.stop()
    rows = read_log(csv) if csv.exists() else []
    return {
        "rc": rc,
        "on_target": boxes.on_target(rows) if boxes is not None else None,
        "wall_s": time.monotonic() - start,
        "summary": summarize(rows),
        "rows": len(rows),
        "sim_log": sim.output()[-3000:],
        "logs": {p.log_path.name: p.output()[-3000:] for p in procs},
    }


def launch(work: Path) -> dict[str, Any]:
    """The launch files as a user starts them: ``ros2 launch ... sim_follow.launch.py`` (ends by
    itself when the footage has played), then ``ros2 launch ... follow.launch.py`` with every
    topic remapped, closed through a separately started simulator publishing under those names
    (stopped by SIGINT, as Ctrl-C would)."""
    from ros_cli_scenarios import VENV, tools_env

    env = tools_env()
    ros2 = str(VENV / "bin" / "ros2")
    out: dict[str, Any] = {}
    start = time.monotonic()
    sim_csv = work / "sim_follow.csv"
    proc = NodeProcess(
        "",
        [],
        work / "sim_follow.log",
        env=env,
        new_session=True,
        command=[
            ros2,
            "launch",
            "siam_tracker_ros",
            "sim_follow.launch.py",
            "frames:=60",
            f"csv:={sim_csv}",
        ],
    )
    out["sim_follow_rc"] = proc.wait(150.0)
    proc.stop()
    out["sim_follow_s"] = time.monotonic() - start
    out["sim_follow_log"] = proc.output()[-6000:]
    out["sim_follow"] = summarize(read_log(sim_csv)) if sim_csv.exists() else {}

    csv = work / "follow.csv"
    sim = NodeProcess(
        "siam_tracker_ros.ros.sim_camera_node",
        [
            "--ros-args",
            "-r",
            "image:=/cam/image_raw",
            "-r",
            "camera_info:=/cam/camera_info",
            "-r",
            "gimbal/rate_cmd:=/robot/gimbal_cmd",
            "-r",
            "cmd_vel:=/robot/cmd_vel",
            "-p",
            "source_frames:=60",
            "-p",
            f"output.csv:={csv}",
        ],
        work / "sim.log",
    )
    launch = NodeProcess(
        "",
        [],
        work / "follow_launch.log",
        env=env,
        new_session=True,
        command=[
            ros2,
            "launch",
            "siam_tracker_ros",
            "follow.launch.py",
            "camera_topic:=/cam/image_raw",
            "camera_info_topic:=/cam/camera_info",
            "cmd_vel_topic:=/robot/cmd_vel",
            "gimbal_topic:=/robot/gimbal_cmd",
            "use_sim_time:=true",
        ],
    )
    try:
        out["sim_rc"] = sim.wait(150.0)
    finally:
        sim.stop()
        out["follow_launch_rc"] = launch.stop(timeout=15.0)
    out["follow_launch_log"] = launch.output()[-6000:]
    out["follow"] = summarize(read_log(csv)) if csv.exists() else {}
    return out


if __name__ == "__main__":
    raise SystemExit(
        scenario_main(
            {"safety": safety, "sigint": sigint, "closed_loop": closed_loop, "launch": launch}
        )
    )
