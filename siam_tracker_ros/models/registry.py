"""Model families by name. Families are imported lazily so a missing optional family (or its
heavy imports) never breaks the others."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from siam_tracker_ros.models.base import SiameseModel

#: family name -> "module:function" taking the model section of a config (a dict) and returning
#: a :class:`SiameseModel`.
FAMILIES: dict[str, str] = {
    "siamrpn": "siam_tracker_ros.models.siamrpn:build",
    "nanotrack": "siam_tracker_ros.models.nanotrack:build",
    "siammargin_lite": "siam_tracker_ros.models.efficientnet_lite:build",
}


def build_model(model_cfg: dict[str, Any]) -> SiameseModel:
    """Build a model from the ``model:`` section of a config (``family`` selects the builder)."""
    family = model_cfg.get("family")
    if family not in FAMILIES:
        raise ValueError(f"unknown model family {family!r}; known: {sorted(FAMILIES)}")
    module_name, func_name = FAMILIES[family].split(":")
    builder: Callable[[dict[str, Any]], SiameseModel] = getattr(
        importlib.import_module(module_name), func_name
    )
    return builder(model_cfg)
