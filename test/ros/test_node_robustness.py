"""Issue 21 at node level: the real tracker_node (bundled model) inside a loopback-only network
namespace, fed by robust_scenarios.py: a backwards clock jump and a resolution change mid-track
(both policies), a 1x1 image declaring a 4 GiB step, and ``use_sim_time`` with a /clock."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scenario_support import det_box, run_scenario_script

from siam_tracker_ros.evaluation.metrics import iou
from siam_tracker_ros.testing.isolation import isolation_available

pytestmark = [
    pytest.mark.ros,
    pytest.mark.skipif(not isolation_available(), reason="no loopback-only namespace here"),
]
SCENARIOS = Path(__file__).with_name("robust_scenarios.py")


def _run(name: str, tmp_path: Path) -> dict[str, Any]:
    return run_scenario_script(SCENARIOS, name, tmp_path, timeout=120)


def test_clock_jump_and_resolution_change_keep_tracking(tmp_path: Path) -> None:
    r = _run("jump_and_resize", tmp_path)
    log, sent = r["node_log"], r["sent"]
    assert r["alive"], log[-3000:]
    index = {s["stamp_ns"]: i for i, s in enumerate(sent)}
    dets = [d for d in r["detections"] if d["stamp_ns"] in index]
    # the jump is logged once, and frames on the new clock are tracked at once
    assert log.count("jumped back by") == 1 and "following the new clock" in log, log[-3000:]
    jump = r["jump_index"]
    after_jump = sorted(index[d["stamp_ns"]] for d in dets if index[d["stamp_ns"]] >= jump)
    assert after_jump and after_jump[0] <= jump + 1, (after_jump, log[-3000:])
    # the re-init stamped after the jump found its frame
    assert "after-jump" in {d["id"] for d in dets}, log[-3000:]
    # each resolution change is logged once; the track goes on at every size, on target
    assert log.count("resolution changed 1280x720 -> 320x240") == 1, log[-3000:]
    assert log.count("resolution changed 320x240 -> 640x480") == 1, log[-3000:]
    for w in (320, 640):
        at = [d for d in dets if sent[index[d["stamp_ns"]]]["w"] == w]
        assert len(at) >= 8, (w, len(at), log[-3000:])
        ious = [iou(det_box(d), np.array(sent[index[d["stamp_ns"]]]["truth"])) for d in at]
        assert np.mean(np.array(ious) > 0.5) >= 0.9, (w, ious)
    # the bad init boxes were each refused with a reason and the first track went on
    assert log.count("init rejected") == 4, log[-3000:]
    assert "bad" not in {d["id"] for d in dets}
    first = [index[d["stamp_ns"]] for d in dets if d["id"] == "track-1"]
    assert any(i in first for i in (4, 5)), (first, log[-3000:])
    # the 4 GiB-step image was refused with one line and nothing was allocated for it
    assert "implies 4294967292 bytes of padding" in log, log[-3000:]
    before, after = r["rss_mib"]
    assert after - before < 100, r["rss_mib"]


def test_lost_and_reset_policies_under_sim_time(tmp_path: Path) -> None:
    r = _run("lost_reset_sim_time", tmp_path)
    log, sent, st = r["node_log"], r["sent"], r["statuses"]
    assert r["alive"], log[-3000:]
    index = {s["stamp_ns"]: i for i, s in enumerate(sent)}
    by_frame = {index[s["stamp_ns"]]: s for s in st if s["stamp_ns"] in index}
    # use_sim_time: latency is measured on the simulated clock, which the driver keeps equal
    # to the stamps (a wall-clock node would report ~1e12 ms here)
    tracked = [s for i, s in by_frame.items() if i < 12 and s["state"] == 1]
    assert len(tracked) >= 8 and all(abs(s["latency_ms"]) < 1000 for s in tracked), tracked
    # input.on_resolution_change=lost: LOST with the reason, in the log and in /diagnostics
    lost = [by_frame[i] for i in range(12, 16) if i in by_frame]
    assert lost and all(s["state"] == 2 and not s["present"] for s in lost), lost
    assert log.count("declared LOST (input.on_resolution_change=lost)") == 1, log[-3000:]
    reasons = [d["message"] for d in r["diagnostics"] if d["name"].endswith(": tracking")]
    assert any("target lost: resolution changed 1280x720 -> 320x240" in m for m in reasons), reasons
    # a new init at the new size tracks again
    again = [d for d in r["detections"] if d["id"] == "again"]
    assert len(again) >= 4, log[-3000:]
    # input.on_clock_jump=reset: the simulator reset stops the track; an IDLE status says so
    assert "stopped by a clock jump (input.on_clock_jump=reset)" in log, log[-3000:]
    later = st[r["jump_at_status"] :]
    assert any(s["state"] == 0 for s in later), later
    assert not [d for d in r["detections"] if d["stamp_ns"] < 100 * 10**9]
