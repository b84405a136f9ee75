"""The closed loop in real ROS 2 processes: ``sim_camera_node`` (a pan/tilt camera over footage,
simulated time on ``/clock``) -> ``tracker_node`` (the bundled model) -> ``follow_node`` -> the
simulator's gimbal, inside a loopback-only namespace (follow_scenarios.py ``closed_loop``).

Measured from the simulator's ground truth: with the follower on, the target is in view on at
least 95 % of the frames and the mean horizontal centring error is at most 15 % of the image
width; with the camera fixed (the open-loop baseline) the same footage loses the target, so the
first check can fail. On the generated scene (always) and on a real high-resolution sequence of
``../shared`` (skipped cleanly without it). The simulator paces itself by the loop's answers
(lockstep), so a loaded machine runs the same loop, only slower."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import SHARED
from scenario_support import run_scenario_script

from siam_tracker_ros.testing.isolation import isolation_available

pytestmark = [
    pytest.mark.ros,
    pytest.mark.skipif(not isolation_available(), reason="no loopback-only namespace here"),
]
SCENARIOS = Path(__file__).with_name("follow_scenarios.py")
#: a car among parked look-alikes filmed from a drone (UAVDT S1001, dev-videos, 1024x540, 153
#: frames): in a 384x216 window it drives out of a fixed view after about 3 s
REAL = SHARED / "data" / "dev-videos" / "uavdt_S1001_f201-353"
CASES = {
    "generated": ("", "480", "270", "240"),
    "real": (str(REAL), "384", "216", "153"),
}


def _run(tmp_path: Path, case: str, mode: str) -> dict[str, Any]:
    source, width, height, frames = CASES[case]
    if case == "real" and not REAL.exists():
        pytest.skip(f"{REAL} not present (../shared is optional)")
    r = run_scenario_script(
        SCENARIOS, "closed_loop", tmp_path / mode, source, width, height, frames, mode, timeout=240
    )
    assert r["rc"] == 0 and r["rows"] == int(frames), (r["sim_log"], r["logs"])
    return r


@pytest.mark.parametrize("case", ["generated", "real"])
def test_the_follower_keeps_the_target_centred_and_a_fixed_camera_loses_it(
    tmp_path: Path, case: str
) -> None:
    fixed = _run(tmp_path, case, "fixed")["summary"]
    assert fixed["in_view"] < 0.8, fixed  # the footage needs following
    r = _run(tmp_path, case, "follow")
    s = r["summary"]
    logs = r["logs"]
    assert s["in_view"] >= 0.95, (s, logs)
    assert s["mean_abs_error_x"] <= 0.15, (s, logs)
    # centred on the target, not a look-alike: (almost) every published box is on it; and most
    # frames have one (a frame the tracker calls LOST has none and the follower holds still)
    assert r["on_target"]["precision"] >= 0.95, (r["on_target"], s)
    assert r["on_target"]["coverage"] >= 0.7, (r["on_target"], s)
    # the loop really was closed: commands stamped with the frames they came from, for almost
    # every frame, and no frame waited out the lockstep timeout after the first (the init)
    assert s["latency_frames"] >= 0.9 * s["frames"], s
    assert s["paced_by"].get("timeout", 0) <= 3, s
    assert "following track-1" in logs["follow.log"], logs["follow.log"]
    assert "Traceback" not in "".join(logs.values()) + r["sim_log"]
