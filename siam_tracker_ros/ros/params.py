"""Every ``tracker_node`` setting as a declared ROS parameter, in one table.

Each :class:`ParamSpec` carries the description and range that become the ROS
``ParameterDescriptor`` (so ``ros2 param describe`` documents the node), and whether it may change
at run time. Model, weights, device and subscription settings are fixed at start-up (the network
and the DDS subscription are built once) and a change is rejected with that reason; thresholds,
debug outputs and rate caps apply at once. The table is plain data so it is unit-tested without
ROS processes, and ``config/tracker.yaml`` is checked against it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import yaml

from siam_tracker_ros.datasets import shared_dir

__all__ = [
    "DEFAULT_MODEL_CONFIG",
    "DEFAULT_PARAMS_FILE",
    "DEFAULT_WEIGHTS",
    "PARAMS",
    "NodeSettings",
    "ParamSpec",
    "StartupError",
    "check_model_files",
    "check_update",
    "load_params_file",
    "resolve_path",
]

ROOT = Path(__file__).resolve().parents[2]
#: The node's default model: empty config, weights and checkpoint mean the bundled model
#: (``core.defaults.BUNDLED_CHECKPOINT``). Relative paths resolve against the working directory,
#: then the package root / share directory; ``$VARS`` are expanded.
DEFAULT_MODEL_CONFIG = ""
DEFAULT_WEIGHTS = ""
DEFAULT_PARAMS_FILE = ROOT / "config" / "tracker.yaml"

Value = bool | int | float | str


@dataclass(frozen=True)
class ParamSpec:
    name: str
    default: Value
    description: str
    dynamic: bool
    range: tuple[float, float] | None = None
    choices: tuple[str, ...] | None = None
    pattern: str | None = None

    @property
    def attr(self) -> str:
        return self.name.replace(".", "_")

    def constraints(self) -> str:
        if self.choices:
            return "one of: " + ", ".join(self.choices)
        if self.pattern:
            return f"must match {self.pattern}"
        return "" if self.dynamic else "read at start-up; changing it needs a restart"

    def descriptor(self) -> Any:
        """The ROS ``ParameterDescriptor`` (imported lazily: this module stays rclpy-free)."""
        from rcl_interfaces.msg import (
            FloatingPointRange,
            IntegerRange,
            ParameterDescriptor,
            ParameterType,
        )

        types = {
            bool: ParameterType.PARAMETER_BOOL,
            int: ParameterType.PARAMETER_INTEGER,
            float: ParameterType.PARAMETER_DOUBLE,
            str: ParameterType.PARAMETER_STRING,
        }
        desc = ParameterDescriptor(
            name=self.name,
            type=types[type(self.default)],
            description=self.description,
            additional_constraints=self.constraints(),
        )
        if self.range is not None and isinstance(self.default, bool):
            raise TypeError(f"{self.name}: a bool parameter has no range")
        if self.range is not None and isinstance(self.default, int):
            desc.integer_range = [
                IntegerRange(from_value=int(self.range[0]), to_value=int(self.range[1]), step=1)
            ]
        elif self.range is not None and isinstance(self.default, float):
            desc.floating_point_range = [
                FloatingPointRange(
                    from_value=float(self.range[0]), to_value=float(self.range[1]), step=0.0
                )
            ]
        return desc

    @property
    def ros_type(self) -> str:
        """The ROS name of the parameter's type, as ``ros2 param describe`` prints it."""
        return {bool: "bool", int: "integer", float: "double", str: "string"}[type(self.default)]

    def coerce(self, value: Any) -> Value:
        """``value`` as this parameter's type, or ``ValueError`` with one line that names the
        parameter, says what is wrong and shows a valid setting. An integer is accepted for a
        double (``-p output.min_score:=1`` is read as an integer by ROS)."""
        if isinstance(self.default, float) and type(value) is int:
            value = float(value)
        if type(value) is not type(self.default):
            got = {bool: "bool", int: "integer", float: "double", str: "string"}.get(
                type(value), type(value).__name__
            )
            raise ValueError(
                f"parameter {self.name}:={value!r} is a {got}, but {self.name} is a "
                f"{self.ros_type}; set e.g. -p {self.name}:={self._example()}"
            )
        reason = self.check(value)
        if reason:
            raise ValueError(f"parameter {reason}; set e.g. -p {self.name}:={self._example()}")
        return value

    def _example(self) -> str:
        if isinstance(self.default, bool):
            return str(self.default).lower()
        if isinstance(self.default, str):
            return self.choices[0] if self.choices else (self.default or "''")
        return repr(self.default)

    def check(self, value: Any) -> str | None:
        """Reason why ``value`` is invalid, or None (ranges are also enforced by rclpy)."""
        if type(value) is not type(self.default):
            return (
                f"{self.name} must be a {type(self.default).__name__}, got {type(value).__name__}"
            )
        if (
            self.range is not None
            and isinstance(value, (int, float))
            and not (self.range[0] <= value <= self.range[1])
        ):
            return f"{self.name}={value} outside [{self.range[0]}, {self.range[1]}]"
        if self.choices is not None and value not in self.choices:
            return f"{self.name}={value!r}: {self.constraints()}"
        if self.pattern is not None and not re.fullmatch(self.pattern, str(value)):
            return f"{self.name}={value!r}: {self.constraints()}"
        return None


PARAMS: tuple[ParamSpec, ...] = (
    ParamSpec(
        "model.config",
        DEFAULT_MODEL_CONFIG,
        "Model + tracker YAML (config/models/*.yaml), or empty for the bundled model; "
        "ignored when model.checkpoint is set.",
        dynamic=False,
    ),
    ParamSpec(
        "model.weights",
        DEFAULT_WEIGHTS,
        "Weights for model.config (.pth/.pt); empty = the config's own model.weights.",
        dynamic=False,
    ),
    ParamSpec(
        "model.checkpoint",
        "",
        "A self-describing checkpoint (Tracker.from_checkpoint); overrides model.config.",
        dynamic=False,
    ),
    ParamSpec(
        "model.device",
        "cpu",
        "Torch device for the network: cpu, cuda or cuda:N.",
        dynamic=False,
        pattern=r"cpu|cuda(:\d+)?|mps",
    ),
    ParamSpec(
        "model.num_threads",
        0,
        "CPU threads for the network: ONNX Runtime's per run and torch's (0 = defaults: "
        "the model's tracker.cpu_threads, 1 for the bundled model, and torch's own).",
        dynamic=False,
        range=(0, 256),
    ),
    ParamSpec(
        "model.warmup",
        True,
        "Run one init+track on a blank image at start-up so the first real frame is not "
        "slowed by lazy allocation.",
        dynamic=False,
    ),
    ParamSpec(
        "autostart",
        True,
        "Configure and activate at start-up (a plain node that exits non-zero when it "
        "cannot load its model); false = a managed node that waits, unconfigured, for "
        "`ros2 lifecycle set <node> configure` / `activate`.",
        dynamic=False,
    ),
    ParamSpec(
        "input.reliability",
        "best_effort",
        "QoS reliability of the camera subscription (depth 1). best_effort matches "
        "camera drivers' sensor-data QoS; reliable also receives from reliable-only "
        "publishers.",
        dynamic=False,
        choices=("best_effort", "reliable"),
    ),
    ParamSpec(
        "input.compressed",
        False,
        "Subscribe to image/compressed (sensor_msgs/CompressedImage) instead of image.",
        dynamic=False,
    ),
    ParamSpec(
        "input.buffer_size",
        30,
        "Recent frames kept so an init box stamped with an older frame lands on that frame.",
        dynamic=True,
        range=(1, 600),
    ),
    ParamSpec(
        "init.stamp_tolerance_ms",
        20.0,
        "Largest stamp difference between an init message and the buffered frame it is applied to.",
        dynamic=True,
        range=(0.0, 10000.0),
    ),
    ParamSpec(
        "init.catch_up_max_frames",
        10,
        "After init on an older frame, track at most this many buffered newer frames "
        "(evenly spaced, ending on the newest) to follow the target across the delay.",
        dynamic=True,
        range=(0, 600),
    ),
    ParamSpec(
        "output.min_score",
        0.0,
        "Detections with a lower score are not published (status still is).",
        dynamic=True,
        range=(0.0, 1.0),
    ),
    ParamSpec(
        "output.publish_lost",
        False,
        "Also publish a Detection2D (last box) while the target is lost.",
        dynamic=True,
    ),
    ParamSpec(
        "output.max_rate_hz",
        0.0,
        "Process at most this many frames per second (0 = as many as the tracker can); "
        "the others are dropped and counted.",
        dynamic=True,
        range=(0.0, 1000.0),
    ),
    ParamSpec(
        "debug.enabled",
        True,
        "Allow the debug image and response-map topics (computed only while someone subscribes).",
        dynamic=True,
    ),
    ParamSpec(
        "debug.max_rate_hz",
        10.0,
        "Largest publication rate of the debug topics (0 = every processed frame).",
        dynamic=True,
        range=(0.0, 1000.0),
    ),
    ParamSpec(
        "debug.heatmap_size",
        256,
        "Side in pixels of the response-map image.",
        dynamic=True,
        range=(16, 2048),
    ),
    ParamSpec(
        "diagnostics.period_s",
        1.0,
        "Period of /diagnostics messages.",
        dynamic=True,
        range=(0.1, 60.0),
    ),
    ParamSpec(
        "diagnostics.max_latency_ms",
        200.0,
        "p95 latency above which /diagnostics reports WARN.",
        dynamic=True,
        range=(0.0, 60000.0),
    ),
    ParamSpec(
        "log.throttle_s",
        2.0,
        "Minimum seconds between repeated warnings of one kind (malformed images, bad "
        "init boxes, tracker failures).",
        dynamic=True,
        range=(0.0, 3600.0),
    ),
    # -- input robustness (issue 21): size limits, clock jumps, stream changes. Read per frame,
    # so they change at run time; policies are applied by ros/session.py.
    ParamSpec(
        "input.max_width",
        8192,
        "Widest accepted image in pixels (raw, or compressed as its header declares); "
        "larger ones are dropped with a throttled warning before anything is allocated.",
        dynamic=True,
        range=(1, 65535),
    ),
    ParamSpec(
        "input.max_height",
        8192,
        "Tallest accepted image in pixels (raw, or compressed as its header declares).",
        dynamic=True,
        range=(1, 65535),
    ),
    ParamSpec(
        "input.clock_jump_tolerance_s",
        1.0,
        "A camera stamp this much older than the newest one is a clock jump (looping "
        "bag, restarted driver, simulator reset), not a late frame: the frame buffer is "
        "reset and the node follows the new clock.",
        dynamic=True,
        range=(0.0, 3600.0),
    ),
    ParamSpec(
        "input.on_clock_jump",
        "keep_tracking",
        "After a backwards clock jump: keep_tracking (same target on the new clock) or "
        "reset (stop and wait for a new init).",
        dynamic=True,
        choices=("keep_tracking", "reset"),
    ),
    ParamSpec(
        "input.on_resolution_change",
        "rescale",
        "When the image size or encoding changes mid-track: rescale (box scaled to the "
        "new size, tracker re-initialised on it) or lost (declare LOST, with the reason "
        "in /diagnostics, until a new init).",
        dynamic=True,
        choices=("rescale", "lost"),
    ),
)
SPECS: dict[str, ParamSpec] = {p.name: p for p in PARAMS}


@dataclass(frozen=True)
class NodeSettings:
    """The parameter values as one immutable value (attribute = name with dots as ``_``)."""

    model_config: str
    model_weights: str
    model_checkpoint: str
    model_device: str
    model_num_threads: int
    model_warmup: bool
    autostart: bool
    input_reliability: str
    input_compressed: bool
    input_buffer_size: int
    init_stamp_tolerance_ms: float
    init_catch_up_max_frames: int
    output_min_score: float
    output_publish_lost: bool
    output_max_rate_hz: float
    debug_enabled: bool
    debug_max_rate_hz: float
    debug_heatmap_size: int
    diagnostics_period_s: float
    diagnostics_max_latency_ms: float
    log_throttle_s: float
    # input robustness (issue 21)
    input_max_width: int
    input_max_height: int
    input_clock_jump_tolerance_s: float
    input_on_clock_jump: str
    input_on_resolution_change: str

    @classmethod
    def from_values(cls, values: Mapping[str, Value]) -> NodeSettings:
        """Build from ``{ros_name: value}``; missing names take their defaults."""
        unknown = set(values) - set(SPECS)
        if unknown:
            raise ValueError(f"unknown parameters: {sorted(unknown)}")
        kwargs: dict[str, Any] = {}
        for spec in PARAMS:
            value = values.get(spec.name, spec.default)
            reason = spec.check(value)
            if reason:
                raise ValueError(reason)
            kwargs[spec.attr] = value
        return cls(**kwargs)

    def as_values(self) -> dict[str, Value]:
        return {f.name.replace("_", ".", 1): getattr(self, f.name) for f in fields(self)}


assert {f.name for f in fields(NodeSettings)} == {p.attr for p in PARAMS}


def check_update(
    current: Mapping[str, Value], updates: Mapping[str, Value], configured: bool = True
) -> str | None:
    """Why a run-time change must be rejected, or None to accept it. While the lifecycle node is
    unconfigured (``configured=False``) the start-up settings may change too: that is how a bad
    model path is fixed before ``configure`` is tried again."""
    for name, value in updates.items():
        spec = SPECS.get(name)
        if spec is None:
            return f"unknown parameter {name}"
        reason = spec.check(value)
        if reason:
            return reason
        if configured and not spec.dynamic and value != current.get(name, spec.default):
            return (
                f"{name} cannot change at run time (the model, device and subscriptions are "
                "set up once); deactivate and clean up the node (ros2 lifecycle set), set "
                "it, configure again, or restart the node with the new value"
            )
    return None


class StartupError(ValueError):
    """The node cannot start with these settings; the message is the one line to show: which
    parameter or file, what is wrong, what to do."""


def check_model_files(settings: NodeSettings) -> None:
    """Raise :class:`StartupError` for a model file that is set but missing, a folder or empty
    (before any loader turns that into a traceback or an empty reason)."""
    names = (
        ("model.checkpoint",) if settings.model_checkpoint else ("model.config", "model.weights")
    )
    for name in names:
        value = str(getattr(settings, SPECS[name].attr))
        path = resolve_path(value)
        if path is None:
            continue
        what = "a model + tracker YAML" if name == "model.config" else "a .pt/.pth file"
        hint = (
            f"set {name} to {what}, or leave model.config, model.weights and "
            "model.checkpoint empty for the bundled model"
        )
        if not path.exists():
            raise StartupError(f"{name}:={value}: file not found ({path}); {hint}")
        if not path.is_file():
            raise StartupError(f"{name}:={value}: {path} is not a file; {hint}")
        if path.stat().st_size == 0:
            raise StartupError(
                f"{name}:={value}: {path} is empty (0 bytes; an interrupted "
                f"download or copy?); {hint}"
            )


def load_params_file(path: str | Path, node_name: str = "tracker_node") -> dict[str, Value]:
    """Flattened ``ros__parameters`` of a ROS params YAML (``/**`` and ``node_name`` sections)."""
    data = yaml.safe_load(Path(path).read_text()) or {}
    out: dict[str, Value] = {}

    def flatten(prefix: str, obj: Any) -> None:
        if isinstance(obj, dict):
            for k, v in obj.items():
                flatten(f"{prefix}.{k}" if prefix else str(k), v)
        else:
            out[prefix] = obj

    for key in ("/**", node_name, f"/{node_name}"):
        section = data.get(key, {})
        flatten("", (section or {}).get("ros__parameters", {}))
    return out


def resolve_path(path: str) -> Path | None:
    """Expand ``$VARS`` (``SIAM_SHARED_DIR`` defaults to ``<repo>/../shared``) and resolve a
    relative path against the working directory, then the package root; None for ``""``."""
    if not path:
        return None
    env = dict(os.environ)
    env.setdefault("SIAM_SHARED_DIR", str(shared_dir()))
    expanded = re.sub(
        r"\$\{(\w+)\}|\$(\w+)", lambda m: env.get(m.group(1) or m.group(2), m.group(0)), path
    )
    p = Path(expanded).expanduser()
    if p.is_absolute():
        return p
    for base in (Path.cwd(), ROOT, _share_dir()):
        if base is not None and (base / p).exists():
            return base / p
    return ROOT / p


def _share_dir() -> Path | None:
    try:
        from ament_index_python.packages import get_package_share_directory

        return Path(get_package_share_directory("siam_tracker_ros"))
    except Exception:  # not installed as a ROS package (pip-only path)
        return None


def model_param_args(config: str | Path | None, weights: str | Path | None) -> list[str]:
    """``-p`` command-line arguments selecting a model for ``tracker_node``; empty values are left
    out (the node then uses its default, the bundled model), because ``-p name:=`` with no value
    is not a string parameter on the ROS command line."""
    args: list[str] = []
    if config:
        args += ["-p", f"model.config:={config}"]
    if weights:
        args += ["-p", f"model.weights:={weights}"]
    return args


# ------------------------------------------------------------------------ tracker tunables
# Tracker settings worth tuning on a robot, as node parameters under ``tracker.``. Unlike PARAMS,
# their defaults are the loaded model's own values (its YAML or checkpoint): the node declares
# them once the model is loaded, so ``ros2 param get`` shows what the tracker really uses and a
# model's calibrated thresholds stay unless a parameter overrides them. A change at run time goes
# through ``Tracker.update_settings``: validated with the model's own rules (e.g. found >= lost)
# and applied from the next frame, the target kept.


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
        "always TRACKING, the thresholds below unused.",
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
)
TUNABLE_NAMES = frozenset(t.name for t in TUNABLES)
_TUNABLES_BY_NAME = {t.name: t for t in TUNABLES}


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
        reason = t.param(t.kind()).check(value)  # the default only sets the expected type
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
