"""The user's command, for real: ``ros2 launch siam_tracker_ros tracker.launch.py`` (the venv laid
out as colcon does, scripts/ros_layout.py) tracking a replayed video (``ros2 run siam_tracker_ros
replay_node``: a real ../shared/data sequence when present, else a generated one) from a stamped
init, while ``ros2 node list``, ``ros2 topic list -t``, ``ros2 topic echo --once /status``,
``ros2 param set`` (output.min_score) and ``ros2 topic pub`` (re-init) act on it. Everything runs
in one loopback-only namespace; skipped when the ROS 2 tools are not installed in the venv."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scenario_support import LAID_OUT, NOT_LAID_OUT, ROOT, det_box, has_tool, run_scenario_script

from siam_tracker_ros.evaluation.metrics import iou
from siam_tracker_ros.testing.isolation import isolation_available

SCENARIOS = Path(__file__).with_name("ros_cli_scenarios.py")
TOOLS = has_tool("ros2", "launch_ros")
SHARED = Path(os.environ.get("SIAM_SHARED_DIR", ROOT.parent / "shared"))
#: a real pedestrian clip (OTB Crossing, 120 frames); the generated video when it is absent
REAL = SHARED / "data" / "sequences" / "Crossing"

pytestmark = [
    pytest.mark.ros,
    pytest.mark.slow,
    pytest.mark.skipif(not TOOLS, reason="ROS 2 CLI/launch not installed (scripts/setup_env.sh)"),
    pytest.mark.skipif(not LAID_OUT, reason=NOT_LAID_OUT),
]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    if not isolation_available():
        pytest.skip("no loopback-only namespace here")
    work = tmp_path_factory.mktemp("ros2_launch")
    source = str(REAL) if REAL.exists() else ""
    r = run_scenario_script(SCENARIOS, "launch", work, source, timeout=300)
    assert "error" not in r, r
    r["real"] = bool(source)
    return r


def _on_target(r: dict[str, Any], dets: list[dict[str, Any]]) -> float:
    index = {s: i for i, s in enumerate(r["stamps"])}
    boxes = np.asarray(r["boxes"])
    ious = [iou(det_box(d), boxes[index[d["stamp_ns"]]]) for d in dets]
    return float(np.mean(np.array(ious) > 0.5))


def test_ros2_launch_tracks_the_replayed_video_from_a_stamped_init(run: dict[str, Any]) -> None:
    log = run["launch_log"]
    assert "[tracker_node-1]" in log and "active: waiting for images on /camera/image_raw" in log
    assert "Traceback" not in log, log[-3000:]
    index = {s: i for i, s in enumerate(run["stamps"])}
    first = [d for d in run["detections"] if d["id"] == "track-1"]
    assert len(first) >= 8 and all(d["stamp_ns"] in index for d in first)
    assert min(index[d["stamp_ns"]] for d in first) > run["init_frame"]
    assert all(d["frame_id"] == "cam" for d in first)
    assert _on_target(run, first) >= 0.8, (run["real"], run["launch_log"][-2000:])


def test_rviz_argument_without_rviz2_is_one_log_line(run: dict[str, Any]) -> None:
    if not run["rviz_absent"]:
        pytest.skip("rviz2 is installed: rviz:=true would open its window")
    log = run["launch_log"]
    assert "rviz:=true, but rviz2 is not installed" in log and "Traceback" not in log, log
    import yaml

    rviz = yaml.safe_load((ROOT / "config" / "tracker.rviz").read_text())
    topics = {d["Topic"]["Value"] for d in rviz["Visualization Manager"]["Displays"]}
    assert {"/debug/image", "/debug/response"} <= topics


def test_ros2_node_topic_list_and_echo_status(run: dict[str, Any]) -> None:
    assert "/tracker_node" in run["nodes"].split()
    topics = run["topics"]
    for line in (
        "/detection [vision_msgs/msg/Detection2D]",
        "/detections [vision_msgs/msg/Detection2DArray]",
        "/status [siam_tracker_ros/msg/TrackerStatus]",
        "/camera/image_raw [sensor_msgs/msg/Image]",
    ):
        assert line in topics, topics
    echo = run["echo"]
    assert "state: 1" in echo and "track_id: track-1" in echo and "present: true" in echo, echo


def _applied_ns(log: str, text: str) -> int:
    """ROS time (ns) of the node's log line containing ``text``."""
    line = next(ln for ln in log.splitlines() if text in ln)
    return int(float(re.search(r"\[(\d+\.\d+)\]", line).group(1)) * 1e9)


def test_ros2_param_set_min_score_takes_effect_on_the_next_frame(run: dict[str, Any]) -> None:
    assert "Set parameter successful" in run["set_high"]["out"], run["set_high"]
    assert "Set parameter successful" in run["set_low"]["out"], run["set_low"]
    # from the CLI's return (the node had applied 1.0) to the node applying 0.0 again (the CLI
    # returns later: its process still has to exit)
    hi = run["set_high_done_ns"]
    lo = min(
        run["set_low_done_ns"],
        _applied_ns(run["launch_log"], "parameters updated: output.min_score=0.0"),
    )
    # statuses of frames processed in between: from the second received after the set (the
    # first may have been in flight); a score of exactly 1.0 still passes min_score 1.0
    during = [s for s in run["statuses"] if hi < s["received_ns"] < lo][1:]
    # the node goes on tracking (never IDLE; the long-term check may call a frame of this real
    # clip AMBIGUOUS or LOST), and publishes no box scored below 1.0
    assert during and all(s["state"] != 0 for s in during), [s["state"] for s in during]
    stamps = {s["stamp_ns"] for s in during if s["state"] == 1 and s["score"] < 1.0}
    assert len(stamps) >= 3, [(s["state"], s["score"]) for s in during]
    below = {s["stamp_ns"] for s in during if s["score"] < 1.0}
    assert not below & {d["stamp_ns"] for d in run["detections"]}
    arrays = {a["stamp_ns"]: a["ids"] for a in run["arrays"]}
    assert all(arrays.get(s) == [] for s in stamps)  # Detection2DArray: empty, still published
    assert any(d["received_ns"] > lo for d in run["detections"])  # back at min_score 0.0


def test_detection_array_and_track_id_stable_then_new_after_reinit(run: dict[str, Any]) -> None:
    assert run["reinit"]["rc"] == 0, run["reinit"]
    dets = run["detections"]
    ids = [d["id"] for d in dets]
    started = [ln for ln in run["launch_log"].splitlines() if "tracking track-" in ln]
    assert set(ids) == {"track-1", "track-2"}, (
        set(ids),
        f"re-init on frame {run['reinit_frame']} of {len(run['stamps'])} replayed",
        f"replay still running then: {run['replay_running_at_reinit']}",
        started,
    )
    switch = ids.index("track-2")
    assert all(i == "track-1" for i in ids[:switch]) and all(i == "track-2" for i in ids[switch:])
    assert dets[switch]["received_ns"] > run["reinit_sent_ns"]
    index = {s: i for i, s in enumerate(run["stamps"])}
    assert index[dets[switch]["stamp_ns"]] > run["reinit_frame"]
    second = dets[switch:]
    assert len(second) >= 5 and _on_target(run, second) >= 0.8
    # every Detection2D also went out in a Detection2DArray of the same frame (a re-init's
    # catch-up may publish the newest frame again, under the new id)
    arrays: dict[int, list[list[str]]] = {}
    for a in run["arrays"]:
        assert a["frame_id"] == "cam"
        arrays.setdefault(a["stamp_ns"], []).append(a["ids"])
    assert all([d["id"]] in arrays.get(d["stamp_ns"], []) for d in dets)


def test_lifecycle_shutdown_from_active_ends_node_and_launch(run: dict[str, Any]) -> None:
    assert "Transitioning successful" in run["shutdown"]["out"], run["shutdown"]
    assert run["launch_exited_by_itself"] and run["launch_rc"] == 0, run["launch_log"][-2000:]
    assert "process has finished cleanly" in run["launch_log"]
