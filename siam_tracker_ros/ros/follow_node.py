"""``follow_node``: the tracker's box in, motion commands out (a robot or a gimbal follows it).

A managed (lifecycle) node like ``tracker_node``, built from the shared parts (parameters,
process main). ``configure`` creates the publishers; ``activate`` subscribes and starts the
control timer; ``deactivate`` publishes zero, then stops all work; ``shutdown`` (from any state,
also Ctrl-C) publishes zero before the node goes away.

Topics (relative, remap as needed): subscribes ``detection`` (vision_msgs/Detection2D, the
tracker's box with its track id), ``status`` (TrackerStatus), ``camera_info``
(sensor_msgs/CameraInfo of the image the boxes are drawn on); publishes ``cmd_vel``
(geometry_msgs/Twist, REP-103: ``angular.z`` yaw rate > 0 turns left to centre the target,
``linear.x`` forward speed to hold its apparent size), ``gimbal/rate_cmd``
(geometry_msgs/Vector3Stamped angular rates: ``z`` pan, ``y`` tilt > 0 pitching down; stamped
with the frame stamp the command accounts for, so the loop latency is measurable) and
``/diagnostics`` (every stop with its reason at once, and the state every
``diagnostics.period_s``).

The control law is :mod:`~siam_tracker_ros.ros.follow_control`, the safety rules (when a box may
move the robot, when the command must be zero) :mod:`~siam_tracker_ros.ros.follow_safety`; this
module only moves messages between them and ROS. Every callback runs on the one executor thread
(no locks). Times are the node clock (``use_sim_time`` follows ``/clock``) against frame stamps.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Sequence
from typing import Any

from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import Twist, Vector3Stamped
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.qos import HistoryPolicy, QoSProfile, qos_profile_sensor_data
from rclpy.signals import uninstall_signal_handlers
from sensor_msgs.msg import CameraInfo
from vision_msgs.msg import Detection2D

from siam_tracker_ros.msg import TrackerStatus
from siam_tracker_ros.ros import messages
from siam_tracker_ros.ros.diagnostics import OK, WARN
from siam_tracker_ros.ros.follow_control import CameraModel, TargetBox
from siam_tracker_ros.ros.follow_params import NODE_NAME, FollowSettings
from siam_tracker_ros.ros.follow_safety import (
    WARN_REASONS,
    FollowSupervisor,
    Output,
    TrackerReport,
)
from siam_tracker_ros.ros.lifecycle_main import run_lifecycle_node
from siam_tracker_ros.ros.node_parameters import NodeParameters, ParameterizedNode
from siam_tracker_ros.ros.qos import RELIABLE, input_reliability
from siam_tracker_ros.ros.throttle import WarningThrottle

__all__ = ["FollowNode", "box_from_detection", "camera_from_info", "main"]

SUCCESS, FAILURE = TransitionCallbackReturn.SUCCESS, TransitionCallbackReturn.FAILURE
PARAMS_EXAMPLE = "'/**: {ros__parameters: {yaw: {kp: 2.0}}}'"


def box_from_detection(msg: Detection2D) -> TargetBox:
    """The box of a Detection2D (centre + size in pixels, score of its first hypothesis, 1.0
    without one)."""
    score = float(msg.results[0].hypothesis.score) if msg.results else 1.0
    return TargetBox(
        messages.stamp_to_ns(msg.header.stamp),
        msg.id,
        float(msg.bbox.center.position.x),
        float(msg.bbox.center.position.y),
        float(msg.bbox.size_x),
        float(msg.bbox.size_y),
        score,
        msg.header.frame_id,
    )


def camera_from_info(msg: CameraInfo) -> CameraModel:
    """The camera model of a CameraInfo (``ValueError`` with one line when unusable)."""
    return CameraModel.from_k(
        list(msg.k),
        int(msg.width),
        int(msg.height),
        list(msg.d),
        str(msg.distortion_model),
        msg.header.frame_id,
    )


class FollowNode(ParameterizedNode[FollowSettings], LifecycleNode):
    def __init__(
        self, node_name: str = NODE_NAME, argv: Sequence[str] | None = None, **kwargs: Any
    ) -> None:
        """``argv``: what ``rclpy.init`` was given (read back to catch dropped overrides);
        ``kwargs`` go to ``LifecycleNode``."""
        super().__init__(node_name, automatically_declare_parameters_from_overrides=True, **kwargs)
        self._configured = False
        self._params = NodeParameters(
            self,
            FollowSettings,
            argv=argv,
            node_kwargs=kwargs,
            configured=lambda: self._configured,
            on_change=self._settings_changed,
        )
        self.finalized = threading.Event()
        s = self.settings
        self._supervisor = FollowSupervisor(s.safety(), s.control())
        self._throttle = WarningThrottle(
            self.get_logger().warning, lambda: self.settings.log_throttle_s
        )
        self._follow_pubs: dict[str, Any] = {}
        self._follow_subs: list[Any] = []
        self._follow_timers: dict[str, Any] = {}
        self._active = False
        self._frame_id = ""
        self._camera_key: tuple[Any, ...] | None = None
        self._last_reason = "no_target"

    # ---------------------------------------------------------------- parameters
    def _settings_changed(self, old: FollowSettings, new: FollowSettings) -> None:
        self._supervisor.configure(new.safety(), new.control())
        if self._active and old.enabled and not new.enabled:
            self._publish(self._supervisor.stop("disabled", self._now()))
        if self._active and new.control_rate_hz != old.control_rate_hz:
            self._start_timer("control", 1.0 / new.control_rate_hz, self._on_tick)
        if self._active and new.diagnostics_period_s != old.diagnostics_period_s:
            self._start_timer("diag", new.diagnostics_period_s, self._publish_diagnostics)

    # ---------------------------------------------------------------- lifecycle
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        if self._params.report_problems():
            return FAILURE
        s = self.settings
        if s.output_cmd_vel:
            self._follow_pubs["cmd_vel"] = self.create_lifecycle_publisher(
                Twist, "cmd_vel", RELIABLE
            )
        if s.output_gimbal:
            self._follow_pubs["gimbal"] = self.create_lifecycle_publisher(
                Vector3Stamped, "gimbal/rate_cmd", RELIABLE
            )
        self._follow_pubs["diag"] = self.create_lifecycle_publisher(
            DiagnosticArray, "/diagnostics", RELIABLE
        )
        self._supervisor = FollowSupervisor(s.safety(), s.control())
        self._camera_key = None  # the new supervisor has no camera yet: take the next one
        self._configured = True
        outputs = [name for name in ("cmd_vel", "gimbal") if name in self._follow_pubs]
        self.get_logger().info(f"configured: publishing {', '.join(outputs) or 'nothing'}")
        return SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        s = self.settings
        reliability = input_reliability(s.input_reliability)
        inputs = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10, reliability=reliability)
        self._follow_subs = [
            self.create_subscription(Detection2D, "detection", self._on_detection, inputs),
            self.create_subscription(TrackerStatus, "status", self._on_status, inputs),
            self.create_subscription(
                CameraInfo, "camera_info", self._on_camera_info, qos_profile_sensor_data
            ),
        ]
        self._supervisor.restart()  # nothing from before a deactivation is acted on
        self._last_reason = "no_target"
        self._start_timer("control", 1.0 / s.control_rate_hz, self._on_tick)
        self._start_timer("diag", s.diagnostics_period_s, self._publish_diagnostics)
        result = super().on_activate(state)
        self._active = True
        self.get_logger().info(
            "active: following boxes on "
            f"{self.resolve_topic_name('detection')} (enabled={s.enabled})"
        )
        return result

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._stop_work("deactivated")
        self.get_logger().info("inactive: zero published, not following")
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._release()
        return SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._stop_work("shutdown")
        self._release()
        self.finalized.set()
        return SUCCESS

    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._stop_work("shutdown")
        self._release()
        return SUCCESS

    def _start_timer(self, key: str, period: float, callback: Any) -> None:
        old = self._follow_timers.pop(key, None)
        if old is not None:
            self.destroy_timer(old)
        self._follow_timers[key] = self.create_timer(period, callback)

    def _stop_work(self, reason: str) -> None:
        """Publish zero (while the publishers are still active), then drop the subscriptions
        and timers."""
        if self._active:
            self._publish(self._supervisor.stop(reason, self._now()))
        self._active = False
        for sub in self._follow_subs:
            self.destroy_subscription(sub)
        self._follow_subs = []
        for timer in self._follow_timers.values():
            self.destroy_timer(timer)
        self._follow_timers = {}

    def _release(self) -> None:
        for pub in self._follow_pubs.values():
            self.destroy_lifecycle_publisher(pub)
        self._follow_pubs = {}
        self._configured = False

    def destroy_node(self) -> None:
        """Ctrl-C / process end: zero first (when the context still allows publishing)."""
        if getattr(self, "_active", False):
            with contextlib.suppress(Exception):
                self._stop_work("shutdown")
        super().destroy_node()

    # ---------------------------------------------------------------- input
    def _now(self) -> int:
        return int(self.get_clock().now().nanoseconds)

    def _on_detection(self, msg: Detection2D) -> None:
        box = box_from_detection(msg)
        if not box.valid():  # a non-finite value or an empty box: stop, never hold on
            self._throttle.warn("box", f"stopping on a detection with an unusable box: {box}")
            self._publish(self._supervisor.stop("bad_box", self._now(), f"unusable box {box}"))
            return
        self._frame_id = msg.header.frame_id
        self._publish(self._supervisor.on_box(box, self._now()))

    def _on_status(self, msg: TrackerStatus) -> None:
        report = TrackerReport(messages.stamp_to_ns(msg.header.stamp), int(msg.state), msg.track_id)
        self._publish(self._supervisor.on_status(report, self._now()))

    def _on_camera_info(self, msg: CameraInfo) -> None:
        key = (
            tuple(msg.k),
            msg.width,
            msg.height,
            tuple(msg.d),
            msg.distortion_model,
            msg.header.frame_id,
        )
        if key == self._camera_key:
            return
        try:
            camera = camera_from_info(msg)
        except ValueError as exc:
            self._throttle.warn("camera_info", f"camera_info not usable, not following: {exc}")
            self._supervisor.set_camera(None)
            self._camera_key = None
            return
        if camera.ignored_model:
            self.get_logger().warning(
                f"camera_info distortion model {camera.ignored_model!r} is not supported: "
                "bearings ignore the distortion (use a rectified image and its camera_info)"
            )
        self._camera_key = key
        self._supervisor.set_camera(camera)
        self.get_logger().info(
            f"camera: {camera.width}x{camera.height}, fx={camera.fx:.1f} fy={camera.fy:.1f}"
        )

    def _on_tick(self) -> None:
        self._publish(self._supervisor.tick(self._now()))

    # ---------------------------------------------------------------- output
    def _publish(self, out: Output | None) -> None:
        if out is None or not self._follow_pubs:
            return
        if out.publish:
            c = out.command
            pub = self._follow_pubs.get("cmd_vel")
            if pub is not None:
                twist = Twist()
                twist.linear.x = float(c.forward)
                twist.angular.z = float(c.yaw_rate)
                pub.publish(twist)
            pub = self._follow_pubs.get("gimbal")
            if pub is not None:
                rates = Vector3Stamped(
                    header=messages.stamped_header(
                        out.stamp_ns, self.settings.output_gimbal_frame_id or self._frame_id
                    )
                )
                rates.vector.y = float(c.pitch_rate)
                rates.vector.z = float(c.yaw_rate)
                pub.publish(rates)
        if out.changed:
            self._log_change(out)
            self._publish_diagnostics()

    def _log_change(self, out: Output) -> None:
        """One line per stop and per start of following (not per slowed/normal switch: that
        can flip every frame; /diagnostics has it)."""
        was, self._last_reason = self._last_reason, out.reason
        if out.reason == "":
            if was != "":
                self.get_logger().info(f"following {out.track_id}")
        elif out.reason in WARN_REASONS:
            self._throttle.warn(f"stop:{out.reason}", f"stopped: {out.reason}: {out.detail}")
        else:
            self.get_logger().info(f"stopped: {out.reason}: {out.detail}")

    def _publish_diagnostics(self) -> None:
        pub = self._follow_pubs.get("diag")
        if pub is None:
            return
        sup = self._supervisor
        level = WARN if sup.reason in WARN_REASONS else OK
        text = "following" if sup.following else f"stopped: {sup.reason}"
        if sup.note and sup.following:
            text += f" ({sup.note})"
        pub.publish(
            messages.diagnostics_msg(
                self.get_clock().now().to_msg(),
                f"{self.get_name()}: follow",
                level,
                text,
                sup.snapshot(self._now()),
            )
        )


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _make_node(args: list[str] | None) -> FollowNode:
    """The node, with SIGINT / SIGTERM handled by Python instead of rclpy.

    rclpy's own handlers shut the ROS context down from the signal, before any Python code runs,
    so ``destroy_node`` could no longer publish the final zero; without them the signal is a
    ``KeyboardInterrupt`` in the spinning main thread and the teardown
    (:func:`~siam_tracker_ros.ros.lifecycle_main.run_lifecycle_node`: ``destroy_node``, then
    ``rclpy.try_shutdown``) runs with the context still valid."""
    uninstall_signal_handlers()
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    return FollowNode(argv=args)


def main(args: list[str] | None = None) -> int:
    """Run the node until Ctrl-C, SIGTERM or ``ros2 lifecycle set /follow_node shutdown`` (zero
    is published first in every case)."""
    return run_lifecycle_node(NODE_NAME, lambda: _make_node(args), args, PARAMS_EXAMPLE)


if __name__ == "__main__":
    raise SystemExit(main())
