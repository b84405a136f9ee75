"""``init_weights:``: start training from a weights file (e.g. NanoTrack v2's released model).

"Strict for the matching keys": every key the file and the model share must have the same shape
(a silent partial load of a differently shaped layer would train from a half-random model without
anyone noticing); keys only one side has are reported, and a file sharing no key with the model
is an error.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from torch import nn

from siam_tracker_ros.models.checkpoint import load_state_dict_file

__all__ = ["load_init_weights"]

log = logging.getLogger(__name__)


def load_init_weights(model: nn.Module, path: str | Path) -> dict[str, Any]:
    """Load ``path`` into ``model``; returns ``{"loaded", "missing", "unexpected"}`` key counts."""
    state = load_state_dict_file(path)
    own = model.state_dict()
    shared = sorted(set(own) & set(state))
    if not shared:
        raise ValueError(
            f"{path}: no key matches {type(model).__name__} (file keys look like "
            f"{sorted(state)[:3]}, model keys like {sorted(own)[:3]})"
        )
    bad = [
        f"{k}: file {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
        for k in shared
        if tuple(state[k].shape) != tuple(own[k].shape)
    ]
    if bad:
        raise ValueError(f"{path}: {len(bad)} shape mismatches: {'; '.join(bad[:5])}")
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    model.load_state_dict({k: state[k] for k in shared}, strict=False)
    if missing:
        log.warning(
            "init_weights: %d model keys not in %s (kept at init), e.g. %s",
            len(missing),
            path,
            missing[:3],
        )
    if unexpected:
        log.warning(
            "init_weights: %d keys of %s not in the model, e.g. %s",
            len(unexpected),
            path,
            unexpected[:3],
        )
    return {"loaded": len(shared), "missing": len(missing), "unexpected": len(unexpected)}
