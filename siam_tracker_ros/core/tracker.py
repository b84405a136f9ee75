"""The one ``Tracker`` for every model family: pysot's SiamRPNTracker plus SiamMargin policies.

With all mechanisms disabled this reproduces pysot's ``SiamRPNTracker`` (init centre
``x + (w - 1) / 2``, crops, anchors, penalties, cosine window, size smoothing, clipping, returned
box ``cx - w / 2``) to within float32 round-off; the fixture tests hold it to that. The model
family only decides the network and, through ``head_type``, which decoder turns its output into
boxes.

What lives where: this module is the tracking step (search region, decoding, selection, state,
and the calls into the mechanisms). The network runs in an inference backend
(:mod:`siam_tracker_ros.runtime`: PyTorch eager, CUDA graphs or ONNX Runtime, chosen by
:class:`~siam_tracker_ros.runtime.RuntimeConfig`), which takes host crops and returns the head's
maps on the host. The arithmetic conventions (pysot's, or ``cv2.TrackerNano``'s emulation) are a
:mod:`core.conventions` object; the SiamMargin mechanisms are :mod:`core.policies` objects that
own their state. What a step did is :attr:`Tracker.last_step`.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from siam_tracker_ros.core.anchors import cosine_window, generate_anchors, generate_points
from siam_tracker_ros.core.config import (
    SHARED_GEOMETRY_KEYS,
    TrackerConfig,
    check_geometry_agrees,
    config_from_dict,
    load_config,
    runtime_config,
    settings_with_overrides,
)
from siam_tracker_ros.core.conventions import geometry_for
from siam_tracker_ros.core.decoding import (
    Candidate,
    Decoded,
    candidate_at,
    decode_anchor,
    decode_point,
    grid_shift,
    select_best,
)
from siam_tracker_ros.core.distractors import DistractorPolicy
from siam_tracker_ros.core.geometry import (
    clip_box_cxcywh,
    subwindow_origin,
    validate_image,
    validate_target,
)
from siam_tracker_ros.core.policies import (
    AdaptiveSearchPolicy,
    LostStatePolicy,
    OneMoreSearchPolicy,
    OnlineUpdatePolicy,
    peak_to_sidelobe,
)
from siam_tracker_ros.core.result import (
    PresenceCues,
    SearchInfo,
    StepInfo,
    TrackResult,
    TrackState,
)
from siam_tracker_ros.models.base import Features, Kernels, SiameseModel
from siam_tracker_ros.runtime import InferenceBackend, build_runtime, resolve_device

__all__ = ["Tracker", "resolve_device"]


@dataclass
class _Search:
    """One search crop and what it produced (host side, plus the features for pooling)."""

    center: np.ndarray
    crop_size: int
    instance_size: int
    candidate: Candidate
    features: Features
    decoded: Decoded | None = None
    #: the classification kernel last pooled from ``features``, and the box it was pooled at
    pooled: tuple[tuple[float, float, float, float], list[torch.Tensor]] | None = None

    def info(self) -> SearchInfo:
        center = (float(self.center[0]), float(self.center[1]))
        return SearchInfo(center, self.crop_size, self.instance_size, self.candidate)


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


class Tracker:
    """Single-object tracker: ``init(image, box)`` once, then ``track(image)`` per frame.

    ``image``: ``H x W x 3`` uint8 BGR. ``box``: ``(x, y, w, h)`` in pixels. ``device`` overrides
    ``config.device``. ``runtime``: an inference backend already built for ``model`` (e.g. to
    share one between trackers, or a test's stand-in); by default one is built from the runtime
    keys of ``config`` (:func:`core.config.runtime_config`). ``cache_dir``: where the ONNX
    Runtime backend keeps exported graphs (default ``$SIAM_TRACKER_CACHE`` or the user cache;
    ``""``: no disk cache).
    """

    def __init__(
        self,
        model: SiameseModel,
        config: TrackerConfig | None = None,
        device: str | torch.device | None = None,
        *,
        runtime: InferenceBackend | None = None,
        cache_dir: str | Path | None = None,
    ) -> None:
        self.config = config if config is not None else TrackerConfig()
        cfg = self.config
        mech = cfg.mechanisms
        self.online = OnlineUpdatePolicy(mech.online_update)
        self.adaptive = AdaptiveSearchPolicy(mech.adaptive_search)
        self.one_more = OneMoreSearchPolicy(mech.one_more_search)
        self.lost_state = LostStatePolicy(mech.lost_state)
        self.distractors = DistractorPolicy(mech.distractors)
        self._ambiguous = False
        self.geometry = geometry_for(cfg.opencv_compat)
        model_config = getattr(model, "config", None)
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
        if runtime is None:
            settings = runtime_config(cfg, None if device is None else str(device))
            if cache_dir is not None:
                settings = dataclasses.replace(settings, cache_dir=str(cache_dir))
            runtime = build_runtime(
                model,
                settings,
                exemplar_size=cfg.exemplar_size,
                search_sizes=self.adaptive.sizes_used(cfg.instance_size),
            )
        else:
            runtime.prepare(cfg.exemplar_size, self.adaptive.sizes_used(cfg.instance_size))
        self.runtime = runtime
        self.device = runtime.device
        self.head_type = runtime.head_type
        if self.head_type not in ("anchor", "point"):
            raise ValueError(f"unsupported model.head_type {self.head_type!r}")
        self._grids: dict[tuple[int, int, int], tuple[np.ndarray, np.ndarray]] = {}
        self._settings_lock = threading.Lock()
        self._pending_config: TrackerConfig | None = None
        #: what the last :meth:`track` call did (``None`` before the first one after an init)
        self.last_step: StepInfo | None = None
        self.reset()

    # ------------------------------------------------------------------ construction helpers
    @classmethod
    def from_config(
        cls,
        config_path: str | Path,
        weights: str | Path | None = None,
        device: str | torch.device | None = None,
        runtime: str | None = None,
        cpu_threads: int | None = None,
        cache_dir: str | Path | None = None,
    ) -> Tracker:
        """Build the model named in a YAML config, load weights, wrap it.

        ``weights`` (any file ``models.checkpoint.load_state_dict_file`` reads: pysot / NanoTrack
        state dicts or our checkpoints) overrides ``model.weights`` from the config; a relative
        ``model.weights`` is resolved against the config file's folder first, then the cwd.
        ``runtime`` (``"torch"`` / ``"onnxruntime"``) overrides ``tracker.runtime``,
        ``cpu_threads`` ``tracker.cpu_threads``; ``cache_dir`` as in the constructor.
        """
        from siam_tracker_ros.models.checkpoint import load_into, load_state_dict_file
        from siam_tracker_ros.models.registry import build_model

        config_path = Path(config_path)
        cfg = load_config(config_path)
        model = build_model(cfg.model)
        if weights is None and cfg.model.get("weights"):
            weights = Path(str(cfg.model["weights"])).expanduser()
            if not weights.is_absolute() and (config_path.parent / weights).exists():
                weights = config_path.parent / weights
        if weights is not None:
            load_into(model, load_state_dict_file(weights))
        config = _with_overrides(cfg.tracker, runtime, cpu_threads)
        return cls(model, config, device=device, cache_dir=cache_dir)

    @classmethod
    def from_checkpoint(
        cls,
        path: str | Path,
        device: str | torch.device | None = None,
        runtime: str | None = None,
        cpu_threads: int | None = None,
        cache_dir: str | Path | None = None,
    ) -> Tracker:
        """Build from a checkpoint that carries its own config (``model`` + ``tracker``);
        ``runtime``, ``cpu_threads`` and ``cache_dir`` as in :meth:`from_config`."""
        from siam_tracker_ros.models.checkpoint import load_checkpoint, load_into
        from siam_tracker_ros.models.registry import build_model

        state_dict, config_dict, _ = load_checkpoint(path)
        if not config_dict:
            raise ValueError(
                f"{path}: checkpoint carries no config; use Tracker.from_config(yaml, weights=...)"
            )
        cfg = config_from_dict(config_dict)
        model = build_model(cfg.model)
        load_into(model, state_dict)
        config = _with_overrides(cfg.tracker, runtime, cpu_threads)
        return cls(model, config, device=device, cache_dir=cache_dir)

    # ------------------------------------------------------------------ settings at run time
    def update_settings(self, overrides: Mapping[str, Any]) -> None:
        """Change tracking settings while running (e.g. from ROS ``ros2 param set``).

        ``overrides`` maps dotted ``tracker:`` keys (``"window_influence"``,
        ``"mechanisms.lost_state.lost_threshold"``; a leading ``"tracker."`` is accepted) to new
        values. All of them are validated together through the same typed-config builder as a
        YAML file, so a bad value raises ``ValueError`` naming its dotted key and nothing changes;
        cross-key rules (``found_threshold >= lost_threshold``) see the other pending values.
        Keys that size or build the network (:data:`REBUILD_KEYS`) are refused: they need a new
        ``Tracker``. The new settings apply from the next :meth:`track` call (a frame is never
        tracked with half of them); the target and the policies' state are kept. Safe to call
        from another thread than the one tracking.
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
        mech = pending.mechanisms
        self.online.configure(mech.online_update)
        self.adaptive.configure(mech.adaptive_search)
        self.one_more.configure(mech.one_more_search)
        self.lost_state.configure(mech.lost_state)
        self.distractors.configure(mech.distractors)

    # ------------------------------------------------------------------ state
    def reset(self) -> None:
        """Forget the target (all per-target state of the tracker and its policies)."""
        self.center_pos = np.zeros(2)
        self.size = np.zeros(2)
        self.channel_average = np.zeros(3)
        self._kernels: Kernels | None = None
        #: first-frame classification kernels as flat host vectors with their norms (appearance)
        self._appearance_refs: list[tuple[np.ndarray, float]] = []
        self._last_motion = np.zeros(2)
        self._confident = np.zeros(4)  # cx, cy, w, h of the last confident state
        self.online.reset(None)
        self.lost_state.clear()
        self.distractors.reset()
        self._ambiguous = False
        self.frame_index = 0
        self.last_step = None

    @property
    def initialized(self) -> bool:
        return self._kernels is not None

    @property
    def state(self) -> TrackState:
        """The state of the last step (AMBIGUOUS while a look-alike competes; see
        ``core.distractors``)."""
        state = self.lost_state.state
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
    ) -> _Search:
        assert self._kernels is not None
        crop_size = self._crop_side(s_z, instance_size)
        crop = self._crop(image, center, instance_size, crop_size)
        timer.lap("crop")
        out = self.runtime.search(crop, self.online.kernels())
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
            (float(self.size[0]), float(self.size[1])),
            scale_z,
            self.config.penalty_k,
            window,
            window_influence,
            reference_sz=self.geometry.reference_size(self.center_pos),
        )
        timer.lap("decode")
        center_xy = np.asarray(center, np.float64)
        return _Search(center_xy, crop_size, instance_size, cand, out.features, decoded)

    # ------------------------------------------------------------------ API
    def init(self, image: np.ndarray, box: Sequence[float] | np.ndarray) -> None:
        """Start tracking the target at ``box`` = ``(x, y, w, h)``.

        A box the tracker cannot track (not finite, not positive, mostly outside the image, far
        larger than it, or of an absurd aspect ratio; see :func:`core.geometry.validate_target`)
        raises ``ValueError`` saying why, and the previous target, if any, is kept: the new one
        replaces it only once its template is built."""
        image = validate_image(image)
        bbox = validate_target(box, image.shape)
        cfg = self.config
        center, size = self.geometry.init_state(bbox)
        channel_average = np.mean(image, axis=(0, 1))
        side = self.geometry.template_side(size, cfg.context_amount)
        patch = self.geometry.crop(image, center, cfg.exemplar_size, side, channel_average)
        if cfg.channel_order == "rgb":
            patch = np.ascontiguousarray(patch[:, :, ::-1])
        kernels = self.runtime.template(patch)
        refs = [
            (ref := k.ravel(), float(np.sqrt(np.dot(ref, ref))))
            for k in self.runtime.to_host(kernels.cls)
        ]
        # nothing above changed the tracker: from here on the new target replaces the old one
        self._apply_pending_settings()
        self.reset()
        self.center_pos, self.size, self.channel_average = center, size, channel_average
        self._kernels = kernels
        self._appearance_refs = refs
        self.online.reset(kernels)
        self.lost_state.reset()
        self._confident = np.array([*self.center_pos, *self.size])

    def track(self, image: np.ndarray) -> TrackResult:
        """Locate the target in the next frame."""
        if not self.initialized:
            raise RuntimeError("Tracker.track() called before init()")
        image = validate_image(image)
        self._apply_pending_settings()
        with torch.inference_mode():
            return self._track(image)

    def probe(self, image: np.ndarray) -> PresenceCues:
        """The presence cues of the search the next :meth:`track` would run first, from the
        current state, which is left unchanged (``scripts/calibrate_presence.py`` collects them
        on target-absent variants of a frame)."""
        if not self.initialized:
            raise RuntimeError("Tracker.probe() called before init()")
        image = validate_image(image)
        with torch.inference_mode():
            s_z, scale_z = self._scales()
            size, influence = self._search_region(image, scale_z)
            search = self._search(image, self.center_pos, size, s_z, scale_z, influence, _Timer())
            cand = search.candidate
            box = cand.box / scale_z
            cx, cy = box[0] + search.center[0], box[1] + search.center[1]
            appearance = self._appearance(search, cx, cy, max(box[2], 1.0), max(box[3], 1.0))
        return PresenceCues(cand.score, peak_to_sidelobe(cand.response), appearance)

    def _scales(self) -> tuple[float, float]:
        """``s_z`` and the image-to-crop scale of this frame."""
        s_z = self.geometry.extent(self.size, self.config.context_amount)
        return s_z, self.geometry.scale(self.config.exemplar_size / s_z)

    def _search_region(self, image: np.ndarray, scale_z: float) -> tuple[int, float]:
        """Network input size and cosine-window weight of this frame's search."""
        cfg = self.config
        instance_size = self.adaptive.instance_size(
            cfg.instance_size,
            self.size,
            image.shape,
            float(np.hypot(*self._last_motion)) * scale_z,
        )
        return self.lost_state.search_region(
            instance_size, cfg.window_influence, cfg.exemplar_size, self.stride
        )

    def _track(self, image: np.ndarray) -> TrackResult:
        cfg = self.config
        timer = _Timer()
        self.frame_index += 1
        s_z, scale_z = self._scales()
        instance_size, window_influence = self._search_region(image, scale_z)

        search = self._search(
            image, self.center_pos, instance_size, s_z, scale_z, window_influence, timer
        )
        searches = [search]
        retry = self.one_more.retry_center(
            search.candidate.score, self.center_pos, self._last_motion
        )
        if retry is not None:
            second = self._search(
                image, retry, instance_size, s_z, scale_z, window_influence, timer
            )
            searches.append(second)
            if second.candidate.score > search.candidate.score:
                search = second

        ambiguous = False
        if self.distractors.enabled:
            search.candidate, ambiguous = self._choose(search, scale_z)
        cand = search.candidate
        bbox = cand.box / scale_z
        lr = cand.penalty * cand.score * cfg.lr
        cx = bbox[0] + search.center[0]
        cy = bbox[1] + search.center[1]
        width = self.size[0] * (1 - lr) + bbox[2] * lr
        height = self.size[1] * (1 - lr) + bbox[3] * lr
        cx, cy, width, height = clip_box_cxcywh(cx, cy, width, height, image.shape, cfg.min_size)
        cx, cy, width, height = self.geometry.state(cx, cy, width, height)
        timer.lap("decode")

        appearance = None
        if self.lost_state.uses_appearance:
            appearance = self._appearance(search, cx, cy, width, height)
        base_map = cfg.score_size(cfg.instance_size, self.stride)
        signal = self.lost_state.presence(cand.score, cand.response, appearance, base_map)
        state = self.lost_state.update(signal)
        timer.lap("presence")
        follow = self.lost_state.follows(state)
        updated = False
        if follow:
            new_center = np.array([cx, cy])
            self._last_motion = new_center - self.center_pos
            self.center_pos = new_center
            self.size = np.array([width, height])
            if self.lost_state.confident(signal) and not ambiguous:
                self._confident = np.array([cx, cy, width, height])
            # never fold a frame into the template while a look-alike competes (drift source)
            tracking = state == TrackState.TRACKING and not ambiguous
            if self.online.wants_update(cand.score, tracking=tracking):
                self.online.update(self._pool(search, cx, cy, width, height), cand.score)
                updated = True
        else:
            # Lost: report and search from the last confident state, not from a drifting guess.
            self._last_motion = np.zeros(2)
            self.center_pos = self._confident[:2].copy()
            self.size = self._confident[2:].copy()
        timer.lap("online_update")

        present = state == TrackState.TRACKING
        self._ambiguous = ambiguous
        if ambiguous and state == TrackState.TRACKING:
            state = TrackState.AMBIGUOUS
        ccx, ccy, cw, ch = (cx, cy, width, height) if follow else tuple(self._confident)
        box = np.array([ccx - cw / 2, ccy - ch / 2, cw, ch], dtype=np.float64)
        if cfg.box_rounding == "truncate":
            box = np.trunc(box)
        sx0 = subwindow_origin(float(search.center[0]), search.crop_size)
        sy0 = subwindow_origin(float(search.center[1]), search.crop_size)
        self.last_step = StepInfo(
            frame_index=self.frame_index,
            searches=tuple(s.info() for s in searches),
            chosen=next(i for i, s in enumerate(searches) if s is search),
            presence=float(signal),
            appearance=appearance,
            online_update=updated,
            timings=timer.done(),
        )
        return TrackResult(
            box=box,
            score=float(cand.score),
            present=present,
            state=state,
            response=cand.response,
            search_box=np.array([sx0, sy0, search.crop_size, search.crop_size], np.float64),
        )

    def _choose(self, search: _Search, scale_z: float) -> tuple[Candidate, bool]:
        """The distractor policy's pick among this search's candidates, and whether the frame is
        ambiguous (``core.distractors``). Candidate centres go to image pixels so the policy's
        memory of look-alikes survives the crop moving."""
        dec, cand = search.decoded, search.candidate
        if dec is None or cand.pscores is None:
            return cand, False
        n = int(dec.response.shape[-1])
        maps = len(dec.score) // (n * n)
        positions = dec.boxes[:2].T.astype(np.float64) / scale_z + search.center
        choice = self.distractors.choose(
            cand.pscores, dec.score, positions, (maps, n, n), self.center_pos, self.size
        )
        if choice.changed:
            cand = candidate_at(dec, cand, choice.index)
        return cand, choice.ambiguous

    def _pool(
        self, search: _Search, cx: float, cy: float, w: float, h: float
    ) -> list[torch.Tensor]:
        """The classification kernel pooled from ``search``'s features at box ``cx, cy, w, h``
        (image pixels).

        Kept on the search: the appearance cue and the online update pool at the same box in
        the same frame, so with both on the second one costs nothing."""
        box = (float(cx), float(cy), float(w), float(h))
        if search.pooled is None or search.pooled[0] != box:
            scale = search.instance_size / search.crop_size  # image px -> search-crop px
            half = search.instance_size / 2.0
            ccx = float(half + (box[0] - search.center[0]) * scale)
            ccy = float(half + (box[1] - search.center[1]) * scale)
            half_w, half_h = float(box[2] * scale / 2), float(box[3] * scale / 2)
            roi = (ccx - half_w, ccy - half_h, ccx + half_w, ccy + half_h)
            search.pooled = (box, self.runtime.pool(search.features, roi))
        return search.pooled[1]

    def _appearance(self, search: _Search, cx: float, cy: float, w: float, h: float) -> float:
        """Cosine similarity between the classification kernel pooled at the predicted box and
        the first frame's (mean over kernel levels): does the box still look like the target?

        In NumPy on the host (the kernels are a few KB): this runs every frame, and the first
        frame's vectors and norms are prepared once in :meth:`init`."""
        sims = []
        pooled = self.runtime.to_host(self._pool(search, cx, cy, w, h))
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


def _with_overrides(
    config: TrackerConfig, runtime: str | None, cpu_threads: int | None
) -> TrackerConfig:
    """``config`` with ``runtime`` / ``cpu_threads`` overridden where given (validated like the
    YAML keys)."""
    if runtime is not None and runtime not in ("torch", "onnxruntime"):
        raise ValueError(f"runtime must be 'torch' or 'onnxruntime', got {runtime!r}")
    changes: dict[str, Any] = {}
    if runtime is not None:
        changes["runtime"] = runtime
    if cpu_threads is not None:
        changes["cpu_threads"] = cpu_threads
    return dataclasses.replace(config, **changes) if changes else config
