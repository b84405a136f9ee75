"""Search economy: a smaller search crop while the target is steady and confident, the full one
again at the first sign of trouble (``tracker.mechanisms.search_economy``).

Why: on a CPU the network is most of a tracking step, and its cost grows with the search crop's
area (NanoTrack v3 on ONNX Runtime, 1 thread: 255 px 100 %, 223 px ~82 %, 191 px ~64 %;
docs/speed.md). A steady target barely moves between frames -- on the dev set 95 % of frames
move less than 16 network-input pixels, while the 255-px crop reaches 112 px from its centre --
so most of that area is searched for nothing. This is SiamMargin's adaptive search region turned
around: there the crop grows for small or fast targets; here it shrinks for calm ones.

How: the crop shrinks in image space *and* in network input (the target keeps its resolution
and the template is unchanged), to ``instance_size``. A frame is *calm* when the tracker
followed the target in state TRACKING, nothing competes (not ambiguous), the raw score and the
presence signal are high and the target moved little. After ``steady_frames`` calm frames in a
row the next search is the small one. Any frame that is not calm (a drop in score or presence,
fast motion, a look-alike, LOST, another policy's extra search or widened region) ends the
economy: the next frame searches at full size again, and the streak starts over. With
``research``, an economical search that itself looks troubled (low score, or the peak far from
the crop's centre: the target may be leaving the small crop) is repeated at full size in the
same frame and the full-size result is used, so trouble costs one frame of extra work instead
of a wrong box.

It never shrinks a search another policy planned (the adaptive search's large crop, the lost
state's widened re-detection): it only acts when the plan is still the tracker's own base size,
so it is registered after them (runs later in the ``plan`` phase). Off by default; with it off
the step is unchanged bit for bit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from siam_tracker_ros.core.policies.base import Policy, Search, Step, Target
from siam_tracker_ros.core.result import TrackState
from siam_tracker_ros.core.validation import check

__all__ = ["SearchEconomyConfig", "SearchEconomyPolicy"]


@dataclass(frozen=True)
class SearchEconomyConfig:
    """``tracker.mechanisms.search_economy`` (see the module docstring).

    ``instance_size``: network input of the economical search, two strides at a time below the
    tracker's own ``instance_size`` (223 or 191 for NanoTrack's 255 / 16; another value is
    rounded to the nearest such size, see :meth:`SearchEconomyPolicy.economy_size`); used only
    when smaller than the tracker's ``instance_size``. ``steady_frames``: calm
    frames in a row before it is used. A calm frame has raw best score >= ``min_score``,
    presence signal (the lost state's, else the raw score) >= ``min_presence`` and a peak at
    most ``max_shift`` network-input pixels from the crop's centre (the target's motion in the
    network's pixels). ``research``: repeat a troubled economical search at full size in the
    same frame (troubled: score below ``min_score`` or peak shift above ``max_shift``).
    """

    enabled: bool = False
    instance_size: int = 223
    steady_frames: int = 5
    min_score: float = 0.9
    min_presence: float = 0.5
    max_shift: float = 16.0
    research: bool = True

    def __post_init__(self) -> None:
        check(self.instance_size > 0, "instance_size", f"must be > 0, got {self.instance_size}")
        check(self.steady_frames >= 1, "steady_frames", f"must be >= 1, got {self.steady_frames}")
        check(0.0 <= self.min_score <= 1.0, "min_score", "must be in [0, 1]")
        check(0.0 <= self.min_presence <= 1.0, "min_presence", "must be in [0, 1]")
        check(
            self.max_shift >= 0 and math.isfinite(self.max_shift),
            "max_shift",
            f"must be a number >= 0, got {self.max_shift}",
        )


class SearchEconomyPolicy(Policy[SearchEconomyConfig]):
    """Smaller search crop for calm targets, full crop again on trouble (see module docstring).

    Per-target state: the calm streak and whether the current step searches economically.
    Counters (``economical``, ``researched``, ``steps``) are kept for benches and tests.
    """

    name = "search_economy"
    config_type = SearchEconomyConfig
    rebuild_keys = ("instance_size",)

    def __init__(self, config: SearchEconomyConfig) -> None:
        super().__init__(config)
        self.calm_frames = 0
        #: the tracker's own search size, learnt from the first search (see :meth:`_learn_base`)
        self.base_size: int | None = None
        self._active = False  # this step's first search is the economical one
        self._trouble = False  # this step's economical search looked troubled
        self.steps = 0
        self.economical = 0
        self.researched = 0

    def configure(self, config: SearchEconomyConfig) -> None:
        """New settings from the next step on; switched off, the streak starts over."""
        self.config = config
        if not config.enabled:
            self.calm_frames = 0

    def reset(self, target: Target | None) -> None:
        """A new target: full-size searches until it has been calm for ``steady_frames``."""
        self.calm_frames = 0
        self.base_size = None
        self._active = self._trouble = False
        self.steps = self.economical = self.researched = 0

    def search_sizes(self, base: int) -> list[int]:
        size = self.config.instance_size
        # as configured: a size the plan rounds (see economy_size) is prepared on first use
        return [size] if size < base else []

    def economy_size(self, base: int, exemplar_size: int, stride: int) -> int | None:
        """The economical network input for a tracker searching at ``base``: the configured
        size rounded to ``base - 2 k stride`` (``k >= 1``; the smaller on a tie), or ``None``
        when the configured size is not smaller than ``base``.

        Two strides at a time, so the score map keeps the base map's parity (15 -> 13 -> 11
        cells for NanoTrack): where the crop centre falls on a cell centre at full size it still
        does. Measured on the dev set (docs/speed.md), an economy crop with an even map (207 px,
        12 x 12) lost 0.011 one-pass AUC, against none for 223 px (13 x 13) or 191 px."""
        size = self.config.instance_size
        if size >= base:
            return None
        pair = 2 * stride
        k = max(1, math.floor((base - size) / pair + 0.5))
        out = base - k * pair
        return out if out >= exemplar_size else None

    @property
    def steady(self) -> bool:
        """Whether the next search may be the economical one."""
        return self.calm_frames >= self.config.steady_frames

    def is_calm(self, score: float, presence: float, shift: float) -> bool:
        """The per-frame signals of a calm frame (see :class:`SearchEconomyConfig`)."""
        cfg = self.config
        return score >= cfg.min_score and presence >= cfg.min_presence and shift <= cfg.max_shift

    def troubled(self, search: Search) -> bool:
        """Whether an economical search's own result calls for the full crop."""
        cand = search.candidate
        shift = float(math.hypot(float(cand.box[0]), float(cand.box[1])))
        return cand.score < self.config.min_score or shift > self.config.max_shift

    # ------------------------------------------------------------------ phases
    def plan(self, step: Step) -> None:
        self._active = self._trouble = False
        base = step.instance_size
        if not self.steady or base != self.base_size:
            return  # not calm long enough, or another policy changed the plan: leave it
        size = self.economy_size(base, step.exemplar_size, step.stride)
        if size is None:
            return
        step.instance_size = size
        self._active = True
        step.record(self.name, instance_size=size)

    def after_search(self, step: Step) -> None:
        first = step.searches[0]
        self._learn_base(step, first)
        if not self._active or not self.troubled(first):
            return
        self._trouble = True
        if not self.config.research or self.base_size is None:
            step.record(self.name, trouble=True)
            return
        full = step.run_search(first.center, self.base_size, source=self.name)
        step.chosen = len(step.searches) - 1
        self.researched += 1
        step.record(self.name, trouble=True, researched=full.instance_size)

    def commit(self, step: Step) -> None:
        # counted here, not in ``plan``: ``Tracker.probe`` runs the plan of a step it never takes
        self.steps += 1
        self.economical += self._active
        cand = step.candidate
        assert cand is not None
        calm = (
            not self._trouble
            and step.follow
            and step.confident
            and not step.ambiguous
            and step.state == TrackState.TRACKING
            and all(s.source in ("track", self.name) for s in step.searches)
            and self.is_calm(float(cand.score), float(step.presence), self._shift(step))
        )
        self.calm_frames = self.calm_frames + 1 if calm else 0

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def _shift(step: Step) -> float:
        """The target's motion this frame in network-input pixels."""
        return float(np.hypot(*step.target.last_motion)) * float(step.scale_z)

    def _learn_base(self, step: Step, search: Search) -> None:
        """The tracker's own search size (its plan before any policy changes it), from a search
        at any size: score maps grow by one cell per ``stride`` pixels of input, and
        :attr:`Step.base_map` is the map of the tracker's own size. A policy sees only the step,
        and this keeps it so: nothing else tells it that size before the plan is changed."""
        if self.base_size is None:
            side = int(search.candidate.response.shape[-1])
            self.base_size = search.instance_size + (step.base_map - side) * step.stride
