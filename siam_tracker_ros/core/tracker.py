"""The one ``Tracker`` for every model family: pysot's SiamRPNTracker plus SiamMargin policies.

With all mechanisms disabled this reproduces pysot's ``SiamRPNTracker`` (init centre
``x + (w - 1) / 2``, crops, anchors, penalties, cosine window, size smoothing, clipping, returned
box ``cx - w / 2``) to within float32 round-off; the fixture tests hold it to that. The model
family only decides the network and, through ``model.head_type``, which decoder turns its output
into boxes.

Device handling: crops are cut on the host (a 255x255 ``cv2.resize`` is far cheaper than moving the
frame) and uploaded as uint8; the network runs on the device, and its small ``cls`` / ``loc`` maps
come back in one copy per search, to be decoded in NumPy (see :mod:`core.decoding` for why).
CUDA can run under autocast (fp16/bf16) with channels_last; the CPU path is float32 so it matches
pysot.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from siam_tracker_ros.core.anchors import cosine_window, generate_anchors, generate_points
from siam_tracker_ros.core.config import (
    TrackerConfig,
    config_from_dict,
    load_config,
    settings_with_overrides,
)
from siam_tracker_ros.core.decoding import (
    Candidate,
    decode_anchor,
    decode_point,
    grid_shift,
    select_best,
)
from siam_tracker_ros.core.geometry import (
    clip_box_cxcywh,
    get_subwindow,
    get_subwindow_opencv,
    subwindow_origin,
    validate_box,
    validate_image,
)
from siam_tracker_ros.core.policies import (
    AdaptiveSearchPolicy,
    LostStatePolicy,
    OneMoreSearchPolicy,
    OnlineUpdatePolicy,
    valid_instance_size,
)
from siam_tracker_ros.core.result import TrackResult, TrackState
from siam_tracker_ros.models.base import Features, Kernels, SiameseModel
from siam_tracker_ros.models.cuda_graph import CudaGraphModel

__all__ = ["Tracker", "resolve_device"]


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU; asking for CUDA without it is an error."""
    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {str(device)!r} requested but CUDA is not available")
    return dev


@dataclass
class _Search:
    """One search crop and what it produced (host side, plus the features for online update)."""

    center: np.ndarray
    crop_size: int
    instance_size: int
    candidate: Candidate
    features: Features
    #: the classification kernel last pooled from ``features``, and the box it was pooled at
    pooled: tuple[tuple[float, float, float, float], list[torch.Tensor]] | None = None


class Tracker:
    """Single-object tracker: ``init(image, box)`` once, then ``track(image)`` per frame.

    ``image``: ``H x W x 3`` uint8 BGR. ``box``: ``(x, y, w, h)`` in pixels. ``device`` overrides
    ``config.device``.
    """

    def __init__(
        self,
        model: SiameseModel,
        config: TrackerConfig | None = None,
        device: str | torch.device | None = None,
    ) -> None:
        self.config = config if config is not None else TrackerConfig()
        self.device = resolve_device(device if device is not None else self.config.device)
        self.head_type = getattr(model, "head_type", "anchor")
        if self.head_type not in ("anchor", "point"):
            raise ValueError(f"unsupported model.head_type {self.head_type!r}")
        self._cuda = self.device.type == "cuda"
        # channels_last also on CPU: oneDNN's NHWC convolutions run NanoTrack's eager forward
        # 15-40% faster there (docs/speed.md); ONNX Runtime takes plain NCHW crops
        self._channels_last = self.config.channels_last and self.config.runtime == "torch"
        model = model.eval().to(self.device)
        if self._channels_last:
            model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        self._amp_dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(self.config.precision)
        if self.config.runtime == "onnxruntime":
            model = _onnxruntime_model(model, self.config, self.device)
        elif self._cuda and self.config.cuda_graphs and not isinstance(model, CudaGraphModel):
            model = CudaGraphModel(model, self._amp_dtype)
        self.model = model
        mech = self.config.mechanisms
        self.online = OnlineUpdatePolicy(mech.online_update)
        self.adaptive = AdaptiveSearchPolicy(mech.adaptive_search)
        self.one_more = OneMoreSearchPolicy(mech.one_more_search)
        self.lost_state = LostStatePolicy(mech.lost_state)
        self._grids: dict[tuple[int, int, int], tuple[np.ndarray, np.ndarray]] = {}
        self._settings_lock = threading.Lock()
        self._pending_config: TrackerConfig | None = None
        self.reset()
        if isinstance(model, CudaGraphModel):
            self._capture_graphs(model)

    # ------------------------------------------------------------------ construction helpers
    @classmethod
    def from_config(
        cls,
        config_path: str | Path,
        weights: str | Path | None = None,
        device: str | torch.device | None = None,
        runtime: str | None = None,
        cpu_threads: int | None = None,
    ) -> Tracker:
        """Build the model named in a YAML config, load weights, wrap it.

        ``weights`` (any file ``models.checkpoint.load_state_dict_file`` reads: pysot / NanoTrack
        state dicts or our checkpoints) overrides ``model.weights`` from the config; a relative
        ``model.weights`` is resolved against the config file's folder first, then the cwd.
        ``runtime`` (``"torch"`` / ``"onnxruntime"``) overrides ``tracker.runtime``,
        ``cpu_threads`` ``tracker.cpu_threads``.
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
        return cls(model, _with_overrides(cfg.tracker, runtime, cpu_threads), device=device)

    @classmethod
    def from_checkpoint(
        cls,
        path: str | Path,
        device: str | torch.device | None = None,
        runtime: str | None = None,
        cpu_threads: int | None = None,
    ) -> Tracker:
        """Build from a checkpoint that carries its own config (``model`` + ``tracker``);
        ``runtime`` and ``cpu_threads`` override its tracker settings as in :meth:`from_config`."""
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
        return cls(model, _with_overrides(cfg.tracker, runtime, cpu_threads), device=device)

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
        self.lost_state.state = TrackState.IDLE
        self.frame_index = 0

    @property
    def initialized(self) -> bool:
        return self._kernels is not None

    @property
    def state(self) -> TrackState:
        return self.lost_state.state

    # ------------------------------------------------------------------ helpers
    @contextlib.contextmanager
    def _autocast(self) -> Iterator[None]:
        if self._cuda and self._amp_dtype is not None:
            with torch.autocast("cuda", dtype=self._amp_dtype):
                yield
        else:
            yield

    def _to_tensor(self, patch: np.ndarray) -> torch.Tensor:
        if self.device.type == "cpu":
            # HWC float permuted to 1x3xHxW *is* the channels_last layout: one cast pass. The
            # contiguous NCHW crop ONNX Runtime needs: OpenCV's plane split, then one cast of
            # the uint8 planes (2.3x cheaper than a transposing NumPy cast, docs/speed.md). Both
            # copy, so read-only buffers are fine.
            if self._channels_last:
                return torch.from_numpy(patch.astype(np.float32)).permute(2, 0, 1).unsqueeze(0)
            return torch.from_numpy(np.stack(cv2.split(patch)).astype(np.float32)[None])
        if not patch.flags.writeable:  # e.g. a read-only ROS buffer viewed without copying
            patch = patch.copy()
        t = torch.from_numpy(patch).to(self.device, non_blocking=True)
        t = t.permute(2, 0, 1).unsqueeze(0).float()
        if self._channels_last:
            t = t.contiguous(memory_format=torch.channels_last)
        return t.contiguous() if not self._channels_last else t

    @property
    def stride(self) -> int:
        """Score-map stride in search-crop pixels (the anchor or the point config's)."""
        return self.config.anchor.stride if self.head_type == "anchor" else self.config.point.stride

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

    def _search_sizes(self, s_z: float, instance_size: int) -> tuple[float, int]:
        cfg = self.config
        if cfg.search_scale:
            s_x = s_z * cfg.search_scale * (instance_size / cfg.instance_size)
        else:
            s_x = s_z * (instance_size / cfg.exemplar_size)
        return s_x, int(s_x) if cfg.opencv_compat else round(s_x)

    def _crop(
        self, image: np.ndarray, center: np.ndarray, model_size: int, crop_size: int
    ) -> np.ndarray:
        """The network's input crop (pysot's, or OpenCV's under ``opencv_compat``) in the
        configured channel order."""
        if self.config.opencv_compat:
            patch = get_subwindow_opencv(image, center, model_size, crop_size)
        else:
            patch = get_subwindow(image, center, model_size, crop_size, self.channel_average)
        if self.config.channel_order == "rgb":
            patch = np.ascontiguousarray(patch[:, :, ::-1])
        return patch

    def _template_extent(self) -> float:
        """pysot's ``s_z``: side of the square around the target plus context, image pixels."""
        cfg = self.config
        total = float(np.sum(self.size))
        if cfg.opencv_compat:
            total = float(int(total))  # cv2.TrackerNano truncates the context sum
        w_z = self.size[0] + cfg.context_amount * total
        h_z = self.size[1] + cfg.context_amount * total
        s_z = float(np.sqrt(w_z * h_z))
        return float(np.float32(s_z)) if cfg.opencv_compat else s_z

    def _search(
        self,
        image: np.ndarray,
        center: np.ndarray,
        instance_size: int,
        s_z: float,
        scale_z: float,
        window_influence: float,
    ) -> _Search:
        assert self._kernels is not None
        _, crop_size = self._search_sizes(s_z, instance_size)
        x = self._to_tensor(self._crop(image, center, instance_size, crop_size))
        with self._autocast():
            xf = self.model.search_features(x)
            out = self.model.head(xf, self.online.kernels())
        cls, loc = _head_to_host(out.cls, out.loc)  # the one device->host sync
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
            reference_sz=self._opencv_reference_sz() if self.config.opencv_compat else None,
        )
        return _Search(np.asarray(center, np.float64), crop_size, instance_size, cand, xf)

    # ------------------------------------------------------------------ API
    def init(self, image: np.ndarray, box: Sequence[float] | np.ndarray) -> None:
        """Start tracking the target at ``box`` = ``(x, y, w, h)`` (resets all previous state)."""
        image = validate_image(image)
        bbox = validate_box(box, image.shape)
        self.reset()
        cfg = self.config
        if cfg.opencv_compat:  # cv2.TrackerNano: integer box, centre x + w / 2, truncated extent
            bbox = np.trunc(bbox)
            self.center_pos = bbox[:2] + bbox[2:] / 2
            self.size = bbox[2:].copy()
            w_z = self.size[0] + cfg.context_amount * np.sum(self.size)
            h_z = self.size[1] + cfg.context_amount * np.sum(self.size)
            s_z = int(np.sqrt(w_z * h_z))
        else:
            self.center_pos = np.array([bbox[0] + (bbox[2] - 1) / 2, bbox[1] + (bbox[3] - 1) / 2])
            self.size = np.array([bbox[2], bbox[3]])
            w_z = self.size[0] + cfg.context_amount * np.sum(self.size)
            h_z = self.size[1] + cfg.context_amount * np.sum(self.size)
            s_z = round(np.sqrt(w_z * h_z))
        self.channel_average = np.mean(image, axis=(0, 1))
        z_crop = self._crop(image, self.center_pos, cfg.exemplar_size, s_z)
        with torch.inference_mode(), self._autocast():
            kernels = self.model.make_kernels(self.model.template_features(self._to_tensor(z_crop)))
        self._kernels = kernels
        self._appearance_refs = [
            (ref := k.detach().float().cpu().numpy().ravel(), float(np.sqrt(np.dot(ref, ref))))
            for k in kernels.cls
        ]
        self.online.reset(kernels)
        self.lost_state.reset()
        self._confident = np.array([*self.center_pos, *self.size])

    def _capture_graphs(self, model: CudaGraphModel) -> None:
        """Capture the CUDA graphs of the search sizes every target uses (the base crop and the
        adaptive search's large one) now, at start-up, rather than on a robot's first frames
        after an init. The graphs read the kernels from buffers, so a blank template's do."""
        sizes = [self.config.instance_size]
        if self.adaptive.config.enabled:
            sizes.append(max(self.config.instance_size, self.adaptive.config.large_instance_size))
        crops = [self._to_tensor(np.zeros((s, s, 3), np.uint8)) for s in dict.fromkeys(sizes)]
        side = self.config.exemplar_size
        with torch.inference_mode(), self._autocast():
            blank = self._to_tensor(np.zeros((side, side, 3), np.uint8))
            model.warm_up(model.make_kernels(model.template_features(blank)), crops)

    def track(self, image: np.ndarray) -> TrackResult:
        """Locate the target in the next frame."""
        if not self.initialized:
            raise RuntimeError("Tracker.track() called before init()")
        image = validate_image(image)
        self._apply_pending_settings()
        with torch.inference_mode():
            return self._track(image)

    def _track(self, image: np.ndarray) -> TrackResult:
        cfg = self.config
        self.frame_index += 1
        s_z = self._template_extent()
        scale_z = cfg.exemplar_size / s_z
        if cfg.opencv_compat:
            scale_z = float(np.float32(scale_z))

        lost = self.lost_state.lost and not self.lost_state.config.keep_tracking
        instance_size = self.adaptive.instance_size(
            cfg.instance_size,
            self.size,
            image.shape,
            float(np.hypot(*self._last_motion)) * scale_z,
        )
        window_influence = cfg.window_influence
        if lost:
            widened = valid_instance_size(
                instance_size * self.lost_state.widen_factor(), cfg.exemplar_size, self.stride
            )
            instance_size = min(
                widened, max(self.lost_state.config.max_instance_size, instance_size)
            )
            window_influence = self.lost_state.config.lost_window_influence

        search = self._search(image, self.center_pos, instance_size, s_z, scale_z, window_influence)
        retry = self.one_more.retry_center(
            search.candidate.score, self.center_pos, self._last_motion
        )
        if retry is not None:
            second = self._search(image, retry, instance_size, s_z, scale_z, window_influence)
            if second.candidate.score > search.candidate.score:
                search = second

        cand = search.candidate
        bbox = cand.box / scale_z
        lr = cand.penalty * cand.score * cfg.lr
        cx = bbox[0] + search.center[0]
        cy = bbox[1] + search.center[1]
        width = self.size[0] * (1 - lr) + bbox[2] * lr
        height = self.size[1] * (1 - lr) + bbox[3] * lr
        cx, cy, width, height = clip_box_cxcywh(cx, cy, width, height, image.shape, cfg.min_size)
        if cfg.opencv_compat:  # cv2.TrackerNano keeps its state in float32
            cx, cy, width, height = (
                float(v) for v in np.array([cx, cy, width, height], np.float32)
            )

        appearance = None
        if self.lost_state.uses_appearance:
            appearance = self._appearance(search, cx, cy, width, height)
        base_map = cfg.score_size(cfg.instance_size, self.stride)
        signal = self.lost_state.presence(cand.score, cand.response, appearance, base_map)
        state = self.lost_state.update(signal)
        follow = state == TrackState.TRACKING or self.lost_state.config.keep_tracking
        if follow:
            new_center = np.array([cx, cy])
            self._last_motion = new_center - self.center_pos
            self.center_pos = new_center
            self.size = np.array([width, height])
            if not self.lost_state.enabled or signal >= self.lost_state.config.lost_threshold:
                self._confident = np.array([cx, cy, width, height])
            if self.online.wants_update(cand.score, tracking=state == TrackState.TRACKING):
                self._online_update(search, cx, cy, width, height)
        else:
            # Lost: report and search from the last confident state, not from a drifting guess.
            self._last_motion = np.zeros(2)
            self.center_pos = self._confident[:2].copy()
            self.size = self._confident[2:].copy()

        present = state == TrackState.TRACKING
        ccx, ccy, cw, ch = (cx, cy, width, height) if follow else tuple(self._confident)
        box = np.array([ccx - cw / 2, ccy - ch / 2, cw, ch], dtype=np.float64)
        if cfg.box_rounding == "truncate":
            box = np.trunc(box)
        sx0 = subwindow_origin(float(search.center[0]), search.crop_size)
        sy0 = subwindow_origin(float(search.center[1]), search.crop_size)
        return TrackResult(
            box=box,
            score=float(cand.score),
            present=present,
            state=state,
            response=cand.response,
            search_box=np.array([sx0, sy0, search.crop_size, search.crop_size], np.float64),
        )

    def _opencv_reference_sz(self) -> float:
        """What cv2.TrackerNano's scale penalty compares with: ``sz(cx, cy)`` of the target's
        *position* (OpenCV's bug; NanoTrack uses the scaled target size)."""
        x, y = float(self.center_pos[0]), float(self.center_pos[1])
        pad = (x + y) * 0.5
        return float(np.sqrt((x + pad) * (y + pad)))

    def _search_roi(
        self, search: _Search, cx: float, cy: float, w: float, h: float
    ) -> torch.Tensor:
        """Box ``cx, cy, w, h`` (image pixels) as ``x1, y1, x2, y2`` in ``search``'s crop pixels."""
        scale = search.instance_size / search.crop_size  # image px -> search-crop px
        half = search.instance_size / 2.0
        ccx = half + (cx - search.center[0]) * scale
        ccy = half + (cy - search.center[1]) * scale
        half_w, half_h = float(w * scale / 2), float(h * scale / 2)
        return torch.tensor(  # from Python floats: much cheaper than from numpy scalars
            [float(ccx) - half_w, float(ccy) - half_h, float(ccx) + half_w, float(ccy) + half_h],
            dtype=torch.float32,
            device=self.device,
        )

    def _pool(
        self, search: _Search, cx: float, cy: float, w: float, h: float
    ) -> list[torch.Tensor]:
        """The classification kernel pooled from ``search``'s features at box ``cx, cy, w, h``.

        Kept on the search: the appearance cue and the online update pool at the same box in
        the same frame, so with both on the second one costs nothing."""
        box = (float(cx), float(cy), float(w), float(h))
        if search.pooled is None or search.pooled[0] != box:
            roi = self._search_roi(search, *box)
            with self._autocast():
                search.pooled = (box, self.model.pool_cls_kernel(search.features, roi))
        return search.pooled[1]

    def _online_update(self, search: _Search, cx: float, cy: float, w: float, h: float) -> None:
        """Fold the target's new appearance, pooled from this frame's search features at the
        tracked box, into the template (SiamMargin)."""
        self.online.update(self._pool(search, cx, cy, w, h), search.candidate.score)

    def _appearance(self, search: _Search, cx: float, cy: float, w: float, h: float) -> float:
        """Cosine similarity between the classification kernel pooled at the predicted box and
        the first frame's (mean over kernel levels): does the box still look like the target?

        In NumPy on the host (the kernels are a few KB): this runs every frame, and the first
        frame's vectors and norms are prepared once in :meth:`init`."""
        sims = []
        pooled = self._pool(search, cx, cy, w, h)
        for p, (ref, ref_norm) in zip(pooled, self._appearance_refs, strict=True):
            vec = p.detach().float().cpu().numpy().ravel()
            # torch.cosine_similarity's definition: x.y / max(|x| |y|, eps)
            denom = max(float(np.sqrt(np.dot(vec, vec))) * ref_norm, 1e-8)
            sims.append(float(np.dot(vec, ref)) / denom)
        return float(np.mean(sims))

    def __repr__(self) -> str:
        return (
            f"Tracker(model={type(self.model).__name__}, head={self.head_type}, "
            f"device={self.device}, state={self.state.name})"
        )

    # convenience for scripts / evaluation
    def run(self, frames: Sequence[np.ndarray], init_box: Sequence[float]) -> list[TrackResult]:
        """Init on ``frames[0]`` and track the rest."""
        self.init(frames[0], init_box)
        return [self.track(f) for f in frames[1:]]

    def export_state(self) -> dict[str, Any]:
        """Small snapshot of the host-side state (for debugging and tests)."""
        return {
            "center_pos": self.center_pos.copy(),
            "size": self.size.copy(),
            "state": self.state,
            "online_updates": self.online.updates,
            "frame_index": self.frame_index,
        }


def _head_to_host(cls: torch.Tensor, loc: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Batch item 0 of the head's maps as float32 NumPy arrays; one copy from a GPU."""
    cls, loc = cls[:1].float(), loc[:1].float()
    if cls.device.type == "cpu":
        return cls.numpy(), loc.numpy()
    flat = torch.cat([cls.flatten(), loc.flatten()]).cpu().numpy()
    split = cls.numel()
    return flat[:split].reshape(cls.shape), flat[split:].reshape(loc.shape)


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


def _onnxruntime_model(
    model: SiameseModel, config: TrackerConfig, device: torch.device
) -> SiameseModel:
    """Export ``model`` and run it with ONNX Runtime (``tracker.runtime: onnxruntime``).

    The search sizes the tracker will use first (the base crop, and the adaptive-search crop
    when enabled) get their sessions made and warmed now, so the first frames are not slow;
    other sizes (re-detection) are made on first use.
    """
    from siam_tracker_ros.models.onnx_backend import OnnxRuntimeModel, OnnxRuntimeOptions

    if isinstance(model, OnnxRuntimeModel):
        return model
    sizes = [config.instance_size]
    adaptive = config.mechanisms.adaptive_search
    if adaptive.enabled:
        sizes.append(max(config.instance_size, adaptive.large_instance_size))
    return OnnxRuntimeModel.from_model(
        model,
        exemplar_size=config.exemplar_size,
        search_sizes=sizes,
        options=OnnxRuntimeOptions(intra_op_threads=config.cpu_threads),
        device=device,
    )
