"""``sim_camera_node``: a simulated pan/tilt camera over real footage, closed through the follower.

The camera is :class:`~siam_tracker_ros.simulation.GimbalCamera`: a window over the frames of an
annotated sequence (``source``; the generated follow scene without one), pointed by the rates the
follow node commands, integrated over *simulated* time. Per frame it publishes ``/clock`` (run
the tracker and the follower with ``use_sim_time:=true``), ``image`` (sensor_msgs/Image, bgr8),
``camera_info`` (the pinhole intrinsics of the window) and ``sim/target`` (the true box in the
window from the ground truth, vision_msgs/Detection2DArray, empty while the target is out of
view), and writes one CSV row (``output.csv``; :mod:`~siam_tracker_ros.ros.follow_sim` reads and
measures it). With ``init.send`` it initialises the tracker on the true first box.

It subscribes ``gimbal/rate_cmd`` (geometry_msgs/Vector3Stamped: z pan, y tilt) and ``cmd_vel``
(geometry_msgs/Twist: angular.z as pan with ``drive:=cmd_vel``) and ``status`` (the tracker's,
for pacing). The latest command is held over each time step (zero-order hold), as a rate-mode
gimbal does.

Pacing (``sync.lockstep``, default): frame k+1 is rendered once the loop has answered frame k
(a command stamped with frame k's stamp or later, or the tracker's status for frame k plus
``sync.grace_s``), or after ``sync.timeout_s`` of wall time. Simulated time therefore advances
exactly one frame period per frame, whatever the machine's load: a slow CI machine runs the same
closed loop as a fast one, only slower. The wall time from publishing a frame to receiving the
command stamped with it is the loop latency (image transport + tracker + follower + command
transport), logged per frame in ``latency_ms``.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections import deque
from collections.abc import Sequence
from typing import Any

from geometry_msgs.msg import Twist, Vector3Stamped
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import CameraInfo, Image
from vision_msgs.msg import Detection2D, Detection2DArray, ObjectHypothesisWithPose

from siam_tracker_ros.msg import InitTarget, TrackerStatus
from siam_tracker_ros.ros import messages
from siam_tracker_ros.ros.follow_sim import LogRow, SimLog, make_gimbal, open_source
from siam_tracker_ros.ros.lifecycle_main import run_lifecycle_node
from siam_tracker_ros.ros.node_parameters import NodeParameters, ParameterizedNode
from siam_tracker_ros.ros.parameters import resolve_path
from siam_tracker_ros.ros.qos import RELIABLE
from siam_tracker_ros.ros.sim_params import NODE_NAME, SimSettings
from siam_tracker_ros.simulation import GimbalCamera, Intrinsics
from siam_tracker_ros.simulation.virtual_camera import View

__all__ = ["SimCameraNode", "camera_info_msg", "main"]

SUCCESS, FAILURE = TransitionCallbackReturn.SUCCESS, TransitionCallbackReturn.FAILURE
PARAMS_EXAMPLE = "'/**: {ros__parameters: {source: path/to/sequence}}'"


def camera_info_msg(k: Intrinsics, header: Any) -> CameraInfo:
    """The CameraInfo of an ideal pinhole camera (no distortion, P = [K | 0])."""
    info = CameraInfo(header=header, width=k.width, height=k.height)
    info.distortion_model = "plumb_bob"
    info.d = [0.0] * 5
    info.k = k.matrix().reshape(-1).tolist()
    info.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    info.p = [k.fx, 0.0, k.cx, 0.0, 0.0, k.fy, k.cy, 0.0, 0.0, 0.0, 1.0, 0.0]
    return info


def _truth_msg(view: View, header: Any) -> Detection2DArray:
    out = Detection2DArray(header=header)
    if not view.absent:
        x, y, w, h = (float(v) for v in view.box)
        det = Detection2D(header=header, id="truth")
        det.bbox.center.position.x, det.bbox.center.position.y = x + w / 2, y + h / 2
        det.bbox.size_x, det.bbox.size_y = w, h
        hyp = ObjectHypothesisWithPose()
        hyp.hypothesis.class_id, hyp.hypothesis.score = "truth", float(view.visible)
        det.results = [hyp]
        out.detections = [det]
    return out


class _Inbox:
    """What the executor thread receives, for the simulation thread: the newest commands, the
    newest status stamp and the wall time of each frame's answer (thread-safe)."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.gimbal = (0.0, 0.0, 0)  # pan, tilt, stamp
        self.twist = (0.0, 0)  # yaw rate, stamp of the newest gimbal command when it came
        self.status_stamp = 0
        self.status_wall = 0.0
        self.published: dict[int, float] = {}  # frame stamp -> wall time published
        self.answered: dict[int, float] = {}  # frame stamp -> wall time of its command

    def on_gimbal(self, msg: Vector3Stamped) -> None:
        stamp = messages.stamp_to_ns(msg.header.stamp)
        with self.cond:
            self.gimbal = (float(msg.vector.z), float(msg.vector.y), stamp)
            if stamp in self.published and stamp not in self.answered:
                self.answered[stamp] = time.monotonic()
            self.cond.notify_all()

    def on_twist(self, msg: Twist) -> None:
        with self.cond:
            self.twist = (float(msg.angular.z), self.gimbal[2])
            self.cond.notify_all()

    def on_status(self, msg: TrackerStatus) -> None:
        with self.cond:
            stamp = messages.stamp_to_ns(msg.header.stamp)
            if stamp > self.status_stamp:
                self.status_stamp, self.status_wall = stamp, time.monotonic()
            self.cond.notify_all()


class SimCameraNode(ParameterizedNode[SimSettings], LifecycleNode):
    def __init__(
        self, node_name: str = NODE_NAME, argv: Sequence[str] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(node_name, automatically_declare_parameters_from_overrides=True, **kwargs)
        self._gimbal: GimbalCamera | None = None
        self._params = NodeParameters(
            self,
            SimSettings,
            argv=argv,
            node_kwargs=kwargs,
            configured=lambda: self._gimbal is not None,
        )
        self.finalized = threading.Event()
        self._inbox = _Inbox()
        self._sim_pubs: dict[str, Any] = {}
        self._sim_subs: list[Any] = []
        self._thread: threading.Thread | None = None
        self._running = False
        self._log = SimLog(None)

    # ---------------------------------------------------------------- lifecycle
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        if self._params.report_problems():
            return FAILURE
        s = self.settings
        path = resolve_path(s.source)
        try:
            if path is not None and not path.exists():
                raise ValueError(f"source:={s.source}: no such sequence ({path})")
            seq = open_source(path, s.source_first, s.source_frames)
            self._gimbal = make_gimbal(
                seq,
                (s.camera_width, s.camera_height),
                zoom=s.camera_zoom,
                hfov_deg=s.camera_hfov_deg,
                max_rate=s.gimbal_max_rate,
                mapping=s.gimbal_mapping,
            )
        except (OSError, ValueError) as exc:
            self.get_logger().error(f"cannot configure: {exc}")
            return FAILURE
        for key, msg_type, topic in (
            ("clock", Clock, "/clock"),
            ("image", Image, "image"),
            ("info", CameraInfo, "camera_info"),
            ("truth", Detection2DArray, "sim/target"),
            ("init", InitTarget, "init_target"),
        ):
            self._sim_pubs[key] = self.create_lifecycle_publisher(msg_type, topic, RELIABLE)
        self._log = SimLog(resolve_path(s.output_csv))
        k = self._gimbal.intrinsics()
        self.get_logger().info(
            f"configured: {seq.name}, {len(seq.groundtruth)} frames at {seq.frames.fps:g} fps, "
            f"{k.width}x{k.height} window, fx={k.fx:.1f}"
        )
        return SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        inbox = self._inbox
        self._sim_subs = [
            self.create_subscription(Vector3Stamped, "gimbal/rate_cmd", inbox.on_gimbal, RELIABLE),
            self.create_subscription(Twist, "cmd_vel", inbox.on_twist, RELIABLE),
            self.create_subscription(TrackerStatus, "status", inbox.on_status, RELIABLE),
        ]
        result = super().on_activate(state)
        self._running = True
        self._thread = threading.Thread(target=self._simulate, name="sim_camera", daemon=True)
        self._thread.start()
        return result

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._stop()
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._release()
        return SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._stop()
        self._release()
        self.finalized.set()
        return SUCCESS

    def _stop(self) -> None:
        self._running = False
        with self._inbox.cond:
            self._inbox.cond.notify_all()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5.0)
        self._thread = None
        for sub in self._sim_subs:
            self.destroy_subscription(sub)
        self._sim_subs = []

    def _release(self) -> None:
        for pub in self._sim_pubs.values():
            self.destroy_lifecycle_publisher(pub)
        self._sim_pubs = {}
        self._log.close()
        self._gimbal = None

    def destroy_node(self) -> None:
        if hasattr(self, "_running"):
            self._stop()
            self._log.close()
        super().destroy_node()

    # ---------------------------------------------------------------- simulation thread
    def _wait_subscribers(self) -> None:
        s = self.settings
        wanted = [self._sim_pubs["image"]] + ([self._sim_pubs["init"]] if s.init_send else [])
        end = time.monotonic() + s.sync_wait_subscribers_s
        while self._running and time.monotonic() < end:
            if all(p.get_subscription_count() > 0 for p in wanted):
                time.sleep(0.5)  # let the subscribers' side of discovery finish too
                return
            time.sleep(0.05)
        if self._running and s.sync_wait_subscribers_s > 0:
            self.get_logger().warning("no subscriber for image / init_target yet; starting")

    def _simulate(self) -> None:
        try:
            self._run()
        except Exception as exc:  # a broken source frame must not leave a silent hang
            self.get_logger().error(f"simulation failed: {type(exc).__name__}: {exc}")
        finally:
            self._log.close()
            if self._running and self.settings.exit_when_done:
                self.get_logger().info("footage played: shutting down")
                self.finalized.set()

    def _run(self) -> None:
        gimbal, s = self._gimbal, self.settings
        assert gimbal is not None
        self._wait_subscribers()
        start_ns = int(s.sync_start_time_s * 1e9)
        dt = 1.0 / gimbal.camera.fps
        n = len(gimbal.camera)
        k = gimbal.intrinsics()
        view = gimbal.view()
        wall0 = time.monotonic()
        # rows wait up to sync.timeout_s of wall time for their command before they are logged,
        # so a late answer (real-time mode, a busy tracker) still gets its latency
        pending: deque[LogRow] = deque()
        for frame in range(n):
            if not self._running:
                return
            stamp = start_ns + int(round(gimbal.time * 1e9))
            self._publish_frame(view, stamp, k)
            if frame == 0 and s.init_send and not view.absent:
                time.sleep(0.2)  # the image must be in the tracker's buffer first
                box = [float(v) for v in view.box]
                header = messages.stamped_header(stamp, s.camera_frame_id)
                self._sim_pubs["init"].publish(
                    messages.init_target_msg(header, box, s.init_track_id)
                )
            paced_by, waited = self._pace(stamp, frame, dt, wall0)
            pan, tilt, cmd_stamp = self._command()
            state_before = gimbal.state()
            next_view = gimbal.step(pan, tilt, dt)
            after = gimbal.state()
            pending.append(
                LogRow(
                    frame,
                    stamp,
                    state_before,
                    view,
                    k.width,
                    k.height,
                    (pan, tilt),
                    cmd_stamp,
                    (after.pan_rate, after.tilt_rate),
                    float("nan"),
                    paced_by,
                    waited * 1e3,
                )
            )
            self._flush(pending, time.monotonic() - s.sync_timeout_s)
            view = next_view
        self._flush(pending, float("inf"))
        self.get_logger().info(
            f"played {n} frames in {time.monotonic() - wall0:.1f} s wall ({n * dt:.1f} s simulated)"
        )

    def _publish_frame(self, view: View, stamp: int, k: Intrinsics) -> None:
        header = messages.stamped_header(stamp, self.settings.camera_frame_id)
        self._sim_pubs["clock"].publish(Clock(clock=messages.time_from_ns(stamp)))
        with self._inbox.cond:
            self._inbox.published[stamp] = time.monotonic()
        self._sim_pubs["info"].publish(camera_info_msg(k, header))
        self._sim_pubs["image"].publish(messages.image_msg(view.image, header))
        self._sim_pubs["truth"].publish(_truth_msg(view, header))

    def _pace(self, stamp: int, frame: int, dt: float, wall0: float) -> tuple[str, float]:
        """Wait until frame ``frame`` (stamped ``stamp``) may be left; returns why and how long
        it waited (wall seconds)."""
        s, inbox = self.settings, self._inbox
        start = time.monotonic()
        if not s.sync_lockstep:
            due = wall0 + (frame + 1) * dt / s.sync_real_time_factor
            time.sleep(max(0.0, due - time.monotonic()))
            return "realtime", time.monotonic() - start
        end = start + s.sync_timeout_s
        with inbox.cond:
            while self._running:
                now = time.monotonic()
                if inbox.gimbal[2] >= stamp:
                    return "command", now - start
                if inbox.status_stamp >= stamp and now - inbox.status_wall >= s.sync_grace_s:
                    return "status", now - start
                if now >= end:
                    return "timeout", now - start
                wake = end
                if inbox.status_stamp >= stamp:
                    wake = min(wake, inbox.status_wall + s.sync_grace_s)
                inbox.cond.wait(timeout=max(0.0, wake - now))
        return "stopped", time.monotonic() - start

    def _command(self) -> tuple[float, float, int]:
        """``(pan, tilt, stamp)`` to hold over the next time step, by ``drive``."""
        drive = self.settings.drive
        with self._inbox.cond:
            pan, tilt, stamp = self._inbox.gimbal
            yaw, _ = self._inbox.twist
        if drive == "none":
            return 0.0, 0.0, stamp
        if drive == "cmd_vel":
            return yaw, 0.0, stamp
        return pan, tilt, stamp

    def _flush(self, pending: deque[LogRow], published_before: float) -> None:
        """Log the pending rows of frames published before ``published_before`` (wall time),
        each with its latency: wall ms from publishing the frame to receiving the first command
        stamped with it (NaN: none came; a frame the tracker skipped, or the follower stopped
        without an answer)."""
        inbox = self._inbox
        while pending:
            row = pending[0]
            with inbox.cond:
                published = inbox.published.get(row.stamp_ns)
                if published is not None and published >= published_before:
                    return
                inbox.published.pop(row.stamp_ns, None)
                answered = inbox.answered.pop(row.stamp_ns, None)
            latency = float("nan")
            if published is not None and answered is not None:
                latency = (answered - published) * 1e3
            self._log.write(dataclasses.replace(pending.popleft(), latency_ms=latency))


def main(args: list[str] | None = None) -> int:
    """Run the simulator until the footage is played (``exit_when_done``) or Ctrl-C."""
    return run_lifecycle_node(NODE_NAME, lambda: SimCameraNode(argv=args), args, PARAMS_EXAMPLE)


if __name__ == "__main__":
    raise SystemExit(main())
