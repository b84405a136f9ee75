"""The tracker settings worth tuning on a robot, as ``tracker_node`` parameters under ``tracker.``.

Unlike the node's table (:mod:`~siam_tracker_ros.ros.tracker_params`), their defaults are the
loaded model's own values (its YAML or checkpoint): the node declares them once the model is
loaded (late parameters of :class:`~siam_tracker_ros.ros.node_parameters.NodeParameters`), so
``ros2 param get`` shows what the tracker really uses and a model's calibrated thresholds stay
unless a parameter overrides them. A change at run time goes through
``Tracker.update_settings``: validated with the model's own rules (e.g. found >= lost) and
applied from the next frame, the target kept. Plain data: unit-tested without ROS processes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from siam_tracker_ros.ros.parameters import ParamSpec, Value

__all__ = [
    "PREFIX",
    "TUNABLES",
    "TUNABLE_NAMES",
    "TUNABLE_SPECS",
    "TunableSpec",
    "TunableTracker",
    "tunable_overrides",
    "tunable_reason",
    "tunable_values",
]

#: Prefix of the tunables' names.
PREFIX = "tracker."


@runtime_checkable
class TunableTracker(Protocol):
    """A tracker whose settings can change while it runs (``core.tracker.Tracker``)."""

    config: Any

    def update_settings(self, overrides: Mapping[str, Any]) -> None: ...


@dataclass(frozen=True)
class TunableSpec:
    """One run-time tracker setting: ROS parameter ``name`` <-> the tracker's dotted ``key``.

    ``modes`` maps a ROS word to the tracker's value, for settings that read better as a word
    than as the tracker's flag; without it the value passes through."""

    name: str
    key: str
    kind: type
    description: str
    range: tuple[float, float] | None = None
    modes: tuple[tuple[str, Any], ...] | None = None

    def param(self, default: Value) -> ParamSpec:
        """The ROS side (descriptor, range/choice checks), with ``default`` as its value."""
        choices = tuple(word for word, _ in self.modes) if self.modes else None
        return ParamSpec(
            self.name, default, self.description, dynamic=True, range=self.range, choices=choices
        )

    def to_ros(self, tracker_value: Any) -> Value:
        if self.modes:
            return next(word for word, v in self.modes if v == tracker_value)
        return self.kind(tracker_value)  # type: ignore[no-any-return]

    def to_tracker(self, ros_value: Value) -> Any:
        return dict(self.modes)[str(ros_value)] if self.modes else ros_value


_LOST = "mechanisms.lost_state."
TUNABLES: tuple[TunableSpec, ...] = (
    TunableSpec(
        "tracker.detect_lost",
        _LOST + "enabled",
        bool,
        "Report LOST when the target's presence drops (the lost-state mechanism); false: "
        "presence never declares LOST, the thresholds below unused (tracker.long_term's "
        "verification still can).",
    ),
    TunableSpec(
        "tracker.lost_threshold",
        _LOST + "lost_threshold",
        float,
        "Presence below this for tracker.patience frames declares the target LOST "
        "(with tracker.detect_lost).",
        range=(0.0, 1.0),
    ),
    TunableSpec(
        "tracker.found_threshold",
        _LOST + "found_threshold",
        float,
        "Presence above this while LOST: TRACKING again (>= tracker.lost_threshold).",
        range=(0.0, 1.0),
    ),
    TunableSpec(
        "tracker.patience",
        _LOST + "patience",
        int,
        "Consecutive low-presence frames before the target is declared LOST.",
        range=(1, 1000),
    ),
    TunableSpec(
        "tracker.presence",
        _LOST + "presence",
        str,
        "Signal the thresholds apply to: score (the network's raw best score) or combined "
        "(a presence probability from the score, the response's sharpness and the "
        "target's appearance).",
        modes=(("score", "score"), ("combined", "combined")),
    ),
    TunableSpec(
        "tracker.window_influence",
        "window_influence",
        float,
        "Weight of the cosine window: higher favours small motion between frames.",
        range=(0.0, 1.0),
    ),
    TunableSpec(
        "tracker.online_update_rate",
        "mechanisms.online_update.rate",
        float,
        "How fast the template follows appearance changes (when the model's "
        "online_update mechanism is on; 0 = never).",
        range=(0.0, 1.0),
    ),
    TunableSpec(
        "tracker.search_region",
        "mechanisms.adaptive_search.enabled",
        str,
        "Search region: adaptive (a larger crop for small or fast targets) or fixed.",
        modes=(("adaptive", True), ("fixed", False)),
    ),
    TunableSpec(
        "tracker.search_while_lost",
        _LOST + "keep_tracking",
        str,
        "While LOST: redetect (search a widened region around the last confident box) "
        "or follow (keep tracking the best candidate with the normal search).",
        modes=(("redetect", False), ("follow", True)),
    ),
    TunableSpec(
        "tracker.long_term",
        "mechanisms.longterm.enabled",
        bool,
        "LOST means gone until proven back: verify candidates against the target's appearance "
        "memory before TRACKING again, and re-detect over the whole image while LOST.",
    ),
    TunableSpec(
        "tracker.redetect",
        "mechanisms.longterm.redetect",
        bool,
        "While LOST, search beyond the tracker's own crop (one crop at the last confident "
        "place and tracker.redetect_tiles sweeping the image); false bounds the cost to the "
        "own search.",
    ),
    TunableSpec(
        "tracker.redetect_tiles",
        "mechanisms.longterm.tiles_per_frame",
        int,
        "Re-detection crops sweeping the image per LOST frame (each costs one search).",
        range=(0, 8),
    ),
    TunableSpec(
        "tracker.redetect_crops_per_frame",
        "mechanisms.longterm.crops_per_frame",
        int,
        "At most this many re-detection crops per LOST frame (the crop at the last confident "
        "place and the sweeping ones then take turns over frames); 0: all of them every frame.",
        range=(0, 9),
    ),
)
TUNABLE_NAMES = frozenset(t.name for t in TUNABLES)
assert all(name.startswith(PREFIX) for name in TUNABLE_NAMES)
_TUNABLES_BY_NAME = {t.name: t for t in TUNABLES}
#: each tunable's type, range and words as a spec (its default only a placeholder of the type):
#: how the node's parameter machinery checks values given before the model is loaded
TUNABLE_SPECS: Mapping[str, ParamSpec] = {t.name: t.param(t.kind()) for t in TUNABLES}


def tunable_values(tracker_settings: Mapping[str, Any]) -> dict[str, Value]:
    """The tunables' ROS values in a tracker's settings (``TrackerConfig.to_dict()``)."""
    out: dict[str, Value] = {}
    for t in TUNABLES:
        node: Any = tracker_settings
        for part in t.key.split("."):
            node = node[part]
        out[t.name] = t.to_ros(node)
    return out


def tunable_overrides(updates: Mapping[str, Any]) -> dict[str, Any]:
    """ROS ``{tracker.*: value}`` -> ``Tracker.update_settings`` overrides, each checked for its
    type, range and words (``ValueError`` naming the parameter; an integer passes for a double,
    as ``ros2 param set`` and ``-p`` write ``1`` for ``1.0``)."""
    out: dict[str, Any] = {}
    for name, value in updates.items():
        t = _TUNABLES_BY_NAME.get(name)
        if t is None:
            raise ValueError(f"unknown tracker parameter {name}")
        if t.kind is float and type(value) is int:
            value = float(value)
        reason = TUNABLE_SPECS[name].check(value)  # the default only sets the expected type
        if reason:
            raise ValueError(reason)
        out[t.key] = t.to_tracker(value)
    return out


def tunable_reason(error: Exception) -> str:
    """A tracker settings error in the node's words: ``tracker.mechanisms.lost_state.x`` becomes
    the parameter name ``tracker.x`` a user sets."""
    text = str(error)
    for t in sorted(TUNABLES, key=lambda t: -len(t.key)):
        text = text.replace(f"tracker.{t.key}", t.name)
    return text
