"""The long-term mechanism (core/policies/longterm.py): tiles, the appearance memory, the
verification's overrules of the state, and re-acquisition on a generated scene where the target
leaves the view and comes back (no ../shared needed).

What must hold: LOST means gone until proven back -- no TRACKING while the target is out of view
(beyond the frames it takes to notice), TRACKING again once it is back -- and without the
mechanism the same scene shows the phantom (so the test can fail)."""

from __future__ import annotations

import dataclasses
import threading
from types import SimpleNamespace

import numpy as np
import pytest

from siam_tracker_ros.core.config import MechanismsConfig, policy_order
from siam_tracker_ros.core.loading import load_tracker
from siam_tracker_ros.core.policies import POLICIES, Search, Step
from siam_tracker_ros.core.policies.longterm import LongTermConfig, LongTermPolicy, tile_centres
from siam_tracker_ros.core.result import TrackState
from siam_tracker_ros.core.tracker import Tracker
from siam_tracker_ros.runtime.onnx_backend import OnnxRuntimeBackend
from siam_tracker_ros.simulation.motions import motion_from_dict, plan
from siam_tracker_ros.simulation.scene import SyntheticScene
from siam_tracker_ros.simulation.virtual_camera import VirtualCamera


def test_tiles_cover_the_image_nearest_first() -> None:
    centres = tile_centres((360, 640, 3), 200.0, 0.25, np.array([600.0, 20.0]))
    xs = sorted({float(c[0]) for c in centres})
    ys = sorted({float(c[1]) for c in centres})
    assert xs[0] == 100.0 and xs[-1] == 540.0 and ys[0] == 100.0 and ys[-1] == 260.0
    gaps = np.diff(xs)
    assert np.all(gaps <= 150.0 + 1e-9)  # side * (1 - overlap): no hole between crops
    assert np.hypot(*(centres[0] - [540.0, 100.0])) < 1e-9  # the crop nearest (600, 20) first
    assert len(tile_centres((100, 120, 3), 400.0, 0.25, np.zeros(2))) == 1  # larger than image


def test_config_is_checked_and_the_policy_runs_after_the_lost_state() -> None:
    with pytest.raises(ValueError, match="lost_probability"):
        LongTermConfig(lost_probability=0.6, found_probability=0.5)
    with pytest.raises(ValueError, match="verify_scales"):
        LongTermConfig(verify_scales=())
    order = policy_order(MechanismsConfig())
    assert order.index("longterm") > order.index("lost_state")  # it overrules the machine
    assert POLICIES["longterm"] is LongTermPolicy


def test_verification_probability_rises_with_presence_and_similarity() -> None:
    pol = LongTermPolicy(LongTermConfig())
    assert pol.probability(0.99, 0.9) > 0.9 > 0.1 > pol.probability(0.1, 0.5)
    assert pol.probability(0.5, 0.8) > pol.probability(0.5, 0.7)
    assert pol.probability(0.9, 0.75) > pol.probability(0.4, 0.75)


def _glance_away_scene(seed: int = 3) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """A 240x180 window over a generated 640x360 scene: follows the target, looks away so it
    leaves the view for 40 frames, comes back (the long-term dev material's glance, in small)."""
    n = 150
    t = np.arange(n)
    path = np.stack([320 + 60 * np.sin(t / 40.0), 180 + 30 * np.sin(t / 27.0)], axis=1)
    scene = SyntheticScene(n, size=(640, 360), target_size=(44, 60), centres=path, seed=seed)
    boxes = scene.boxes.copy()
    camera = VirtualCamera(scene, boxes, size=(240, 180))
    motions = [
        motion_from_dict({"follow": {"frames": 40}}),
        motion_from_dict({"glance": {"out": 6, "hold": 40, "back": 6}}),
    ]
    script = plan(camera, motions, seed=seed)
    frames, gt, absent = [], [], []
    for i in range(n):
        view = camera.render(i, tuple(script.centres[i]), script.occluders[i])
        frames.append(view.image)
        gt.append(view.box)
        absent.append(view.absent)
    return frames, np.array(gt), np.array(absent)


def _run(tracker: Tracker, frames: list[np.ndarray], init: np.ndarray) -> list[TrackState]:
    tracker.init(frames[0], init)
    return [tracker.track(f).state for f in frames[1:]]


@pytest.fixture(scope="module")
def scene() -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    return _glance_away_scene()


def _tracker(longterm: bool) -> Tracker:
    base = load_tracker()
    mech = base.config.mechanisms
    lt = dataclasses.replace(mech.longterm, enabled=longterm)
    cfg = dataclasses.replace(base.config, mechanisms=dataclasses.replace(mech, longterm=lt))
    return Tracker(config=cfg, runtime=base.runtime)


def test_lost_while_out_of_view_and_tracking_once_back(scene: tuple) -> None:
    frames, gt, absent = scene
    assert absent[0] == 0 and 30 <= absent.sum() <= 60  # the scene is what the test needs
    tracker = _tracker(longterm=True)
    states = np.array(_run(tracker, frames, gt[0]))
    gone, seen = absent[1:], ~absent[1:]
    reported = states != TrackState.LOST
    assert (reported & gone).sum() <= 8  # noticing takes a few frames, then LOST throughout
    back = int(np.flatnonzero(np.diff(absent.astype(int)) == -1)[-1])  # last frame absent
    assert reported[back : back + 30].any()  # re-acquired within 30 frames of the return
    assert reported[seen].mean() > 0.7
    policy = tracker.policy("longterm")
    assert isinstance(policy, LongTermPolicy) and policy.memory_entries >= 1


def test_without_the_mechanism_the_same_scene_shows_a_phantom(scene: tuple) -> None:
    """The control: the plain bundled tracker reports the target while it is out of view (so
    the test above is not passing on an easy scene)."""
    frames, gt, absent = scene
    states = np.array(_run(_tracker(longterm=False), frames, gt[0]))
    assert ((states != TrackState.LOST) & absent[1:]).sum() > 15


def test_the_step_records_what_the_policy_did(scene: tuple) -> None:
    frames, gt, absent = scene
    tracker = _tracker(longterm=True)
    tracker.init(frames[0], gt[0])
    seen: dict = {}
    crop_frames = 0
    for f in frames[1:]:
        tracker.track(f)
        step = tracker.last_step
        assert step is not None
        record = step.policies.get("longterm", {})
        seen.update(record)
        if record.get("tiles"):
            # each crop's similarity, one per crop search; the best is over them and the own
            crop_frames += 1
            crops = record["crop_similarities"]
            assert len(crops) == record["tiles"] <= len(step.searches) - 1
            assert all(-1.0 <= c <= 1.0 for c in crops)
            assert record["best_similarity"] >= max(crops)
    assert {"similarity", "probability", "verified"} <= set(seen)
    assert crop_frames > 0  # re-detection crops ran while lost


def test_each_frame_is_freed_without_the_cycle_collector(scene: tuple) -> None:
    """A step's frame, crops and maps go when the step is done, by reference counting alone,
    while tracking and while lost (re-detection crops, the background worker, the deferred
    check that keeps one frame until the next step): before, the step's searcher closed over
    the step, every frame waited for the cycle collector and the process's memory rose ~4 KiB a
    frame without end."""
    import gc
    import weakref

    frames, gt, absent = scene
    tracker = _tracker(longterm=True)
    tracker.init(frames[0].copy(), gt[0])
    gc.collect()
    gc.disable()
    try:
        alive_at_most, states = 0, []
        refs: list[weakref.ref[np.ndarray]] = []
        for f in frames[1:]:
            image = f.copy()  # the scene keeps its own frames
            refs.append(weakref.ref(image))
            states.append(tracker.track(image).state)
            del image
            alive_at_most = max(alive_at_most, sum(r() is not None for r in refs))
    finally:
        gc.enable()
    assert TrackState.LOST in states and TrackState.TRACKING in states  # both paths ran
    assert alive_at_most <= 2, alive_at_most  # this frame and the one a deferred check holds


class _FailingSearches:
    """A backend whose every ``fail_every``-th search raises (everything else is the real one):
    a step that ends in an error, as a runtime's failure mid-frame would end it."""

    def __init__(self, backend: object, fail_every: int) -> None:
        self._backend = backend
        self._fail_every = fail_every
        self._calls = 0

    def __getattr__(self, name: str) -> object:
        return getattr(self._backend, name)

    def search(self, crop: np.ndarray, kernels: object) -> object:
        self._calls += 1
        if self._calls % self._fail_every == 0:
            raise RuntimeError("search failed")
        return self._backend.search(crop, kernels)  # type: ignore[attr-defined]


def test_a_frame_whose_step_fails_is_freed_without_the_cycle_collector(scene: tuple) -> None:
    """The step's callbacks are dropped however the step ends: a frame whose search raised
    (the node logs it and goes on) is freed like any other, not kept for the cycle
    collector."""
    import gc
    import weakref

    frames, gt, _ = scene
    base = _tracker(longterm=True)
    tracker = Tracker(
        config=base.config,
        runtime=_FailingSearches(base.runtime, fail_every=3),  # type: ignore[arg-type]
    )
    tracker.init(frames[0].copy(), gt[0])
    gc.collect()
    gc.disable()
    try:
        alive_at_most, failed = 0, 0
        refs: list[weakref.ref[np.ndarray]] = []
        for f in frames[1:60]:
            image = f.copy()
            refs.append(weakref.ref(image))
            try:
                tracker.track(image)
            except RuntimeError:
                failed += 1
            del image
            alive_at_most = max(alive_at_most, sum(r() is not None for r in refs))
    finally:
        gc.enable()
    assert failed >= 10  # the error path ran
    assert alive_at_most <= 2, alive_at_most


@pytest.mark.parametrize("jump_scale", ["crop", "estimate"])
def test_a_chosen_search_is_read_at_the_scale_jump_scale_says(
    scene: tuple, monkeypatch: pytest.MonkeyPatch, jump_scale: str
) -> None:
    """The tracker reads the chosen search's candidate at that search's ``state_scale()``:
    with ``jump_scale: crop`` the crop's own (its candidate's place exactly; before, every
    search was read at the estimate's scale), with ``estimate`` (what ships, run LT43) the
    estimate's, blended with the estimate's size, as the code before did."""
    frames, gt, _ = scene
    chosen: list[tuple[Search, float]] = []

    def choose_a_crop(self: LongTermPolicy, step: Step) -> None:
        # what a jump does: a search at another place and target size, made the chosen one
        first = len(step.searches)
        centre = step.target.center + np.array([12.0, -7.0])
        step.run_search(centre, step.instance_size, 0.0, "longterm", step.target.size * 0.6)
        step.chosen = first
        self.land(step, step.searches[first])
        chosen.append((step.searches[first], float(step.scale_z)))

    monkeypatch.setattr(LongTermPolicy, "after_search", choose_a_crop)
    base = load_tracker()
    mech = base.config.mechanisms
    lt = dataclasses.replace(mech.longterm, jump_scale=jump_scale)
    cfg = dataclasses.replace(base.config, mechanisms=dataclasses.replace(mech, longterm=lt))
    tracker = Tracker(config=cfg, runtime=base.runtime)
    tracker.init(frames[0], gt[0])
    result = tracker.track(frames[1])
    search, estimate_scale = chosen[0]
    info = tracker.last_step
    assert info is not None
    assert search.crop_size < 0.8 * info.searches[0].crop_size  # the scales differ
    scale = search.scale_z if jump_scale == "crop" else estimate_scale
    expected = search.center + np.asarray(search.candidate.box[:2], np.float64) / scale
    centre = result.box[:2] + result.box[2:] / 2
    np.testing.assert_allclose(centre, expected, atol=1e-6)
    if jump_scale == "crop":
        np.testing.assert_allclose(centre, search.image_box()[:2], atol=1e-6)
    else:
        assert float(np.hypot(*(centre - search.image_box()[:2]))) > 1.0  # off the candidate


@pytest.mark.parametrize("jump_scale", ["estimate", "crop"])
def test_jump_scale_says_at_which_scale_a_jump_is_read(jump_scale: str) -> None:
    """``estimate`` (what ships, run LT43) marks the jumped-to crop to be read at the
    estimate's scale and size; ``crop`` leaves it at its own."""
    policy = LongTermPolicy(LongTermConfig(jump_scale=jump_scale))  # type: ignore[arg-type]
    search = Search(
        center=np.zeros(2),
        crop_size=300,
        instance_size=319,
        scale_z=1.5,
        candidate=None,  # type: ignore[arg-type]
        features=None,
        size_ref=np.array([20.0, 30.0]),
    )
    step = SimpleNamespace(scale_z=2.0, target=SimpleNamespace(size=np.array([40.0, 50.0])))
    policy.land(step, search)  # type: ignore[arg-type]
    if jump_scale == "estimate":
        assert search.state_scale() == 2.0 and search.size_ref.tolist() == [40.0, 50.0]
    else:
        assert search.state_scale() == 1.5 and search.size_ref.tolist() == [20.0, 30.0]
    with pytest.raises(ValueError, match="jump_scale"):
        LongTermConfig(jump_scale="image")  # type: ignore[arg-type]


class _ThreadRecorder:
    """A backend that records which thread ran each search (everything else is the real one)."""

    def __init__(self, backend: object) -> None:
        self._backend = backend
        self.search_threads: list[str] = []
        self.template_threads: list[str] = []

    def __getattr__(self, name: str) -> object:
        return getattr(self._backend, name)

    def search(self, crop: np.ndarray, kernels: object) -> object:
        self.search_threads.append(threading.current_thread().name)
        return self._backend.search(crop, kernels)  # type: ignore[attr-defined]

    def template(self, crop: np.ndarray) -> object:
        self.template_threads.append(threading.current_thread().name)
        return self._backend.template(crop)  # type: ignore[attr-defined]


def test_re_detection_crops_run_beside_the_own_search_with_the_same_result(scene: tuple) -> None:
    """``background_searches``: a lost frame's re-detection crop starts in ``plan`` on a second
    thread while the tracker's own search runs; boxes, scores and states are exactly those of
    running it in turn (on one core there is no second thread)."""
    frames, gt, _ = scene
    base = _tracker(longterm=True)
    runs = {}
    for background in (False, True):
        recorder = _ThreadRecorder(base.runtime)
        tracker = Tracker(
            config=base.config,
            runtime=recorder,  # type: ignore[arg-type]
            background_searches=background,
        )
        tracker.init(frames[0], gt[0])
        results, used = [], 0
        for f in frames[1:]:
            results.append(tracker.track(f))
            assert tracker.last_step is not None
            used += len(tracker.last_step.searches)
        runs[background] = (
            np.array([r.box for r in results]),
            [r.state for r in results],
            [r.score for r in results],
            recorder.search_threads,
            tracker.background_searches,
            used,
        )
    inline, beside = runs[False], runs[True]
    # on one thread no search runs that the step does not use (nothing started ahead)
    assert len(inline[3]) == inline[5]
    assert TrackState.LOST in inline[1]  # the scene makes the tracker re-detect
    np.testing.assert_array_equal(inline[0], beside[0])
    assert inline[1] == beside[1] and inline[2] == beside[2]
    main = threading.main_thread().name
    assert set(inline[3]) == {main}
    if beside[4]:  # two or more cores: the crops ran on the worker
        assert {main, *[t for t in beside[3] if t.startswith("siam-search")]} == set(beside[3])
        assert any(t.startswith("siam-search") for t in beside[3])
    else:
        assert set(beside[3]) == {main}


class _ScriptedPolicy(LongTermPolicy):
    """The policy with the appearance similarity scripted per frame (the decision rule alone)."""

    def __init__(self, config: LongTermConfig, sims: dict[int, float]) -> None:
        super().__init__(config)
        self.sims = sims

    def similarity(self, step: object, box: np.ndarray, search: object = None) -> float:
        return self.sims[step.frame_index]  # type: ignore[attr-defined]


class _FakeStep:
    """What ``assess`` reads of a step and may change."""

    def __init__(self, i: int, presence: float, ambiguous: bool, previous: TrackState) -> None:
        self.frame_index, self.presence, self.ambiguous = i, presence, ambiguous
        self.previous_state = previous
        self.state = TrackState.TRACKING
        self.box = np.array([50.0, 50.0, 20.0, 10.0])
        self.confident = self.follow = True
        self.verified: bool | None = None

    def record(self, name: str, **fields: object) -> None:
        pass


def _start(policy: LongTermPolicy) -> None:
    """Reset ``policy`` on a target whose first-frame template is a constant vector (the
    memory's first entry; the scripted similarities never read it)."""
    first = type("K", (), {"cls": [np.ones(8)]})()
    policy.reset(type("T", (), {"first_kernels": first})())  # type: ignore[arg-type]


def _verdicts(
    fail_drop: float,
    script: list[tuple[float, float, bool]],
    start: TrackState = TrackState.TRACKING,
    **config: float,
) -> list[TrackState]:
    """States after ``assess`` and ``commit`` on frames of (similarity, presence, ambiguous),
    each checked, from the state ``start``; ``config``: more ``LongTermConfig`` fields (the
    scripts build their levels from a few checks: ``level_checks`` 0 unless given)."""
    settings: dict[str, float] = {"level_checks": 0, **config}
    # the rule decided at once (the scripted similarity has no template to defer)
    cfg = LongTermConfig(
        enabled=True, check_every=1, fail_drop=fail_drop, deferred_checks=False, **settings
    )
    policy = _ScriptedPolicy(cfg, {i: s for i, (s, _, _) in enumerate(script)})
    _start(policy)
    states, previous = [], start
    for i, (_, presence, ambiguous) in enumerate(script):
        step = _FakeStep(i, presence, ambiguous, previous)
        policy.assess(step)  # type: ignore[arg-type]
        policy.commit(step)  # type: ignore[arg-type]
        states.append(step.state)
        previous = step.state
    return states


#: a small target that never looks much like its template (similarity 0.75-0.8 after 0.9 at
#: first) while a look-alike competes, presence low: the drone-footage car of the follow test
SMALL = [(0.92, 0.95, False), (0.88, 0.9, False), (0.8, 0.6, False)] + [(0.76, 0.4, True)] * 6
#: a swap onto something else: the similarity falls by far more than the target's own spread
SWAP = SMALL[:3] + [(0.55, 0.4, True)]


def test_without_a_drop_rule_a_low_similarity_under_ambiguity_is_lost_at_once() -> None:
    assert _verdicts(-1.0, SMALL)[3] == TrackState.LOST


def test_with_a_drop_rule_only_an_event_is_lost() -> None:
    """``fail_drop``: the small target stays followed (an ambiguous frame stays what the lost
    state made it); a sharp fall below its own running similarity is LOST at once."""
    assert TrackState.LOST not in _verdicts(0.15, SMALL)
    assert _verdicts(0.15, SWAP)[-1] == TrackState.LOST
    # not ambiguous: two failing checks in a row, each a drop, are LOST
    drift = SMALL[:3] + [(0.5, 0.2, False)] * 2
    assert _verdicts(0.15, drift)[-2:] == [TrackState.TRACKING, TrackState.LOST]


#: while LOST the tracker's candidate is background (similarity ~0.5, presence low); then the
#: target is back on three frames, far below the verifier's absolute calibration (similarity
#: 0.66, presence 0.6: the changed-pose return of the dev-lt ``gen_Woman``)
GONE = [(0.5 + 0.02 * (i % 3), 0.1, False) for i in range(8)]
BACK = [(0.66, 0.6, False)] * 3


def test_without_the_rise_rule_a_low_calibrated_return_stays_lost() -> None:
    states = _verdicts(0.1, GONE + BACK, TrackState.LOST, found_rise=-1.0)
    assert set(states) == {TrackState.LOST}


def test_the_rise_rule_takes_a_return_that_stands_out_from_the_lost_frames() -> None:
    """``found_rise``: the return passes once confirmed (three frames at one place); a rise too
    small, too little presence, or too few lost frames to know the background does not."""
    states = _verdicts(0.1, GONE + BACK, TrackState.LOST, found_rise=0.1)
    assert states[-3:] == [TrackState.LOST, TrackState.LOST, TrackState.TRACKING], states
    assert TrackState.TRACKING not in states[:-1]
    small = [(0.58, 0.6, False)] * 3
    assert TrackState.TRACKING not in _verdicts(0.1, GONE + small, TrackState.LOST, found_rise=0.1)
    faint = [(0.66, 0.3, False)] * 3
    assert TrackState.TRACKING not in _verdicts(0.1, GONE + faint, TrackState.LOST, found_rise=0.1)
    assert TrackState.TRACKING not in _verdicts(
        0.1, GONE[:3] + BACK, TrackState.LOST, found_rise=0.1
    )
    # the baseline is of the lost frames only: a new loss starts it again
    again = GONE + BACK + [(0.3, 0.05, False)] * 2 + BACK
    assert _verdicts(0.1, again, TrackState.TRACKING, found_rise=0.1, fail_checks=1)[-1] == (
        TrackState.LOST
    )


class _Search:
    """A search whose candidate has a scripted similarity."""

    def __init__(self, sim: float, source: str = "tracker") -> None:
        self.sim, self.source = sim, source

    def image_box(self) -> np.ndarray:
        return np.array([50.0, 50.0, 20.0, 10.0])


class _LostStep(_FakeStep):
    """A LOST frame: what ``after_search`` reads too (the tracker's own search with similarity
    ``own``; the re-detection crops it runs get ``crops`` in turn)."""

    def __init__(self, i: int, own: float, crops: tuple[float, ...] = ()) -> None:
        super().__init__(i, 0.1, False, TrackState.LOST)
        box = np.array([50.0, 50.0, 20.0, 10.0])
        self.target = SimpleNamespace(confident=box, size=box[2:].copy())
        self.image = np.zeros((120, 240, 3), np.uint8)
        self.instance_size, self.exemplar_size, self.scale_z = 255, 127, 2.0
        self.searches, self.chosen, self._crops = [_Search(own)], 0, list(crops)
        self.centres: list[tuple[float, ...]] = []  # of the crops run, in order

    @property
    def search(self) -> _Search:
        return self.searches[self.chosen]

    def run_search(
        self, centre: np.ndarray, size: int, *_: object, source: str, **__: object
    ) -> None:
        self.searches.append(_Search(self._crops.pop(0), source))
        self.centres.append(tuple(float(v) for v in centre))


class _CropPolicy(LongTermPolicy):
    def similarity(self, step: object, box: np.ndarray, search: object = None) -> float:
        return (search or step.search).sim  # type: ignore[attr-defined]


def _jump(jump_rise: float, own: float, crops: tuple[float, ...]) -> _LostStep:
    """After eight lost frames of background (similarity 0.5), one re-detection step."""
    cfg = LongTermConfig(enabled=True, jump_rise=jump_rise)
    policy = _CropPolicy(cfg)
    _start(policy)
    for i in range(8):
        gone = _LostStep(i, 0.5)
        policy.assess(gone)  # type: ignore[arg-type]
        gone.state = TrackState.LOST
        policy.commit(gone)  # type: ignore[arg-type]
    step = _LostStep(8, own, crops)
    policy.after_search(step)  # type: ignore[arg-type]
    return step


def test_jump_rise_lowers_the_jump_threshold_to_the_lost_baseline() -> None:
    """``jump_rise``: a crop's candidate 0.18 above the lost frames' baseline (0.5) is taken
    although below ``threshold`` (0.75); without it, only the absolute threshold counts."""
    assert _jump(0.15, 0.55, (0.68, 0.5)).chosen == 1
    assert _jump(-1.0, 0.55, (0.68, 0.5)).chosen == 0
    assert _jump(-1.0, 0.55, (0.8, 0.5)).chosen == 1
    # the tracker's own candidate already above the lowered threshold: no crop is searched
    assert len(_jump(0.15, 0.66, (0.9, 0.9)).searches) == 1


def _crop_centres(crops_per_frame: int, frames: int, tiles: int = 1) -> list[list[tuple]]:
    """The re-detection crop centres of ``frames`` lost frames in a row (nothing verified)."""
    cfg = LongTermConfig(enabled=True, crops_per_frame=crops_per_frame, tiles_per_frame=tiles)
    policy = _CropPolicy(cfg)
    _start(policy)
    out = []
    for i in range(frames + 1):  # the global search starts after the first lost frame
        step = _LostStep(i, 0.2, (0.2,) * 8)
        if i:
            policy.after_search(step)  # type: ignore[arg-type]
            out.append(step.centres)
        step.state = TrackState.LOST
        policy.commit(step)  # type: ignore[arg-type]
    return out


def test_crops_per_frame_spreads_a_round_over_frames() -> None:
    """``crops_per_frame`` 1: the crop at the last confident place and the sweep's tiles take
    turns, one search a frame; the sweep visits the same tiles in the same order, only later;
    0: the whole round (anchor + ``tiles_per_frame`` tiles) every frame."""
    anchor = (50.0, 50.0)
    whole = _crop_centres(0, 3)
    assert [len(c) for c in whole] == [2, 2, 2]
    assert all(c[0] == anchor for c in whole)
    spread = _crop_centres(1, 6)
    assert [len(c) for c in spread] == [1] * 6
    assert [c[0] for c in spread[0::2]] == [anchor] * 3
    assert [c[0] for c in spread[1::2]] == [c[1] for c in whole]
    # a round of three (anchor + two tiles) at two crops a frame: 2, 1, 2, 1
    two = _crop_centres(2, 4, tiles=2)
    assert [len(c) for c in two] == [2, 1, 2, 1]
    assert two[0][0] == anchor and two[1][0] != anchor and two[2][0] == anchor


#: tracked at similarity 0.78, then a drop (two failing checks: LOST) while the box stays on the
#: target: its similarity is back at 0.72, presence 0.6 (`Woman` of val behind the car: LOST for
#: 200 frames with the box on her, the lost frames' baseline learning her own similarity)
TRACKED = [(0.78, 0.95, False)] * 4
DROPPED = [(0.5, 0.1, False)] * 2
STAYED = [(0.72, 0.6, False)] * 3


def test_the_back_rule_takes_a_target_back_at_its_tracked_level() -> None:
    """``found_back``: a candidate within ``found_back`` of the similarity level of the tracked
    frames before the loss passes (confirmed on three frames); not while a look-alike competes,
    not further below that level, not without presence, and not with the rule off."""
    script = TRACKED + DROPPED + STAYED
    states = _verdicts(0.1, script, found_back=0.1)
    assert states[len(TRACKED) : len(TRACKED) + 2] == [TrackState.TRACKING, TrackState.LOST]
    assert states[-3:] == [TrackState.LOST, TrackState.LOST, TrackState.TRACKING], states
    assert _verdicts(0.1, script, found_back=-1.0)[-1] == TrackState.LOST
    competing = [(0.72, 0.6, True)] * 3
    assert _verdicts(0.1, TRACKED + DROPPED + competing, found_back=0.1)[-1] == TrackState.LOST
    lower = [(0.62, 0.6, False)] * 3
    assert _verdicts(0.1, TRACKED + DROPPED + lower, found_back=0.1)[-1] == TrackState.LOST
    faint = [(0.72, 0.3, False)] * 3
    assert _verdicts(0.1, TRACKED + DROPPED + faint, found_back=0.1)[-1] == TrackState.LOST


def test_an_unverified_lost_frame_is_never_a_place_to_fall_back_on() -> None:
    """While LOST, a candidate of high presence that fails the check (the lost state alone
    would call it confident) is not confident: the last confident box -- where the anchor crop
    searches and the scale the crops are cut at -- must not drift onto a phantom. A verified
    return is confident again."""
    cfg = LongTermConfig(enabled=True, check_every=1, deferred_checks=False)
    sims = {i: 0.5 for i in range(8)} | {i: 0.97 for i in range(8, 11)}
    policy = _ScriptedPolicy(cfg, sims)
    _start(policy)
    confident = []
    for i in range(11):
        step = _FakeStep(i, 0.95, False, TrackState.LOST)
        step.state = TrackState.LOST  # the lost state's verdict; it calls the frame confident
        policy.assess(step)  # type: ignore[arg-type]
        policy.commit(step)  # type: ignore[arg-type]
        confident.append(step.confident)
    assert confident[:10] == [False] * 10
    assert confident[10] is True


#: a sprinter: the first check close to the template (0.86), then, as his pose changes, 0.69
#: while a look-alike competes, at low presence (``vc_otb_Bolt``: LOST from his sixth frame)
SPRINT = [(0.86, 0.7, False)] + [(0.69, 0.2, True)] * 4 + [(0.7, 0.8, False)] * 6


def test_a_young_level_declares_no_drop() -> None:
    """``level_checks``: a fall below a level of fewer passed checks is no event (the sprinter
    stays followed); once the level has its checks, a swap is LOST at once as before."""
    assert _verdicts(0.1, SPRINT, level_checks=0)[1] == TrackState.LOST
    assert TrackState.LOST not in _verdicts(0.1, SPRINT, level_checks=6)
    mature = SPRINT + [(0.45, 0.2, True)]
    assert _verdicts(0.1, mature, level_checks=6)[-1] == TrackState.LOST
    young = SPRINT[:3] + [(0.45, 0.2, True)]
    assert _verdicts(0.1, young, level_checks=6)[-1] != TrackState.LOST


def _prefetch_step() -> tuple[Step, list[tuple], list[str]]:
    """A bare :class:`Step` whose searcher and prefetcher only log what they are asked."""
    asked: list[tuple] = []
    waited: list[str] = []

    def searcher(centre: np.ndarray, size: int, *_: object) -> str:
        asked.append(("now", tuple(centre), size))
        return f"search {size}"

    def prefetcher(centre: np.ndarray, size: int, *_: object) -> object:
        asked.append(("ahead", tuple(centre), size))

        def result() -> str:
            waited.append(f"prefetched {size}")
            return f"prefetched {size}"

        return result

    step = Step(
        image=np.zeros((4, 4, 3), np.uint8),
        frame_index=1,
        target=None,  # type: ignore[arg-type]
        s_z=10.0,
        scale_z=1.0,
        instance_size=255,
        window_influence=0.4,
        base_map=15,
        exemplar_size=127,
        stride=16,
        searcher=searcher,
        prefetcher=prefetcher,
    )
    return step, asked, waited


def test_a_prefetched_search_is_taken_only_for_the_same_arguments() -> None:
    step, asked, waited = _prefetch_step()
    step.prefetch(np.array([5.0, 6.0]), 319, 0.0, source="longterm")
    step.prefetch(np.array([5.0, 6.0]), 319, 0.0, source="longterm")
    assert asked == [("ahead", (5.0, 6.0), 319)]  # asked once
    # other arguments: run now; the same ones: the prefetched result, not a second run
    assert step.run_search(np.array([5.0, 6.0]), 255, 0.0, source="longterm") == "search 255"
    assert step.run_search(np.array([5.0, 6.0]), 319, 0.0, source="longterm") == "prefetched 319"
    assert step.searches == ["search 255", "prefetched 319"]
    assert step.take_prefetched() == []
    # one never asked for is handed back to the tracker to wait for, once
    step.prefetch(np.array([1.0, 1.0]), 319, 0.0, source="longterm")
    left = step.take_prefetched()
    assert len(left) == 1 and step.take_prefetched() == []
    assert waited == ["prefetched 319"]


def test_without_a_prefetcher_prefetch_does_nothing() -> None:
    step, asked, _ = _prefetch_step()
    step.prefetcher = None
    step.prefetch(np.array([5.0, 6.0]), 319)
    assert asked == [] and step.take_prefetched() == []


def test_two_threads_with_background_work_give_the_same_boxes_and_share_the_cores(
    scene: tuple, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two ONNX Runtime threads with background searches on two cores: the boxes, states and
    scores are the one-thread tracker's; while a LOST frame's re-detection crop or a deferred
    check is on the worker, the runs -- the calling thread's own search too -- take one thread
    (``beside``), and once the work is done a search has both threads again."""
    from siam_tracker_ros.runtime import onnx_backend

    monkeypatch.setattr(onnx_backend, "usable_cores", lambda: 2)
    frames, gt, _ = scene
    base = _tracker(longterm=True)
    one = Tracker(config=base.config, runtime=base.runtime, background_searches=False)
    wide = load_tracker(threads=2, background_searches=True)
    two = Tracker(config=base.config, runtime=wide.runtime, background_searches=True)
    backend = wide.runtime
    assert isinstance(backend, OnnxRuntimeBackend)
    results = {}
    for name, tracker in (("one", one), ("two", two)):
        tracker.init(frames[0], gt[0])
        results[name] = [tracker.track(f) for f in frames[1:]]
    lost = sum(r.state == TrackState.LOST for r in results["one"])
    assert lost > 10  # the scene makes the tracker re-detect
    np.testing.assert_array_equal([r.box for r in results["one"]], [r.box for r in results["two"]])
    assert [(r.state, r.score) for r in results["one"]] == [
        (r.state, r.score) for r in results["two"]
    ]
    if two.background_searches:  # two or more cores: crops and checks ran on the worker
        assert backend.search_runs[1] >= 2 * lost  # each lost frame's crop and own search
        twos = backend.search_runs[2]
        kernels = backend.template(np.full((127, 127, 3), 90, np.uint8))
        backend.search(np.full((255, 255, 3), 90, np.uint8), kernels)
        assert backend.search_runs[2] == twos + 1  # nothing left open


def _lt_tracker(background: bool, **longterm: object) -> tuple[Tracker, _ThreadRecorder]:
    """The bundled tracker with ``longterm`` settings changed, on a thread-recording backend."""
    base = _tracker(longterm=True)
    mech = base.config.mechanisms
    lt = dataclasses.replace(mech.longterm, **longterm)
    cfg = dataclasses.replace(base.config, mechanisms=dataclasses.replace(mech, longterm=lt))
    recorder = _ThreadRecorder(base.runtime)
    tracker = Tracker(config=cfg, runtime=recorder, background_searches=background)  # type: ignore[arg-type]
    return tracker, recorder


def test_deferred_checks_give_the_result_of_checking_at_once(scene: tuple) -> None:
    """``deferred_checks``: a tracked frame's periodic check runs its template beside the next
    frame's search (on the worker thread where there is one) and is decided there; the states,
    boxes and scores are exactly those of checking at once, on one core or two."""
    frames, gt, _ = scene
    runs = {}
    for deferred, background in ((False, False), (True, False), (True, True)):
        tracker, recorder = _lt_tracker(background, deferred_checks=deferred)
        tracker.init(frames[0], gt[0])
        results, decided = [], []
        for i, f in enumerate(frames[1:], start=1):
            results.append(tracker.track(f))
            assert tracker.last_step is not None
            record = tracker.last_step.policies.get("longterm", {})
            if "deferred_frame" in record:
                decided.append((i, record["deferred_frame"]))
        runs[deferred, background] = (results, decided, recorder.template_threads, tracker)
    at_once = runs[False, False][0]
    assert TrackState.LOST in [r.state for r in at_once]  # the scene makes it check and lose
    assert runs[False, False][1] == []
    for key in ((True, False), (True, True)):
        results, decided, threads, tracker = runs[key]
        np.testing.assert_array_equal([r.box for r in at_once], [r.box for r in results])
        assert [r.state for r in at_once] == [r.state for r in results]
        assert [r.score for r in at_once] == [r.score for r in results]
        # decided by the next frame: every third tracked frame (check_every 3)
        assert len(decided) >= 20 and all(d == i - 1 for i, d in decided)
    main = threading.main_thread().name
    assert set(runs[True, False][2]) == {main}
    if runs[True, True][3].background_searches:  # two or more cores
        assert any(t.startswith("siam-search") for t in runs[True, True][2])


class _VectorStep(_FakeStep):
    """A step whose template at any box is a unit vector at cosine ``sim`` from the memory's
    first entry (``_start``'s constant vector): the real similarity path, now or later."""

    def __init__(self, i: int, presence: float, previous: TrackState, sim: float) -> None:
        super().__init__(i, presence, False, previous)
        self.search = None
        first = np.ones(8) / np.sqrt(8.0)
        other = np.zeros(8)
        other[0], other[1] = 1.0, -1.0
        other /= np.linalg.norm(other)
        self.vec = sim * first + np.sqrt(1.0 - sim * sim) * other
        self.later = 0

    def template_vector(self, box: np.ndarray) -> np.ndarray:
        return self.vec

    def template_vector_later(self, box: np.ndarray) -> object:
        self.later += 1
        vec = self.vec
        return lambda: vec


def _first_lost(deferred: bool, sims: list[float]) -> tuple[int, int]:
    """The first LOST frame on tracked, unambiguous frames of similarity ``sims`` (checked every
    frame), and how many template runs were deferred."""
    cfg = LongTermConfig(
        enabled=True, check_every=1, level_checks=0, fail_drop=0.1, deferred_checks=deferred
    )
    policy = LongTermPolicy(cfg)
    _start(policy)
    previous, later = TrackState.TRACKING, 0
    for i, sim in enumerate(sims):
        step = _VectorStep(i, 0.95 if sim > 0.8 else 0.3, previous, sim)
        policy.assess(step)  # type: ignore[arg-type]
        policy.commit(step)  # type: ignore[arg-type]
        later += step.later
        if step.state == TrackState.LOST:
            return i, later
        previous = step.state
    return -1, later


def test_a_deferred_check_loses_a_swap_on_the_same_frame() -> None:
    """A swap (the similarity falls far below its level) is LOST after two failing checks in a
    row, on the second swapped frame whether checked at once or deferred: the first failure,
    decided a frame late, makes that frame a suspect, checked at once."""
    sims = [0.95] * 8 + [0.4] * 6
    assert _first_lost(False, sims) == (9, 0)
    assert _first_lost(True, sims) == (9, 9)  # frames 0-8 deferred theirs; 9 checked at once


def test_a_deferred_check_is_decided_by_the_next_step_only() -> None:
    """A check deferred by frame 4 is decided on frame 5; one that no step 5 took (the policy
    was switched off in between) is dropped, not applied to a later frame."""
    cfg = LongTermConfig(enabled=True, check_every=1, level_checks=0, fail_drop=0.1)
    for gap in (1, 2):
        policy = LongTermPolicy(cfg)
        _start(policy)
        for i in range(5):
            step = _VectorStep(i, 0.95, TrackState.TRACKING, 0.95)
            policy.assess(step)  # type: ignore[arg-type]
            policy.commit(step)  # type: ignore[arg-type]
        later = _RecordingStep(4 + gap, 0.95, TrackState.TRACKING, 0.95)
        policy.assess(later)  # type: ignore[arg-type]
        assert (later.recorded.get("deferred_frame") == 4) == (gap == 1)


class _RecordingStep(_VectorStep):
    def __init__(self, i: int, presence: float, previous: TrackState, sim: float) -> None:
        super().__init__(i, presence, previous, sim)
        self.recorded: dict[str, object] = {}

    def record(self, name: str, **fields: object) -> None:
        self.recorded.update(fields)


def test_a_caller_reusing_its_frame_buffer_gets_the_same_result(scene: tuple) -> None:
    """A deferred check reads the frame it checks after that frame's step has returned; a caller
    that writes each new frame into the same array (a video reader, a ROS image callback) must
    not change what it reads: the patch is cut before the step returns."""
    frames, gt, _ = scene
    runs = []
    for reuse in (False, True):
        tracker, _ = _lt_tracker(background=True)
        buffer = frames[0].copy()
        tracker.init(buffer, gt[0])
        results = []
        for f in frames[1:]:
            if reuse:
                buffer[...] = f
                results.append(tracker.track(buffer))
            else:
                results.append(tracker.track(f.copy()))
        runs.append(results)
    fresh, reused = runs
    np.testing.assert_array_equal([r.box for r in fresh], [r.box for r in reused])
    assert [r.state for r in fresh] == [r.state for r in reused]
