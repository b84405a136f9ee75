"""Robustness scenarios for test_node_robustness.py (issue 21): clock jumps, resolution changes,
oversized images and ``use_sim_time``, against the real ``tracker_node``. Each runs INSIDE the
loopback-only namespace (the test starts this script through ``run_isolated``) and writes
``result.json`` into its work folder; the assertions live in the test.

    python robust_scenarios.py <scenario> <workdir>
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from ros_fakes import textured_target_frames  # noqa: E402
from ros_scenarios import RELIABLE, Driver  # noqa: E402
from scenario_support import scenario_main  # noqa: E402

from siam_tracker_ros.ros.messages import (  # noqa: E402
    image_msg,
    init_target_msg,
    stamped_header,
    time_from_ns,
)

SEC = 1_000_000_000
SIZES = [(1280, 720)] * 12 + [(320, 240)] * 12 + [(640, 480)] * 12
#: init boxes that raised OverflowError, cv2.error, MemoryError or were accepted (issue 21.5)
BAD_BOXES = [(0, 0, 100, 1e300), (0, 0, 1e15, 1e15), (190, 111, 1e5, 50), (0, 0, 10000, 400)]


def _scene() -> tuple[list[np.ndarray], list[list[float]]]:
    """A textured square moving over a gradient, shown at 1280x720, then 320x240, then 640x480
    (the same view resized, as a camera driver switching modes would deliver it)."""
    images, boxes = textured_target_frames(
        len(SIZES), size=(720, 1280), box_size=160, step=(8.0, 4.0), start=(300.0, 200.0)
    )
    frames, truths = [], []
    for img, box, (w, h) in zip(images, boxes, SIZES, strict=True):
        sx, sy = w / 1280, h / 720
        frames.append(cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA))
        truths.append((box * np.array([sx, sy, sx, sy])).tolist())
    return frames, truths


class _Camera:
    """Publishes frames with stamps chosen by the scenario (to make the clock jump)."""

    def __init__(self, drv: Driver) -> None:
        from sensor_msgs.msg import Image

        self.drv = drv
        self.pub = drv.node.create_publisher(Image, "image", RELIABLE)
        self.sent: list[dict[str, Any]] = []

    def send(self, img: np.ndarray, stamp: int, truth: Any = None, wait: float = 0.12) -> None:
        self.pub.publish(image_msg(img, stamped_header(stamp, "cam")))
        self.sent.append({"stamp_ns": stamp, "w": img.shape[1], "h": img.shape[0], "truth": truth})
        self.drv.spin(wait)

    def send_raw(self, **fields: Any) -> None:
        from sensor_msgs.msg import Image

        self.pub.publish(Image(header=stamped_header(self.drv.now(), "cam"), **fields))
        self.drv.spin(0.1)


def _result(drv: Driver, cam: _Camera, out: dict[str, Any]) -> dict[str, Any]:
    out.update(
        detections=drv.rec.detections,
        statuses=drv.rec.statuses,
        diagnostics=drv.rec.diagnostics,
        sent=cam.sent,
        node_log=drv.proc.output(),
    )
    return out


def jump_and_resize(work: Path) -> dict[str, Any]:
    """Defaults (keep_tracking, rescale): a 4 GiB-step image and a 10 s backwards stamp jump
    mid-track, then 1280x720 -> 320x240 -> 640x480; a re-init stamped after the jump."""
    frames, truths = _scene()
    drv = Driver(work, "robust_driver", "", "")
    cam = _Camera(drv)
    out: dict[str, Any] = {}
    try:
        drv.wait_subscribed(cam.pub)
        t0 = drv.now()
        stamps = [t0 + i * 50_000_000 for i in range(6)]
        # the jump: stamps restart 10 s earlier (a looping bag / restarted driver)
        stamps += [t0 - 10 * SEC + i * 50_000_000 for i in range(len(frames) - 6)]
        out["jump_index"] = 6
        cam.send(frames[0], stamps[0], truths[0])
        drv.send_init(stamps[0], truths[0])
        for i in range(1, 4):
            cam.send(frames[i], stamps[i], truths[i])
        # issue 21.5: boxes the library could not handle; each one refused, the track goes on
        for box in BAD_BOXES:
            drv.init_pub.publish(_init(stamps[3], box, "bad"))
            drv.spin(0.1)
        for i in range(4, 6):
            cam.send(frames[i], stamps[i], truths[i])
        rss_before = _node_rss(drv)
        cam.send_raw(height=1, width=1, encoding="rgb8", step=4294967295, data=bytes(3))
        drv.spin(0.5)
        out["rss_mib"] = [rss_before, _node_rss(drv)]
        for i in range(6, 9):
            cam.send(frames[i], stamps[i], truths[i])
        # a re-init stamped on the new clock lands on its frame
        out["reinit_index"] = 8
        drv.init_pub.publish(_init(stamps[8], truths[8], "after-jump"))
        drv.spin(0.4)
        for i in range(9, len(frames)):
            cam.send(frames[i], stamps[i], truths[i])
        drv.spin(1.5)
        out["alive"] = drv.proc.running()
    finally:
        drv.close()
    return _result(drv, cam, out)


def lost_reset_sim_time(work: Path) -> dict[str, Any]:
    """``use_sim_time`` with a /clock publisher, input.on_resolution_change=lost and
    input.on_clock_jump=reset: a resize declares LOST with the reason; a new init tracks again;
    a simulator reset (/clock and stamps back to 1 s) stops the track (IDLE)."""
    from rosgraph_msgs.msg import Clock

    frames, truths = _scene()
    drv = Driver(
        work,
        "robust_sim_driver",
        "",
        "",
        "use_sim_time:=true",
        "input.on_resolution_change:=lost",
        "input.on_clock_jump:=reset",
    )
    cam = _Camera(drv)
    clock = drv.node.create_publisher(Clock, "/clock", RELIABLE)
    out: dict[str, Any] = {}

    def tick(stamp: int) -> None:
        clock.publish(Clock(clock=time_from_ns(stamp)))

    try:
        drv.wait_subscribed(cam.pub)
        sim = [500 * SEC + i * 100_000_000 for i in range(16)]
        sim += [505 * SEC + i * 100_000_000 for i in range(8)]
        tick(sim[0])
        drv.spin(0.3)
        cam.send(frames[0], sim[0], truths[0])
        drv.send_init(sim[0], truths[0])
        for i in range(1, 12):  # 1280x720, tracked
            tick(sim[i])
            cam.send(frames[i], sim[i], truths[i])
        for i in range(12, 16):  # 320x240: LOST with a reason
            tick(sim[i])
            cam.send(frames[i], sim[i], truths[i])
        # /diagnostics runs on the node clock (sim time): let 3 simulated seconds pass
        for k in range(1, 16):
            tick(sim[15] + k * 200_000_000)
            drv.spin(0.1)
        out["reinit_index"] = 16
        tick(sim[16])
        cam.send(frames[16], sim[16], truths[16])
        drv.init_pub.publish(_init(sim[16], truths[16], "again"))
        drv.spin(0.4)
        for i in range(17, 24):
            tick(sim[i])
            cam.send(frames[i], sim[i], truths[i])
        out["jump_at_status"] = len(drv.rec.statuses)
        for i in range(24, 30):  # simulator reset: /clock and stamps restart at 1 s
            stamp = 1 * SEC + (i - 24) * 100_000_000
            tick(stamp)
            cam.send(frames[i], stamp, truths[i])
        drv.spin(1.0)
        out["alive"] = drv.proc.running()
    finally:
        drv.close()
    return _result(drv, cam, out)


def _init(stamp: int, box: Any, track_id: str) -> Any:
    return init_target_msg(stamped_header(stamp, "cam"), box, track_id)


def _node_rss(drv: Driver) -> float:
    """The node's resident memory from its last /diagnostics (MiB; NaN before the first)."""
    drv.spin(1.2)
    values = [d["values"] for d in drv.rec.diagnostics if "rss_mib" in d["values"]]
    return float(values[-1]["rss_mib"]) if values else float("nan")


if __name__ == "__main__":
    raise SystemExit(
        scenario_main(
            {"jump_and_resize": jump_and_resize, "lost_reset_sim_time": lost_reset_sim_time}
        )
    )
