"""Long-term tracking: LOST means gone until proven back, and a global search while lost.

A Siamese tracker that lost its target settles on background or on another object and, since
its score saturates on anything object-like, soon reports it with confidence. A follower acting
on that chases a phantom. This policy adds two things (``tracker.mechanisms.longterm``):

**Verification against an appearance memory.** The memory holds the first frame's template and
up to ``memory_size`` appearances from confidently tracked frames (TRACKING, no look-alike
competing, presence at least ``admit_presence``, at most one every ``memory_interval`` frames,
each close enough to the memory already there: drift is never admitted). It is never updated
while the target is LOST or AMBIGUOUS. A candidate is *verified* when the template the network
computes at its box (what ``init`` would compute there: one template run) has a cosine
similarity of at least ``threshold`` with some memory entry. The lost-state policy reads the
verdict (:attr:`Step.verified`): leaving LOST needs ``confirm_frames`` verified frames in a row at
one place; a candidate that fails while a look-alike competes is LOST at once; one that fails
while tracking counts as a low-presence frame. The check runs every frame while LOST, on every
ambiguous frame and, with ``check_every``, every N-th tracked frame (a slow slide onto a
look-alike); the rest of the time it costs nothing. While tracking, a low probability is a
failure only when the similarity also fell ``fail_drop`` below its own running average, once that
average holds ``level_checks`` checks: the verifier's calibration is absolute, a small or changing
target sits low on it all along, and the first checks after ``init`` sit close to the template
by construction.
For the same reason, with ``found_rise``, leaving LOST also accepts a candidate whose similarity
rose that far above what the tracker saw while the target was gone, and with ``found_back`` one
whose similarity is back near the level it had while tracked (both confirmed like any other).

**Re-detection.** While LOST, besides the tracker's own search, ``tiles_per_frame`` search crops
at the target's scale sweep the whole image, nearest to the last confident position first (a
target that glanced out of view tends to come back where it left), so the per-frame cost stays
bounded (one tile costs one search); one more crop sits at the last confident place, and with
``crops_per_frame`` these crops take turns over frames (the bundled model runs one a frame, so a
lost frame costs two searches). A frame's crops are known before its first search: ``plan``
prefetches them (:meth:`Step.prefetch`), so on a CPU with a second core they run there while the
tracker's own search runs (the same result, less wall time a lost frame). The candidate of each
crop is verified; the best verified one becomes the step's candidate, so the tracker jumps there
and, once confirmed, is TRACKING.
Anchors: DaSiamRPN's local-to-global search, pysot's long-term tracker, LTMU's verifier.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from siam_tracker_ros.core.conventions import template_extent
from siam_tracker_ros.core.policies.base import Policy, Search, Step, Target
from siam_tracker_ros.core.result import TrackState
from siam_tracker_ros.core.validation import check
from siam_tracker_ros.runtime.arrays import to_numpy

__all__ = ["LongTermConfig", "LongTermPolicy", "tile_centres"]


@dataclass(frozen=True)
class LongTermConfig:
    """``tracker.mechanisms.longterm`` (see the module docstring)."""

    enabled: bool = False
    #: verification probability ``sigmoid(w_p * logit(presence) + w_s * similarity + bias)``
    #: (presence: the lost state's signal; similarity: to the closest memory entry); fitted on
    #: long-term material made from training footage (``scripts/calibrate_longterm.py``)
    verify_weights: tuple[float, float] = (0.62, 6.16)
    verify_bias: float = -5.78
    #: leaving LOST needs this probability on ``confirm_frames`` frames in a row, at one place
    found_probability: float = 0.5
    confirm_frames: int = 3
    #: a second way out of LOST, relative like ``fail_drop``: a candidate also passes when its
    #: similarity rose ``found_rise`` above the baseline of the lost frames (a running average
    #: over the frames whose candidate did not pass, after ``rise_after`` of them) and its
    #: presence is at least ``rise_presence`` (a target the verifier's absolute calibration
    #: places low all along -- changed pose, small -- still stands out from what the tracker saw
    #: while it was gone); negative: off. 0.1: dev-set runs LT4, LT4-dev (docs/dev/report.md)
    found_rise: float = 0.1
    rise_presence: float = 0.5
    rise_after: int = 5
    #: a third way out, the mirror of ``fail_drop``: a candidate also passes when its similarity
    #: is back within ``found_back`` of the running level of the tracked frames before the loss,
    #: at presence >= ``rise_presence`` and with no look-alike competing (a target declared LOST
    #: while the box stayed on it -- an occluder passed, a pose changed -- has its own similarity
    #: in the lost frames' baseline, so it cannot rise above it); negative: off. 0.1: dev-set
    #: runs LT11, LT11-dev; 0.08 with ``level_checks`` (runs LT20, LT21; docs/dev/report.md)
    found_back: float = 0.08
    #: while tracking, a check below this probability fails; ``fail_checks`` failures in a row
    #: are LOST (while a look-alike competes, one check below ``found_probability`` is; both
    #: only on a drop, see ``fail_drop``)
    lost_probability: float = 0.3
    fail_checks: int = 2
    #: a failing check while tracking (and refusing an ambiguous candidate) also needs the
    #: similarity to have dropped by this much below its running average over the passed checks
    #: of unambiguous frames (an exit or a swap is an event; a target whose look slowly changes,
    #: or a small one that never looks much like its template, is not lost; a competing
    #: look-alike never pulls the average down); negative: no such condition. 0.1: dev-set runs
    #: LT2a-LT2 (docs/dev/report.md)
    fail_drop: float = 0.1
    #: passed checks the running level needs before a drop below it counts (the first checks
    #: after ``init`` are close to the template by construction: a level of one or two of them
    #: makes any change of pose look like an event: a sprinter was LOST from his sixth frame on);
    #: 0: from the first; only with ``fail_drop``. 6: dev-set runs LT19-LT21 (docs/dev/report.md)
    level_checks: int = 6
    #: a re-detection crop's candidate replaces the tracker's own only when its similarity is at
    #: least ``threshold``, the tracker's own is below it, and the crop's beats it by
    #: ``jump_margin`` (a jump onto a look-alike is the costliest mistake of re-detection)
    threshold: float = 0.75
    jump_margin: float = 0.05
    #: where a jump puts the box: ``"crop"`` reads the crop's candidate at the crop's own
    #: scale (the candidate's place and size, exactly); ``"estimate"`` (what ships, and what
    #: every long-term setting was decided with) at the scale and size of the tracker's current
    #: estimate, which drifts while LOST, so the box lands off the candidate, further from the
    #: crop's centre when the estimate grew, and the tracker's own searches must find the
    #: target from there. Run LT43 (docs/dev/report.md): ``"crop"`` finds more returns on
    #: robot-size frames (dev-lt-wide 4 -> 5 of 7) but confirms more look-alikes (dev-lt
    #: phantom frames 107 -> 153, a herd, passengers, parked cars)
    jump_scale: Literal["estimate", "crop"] = "estimate"
    #: with ``found_rise`` on, the jump's threshold is at most ``jump_rise`` above the lost
    #: frames' baseline (a crop's candidate that stands out from what the tracker sees while
    #: the target is gone; it still has to pass the way out of LOST there); negative: off
    #: (0.1 and 0.15 jumped onto look-alikes on dev-lt: run LT4)
    jump_rise: float = -1.0
    #: box scales the template is cut at for a check (the best counts): a re-found target's box
    #: is often off in size, and a misfitting cut looks less like the memory (each scale costs
    #: one template run; ``feature: template`` only)
    verify_scales: tuple[float, ...] = (1.0,)
    #: confident appearances kept besides the first frame's
    memory_size: int = 4
    #: frames between two admissions to the memory
    memory_interval: int = 15
    #: presence at or above which a TRACKING, unambiguous frame may be admitted
    admit_presence: float = 0.9
    #: similarity to the memory a frame needs to be admitted (no drift into the memory)
    admit_similarity: float = 0.7
    #: while tracking, verify every N-th frame too, and every frame after a failed check until one
    #: passes (0: only while lost or ambiguous)
    check_every: int = 3
    #: a tracked frame's periodic check (and a memory admission) is started when the frame is
    #: done and decided at the start of the next frame's ``assess``: its template run then goes
    #: beside the next frame's own search, on a second core where there is one (``Tracker``'s
    #: background worker), instead of adding to the step. Only a check that cannot change its
    #: own frame's state is deferred -- one after a passed check, with ``fail_checks`` >= 2: it
    #: can only make the next frame a suspect, whose check then runs at once -- so the states,
    #: boxes and memory are exactly those of checking at once. Never deferred: a check while
    #: LOST, AMBIGUOUS or suspect, with ``fail_checks`` 1, more than one ``verify_scales`` or
    #: ``feature: pooled`` (it needs its own step's search).
    deferred_checks: bool = True
    #: what is compared: ``template`` (the template the network computes at the box: one
    #: template run per check, comparable with the first frame's) or ``pooled`` (the kernel the
    #: step already pooled from the search features at the box: free, compared with kernels
    #: pooled on confidently tracked frames only)
    feature: Literal["template", "pooled"] = "template"
    #: search the whole image while lost
    redetect: bool = True
    #: re-detection crops sweeping the image per frame (each costs one search)
    tiles_per_frame: int = 1
    #: and one more crop every frame at the last confident position (a target that glanced out
    #: of view comes back where it left; the tracker's own search may have wandered off)
    anchor_tile: bool = True
    #: overlap of neighbouring crops, as a fraction of a crop's side
    tile_overlap: float = 0.25
    #: network input side of a crop (0: the tracker's ``instance_size``)
    tile_instance_size: int = 0
    #: lost frames before the global search starts (the local search alone may find it first)
    redetect_after: int = 1
    #: at most this many re-detection crops a lost frame: a round (the anchor crop and
    #: ``tiles_per_frame`` tiles) is then spread over frames, so a lost frame costs at most
    #: this many searches more than a tracked one (0: the whole round every frame)
    crops_per_frame: int = 0

    def __post_init__(self) -> None:
        for key in ("threshold", "admit_presence", "admit_similarity"):
            value = float(getattr(self, key))
            check(-1.0 <= value <= 1.0, key, f"must be in [-1, 1], got {value}")
        for key in ("found_probability", "lost_probability"):
            value = float(getattr(self, key))
            check(0.0 <= value <= 1.0, key, f"must be in [0, 1], got {value}")
        check(
            self.lost_probability <= self.found_probability,
            "lost_probability",
            f"must be <= found_probability ({self.found_probability}) for hysteresis",
        )
        check(self.confirm_frames >= 1, "confirm_frames", "must be >= 1")
        check(self.found_rise <= 1.0, "found_rise", "must be <= 1 (negative: off)")
        check(self.found_back <= 1.0, "found_back", "must be <= 1 (negative: off)")
        check(0.0 <= self.rise_presence <= 1.0, "rise_presence", "must be in [0, 1]")
        check(self.rise_after >= 1, "rise_after", "must be >= 1")
        check(0.0 <= self.jump_margin <= 1.0, "jump_margin", "must be in [0, 1]")
        check(self.jump_scale in ("estimate", "crop"), "jump_scale", "must be estimate or crop")
        check(
            len(self.verify_scales) > 0 and all(0.25 <= v <= 4.0 for v in self.verify_scales),
            "verify_scales",
            "must be one or more factors in [0.25, 4]",
        )
        check(self.fail_checks >= 1, "fail_checks", "must be >= 1")
        check(self.level_checks >= 0, "level_checks", "must be >= 0")
        check(self.memory_size >= 0, "memory_size", "must be >= 0")
        check(self.memory_interval >= 1, "memory_interval", "must be >= 1")
        check(self.check_every >= 0, "check_every", "must be >= 0")
        check(self.tiles_per_frame >= 0, "tiles_per_frame", "must be >= 0")
        check(0.0 <= self.tile_overlap < 0.9, "tile_overlap", "must be in [0, 0.9)")
        check(self.tile_instance_size >= 0, "tile_instance_size", "must be >= 0")
        check(self.redetect_after >= 0, "redetect_after", "must be >= 0")
        check(self.crops_per_frame >= 0, "crops_per_frame", "must be >= 0 (0: no bound)")


def _running_average(average: float | None, value: float) -> float:
    """The running similarity levels ``fail_drop`` and ``found_rise`` compare with: an
    exponential average over the frames that count (the first one starts it)."""
    return value if average is None else 0.8 * average + 0.2 * value


def tile_centres(
    image_shape: tuple[int, ...], side: float, overlap: float, near: np.ndarray
) -> np.ndarray:
    """Centres (``N x 2``, ``x, y``) of square crops of ``side`` image pixels covering the image
    with ``overlap``, nearest to ``near`` first (a crop larger than the image is one crop at its
    centre; ties keep row-major order). Vectorised: a far target on a wide frame has thousands
    of tiles (a 10-px box on 1920x1080: 2,584), planned on every lost frame."""
    height, width = int(image_shape[0]), int(image_shape[1])
    step = max(side * (1.0 - overlap), 1.0)

    def axis(length: int) -> np.ndarray:
        if side >= length:
            return np.array([length / 2.0])
        count = int(math.ceil((length - side) / step)) + 1
        return np.linspace(side / 2.0, length - side / 2.0, count)

    xs, ys = np.meshgrid(axis(width), axis(height))  # rows: y; row-major: x fastest
    centres = np.stack([xs.ravel(), ys.ravel()], axis=1)
    near = np.asarray(near, np.float64)
    distance = np.hypot(centres[:, 0] - near[0], centres[:, 1] - near[1])
    return centres[np.argsort(distance, kind="stable")]


@dataclass(frozen=True)
class _Deferred:
    """A tracked frame's check and/or memory admission, decided by the next step."""

    frame_index: int
    presence: float
    vector: Callable[[], np.ndarray]
    check: bool
    admit: bool


class LongTermPolicy(Policy[LongTermConfig]):
    """Verification against an appearance memory and re-detection while lost (module doc)."""

    name = "longterm"
    config_type = LongTermConfig
    rebuild_keys = ("tile_instance_size",)

    def __init__(self, config: LongTermConfig) -> None:
        super().__init__(config)
        self._memory: list[np.ndarray] = []
        self._last_admit = 0
        self._confirm = 0
        self._confirm_at: np.ndarray | None = None
        self._cursor = 0
        self._round: list[Literal["anchor", "tile"]] = []
        #: the sweep's tiles and what they were planned for (image shape, crop side, overlap,
        #: last confident centre): planned once while those stay the same
        self._tiles: tuple[tuple[Any, ...], np.ndarray] | None = None
        self._lost_frames = 0
        self._suspect = False
        self._fails = 0
        self._sim_average: float | None = None
        self._level_count = 0
        self._lost_baseline: float | None = None
        self._baseline_frames = 0
        self._similarity: dict[tuple[int, int, tuple[float, ...]], float] = {}
        self._features: dict[tuple[int, int, tuple[float, ...]], np.ndarray] = {}
        self._defer = False
        self._deferred: _Deferred | None = None

    # ------------------------------------------------------------------ state
    def reset(self, target: Target | None) -> None:
        self._memory = []
        self._suspect = False
        self._fails = 0
        self._sim_average, self._level_count = None, 0
        self._lost_baseline, self._baseline_frames = None, 0
        if target is not None and self.config.feature == "template":
            vec = np.concatenate(
                [to_numpy(k).astype(np.float64).ravel() for k in target.first_kernels.cls]
            )
            self._memory.append(vec / max(float(np.sqrt((vec * vec).sum())), 1e-12))
        self._last_admit = 0 if self.config.feature == "template" else -(1 << 30)
        self._confirm = 0
        self._confirm_at = None
        self._cursor = 0
        self._round = []
        self._lost_frames = 0
        self._defer, self._deferred = False, None
        self._similarity, self._features = {}, {}  # keyed by frame index, which restarts

    @property
    def memory_entries(self) -> int:
        """Appearances in the memory (the first frame's included)."""
        return len(self._memory)

    @property
    def _deferring(self) -> bool:
        """Whether a plain periodic check may be deferred (see ``deferred_checks``)."""
        cfg = self.config
        return (
            cfg.deferred_checks
            and cfg.feature == "template"
            and tuple(cfg.verify_scales) == (1.0,)
            and cfg.fail_checks >= 2
        )

    def search_sizes(self, base: int) -> list[int]:
        return [self.config.tile_instance_size or base] if self.config.redetect else []

    def feature(self, step: Step, box: np.ndarray, search: Search | None = None) -> np.ndarray:
        """The unit-length appearance of ``box`` (``cx, cy, w, h``) this step (see
        ``LongTermConfig.feature``; ``search``: the one to pool from, default the chosen;
        computed once per box and step: a check and an admission at one box share it)."""
        key = self._key(step, box, search)
        if key not in self._features:
            if len(self._features) > 64:
                self._features.clear()
            if self.config.feature == "template":
                vec = step.template_vector(box)
            else:
                pooled = step.pool(search, box)
                vec = np.concatenate([to_numpy(k).astype(np.float64).ravel() for k in pooled])
                vec = vec / max(float(np.sqrt((vec * vec).sum())), 1e-12)
            self._features[key] = vec
        return self._features[key]

    @staticmethod
    def _key(
        step: Step, box: np.ndarray, search: Search | None
    ) -> tuple[int, int, tuple[float, ...]]:
        which = id(search if search is not None else step.search)
        return (step.frame_index, which, tuple(float(v) for v in box))

    def similarity(self, step: Step, box: np.ndarray, search: Search | None = None) -> float:
        """Cosine similarity of the appearance at ``box`` with the closest memory entry
        (computed once per box and step)."""
        key = self._key(step, box, search)
        if key not in self._similarity:
            if len(self._similarity) > 64:
                self._similarity.clear()
            scales = self.config.verify_scales if self.config.feature == "template" else (1.0,)
            b = np.asarray(box, np.float64)
            self._similarity[key] = max(
                self._closest(
                    self.feature(step, np.array([b[0], b[1], b[2] * f, b[3] * f]), search)
                )
                for f in scales
            )
        return self._similarity[key]

    def _closest(self, vec: np.ndarray) -> float:
        # elementwise products, not np.dot: NumPy's BLAS would split even this small product
        # over every core and wait for a descheduled worker under load (runtime/host_pool.py)
        return max(float((vec * m).sum()) for m in self._memory)

    # ------------------------------------------------------------------ phases
    def _crop_plan(self, step: Step) -> tuple[int, np.ndarray, np.ndarray] | None:
        """This lost frame's re-detection: the crops' network input size, the last confident
        box (``cx, cy, w, h``) they are cut at and the sweep's tile centres (``None``: no
        re-detection this frame)."""
        cfg = self.config
        if (
            step.previous_state != TrackState.LOST
            or not cfg.redetect
            or (cfg.tiles_per_frame == 0 and not cfg.anchor_tile)
            or self._lost_frames < cfg.redetect_after
            or not self._memory
        ):
            return None
        size = cfg.tile_instance_size or step.instance_size
        confident = step.target.confident
        # crops at the target's last confident scale, not at the drifting estimate's
        s_z = template_extent(confident[2:], 0.5)
        side = s_z * size / step.exemplar_size
        key = (step.image.shape, side, cfg.tile_overlap, float(confident[0]), float(confident[1]))
        if self._tiles is None or self._tiles[0] != key:  # once a frame (plan, after_search)
            self._tiles = key, tile_centres(step.image.shape, side, cfg.tile_overlap, confident[:2])
        return size, confident, self._tiles[1]

    def plan(self, step: Step) -> None:
        # this frame's crops are known before the tracker's own search: start them now (on a
        # second core where there is one); ``after_search`` takes them or drops them
        crops = self._crop_plan(step)
        if crops is not None:
            size, confident, centres = crops
            for centre in self._next_crops(confident, centres, advance=False):
                step.prefetch(centre, size, 0.0, source=self.name, target_size=confident[2:])

    def after_search(self, step: Step) -> None:
        cfg = self.config
        crops = self._crop_plan(step)
        if crops is None:
            return
        size, confident, centres = crops
        own_sim = self.similarity(step, step.search.image_box(), step.search)
        threshold = cfg.threshold
        baseline = self._rise_baseline()
        if baseline is not None and cfg.jump_rise >= 0.0:
            threshold = min(threshold, baseline + cfg.jump_rise)
        wanted = self._next_crops(confident, centres)
        if own_sim >= threshold:
            # no crop could replace this candidate (a jump needs the tracker's own below the
            # threshold): skip their searches, keep the sweep's place as if they had run
            step.record(self.name, tiles=0, best_similarity=own_sim, jumped=False)
            return
        first = len(step.searches)
        for centre in wanted:
            step.run_search(centre, size, 0.0, source=self.name, target_size=confident[2:])
        # the best verified candidate among the tracker's own search and the crops
        candidates = [step.chosen, *range(first, len(step.searches))]
        sims = [
            self.similarity(step, step.searches[i].image_box(), step.searches[i])
            for i in candidates
        ]
        best = int(np.argmax(sims))
        own = sims[0]
        if (
            candidates[best] != step.chosen
            and sims[best] >= threshold > own
            and sims[best] >= own + cfg.jump_margin
        ):
            step.chosen = candidates[best]
            self.land(step, step.searches[step.chosen])
        step.record(
            self.name,
            tiles=len(step.searches) - first,
            tile_cursor=self._cursor % len(centres),
            tile_count=len(centres),
            best_similarity=sims[best],
            # each crop's, in the order of ``step.searches`` after the tracker's own (analysis:
            # ``scripts/lost_frames.py --crops``)
            crop_similarities=sims[1:],
            jumped=step.searches[step.chosen].source == self.name,
        )

    def land(self, step: Step, search: Search) -> None:
        """Say at which scale and size the tracker reads the crop ``search`` it jumps to
        (``jump_scale``): left at the crop's own, or the estimate's."""
        if self.config.jump_scale == "estimate":
            search.read_scale = float(step.scale_z)
            search.size_ref = np.array(step.target.size, np.float64)

    def _next_crops(
        self, confident: np.ndarray, centres: np.ndarray, advance: bool = True
    ) -> list[np.ndarray]:
        """This frame's re-detection crop centres: the rest of the current round (the crop at
        the last confident place, then the sweep's next tiles), at most ``crops_per_frame``
        (``advance``: move the round and the sweep on past them)."""
        cfg = self.config
        anchor: list[Literal["anchor", "tile"]] = ["anchor"] if cfg.anchor_tile else []
        rest = self._round or anchor + ["tile"] * cfg.tiles_per_frame
        take = cfg.crops_per_frame or len(rest)
        cursor = self._cursor
        wanted = []
        for kind in rest[:take]:
            if kind == "anchor":
                wanted.append(confident[:2].copy())
            else:
                wanted.append(centres[cursor % len(centres)].copy())
                cursor += 1
        if advance:
            self._round, self._cursor = rest[take:], cursor
        return wanted

    def _rise_baseline(self) -> float | None:
        """The lost frames' similarity baseline once ``found_rise`` may use it, else None."""
        if self.config.found_rise < 0.0 or self._baseline_frames < self.config.rise_after:
            return None
        return self._lost_baseline

    def probability(self, presence: float, similarity: float) -> float:
        """The verification probability of a candidate (see ``LongTermConfig``)."""
        p = min(max(float(presence), 1e-6), 1.0 - 1e-6)
        w_p, w_s = self.config.verify_weights
        z = w_p * math.log(p / (1.0 - p)) + w_s * similarity + self.config.verify_bias
        return 1.0 / (1.0 + math.exp(-max(min(z, 50.0), -50.0)))

    def assess(self, step: Step) -> None:
        """Runs after the lost state's machine and overrules it (see the module docstring)."""
        cfg = self.config
        self._take_deferred(step)
        lost = step.previous_state == TrackState.LOST
        periodic = cfg.check_every > 0 and (
            self._suspect or step.frame_index % cfg.check_every == 0
        )
        if not (lost or step.ambiguous or periodic) or step.box is None or not self._memory:
            return
        if self._deferring and not (lost or step.ambiguous or self._suspect):
            self._defer = True  # ``commit`` starts it once this step's state is known
            return
        sim = self.similarity(step, step.box)
        prob = self.probability(step.presence, sim)
        passed = prob >= cfg.found_probability
        rose = False
        if lost:
            # the relative ways out: risen above the lost frames' baseline (``found_rise``), or
            # back near the tracked level with no look-alike competing (``found_back``)
            baseline = self._rise_baseline()
            risen = baseline is not None and sim >= baseline + cfg.found_rise
            back = (
                cfg.found_back >= 0.0
                and not step.ambiguous
                and self._sim_average is not None
                and sim >= self._sim_average - cfg.found_back
            )
            rose = not passed and step.presence >= cfg.rise_presence and (risen or back)
            if not (passed or rose):  # what the tracker sees while the target is gone
                self._lost_baseline = _running_average(self._lost_baseline, sim)
                self._baseline_frames += 1
            passed = passed or rose
            size = max(float(np.sqrt(step.box[2] * step.box[3])), 1.0)
            near = (
                self._confirm_at is not None
                and float(np.hypot(*(step.box[:2] - self._confirm_at[:2]))) <= size
            )
            self._confirm = (self._confirm + 1 if near else 1) if passed else 0
            self._confirm_at = step.box.copy() if passed else None
            verified = self._confirm >= cfg.confirm_frames
            if verified and step.state == TrackState.LOST:  # proven back
                step.state, step.follow, step.confident = TrackState.TRACKING, True, True
            elif not verified:  # not yet proven
                # nor a place to fall back on: the lost state calls any frame of high presence
                # confident, and a drifting candidate would move the crops (and their scale)
                # onto the phantom
                step.state, step.confident = TrackState.LOST, False
        else:
            verified = self._tracked_check(step, sim, prob, step.ambiguous)
        step.verified = verified
        step.record(
            self.name,
            similarity=sim,
            probability=prob,
            **(
                {"rose": rose, "lost_baseline": self._lost_baseline, "level": self._sim_average}
                if lost
                else {}
            ),
            verified=verified,
            confirm=self._confirm,
            state=step.state.name,
        )

    def _tracked_check(self, step: Step, sim: float, prob: float, ambiguous: bool) -> bool:
        """A check of a frame that followed a tracked one (``sim`` and ``prob`` of its box):
        counts a failure, moves the running level, and makes ``step`` LOST when the candidate
        must not be reported on; returns the verdict."""
        cfg = self.config
        passed = prob >= cfg.found_probability
        failed = prob < cfg.lost_probability
        average = self._sim_average
        # with fail_drop, a check fails (and an ambiguous one is refused) only on an event:
        # the similarity fell below its running average, not merely a low absolute value
        young = self._level_count < cfg.level_checks
        dropped = cfg.fail_drop < 0.0 or (
            not young and (average is None or sim < average - cfg.fail_drop)
        )
        failed = failed and dropped
        refused = ambiguous and not passed and dropped
        if not failed and not ambiguous:  # a look-alike must not pull it down
            self._sim_average = _running_average(average, sim)
            self._level_count += 1
        self._fails = self._fails + 1 if failed else 0
        self._suspect = failed
        if refused or self._fails >= cfg.fail_checks:
            # never go on reporting a candidate that fails the check
            step.state, step.confident = TrackState.LOST, False
            return False
        return not failed

    def _take_deferred(self, step: Step) -> None:
        """Decide the check (and admit the appearance) the previous frame deferred, as if it had
        run there (``deferred_checks``): a failure makes this step a suspect, checked at once."""
        deferred, self._deferred = self._deferred, None
        if deferred is None or deferred.frame_index != step.frame_index - 1:
            return  # none, or one of a step before the last (the policy was off in between)
        vec = deferred.vector()
        values: dict[str, float | bool | int] = {"deferred_frame": deferred.frame_index}
        if deferred.check:
            sim = self._closest(vec)
            prob = self.probability(deferred.presence, sim)
            verified = self._tracked_check(step, sim, prob, ambiguous=False)
            values.update(deferred_similarity=sim, deferred_verified=verified)
        if deferred.admit:
            values.update(self._admit(vec))
        step.record(self.name, **values)

    def _admit(self, vec: np.ndarray) -> dict[str, float | bool]:
        """Add ``vec`` to the memory unless it strays from it (drift is never admitted)."""
        cfg = self.config
        sim = self._closest(vec) if self._memory else 1.0
        if sim < cfg.admit_similarity:
            return {"admitted": False, "admit_similarity": sim}
        self._memory.append(vec)
        first = 1 if cfg.feature == "template" else 0  # the first frame's template stays
        if len(self._memory) > cfg.memory_size + first:
            del self._memory[first]  # the oldest confident appearance
        return {"admitted": True, "admit_similarity": sim}

    def commit(self, step: Step) -> None:
        cfg = self.config
        check, self._defer = self._defer, False
        self._lost_frames = self._lost_frames + 1 if step.state == TrackState.LOST else 0
        if step.state != TrackState.LOST:
            self._confirm, self._confirm_at = 0, None
            self._round = []
            self._lost_baseline, self._baseline_frames = None, 0
        else:
            self._fails, self._suspect = 0, False
        tracked = (
            step.state == TrackState.TRACKING
            and not step.ambiguous
            and step.follow
            and step.box is not None
        )
        admit = (
            tracked
            and step.presence >= cfg.admit_presence
            and cfg.memory_size > 0
            and step.frame_index - self._last_admit >= cfg.memory_interval
        )
        if admit:
            self._last_admit = step.frame_index
        check = check and tracked  # a step LOST by now has nothing left to verify
        if not (admit or check):
            return
        assert step.box is not None
        if self._deferring and self._key(step, step.box, None) not in self._features:
            # one template run for both, beside the next frame's search (see ``_take_deferred``)
            self._deferred = _Deferred(
                step.frame_index,
                step.presence,
                step.template_vector_later(step.box),
                check=check,
                admit=admit,
            )
        else:
            step.record(self.name, **self._admit(self.feature(step, step.box)))
