"""Distractor memory, motion-consistency gate and ambiguity signal (core/distractors.py) on
hand-made score maps: two look-alikes, a far jump, a remembered look-alike (issue 19)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from siam_tracker_ros.core.policies.distractors import (
    DistractorConfig,
    DistractorPolicy,
    local_peaks,
)

N = 9  # score map side
STRIDE = 10.0  # image pixels per cell in these tests


def _positions() -> np.ndarray:
    ys, xs = np.mgrid[0:N, 0:N]
    return np.stack([xs.ravel() * STRIDE, ys.ravel() * STRIDE], axis=1).astype(np.float64)


def _map(peaks: dict[tuple[int, int], float]) -> np.ndarray:
    m = np.full((N, N), 0.01)
    for (y, x), v in peaks.items():
        m[y, x] = v
    return m.ravel()


def _choose(
    policy: DistractorPolicy, peaks: dict[tuple[int, int], float], center: tuple[float, float]
) -> tuple[int, bool]:
    score = _map(peaks)
    c = policy.choose(
        score.copy(),
        score,
        _positions(),
        (1, N, N),
        np.array(center),
        np.array([STRIDE, STRIDE]),
    )
    return c.index, c.ambiguous


def _cell(y: int, x: int) -> int:
    return y * N + x


def test_local_peaks_are_3x3_maxima_best_first() -> None:
    m = np.zeros((5, 5))
    m[1, 1], m[1, 2], m[3, 4] = 0.9, 0.5, 0.7
    assert list(local_peaks(m, 0.3)) == [6, 19]
    assert list(local_peaks(m, 0.8)) == [6]


@given(
    hnp.arrays(
        np.float64,
        hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=17),
        elements=st.sampled_from([0.0, 0.25, 0.5, 0.75, 1.0]) | st.floats(0, 1),
    ),
    st.floats(0, 1),
)
def test_local_peaks_match_their_definition_on_any_map(m: np.ndarray, min_value: float) -> None:
    """Every cell >= each of its (up to 8) neighbours and >= ``min_value``, by value then
    index (ties included: plateaus and edges are where a fast version would differ)."""
    h, w = m.shape
    want = [
        y * w + x
        for y in range(h)
        for x in range(w)
        if m[y, x] >= min_value
        and all(
            m[y, x] >= m[j, i]
            for j in range(max(y - 1, 0), min(y + 2, h))
            for i in range(max(x - 1, 0), min(x + 2, w))
        )
    ]
    want.sort(key=lambda k: -m.ravel()[k])  # stable: equal values keep index order
    assert list(local_peaks(m, min_value)) == want


def test_a_single_peak_is_not_ambiguous_two_equal_separate_peaks_are() -> None:
    policy = DistractorPolicy(DistractorConfig(enabled=True, ambiguity_hold=0))
    assert _choose(policy, {(4, 4): 0.99}, (40, 40)) == (_cell(4, 4), False)
    policy.reset()
    index, ambiguous = _choose(policy, {(4, 4): 0.99, (4, 8): 0.95}, (40, 40))
    assert index == _cell(4, 4) and ambiguous
    # a much weaker second peak is remembered but does not make the frame ambiguous
    policy.reset()
    assert _choose(policy, {(4, 4): 0.99, (4, 8): 0.5}, (40, 40)) == (_cell(4, 4), False)
    assert len(policy.remembered) == 1
    np.testing.assert_allclose(policy.remembered[0], [80.0, 40.0])


def test_ambiguity_stays_up_for_the_hold_frames_after_the_competitor_merges() -> None:
    policy = DistractorPolicy(DistractorConfig(enabled=True, ambiguity_hold=2))
    assert _choose(policy, {(4, 2): 0.99, (4, 7): 0.95}, (20, 40))[1]
    # the look-alike merges with the target (one peak): flagged for 2 more frames, then clear
    flags = [_choose(policy, {(4, 2): 0.99}, (20, 40))[1] for _ in range(4)]
    assert flags == [True, True, False, False]


def test_motion_gate_keeps_a_near_candidate_over_a_slightly_better_far_one() -> None:
    cfg = DistractorConfig(enabled=True, jump_factor=2.0, near_ratio=0.6)
    policy = DistractorPolicy(cfg)
    # far peak 6 target sizes away scores a bit more than the one where the target is
    index, ambiguous = _choose(policy, {(4, 2): 0.7, (4, 8): 0.8}, (20, 40))
    assert index == _cell(4, 2) and ambiguous
    # without the gate (a huge jump allowance) the argmax wins
    free = DistractorPolicy(DistractorConfig(enabled=True, jump_factor=100.0))
    assert _choose(free, {(4, 2): 0.7, (4, 8): 0.8}, (20, 40))[0] == _cell(4, 8)
    # a far candidate that clearly dominates (near one below near_ratio of it) is followed
    assert _choose(DistractorPolicy(cfg), {(4, 2): 0.3, (4, 8): 0.9}, (20, 40))[0] == _cell(4, 8)


def test_a_remembered_look_alike_is_damped_when_the_target_fades() -> None:
    cfg = DistractorConfig(enabled=True, distractor_penalty=0.5, jump_factor=100.0)
    policy = DistractorPolicy(cfg)
    # frames with the target at (4,2) and a look-alike at (4,7): the look-alike is remembered
    for _ in range(3):
        assert _choose(policy, {(4, 2): 0.99, (4, 7): 0.6}, (20, 40))[0] == _cell(4, 2)
    # the target is occluded: its cell drops to 0.55 while the look-alike scores 0.9; damped by
    # half (0.45) it no longer wins
    assert _choose(policy, {(4, 2): 0.55, (4, 7): 0.9}, (20, 40))[0] == _cell(4, 2)
    # a policy that never saw the look-alike jumps to it
    fresh = DistractorPolicy(cfg)
    assert _choose(fresh, {(4, 2): 0.55, (4, 7): 0.9}, (20, 40))[0] == _cell(4, 7)


def test_memory_forgets_unseen_look_alikes() -> None:
    policy = DistractorPolicy(DistractorConfig(enabled=True, memory_frames=2))
    _choose(policy, {(4, 2): 0.99, (4, 7): 0.6}, (20, 40))
    assert len(policy.remembered) == 1
    for _ in range(3):
        _choose(policy, {(4, 2): 0.99}, (20, 40))
    assert policy.remembered == []


@pytest.mark.parametrize(
    "kwargs",
    [
        {"peak_ratio": 1.5},
        {"ambiguity_ratio": -0.1},
        {"separation": 0.0},
        {"memory_frames": -1},
        {"ambiguity_hold": -1},
    ],
)
def test_config_rejects_out_of_range_values(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        DistractorConfig(**kwargs)  # type: ignore[arg-type]
