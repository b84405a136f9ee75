"""Shared test fixtures: where ../shared is, and torch kept to one thread (CI has 2 cores)."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

try:  # hypothesis profiles for the fuzz tests (test/**/test_fuzz_*.py)
    from hypothesis import HealthCheck, settings

    # "ci": the default, 2,000 examples per fuzz test; "long": 20,000 each, for bench runs
    # (HYPOTHESIS_PROFILE=long .venv/bin/python -m pytest test/ros/test_fuzz_*.py).
    _FUZZ_HEALTH = [HealthCheck.too_slow, HealthCheck.data_too_large]
    settings.register_profile(
        "ci", max_examples=2000, deadline=None, suppress_health_check=_FUZZ_HEALTH
    )
    settings.register_profile(
        "long", max_examples=20000, deadline=None, suppress_health_check=_FUZZ_HEALTH
    )
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
except ImportError:  # hypothesis is a test dependency; without it the fuzz tests skip
    pass

SHARED = Path(os.environ.get("SIAM_SHARED_DIR", ROOT.parent / "shared"))

# Exported ONNX graphs (runtime/export_cache.py) go to a cache private to this test session, not
# to the user's ~/.cache; set SIAM_TRACKER_CACHE to keep one between runs.
if not os.environ.get("SIAM_TRACKER_CACHE"):
    _CACHE = tempfile.mkdtemp(prefix="siam_test_cache_")
    os.environ["SIAM_TRACKER_CACHE"] = _CACHE
    atexit.register(shutil.rmtree, _CACHE, True)


def shared_path(*parts: str) -> Path:
    """Path under ../shared, or skip the test cleanly when it is absent."""
    p = SHARED.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"{p} not present (../shared is optional)")
    return p


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread() -> None:
    try:
        import torch
    except ImportError:
        return
    torch.set_num_threads(1)
