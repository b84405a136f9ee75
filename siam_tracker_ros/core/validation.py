"""The one way config sections check their values: ``ValueError`` naming the key (the typed
config builder prefixes the section's dotted path)."""

from __future__ import annotations

import math

__all__ = ["check", "finite"]


def check(cond: bool, key: str, msg: str) -> None:
    if not cond:
        raise ValueError(f"{key}: {msg}")


def finite(value: float) -> bool:
    return math.isfinite(float(value))
