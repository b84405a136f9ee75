"""The real ``follow_node`` process, driven on simulated time by a test process that owns
``/clock`` and plays the tracker's part (follow_scenarios.py ``safety`` / ``sigint``, inside a
loopback-only namespace): every stop path publishes zero with its reason on ``/diagnostics``,
at the right node time; REP-103 signs on both outputs; run-time parameters with ranges."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from scenario_support import run_scenario_script

from siam_tracker_ros.testing.isolation import isolation_available

pytestmark = [
    pytest.mark.ros,
    pytest.mark.skipif(not isolation_available(), reason="no loopback-only namespace here"),
]
SCENARIOS = Path(__file__).with_name("follow_scenarios.py")
PERIOD, TIMEOUT = 0.05, 0.3  # as follow_scenarios.FOLLOW_ARGS sets them
KP, DEADBAND = 3.0, 0.01  # the defaults (config/follow.yaml)


@pytest.fixture(scope="module")
def safety(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    work = tmp_path_factory.mktemp("follow_safety")
    return run_scenario_script(SCENARIOS, "safety", work, timeout=120)


def _events(r: dict[str, Any], phase: str, kind: str) -> list[dict[str, Any]]:
    return [e for e in r["events"] if e["phase"] == phase and e["kind"] == kind]


def _stops(r: dict[str, Any], phase: str) -> list[dict[str, Any]]:
    return [d for d in _events(r, phase, "diag") if d["message"].startswith("stopped")]


def _moving(r: dict[str, Any], phase: str) -> list[dict[str, Any]]:
    return [c for c in _events(r, phase, "cmd") if c["yaw"] != 0.0 or c["forward"] != 0.0]


def test_no_target_means_zero(safety: dict[str, Any]) -> None:
    cmds = _events(safety, "idle", "cmd")
    assert len(cmds) >= 3 and not _moving(safety, "idle"), safety["log"][-2000:]
    assert _stops(safety, "idle")[0]["reason"] == "no_target"


def test_a_box_right_and_below_turns_right_and_pitches_down_on_both_outputs(
    safety: dict[str, Any],
) -> None:
    cmds, gimbal = _moving(safety, "follow"), _events(safety, "follow", "gimbal")
    assert cmds and all(c["yaw"] < 0 for c in cmds)
    moving = [g for g in gimbal if g["pan"] != 0.0]
    assert moving and all(g["pan"] < 0 < g["tilt"] for g in moving)
    assert {g["frame"] for g in moving} == {"cam"} and {g["stamp"] for g in moving} == {10.25}
    # the yaw rate is kp x bearing (through the intrinsics), reached through the 6 rad/s^2 ramp
    full = KP * (-math.atan(100 / 500) + DEADBAND)
    assert min(c["yaw"] for c in cmds) == pytest.approx(full, rel=1e-6)
    assert cmds[0]["yaw"] >= -6.0 * PERIOD - 1e-9  # the first step of the ramp


def test_stale_input_stops_within_one_control_period(safety: dict[str, Any]) -> None:
    stale = [d for d in _stops(safety, "follow") if d["reason"] == "stale"]
    assert stale and stale[0]["level"] == 1, safety["log"][-2000:]
    # the follower's own clock when it stopped: after the timeout, within one period of it
    assert 10.25 + TIMEOUT < stale[0]["stamp"] <= 10.25 + TIMEOUT + PERIOD + 1e-6
    after = [c for c in _events(safety, "follow", "cmd") if c["now"] > stale[0]["stamp"]]
    assert after and all(c["yaw"] == 0.0 for c in after)


def test_lost_stops_at_once(safety: dict[str, Any]) -> None:
    assert _moving(safety, "lost"), "the target was being followed before LOST"
    stops = _stops(safety, "lost_now")
    assert stops and stops[0]["reason"] == "lost" and stops[0]["level"] == 1
    assert stops[0]["stamp"] == pytest.approx(safety["lost_sent_at"])  # no clock tick needed
    cmds = _events(safety, "lost_now", "cmd")
    assert cmds and all(c["yaw"] == 0.0 for c in cmds)


@pytest.mark.parametrize(
    ("phase", "reason"), [("stale_arrival", "stale"), ("future", "future_stamp")]
)
def test_old_or_future_stamps_never_move(safety: dict[str, Any], phase: str, reason: str) -> None:
    assert not _moving(safety, phase)
    assert reason in {d["reason"] for d in _stops(safety, phase)}


def test_a_reinit_never_gets_commands_from_the_old_track(safety: dict[str, Any]) -> None:
    old = _moving(safety, "reinit_old")
    assert all(c["yaw"] > 0 for c in old)  # track-1 was on the left
    new = _events(safety, "reinit_new", "cmd")
    assert new[0]["yaw"] == 0.0  # zero on the new id, before anything else
    assert "new_track" in {d["reason"] for d in _stops(safety, "reinit_new")}
    moving = [c for c in new if c["yaw"] != 0.0]
    assert moving and all(c["yaw"] < 0 for c in moving)  # only track-2 (right) ever moves it
    stamps = {g["stamp"] for g in _events(safety, "reinit_new", "gimbal") if g["pan"] != 0.0}
    assert stamps <= {13.033, 13.066}
    last = [d for d in safety["events"] if d["kind"] == "diag"][-1]["values"]
    assert int(last["old_track_boxes_ignored"]) >= 1


def test_parameters_have_ranges_and_change_at_run_time(safety: dict[str, Any]) -> None:
    assert safety["describe_kp"]["range"] == [0.0, 100.0]
    assert "rad/s per rad" in safety["describe_kp"]["description"]
    assert safety["set_kp_range"][0] is False
    assert safety["set_static"][0] is False and "restart" in safety["set_static"][1]
    assert safety["set_no_accel"] == [True, ""] and safety["set_stop"] == [True, ""]
    # no ramp now: a fresh track's first box is kp x bearing at once
    first = _moving(safety, "tracking_first_box")
    assert first[0]["yaw"] == pytest.approx(KP * (-math.atan(100 / 500) + DEADBAND))


def test_ambiguous_slows_then_stops_when_set_to(safety: dict[str, Any]) -> None:
    tracking = _moving(safety, "tracking_first_box")[0]["yaw"]
    slowed = _moving(safety, "ambiguous_first_box")[0]["yaw"]
    assert slowed == pytest.approx(0.5 * tracking)
    assert not _moving(safety, "ambiguous_stop")
    assert "ambiguous" in {d["reason"] for d in _stops(safety, "ambiguous_stop")}


def test_disable_deactivate_and_shutdown_publish_zero(safety: dict[str, Any]) -> None:
    for before, phase, reason in (
        ("disable", "disabled", "disabled"),
        ("deactivate_before", "deactivated", "deactivated"),
        ("shutdown_before", "shutdown", "shutdown"),
    ):
        assert _moving(safety, before), before
        cmds = _events(safety, phase, "cmd")
        assert cmds and all(c["yaw"] == 0.0 for c in cmds), phase
        assert reason in {d["reason"] for d in _stops(safety, phase)}, phase
    assert safety["deactivate"] and safety["activate"] and safety["shutdown"]
    assert safety["exit_code"] == 0 and "Traceback" not in safety["log"]


def test_ctrl_c_publishes_zero_before_the_process_ends(tmp_path: Path) -> None:
    r = run_scenario_script(SCENARIOS, "sigint", tmp_path, timeout=60)
    assert not _moving(r, "no_camera_info")
    assert "no_camera_info" in {d["reason"] for d in _stops(r, "no_camera_info")}
    assert _moving(r, "moving"), r["log"][-2000:]
    cmds = _events(r, "sigint", "cmd")
    assert cmds and all(c["yaw"] == 0.0 for c in cmds)
    assert "shutdown" in {d["reason"] for d in _stops(r, "sigint")}
    assert r["exit_code"] == 0 and "Traceback" not in r["log"]
