"""The default model, in one place.

The bundled checkpoint ships inside the Python package (so pip, editable and colcon installs all
find it next to this code) and carries its whole config, so it needs no YAML beside it. It is
loaded, like every model, by :func:`siam_tracker_ros.core.loading.load_tracker`.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["BUNDLED_CHECKPOINT", "CHECKPOINT_SUFFIXES"]

#: The bundled default model: NanoTrack v3 (Apache-2.0) with the tracker config chosen on the dev
#: set (model card: ``siam_tracker_ros/weights/MODEL_CARD.md``; docs/dev/report.md).
BUNDLED_CHECKPOINT = Path(__file__).resolve().parents[1] / "weights" / "nanotrack_v3.pt"

#: file suffixes read as self-describing checkpoints (anything else is a model + tracker YAML)
CHECKPOINT_SUFFIXES = (".pt", ".pth", ".ckpt")
