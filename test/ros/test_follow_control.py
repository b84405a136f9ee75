"""The follow control law without ROS (ros/follow_control.py): deadband, slew, PID with
anti-windup, bearings through the intrinsics (distortion included), the size law, and the
sign conventions checked against the simulated gimbal in a closed loop on exact boxes; and the
follow node's parameter table (ros/follow_params.py) against config/follow.yaml."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from siam_tracker_ros.ros.follow_control import (
    CameraModel,
    ControlConfig,
    FollowCommand,
    FollowController,
    Pid,
    PidGains,
    TargetBox,
    apply_deadband,
    limit_accel,
    slew,
)
from siam_tracker_ros.ros.follow_params import DEFAULT_PARAMS_FILE, PARAMS, FollowSettings
from siam_tracker_ros.ros.follow_sim import follow_scene, make_gimbal
from siam_tracker_ros.ros.sim_params import PARAMS as SIM_PARAMS
from siam_tracker_ros.ros.sim_params import SimSettings

CAM = CameraModel(500.0, 500.0, 320.0, 240.0, 640, 480)
finite = st.floats(-10.0, 10.0, allow_nan=False)
FAST = settings(max_examples=300, deadline=None)


def _box(u: float, v: float = 240.0, size: float = 40.0, stamp: int = 0) -> TargetBox:
    return TargetBox(stamp, "t", u, v, size, size)


# ---------------------------------------------------------------- building blocks
@FAST
@given(finite, st.floats(0.0, 2.0))
def test_deadband_is_zero_inside_continuous_and_shrinks_the_error(
    error: float, band: float
) -> None:
    out = apply_deadband(error, band)
    if abs(error) <= band:
        assert out == 0.0
    else:
        assert math.copysign(1, out) == math.copysign(1, error)
        assert abs(out) == pytest.approx(abs(error) - band)
    # continuity at the band's edge: no step
    assert abs(apply_deadband(band + 1e-9, band)) < 1e-6


@FAST
@given(finite, finite, st.floats(0.0, 1.0), st.floats(0.0, 20.0))
def test_slew_never_moves_more_than_accel_dt(
    prev: float, target: float, dt: float, acc: float
) -> None:
    out = slew(prev, target, dt, acc)
    if acc == 0.0:
        assert out == target
    else:
        assert abs(out - prev) <= acc * dt + 1e-9
        assert min(prev, target) - 1e-9 <= out <= max(prev, target) + 1e-9
        if abs(target - prev) <= acc * dt:
            assert out == pytest.approx(target)


def test_first_sample_is_proportional_only_then_pid() -> None:
    g = PidGains(2.0, 1.0, 0.5, 0.0, 10.0)
    pid = Pid()
    assert pid.update(0.3, None, g) == pytest.approx(0.6)  # no I, no D on the first error
    out = pid.update(0.5, 0.1, g)  # P 1.0 + I 1.0*0.05 + D 0.5*(0.2/0.1)
    assert out == pytest.approx(1.0 + 0.05 + 1.0)
    with pytest.raises(ValueError, match="non-finite"):
        pid.update(float("nan"), 0.1, g)


@FAST
@given(
    st.lists(st.tuples(finite, st.floats(0.001, 0.5)), min_size=1, max_size=60),
    st.floats(0.0, 5.0),
    st.floats(0.1, 3.0),
    st.booleans(),
)
def test_pid_output_and_integral_stay_within_their_limits(
    errors: list[tuple[float, float]], ki: float, limit: float, integrate: bool
) -> None:
    g = PidGains(3.0, ki, 0.2, 0.01, limit)
    pid = Pid()
    for error, dt in errors:
        out = pid.update(error, dt, g, integrate=integrate)
        assert abs(out) <= limit + 1e-12
        assert abs(ki * pid.integral) <= limit + 1e-9  # anti-windup
        if not integrate:
            assert pid.integral == 0.0  # frozen (while AMBIGUOUS)


def test_limit_accel_applies_each_axis_limit() -> None:
    cfg = ControlConfig(
        yaw=PidGains(1, max_accel=2.0),
        pitch=PidGains(1, max_accel=0.0),
        forward=PidGains(1, max_accel=1.0),
    )
    out = limit_accel(FollowCommand(), FollowCommand(1.0, 1.0, 1.0), 0.1, cfg)
    assert out == FollowCommand(pytest.approx(0.2), 1.0, pytest.approx(0.1))


# ---------------------------------------------------------------- bearings
def test_bearing_signs_follow_rep103() -> None:
    assert CAM.bearing(320.0, 240.0) == (0.0, 0.0)
    yaw, pitch = CAM.bearing(420.0, 240.0)  # right of centre: turn right = negative yaw
    assert yaw == pytest.approx(-math.atan(100 / 500)) and pitch == 0.0
    yaw, pitch = CAM.bearing(320.0, 300.0)  # below: pitch down = positive about +y
    assert yaw == 0.0 and pitch == pytest.approx(math.atan(60 / 500))
    yaw, pitch = CAM.bearing(220.0, 180.0)
    assert yaw > 0 and pitch < 0


@FAST
@given(st.floats(0.0, 640.0), st.floats(0.0, 480.0), st.floats(0.25, 4.0))
def test_bearing_is_the_same_at_any_resolution(u: float, v: float, scale: float) -> None:
    """Bearings, not pixels: the same ray in a resized image gives the same angles."""
    big = CameraModel(500 * scale, 500 * scale, 320 * scale, 240 * scale, 640, 480)
    a, b = CAM.bearing(u, v), big.bearing(u * scale, v * scale)
    assert a == pytest.approx(b, abs=1e-9)


def test_plumb_bob_distortion_is_removed_before_the_bearing() -> None:
    d = (-0.25, 0.08, 0.001, -0.002, 0.0)
    cam = CameraModel(500.0, 500.0, 320.0, 240.0, 640, 480, d, "plumb_bob")
    k = np.array([[500.0, 0, 320.0], [0, 500.0, 240.0], [0, 0, 1]])
    ray = np.array([[[0.4, -0.25, 1.0]]])  # a known direction, projected with the distortion
    pix, _ = cv2.projectPoints(ray, np.zeros(3), np.zeros(3), k, np.asarray(d))
    u, v = pix[0, 0]
    yaw, pitch = cam.bearing(float(u), float(v))
    assert yaw == pytest.approx(math.atan2(-0.4, 1.0), abs=1e-4)
    assert pitch == pytest.approx(math.atan2(-0.25, math.hypot(1.0, 0.4)), abs=1e-4)
    plain = CameraModel(500.0, 500.0, 320.0, 240.0, 640, 480)
    assert abs(plain.bearing(float(u), float(v))[0] - yaw) > 0.01  # the distortion matters here
    odd = CameraModel(500.0, 500.0, 320.0, 240.0, 640, 480, (0.1,), "weird_model")
    assert odd.ignored_model == "weird_model" and odd.bearing(420.0, 240.0) == plain.bearing(
        420, 240
    )


@pytest.mark.parametrize(
    ("k", "size", "match"),
    [
        ([0.0] * 9, (640, 480), "fx, fy > 0"),
        ([500, 0, 320, 0, float("nan"), 240, 0, 0, 1], (640, 480), "fx, fy > 0"),
        ([500, 0, 320, 0, 500, 240, 0, 0, 1], (0, 480), "no image size"),
        ([500, 0, 320], (640, 480), "9 values"),
    ],
)
def test_unusable_camera_info_is_one_clear_error(
    k: list[float], size: tuple[int, int], match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        CameraModel.from_k(k, *size)


# ---------------------------------------------------------------- the control law
def test_yaw_and_pitch_commands_turn_towards_the_box() -> None:
    ctl, cfg = FollowController(), ControlConfig()
    cmd, err = ctl.update(_box(420.0, 300.0), CAM, cfg)
    assert cmd.yaw_rate < 0 and cmd.pitch_rate > 0  # right and below: turn right, pitch down
    assert cmd.yaw_rate == pytest.approx(cfg.yaw.kp * (err.yaw + cfg.yaw.deadband))
    assert cmd.forward == 0.0  # the first box sets the size set point


def test_forward_speed_holds_the_first_box_size() -> None:
    cfg = ControlConfig(forward=PidGains(1.0, max_output=0.5), bearing_cutoff=0.0)
    ctl = FollowController()
    ctl.update(_box(320.0, size=60.0, stamp=0), CAM, cfg)
    cmd, err = ctl.update(_box(320.0, size=40.0, stamp=33_000_000), CAM, cfg)  # further away
    assert err.size_error == pytest.approx(math.log(60 / 40)) and cmd.forward > 0
    cmd, _ = ctl.update(_box(320.0, size=90.0, stamp=66_000_000), CAM, cfg)  # too close
    assert cmd.forward == 0.0  # no reverse by default
    back = ControlConfig(forward=PidGains(1.0, max_output=0.5), allow_reverse=True)
    ctl2 = FollowController()
    ctl2.update(_box(320.0, size=60.0), CAM, back)
    cmd, _ = ctl2.update(_box(320.0, size=90.0, stamp=33_000_000), CAM, back)
    assert cmd.forward == pytest.approx(math.log(60 / 90))  # backs away
    fixed = ControlConfig(size_setpoint=0.25, forward=PidGains(1.0, max_output=5.0))
    _, err = FollowController().update(_box(320.0, size=60.0), CAM, fixed)
    assert err.size_error == pytest.approx(math.log(0.25 / (60 / 480)))


def test_forward_speed_fades_out_with_the_bearing() -> None:
    cfg = ControlConfig(
        size_setpoint=0.5, forward=PidGains(1.0, max_output=5.0), bearing_cutoff=0.3
    )
    on_axis, _ = FollowController().update(_box(320.0), CAM, cfg)
    aside, err = FollowController().update(_box(400.0), CAM, cfg)
    far, _ = FollowController().update(_box(600.0), CAM, cfg)
    assert on_axis.forward > aside.forward > 0 and far.forward == 0.0
    assert aside.forward == pytest.approx(on_axis.forward * (1 - abs(err.yaw) / 0.3))


def test_a_gap_between_boxes_starts_the_axes_afresh() -> None:
    cfg = ControlConfig(yaw=PidGains(1.0, 1.0, 1.0, 0.0, 10.0), max_dt=0.5)
    ctl = FollowController()
    ctl.update(_box(320.0, stamp=0), CAM, cfg)
    cmd, err = ctl.update(_box(420.0, stamp=2_000_000_000), CAM, cfg)  # 2 s later
    assert cmd.yaw_rate == pytest.approx(err.yaw)  # P only: no derivative kick, no integral


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_conventions_match_the_simulated_gimbal_in_a_closed_loop(sign: float) -> None:
    """The control law on the gimbal simulator with exact boxes: centred with the real signs,
    lost with the signs flipped (so REP-103 here and in simulation/gimbal.py agree)."""
    gimbal = make_gimbal(follow_scene(240), (480, 270))
    k = gimbal.intrinsics()
    cam = CameraModel(k.fx, k.fy, k.cx, k.cy, k.width, k.height)
    ctl, cfg = FollowController(), ControlConfig()
    view, seen, errors = gimbal.view(), [], []
    for i in range(239):
        pan = tilt = 0.0
        if not view.absent:
            x, y, w, h = view.box
            cmd, _ = ctl.update(
                TargetBox(i * 33_333_333, "t", x + w / 2, y + h / 2, w, h), cam, cfg
            )
            pan, tilt = sign * cmd.yaw_rate, sign * cmd.pitch_rate
            errors.append(abs(x + w / 2 - k.cx) / k.width)
        view = gimbal.step(pan, tilt, 1 / 30)
        seen.append(not view.absent)
    if sign > 0:
        assert np.mean(seen) == 1.0 and np.mean(errors) < 0.12
    else:
        assert np.mean(seen) < 0.5


# ---------------------------------------------------------------- parameters
def test_params_file_matches_the_table_and_its_defaults() -> None:
    doc = yaml.safe_load(Path(DEFAULT_PARAMS_FILE).read_text())["/**"]["ros__parameters"]

    def flat(d: dict, prefix: str = "") -> dict:
        out = {}
        for key, value in d.items():
            if isinstance(value, dict):
                out.update(flat(value, f"{prefix}{key}."))
            else:
                out[f"{prefix}{key}"] = value
        return out

    values = flat(doc)
    assert set(values) == {s.name for s in PARAMS}
    for spec in PARAMS:
        assert spec.check(spec.coerce(values[spec.name])) is None, spec.name
        assert values[spec.name] == spec.default, spec.name  # the file documents the defaults


def test_table_defaults_are_the_control_laws_and_every_number_has_a_range() -> None:
    s = FollowSettings.from_values({})
    assert s.control() == ControlConfig()
    safety = s.safety()
    assert safety.period_s == pytest.approx(0.05) and safety.timeout_s == 0.5
    for table in (PARAMS, SIM_PARAMS):
        for spec in table:
            assert spec.description.strip(), spec.name
            if isinstance(spec.default, (int, float)) and not isinstance(spec.default, bool):
                assert spec.range is not None, spec.name
    assert SimSettings.from_values({}).drive == "gimbal"
    with pytest.raises(ValueError, match="safety.on_ambiguous"):
        FollowSettings.from_values({"safety.on_ambiguous": "dance"})
    assert PARAMS.check_update(s.as_values(), {"input.reliability": "best_effort"}) is not None
    assert PARAMS.check_update(s.as_values(), {"yaw.kp": 1.0}) is None
