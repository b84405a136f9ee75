"""Scenario for test_node_tunables.py: runs INSIDE the loopback-only namespace (started through
``run_isolated``) and writes ``result.json``; the assertions live in the test.

    python tunables_scenario.py tunables <workdir>

The real tracker_node (bundled model) is started with ``-p tracker.patience:=7``,
``tracker.detect_lost:=true`` and ``tracker.long_term:=false``; this driver reads
the ``tracker.*`` parameters, tries invalid changes, tracks a textured target, then raises the
lost/found thresholds above any presence and records the states before and after.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import rclpy

sys.path.insert(0, str(Path(__file__).parent))
from ros_fakes import textured_target_frames  # noqa: E402
from ros_scenarios import RELIABLE, Driver, set_param_sync  # noqa: E402
from scenario_support import scenario_main  # noqa: E402

from siam_tracker_ros.ros.messages import image_msg, stamped_header  # noqa: E402

NAMES = [
    "tracker.patience",
    "tracker.lost_threshold",
    "tracker.found_threshold",
    "tracker.search_while_lost",
    "tracker.window_influence",
    "tracker.detect_lost",
]


def get_params(drv: Driver, names: list[str]) -> dict[str, Any]:
    from rcl_interfaces.srv import GetParameters
    from rclpy.parameter import parameter_value_to_python

    client = drv.node.create_client(GetParameters, "/tracker_node/get_parameters")
    client.wait_for_service(timeout_sec=10)
    future = client.call_async(GetParameters.Request(names=names))
    rclpy.spin_until_future_complete(drv.node, future, timeout_sec=10)
    values = future.result().values
    return {n: parameter_value_to_python(v) for n, v in zip(names, values, strict=True)}


def transition(drv: Driver, label: str) -> bool:
    """A lifecycle transition of tracker_node by its label; whether it succeeded."""
    from lifecycle_msgs.msg import Transition
    from lifecycle_msgs.srv import ChangeState

    ids = {
        "configure": Transition.TRANSITION_CONFIGURE,
        "deactivate": Transition.TRANSITION_DEACTIVATE,
        "cleanup": Transition.TRANSITION_CLEANUP,
    }
    client = drv.node.create_client(ChangeState, "/tracker_node/change_state")
    client.wait_for_service(timeout_sec=10)
    future = client.call_async(ChangeState.Request(transition=Transition(id=ids[label])))
    rclpy.spin_until_future_complete(drv.node, future, timeout_sec=60)
    return bool(future.result() is not None and future.result().success)


def run(work: Path) -> dict[str, Any]:
    from sensor_msgs.msg import Image

    frames, boxes = textured_target_frames(40)
    drv = Driver(
        work,
        "tunables_driver",
        "",
        "",
        "tracker.patience:=7",
        "tracker.detect_lost:=true",
        # the presence thresholds under test decide LOST -> TRACKING only without the long-term
        # verification (with it, leaving LOST needs a verified candidate instead)
        "tracker.long_term:=false",
    )
    img_pub = drv.node.create_publisher(Image, "image", RELIABLE)
    out: dict[str, Any] = {"stamps": []}

    def send(i: int) -> None:
        stamp = drv.now()
        img_pub.publish(image_msg(frames[i], stamped_header(stamp, "cam")))
        out["stamps"].append(stamp)
        drv.spin(0.15)

    try:
        drv.wait_subscribed(img_pub)
        out["start"] = get_params(drv, NAMES)
        out["bad_cross"] = set_param_sync(drv.node, "tracker.lost_threshold", 0.95)
        out["bad_range"] = set_param_sync(drv.node, "tracker.window_influence", 1.5)
        out["bad_word"] = set_param_sync(drv.node, "tracker.search_while_lost", "wander")
        send(0)
        drv.send_init(out["stamps"][0], boxes[0])
        for i in range(1, 15):
            send(i)
        drv.spin(0.5)
        out["switch_at"] = len(out["stamps"])
        out["set_found"] = set_param_sync(drv.node, "tracker.found_threshold", 1.0)
        out["set_lost"] = set_param_sync(drv.node, "tracker.lost_threshold", 1.0)
        out["set_patience"] = set_param_sync(drv.node, "tracker.patience", 1)
        for i in range(15, 25):
            send(i)
        drv.spin(1.0)
        out["end"] = get_params(drv, NAMES)
        # another model through the lifecycle: its own defaults, except what a user set
        for label in ("deactivate", "cleanup"):
            out[label] = transition(drv, label)
        weights = Path(__file__).resolve().parents[2] / "siam_tracker_ros" / "weights"
        out["set_model"] = set_param_sync(
            drv.node, "model.checkpoint", str(weights / "siammargin_nano.pt")
        )
        out["configure"] = transition(drv, "configure")
        out["other_model"] = get_params(drv, NAMES)
    finally:
        drv.close()
    out.update(statuses=drv.rec.statuses, node_log=drv.proc.output())
    return out


if __name__ == "__main__":
    raise SystemExit(scenario_main({"tunables": run}))
