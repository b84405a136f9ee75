"""Adaptive intra-op threads: the choice between 1 thread and 2 follows measured run times, and
the ONNX Runtime backend runs both sessions with the same results.

The choice is driven here by scripted run times (no timing in tests): what matters is which
session it picks after which measurements.
"""

from __future__ import annotations

import numpy as np
import pytest

from siam_tracker_ros.core.loading import load_tracker
from siam_tracker_ros.runtime.onnx_backend import OnnxRuntimeBackend, OnnxRuntimeOptions
from siam_tracker_ros.runtime.thread_choice import ThreadChoice


def _drive(choice: ThreadChoice, cost: dict[int, float], runs: int, key: int = 255) -> list[int]:
    """Run ``runs`` times with per-thread-count run times ``cost``; the thread counts picked."""
    picked = []
    for _ in range(runs):
        t = choice.pick(key)
        picked.append(t)
        choice.record(key, t, cost[t])
    return picked


def test_warms_up_both_then_keeps_the_faster() -> None:
    choice = ThreadChoice(2, probe_min=8, probe_max=32)
    picked = _drive(choice, {1: 4e-3, 2: 3e-3}, 10)
    # the first run of each is not a measure; then both are measured (3 each), alternating
    assert sorted(picked[:8]) == [1, 1, 1, 1, 2, 2, 2, 2]
    assert choice.current(255) == 2 and picked[8:] == [2, 2]
    picked = _drive(choice, {1: 4e-3, 2: 3e-3}, 200)
    # the slower one is probed now and then, less and less often: 8, 16, 32, 32, ...
    probes = [i for i, t in enumerate(picked) if t == 1]
    assert 4 <= len(probes) <= 8
    assert np.all(np.diff(probes) <= 33) and np.diff(probes)[-1] == 33


def test_falls_back_to_one_thread_under_load_and_returns_when_it_is_gone() -> None:
    choice = ThreadChoice(2, probe_min=8, probe_max=64)
    _drive(choice, {1: 4e-3, 2: 3e-3}, 40)
    assert choice.current(255) == 2
    # another process takes the second core: two threads collapse, one degrades gracefully
    loaded = _drive(choice, {1: 6e-3, 2: 15e-3}, 100)
    slow_runs = [i for i, t in enumerate(loaded) if t == 2]
    assert choice.current(255) == 1
    assert slow_runs[:4] == [0, 1, 2, 3]  # it takes a few runs for the median to move
    assert len(slow_runs) <= 8  # then only probes, ever rarer
    # the load is gone: a probe finds two threads fast again
    quiet = _drive(choice, {1: 4e-3, 2: 3e-3}, 70)
    assert choice.current(255) == 2 and quiet[-5:] == [2] * 5
    assert choice.stats(255)["switches"] == 2


def test_keys_are_independent_and_bad_settings_are_refused() -> None:
    choice = ThreadChoice(2)
    _drive(choice, {1: 4e-3, 2: 3e-3}, 20, key=255)
    _drive(choice, {1: 2e-3, 2: 3e-3}, 20, key=223)
    assert (choice.current(255), choice.current(223)) == (2, 1)
    for bad in (
        {"many": 1},
        {"many": 2, "margin": 0.0},
        {"many": 2, "probe_min": 9, "probe_max": 8},
    ):
        with pytest.raises(ValueError):
            ThreadChoice(**bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="adaptive_threads"):
        OnnxRuntimeOptions(intra_op_threads=1, adaptive_threads=True)


def test_backend_runs_both_sessions_with_the_same_results() -> None:
    base = load_tracker()
    assert isinstance(base.runtime, OnnxRuntimeBackend)
    adaptive = OnnxRuntimeBackend(
        base.runtime.exported,
        options=OnnxRuntimeOptions(intra_op_threads=2, adaptive_threads=True),
        pool=base.runtime.host_pool,
    )
    adaptive.prepare(127, [255])
    assert adaptive.is_prepared(255) and adaptive.session_threads == {1, 2}
    rng = np.random.default_rng(0)
    kernels = base.runtime.template(rng.integers(0, 256, (127, 127, 3), dtype=np.uint8))
    crop = rng.integers(0, 256, (255, 255, 3), dtype=np.uint8)
    want = base.runtime.search(crop, kernels)
    assert adaptive.thread_choice is not None
    for _ in range(12):  # warm-up alternates between the two sessions
        got = adaptive.search(crop, kernels)
        np.testing.assert_allclose(got.cls, want.cls, rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(got.loc, want.loc, rtol=1e-4, atol=1e-4)
    stats = adaptive.thread_choice.stats(255)
    assert stats["runs_1"] >= 3 and stats["runs_2"] >= 3
