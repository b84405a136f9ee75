"""Typed, frozen tracker configuration loaded from YAML.

A config file has two sections: ``model:`` (a plain dict with ``family:`` that the model family
validates itself) and ``tracker:`` (parsed here into :class:`TrackerConfig`). Configs are values:
two trackers with different settings can live in one process, and a checkpoint stores
``TrackerConfig.to_dict()`` so ``Tracker.from_checkpoint`` needs nothing else.

Validation is strict on purpose: a misspelt key in a YAML file would otherwise silently fall back to
a default and produce a tracker that behaves subtly differently from the one the user described.
Every error is a ``ValueError`` naming the full dotted key (e.g. ``tracker.mechanisms.lost_state.
patience``).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from siam_tracker_ros.core.distractors import DistractorConfig
from siam_tracker_ros.runtime.config import RuntimeConfig
from siam_tracker_ros.typed_config import build_dataclass, to_plain

__all__ = [
    "AdaptiveSearchConfig",
    "AnchorConfig",
    "LostStateConfig",
    "MechanismsConfig",
    "OneMoreSearchConfig",
    "OnlineUpdateConfig",
    "PointConfig",
    "TrackerConfig",
    "TrackingConfig",
    "config_from_dict",
    "REBUILD_KEYS",
    "SHARED_GEOMETRY_KEYS",
    "check_geometry_agrees",
    "load_config",
    "runtime_config",
    "settings_with_overrides",
    "tracker_config_from_dict",
]


def _check(cond: bool, key: str, msg: str) -> None:
    if not cond:
        raise ValueError(f"{key}: {msg}")


def _finite(value: float) -> bool:
    return math.isfinite(float(value))


@dataclass(frozen=True)
class AnchorConfig:
    """pysot anchors (``cfg.ANCHOR``): ``len(ratios) * len(scales)`` anchors per position."""

    stride: int = 8
    ratios: tuple[float, ...] = (0.33, 0.5, 1.0, 2.0, 3.0)
    scales: tuple[float, ...] = (8.0,)

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        _check(self.stride > 0, "stride", f"must be > 0, got {self.stride}")
        _check(len(self.ratios) > 0, "ratios", "must not be empty")
        _check(all(r > 0 and _finite(r) for r in self.ratios), "ratios", "must all be > 0")
        _check(len(self.scales) > 0, "scales", "must not be empty")
        _check(all(s > 0 and _finite(s) for s in self.scales), "scales", "must all be > 0")

    @property
    def anchor_num(self) -> int:
        return len(self.ratios) * len(self.scales)


@dataclass(frozen=True)
class PointConfig:
    """Anchor-free (``head_type == "point"``, NanoTrack/SiamBAN) decoding settings.

    ``stride``: distance between score-map points in search-crop pixels (pysot
    ``cfg.POINT.STRIDE``).
    ``score_activation``: how the 2-channel cls output becomes a foreground probability.
    """

    stride: int = 16
    score_activation: Literal["softmax", "sigmoid"] = "softmax"

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        _check(self.stride > 0, "stride", f"must be > 0, got {self.stride}")


@dataclass(frozen=True)
class OnlineUpdateConfig:
    """SiamMargin online template update (classification kernel only).

    ``MA = (1 - l) * MA + l * new`` with ``l = rate * best_score``; the kernel used is
    ``first_weight * first + (1 - first_weight) * MA``. Updates are skipped below ``min_score``
    (0 = always, as in the released SiamMargin code) and while the target is lost. (Older files
    also give ``ma_weight``; it must be ``1 - first_weight`` and is dropped when read.)
    """

    enabled: bool = False
    rate: float = 0.18
    first_weight: float = 0.6
    min_score: float = 0.0

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        _check(0.0 <= self.rate <= 1.0, "rate", f"must be in [0, 1], got {self.rate}")
        _check(0.0 <= self.first_weight <= 1.0, "first_weight", "must be in [0, 1]")
        _check(0.0 <= self.min_score <= 1.0, "min_score", "must be in [0, 1]")


@dataclass(frozen=True)
class AdaptiveSearchConfig:
    """SiamMargin adaptive search region: a larger search crop for small or fast targets."""

    enabled: bool = False
    large_instance_size: int = 351
    small_area_ratio: float = 0.004
    fast_motion_px: float = 80.0

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        _check(self.large_instance_size > 0, "large_instance_size", "must be > 0")
        _check(0.0 <= self.small_area_ratio <= 1.0, "small_area_ratio", "must be in [0, 1]")
        _check(
            self.fast_motion_px >= 0 and _finite(self.fast_motion_px),
            "fast_motion_px",
            "must be >= 0",
        )


@dataclass(frozen=True)
class OneMoreSearchConfig:
    """SiamMargin "one more search": re-search at ``pos + motion_factor * last_motion``."""

    enabled: bool = False
    score_threshold: float = 0.1
    motion_factor: float = 0.9

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        _check(0.0 <= self.score_threshold <= 1.0, "score_threshold", "must be in [0, 1]")
        _check(_finite(self.motion_factor), "motion_factor", "must be finite")


@dataclass(frozen=True)
class LostStateConfig:
    """Target-lost detection with score hysteresis and re-detection.

    TRACKING -> LOST after ``patience`` consecutive frames with best score < ``lost_threshold``;
    LOST -> TRACKING on the first frame with best score > ``found_threshold``. While lost, the
    search region is widened by ``redetect_widen[min(k, len - 1)]`` in the k-th lost frame (the
    network input grows with it up to ``max_instance_size``, so resolution is kept), the cosine
    window weight drops to ``lost_window_influence`` (the target may be anywhere) and the box is
    not updated.

    ``presence`` picks the signal the thresholds apply to: ``score`` (the raw best score) or
    ``combined``: ``sigmoid(w . (score, ln PSR, appearance) + bias)`` with the response map's
    peak-to-sidelobe ratio and the cosine similarity between the cls kernel pooled at the
    predicted box and the first frame's. NanoTrack's raw score saturates (about 0.8 with no
    target at all), the other two do not; the default weights are a logistic fit on the *train*
    split with synthetic absent frames (``scripts/calibrate_presence.py``), so ``combined`` is a
    presence probability and the thresholds are probabilities.

    ``keep_tracking``: while lost, go on tracking the best candidate with the normal search (the
    state only flags ``present=False`` and the box is the current estimate) instead of searching
    wider from the last confident state. A presence signal that fires on a visible but partly
    occluded target then costs no tracking; re-detection is the better choice only when the
    target is really gone for a while.
    """

    enabled: bool = False
    lost_threshold: float = 0.3
    found_threshold: float = 0.5
    patience: int = 3
    redetect_widen: tuple[float, ...] = (1.5, 2.0)
    lost_window_influence: float = 0.001
    max_instance_size: int = 639
    presence: Literal["score", "combined"] = "score"
    #: ``combined`` weights of (raw score, ln peak-to-sidelobe ratio, appearance similarity)
    presence_weights: tuple[float, float, float] = (6.53, 1.12, 12.12)
    presence_bias: float = -12.98
    keep_tracking: bool = False

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        _check(0.0 <= self.lost_threshold <= 1.0, "lost_threshold", "must be in [0, 1]")
        _check(0.0 <= self.found_threshold <= 1.0, "found_threshold", "must be in [0, 1]")
        _check(
            self.found_threshold >= self.lost_threshold,
            "found_threshold",
            f"must be >= lost_threshold ({self.lost_threshold}) for hysteresis, "
            f"got {self.found_threshold}",
        )
        _check(self.patience >= 1, "patience", f"must be >= 1, got {self.patience}")
        _check(len(self.redetect_widen) > 0, "redetect_widen", "must not be empty")
        _check(
            all(f >= 1.0 and _finite(f) for f in self.redetect_widen),
            "redetect_widen",
            "factors must be >= 1",
        )
        _check(
            0.0 <= self.lost_window_influence <= 1.0, "lost_window_influence", "must be in [0, 1]"
        )
        _check(self.max_instance_size > 0, "max_instance_size", "must be > 0")


@dataclass(frozen=True)
class MechanismsConfig:
    """SiamMargin mechanisms (each off by default, so the plain config is exactly pysot)."""

    online_update: OnlineUpdateConfig = field(default_factory=OnlineUpdateConfig)
    adaptive_search: AdaptiveSearchConfig = field(default_factory=AdaptiveSearchConfig)
    one_more_search: OneMoreSearchConfig = field(default_factory=OneMoreSearchConfig)
    lost_state: LostStateConfig = field(default_factory=LostStateConfig)
    distractors: DistractorConfig = field(default_factory=DistractorConfig)

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Children validate themselves (the builder calls them with their key prefix)."""


@dataclass(frozen=True)
class TrackerConfig:
    """Post-processing hyper-parameters (pysot ``cfg.TRACK``) plus runtime options.

    Defaults are pysot's ``siamrpn_r50_l234_dwxcorr`` values. ``device`` ``"auto"`` picks CUDA when
    available; ``precision`` only affects CUDA (autocast), the CPU path always runs float32 so its
    results match pysot.
    """

    exemplar_size: int = 127
    instance_size: int = 255
    base_size: int = 8
    context_amount: float = 0.5
    penalty_k: float = 0.05
    window_influence: float = 0.42
    lr: float = 0.38
    min_size: float = 10.0
    anchor: AnchorConfig = field(default_factory=AnchorConfig)
    point: PointConfig = field(default_factory=PointConfig)
    device: str = "cpu"
    precision: Literal["fp32", "fp16", "bf16"] = "fp32"
    channels_last: bool = True
    #: CUDA only, PyTorch runtime: replay each search crop size's whole search branch as a CUDA
    #: graph (one launch instead of hundreds; ``runtime/cuda_graph.py``). Ignored on CPU.
    cuda_graphs: bool = False
    mechanisms: MechanismsConfig = field(default_factory=MechanismsConfig)
    #: network runtime: ``torch`` (eager PyTorch) or ``onnxruntime`` (the model exported to ONNX
    #: and run by ONNX Runtime, several times faster on CPU; see ``runtime/onnx_backend.py``)
    runtime: Literal["torch", "onnxruntime"] = "torch"
    #: CPU threads of one ONNX Runtime graph run (0 = ``torch.get_num_threads()``). 1 by default:
    #: a second thread speeds an idle 2-core machine up ~1.2x but collapses when another process
    #: holds the core (``docs/speed.md``, *Threads*). PyTorch's own threads are process-wide
    #: (``torch.set_num_threads``), not a tracker setting.
    cpu_threads: int = 1
    #: colour order the network is fed: NanoTrack and pysot trained on ``bgr`` (OpenCV's frames);
    #: ``cv2.TrackerNano`` feeds ``rgb`` (``blobFromImage(swapRB=true)``)
    channel_order: Literal["bgr", "rgb"] = "bgr"
    #: the cosine window is pysot's Hanning window raised to this power; ``0.5`` is OpenCV's
    #: ``cv2.createHanningWindow`` (flatter, so it penalises large motion less)
    window_exponent: float = 1.0
    #: search-crop side over the template extent ``s_z`` at ``instance_size`` (larger search sizes
    #: scale it with them); ``0`` means ``instance_size / exemplar_size`` (pysot, NanoTrack: the
    #: crop has the template's scale). ``cv2.TrackerNano`` crops ``2 * s_z`` for 255 px.
    search_scale: float = 0.0
    #: returned boxes: ``none`` (float, pysot) or ``truncate`` (``int()`` of x, y, w, h, as
    #: ``cv2.TrackerNano``); only the output is rounded, the tracker's state stays exact
    box_rounding: Literal["none", "truncate"] = "none"
    #: emulate ``cv2.TrackerNano``'s remaining arithmetic, all of it either lossy or a bug, so
    #: that the project tracker can be compared with OpenCV's box for box (never for quality):
    #: init centre ``x + w / 2`` of the integer box; integer-truncated template/search extents and
    #: crop origins (``int(c) - (sz + 1) // 2``); padding with the *current* frame's mean;
    #: float32 state; and the scale penalty measured against ``sz(cx, cy)`` -- the target's
    #: *position* instead of its size (an OpenCV bug). Use with ``channel_order: rgb``,
    #: ``window_exponent: 0.5``, ``search_scale: 2`` and ``box_rounding: truncate``
    #: (``config/models/nanotrack_v2_opencv.yaml``).
    opencv_compat: bool = False

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        _check(self.exemplar_size > 0, "exemplar_size", f"must be > 0, got {self.exemplar_size}")
        _check(self.cpu_threads >= 0, "cpu_threads", f"must be >= 0, got {self.cpu_threads}")
        _check(
            self.instance_size >= self.exemplar_size,
            "instance_size",
            f"must be >= exemplar_size ({self.exemplar_size}), got {self.instance_size}",
        )
        _check(self.base_size >= 0, "base_size", f"must be >= 0, got {self.base_size}")
        _check(
            0.0 <= self.context_amount <= 10.0 and _finite(self.context_amount),
            "context_amount",
            f"must be in [0, 10], got {self.context_amount}",
        )
        _check(
            self.penalty_k >= 0 and _finite(self.penalty_k),
            "penalty_k",
            f"must be >= 0, got {self.penalty_k}",
        )
        _check(0.0 <= self.window_influence <= 1.0, "window_influence", "must be in [0, 1]")
        _check(0.0 <= self.lr <= 1.0, "lr", f"must be in [0, 1], got {self.lr}")
        _check(
            0.0 < self.window_exponent <= 10.0 and _finite(self.window_exponent),
            "window_exponent",
            f"must be in (0, 10], got {self.window_exponent}",
        )
        _check(
            self.search_scale == 0.0 or 1.0 <= self.search_scale <= 10.0,
            "search_scale",
            f"must be 0 (instance_size / exemplar_size) or in [1, 10], got {self.search_scale}",
        )
        _check(
            self.min_size >= 1 and _finite(self.min_size),
            "min_size",
            f"must be >= 1, got {self.min_size}",
        )
        _check(
            self.device == "auto"
            or self.device == "cpu"
            or self.device == "cuda"
            or self.device.startswith("cuda:"),
            "device",
            f"must be 'cpu', 'cuda', 'cuda:N' or 'auto', got {self.device!r}",
        )

    def score_size(self, instance_size: int | None = None, stride: int | None = None) -> int:
        """pysot's score-map side: ``(instance - exemplar) // stride + 1 + base_size``."""
        inst = self.instance_size if instance_size is None else instance_size
        st = self.anchor.stride if stride is None else stride
        return (inst - self.exemplar_size) // st + 1 + self.base_size

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (lists, not tuples); :func:`tracker_config_from_dict` reads it back."""
        return to_plain(dataclasses.asdict(self))


@dataclass(frozen=True)
class TrackingConfig:
    """A whole config file: the model section (validated by its family) and the tracker."""

    model: dict[str, Any]
    tracker: TrackerConfig

    def to_dict(self) -> dict[str, Any]:
        return {"model": to_plain(dict(self.model)), "tracker": self.tracker.to_dict()}


def _drop_legacy_ma_weight(data: Mapping[str, Any], prefix: str) -> Mapping[str, Any]:
    """Files and checkpoints written before ``ma_weight`` was removed carry it: accept it when it
    is the ``1 - first_weight`` the update uses, refuse it otherwise (it would not be applied)."""
    mech = data.get("mechanisms")
    online = mech.get("online_update") if isinstance(mech, Mapping) else None
    if not isinstance(online, Mapping) or "ma_weight" not in online:
        return data
    key = f"{prefix}.mechanisms.online_update.ma_weight"
    ma, first = online["ma_weight"], online.get("first_weight", OnlineUpdateConfig.first_weight)
    numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (ma, first))
    if not numbers or abs(float(ma) + float(first) - 1.0) > 1e-6:
        raise ValueError(
            f"{key}: the moving average's weight is 1 - first_weight ({first!r}); got {ma!r} "
            "(remove the key)"
        )
    online = {k: v for k, v in online.items() if k != "ma_weight"}
    assert isinstance(mech, Mapping)
    return {**data, "mechanisms": {**mech, "online_update": online}}


def tracker_config_from_dict(
    data: Mapping[str, Any] | None, prefix: str = "tracker"
) -> TrackerConfig:
    """Strictly parse the ``tracker:`` section (``None``/empty -> all defaults)."""
    data = data or {}
    if isinstance(data, Mapping):
        data = _drop_legacy_ma_weight(data, prefix)
    return build_dataclass(TrackerConfig, data, prefix)


#: keys the ``model:`` and ``tracker:`` sections both give: the template crop the tracker cuts
#: must be the one the model was built for
SHARED_GEOMETRY_KEYS = ("exemplar_size", "context_amount")


def check_geometry_agrees(model: Mapping[str, Any], tracker: TrackerConfig) -> None:
    """``ValueError`` naming both keys when ``model.<key>`` and ``tracker.<key>`` differ (for the
    keys of :data:`SHARED_GEOMETRY_KEYS` that the model section gives)."""
    for key in SHARED_GEOMETRY_KEYS:
        if key in model and model[key] != getattr(tracker, key):
            raise ValueError(
                f"tracker.{key}: {getattr(tracker, key)!r} differs from model.{key} "
                f"{model[key]!r}; the template crop must be the one the model was built for"
            )


def config_from_dict(data: Mapping[str, Any]) -> TrackingConfig:
    """Parse a whole config mapping (``model:`` + ``tracker:``)."""
    if not isinstance(data, Mapping):
        raise ValueError(f"config: expected a mapping, got {type(data).__name__}")
    unknown = sorted(set(map(str, data)) - {"model", "tracker"})
    if unknown:
        raise ValueError(f"{unknown[0]}: unknown top-level key (expected 'model' and 'tracker')")
    model = data.get("model")
    if not isinstance(model, Mapping):
        raise ValueError("model: missing or not a mapping (needs at least 'family')")
    if "family" not in model:
        raise ValueError("model.family: missing")
    tracker = tracker_config_from_dict(data.get("tracker"))
    check_geometry_agrees(model, tracker)
    return TrackingConfig(model=dict(model), tracker=tracker)


def load_config(path: str | Path) -> TrackingConfig:
    """Load and validate a YAML config file."""
    p = Path(path)
    with p.open("r", encoding="utf-8") as fh:
        data = yaml.safe_load(fh)
    try:
        return config_from_dict(data if data is not None else {})
    except ValueError as exc:
        raise ValueError(f"{p}: {exc}") from None


#: ``tracker:`` keys that size or build the network, its runtime or the template: changing one
#: needs a new ``Tracker`` (and a new ``init``), so :func:`settings_with_overrides` refuses them.
#: A key ending in ``.`` covers its whole section.
REBUILD_KEYS: tuple[str, ...] = (
    "exemplar_size",
    "instance_size",
    "base_size",
    "context_amount",
    "anchor.",
    "point.",
    "device",
    "precision",
    "channels_last",
    "cuda_graphs",
    "runtime",
    "cpu_threads",
    "channel_order",
    "search_scale",
    "opencv_compat",
    "mechanisms.adaptive_search.large_instance_size",
    "mechanisms.lost_state.max_instance_size",
)


def _needs_rebuild(key: str) -> bool:
    return any(key == k or (k.endswith(".") and key.startswith(k)) for k in REBUILD_KEYS)


def settings_with_overrides(config: TrackerConfig, overrides: Mapping[str, Any]) -> TrackerConfig:
    """``config`` with dotted-key ``overrides`` applied, validated as a YAML ``tracker:`` section
    would be (``ValueError`` naming ``tracker.<key>``). Only single settings (not whole sections)
    that can change without rebuilding the tracker are accepted (see :data:`REBUILD_KEYS`)."""
    if not isinstance(overrides, Mapping):
        raise ValueError(f"tracker settings: expected a mapping, got {type(overrides).__name__}")
    data = config.to_dict()
    for raw_key, value in overrides.items():
        key = str(raw_key).removeprefix("tracker.")
        dotted = f"tracker.{key}"
        if _needs_rebuild(key):
            raise ValueError(f"{dotted}: cannot change while running (build a new tracker)")
        *parents, leaf = key.split(".")
        node = data
        for i, part in enumerate(parents):
            child = node.get(part)
            if not isinstance(child, dict):
                where = ".".join(["tracker", *parents[: i + 1]])
                raise ValueError(f"{where}: unknown section")
            node = child
        if leaf not in node:
            raise ValueError(f"{dotted}: unknown key")
        if isinstance(node[leaf], dict):
            raise ValueError(f"{dotted}: is a section; name one setting in it")
        node[leaf] = to_plain(value)
    return tracker_config_from_dict(data)


def runtime_config(config: TrackerConfig, device: str | None = None) -> RuntimeConfig:
    """The inference-runtime settings a model file keeps in its ``tracker:`` section (``runtime``,
    ``device``, ``precision``, ``channels_last``, ``cuda_graphs``, ``cpu_threads``), kept apart
    from the tracking settings; ``device`` overrides ``tracker.device``."""
    return RuntimeConfig(
        backend=config.runtime,
        device=device if device is not None else config.device,
        precision=config.precision,
        channels_last=config.channels_last,
        cuda_graphs=config.cuda_graphs,
        threads=config.cpu_threads,
    )
