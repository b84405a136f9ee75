"""``tracker_node``'s own parameters: every setting of the node as a declared ROS parameter, in one
table, and the checks of its model files.

The machinery (declaration, start-up override checks, run-time changes) is shared with every
node of the package (:mod:`~siam_tracker_ros.ros.parameters`,
:mod:`~siam_tracker_ros.ros.node_parameters`); this module is only the tracker's data. Model,
weights, device and subscription settings are fixed at start-up (the network and the DDS
subscription are built once) and a change is refused with that reason; thresholds, debug
outputs and rate caps apply at once. ``config/tracker.yaml`` is checked against the table by a
test. The ``tracker.*`` settings, whose defaults come from the loaded model, are
:mod:`~siam_tracker_ros.ros.tracker_tunables`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from siam_tracker_ros.ros.parameters import (
    PACKAGE_ROOT,
    ParamSpec,
    ParamTable,
    Settings,
    StartupError,
    resolve_path,
    settings_for,
)
from siam_tracker_ros.ros.throttle import INIT_WARNING_BURST

__all__ = [
    "DEFAULT_MODEL_CONFIG",
    "DEFAULT_PARAMS_FILE",
    "DEFAULT_WEIGHTS",
    "NODE_NAME",
    "PARAMS",
    "SPECS",
    "NodeSettings",
    "check_model_files",
    "check_update",
    "model_param_args",
]

#: The node's name (and the params-file section it reads besides ``/**``).
NODE_NAME = "tracker_node"
#: The node's default model: empty config, weights and checkpoint mean the bundled model
#: (``core.defaults.BUNDLED_CHECKPOINT``). Relative paths resolve against the working directory,
#: then the package root / share directory; ``$VARS`` are expanded.
DEFAULT_MODEL_CONFIG = ""
DEFAULT_WEIGHTS = ""
DEFAULT_PARAMS_FILE = PACKAGE_ROOT / "config" / "tracker.yaml"

PARAMS = ParamTable(
    (
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
            "A self-describing checkpoint (see core.loading.load_tracker); overrides model.config.",
            dynamic=False,
        ),
        ParamSpec(
            "model.device",
            "cpu",
            "Device for the network: cpu, cuda, cuda:N or auto (CUDA when there is one).",
            dynamic=False,
            pattern=r"auto|cpu|cuda(:\d+)?",
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
            "model.adaptive_threads",
            False,
            "ONNX Runtime on a CPU: keep a one-thread and a model.num_threads-thread (at least "
            "two) session and run whichever ran faster lately -- the second core while it is "
            "free, one thread while another process holds it (more CPU time: a second core "
            "spins). false = the model's own runtime.adaptive_threads (off for the bundled model).",
            dynamic=False,
        ),
        ParamSpec(
            "model.background_searches",
            True,
            "On a CPU with two or more cores, run a LOST frame's re-detection crop on a second "
            "thread beside the tracker's own search (same boxes, less time a LOST frame; "
            "runtime.background_searches). false = one thread.",
            dynamic=False,
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
            "Largest stamp difference between an init message and the buffered frame it is "
            "applied to.",
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
            "While LOST, also publish (for debugging) a Detection2D of the tracker's current "
            "estimate with score 0 and the id '<track id>:lost' -- never the target's id, never "
            "in the detections array.",
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
            "Allow the debug image and response-map topics (computed only while someone "
            "subscribes).",
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
            "init boxes, tracker failures); refused inits get up to "
            f"{INIT_WARNING_BURST} lines in that time (an init and siam-tracker init's "
            "resends).",
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
    ),
    fixed_reason="the model, device and subscriptions are set up once",
)


@settings_for(PARAMS)
@dataclass(frozen=True)
class NodeSettings(Settings):
    """The parameter values as one immutable value (attribute = name with dots as ``_``)."""

    model_config: str
    model_weights: str
    model_checkpoint: str
    model_device: str
    model_num_threads: int
    model_adaptive_threads: bool
    model_background_searches: bool
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


#: ``{name: spec}`` of the table
SPECS: Mapping[str, ParamSpec] = PARAMS.by_name


def check_update(
    current: Mapping[str, Any], updates: Mapping[str, Any], configured: bool = True
) -> str | None:
    """Why a run-time change of the node's parameters must be refused, or None to accept it
    (:meth:`ParamTable.check_update` of the tracker's table)."""
    return PARAMS.check_update(current, updates, configured)


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
