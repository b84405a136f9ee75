"""The default model, in one place, and the one way the CLI, the evaluation harness and the ROS
node turn "a model the user named (or none)" into a :class:`Tracker`.

The bundled checkpoint ships inside the Python package (so pip, editable and colcon installs all
find it next to this code) and carries its whole config, so it needs no YAML beside it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from siam_tracker_ros.core.tracker import Tracker

#: The bundled default model: NanoTrack v3 (Apache-2.0) with the tracker config chosen on the dev
#: set (model card: ``siam_tracker_ros/weights/MODEL_CARD.md``; docs/dev/report.md).
BUNDLED_CHECKPOINT = Path(__file__).resolve().parents[1] / "weights" / "nanotrack_v3.pt"

CHECKPOINT_SUFFIXES = (".pt", ".pth", ".ckpt")


def load_tracker(
    model: str | Path | None = None,
    weights: str | Path | None = None,
    device: str | None = None,
    runtime: str | None = None,
    cpu_threads: int | None = None,
    cache_dir: str | Path | None = None,
) -> Tracker:
    """Build a tracker from ``model``: a self-describing checkpoint (``.pt``), a model+tracker
    YAML (with ``weights`` overriding its ``model.weights``), or ``None``/``""`` for the bundled
    model. Missing files raise ``FileNotFoundError`` naming the path; a YAML that names no
    weights (and no ``weights`` given) raises ``ValueError`` rather than tracking on random
    weights. ``runtime`` / ``cpu_threads`` override the model's ``tracker.runtime`` /
    ``tracker.cpu_threads``."""
    from siam_tracker_ros.core.tracker import Tracker

    if runtime is None and device is not None and str(device).startswith("cuda"):
        # ONNX Runtime is the CPU fast path (the bundled config selects it); on a GPU the
        # PyTorch path (autocast, channels_last, cached kernels) is the one built for CUDA.
        runtime = "torch"
    path = Path(model) if model else BUNDLED_CHECKPOINT
    if not path.is_file():
        raise FileNotFoundError(f"model file not found: {path}")
    if path.suffix.lower() in CHECKPOINT_SUFFIXES:
        if weights:
            raise ValueError(f"{path} is a checkpoint with its own weights; pass no weights")
        return Tracker.from_checkpoint(
            path, device=device, runtime=runtime, cpu_threads=cpu_threads, cache_dir=cache_dir
        )
    if not weights:
        from siam_tracker_ros.core.config import load_config

        if not load_config(path).model.get("weights"):
            # a tracker on random weights "tracks" nothing: never build one silently
            raise ValueError(f"{path} names no model.weights; pass the weights file to use")
    return Tracker.from_config(
        path,
        weights=weights,
        device=device,
        runtime=runtime,
        cpu_threads=cpu_threads,
        cache_dir=cache_dir,
    )
