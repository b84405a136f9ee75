"""The lost-state presence signal: raw score vs ``combined`` (score, PSR, appearance).

NanoTrack's raw best score saturates (about 0.8 with no target in the crop), so a score threshold
misses absent targets. :class:`SaturatingModel` reproduces that failure mode: with the red target
in the crop its score map has one sharp peak on it; without it, a flat map at a high score. Its
"kernels" are colour fractions, so the appearance similarity is high on the target only.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from siam_tracker_ros.core.config import (
    LostStateConfig,
    MechanismsConfig,
    PointConfig,
    TrackerConfig,
    tracker_config_from_dict,
)
from siam_tracker_ros.core.policies import LostStatePolicy, peak_to_sidelobe
from siam_tracker_ros.core.result import TrackState
from siam_tracker_ros.core.tracker import Tracker
from siam_tracker_ros.models.base import Features, HeadOutput, Kernels, SiameseModel


def _red(x: torch.Tensor) -> torch.Tensor:
    return ((x[2] - torch.maximum(x[0], x[1]) - 8.0) / 247.0).clamp(0, 1)


class SaturatingModel(SiameseModel):
    stride = 16
    head_type = "point"

    def __init__(self) -> None:
        super().__init__()
        self.dummy = torch.nn.Parameter(torch.zeros(1))

    def template_features(self, z: torch.Tensor) -> Features:
        return [z]

    def search_features(self, x: torch.Tensor) -> Features:
        return [x]

    def make_kernels(self, zf: Features) -> Kernels:
        k = torch.tensor([1.0, 0.05]).view(1, 2, 1, 1)  # "red, a little background"
        return Kernels(cls=[k], loc=[k])

    def head(self, xf: Features, kernels: Kernels) -> HeadOutput:
        x = xf[0][0].float()
        size = x.shape[-1]
        n = (size - 127) // self.stride + 8
        red = _red(x)
        p = -1.0 + self.stride * torch.arange(n, dtype=torch.float32)
        py, px = torch.meshgrid(p, p, indexing="ij")
        if red.sum() > 10:
            coords = torch.arange(size, dtype=torch.float32)
            tx = float((red.sum(0) * coords).sum() / red.sum())
            ty = float((red.sum(1) * coords).sum() / red.sum())
            fg = 6.0 - ((px - tx) ** 2 + (py - ty) ** 2) / 200.0
        else:  # no target: saturated and flat, like NanoTrack on an empty frame
            fg = torch.full((n, n), 2.5) + 0.05 * torch.sin(px + 2 * py)
        cls = torch.stack([torch.zeros_like(fg), fg])[None]
        loc = torch.full((1, 4, n, n), 32.0)
        return HeadOutput(cls=cls, loc=loc)

    def pool_cls_kernel(self, xf: Features, roi: torch.Tensor) -> list[torch.Tensor]:
        x = xf[0][0].float()
        x0, y0, x1, y1 = (int(v) for v in roi.clamp(0, x.shape[-1] - 1).tolist())
        frac = float(_red(x[:, y0 : y1 + 1, x0 : x1 + 1]).mean())
        return [torch.tensor([frac, 1.0 - frac]).view(1, 2, 1, 1)]


def _frame(visible: bool) -> np.ndarray:
    img = np.full((480, 640, 3), 128, np.uint8)
    img[::7] = 100  # some texture
    if visible:
        img[200:264, 300:364] = (0, 0, 255)
    return img


def _states(presence: str, lost: float, found: float) -> list[TrackState]:
    lost_state = LostStateConfig(
        enabled=True, presence=presence, lost_threshold=lost, found_threshold=found, patience=2
    )  # type: ignore[arg-type]
    config = TrackerConfig(
        base_size=7,
        point=PointConfig(stride=16),
        mechanisms=MechanismsConfig(lost_state=lost_state),
    )
    tracker = Tracker(SaturatingModel(), config)
    tracker.init(_frame(True), (300, 200, 64, 64))
    pattern = [True] * 3 + [False] * 5 + [True] * 3
    return [tracker.track(_frame(v)).state for v in pattern]


def test_peak_to_sidelobe_separates_a_peak_from_a_flat_map() -> None:
    yy, xx = np.mgrid[:16, :16]
    peak = np.exp(-((xx - 9) ** 2 + (yy - 6) ** 2) / 2.0) * 0.9 + 0.05
    flat = 0.85 + 0.01 * np.random.default_rng(0).standard_normal((16, 16))
    assert peak_to_sidelobe(peak) > 20 > 5 > peak_to_sidelobe(flat)
    assert peak_to_sidelobe(np.zeros((16, 16))) == 0.0


def _psr_by_mask(r: np.ndarray, exclude: int = 2, window: int | None = None) -> float:
    """The definition, written the obvious way: side lobe = the cells outside the square."""
    r = r.astype(np.float64)
    iy, ix = np.unravel_index(int(np.argmax(r)), r.shape)
    if window is not None and window < max(r.shape):
        y0 = min(max(iy - window // 2, 0), r.shape[0] - window)
        x0 = min(max(ix - window // 2, 0), r.shape[1] - window)
        r, iy, ix = r[y0 : y0 + window, x0 : x0 + window], iy - y0, ix - x0
    side = np.ones(r.shape, dtype=bool)
    side[max(iy - exclude, 0) : iy + exclude + 1, max(ix - exclude, 0) : ix + exclude + 1] = False
    return float((r[iy, ix] - r[side].mean()) / (r[side].std() + 1e-6))


@pytest.mark.parametrize(("side", "window"), [(16, None), (23, 16), (33, 16), (16, 16), (7, None)])
def test_peak_to_sidelobe_equals_its_definition(side: int, window: int | None) -> None:
    """The per-frame version works from sums (fewer NumPy calls); the value must not change,
    also with the peak at a border or corner (clipped exclusion square and window)."""
    rng = np.random.default_rng(side)
    for trial in range(40):
        r = rng.random((side, side)).astype(np.float32) ** 3
        if trial % 4 == 1:
            r[0, side - 1] = 2.0  # corner peak
        elif trial % 4 == 2:
            r[side // 2, 0] = 2.0  # edge peak
        want = _psr_by_mask(r, window=window)
        assert peak_to_sidelobe(r, window=window) == pytest.approx(want, rel=1e-9, abs=1e-9)


def test_combined_presence_is_a_probability_that_needs_appearance() -> None:
    policy = LostStatePolicy(LostStateConfig(enabled=True, presence="combined"))
    yy, xx = np.mgrid[:16, :16]
    peak = np.exp(-((xx - 8) ** 2 + (yy - 8) ** 2) / 2.0)
    flat = np.full((16, 16), 0.8) + 0.01 * np.sin(xx + yy)
    assert policy.presence(0.99, peak, 0.45) > 0.9
    assert policy.presence(0.99, flat, 0.1) < 0.1  # saturated score alone does not keep it
    with pytest.raises(ValueError, match="appearance"):
        policy.presence(0.99, peak, None)
    assert LostStatePolicy(LostStateConfig()).presence(0.7, flat, None) == 0.7


def test_presence_config_is_strict() -> None:
    cfg = tracker_config_from_dict({"mechanisms": {"lost_state": {"presence": "combined"}}})
    assert cfg.mechanisms.lost_state.presence == "combined"
    with pytest.raises(ValueError, match="presence"):
        tracker_config_from_dict({"mechanisms": {"lost_state": {"presence": "psr"}}})


def test_saturated_score_misses_the_absent_target_combined_presence_does_not() -> None:
    T, L = TrackState.TRACKING, TrackState.LOST
    # raw score: about 0.92 with nothing in the crop, above any usable threshold -> never lost
    assert _states("score", 0.9, 0.95) == [T] * 11
    # combined: lost after `patience` absent frames, found again on the first visible one
    assert _states("combined", 0.3, 0.5) == [T] * 3 + [T, L, L, L, L] + [T] * 3


def test_keep_tracking_flags_lost_but_follows_the_best_candidate() -> None:
    """``keep_tracking``: LOST only flags ``present=False``; no widened search, the box moves on."""
    from core_fakes import ScriptedAnchorModel

    img = np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    model = ScriptedAnchorModel(fg_logits=[3.0, -3.0, -3.0, -3.0, 3.0, 3.0], dx=0.2)
    lost_state = LostStateConfig(
        enabled=True, lost_threshold=0.3, found_threshold=0.6, patience=2, keep_tracking=True
    )
    tracker = Tracker(model, TrackerConfig(mechanisms=MechanismsConfig(lost_state=lost_state)))
    tracker.init(img, (200, 200, 60, 60))
    results = [tracker.track(img) for _ in range(6)]
    T, L = TrackState.TRACKING, TrackState.LOST
    assert [r.state for r in results] == [T, T, L, L, T, T]
    assert [r.present for r in results] == [True, True, False, False, True, True]
    assert set(model.search_sizes) == {255}
    xs = [r.box[0] for r in results]
    assert all(b > a for a, b in zip(xs, xs[1:], strict=False))  # dx > 0: moves every frame


@pytest.mark.parametrize("runtime", ["torch", "onnxruntime"])
def test_appearance_is_the_cosine_similarity_of_pooled_kernels(runtime: str) -> None:
    """The appearance cue of a step (computed on the host from vectors prepared at init) equals
    ``torch.cosine_similarity`` of the kernel pooled at the tracked box and the first frame's
    kernel; ``probe`` reports the same cues without moving the tracker."""
    from core_fakes import textured_sequence

    from siam_tracker_ros.core.loading import load_tracker

    tracker = load_tracker(backend=runtime)  # the bundled model, no ../shared needed
    assert tracker.policy("lost_state").uses_appearance
    frames, gt = textured_sequence(n_frames=3)
    tracker.init(frames[0], gt[0])
    first = tracker.runtime.template(_template_crop(tracker, frames[0], gt[0]))
    pooled: list[list[torch.Tensor]] = []
    pool = tracker.runtime.pool

    def recording(*args: object) -> list[torch.Tensor]:
        pooled.append(pool(*args))  # type: ignore[arg-type]
        return pooled[-1]

    tracker.runtime.pool = recording  # type: ignore[method-assign]
    center, size = tracker.center_pos.copy(), tracker.size.copy()
    cues = tracker.probe(frames[1])
    assert np.array_equal(tracker.center_pos, center) and np.array_equal(tracker.size, size)
    tracker.track(frames[1])
    step = tracker.last_step
    assert step is not None and step.appearance is not None
    assert cues.score == pytest.approx(step.candidate.score, abs=1e-6)
    assert len(pooled) == 2  # the probe's box (the raw candidate) and the step's (smoothed)

    def cosine(kernels: list[torch.Tensor]) -> float:
        sims = [
            torch.cosine_similarity(
                torch.as_tensor(np.asarray(p)).flatten().float(),
                torch.as_tensor(np.asarray(k)).flatten().float(),
                dim=0,
            )
            for p, k in zip(kernels, first.cls, strict=True)
        ]
        return float(torch.stack(sims).mean())

    assert cues.appearance == pytest.approx(cosine(pooled[0]), abs=1e-5)
    assert step.appearance == pytest.approx(cosine(pooled[1]), abs=1e-5)


def _template_crop(tracker: Tracker, frame: np.ndarray, box: np.ndarray) -> np.ndarray:
    from siam_tracker_ros.core.conventions import template_extent
    from siam_tracker_ros.core.geometry import get_subwindow

    center = np.array([box[0] + (box[2] - 1) / 2, box[1] + (box[3] - 1) / 2])
    side = round(template_extent(box[2:], tracker.config.context_amount))
    return get_subwindow(frame, center, 127, side, np.mean(frame, axis=(0, 1)))


def test_appearance_and_online_update_pool_the_kernel_once_per_frame() -> None:
    """Both pool at the tracked box of the same frame; the second must reuse the first."""
    import dataclasses

    from core_fakes import textured_sequence

    from siam_tracker_ros.core.loading import load_tracker

    base = load_tracker(backend="torch")
    mech = base.config.mechanisms
    online = dataclasses.replace(mech.online_update, enabled=True, min_score=0.0)
    config = dataclasses.replace(
        base.config, mechanisms=dataclasses.replace(mech, online_update=online)
    )
    tracker = Tracker(base.model, config, runtime=base.runtime)
    assert tracker.policy("lost_state").uses_appearance
    calls = []
    pool = tracker.runtime.pool

    def counting(*args: object) -> list[torch.Tensor]:
        calls.append(1)
        return pool(*args)  # type: ignore[arg-type]

    tracker.runtime.pool = counting  # type: ignore[method-assign]
    frames, gt = textured_sequence(n_frames=6)
    tracker.init(frames[0], gt[0])
    for frame in frames[1:]:
        tracker.track(frame)
    assert tracker.policy("online_update").updates == len(frames) - 1
    assert len(calls) == len(frames) - 1
