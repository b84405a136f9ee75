"""Backbones of the SiamRPN++ family, each parameter-compatible with pysot's checkpoints.

Every backbone returns a list of feature maps (one per used stage) and exposes ``channels``,
the channel count of each returned map, so necks and heads can be sized from it.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from siam_tracker_ros.models.backbones.alexnet import AlexNetLegacy
from siam_tracker_ros.models.backbones.mobilenetv2 import MobileNetV2
from siam_tracker_ros.models.backbones.resnet import ResNetAtrous, resnet50

#: backbone type (pysot's ``BACKBONE.TYPE`` spelling) -> constructor taking keyword arguments
BACKBONES: dict[str, Any] = {
    "resnet50": resnet50,
    "alexnetlegacy": AlexNetLegacy,
    "mobilenetv2": MobileNetV2,
}


def build_backbone(name: str, kwargs: dict[str, Any]) -> nn.Module:
    """Instantiate a backbone by its pysot type name; unknown names/arguments raise ValueError."""
    if name not in BACKBONES:
        raise ValueError(f"unknown backbone {name!r}; known: {sorted(BACKBONES)}")
    try:
        module: nn.Module = BACKBONES[name](**kwargs)
    except TypeError as exc:
        raise ValueError(f"bad arguments for backbone {name!r}: {exc}") from exc
    return module


__all__ = [
    "AlexNetLegacy",
    "MobileNetV2",
    "ResNetAtrous",
    "BACKBONES",
    "build_backbone",
    "resnet50",
]
