"""``tracker_node``: camera images + a stamped init box in, Detection2D + status + debug out.

A managed (lifecycle) node. ``configure`` reads the parameters and loads and warms the model;
``activate`` subscribes and starts the worker; ``deactivate`` stops all work (no subscriptions, no
worker, no timers: the camera costs nothing); ``cleanup`` frees the model; ``shutdown`` works from
any state and ends the process. With ``autostart`` (the default) the node configures and
activates itself at start-up and exits non-zero, with one error line, when it cannot; with
``autostart:=false`` it waits, unconfigured, for ``ros2 lifecycle set``, and a failed
``configure`` leaves it unconfigured (one error line) so a fixed parameter can be tried again.

Threads: the executor thread only files incoming frames (a cheap header check, the ring buffer,
the one-frame mailbox) and init/stop requests; a worker thread decodes and tracks, always on the
newest frame. Frames that arrive while the tracker is busy replace the waiting one and are counted
as dropped, so latency stays bounded at any camera rate. Bad input (malformed images, NaN or
out-of-frame boxes, tracker exceptions) becomes a throttled warning; the node keeps running.

Topics (relative, remap as needed): subscribes ``image`` (or ``image/compressed``),
``init_target`` (InitTarget), ``init_detection`` (vision_msgs/Detection2D); publishes
``detection`` (Detection2D), ``detections`` (vision_msgs/Detection2DArray: the same detection, or
an empty array when there is none), ``status`` (TrackerStatus), ``debug/image`` and
``debug/response`` (bgr8, computed only while subscribed), ``/diagnostics``. Services ``~/stop``
(stop tracking) and ``~/reset`` (stop and also clear buffered frames and counters), both
std_srvs/Trigger, exist while active.
"""

from __future__ import annotations

import contextlib
import gc
import re
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import SetParametersResult
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.parameter import Parameter
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header
from std_srvs.srv import Trigger
from vision_msgs.msg import Detection2D, Detection2DArray

from siam_tracker_ros.core.result import TrackState
from siam_tracker_ros.msg import InitTarget, TrackerStatus
from siam_tracker_ros.process_memory import peak_rss_mib, rss_mib
from siam_tracker_ros.ros import messages
from siam_tracker_ros.ros.frame_buffer import Frame, FrameBuffer, LatestSlot
from siam_tracker_ros.ros.image_conversion import (
    DEFAULT_LIMITS,
    ImageLimits,
    check_compressed,
    check_image,
    compressed_to_bgr,
    image_to_bgr,
)
from siam_tracker_ros.ros.params import (
    PARAMS,
    SPECS,
    TUNABLE_NAMES,
    TUNABLES,
    NodeSettings,
    StartupError,
    TunableTracker,
    check_model_files,
    check_update,
    resolve_path,
    tunable_overrides,
    tunable_reason,
    tunable_values,
)
from siam_tracker_ros.ros.session import (
    InitRequest,
    SessionStep,
    StreamPolicy,
    TrackerLike,
    TrackingSession,
)
from siam_tracker_ros.ros.visualization import draw_track, response_heatmap

__all__ = ["TrackerNode", "build_tracker", "main"]

TrackerFactory = Callable[[NodeSettings], TrackerLike]
SUCCESS, FAILURE = TransitionCallbackReturn.SUCCESS, TransitionCallbackReturn.FAILURE
#: Parameters rclpy itself declares on every node (never reported as unknown).
ROS_OWN_PARAMS = ("use_sim_time", "start_type_description_service")
#: Prefix of parameters declared by ``configure`` (tracker settings whose defaults are the loaded
#: model's); their overrides are kept in ``_late_overrides`` until then, not reported as unknown.
LATE_PREFIX = "tracker."


def build_tracker(settings: NodeSettings) -> TrackerLike:
    """The real tracker from the model parameters (imported here: torch loads only when used).

    ``model.checkpoint`` wins over ``model.config`` (+ ``model.weights``); with neither set the
    bundled model is used (``core.defaults``). Raises :class:`StartupError` with one line naming
    the parameter, what is wrong and what to do (missing/empty file, CUDA without a GPU, a file
    the loader refuses)."""
    check_model_files(settings)
    import torch

    from siam_tracker_ros.core.defaults import load_tracker

    if settings.model_device.startswith("cuda") and not torch.cuda.is_available():
        why = (
            "this torch build has no CUDA"
            if torch.version.cuda is None
            else "no CUDA device is visible"
        )
        raise StartupError(
            f"model.device:={settings.model_device}, but CUDA is not available "
            f"({why}; torch {torch.__version__}); set -p model.device:=cpu, or "
            "install a CUDA build of torch on a machine with a GPU"
        )
    threads = settings.model_num_threads if settings.model_num_threads > 0 else None
    if threads is not None:
        torch.set_num_threads(threads)
    checkpoint = resolve_path(settings.model_checkpoint)
    source = (
        f"model.checkpoint:={settings.model_checkpoint}"
        if checkpoint is not None
        else f"model.config:={settings.model_config!r} model.weights:={settings.model_weights!r}"
    )
    try:
        if checkpoint is not None:
            return load_tracker(checkpoint, device=settings.model_device, cpu_threads=threads)
        return load_tracker(
            resolve_path(settings.model_config),
            resolve_path(settings.model_weights),
            device=settings.model_device,
            cpu_threads=threads,
        )
    except StartupError:
        raise
    except Exception as exc:  # the loaders' own errors, stated as the node's start-up problem
        detail = str(exc).strip() or "no details given"
        raise StartupError(
            f"cannot load the model from {source}: {type(exc).__name__}: "
            f"{detail}; point model.* at a valid file (leave all three empty "
            "for the bundled model)"
        ) from exc


def decode_frame(frame: Frame, limits: ImageLimits = DEFAULT_LIMITS) -> np.ndarray:
    if frame.compressed:
        return compressed_to_bgr(frame.msg.data, limits)
    return image_to_bgr(frame.msg, limits)


class TrackerNode(LifecycleNode):
    def __init__(
        self,
        tracker_factory: TrackerFactory | None = None,
        node_name: str = "tracker_node",
        **kwargs: Any,
    ) -> None:
        # Overrides are declared as they come so that every one can be checked here: a wrong
        # type becomes one clear line (not an rclpy traceback), an unknown name a warning.
        super().__init__(node_name, automatically_declare_parameters_from_overrides=True, **kwargs)
        self._factory = tracker_factory or build_tracker
        #: start-up problems by parameter name; configure refuses while any is left
        self._problems: dict[str, str] = {}
        #: overrides of parameters that configure declares (``tracker.*``: their defaults come
        #: from the loaded model), kept from the command line / params file until then
        self._late_overrides: dict[str, Any] = {}
        self._declaring_tunables = False
        values = self._declare_parameters()
        self.settings = NodeSettings.from_values(values)
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self.add_post_set_parameters_callback(self._after_set_parameters)

        # Everything below exists in every state, so any transition and destroy_node() work
        # from wherever the node is (a half-configured node included).
        self.finalized = threading.Event()
        self._tracker: TrackerLike | None = None
        self._session: TrackingSession | None = None
        self._buffer = FrameBuffer(self.settings.input_buffer_size)
        self._limits = DEFAULT_LIMITS
        self._apply_input_settings()
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
        self._pubs: dict[str, Any] = {}
        self._active_entities: list[Any] = []  # subscriptions and services while active
        self._diag_timer: Any = None
        self._worker: threading.Thread | None = None
        self._running = False

    # ---------------------------------------------------------------- parameters
    def _declare_parameters(self) -> dict[str, Any]:
        """Declare every parameter of the table with its descriptor, taking valid overrides and
        recording one line per invalid one (configure then refuses). Unknown overrides are
        warned about by name and dropped."""
        given: dict[str, Any] = {}
        for name in self.list_parameters([], 0).names:
            if name in SPECS:
                given[name] = self.get_parameter(name).value
                self.undeclare_parameter(name)
            elif name.startswith(LATE_PREFIX):  # declared by configure, once the model is known
                self._late_overrides[name] = self.get_parameter(name).value
                self.undeclare_parameter(name)
            elif name not in ROS_OWN_PARAMS and not name.startswith("qos_overrides."):
                self.get_logger().warning(
                    f"unknown parameter '{name}' ignored: {self.get_name()} has no such "
                    "parameter (see `ros2 param list` or config/tracker.yaml for the names)"
                )
                self.undeclare_parameter(name)
        values: dict[str, Any] = {}
        for spec in PARAMS:
            value = spec.default
            if spec.name in given:
                try:
                    value = spec.coerce(given[spec.name])
                except ValueError as exc:
                    self._problems[spec.name] = str(exc)
            self.declare_parameter(spec.name, value, spec.descriptor(), ignore_override=True)
            values[spec.name] = value
        return values

    @property
    def configured(self) -> bool:
        return self._tracker is not None

    def _on_set_parameters(self, params: list[Parameter]) -> SetParametersResult:
        tunables = {p.name: p.value for p in params if p.name in TUNABLE_NAMES}
        reason = check_update(
            self.settings.as_values(),
            {p.name: p.value for p in params if p.name not in TUNABLE_NAMES},
            configured=self.configured,
        )
        if reason is None and tunables:
            reason = self._set_tunables(tunables)
        return SetParametersResult(successful=reason is None, reason=reason or "")

    def _set_tunables(self, updates: dict[str, Any]) -> str | None:
        """Hand ``tracker.*`` changes to the tracker (applied from its next frame, the target
        kept); the reason they are refused, or None."""
        tracker = self._tracker
        if not isinstance(tracker, TunableTracker):
            return "tracker.* settings exist only while a model is loaded (configure the node)"
        try:
            tracker.update_settings(tunable_overrides(updates))
        except ValueError as exc:
            return tunable_reason(exc)
        return None

    def _declare_tunables(self, tracker: TrackerLike) -> str | None:
        """Declare ``tracker.*`` with the loaded model's values as defaults. A value given on the
        command line / params file, or set before an earlier cleanup, wins and goes to the
        tracker; the reason it cannot, or None."""
        for name in sorted(set(self._late_overrides) - TUNABLE_NAMES):
            self.get_logger().warning(
                f"unknown parameter '{name}' ignored: the tracker.* settings are "
                + ", ".join(sorted(TUNABLE_NAMES))
            )
            del self._late_overrides[name]
        if not isinstance(tracker, TunableTracker):
            return None  # a stand-in tracker without run-time settings
        model = tunable_values(tracker.config.to_dict())
        wanted = {
            t.name: (
                self.get_parameter(t.name).value
                if self.has_parameter(t.name)
                else self._late_overrides.get(t.name, model[t.name])
            )
            for t in TUNABLES
        }
        try:
            tracker.update_settings(tunable_overrides(wanted))  # all checked together
        except ValueError as exc:
            return f"parameter {tunable_reason(exc)}"
        new = [
            (t.name, value, t.param(value).descriptor())
            for t in TUNABLES
            if not self.has_parameter(t.name)
            for value in [float(wanted[t.name]) if t.kind is float else wanted[t.name]]
        ]
        self._declaring_tunables = True
        try:
            self.declare_parameters("", new, ignore_override=True)
        finally:
            self._declaring_tunables = False
        self.get_logger().info(
            "tracker settings: "
            + ", ".join(f"{t.name}={self.get_parameter(t.name).value}" for t in TUNABLES)
        )
        return None

    def _after_set_parameters(self, params: list[Parameter]) -> None:
        values = self.settings.as_values()
        values.update({p.name: p.value for p in params if p.name not in TUNABLE_NAMES})
        old, self.settings = self.settings, NodeSettings.from_values(values)
        for p in params:
            self._problems.pop(p.name, None)
        if self.settings.input_buffer_size != old.input_buffer_size:
            self._buffer.resize(self.settings.input_buffer_size)
        self._apply_input_settings()
        if self._diag_timer is not None and (
            self.settings.diagnostics_period_s != old.diagnostics_period_s
        ):
            self.destroy_timer(self._diag_timer)
            self._diag_timer = self.create_timer(
                self.settings.diagnostics_period_s, self._publish_diagnostics
            )
        if not self._declaring_tunables:  # configure reports those in one line
            self.get_logger().info(
                "parameters updated: " + ", ".join(f"{p.name}={p.value}" for p in params)
            )

    def _apply_input_settings(self) -> None:
        """Image size limits, clock-jump tolerance and stream-change policies (input.*, issue
        21): read per frame, so a change applies at once."""
        s = self.settings
        self._limits = ImageLimits(s.input_max_width, s.input_max_height)
        self._buffer.jump_tolerance_ns = int(s.input_clock_jump_tolerance_s * 1e9)
        session = self._session
        if session is not None:
            session.policy = StreamPolicy(s.input_on_clock_jump, s.input_on_resolution_change)

    # ---------------------------------------------------------------- lifecycle
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Load and warm the model; on any problem one error line and back to unconfigured."""
        if self._problems:
            for line in self._problems.values():
                self.get_logger().error(f"cannot configure: {line}")
            return FAILURE
        try:
            tracker = self._factory(self.settings)
            if self.settings.model_warmup:
                self._warm_up(tracker)
        except StartupError as exc:
            self.get_logger().error(f"cannot configure: {exc}")
            return FAILURE
        except Exception as exc:  # a fault in a custom factory or in the warm-up
            detail = str(exc).strip() or "no details given"
            self.get_logger().error(
                f"cannot configure: the model failed to start "
                f"({type(exc).__name__}: {detail}); check the model.* "
                "parameters"
            )
            return FAILURE
        self._tracker = tracker
        problem = self._declare_tunables(tracker)
        if problem:
            self.get_logger().error(f"cannot configure: {problem}")
            self._tracker = None
            return FAILURE
        self._session = TrackingSession(tracker, lambda f: decode_frame(f, self._limits))
        self._buffer = FrameBuffer(self.settings.input_buffer_size)
        self._apply_input_settings()
        reliable = QoSProfile(
            history=HistoryPolicy.KEEP_LAST, depth=10, reliability=ReliabilityPolicy.RELIABLE
        )
        for key, msg_type, topic in (
            ("det", Detection2D, "detection"),
            ("dets", Detection2DArray, "detections"),
            ("status", TrackerStatus, "status"),
            ("debug", Image, "debug/image"),
            ("heat", Image, "debug/response"),
            ("diag", DiagnosticArray, "/diagnostics"),
        ):
            self._pubs[key] = self.create_lifecycle_publisher(msg_type, topic, reliable)
        self.get_logger().info("configured: model loaded on " + self.settings.model_device)
        return SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        settings = self.settings
        reliability = (
            ReliabilityPolicy.RELIABLE
            if settings.input_reliability == "reliable"
            else ReliabilityPolicy.BEST_EFFORT
        )
        camera_qos = QoSProfile(
            history=HistoryPolicy.KEEP_LAST,
            depth=1,
            reliability=reliability,
            durability=qos_profile_sensor_data.durability,
        )
        reliable = QoSProfile(
            history=HistoryPolicy.KEEP_LAST, depth=10, reliability=ReliabilityPolicy.RELIABLE
        )
        if settings.input_compressed:
            camera = self.create_subscription(
                CompressedImage, "image/compressed", self._on_compressed, camera_qos
            )
        else:
            camera = self.create_subscription(Image, "image", self._on_image, camera_qos)
        self._active_entities = [
            camera,
            self.create_subscription(InitTarget, "init_target", self._on_init_target, reliable),
            self.create_subscription(
                Detection2D, "init_detection", self._on_init_detection, reliable
            ),
            self.create_service(Trigger, "~/stop", self._on_stop),
            self.create_service(Trigger, "~/reset", self._on_reset),
        ]
        self._diag_timer = self.create_timer(
            settings.diagnostics_period_s, self._publish_diagnostics
        )
        self._running = True
        self._worker = threading.Thread(target=self._work, name="tracker_worker", daemon=True)
        self._worker.start()
        result = super().on_activate(state)  # enables the lifecycle publishers
        self.get_logger().info(
            "active: waiting for images on "
            f"{self.resolve_topic_name(camera.topic_name)} and an init target"
        )
        return result

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._stop_work()
        self._publish_idle_status()
        self.get_logger().info("inactive: not subscribed, not tracking")
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._release()
        self.get_logger().info("unconfigured: model released")
        return SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._stop_work()
        self._release()
        self.finalized.set()
        return SUCCESS

    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._stop_work()
        self._release()
        return SUCCESS

    def _stop_work(self) -> None:
        """Stop the worker and drop subscriptions, services and the diagnostics timer; the
        track ends (frames missed while inactive would make it stale)."""
        self._running = False
        self._slot.wake()
        if self._worker is not None:
            self._worker.join(timeout=5.0)
            self._worker = None
        for entity in self._active_entities:
            if hasattr(entity, "srv_type"):
                self.destroy_service(entity)
            else:
                self.destroy_subscription(entity)
        self._active_entities = []
        if self._diag_timer is not None:
            self.destroy_timer(self._diag_timer)
            self._diag_timer = None
        with self._lock:
            self._end_track(drop_frames=True)

    def _end_track(self, drop_frames: bool = False) -> TrackState:
        """Forget a pending init and stop the track; returns the state it had. With
        ``drop_frames`` the buffered and waiting frames go too (they belong to the track that
        ended). The caller holds ``self._lock`` (the worker must not be mid-step)."""
        with self._pending_lock:
            self._pending_init = None
        was = TrackState.IDLE
        if self._session is not None:
            was = self._session.state
            self._session.stop()
        if drop_frames:
            self._buffer.clear()
            self._slot.clear()
        return was

    def _release(self) -> None:
        """Free the model (and the publishers made by configure)."""
        for pub in self._pubs.values():
            self.destroy_lifecycle_publisher(pub)
        self._pubs = {}
        self._session = None
        self._tracker = None
        gc.collect()
        torch = sys.modules.get("torch")
        if torch is not None and torch.cuda.is_available() and torch.cuda.is_initialized():
            torch.cuda.empty_cache()

    def destroy_node(self) -> None:
        if hasattr(self, "_running"):  # not when __init__ itself failed half-way
            self._stop_work()
        super().destroy_node()

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
            check_image(msg, self._limits)
        except ValueError as exc:
            self._frames_malformed += 1
            self._warn(
                "image", f"dropping malformed image ({self._frames_malformed} so far): {exc}"
            )
            return
        self._file_frame(msg, compressed=False)

    def _on_compressed(self, msg: CompressedImage) -> None:
        if len(msg.data) == 0:
            self._frames_malformed += 1
            self._warn("image", "dropping empty compressed image")
            return
        try:
            check_compressed(msg.data, self._limits)  # size from the header, nothing decoded
        except ValueError as exc:
            self._frames_malformed += 1
            self._warn(
                "image",
                f"dropping malformed compressed image ({self._frames_malformed} so far): {exc}",
            )
            return
        self._file_frame(msg, compressed=True)

    def _file_frame(self, msg: Image | CompressedImage, compressed: bool) -> None:
        session = self._session
        if session is None:
            return
        self._frames_received += 1
        frame = Frame(
            messages.stamp_to_ns(msg.header.stamp),
            msg,
            compressed,
            self.get_clock().now().nanoseconds,
        )
        filed = self._buffer.add(frame)
        if filed.jump is not None:  # one line per jump (session.step applies the policy)
            self.get_logger().warning(
                f"{filed.jump.describe()}: frame buffer reset, following the new clock "
                f"(input.on_clock_jump={self.settings.input_on_clock_jump})"
            )
        self._slot.put(filed.frame, count_drop=session.active)

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
            was = self._end_track()
        self._publish_idle_status()
        resp.success, resp.message = True, f"stopped (was {was.name.lower()})"
        return resp

    def _on_reset(self, _req: Trigger.Request, resp: Trigger.Response) -> Trigger.Response:
        with self._lock:
            self._end_track(drop_frames=True)
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
                session = self._session
                if session is None or not self._running:
                    continue
                with self._pending_lock:
                    request, self._pending_init = self._pending_init, None
                if request is not None:
                    self._handle_init(session, request)
                if frame is None or not session.active:
                    continue
                cap = self.settings.output_max_rate_hz
                now = time.monotonic()
                if cap > 0 and now - self._last_processed < 1.0 / cap:
                    self._slot.note_dropped()
                    continue
                try:
                    step = session.step(frame)
                except ValueError as exc:
                    self._track_errors += 1
                    self._warn("track", f"skipping frame: {exc}")
                    continue
                except Exception as exc:  # a tracker failure must not kill the node
                    self._track_errors += 1
                    self._warn("track", f"tracker failed on a frame ({type(exc).__name__}: {exc})")
                    continue
                for notice in session.take_notices():  # stream changes, once each
                    self.get_logger().warning(notice)
                if step is not None:
                    self._last_processed = now
                    self._publish(session, step)
                elif not session.active:  # stopped by a clock jump (input.on_clock_jump=reset)
                    self._publish_idle_status()

    def _handle_init(self, session: TrackingSession, request: InitRequest) -> None:
        try:
            step = session.initialise(
                request,
                self._buffer,
                int(self.settings.init_stamp_tolerance_ms * 1e6),
                self.settings.init_catch_up_max_frames,
            )
        except ValueError as exc:  # InitError, or a malformed buffered frame
            self._warn("init", f"init rejected: {exc}")
            return
        except Exception as exc:
            self._track_errors += 1
            self._warn("init", f"tracker init failed ({type(exc).__name__}: {exc})")
            return
        self._slot.reset_count()
        for notice in session.take_notices():
            self.get_logger().warning(notice)
        self.get_logger().info(
            f"tracking {session.track_id}: box {np.round(request.box, 1).tolist()} "
            f"on frame stamped {request.stamp_ns / 1e9:.3f} s"
        )
        if step is not None:
            self._last_processed = time.monotonic()
            self._publish(session, step)

    # ---------------------------------------------------------------- output
    def _publish(self, session: TrackingSession, step: SessionStep) -> None:
        header = step.frame.msg.header
        r = step.result
        latency = (self.get_clock().now().nanoseconds - step.frame.stamp_ns) / 1e6
        present = bool(r.present) and r.state != TrackState.LOST
        detections = Detection2DArray(header=Header(stamp=header.stamp, frame_id=header.frame_id))
        if (present or self.settings.output_publish_lost) and (
            r.score >= self.settings.output_min_score
        ):
            det = messages.detection_from_result(r, header, step.track_id)
            self._pubs["det"].publish(det)
            detections.detections = [det]
        self._pubs["dets"].publish(detections)  # empty when lost or below output.min_score
        now = time.monotonic()
        self._process_times.append(now)
        self._latencies.append(latency)
        self._processing.append(step.processing_ms)
        self._pubs["status"].publish(
            messages.status_msg(
                header,
                session.state,
                r.score,
                present,
                step.track_id,
                step.frames_lost,
                latency,
                step.processing_ms,
                session.frames_processed,
                self._slot.dropped,
                self._rate_hz(now),
            )
        )
        self._publish_debug(session, step, now)

    def _publish_debug(self, session: TrackingSession, step: SessionStep, now: float) -> None:
        if not self.settings.debug_enabled:
            return
        cap = self.settings.debug_max_rate_hz
        if cap > 0 and now - self._last_debug < 1.0 / cap:
            return
        pub_image, pub_heat = self._pubs["debug"], self._pubs["heat"]
        want_image = pub_image.get_subscription_count() > 0
        want_heat = pub_heat.get_subscription_count() > 0
        if not (want_image or want_heat):
            return
        self._last_debug = now
        header = step.frame.msg.header
        r = step.result
        if want_image:
            img = draw_track(step.image, r.box, r.score, session.state, step.track_id, r.search_box)
            pub_image.publish(messages.image_msg(img, header))
        if want_heat and r.response is not None and np.size(r.response) > 0:
            heat = response_heatmap(r.response, self.settings.debug_heatmap_size)
            pub_heat.publish(messages.image_msg(heat, header))

    def _publish_idle_status(self) -> None:
        pub = self._pubs.get("status")
        if pub is None:
            return
        header = Header(stamp=self.get_clock().now().to_msg())
        pub.publish(
            messages.status_msg(
                header, TrackState.IDLE, 0.0, False, "", 0, 0.0, 0.0, 0, self._slot.dropped, 0.0
            )
        )

    def _rate_hz(self, now: float) -> float:
        return float(sum(1 for t in self._process_times if now - t <= 1.0))

    def _publish_diagnostics(self) -> None:
        session, pub = self._session, self._pubs.get("diag")
        if session is None or pub is None:
            return
        lat = np.asarray(self._latencies, dtype=np.float64)
        proc = np.asarray(self._processing, dtype=np.float64)
        p50, p95 = np.percentile(lat, [50, 95]) if lat.size else (float("nan"),) * 2
        state = session.state
        level, text = 0, state.name.lower()
        if state == TrackState.LOST:
            level, text = (
                1,
                "target lost" + (f": {session.lost_reason}" if session.lost_reason else ""),
            )
        if lat.size and p95 > self.settings.diagnostics_max_latency_ms:
            level, text = 1, f"p95 latency {p95:.0f} ms above limit"
        values = {
            "state": state.name.lower(),
            "track_id": session.track_id,
            "rate_hz": self._rate_hz(time.monotonic()),
            "latency_p50_ms": float(p50),
            "latency_p95_ms": float(p95),
            "processing_mean_ms": float(proc.mean()) if proc.size else float("nan"),
            "frames_received": self._frames_received,
            "frames_processed": session.frames_processed,
            "frames_dropped": self._slot.dropped,
            "frames_malformed": self._frames_malformed,
            "tracker_errors": self._track_errors,
            "rss_mib": rss_mib(),
            "peak_rss_mib": peak_rss_mib(),
        }
        pub.publish(
            messages.diagnostics_msg(
                self.get_clock().now().to_msg(), f"{self.get_name()}: tracking", level, text, values
            )
        )

    @staticmethod
    def _warm_up(tracker: TrackerLike) -> None:
        rng = np.random.default_rng(0)
        img = rng.integers(0, 255, (240, 320, 3), dtype=np.uint8)
        tracker.init(img, (140.0, 100.0, 40.0, 40.0))
        tracker.track(img)
        tracker.reset()


def params_file_problem(argv: list[str]) -> str | None:
    """Why a ``--params-file`` in ``argv`` cannot be read (missing, not YAML), or None. Checked
    before ``rclpy.init``, whose own refusal is a traceback after an rcl error line."""
    import yaml

    for flag, value in zip(argv, argv[1:], strict=False):
        if flag != "--params-file":
            continue
        path = Path(value)
        if not path.is_file():
            return f"params file {value} not found"
        try:
            yaml.safe_load(path.read_text())
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            where = getattr(exc, "problem_mark", None)
            line = f" at line {where.line + 1}" if where is not None else ""
            what = getattr(exc, "problem", None) or type(exc).__name__
            return f"params file {value} is not valid YAML ({what}{line})"
    return None


def main(args: list[str] | None = None, tracker_factory: TrackerFactory | None = None) -> int:
    """Run the node until Ctrl-C, ``ros2 lifecycle set ... shutdown`` or, with ``autostart``, a
    failed start (exit status 1 after one error line)."""
    problem = params_file_problem(sys.argv if args is None else args)
    if problem is None:
        try:
            rclpy.init(args=args)
        except Exception as exc:  # anything else rcl refuses in the --ros-args
            problem = re.sub(r",? at /\S+", "", str(exc)).replace("failed to initialize rcl: ", "")
    if problem is not None:
        print(
            f"[ERROR] tracker_node: cannot start: {problem}; fix the --ros-args (a params "
            "file is YAML: '/**: {ros__parameters: {output: {min_score: 0.3}}}')",
            file=sys.stderr,
        )
        return 1
    node: TrackerNode | None = None
    status = 0
    try:
        node = TrackerNode(tracker_factory)
        if node.settings.autostart and (
            node.trigger_configure() != SUCCESS or node.trigger_activate() != SUCCESS
        ):
            status = 1
        if status == 0:
            executor = SingleThreadedExecutor()
            executor.add_node(node)
            while rclpy.ok() and not node.finalized.is_set():
                executor.spin_once(timeout_sec=0.2)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        # Ctrl-C in a terminal running `ros2 launch` reaches this process twice (from the
        # terminal and forwarded by launch): the second must not interrupt the teardown.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        with contextlib.suppress(KeyboardInterrupt):
            if node is not None:
                node.destroy_node()
            rclpy.try_shutdown()
    return status


if __name__ == "__main__":
    raise SystemExit(main())
