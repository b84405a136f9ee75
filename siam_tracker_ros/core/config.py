"""Typed, frozen tracker configuration loaded from YAML.

A config file has three sections: ``model:`` (a plain dict with ``family:`` that the model family
validates itself), ``tracker:`` (parsed here into :class:`TrackerConfig`) and ``runtime:`` (how
the network runs: :class:`siam_tracker_ros.runtime.RuntimeConfig`). ``tracker.mechanisms`` has
one section per registered policy (:data:`siam_tracker_ros.core.policies.POLICIES`) and the
order they run in. Configs are values:
two trackers with different settings can live in one process, and a checkpoint stores
``TrackerConfig.to_dict()`` so ``core.loading.load_tracker`` needs nothing else.

Validation is strict on purpose: a misspelt key in a YAML file would otherwise silently fall back to
a default and produce a tracker that behaves subtly differently from the one the user described.
Every error is a ``ValueError`` naming the full dotted key (e.g. ``tracker.mechanisms.lost_state.
patience``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml

from siam_tracker_ros.core.policies import (
    POLICIES,
    AdaptiveSearchConfig,
    DistractorConfig,
    LostStateConfig,
    OneMoreSearchConfig,
    OnlineUpdateConfig,
)
from siam_tracker_ros.core.validation import check as _check
from siam_tracker_ros.core.validation import finite as _finite
from siam_tracker_ros.runtime.config import (
    RuntimeConfig,
    runtime_config_from_dict,
    split_legacy_runtime_keys,
)
from siam_tracker_ros.typed_config import build_dataclass, to_plain

__all__ = [
    "AdaptiveSearchConfig",
    "AnchorConfig",
    "DistractorConfig",
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
    "settings_with_overrides",
    "tracker_config_from_dict",
]


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


def _check_order(order: tuple[str, ...]) -> None:
    unknown = [name for name in order if name not in POLICIES]
    _check(not unknown, "order", f"unknown mechanism {unknown[:1]} (known: {list(POLICIES)})")
    _check(len(set(order)) == len(order), "order", f"names a mechanism twice: {list(order)}")


def _mechanisms_post_init(self: Any) -> None:
    _check_order(tuple(self.order))


if TYPE_CHECKING:

    class MechanismsConfig:
        """(Type checkers' view of the dataclass built below from the registry.)"""

        order: tuple[str, ...]

        def __init__(self, **sections: Any) -> None: ...

        def __getattr__(self, name: str) -> Any: ...

else:
    #: ``tracker.mechanisms``: one frozen config section per registered policy (each off by
    #: default, so the plain config is exactly pysot) and ``order``, the order the policies run
    #: in within each phase of a step (empty: the registry's order; names left out run after the
    #: named ones, in the registry's order). Built from the registry, so a new policy brings its
    #: section with it.
    MechanismsConfig = dataclasses.make_dataclass(
        "MechanismsConfig",
        [
            *(
                (name, policy.config_type, field(default_factory=policy.config_type))
                for name, policy in POLICIES.items()
            ),
            ("order", tuple[str, ...], field(default=())),
        ],
        frozen=True,
        namespace={"__post_init__": _mechanisms_post_init, "__module__": __name__},
    )


def policy_order(mechanisms: MechanismsConfig) -> list[str]:
    """The policies' run order: ``mechanisms.order`` first, then the rest in registry order."""
    named = list(mechanisms.order)
    return named + [name for name in POLICIES if name not in named]


@dataclass(frozen=True)
class TrackerConfig:
    """Post-processing hyper-parameters (pysot ``cfg.TRACK``) and the mechanisms.

    Defaults are pysot's ``siamrpn_r50_l234_dwxcorr`` values. How the network runs (backend,
    device, precision, threads) is the ``runtime:`` section, not a tracking setting.
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
    mechanisms: MechanismsConfig = field(default_factory=MechanismsConfig)
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
    """A whole config file: the model section (validated by its family), the tracker and the
    runtime."""

    model: dict[str, Any]
    tracker: TrackerConfig
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": to_plain(dict(self.model)),
            "tracker": self.tracker.to_dict(),
            "runtime": self.runtime.to_dict(),
        }


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


def config_from_dict(data: Mapping[str, Any], source: str = "config") -> TrackingConfig:
    """Parse a whole config mapping (``model:`` + ``tracker:`` + ``runtime:``). Runtime keys in
    the ``tracker:`` section of older files move to ``runtime:`` through the one adapter
    (:func:`runtime.config.split_legacy_runtime_keys`, a deprecation note naming ``source``)."""
    if not isinstance(data, Mapping):
        raise ValueError(f"config: expected a mapping, got {type(data).__name__}")
    unknown = sorted(set(map(str, data)) - {"model", "tracker", "runtime"})
    if unknown:
        raise ValueError(
            f"{unknown[0]}: unknown top-level key (expected 'model', 'tracker' and 'runtime')"
        )
    data = split_legacy_runtime_keys(data, source)
    model = data.get("model")
    if not isinstance(model, Mapping):
        raise ValueError("model: missing or not a mapping (needs at least 'family')")
    if "family" not in model:
        raise ValueError("model.family: missing")
    tracker = tracker_config_from_dict(data.get("tracker"))
    check_geometry_agrees(model, tracker)
    runtime = runtime_config_from_dict(data.get("runtime"))
    return TrackingConfig(model=dict(model), tracker=tracker, runtime=runtime)


def load_config(path: str | Path) -> TrackingConfig:
    """Load and validate a YAML config file."""
    p = Path(path)
    with p.open("r", encoding="utf-8") as fh:
        data = yaml.safe_load(fh)
    try:
        return config_from_dict(data if data is not None else {}, source=str(p))
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
    "channel_order",
    "search_scale",
    "opencv_compat",
    "mechanisms.order",
    *(f"mechanisms.{name}.{key}" for name, p in POLICIES.items() for key in p.rebuild_keys),
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
