"""Shared test fixtures: where ../shared is, and torch kept to one thread (CI has 2 cores); and
one line per group of skipped tests at the end of the run, saying why they were skipped."""

from __future__ import annotations

import atexit
import os
import re
import shutil
import tempfile
from collections import Counter
from collections.abc import Generator
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


#: Groups of skipped tests, by their skip reason (the first pattern that matches names the
#: group): (pattern, group, why and what to do). A reason matching none is its own group.
SKIP_GROUPS: tuple[tuple[re.Pattern[str], str, str], ...] = (
    (
        re.compile(r"ROS 2 CLI|launch_testing not installed|not laid out in the venv prefix"),
        "ROS CLI",
        "ros2 tools not installed: run scripts/setup_env.sh with ../shared/ros present",
    ),
    (
        re.compile(r"\.\./shared is optional"),
        "../shared",
        "../shared not present: put it beside the repository or set SIAM_SHARED_DIR",
    ),
    (re.compile(r"\bCUDA\b|\bGPU\b"), "GPU", "no CUDA device here"),
    (
        re.compile(r"loopback-only"),
        "ROS process",
        "no loopback-only network namespace: needs unshare and ip, and root or user namespaces",
    ),
    (
        re.compile(r"colcon or cmake"),
        "colcon build",
        "colcon or cmake not installed: run scripts/setup_env.sh",
    ),
)


def skip_reason(report: pytest.TestReport | pytest.CollectReport) -> str:
    """The reason a skipped test gave (``pytest.skip``'s message, without its prefix)."""
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    return reason.removeprefix("Skipped: ")


def skip_groups(reasons: list[str]) -> list[str]:
    """One line per group of skip ``reasons``: ``skipped: N <group> tests (<why>)``, the
    largest group first."""
    counts: Counter[tuple[str, str]] = Counter()
    for reason in reasons:
        group = next(((g, why) for pat, g, why in SKIP_GROUPS if pat.search(reason)), ("", reason))
        counts[group] += 1
    lines = []
    for (group, why), n in counts.most_common():
        name = f"{group} test" if group else "test"
        lines.append(f"skipped: {n} {name}{'' if n == 1 else 's'} ({why})")
    return lines


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> Generator[None]:
    """Name each group of skipped tests and why, one line each, just above pytest's final
    count: a test that silently does not run is easily taken for one that passed. (A wrapper,
    run first: its lines come after pytest's own summary sections, -ra's included.)"""
    try:
        return (yield)
    finally:
        seen: dict[str, str] = {}
        for report in terminalreporter.stats.get("skipped", []):
            seen.setdefault(report.nodeid, skip_reason(report))
        for line in skip_groups(list(seen.values())):
            terminalreporter.write_line(line)
