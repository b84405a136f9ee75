"""``tracker_node``: camera images + a stamped init box in, Detection2D + status + debug out.

Threads: the executor thread only files incoming frames (a cheap header check, the ring buffer,
the one-frame mailbox) and init/stop requests; a worker thread decodes and tracks, always on the
newest frame. Frames that arrive while the tracker is busy replace the waiting one and are counted
as dropped, so latency stays bounded at any camera rate. Bad input (malformed images, NaN or
out-of-frame boxes, tracker exceptions) becomes a throttled warning; the node keeps running.

Topics (relative, remap as needed): subscribes ``image`` (or ``image/compressed``),
``init_target`` (InitTarget), ``init_detection`` (vision_msgs/Detection2D); publishes
``detection`` (Detection2D), ``status`` (TrackerStatus), ``debug/image`` and ``debug/response``
(bgr8, computed only while subscribed), ``/diagnostics``. Services ``~/stop`` (stop tracking)
and ``~/reset`` (stop and also clear buffered frames and counters), both std_srvs/Trigger.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import SetParametersResult
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header
from std_srvs.srv import Trigger
from vision_msgs.msg import Detection2D

from siam_tracker_ros.core.result import TrackState
from siam_tracker_ros.msg import InitTarget, TrackerStatus
from siam_tracker_ros.process_memory import peak_rss_mib, rss_mib
from siam_tracker_ros.ros import messages
from siam_tracker_ros.ros.frame_buffer import Frame, FrameBuffer, LatestSlot
from siam_tracker_ros.ros.image_conversion import check_image, compressed_to_bgr, image_to_bgr
from siam_tracker_ros.ros.params import PARAMS, NodeSettings, check_update, resolve_path
from siam_tracker_ros.ros.session import (
    InitRequest,
    SessionStep,
    TrackerLike,
    TrackingSession,
)
from siam_tracker_ros.ros.visualization import draw_track, response_heatmap

__all__ = ["TrackerNode", "build_tracker", "main"]

TrackerFactory = Callable[[NodeSettings], TrackerLike]


def build_tracker(settings: NodeSettings) -> TrackerLike:
    """The real tracker from the model parameters (imported here: torch loads only when used).

    ``model.checkpoint`` wins over ``model.config`` (+ ``model.weights``); with neither set the
    bundled model is used (``core.defaults``)."""
    import torch

    from siam_tracker_ros.core.defaults import load_tracker

    threads = settings.model_num_threads if settings.model_num_threads > 0 else None
    if threads is not None:
        torch.set_num_threads(threads)
    checkpoint = resolve_path(settings.model_checkpoint)
    if checkpoint is not None:
        return load_tracker(checkpoint, device=settings.model_device, cpu_threads=threads)
    return load_tracker(resolve_path(settings.model_config), resolve_path(settings.model_weights),
                        device=settings.model_device, cpu_threads=threads)


def decode_frame(frame: Frame) -> np.ndarray:
    return compressed_to_bgr(frame.msg.data) if frame.compressed else image_to_bgr(frame.msg)


class TrackerNode(Node):
    def __init__(self, tracker_factory: TrackerFactory | None = None,
                 node_name: str = "tracker_node", **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        for spec in PARAMS:
            self.declare_parameter(spec.name, spec.default, spec.descriptor())
        self.settings = NodeSettings.from_values(
            {p.name: self.get_parameter(p.name).value for p in PARAMS})
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self.add_post_set_parameters_callback(self._after_set_parameters)

        tracker = (tracker_factory or build_tracker)(self.settings)
        if self.settings.model_warmup:
            self._warm_up(tracker)
        self._session = TrackingSession(tracker, decode_frame)
        self._buffer = FrameBuffer(self.settings.input_buffer_size)
        self._slot = LatestSlot()
        self._lock = threading.Lock()  # held by the worker for one step; services take it too
        self._pending_init: InitRequest | None = None
        self._pending_lock = threading.Lock()
        self._latencies: deque[float] = deque(maxlen=300)
        self._processing: deque[float] = deque(maxlen=300)
        self._process_times: deque[float] = deque(maxlen=1000)
        self._frames_received = 0
        self._frames_malformed = 0
        self._track_errors = 0
        self._last_processed = 0.0
        self._last_debug = 0.0
        self._warned: dict[str, tuple[float, int]] = {}
        self._warn_lock = threading.Lock()

        reliability = (ReliabilityPolicy.RELIABLE if self.settings.input_reliability == "reliable"
                       else ReliabilityPolicy.BEST_EFFORT)
        camera_qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1,
                                reliability=reliability,
                                durability=qos_profile_sensor_data.durability)
        if self.settings.input_compressed:
            self.create_subscription(CompressedImage, "image/compressed",
                                     self._on_compressed, camera_qos)
        else:
            self.create_subscription(Image, "image", self._on_image, camera_qos)
        reliable = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10,
                              reliability=ReliabilityPolicy.RELIABLE)
        self.create_subscription(InitTarget, "init_target", self._on_init_target, reliable)
        self.create_subscription(Detection2D, "init_detection", self._on_init_detection, reliable)
        self._pub_det = self.create_publisher(Detection2D, "detection", reliable)
        self._pub_status = self.create_publisher(TrackerStatus, "status", reliable)
        self._pub_debug = self.create_publisher(Image, "debug/image", reliable)
        self._pub_heat = self.create_publisher(Image, "debug/response", reliable)
        self._pub_diag = self.create_publisher(DiagnosticArray, "/diagnostics", reliable)
        self.create_service(Trigger, "~/stop", self._on_stop)
        self.create_service(Trigger, "~/reset", self._on_reset)
        self._diag_timer = self.create_timer(self.settings.diagnostics_period_s,
                                             self._publish_diagnostics)

        self._running = True
        self._worker = threading.Thread(target=self._work, name="tracker_worker", daemon=True)
        self._worker.start()
        self.get_logger().info("ready: waiting for images on "
                               f"{self.resolve_topic_name('image')} and an init target")

    # ---------------------------------------------------------------- parameters
    def _current_values(self) -> dict[str, Any]:
        return self.settings.as_values()

    def _on_set_parameters(self, params: list[Parameter]) -> SetParametersResult:
        reason = check_update(self._current_values(), {p.name: p.value for p in params})
        return SetParametersResult(successful=reason is None, reason=reason or "")

    def _after_set_parameters(self, params: list[Parameter]) -> None:
        values = self._current_values()
        values.update({p.name: p.value for p in params})
        old, self.settings = self.settings, NodeSettings.from_values(values)
        if self.settings.input_buffer_size != old.input_buffer_size:
            self._buffer.resize(self.settings.input_buffer_size)
        if self.settings.diagnostics_period_s != old.diagnostics_period_s:
            self._diag_timer.cancel()
            self.destroy_timer(self._diag_timer)
            self._diag_timer = self.create_timer(self.settings.diagnostics_period_s,
                                                 self._publish_diagnostics)
        self.get_logger().info("parameters updated: " + ", ".join(
            f"{p.name}={p.value}" for p in params))

    # ---------------------------------------------------------------- input (executor thread)
    def _warn(self, kind: str, text: str) -> None:
        """Warn at most once per ``log.throttle_s`` per kind, saying how many were suppressed.
        (rclpy's own ``throttle_duration_sec`` cannot change between calls of one call site,
        so it could not follow the run-time parameter.)"""
        now = time.monotonic()
        with self._warn_lock:
            last, suppressed = self._warned.get(kind, (-float("inf"), 0))
            if now - last < self.settings.log_throttle_s:
                self._warned[kind] = (last, suppressed + 1)
                return
            self._warned[kind] = (now, 0)
        more = f" ({suppressed} similar warnings suppressed)" if suppressed else ""
        self.get_logger().warning(text + more)

    def _on_image(self, msg: Image) -> None:
        try:
            check_image(msg)
        except ValueError as exc:
            self._frames_malformed += 1
            self._warn("image",
                       f"dropping malformed image ({self._frames_malformed} so far): {exc}")
            return
        self._file_frame(msg, compressed=False)

    def _on_compressed(self, msg: CompressedImage) -> None:
        if len(msg.data) == 0:
            self._frames_malformed += 1
            self._warn("image", "dropping empty compressed image")
            return
        self._file_frame(msg, compressed=True)

    def _file_frame(self, msg: Image | CompressedImage, compressed: bool) -> None:
        self._frames_received += 1
        frame = Frame(messages.stamp_to_ns(msg.header.stamp), msg, compressed,
                      self.get_clock().now().nanoseconds)
        self._buffer.add(frame)
        self._slot.put(frame, count_drop=self._session.active)

    def _on_init_target(self, msg: InitTarget) -> None:
        self._request_init(messages.init_target_to_request(msg))

    def _on_init_detection(self, msg: Detection2D) -> None:
        self._request_init(messages.detection_to_request(msg))

    def _request_init(self, request: InitRequest) -> None:
        if not np.all(np.isfinite(request.box)):
            self._warn("init", f"ignoring init box with non-finite values: {request.box}")
            return
        with self._pending_lock:
            self._pending_init = request
        self._slot.wake()

    def _on_stop(self, _req: Trigger.Request, resp: Trigger.Response) -> Trigger.Response:
        with self._lock:
            with self._pending_lock:
                self._pending_init = None
            was = self._session.state
            self._session.stop()
        self._publish_idle_status()
        resp.success, resp.message = True, f"stopped (was {was.name.lower()})"
        return resp

    def _on_reset(self, _req: Trigger.Request, resp: Trigger.Response) -> Trigger.Response:
        with self._lock:
            with self._pending_lock:
                self._pending_init = None
            self._session.stop()
            self._buffer.clear()
            self._slot.clear()
            self._slot.reset_count()
            self._latencies.clear()
            self._processing.clear()
            self._frames_malformed = self._track_errors = 0
        self._publish_idle_status()
        resp.success, resp.message = True, "reset: idle, frame buffer and counters cleared"
        return resp

    # ---------------------------------------------------------------- worker thread
    def _work(self) -> None:
        while self._running:
            frame = self._slot.take(timeout=0.1)
            with self._lock:
                with self._pending_lock:
                    request, self._pending_init = self._pending_init, None
                if request is not None:
                    self._handle_init(request)
                if frame is None or not self._session.active:
                    continue
                cap = self.settings.output_max_rate_hz
                now = time.monotonic()
                if cap > 0 and now - self._last_processed < 1.0 / cap:
                    self._slot.note_dropped()
                    continue
                try:
                    step = self._session.step(frame)
                except ValueError as exc:
                    self._track_errors += 1
                    self._warn("track", f"skipping frame: {exc}")
                    continue
                except Exception as exc:  # a tracker failure must not kill the node
                    self._track_errors += 1
                    self._warn("track",
                               f"tracker failed on a frame ({type(exc).__name__}: {exc})")
                    continue
                if step is not None:
                    self._last_processed = now
                    self._publish(step)

    def _handle_init(self, request: InitRequest) -> None:
        try:
            step = self._session.initialise(
                request, self._buffer, int(self.settings.init_stamp_tolerance_ms * 1e6),
                self.settings.init_catch_up_max_frames)
        except ValueError as exc:  # InitError, or a malformed buffered frame
            self._warn("init", f"init rejected: {exc}")
            return
        except Exception as exc:
            self._track_errors += 1
            self._warn("init", f"tracker init failed ({type(exc).__name__}: {exc})")
            return
        self._slot.reset_count()
        self.get_logger().info(
            f"tracking {self._session.track_id}: box {np.round(request.box, 1).tolist()} "
            f"on frame stamped {request.stamp_ns / 1e9:.3f} s")
        if step is not None:
            self._last_processed = time.monotonic()
            self._publish(step)

    # ---------------------------------------------------------------- output
    def _publish(self, step: SessionStep) -> None:
        header = step.frame.msg.header
        r = step.result
        latency = (self.get_clock().now().nanoseconds - step.frame.stamp_ns) / 1e6
        present = bool(r.present) and r.state != TrackState.LOST
        if (present or self.settings.output_publish_lost) and (
                r.score >= self.settings.output_min_score):
            self._pub_det.publish(messages.detection_from_result(r, header, step.track_id))
        now = time.monotonic()
        self._process_times.append(now)
        self._latencies.append(latency)
        self._processing.append(step.processing_ms)
        self._pub_status.publish(messages.status_msg(
            header, self._session.state, r.score, present, step.track_id, step.frames_lost,
            latency, step.processing_ms, self._session.frames_processed, self._slot.dropped,
            self._rate_hz(now)))
        self._publish_debug(step, now)

    def _publish_debug(self, step: SessionStep, now: float) -> None:
        if not self.settings.debug_enabled:
            return
        cap = self.settings.debug_max_rate_hz
        if cap > 0 and now - self._last_debug < 1.0 / cap:
            return
        want_image = self._pub_debug.get_subscription_count() > 0
        want_heat = self._pub_heat.get_subscription_count() > 0
        if not (want_image or want_heat):
            return
        self._last_debug = now
        header = step.frame.msg.header
        r = step.result
        if want_image:
            img = draw_track(step.image, r.box, r.score, self._session.state, step.track_id,
                             r.search_box)
            self._pub_debug.publish(messages.image_msg(img, header))
        if want_heat and r.response is not None and np.size(r.response) > 0:
            heat = response_heatmap(r.response, self.settings.debug_heatmap_size)
            self._pub_heat.publish(messages.image_msg(heat, header))

    def _publish_idle_status(self) -> None:
        header = Header(stamp=self.get_clock().now().to_msg())
        self._pub_status.publish(messages.status_msg(
            header, TrackState.IDLE, 0.0, False, "", 0, 0.0, 0.0, 0, self._slot.dropped, 0.0))

    def _rate_hz(self, now: float) -> float:
        return float(sum(1 for t in self._process_times if now - t <= 1.0))

    def _publish_diagnostics(self) -> None:
        lat = np.asarray(self._latencies, dtype=np.float64)
        proc = np.asarray(self._processing, dtype=np.float64)
        p50, p95 = (np.percentile(lat, [50, 95]) if lat.size else (float("nan"),) * 2)
        state = self._session.state
        level, text = 0, state.name.lower()
        if state == TrackState.LOST:
            level, text = 1, "target lost"
        if lat.size and p95 > self.settings.diagnostics_max_latency_ms:
            level, text = 1, f"p95 latency {p95:.0f} ms above limit"
        values = {
            "state": state.name.lower(), "track_id": self._session.track_id,
            "rate_hz": self._rate_hz(time.monotonic()),
            "latency_p50_ms": float(p50), "latency_p95_ms": float(p95),
            "processing_mean_ms": float(proc.mean()) if proc.size else float("nan"),
            "frames_received": self._frames_received,
            "frames_processed": self._session.frames_processed,
            "frames_dropped": self._slot.dropped, "frames_malformed": self._frames_malformed,
            "tracker_errors": self._track_errors,
            "rss_mib": rss_mib(), "peak_rss_mib": peak_rss_mib(),
        }
        self._pub_diag.publish(messages.diagnostics_msg(
            self.get_clock().now().to_msg(), f"{self.get_name()}: tracking", level, text,
            values))

    # ---------------------------------------------------------------- lifecycle
    @staticmethod
    def _warm_up(tracker: TrackerLike) -> None:
        rng = np.random.default_rng(0)
        img = rng.integers(0, 255, (240, 320, 3), dtype=np.uint8)
        tracker.init(img, (140.0, 100.0, 40.0, 40.0))
        tracker.track(img)
        tracker.reset()

    def destroy_node(self) -> None:
        self._running = False
        self._slot.wake()
        self._worker.join(timeout=2.0)
        super().destroy_node()


def main(args: list[str] | None = None, tracker_factory: TrackerFactory | None = None) -> int:
    rclpy.init(args=args)
    node: TrackerNode | None = None
    try:
        node = TrackerNode(tracker_factory)
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
