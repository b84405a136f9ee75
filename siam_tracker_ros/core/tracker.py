"""The one ``Tracker`` for every model family: pysot's SiamRPNTracker plus ordered policies.

With all mechanisms disabled this reproduces pysot's ``SiamRPNTracker`` (init centre
``x + (w - 1) / 2``, crops, anchors, penalties, cosine window, size smoothing, clipping, returned
box ``cx - w / 2``) to within float32 round-off; the fixture tests hold it to that. The model
family only decides the network and, through ``head_type``, which decoder turns its output into
boxes.

What lives where: this module is the tracking step's skeleton -- crops, decoding, the box, the
state -- and runs the mechanisms as ordered policies (:mod:`core.policies`: each phase of a
step, each enabled policy in the configured order; what each did is
``StepInfo.policies``). The network runs in an inference backend (:mod:`siam_tracker_ros.runtime`,
chosen from the registry by the ``runtime:`` section), which takes host crops and returns the
head's maps on the host. The arithmetic conventions (pysot's, or ``cv2.TrackerNano``'s
emulation) are a :mod:`core.conventions` object. Nothing here imports PyTorch: a tracker started
from cached exported graphs never loads it. Models are loaded by :mod:`core.loading`.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import cv2
import numpy as np

from siam_tracker_ros.core.anchors import cosine_window, generate_anchors, generate_points
from siam_tracker_ros.core.config import (
    SHARED_GEOMETRY_KEYS,
    TrackerConfig,
    check_geometry_agrees,
    policy_order,
    settings_with_overrides,
)
from siam_tracker_ros.core.conventions import geometry_for
from siam_tracker_ros.core.decoding import decode_anchor, decode_point, grid_shift, select_best
from siam_tracker_ros.core.geometry import (
    clip_box_cxcywh,
    subwindow_origin,
    validate_image,
    validate_target,
)
from siam_tracker_ros.core.policies import POLICIES, Policy, Search, Step, Target
from siam_tracker_ros.core.policies.lost_state import peak_to_sidelobe
from siam_tracker_ros.core.result import PresenceCues, StepInfo, TrackResult, TrackState
from siam_tracker_ros.runtime import InferenceBackend, RuntimeConfig, build_runtime
from siam_tracker_ros.runtime.config import usable_cores

if TYPE_CHECKING:
    from siam_tracker_ros.models.base import SiameseModel


T = TypeVar("T")

__all__ = ["Tracker", "usable_cores"]

#: the phases of a step, in order (see :mod:`core.policies.base`)
PHASES = ("plan", "after_search", "select", "assess", "commit")


class _Timer:
    """Seconds per phase of one step (a handful of ``perf_counter`` calls, ~1 us a step)."""

    def __init__(self) -> None:
        self.phases: dict[str, float] = {
            "crop": 0.0,
            "network": 0.0,
            "decode": 0.0,
            "presence": 0.0,
            "online_update": 0.0,
        }
        self._start = self._last = time.perf_counter()

    def lap(self, phase: str) -> None:
        now = time.perf_counter()
        self.phases[phase] += now - self._last
        self._last = now

    def done(self) -> dict[str, float]:
        self.phases["total"] = time.perf_counter() - self._start
        return self.phases


def _second_core(device: Any) -> bool:
    """Whether a prefetched search can run beside the tracker's own: a CPU network with two or
    more usable cores (on a GPU the runs queue on one device anyway)."""
    return getattr(device, "type", str(device)) == "cpu" and usable_cores() >= 2


class Tracker:
    """Single-object tracker: ``init(image, box)`` once, then ``track(image)`` per frame.

    ``image``: ``H x W x 3`` uint8 BGR. ``box``: ``(x, y, w, h)`` in pixels.

    Built from files by :func:`siam_tracker_ros.core.loading.load_tracker` (the one loading
    path). Directly: ``Tracker(model, config)`` builds the runtime the ``runtime_config`` names
    (default: eager PyTorch on the CPU; ``device`` and ``cache_dir`` override its device and
    export cache), or ``Tracker(config=..., runtime=backend)`` takes a prepared backend (shared
    between trackers, started from cached graphs, or a test's stand-in); ``model`` is then
    optional.

    ``background_searches``: a search a policy asks for ahead (:meth:`Step.prefetch`, the
    long-term re-detection crop of a lost frame) runs on a second thread beside the tracker's own
    search when the network runs on a CPU with two or more usable cores (the exported-graph
    backends release the GIL while the network runs), and so does a template run a policy wants
    by the next step (:meth:`Step.template_vector_later`, a deferred verification); default:
    ``runtime_config``'s setting (on). The boxes are the same either way.
    """

    def __init__(
        self,
        model: SiameseModel | None = None,
        config: TrackerConfig | None = None,
        device: str | Any | None = None,
        *,
        runtime: InferenceBackend | None = None,
        runtime_config: RuntimeConfig | None = None,
        cache_dir: str | Path | None = None,
        background_searches: bool | None = None,
    ) -> None:
        self.config = config if config is not None else TrackerConfig()
        cfg = self.config
        self._policies: dict[str, Policy[Any]] = {
            name: policy(getattr(cfg.mechanisms, name)) for name, policy in POLICIES.items()
        }
        self._order = [self._policies[name] for name in policy_order(cfg.mechanisms)]
        self.geometry = geometry_for(cfg.opencv_compat)
        model_config = getattr(model, "config", None) if model is not None else None
        if model_config is not None:
            check_geometry_agrees(
                {
                    k: getattr(model_config, k)
                    for k in SHARED_GEOMETRY_KEYS
                    if hasattr(model_config, k)
                },
                cfg,
            )
        self.model = model
        sizes = self.search_sizes()
        if runtime is None:
            if model is None:
                raise ValueError("Tracker needs a model or a prepared runtime")
            settings = runtime_config or RuntimeConfig()
            changes: dict[str, Any] = {}
            if device is not None:
                changes["device"] = str(device)
            if cache_dir is not None:
                changes["cache_dir"] = str(cache_dir)
            if changes:
                settings = RuntimeConfig(**{**settings.__dict__, **changes})
            runtime = build_runtime(
                model, settings, exemplar_size=cfg.exemplar_size, search_sizes=sizes
            )
        else:
            runtime.prepare(cfg.exemplar_size, sizes)
        self.runtime = runtime
        self.device = runtime.device
        self.head_type = runtime.head_type
        if self.head_type not in ("anchor", "point"):
            raise ValueError(f"unsupported model.head_type {self.head_type!r}")
        self._grids: dict[tuple[int, int, int], tuple[np.ndarray, np.ndarray]] = {}
        self._settings_lock = threading.Lock()
        self._pending_config: TrackerConfig | None = None
        self._worker: ThreadPoolExecutor | None = None
        if background_searches is None:
            background_searches = (runtime_config or RuntimeConfig()).background_searches
        self.background_searches = bool(background_searches) and _second_core(self.device)
        #: what the last :meth:`track` call did (``None`` before the first one after an init)
        self.last_step: StepInfo | None = None
        self.reset()

    # ------------------------------------------------------------------ policies
    def policy(self, name: str) -> Policy[Any]:
        """The policy registered as ``name`` (its counters and state, for tests and benches)."""
        try:
            return self._policies[name]
        except KeyError:
            raise KeyError(f"no policy {name!r} (known: {list(self._policies)})") from None

    def search_sizes(self) -> list[int]:
        """Every network input size the enabled policies may search at (the runtime prepares
        them before the first frame; others are made on first use)."""
        return self.sizes_for(self.config)

    @staticmethod
    def sizes_for(config: TrackerConfig) -> list[int]:
        """:meth:`search_sizes` of a tracker with ``config`` (before one exists: a loader
        prepares its runtime with them)."""
        base = config.instance_size
        sizes = [base]
        for name, policy in POLICIES.items():
            p = policy(getattr(config.mechanisms, name))
            if p.enabled:
                sizes += p.search_sizes(base)
        return list(dict.fromkeys(sizes))

    def _run_phase(self, phase: str, step: Step) -> None:
        for p in self._order:
            if p.enabled:
                getattr(p, phase)(step)

    # ------------------------------------------------------------------ settings at run time
    def update_settings(self, overrides: Mapping[str, Any]) -> None:
        """Change tracking settings while running (e.g. from ROS ``ros2 param set``).

        ``overrides`` maps dotted ``tracker:`` keys (``"window_influence"``,
        ``"mechanisms.lost_state.lost_threshold"``; a leading ``"tracker."`` is accepted) to new
        values. All of them are validated together through the same typed-config builder as a
        YAML file, so a bad value raises ``ValueError`` naming its dotted key and nothing changes;
        cross-key rules (``found_threshold >= lost_threshold``) see the other pending values.
        Keys that size or build the network (:data:`core.config.REBUILD_KEYS`) are refused: they
        need a new ``Tracker``. The new settings apply from the next :meth:`track` call (a frame
        is never tracked with half of them); the target and the policies' state are kept. Safe
        to call from another thread than the one tracking.
        """
        with self._settings_lock:
            base = self._pending_config if self._pending_config is not None else self.config
            self._pending_config = settings_with_overrides(base, overrides)

    def _apply_pending_settings(self) -> None:
        with self._settings_lock:
            pending, self._pending_config = self._pending_config, None
        if pending is None or pending == self.config:
            return
        if pending.window_exponent != self.config.window_exponent:
            self._grids.clear()
        self.config = pending
        for name, p in self._policies.items():
            p.configure(getattr(pending.mechanisms, name))

    # ------------------------------------------------------------------ state
    def reset(self) -> None:
        """Forget the target (all per-target state of the tracker and its policies)."""
        self._target: Target | None = None
        self.channel_average = np.zeros(3)
        #: first-frame classification kernels as flat host vectors with their norms (appearance)
        self._appearance_refs: list[tuple[np.ndarray, float]] = []
        for p in self._policies.values():
            p.reset(None)
        self._state = TrackState.IDLE
        self._ambiguous = False
        self.frame_index = 0
        self.last_step = None

    @property
    def initialized(self) -> bool:
        return self._target is not None

    @property
    def center_pos(self) -> np.ndarray:
        """The target's centre ``(cx, cy)`` (zeros before ``init``)."""
        return self._target.center if self._target is not None else np.zeros(2)

    @property
    def size(self) -> np.ndarray:
        """The target's size ``(w, h)`` (zeros before ``init``)."""
        return self._target.size if self._target is not None else np.zeros(2)

    @property
    def state(self) -> TrackState:
        """The state of the last step (AMBIGUOUS while a look-alike competes; see
        ``core.policies.distractors``)."""
        state = self._state
        return TrackState.AMBIGUOUS if self._ambiguous and state == TrackState.TRACKING else state

    @property
    def stride(self) -> int:
        """Score-map stride in search-crop pixels (the anchor or the point config's)."""
        return self.config.anchor.stride if self.head_type == "anchor" else self.config.point.stride

    # ------------------------------------------------------------------ helpers
    def _grid(
        self, score_size: int, maps: int, instance_size: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Anchors/points (centred on the crop at any crop size, see :func:`grid_shift`) and the
        cosine window for a score map, cached per size."""
        key = (score_size, maps, instance_size)
        if key not in self._grids:
            if self.head_type == "anchor":
                a = self.config.anchor
                if a.anchor_num != maps:
                    raise ValueError(
                        f"model predicts {maps} anchors per position but tracker.anchor has "
                        f"{a.anchor_num} (ratios x scales)"
                    )
                grid = generate_anchors(a.stride, a.ratios, a.scales, score_size)
            else:
                grid = generate_points(self.config.point.stride, score_size)
            shift = grid_shift(score_size, self.stride, instance_size, self.config.exemplar_size)
            if shift:
                grid[:, :2] += np.float32(shift)
            window = cosine_window(score_size, maps)
            if self.config.window_exponent != 1.0:
                window = window**self.config.window_exponent
            self._grids[key] = (grid, window)
        return self._grids[key]

    def _crop(
        self, image: np.ndarray, center: np.ndarray, model_size: int, crop_size: int
    ) -> np.ndarray:
        """The network's input crop (in the convention's geometry) in the configured channel
        order."""
        patch = self.geometry.crop(image, center, model_size, crop_size, self.channel_average)
        if self.config.channel_order == "rgb":
            patch = np.ascontiguousarray(patch[:, :, ::-1])
        return patch

    def _crop_side(self, s_z: float, instance_size: int) -> int:
        """Search-crop side in image pixels for a network input of ``instance_size``."""
        cfg = self.config
        if cfg.search_scale:
            s_x = s_z * cfg.search_scale * (instance_size / cfg.instance_size)
        else:
            s_x = s_z * (instance_size / cfg.exemplar_size)
        return self.geometry.crop_side(s_x)

    def _search(
        self,
        image: np.ndarray,
        center: np.ndarray,
        instance_size: int,
        s_z: float,
        scale_z: float,
        window_influence: float,
        timer: _Timer,
        source: str = "track",
        target_size: np.ndarray | None = None,
    ) -> Search:
        target = self._target
        assert target is not None
        size_ref = target.size if target_size is None else target_size
        crop_size = self._crop_side(s_z, instance_size)
        crop = self._crop(image, center, instance_size, crop_size)
        timer.lap("crop")
        out = self.runtime.search(crop, target.kernels)
        timer.lap("network")
        cls, loc = out.cls, out.loc
        n = cls.shape[-1]
        if self.head_type == "anchor":
            anchors, window = self._grid(n, cls.shape[1] // 2, instance_size)
            decoded = decode_anchor(cls, loc, anchors)
        else:
            points, window = self._grid(n, 1, instance_size)
            decoded = decode_point(cls, loc, points, self.config.point.score_activation)
        cand = select_best(
            decoded,
            (float(size_ref[0]), float(size_ref[1])),
            scale_z,
            self.config.penalty_k,
            window,
            window_influence,
            reference_sz=self.geometry.reference_size(target.center),
        )
        timer.lap("decode")
        center_xy = np.asarray(center, np.float64)
        return Search(
            center_xy,
            crop_size,
            instance_size,
            scale_z,
            cand,
            out.features,
            decoded,
            source=source,
            size_ref=np.array(size_ref, np.float64),
        )

    # ------------------------------------------------------------------ API
    def init(self, image: np.ndarray, box: Sequence[float] | np.ndarray) -> None:
        """Start tracking the target at ``box`` = ``(x, y, w, h)``.

        A box the tracker cannot track (not finite, not positive, mostly outside the image, far
        larger than it, or of an absurd aspect ratio; see :func:`core.geometry.validate_target`)
        raises ``ValueError`` saying why, and the previous target, if any, is kept: the new one
        replaces it only once its template is built."""
        image = validate_image(image)
        bbox = validate_target(box, image.shape)
        center, size = self.geometry.init_state(bbox)
        channel_average = np.mean(image, axis=(0, 1))
        kernels = self.runtime.template(self._template_patch(image, center, size, channel_average))
        refs = [
            (ref := k.ravel(), float(np.sqrt(np.dot(ref, ref))))
            for k in self.runtime.to_host(kernels.cls)
        ]
        # nothing above changed the tracker: from here on the new target replaces the old one
        self._apply_pending_settings()
        self.reset()
        self.channel_average = channel_average
        target = Target(
            center=center,
            size=size,
            last_motion=np.zeros(2),
            confident=np.array([*center, *size]),
            first_kernels=kernels,
            kernels=kernels,
            image_shape=tuple(image.shape),
        )
        self._target = target
        self._appearance_refs = refs
        for p in self._policies.values():
            p.reset(target)
        self._state = TrackState.TRACKING

    def track(self, image: np.ndarray) -> TrackResult:
        """Locate the target in the next frame.

        A frame of another size than the init frame's (a camera that switched resolution, same
        view) is tracked resized to the init frame's size and the result is taken back to its
        own: the target's state, template and memory are in the init frame's pixels, and read
        in another size's pixels every search would land in the wrong place at the wrong scale
        (reported present, off the target). A new view needs a new :meth:`init`."""
        if not self.initialized:
            raise RuntimeError("Tracker.track() called before init()")
        image = validate_image(image)
        self._apply_pending_settings()
        image, scale = self._in_init_geometry(image)
        result = self._track(image)
        if scale is None:
            return result
        box = result.box * scale
        if self.config.box_rounding == "truncate":
            box = np.trunc(box)
        return dataclasses.replace(result, box=box, search_box=result.search_box * scale)

    def _in_init_geometry(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """``image`` at the init frame's size, and the ``x, y, w, h`` factors that take a box
        back to its own pixels (None: it has that size). :attr:`last_step` stays in the init
        frame's pixels."""
        target = self._target
        assert target is not None
        height, width = image.shape[:2]
        init_height, init_width = target.image_shape[:2]
        if (height, width) == (init_height, init_width):
            return image, None
        sx, sy = width / init_width, height / init_height
        return cv2.resize(image, (init_width, init_height)), np.array([sx, sy, sx, sy])

    def probe(self, image: np.ndarray) -> PresenceCues:
        """The presence cues of the search the next :meth:`track` would run first, from the
        current state, which is left unchanged (``scripts/calibrate_presence.py`` collects them
        on target-absent variants of a frame). The ``plan`` phase of every policy runs; it only
        reads their state."""
        if not self.initialized:
            raise RuntimeError("Tracker.probe() called before init()")
        image, _ = self._in_init_geometry(validate_image(image))
        step = self._new_step(image, self.frame_index)
        self._run_phase("plan", step)
        search = self._search(
            image,
            step.target.center,
            step.instance_size,
            step.s_z,
            step.scale_z,
            step.window_influence,
            _Timer(),
        )
        cand = search.candidate
        box = search.image_box()
        box[2], box[3] = max(box[2], 1.0), max(box[3], 1.0)
        appearance = self._appearance(search, box)
        return PresenceCues(cand.score, peak_to_sidelobe(cand.response), appearance)

    def _new_step(self, image: np.ndarray, frame_index: int) -> Step:
        target = self._target
        assert target is not None
        cfg = self.config
        s_z = self.geometry.extent(target.size, cfg.context_amount)
        scale_z = self.geometry.scale(cfg.exemplar_size / s_z)
        return Step(
            image=image,
            frame_index=frame_index,
            target=target,
            s_z=s_z,
            scale_z=scale_z,
            instance_size=cfg.instance_size,
            window_influence=cfg.window_influence,
            base_map=cfg.score_size(cfg.instance_size, self.stride),
            exemplar_size=cfg.exemplar_size,
            stride=self.stride,
            previous_state=self._state,
            appearance_fn=self._appearance,
            pool_fn=self._pool,
            template_fn=lambda box: self._template_vector(image, box),
            template_later_fn=lambda box: self._template_later(image, box),
        )

    def _background(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        """Run ``fn(*args)`` on the one worker thread beside the calling thread (made on first
        use; only with :attr:`background_searches`), inside the runtime's
        :meth:`~InferenceBackend.beside` from now until it is done: a backend that gives a run
        several threads then gives every run one while it is open where the cores cannot hold
        both, the calling thread's next search included (two runs of two threads on two cores
        wait for each other)."""
        if self._worker is None:
            self._worker = ThreadPoolExecutor(1, thread_name_prefix="siam-search")
        beside = self.runtime.beside()
        beside.__enter__()  # left on the worker thread, when fn is done

        def run() -> T:
            try:
                return fn(*args)
            finally:
                beside.__exit__(None, None, None)

        try:
            return self._worker.submit(run)
        except BaseException:  # not handed over (shut down): nothing will leave it
            beside.__exit__(None, None, None)
            raise

    def _track(self, image: np.ndarray) -> TrackResult:
        cfg = self.config
        timer = _Timer()
        self.frame_index += 1
        target = self._target
        assert target is not None
        step = self._new_step(image, self.frame_index)

        def search_at(
            center: np.ndarray,
            size: int,
            influence: float,
            source: str,
            target_size: np.ndarray | None,
            clock: _Timer,
        ) -> Search:
            if target_size is None:
                return self._search(
                    image, center, size, step.s_z, step.scale_z, influence, clock, source
                )
            s_z = self.geometry.extent(target_size, cfg.context_amount)
            scale_z = self.geometry.scale(cfg.exemplar_size / s_z)
            return self._search(
                image, center, size, s_z, scale_z, influence, clock, source, target_size
            )

        def searcher(
            center: np.ndarray,
            size: int,
            influence: float,
            source: str,
            target_size: np.ndarray | None,
        ) -> Search:
            return search_at(center, size, influence, source, target_size, timer)

        def prefetcher(
            center: np.ndarray,
            size: int,
            influence: float,
            source: str,
            target_size: np.ndarray | None,
        ) -> Callable[[], Search]:
            # its own timer: the phases of this step are the calling thread's
            future: Future[Search] = self._background(
                search_at, center, size, influence, source, target_size, _Timer()
            )

            def result() -> Search:
                search = future.result()
                timer.lap("network")  # the wait for it
                return search

            return result

        step.searcher = searcher
        # without background searches nothing is started ahead: a search runs when asked for
        step.prefetcher = prefetcher if self.background_searches else None
        try:
            return self._run_step(step, timer)
        finally:
            # a search started ahead and not taken (the step ended in an error) is waited for:
            # nothing of this step runs on into the next one
            for waiting in step.take_prefetched():
                try:
                    waiting()
                except Exception:  # noqa: BLE001 -- a search nobody used; its error changes nothing
                    pass
            # the step's searcher and prefetcher close over the step: left in place (a policy's
            # error included), every frame's step, image, crops and maps would wait for the
            # cycle collector (measured: ~60 frames alive at a time and the process's memory
            # rising ~4 KiB a frame without end)
            step.searcher = step.prefetcher = None

    def _run_step(self, step: Step, timer: _Timer) -> TrackResult:
        """The policies' phases and the tracker's own searches for one frame, ``step``'s
        callbacks in place."""
        cfg = self.config
        target = step.target
        image = step.image
        self._run_phase("plan", step)
        step.searches.append(
            self._search(
                image,
                target.center,
                step.instance_size,
                step.s_z,
                step.scale_z,
                step.window_influence,
                timer,
            )
        )
        self._run_phase("after_search", step)
        for waiting in step.take_prefetched():
            try:
                waiting()  # nothing of this step runs on into the next one
            except Exception:  # noqa: BLE001 -- a search nobody used; its error changes nothing
                pass
        step.candidate = step.search.candidate
        self._run_phase("select", step)
        search, cand = step.search, step.candidate
        # at the chosen search's scale (its own unless a policy says otherwise) and blended with
        # the size it was penalised against: a long-term crop is cut at the last confident size
        bbox = cand.box / search.state_scale()
        size_ref = target.size if search.size_ref is None else search.size_ref
        lr = cand.penalty * cand.score * cfg.lr
        cx = bbox[0] + search.center[0]
        cy = bbox[1] + search.center[1]
        width = size_ref[0] * (1 - lr) + bbox[2] * lr
        height = size_ref[1] * (1 - lr) + bbox[3] * lr
        cx, cy, width, height = clip_box_cxcywh(cx, cy, width, height, image.shape, cfg.min_size)
        cx, cy, width, height = self.geometry.state(cx, cy, width, height)
        step.box = np.array([cx, cy, width, height])
        timer.lap("decode")

        step.presence = float(cand.score)
        self._run_phase("assess", step)
        timer.lap("presence")
        if step.follow:
            new_center = np.array([cx, cy])
            target.last_motion = new_center - target.center
            target.center = new_center
            target.size = np.array([width, height])
            if step.confident and not step.ambiguous:
                target.confident = np.array([cx, cy, width, height])
        else:
            # Lost: report and search from the last confident state, not from a drifting guess.
            target.last_motion = np.zeros(2)
            target.center = target.confident[:2].copy()
            target.size = target.confident[2:].copy()
        self._run_phase("commit", step)
        timer.lap("online_update")

        state = step.state
        present = state == TrackState.TRACKING
        self._state = state
        self._ambiguous = step.ambiguous
        if step.ambiguous and state == TrackState.TRACKING:
            state = TrackState.AMBIGUOUS
        ccx, ccy, cw, ch = (cx, cy, width, height) if step.follow else tuple(target.confident)
        box = np.array([ccx - cw / 2, ccy - ch / 2, cw, ch], dtype=np.float64)
        if cfg.box_rounding == "truncate":
            box = np.trunc(box)
        sx0 = subwindow_origin(float(search.center[0]), search.crop_size)
        sy0 = subwindow_origin(float(search.center[1]), search.crop_size)
        appearance = step.policies.get("lost_state", {}).get("appearance")
        self.last_step = StepInfo(
            frame_index=self.frame_index,
            searches=tuple(s.info() for s in step.searches),
            chosen=step.chosen,
            presence=float(step.presence),
            appearance=appearance,
            online_update=step.template_updated,
            timings=timer.done(),
            policies={k: dict(v) for k, v in step.policies.items()},
        )
        return TrackResult(
            box=box,
            score=float(cand.score),
            present=present,
            state=state,
            response=cand.response,
            search_box=np.array([sx0, sy0, search.crop_size, search.crop_size], np.float64),
        )

    def _pool(self, search: Search, box: np.ndarray) -> list[Any]:
        """The classification kernel pooled from ``search``'s features at ``box`` (``cx, cy, w,
        h``, image pixels).

        Kept on the search: the appearance cue and the online update pool at the same box in
        the same frame, so with both on the second one costs nothing."""
        key = (float(box[0]), float(box[1]), float(box[2]), float(box[3]))
        if search.pooled is None or search.pooled[0] != key:
            scale = search.instance_size / search.crop_size  # image px -> search-crop px
            half = search.instance_size / 2.0
            ccx = float(half + (key[0] - search.center[0]) * scale)
            ccy = float(half + (key[1] - search.center[1]) * scale)
            half_w, half_h = float(key[2] * scale / 2), float(key[3] * scale / 2)
            roi = (ccx - half_w, ccy - half_h, ccx + half_w, ccy + half_h)
            search.pooled = (key, self.runtime.pool(search.features, roi))
        return search.pooled[1]

    def _template_patch(
        self, image: np.ndarray, center: np.ndarray, size: np.ndarray, channel_average: np.ndarray
    ) -> np.ndarray:
        """The network's template input for a target of ``size`` at ``center`` (in the
        network's channel order), cut the way :meth:`init` cuts the first one."""
        cfg = self.config
        side = self.geometry.template_side(size, cfg.context_amount)
        patch = self.geometry.crop(image, center, cfg.exemplar_size, side, channel_average)
        if cfg.channel_order == "rgb":
            patch = np.ascontiguousarray(patch[:, :, ::-1])
        return patch

    def _box_patch(self, image: np.ndarray, box: np.ndarray) -> np.ndarray:
        center = np.asarray(box[:2], np.float64)
        size = np.maximum(np.asarray(box[2:4], np.float64), 1.0)
        return self._template_patch(image, center, size, self.channel_average)

    def _template_vector(self, image: np.ndarray, box: np.ndarray) -> np.ndarray:
        """The unit-length classification kernel of a template cut at ``box`` (``cx, cy, w, h``)
        of ``image``, the way :meth:`init` cuts the first one (see :meth:`Step.template_vector`)."""
        return self._patch_vector(self._box_patch(image, box))

    def _template_later(self, image: np.ndarray, box: np.ndarray) -> Callable[[], np.ndarray]:
        """:meth:`_template_vector` for a later step (see :meth:`Step.template_vector_later`).

        The patch is cut now (the caller may reuse the image's buffer for its next frame); the
        network runs on the background worker when there is one (beside the next frame's own
        search), else when the result is asked for."""
        patch = self._box_patch(image, box)
        if np.shares_memory(patch, image):  # a crop inside the image at the network's size
            patch = patch.copy()
        if not self.background_searches:
            return lambda: self._patch_vector(patch)
        return self._background(self._patch_vector, patch).result

    def _patch_vector(self, patch: np.ndarray) -> np.ndarray:
        kernels = self.runtime.to_host(self.runtime.template(patch).cls)
        vec = np.concatenate([k.ravel() for k in kernels]).astype(np.float64)
        return vec / max(float(np.sqrt((vec * vec).sum())), 1e-12)  # no BLAS (see longterm)

    def _appearance(self, search: Search, box: np.ndarray) -> float:
        """Cosine similarity between the classification kernel pooled at ``box`` and the first
        frame's (mean over kernel levels): does the box still look like the target?

        In NumPy on the host (the kernels are a few KB): this runs every frame, and the first
        frame's vectors and norms are prepared once in :meth:`init`."""
        sims = []
        pooled = self.runtime.to_host(self._pool(search, box))
        for p, (ref, ref_norm) in zip(pooled, self._appearance_refs, strict=True):
            vec = p.ravel()
            # torch.cosine_similarity's definition: x.y / max(|x| |y|, eps)
            denom = max(float(np.sqrt(np.dot(vec, vec))) * ref_norm, 1e-8)
            sims.append(float(np.dot(vec, ref)) / denom)
        return float(np.mean(sims))

    def __repr__(self) -> str:
        return (
            f"Tracker(model={type(self.model).__name__}, runtime={self.runtime!r}, "
            f"head={self.head_type}, state={self.state.name})"
        )
