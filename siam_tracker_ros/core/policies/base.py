"""The tracking step as ordered policies: what a policy sees of one step and may change.

A step runs in five phases; in each, the enabled policies run in the configured order
(``tracker.mechanisms.order``, default: the registry's order):

1. ``plan``: the search region before the first search (:attr:`Step.instance_size`,
   :attr:`Step.window_influence`) -- adaptive search, the lost state's widened re-detection; and
   searches a policy already knows it will ask for (:meth:`Step.prefetch`: they may run on a
   second core beside the tracker's own search) -- re-detection.
2. ``after_search``: more searches, or a choice among them (:meth:`Step.run_search`,
   :attr:`Step.chosen`) -- one more search, re-detection.
3. ``select``: the candidate of the chosen search (:attr:`Step.candidate`) and whether another
   one competes (:attr:`Step.ambiguous`) -- distractors.
   The tracker then turns the candidate into the box (size smoothing, clipping): :attr:`Step.box`.
4. ``assess``: presence and state (:attr:`Step.presence`, :attr:`Step.state`,
   :attr:`Step.follow`, :attr:`Step.confident`) -- the lost state, verification.
   The tracker then moves its state to the box (``follow``) or back to the last confident box.
5. ``commit``: what the step leaves behind for the next one (the template) -- online update.

A policy owns its per-target state (reset on every ``init``) and its config section (a frozen
dataclass with an ``enabled`` flag); it reaches the tracker only through :class:`Step` (and the
:class:`Target` it carries), never through the tracker's attributes. What it did goes to
:meth:`Step.record`, which becomes ``StepInfo.policies``.

Adding a mechanism: one module with a :class:`Policy` subclass and its config dataclass, and one
line in :mod:`siam_tracker_ros.core.policies` (the registry).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, TypeVar

import numpy as np

from siam_tracker_ros.core.decoding import Candidate, Decoded
from siam_tracker_ros.core.result import SearchInfo, TrackState
from siam_tracker_ros.models.contract import Features, Kernels

__all__ = ["Policy", "Search", "Step", "Target"]

C = TypeVar("C")


@dataclass
class Search:
    """One search crop and what it produced (host side, plus the features for pooling).

    ``candidate``: the best (penalised) candidate, box relative to the crop centre in crop
    pixels. ``decoded``: every candidate of the crop. ``pooled``: the classification kernel last
    pooled from ``features`` and the box it was pooled at (the appearance cue and the online
    update pool at the same box in the same frame; the second costs nothing).
    """

    center: np.ndarray
    crop_size: int
    instance_size: int
    scale_z: float
    candidate: Candidate
    features: Features
    decoded: Decoded | None = None
    pooled: tuple[tuple[float, float, float, float], list[Any]] | None = None
    #: who ran it ("track" for the tracker's own first search, else the policy's name)
    source: str = "track"
    #: ``w, h`` (image pixels) its candidates' scale penalty compared with, and the size a
    #: chosen candidate's is blended with: the tracker's estimate for its own searches, the
    #: last confident size for the long-term crops (None: the tracker's current estimate)
    size_ref: np.ndarray | None = None
    #: the image-to-crop scale the tracker reads a chosen candidate of this search at (None:
    #: :attr:`scale_z`, the crop's own); a policy may set another (the long-term policy's
    #: ``jump_scale``)
    read_scale: float | None = None

    def state_scale(self) -> float:
        """The scale a chosen candidate's box is read into image pixels at (see
        :attr:`read_scale`)."""
        return self.scale_z if self.read_scale is None else self.read_scale

    def info(self) -> SearchInfo:
        center = (float(self.center[0]), float(self.center[1]))
        return SearchInfo(center, self.crop_size, self.instance_size, self.candidate)

    def image_box(self, candidate: Candidate | None = None) -> np.ndarray:
        """``cx, cy, w, h`` in image pixels of ``candidate`` (default: the search's best)."""
        cand = self.candidate if candidate is None else candidate
        box = cand.box / self.scale_z  # the tracker's own arithmetic (float32 / float)
        return np.array(
            [box[0] + self.center[0], box[1] + self.center[1], box[2], box[3]], np.float64
        )


@dataclass
class Target:
    """The tracker's per-target state that policies may read (the tracker moves it).

    center / size: the current estimate (image pixels, ``cx, cy`` and ``w, h``). last_motion:
    the centre's displacement in the last followed frame. confident: ``cx, cy, w, h`` of the last
    confident state (what a lost tracker falls back to). first_kernels: the template's kernels
    from ``init``; kernels: the ones the next search uses (the online update replaces them).
    """

    center: np.ndarray
    size: np.ndarray
    last_motion: np.ndarray
    confident: np.ndarray
    first_kernels: Kernels
    kernels: Kernels
    image_shape: tuple[int, ...] = ()


@dataclass
class Step:
    """One tracking step as the policies see it (see the module docstring for the phases).

    Fields a policy may change are documented as such; the ``run_search``, ``appearance`` and
    ``pool`` services run the network and the pooling through the tracker's runtime.
    """

    image: np.ndarray
    frame_index: int
    target: Target
    #: template extent in image pixels and the image-to-crop scale of this frame
    s_z: float
    scale_z: float
    #: plan: network input size and cosine-window weight of the first search
    instance_size: int
    window_influence: float
    #: the base score map's side (what presence cues are calibrated on)
    base_map: int
    #: template size and score-map stride of the network (search sizes are ``exemplar + k *
    #: stride``)
    exemplar_size: int
    stride: int
    searches: list[Search] = field(default_factory=list)
    #: after_search: index in :attr:`searches` of the search whose candidate is used
    chosen: int = 0
    #: select: the candidate used (default: the chosen search's best)
    candidate: Candidate | None = None
    #: select: another candidate competes with the chosen one (a look-alike)
    ambiguous: bool = False
    #: the box (``cx, cy, w, h``, image pixels) after size smoothing and clipping
    box: np.ndarray | None = None
    #: assess: presence signal, state, whether the tracker moves to :attr:`box`, whether the box
    #: is one to fall back on later
    presence: float = 1.0
    state: TrackState = TrackState.TRACKING
    follow: bool = True
    confident: bool = True
    #: assess: a verifier's verdict on the candidate (``None``: no verifier ran this step)
    verified: bool | None = None
    #: the state the tracker reported after the previous step
    previous_state: TrackState = TrackState.TRACKING
    #: commit: whether the template was updated
    template_updated: bool = False
    policies: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: services bound by the tracker
    searcher: Callable[[np.ndarray, int, float, str, np.ndarray | None], Search] | None = None
    #: starts a search now and returns what waits for its result (``None``: no prefetching)
    prefetcher: (
        Callable[[np.ndarray, int, float, str, np.ndarray | None], Callable[[], Search]] | None
    ) = None
    appearance_fn: Callable[[Search, np.ndarray], float] | None = None
    pool_fn: Callable[[Search, np.ndarray], list[Any]] | None = None
    template_fn: Callable[[np.ndarray], np.ndarray] | None = None
    template_later_fn: Callable[[np.ndarray], Callable[[], np.ndarray]] | None = None
    _appearance: dict[tuple[int, tuple[float, ...]], float] = field(default_factory=dict)
    _prefetched: dict[tuple[Any, ...], Callable[[], Search]] = field(default_factory=dict)

    @property
    def search(self) -> Search:
        """The chosen search."""
        return self.searches[self.chosen]

    def _search_args(
        self,
        center: np.ndarray,
        instance_size: int | None,
        window_influence: float | None,
        source: str,
        target_size: np.ndarray | None,
    ) -> tuple[np.ndarray, int, float, str, np.ndarray | None]:
        return (
            np.asarray(center, np.float64),
            self.instance_size if instance_size is None else int(instance_size),
            self.window_influence if window_influence is None else float(window_influence),
            source,
            None if target_size is None else np.asarray(target_size, np.float64),
        )

    @staticmethod
    def _key(args: tuple[np.ndarray, int, float, str, np.ndarray | None]) -> tuple[Any, ...]:
        center, size, influence, source, target_size = args
        sized = None if target_size is None else tuple(float(v) for v in target_size)
        return (tuple(float(v) for v in center), size, influence, source, sized)

    def prefetch(
        self,
        center: np.ndarray,
        instance_size: int | None = None,
        window_influence: float | None = None,
        source: str = "policy",
        target_size: np.ndarray | None = None,
    ) -> None:
        """Start now a search that :meth:`run_search` will probably ask for later in this step
        (same arguments): on a CPU with a second core the tracker runs it there while its own
        search runs (a lost frame's re-detection crop costs little more wall time than the
        tracker's own search). The result is the same as running it later; one never asked
        for is dropped at the end of ``after_search``. Without a prefetcher (``probe``, a test's
        stand-in) this does nothing."""
        if self.prefetcher is None:
            return
        args = self._search_args(center, instance_size, window_influence, source, target_size)
        key = self._key(args)
        if key not in self._prefetched:
            self._prefetched[key] = self.prefetcher(*args)

    def take_prefetched(self) -> list[Callable[[], Search]]:
        """The prefetched searches nobody asked for (the tracker waits for them to finish at
        the end of ``after_search``: no work of this step runs into the next one)."""
        left, self._prefetched = list(self._prefetched.values()), {}
        return left

    def run_search(
        self,
        center: np.ndarray,
        instance_size: int | None = None,
        window_influence: float | None = None,
        source: str = "policy",
        target_size: np.ndarray | None = None,
    ) -> Search:
        """Run the network on a search crop centred at ``center`` (image pixels) and append it to
        :attr:`searches` (not chosen). The crop is cut at this frame's scale, or at the scale of
        a target of ``target_size`` (``w, h``; e.g. the last confident size while lost), which is
        then also what the size penalty compares candidates with. A search :meth:`prefetch`
        started with the same arguments is taken instead of running it again."""
        args = self._search_args(center, instance_size, window_influence, source, target_size)
        waiting = self._prefetched.pop(self._key(args), None)
        if waiting is not None:
            search = waiting()
        else:
            assert self.searcher is not None
            search = self.searcher(*args)
        self.searches.append(search)
        return search

    def appearance(self, search: Search | None = None, box: np.ndarray | None = None) -> float:
        """Cosine similarity of the classification kernel pooled at ``box`` (default: the step's
        box) in ``search`` (default: the chosen one) with the first frame's (computed once)."""
        search = self.search if search is None else search
        box = self.box if box is None else box
        assert box is not None and self.appearance_fn is not None
        key = (id(search), tuple(float(v) for v in box))
        if key not in self._appearance:
            self._appearance[key] = self.appearance_fn(search, box)
        return self._appearance[key]

    def pool(self, search: Search | None = None, box: np.ndarray | None = None) -> list[Any]:
        """The classification kernel pooled at ``box`` (default: the step's box) in ``search``."""
        search = self.search if search is None else search
        box = self.box if box is None else box
        assert box is not None and self.pool_fn is not None
        return self.pool_fn(search, box)

    def template_vector(self, box: np.ndarray) -> np.ndarray:
        """The unit-length classification kernel of a template cut at ``box`` (``cx, cy, w, h``)
        of this frame -- what ``init`` would compute there (one template run of the network):
        the verification feature, comparable with the first frame's."""
        assert self.template_fn is not None
        return self.template_fn(np.asarray(box, np.float64))

    def template_vector_later(self, box: np.ndarray) -> Callable[[], np.ndarray]:
        """:meth:`template_vector` at ``box`` of this frame, for a later step: returns what waits
        for it. On a CPU with a second core the tracker starts the template run now, on its
        background worker, so it runs beside the next frame's own search; otherwise it runs when
        asked for. The vector is the same either way (the patch is cut now, from this frame)."""
        assert self.template_later_fn is not None
        return self.template_later_fn(np.array(box, np.float64))

    def record(self, policy: str, **values: Any) -> None:
        """What ``policy`` did this step (``StepInfo.policies[policy]``)."""
        self.policies.setdefault(policy, {}).update(values)


class Policy(Generic[C]):
    """A tracking mechanism (see the module docstring). Subclasses set ``name`` and
    ``config_type`` and override the hooks they need; every hook is a no-op here."""

    name: ClassVar[str]
    config_type: ClassVar[type]
    #: config keys (relative to the policy's section) that size the network's inputs: changing
    #: them needs a new tracker (``Tracker.update_settings`` refuses them)
    rebuild_keys: ClassVar[tuple[str, ...]] = ()

    def __init__(self, config: C) -> None:
        self.config = config

    def configure(self, config: C) -> None:
        """New settings from the next step on; the per-target state is kept."""
        self.config = config

    @property
    def enabled(self) -> bool:
        return bool(getattr(self.config, "enabled", True))

    def reset(self, target: Target | None) -> None:
        """A new target (``None``: no target at all, ``Tracker.reset``)."""

    def search_sizes(self, base: int) -> list[int]:
        """Network input sizes this policy may search at (prepared before the first frame)."""
        return []

    def plan(self, step: Step) -> None:
        """Phase 1 (see the module docstring)."""

    def after_search(self, step: Step) -> None:
        """Phase 2."""

    def select(self, step: Step) -> None:
        """Phase 3."""

    def assess(self, step: Step) -> None:
        """Phase 4."""

    def commit(self, step: Step) -> None:
        """Phase 5."""

    def state_view(self, state: TrackState) -> TrackState:
        """The state a caller sees between steps (``Tracker.state``), given the last one."""
        return state
