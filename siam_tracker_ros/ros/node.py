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

import gc
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.qos import HistoryPolicy, QoSProfile, qos_profile_sensor_data
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header
from std_srvs.srv import Trigger
from vision_msgs.msg import Detection2D, Detection2DArray

from siam_tracker_ros.core.result import TrackState
from siam_tracker_ros.datasets.image_conversion import (
    DEFAULT_LIMITS,
    ImageLimits,
    check_compressed,
    check_image,
    compressed_to_bgr,
    image_to_bgr,
)
from siam_tracker_ros.msg import InitTarget, TrackerStatus
from siam_tracker_ros.ros import messages
from siam_tracker_ros.ros.debug_images import DebugImages
from siam_tracker_ros.ros.diagnostics import TrackingStats, tracking_diagnostics
from siam_tracker_ros.ros.follow_safety import LOST_ID_SUFFIX
from siam_tracker_ros.ros.frame_buffer import Frame, FrameBuffer, LatestSlot
from siam_tracker_ros.ros.lifecycle_main import run_lifecycle_node
from siam_tracker_ros.ros.node_parameters import LateParameters, NodeParameters, ParameterizedNode
from siam_tracker_ros.ros.parameters import StartupError, resolve_path
from siam_tracker_ros.ros.qos import RELIABLE, input_reliability
from siam_tracker_ros.ros.session import (
    INIT_WAIT_NS,
    InitNotYet,
    InitRequest,
    SessionStep,
    StreamPolicy,
    TrackerLike,
    TrackingSession,
)
from siam_tracker_ros.ros.throttle import INIT_WARNING_BURST, WarningThrottle
from siam_tracker_ros.ros.tracker_params import NODE_NAME, NodeSettings, check_model_files
from siam_tracker_ros.ros.tracker_tunables import (
    PREFIX,
    TUNABLE_SPECS,
    TUNABLES,
    TunableTracker,
    tunable_overrides,
    tunable_reason,
    tunable_values,
)
from siam_tracker_ros.runtime.registry import BackendUnavailable

__all__ = ["TrackerNode", "build_tracker", "main"]

TrackerFactory = Callable[[NodeSettings], TrackerLike]
SUCCESS, FAILURE = TransitionCallbackReturn.SUCCESS, TransitionCallbackReturn.FAILURE
#: a one-line params file for the error line of a bad command line
PARAMS_EXAMPLE = "'/**: {ros__parameters: {output: {min_score: 0.3}}}'"


def build_tracker(settings: NodeSettings) -> TrackerLike:
    """The real tracker from the model parameters (imported here: torch loads only when used).

    ``model.checkpoint`` wins over ``model.config`` (+ ``model.weights``); with neither set the
    bundled model is used (``core.defaults``), through the one loading path
    (``core.loading.load_tracker``; a start from cached graphs imports no torch). Raises
    :class:`StartupError` with one line naming the parameter, what is wrong and what to do
    (missing/empty file, a backend or device that cannot run here, a file the loader
    refuses)."""
    check_model_files(settings)
    from siam_tracker_ros.core.loading import load_tracker

    threads = settings.model_num_threads if settings.model_num_threads > 0 else None
    adaptive = True if settings.model_adaptive_threads else None
    background = None if settings.model_background_searches else False
    checkpoint = resolve_path(settings.model_checkpoint)
    source = (
        f"model.checkpoint:={settings.model_checkpoint}"
        if checkpoint is not None
        else f"model.config:={settings.model_config!r} model.weights:={settings.model_weights!r}"
    )
    try:
        if checkpoint is not None:
            tracker = load_tracker(
                checkpoint,
                device=settings.model_device,
                threads=threads,
                adaptive_threads=adaptive,
                background_searches=background,
            )
        else:
            tracker = load_tracker(
                resolve_path(settings.model_config),
                resolve_path(settings.model_weights),
                device=settings.model_device,
                threads=threads,
                adaptive_threads=adaptive,
                background_searches=background,
            )
        torch = sys.modules.get("torch")  # only a backend that runs PyTorch imported it
        if threads is not None and torch is not None:
            torch.set_num_threads(threads)
        return tracker
    except StartupError:
        raise
    except BackendUnavailable as exc:  # e.g. CUDA asked for on a machine without it
        raise StartupError(
            f"model.device:={settings.model_device}, but the model cannot run there: {exc}; "
            "set -p model.device:=cpu, or install what the reason names"
        ) from exc
    except Exception as exc:  # the loaders' own errors, stated as the node's start-up problem
        detail = str(exc).strip() or "no details given"
        raise StartupError(
            f"cannot load the model from {source}: {type(exc).__name__}: "
            f"{detail}; point model.* at a valid file (leave all three empty "
            "for the bundled model)"
        ) from exc


def _longterm_record(tracker: object) -> dict[str, Any] | None:
    """The long-term policy's record of the tracker's last step (re-detection progress)."""
    step = getattr(tracker, "last_step", None)
    policies = getattr(step, "policies", None)
    record = policies.get("longterm") if isinstance(policies, dict) else None
    return dict(record) if record else None


def decode_frame(frame: Frame, limits: ImageLimits = DEFAULT_LIMITS) -> np.ndarray:
    if frame.compressed:
        return compressed_to_bgr(frame.msg.data, limits)
    return image_to_bgr(frame.msg, limits)


class TrackerNode(ParameterizedNode[NodeSettings], LifecycleNode):
    def __init__(
        self,
        tracker_factory: TrackerFactory | None = None,
        node_name: str = NODE_NAME,
        argv: Sequence[str] | None = None,
        **kwargs: Any,
    ) -> None:
        """``argv``: the arguments ``rclpy.init`` was given (default ``sys.argv``), read back
        to catch overrides rclpy drops; ``kwargs`` go to ``LifecycleNode``."""
        # Overrides are declared as they come so that every one can be checked: a wrong type
        # becomes one clear line (not an rclpy traceback), an unknown name a warning.
        super().__init__(node_name, automatically_declare_parameters_from_overrides=True, **kwargs)
        self._factory = tracker_factory or build_tracker
        self._tracker: TrackerLike | None = None
        self._params = NodeParameters(
            self,
            NodeSettings,
            argv=argv,
            node_kwargs=kwargs,
            late=LateParameters(PREFIX, TUNABLE_SPECS, self._set_tunables),
            configured=lambda: self._tracker is not None,
            on_change=self._settings_changed,
        )

        # Everything below exists in every state, so any transition and destroy_node() work
        # from wherever the node is (a half-configured node included).
        self.finalized = threading.Event()
        self._session: TrackingSession | None = None
        self._buffer = FrameBuffer(self.settings.input_buffer_size)
        self._limits = DEFAULT_LIMITS
        self._apply_input_settings()
        self._slot = LatestSlot()
        self._lock = threading.Lock()  # held by the worker for one step; services take it too
        self._pending_init: InitRequest | None = None
        #: an init whose frame had not arrived yet, and until when (monotonic s) it may wait
        self._waiting_init: tuple[InitRequest, float] | None = None
        self._pending_lock = threading.Lock()
        self._stats = TrackingStats()
        self._last_processed = 0.0
        self._throttle = WarningThrottle(
            self.get_logger().warning, lambda: self.settings.log_throttle_s
        )
        self._pubs: dict[str, Any] = {}
        self._debug: DebugImages | None = None
        self._active_entities: list[Any] = []  # subscriptions and services while active
        self._diag_timer: Any = None
        self._worker: threading.Thread | None = None
        self._worker_stop = threading.Event()
        self._running = False

    # ---------------------------------------------------------------- parameters
    @property
    def configured(self) -> bool:
        return self._tracker is not None

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
        if not isinstance(tracker, TunableTracker):
            return None  # a stand-in tracker without run-time settings
        model = tunable_values(tracker.config.to_dict())
        wanted = {t.name: self._params.late_value(t.name, model[t.name]) for t in TUNABLES}
        try:
            tracker.update_settings(tunable_overrides(wanted))  # all checked together
            self._params.declare_late(wanted)
        except ValueError as exc:
            return f"parameter {tunable_reason(exc)}"
        self.get_logger().info(
            "tracker settings: "
            + ", ".join(f"{t.name}={self.get_parameter(t.name).value}" for t in TUNABLES)
        )
        return None

    def _settings_changed(self, old: NodeSettings, new: NodeSettings) -> None:
        """Apply an accepted parameter change to what already runs."""
        if new.input_buffer_size != old.input_buffer_size:
            self._buffer.resize(new.input_buffer_size)
        self._apply_input_settings()
        if self._diag_timer is not None and new.diagnostics_period_s != old.diagnostics_period_s:
            self.destroy_timer(self._diag_timer)
            self._diag_timer = self.create_timer(
                new.diagnostics_period_s, self._publish_diagnostics
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
        if self._params.report_problems():
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
        for key, msg_type, topic in (
            ("det", Detection2D, "detection"),
            ("dets", Detection2DArray, "detections"),
            ("status", TrackerStatus, "status"),
            ("debug", Image, "debug/image"),
            ("heat", Image, "debug/response"),
            ("diag", DiagnosticArray, "/diagnostics"),
        ):
            self._pubs[key] = self.create_lifecycle_publisher(msg_type, topic, RELIABLE)
        self._debug = DebugImages(self._pubs["debug"], self._pubs["heat"])
        self.get_logger().info("configured: model loaded on " + self.settings.model_device)
        return SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        settings = self.settings
        reliability = input_reliability(settings.input_reliability)
        camera_qos = QoSProfile(
            history=HistoryPolicy.KEEP_LAST,
            depth=1,
            reliability=reliability,
            durability=qos_profile_sensor_data.durability,
        )
        if settings.input_compressed:
            camera = self.create_subscription(
                CompressedImage, "image/compressed", self._on_compressed, camera_qos
            )
        else:
            camera = self.create_subscription(Image, "image", self._on_image, camera_qos)
        self._active_entities = [
            camera,
            self.create_subscription(InitTarget, "init_target", self._on_init_target, RELIABLE),
            self.create_subscription(
                Detection2D, "init_detection", self._on_init_detection, RELIABLE
            ),
            self.create_service(Trigger, "~/stop", self._on_stop),
            self.create_service(Trigger, "~/reset", self._on_reset),
        ]
        self._diag_timer = self.create_timer(
            settings.diagnostics_period_s, self._publish_diagnostics
        )
        self._running = True
        # each worker has its own stop: one still finishing a long step after a deactivate
        # (the join below gives up after 5 s) ends after it, never runs beside the next one
        self._worker_stop = threading.Event()
        self._worker = threading.Thread(
            target=self._work, args=(self._worker_stop,), name="tracker_worker", daemon=True
        )
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
        self._worker_stop.set()
        self._slot.wake()
        if self._worker is not None:
            self._worker.join(timeout=5.0)
            if self._worker.is_alive():
                self.get_logger().warning(
                    "the tracker worker is still in a step after 5 s; it ends after that step"
                )
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
        self._waiting_init = None
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
        self._debug = None
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
        """A warning of ``kind`` at most once per ``log.throttle_s`` (init warnings:
        ``INIT_WARNING_BURST`` times)."""
        self._throttle.warn(kind, text, burst=INIT_WARNING_BURST if kind == "init" else 1)

    def _on_image(self, msg: Image) -> None:
        try:
            check_image(msg, self._limits)
        except ValueError as exc:
            self._stats.frames_malformed += 1
            self._warn(
                "image", f"dropping malformed image ({self._stats.frames_malformed} so far): {exc}"
            )
            return
        self._file_frame(msg, compressed=False)

    def _on_compressed(self, msg: CompressedImage) -> None:
        if len(msg.data) == 0:
            self._stats.frames_malformed += 1
            self._warn("image", "dropping empty compressed image")
            return
        try:
            check_compressed(msg.data, self._limits)  # size from the header, nothing decoded
        except ValueError as exc:
            self._stats.frames_malformed += 1
            count = self._stats.frames_malformed
            self._warn("image", f"dropping malformed compressed image ({count} so far): {exc}")
            return
        self._file_frame(msg, compressed=True)

    def _file_frame(self, msg: Image | CompressedImage, compressed: bool) -> None:
        session = self._session
        if session is None:
            return
        self._stats.frames_received += 1
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
            self._stats.clear()
        self._publish_idle_status()
        resp.success, resp.message = True, "reset: idle, frame buffer and counters cleared"
        return resp

    # ---------------------------------------------------------------- worker thread
    def _work(self, stop: threading.Event) -> None:
        """The worker's loop until ``stop``: a fault anywhere in a step (publishing and the
        notices included) is a throttled warning, never the end of the thread (frames would
        keep arriving with no status and no log line)."""
        while not stop.is_set():
            frame = self._slot.take(timeout=0.1)
            try:
                self._work_once(frame, stop)
            except Exception as exc:  # noqa: BLE001 -- the worker must outlive any one frame
                self._stats.track_errors += 1
                self._warn("track", f"tracker worker: {type(exc).__name__}: {exc}")

    def _work_once(self, frame: Frame | None, stop: threading.Event) -> None:
        """One turn of the worker: a pending init, then ``frame`` (None: none came)."""
        with self._lock:
            session = self._session
            if session is None or stop.is_set():
                return
            with self._pending_lock:
                request, self._pending_init = self._pending_init, None
            waiting, self._waiting_init = self._waiting_init, None
            if request is not None:  # a newer init replaces one still waiting
                self._handle_init(session, request, time.monotonic() + INIT_WAIT_NS / 1e9)
            elif waiting is not None:
                self._handle_init(session, *waiting)
            if frame is None or not session.active:
                return
            cap = self.settings.output_max_rate_hz
            now = time.monotonic()
            if cap > 0 and now - self._last_processed < 1.0 / cap:
                self._slot.note_dropped()
                return
            try:
                step = session.step(frame)
            except ValueError as exc:
                self._stats.track_errors += 1
                self._warn("track", f"skipping frame: {exc}")
                return
            except Exception as exc:  # a tracker failure must not kill the node
                self._stats.track_errors += 1
                self._warn("track", f"tracker failed on a frame ({type(exc).__name__}: {exc})")
                return
            for notice in session.take_notices():  # stream changes, once each
                self.get_logger().warning(notice)
            if step is not None:
                self._last_processed = now
                self._publish(session, step)
            elif not session.active:  # stopped by a clock jump (input.on_clock_jump=reset)
                self._publish_idle_status()

    def _handle_init(self, session: TrackingSession, request: InitRequest, until: float) -> None:
        """Apply ``request``; one whose frame has not arrived yet is tried again with the next
        frames until ``until`` (monotonic s), then rejected like any other."""
        try:
            step = session.initialise(
                request,
                self._buffer,
                int(self.settings.init_stamp_tolerance_ms * 1e6),
                self.settings.init_catch_up_max_frames,
            )
        except InitNotYet as exc:
            if time.monotonic() < until:
                self._waiting_init = (request, until)
            else:
                self._warn("init", f"init rejected: {exc}, and no such frame came")
            return
        except ValueError as exc:  # InitError, or a malformed buffered frame
            self._warn("init", f"init rejected: {exc}")
            return
        except Exception as exc:
            self._stats.track_errors += 1
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
        if present and r.score >= self.settings.output_min_score:
            det = messages.detection_from_result(r, header, step.track_id)
            self._pubs["det"].publish(det)
            detections.detections = [det]
        elif not present and self.settings.output_publish_lost:
            # for debugging only: never the target's id, never in the array, score 0 -- a
            # follower keyed on the track id cannot mistake it for the target (LOST = gone)
            det = messages.detection_from_result(r, header, f"{step.track_id}{LOST_ID_SUFFIX}")
            det.results[0].hypothesis.score = 0.0
            self._pubs["det"].publish(det)
        self._pubs["dets"].publish(detections)  # empty when lost or below output.min_score
        now = time.monotonic()
        self._stats.record(now, latency, step.processing_ms)
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
                self._stats.rate_hz(now),
            )
        )
        if self._debug is not None:
            s = self.settings
            self._debug.publish(
                step,
                session.state,
                enabled=s.debug_enabled,
                max_rate_hz=s.debug_max_rate_hz,
                heatmap_size=s.debug_heatmap_size,
                now=now,
            )

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

    def _publish_diagnostics(self) -> None:
        session, pub = self._session, self._pubs.get("diag")
        if session is None or pub is None:
            return
        level, text, values = tracking_diagnostics(
            self._stats,
            session.state,
            lost_reason=session.lost_reason,
            track_id=session.track_id,
            frames_processed=session.frames_processed,
            frames_dropped=self._slot.dropped,
            max_latency_ms=self.settings.diagnostics_max_latency_ms,
            now=time.monotonic(),
            longterm=_longterm_record(self._tracker),
        )
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


def main(
    args: list[str] | None = None,
    tracker_factory: TrackerFactory | None = None,
) -> int:
    """Run the node until Ctrl-C, ``ros2 lifecycle set ... shutdown`` or, with ``autostart``, a
    failed start (exit status 1 after one error line)."""
    return run_lifecycle_node(
        NODE_NAME, lambda: TrackerNode(tracker_factory, argv=args), args, PARAMS_EXAMPLE
    )


if __name__ == "__main__":
    raise SystemExit(main())
