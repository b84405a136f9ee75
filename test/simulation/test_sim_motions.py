"""Scripted motions on a synthetic sequence: the target leaves the view (or is covered) for the
scripted frames and comes back, every kind of motion, deterministically from the seed."""

from __future__ import annotations

import numpy as np
import pytest

from siam_tracker_ros.simulation import (
    Absence,
    Drift,
    Follow,
    Glance,
    Occlude,
    Reenter,
    Script,
    VirtualCamera,
    motion_from_dict,
    plan,
    synthetic_sequence,
)
from siam_tracker_ros.simulation.lt_dev import absent_stretches, count_returns
from siam_tracker_ros.simulation.motions import Motion

W, H = 240, 160


def _camera(n: int = 200, centre: tuple[float, float] = (320.0, 180.0)) -> VirtualCamera:
    """A 640x360 scene whose 30x40 target drifts slowly around ``centre``."""
    t = np.arange(n, dtype=np.float64)
    centres = np.stack([centre[0] + 20 * np.sin(t / 30), centre[1] + 10 * np.cos(t / 40)], 1)
    seq = synthetic_sequence(n_frames=n, size=(640, 360), target_size=(30, 40), centres=centres)
    return VirtualCamera.from_sequence(seq, size=(W, H))


def _labels(cam: VirtualCamera, script: Script) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(absent, visible fraction, boxes) per frame."""
    out = [
        cam.label(i, (float(c[0]), float(c[1])), script.occluders[i])
        for i, c in enumerate(script.centres)
    ]
    return (
        np.array([o[1] for o in out]),
        np.array([o[2] for o in out]),
        np.array([o[0] for o in out]),
    )


def _run(motion: Motion, n: int = 200, seed: int = 0, **kw: float) -> tuple[np.ndarray, ...]:
    cam = _camera(n)
    script = plan(cam, [Follow(20), motion], seed=seed, **kw)
    return _labels(cam, script)


@pytest.mark.parametrize(
    "motion",
    [
        Glance(out=6, hold=20, back=6),
        Drift(out=40, hold=10, back=40),
        Absence(out=8, hold=90, back=10, wander=20.0),
        Reenter(out=6, hold=20, back=12),
        Occlude(enter=6, hold=20, exit=6, kind="solid"),
        Occlude(enter=6, hold=20, exit=6, kind="patch", shape="band"),
        Occlude(enter=6, hold=20, exit=6, kind="blur"),
    ],
    ids=lambda m: f"{m.name}-{getattr(m, 'kind', '')}{getattr(m, 'shape', '')}",
)
def test_the_target_leaves_for_the_scripted_frames_and_returns(motion: Motion) -> None:
    absent, _, _ = _run(motion)
    first = 20
    middle = getattr(motion, "out", getattr(motion, "enter", 0))
    hold = motion.hold  # type: ignore[union-attr]
    assert not absent[:first].any()  # visible while following
    assert absent[first + middle : first + middle + hold].all()  # gone for the whole hold
    assert not absent[first + motion.frames + 5 :].any()  # back after the motion
    assert len(absent_stretches(absent)) == 1 and count_returns(absent) == 1


def test_without_a_motion_the_target_stays_in_view() -> None:
    cam = _camera()
    script = plan(cam, [], seed=0, shake=0.0)
    absent, visible, _ = _labels(cam, script)
    assert not absent.any() and (visible == 1.0).all()
    half = np.array([W, H]) / 2
    assert (script.centres >= half).all() and (script.centres <= np.array([640, 360]) - half).all()


def test_a_slow_drift_spends_longer_partly_visible_than_a_glance() -> None:
    _, glance, _ = _run(Glance(out=6, hold=10, back=6))
    _, drift, _ = _run(Drift(out=40, hold=10, back=40))
    partial = lambda v: int(((v > 0) & (v < 1)).sum())  # noqa: E731
    assert partial(drift) >= 3 * partial(glance) > 0


def test_reentry_comes_back_from_the_opposite_edge() -> None:
    for direction, exit_edge in (("right", "left"), ("left", "right")):
        absent, _, boxes = _run(Reenter(out=6, hold=20, back=12, direction=direction))  # type: ignore[arg-type]
        ((a, b),) = absent_stretches(absent)
        last, back = boxes[a - 1], boxes[b + 1]
        at_left = lambda box: box[0] == 0.0  # noqa: E731
        at_right = lambda box: box[0] + box[2] == pytest.approx(W)  # noqa: E731
        if exit_edge == "left":
            assert at_left(last) and at_right(back)
        else:
            assert at_right(last) and at_left(back)
        # a plain glance comes back where it left
        absent, _, boxes = _run(Glance(out=6, hold=20, back=12, direction=direction))  # type: ignore[arg-type]
        ((a, b),) = absent_stretches(absent)
        assert at_left(boxes[a - 1]) == at_left(boxes[b + 1])


def test_auto_direction_looks_away_where_the_footage_has_room() -> None:
    cam = _camera(centre=(560.0, 180.0))  # near the right edge of the 640 px scene
    script = plan(cam, [Follow(20), Glance(hold=20)], seed=0)
    assert script.segments[1]["direction"] == "left"


def test_occluders_cover_a_target_that_stays_in_the_window() -> None:
    cam = _camera()
    script = plan(cam, [Follow(20), Occlude(enter=6, hold=20, exit=6, kind="solid")], seed=0)
    absent, _, _ = _labels(cam, script)
    hold = range(26, 46)
    assert absent[list(hold)].all()
    for i in hold:  # the window still holds the target: only the occluder hides it
        centre = (float(script.centres[i][0]), float(script.centres[i][1]))
        box, gone, _ = cam.label(i, centre)
        assert not gone
        (occ,) = script.occluders[i]
        view = cam.render(i, centre, script.occluders[i])
        x, y, w, h = (int(round(v)) for v in box)
        assert (view.image[y + 2 : y + h - 2, x + 2 : x + w - 2] == occ.colour).all()
    band = plan(cam, [Follow(20), Occlude(shape="band")], seed=0).occluders[30][0]
    assert band.rect[1] <= 0 and band.rect[1] + band.rect[3] >= H  # across the whole window


def test_same_seed_same_script_and_another_seed_another_path() -> None:
    motions: list[Motion] = [Follow(10), Absence(hold=30, wander=10.0), Occlude(kind="patch")]
    a = plan(_camera(), motions, seed=5)
    b = plan(_camera(), motions, seed=5)
    c = plan(_camera(), motions, seed=6)
    np.testing.assert_array_equal(a.centres, b.centres)
    assert a.occluders == b.occluders and a.segments == b.segments
    assert not np.array_equal(a.centres, c.centres)


def test_motions_that_do_not_fit_and_bad_fields_are_clear_errors() -> None:
    with pytest.raises(ValueError, match="would end at frame 260"):
        plan(_camera(200), [Follow(200), Glance(out=6, hold=48, back=6)], seed=0)
    with pytest.raises(ValueError, match="unknown motion 'spin'"):
        motion_from_dict({"spin": {}})
    with pytest.raises(ValueError, match=r"glance: unknown field\(s\) \['holdd'\]"):
        motion_from_dict({"glance": {"holdd": 3}})
    with pytest.raises(ValueError, match="direction"):
        Glance(direction="sideways")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="reenter.back"):
        Reenter(back=0)
    with pytest.raises(ValueError, match="whole number"):
        Follow(-1)
    assert motion_from_dict({"drift": {"out": 5}}) == Drift(out=5)
