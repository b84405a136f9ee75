"""The simulated pan/tilt camera: rates integrated over simulated time move the window by
``rate * dt * fx`` pixels, limits hold, intrinsics are consistent, the source clock advances with
simulated time, and a closed loop on it keeps a moving target in view (open loop loses it)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from siam_tracker_ros.simulation import GimbalCamera, VirtualCamera, synthetic_sequence

W, H = 200, 150


def _gimbal(n: int = 120, centres: np.ndarray | None = None, **kwargs: object) -> GimbalCamera:
    if centres is None:
        centres = np.tile([[400.0, 240.0]], (n, 1))  # a static target in the middle
    seq = synthetic_sequence(n_frames=n, size=(800, 480), target_size=(30, 30), centres=centres)
    cam = VirtualCamera.from_sequence(seq, size=(W, H))
    return GimbalCamera(cam, **kwargs)  # type: ignore[arg-type]


def test_intrinsics_follow_the_field_of_view() -> None:
    g = _gimbal(hfov_deg=90.0)
    k = g.intrinsics()
    assert k.fx == pytest.approx(W / 2) and k.fy == k.fx  # tan(45 deg) = 1
    assert (k.cx, k.cy, k.width, k.height) == (W / 2, H / 2, W, H)
    expected = np.array([[k.fx, 0.0, k.cx], [0.0, k.fy, k.cy], [0.0, 0.0, 1.0]])
    np.testing.assert_allclose(k.matrix(), expected)
    k60 = _gimbal(hfov_deg=60.0).intrinsics()
    # the horizontal field of view comes back from the focal length
    assert 2 * math.degrees(math.atan(k60.width / 2 / k60.fx)) == pytest.approx(60.0)
    # a target centred in the window sits at the principal point
    view = _gimbal().view()
    x, y, w, h = view.box
    assert (x + w / 2, y + h / 2) == pytest.approx((k.cx, k.cy))


def test_a_constant_pan_rate_moves_the_window_by_rate_dt_fx_per_step() -> None:
    g = _gimbal(max_rate=5.0)
    fx, rate, dt = g.intrinsics().fx, 0.3, 1 / 30
    box0 = g.view().box
    xs = []
    for k in range(1, 6):
        view = g.step(rate, 0.0, dt)
        xs.append(view.box[0])
        # pan > 0 turns left (REP-103): the window moves left, the scene (target) right
        assert g.centre()[0] == pytest.approx(400.0 - k * rate * dt * fx)
        assert view.box[0] == pytest.approx(box0[0] + k * rate * dt * fx)
    assert np.diff(xs) == pytest.approx(rate * dt * fx)
    # tilt > 0 pitches down: the window moves down, the target up
    y0 = g.view().box[1]
    view = g.step(0.0, 0.2, dt)
    assert view.box[1] == pytest.approx(y0 - 0.2 * dt * fx)
    state = g.state()
    assert state.pan == pytest.approx(5 * rate * dt) and state.tilt == pytest.approx(0.2 * dt)
    assert state.pan_rate == 0.0 and state.tilt_rate == pytest.approx(0.2)


def test_tan_mapping_moves_the_window_by_fx_tan_angle() -> None:
    g = _gimbal(mapping="tan", max_rate=10.0, pan_limits=(-1.2, 1.2))
    fx = g.intrinsics().fx
    for _ in range(10):
        g.step(-2.0, 0.0, 0.05)
    assert g.pan == pytest.approx(-1.0)
    assert g.centre()[0] == pytest.approx(400.0 + fx * math.tan(1.0))


def test_rate_and_angle_limits_hold() -> None:
    g = _gimbal(max_rate=(0.5, 0.25), pan_limits=(-0.2, 0.1), tilt_limits=(-0.05, 0.05))
    fx = g.intrinsics().fx
    g.step(10.0, -10.0, 0.1)  # clipped to 0.5 and -0.25 rad/s
    assert g.pan == pytest.approx(0.05) and g.tilt == pytest.approx(-0.025)
    assert g.state().limited and g.state().pan_rate == pytest.approx(0.5)
    for _ in range(20):
        g.step(10.0, -10.0, 0.1)
    assert g.pan == pytest.approx(0.1) and g.tilt == pytest.approx(-0.05)
    assert g.state().pan_rate == 0.0 and g.state().limited  # held at the limit
    assert g.centre()[0] == pytest.approx(400.0 - 0.1 * fx)
    g.step(-0.1, 0.0, 0.1)  # inside the limits again: not limited
    assert not g.state().limited and g.pan == pytest.approx(0.09)


def test_default_limits_keep_the_window_centre_over_the_footage() -> None:
    g = _gimbal(max_rate=3.0)
    for _ in range(100):
        g.step(3.0, 3.0, 0.1)
    assert g.centre() == pytest.approx((0.0, 480.0))
    for _ in range(100):
        g.step(-3.0, -3.0, 0.1)
    assert g.centre() == pytest.approx((800.0, 0.0))


def test_simulated_time_advances_the_source_frames() -> None:
    g = _gimbal(n=10)
    assert g.index == 0 and not g.finished
    indices = [g.step(0.0, 0.0, 1 / 60).index for _ in range(8)]  # 60 Hz steps, 30 fps source
    assert indices == [0, 1, 1, 2, 2, 3, 3, 4]
    for _ in range(12):
        g.step(0.0, 0.0, 1 / 60)
    assert g.finished and g.index == 9  # stays on the last frame
    g.reset()
    assert g.time == 0.0 and g.index == 0 and g.pan == 0.0


@pytest.mark.parametrize(
    ("pan", "tilt", "dt"), [(float("nan"), 0.0, 0.1), (0.0, float("inf"), 0.1), (0.0, 0.0, 0.0)]
)
def test_bad_commands_are_refused(pan: float, tilt: float, dt: float) -> None:
    g = _gimbal()
    with pytest.raises(ValueError):
        g.step(pan, tilt, dt)
    assert g.pan == 0.0 and g.time == 0.0  # nothing moved


def test_bad_configuration_is_refused() -> None:
    with pytest.raises(ValueError, match="hfov"):
        _gimbal(hfov_deg=180.0)
    with pytest.raises(ValueError, match="max_rate"):
        _gimbal(max_rate=0.0)
    with pytest.raises(ValueError, match="pan limits"):
        _gimbal(pan_limits=(0.1, 0.2))


def test_a_closed_loop_keeps_a_moving_target_in_view_and_open_loop_loses_it() -> None:
    """The use the follow node's simulator makes of it: bearing from the box through the
    intrinsics, a proportional rate command."""
    n = 240
    t = np.arange(n, dtype=np.float64)
    centres = np.stack([400 + 300 * np.sin(t / 60), 240 + 120 * np.sin(t / 45)], axis=1)

    def run(gain: float) -> tuple[float, float]:
        g = _gimbal(n=n, centres=centres, max_rate=3.0)
        k = g.intrinsics()
        view, seen, errors = g.view(), 0, []
        for _ in range(n - 1):
            if view.absent:
                pan = tilt = 0.0
            else:
                x, y, w, h = view.box
                u, v = x + w / 2, y + h / 2
                errors.append(abs(u - k.cx) / k.width)
                pan = gain * -math.atan((u - k.cx) / k.fx)  # target right of centre: turn right
                tilt = gain * math.atan((v - k.cy) / k.fy)  # below centre: pitch down
            view = g.step(pan, tilt, 1 / 30)
            seen += not view.absent
        return seen / (n - 1), float(np.mean(errors))

    followed, error = run(gain=6.0)
    fixed, _ = run(gain=0.0)
    assert followed >= 0.95 and error <= 0.15
    assert fixed < 0.5
