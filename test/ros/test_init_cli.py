"""``siam-tracker init``: start tracking on a running ``tracker_node`` from the shell.

The README's "Start on a live camera" block is run as written on the pip path (the venv's
``tracker_node``, ``replay_node`` and ``siam-tracker`` console scripts; no ``ros2`` tools) in a
loopback-only namespace: each ``siam-tracker init`` line must make the real node start TRACKING on
its box, and each mistake (no node, no camera, a box outside the frame, a bad box, a point far from
every detection, a stamp the node has not buffered) must be one stderr line with exit status 2 and
no new track. The command's parsing and its choice of detection are checked without ROS too.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scenario_support import ROOT, det_box, has_tool, run_scenario_script

from siam_tracker_ros.cli import main
from siam_tracker_ros.evaluation.metrics import iou
from siam_tracker_ros.ros.init_command import (
    logger_name,
    nearest_detection,
    parse_point,
    parse_stamp,
    refusal_reason,
)
from siam_tracker_ros.testing.isolation import isolation_available

SCENARIOS = Path(__file__).with_name("init_cli_scenarios.py")
README = ROOT / "README.md"
SECTION = "### Start on a live camera"
#: the README's `ros2 topic pub` init is run too where the ROS 2 CLI is installed
ROS2 = has_tool("ros2", "ros2topic")


def _section() -> str:
    text = README.read_text()
    start = text.index(SECTION)
    return text[start : text.index("\n#", start + len(SECTION))]


def ros2_pub_command() -> list[str]:
    """The section's ``ros2 topic pub`` example (an indented block; ``\\`` continues a line)."""
    block = re.search(r"\n    (ros2 topic pub .*?)\n(?!      )", _section(), flags=re.DOTALL)
    assert block is not None, "no `ros2 topic pub` example in the live-camera section"
    return shlex.split(block.group(1).replace("\\\n", " "))


def live_camera_commands() -> list[list[str]]:
    """The README section's ```bash block as argument lists (comments and a trailing ``&``
    dropped), after checking that it activates the venv first."""
    section = _section()
    block = re.search(r"```bash\n(.*?)```", section, flags=re.DOTALL)
    assert block is not None, "no ```bash block in the README's live-camera section"
    lines = [
        ln.split("#")[0].strip().removesuffix("&").strip() for ln in block.group(1).split("\n")
    ]
    commands = [shlex.split(ln) for ln in lines if ln]
    assert commands[0] == ["source", ".venv/bin/activate"], commands[0]
    return commands[1:]


def test_readme_block_starts_the_node_a_camera_and_both_kinds_of_init() -> None:
    commands = live_camera_commands()
    assert [c[0] for c in commands] == [
        "tracker_node",
        "replay_node",
        "siam-tracker",
        "siam-tracker",
    ]
    inits = [c for c in commands if c[0] == "siam-tracker"]
    assert any("--box" in c for c in inits) and any("--point" in c for c in inits)
    # the scenario's still scene puts its target where the README's box and point are
    from init_cli_scenarios import TARGET

    box = next(c for c in inits if "--box" in c)
    assert box[box.index("--box") + 1] == ",".join(str(v) for v in TARGET)
    point = next(c for c in inits if "--point" in c)
    px, py = parse_point(point[point.index("--point") + 1])
    x, y, w, h = TARGET
    assert x <= px <= x + w and y <= py <= y + h


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    if not isolation_available():
        pytest.skip("no loopback-only namespace here")
    work = tmp_path_factory.mktemp("init_cli")
    commands = work / "commands.json"
    commands.write_text(json.dumps(live_camera_commands()))
    ros2 = work / "ros2.json"
    ros2.write_text(json.dumps(ros2_pub_command()))
    args = [str(commands), str(ros2)] if ROS2 else [str(commands)]
    r = run_scenario_script(SCENARIOS, "live_camera", work, *args, timeout=600)
    assert r["node_active"], r["node_log"]
    assert r["camera_frames"], r["replay_log"]
    return r


def _one_line_ok(run: dict[str, Any]) -> str:
    assert run["rc"] == 0, run
    lines = run["out"].splitlines()
    assert len(lines) == 1 and not run["err"].strip(), run
    return lines[0]


@pytest.mark.ros
@pytest.mark.slow
def test_readme_init_commands_start_tracking_on_their_box(live: dict[str, Any]) -> None:
    target = np.array(live["target"], dtype=np.float64)
    for i, name in enumerate(("readme_0", "readme_1")):
        run = live["runs"][name]
        line = _one_line_ok(run)
        assert f"tracking track-{i + 1}, TRACKING" in line, line
        det = run["first_detection"]
        assert det is not None, (run, live["node_log"])
        assert iou(det_box(det), target) > 0.7, (det, target)
        assert run["states"][0] == 1, run["states"]  # TrackerStatus.TRACKING
    assert "on the newest 640x480 frame" in live["runs"]["readme_0"]["out"]
    assert "detection nearest (330, 260)" in live["runs"]["readme_1"]["out"]


@pytest.mark.ros
@pytest.mark.slow
def test_point_picks_the_detection_it_is_on(live: dict[str, Any]) -> None:
    run = live["runs"]["point_other"]
    _one_line_ok(run)
    det = run["first_detection"]
    assert det is not None and iou(det_box(det), np.array(live["other"], float)) > 0.7, det


@pytest.mark.ros
@pytest.mark.slow
def test_stamp_zero_starts_on_the_newest_frame(live: dict[str, Any]) -> None:
    run = live["runs"]["stamp_zero"]
    assert "stamp 0.000 s" in _one_line_ok(run)
    det = run["first_detection"]
    assert det is not None and iou(det_box(det), np.array(live["target"], float)) > 0.7, det


def test_the_readme_ros2_example_is_a_stamp_zero_init_on_the_readme_box() -> None:
    argv = ros2_pub_command()
    assert argv[:8] == [
        "ros2",
        "topic",
        "pub",
        "--once",
        "--keep-alive",
        "3",
        "/init_target",
        "siam_tracker_ros/msg/InitTarget",
    ]
    assert "stamp: {sec: 0, nanosec: 0}" in argv[8]
    from init_cli_scenarios import TARGET

    x, y, w, h = TARGET
    assert f"x: {x:.1f}, y: {y:.1f}, width: {w:.1f}, height: {h:.1f}" in argv[8], argv[8]


@pytest.mark.ros
@pytest.mark.slow
@pytest.mark.skipif(not ROS2, reason="ROS 2 CLI not installed (scripts/setup_env.sh)")
def test_readme_ros2_topic_pub_starts_tracking(live: dict[str, Any]) -> None:
    run = live["runs"]["ros2_pub"]
    assert run["rc"] == 0, run
    det = run["first_detection"]
    assert det is not None and iou(det_box(det), np.array(live["target"], float)) > 0.7, det


#: mistake -> what its one line says
MISTAKES = {
    "no_node": "no node subscribes to /nowhere/init_target",
    "no_camera": "no camera frame on /nocam",
    "box_outside": "outside the 640x480 image",
    "bad_box": "argument --box: '300,200,-60,120'",
    "far_point": "no detection within 50 px of (600, 450) on /detector/detections",
    "point_without_detections": "--point needs --detections",
    "stamp_not_buffered": "but the node refused it: no buffered frame within 20.0 ms of init "
    "stamp 5.000 s",
    "no_status": "no status publisher on /nostatus",
    # sent three times (each refusal logged: the node's init warnings come in a burst of 3)
    "stale_point": "but the node refused it: no buffered frame within 20.0 ms of init stamp",
}


@pytest.mark.ros
@pytest.mark.slow
@pytest.mark.parametrize("name", list(MISTAKES))
def test_each_mistake_is_one_line_with_status_2(live: dict[str, Any], name: str) -> None:
    run = live["runs"][name]
    lines = run["err"].splitlines()
    assert run["rc"] == 2 and len(lines) == 1 and not run["out"], run
    assert lines[0].startswith("siam-tracker init: error: "), lines[0]
    assert MISTAKES[name] in lines[0], lines[0]
    if name == "stale_point":  # resent twice on newer detections, then the node's reason
        assert lines[0].count("sent again: the node had no frame stamped") == 1, lines[0]
        assert len(re.findall(r"\d+\.\d{3} s", lines[0].split("sent again")[1])) == 2, lines[0]


@pytest.mark.ros
@pytest.mark.slow
def test_only_the_good_inits_started_tracks(live: dict[str, Any]) -> None:
    good = 5 if ROS2 else 4  # the README's two, the other object, --stamp 0, ros2 topic pub
    assert live["track_ids"] == [f"track-{i}" for i in range(1, good + 1)], live["node_log"]
    assert "init rejected: no buffered frame" in live["node_log"]  # the unbuffered stamp
    assert live["node_rc"] == 0, live["node_log"]


@pytest.fixture(scope="module")
def refusals(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    if not isolation_available():
        pytest.skip("no loopback-only namespace here")
    work = tmp_path_factory.mktemp("init_refusals")
    return run_scenario_script(SCENARIOS, "refusing_node", work, timeout=300)["runs"]


@pytest.mark.ros
@pytest.mark.slow
def test_an_init_the_node_lacked_the_frame_of_is_sent_again_on_a_newer_frame(
    refusals: dict[str, Any],
) -> None:
    """The node (scripted) logs that it has no frame with the init's stamp, twice: the command
    reads that on /rosout and sends the box again on the newest frame each time, and reports
    the track the third one started; every resend carries a newer stamp."""
    run = refusals["resend"]
    line = _one_line_ok(run)
    first, second, third = run["inits"]
    assert first < second < third, run["inits"]
    assert "tracking track-3, TRACKING" in line, line
    assert f"(sent again: the node had no frame stamped {first / 1e9:.3f} s, " in line, line
    assert f"{second / 1e9:.3f} s)" in line and f"stamp {third / 1e9:.3f} s" in line, line


@pytest.mark.ros
@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("bad_box", "box (700, 500, 40, 40) outside the 64x48 image"),
        ("given_stamp", "no buffered frame within 20.0 ms of init stamp 5.000 s"),
    ],
)
def test_a_refusal_no_newer_frame_mends_is_one_line_at_once(
    refusals: dict[str, Any], name: str, reason: str
) -> None:
    """A refusal for another reason, or of a stamp the operator gave, is not resent: one line
    with the node's own reason (read, not the 20-s wait's timeout) and exit status 2."""
    run = refusals[name]
    lines = run["err"].splitlines()
    assert run["rc"] == 2 and len(lines) == 1 and not run["out"], run
    assert f"but the node refused it: {reason}" in lines[0], lines[0]
    assert len(run["inits"]) == 1, run


@pytest.mark.ros
@pytest.mark.slow
def test_a_refusal_the_command_cannot_read_points_at_the_nodes_console(
    refusals: dict[str, Any],
) -> None:
    """A node whose log does not reach /rosout (``--disable-rosout-logs``) refuses the init:
    the command cannot read why, so after its timeout it says where the reason is instead of
    pointing at a log it cannot see."""
    run = refusals["quiet"]
    lines = run["err"].splitlines()
    assert run["rc"] == 2 and len(lines) == 1 and not run["out"], run
    assert "but no new track appeared on /status within 10 s" in lines[0], lines[0]
    assert "its console says why: its log does not reach /rosout here" in lines[0], lines[0]
    assert len(run["inits"]) == 1, run  # nothing read, so nothing sent again


# ------------------------------------------------------------------ without ROS processes
def test_parse_point_and_stamp() -> None:
    assert parse_point("330, 260") == (330.0, 260.0)
    assert parse_stamp("camera") == "camera"
    assert parse_stamp("0") == 0
    # decimal: a 19-digit epoch stamp keeps its nanoseconds
    assert parse_stamp("1733312345.123456789") == 1_733_312_345_123_456_789
    for bad in ("1,2,3", "a,b", "nan,1", "1"):
        with pytest.raises(Exception, match="x,y"):
            parse_point(bad)
    for bad in ("-1", "soon", "inf"):
        with pytest.raises(Exception, match="stamp"):
            parse_stamp(bad)


def test_the_nodes_refusal_is_read_from_its_log_line() -> None:
    """What the command reads on /rosout: the node's logger name (namespace dots) and the
    reason of the node's own refusal lines (ros/node.py), nothing from other lines."""
    assert logger_name("tracker_node", "/") == "tracker_node"
    assert logger_name("tracker_node", "/robot1/front") == "robot1.front.tracker_node"
    assert refusal_reason("init rejected: no buffered frame within 20.0 ms") == (
        "no buffered frame within 20.0 ms"
    )
    assert refusal_reason("tracker init failed (ValueError: x)") == (
        "tracker init failed (ValueError: x)"
    )
    assert refusal_reason("tracking track-1: box [1, 2, 3, 4]") is None


def test_nearest_detection_prefers_the_box_containing_the_point() -> None:
    big = (0.0, 0.0, 200.0, 200.0)
    small = (80.0, 80.0, 20.0, 20.0)
    far = (300.0, 300.0, 10.0, 10.0)
    pick = nearest_detection([big, small, far], (88.0, 88.0))
    assert pick is not None and pick.box == small and pick.distance == 0.0  # nested: nearer centre
    pick = nearest_detection([far, small], (140.0, 90.0))
    assert pick is not None and pick.box == small and pick.distance == pytest.approx(40.0)
    assert pick.candidates == 2
    assert nearest_detection([], (0.0, 0.0)) is None


def test_point_without_detections_is_one_line_before_any_ros(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["init", "--point", "1,2"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("siam-tracker init: error: --point needs")
    assert main(["init", "--point", "1,2", "--detections", "d", "--stamp", "0"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--stamp is for --box" in err


def test_an_invalid_namespace_is_one_line_before_any_node(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Checked before a node exists (rcl's refusal of the node printed a warning of its own)."""
    assert main(["init", "--box", "1,1,10,10", "--namespace", "bad-ns"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Invalid namespace" in err, err


def test_the_cli_without_init_needs_no_ros() -> None:
    """Building every command's parser (what ``siam-tracker track`` does first) imports no rclpy
    and no message package: ``init`` imports them only when it runs."""
    code = (
        "import sys; from siam_tracker_ros.cli import build_parser; build_parser(); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('rclpy', 'sensor_msgs', 'vision_msgs', 'std_msgs') or m == 'siam_tracker_ros.msg'))"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and res.stdout.strip() == "[]", res.stdout + res.stderr
