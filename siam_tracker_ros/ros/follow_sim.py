"""The closed-loop simulator's world, ROS-free: the footage, the simulated pan/tilt camera over
it, the per-frame log and the measures a follow test asserts.

Why here and not in the node: the tests, the demo and the docs read the same log and compute
the same measures (target in view, horizontal centring error, loop latency) as the simulator
node writes them, and the generated scene must be the same everywhere. The node
(:mod:`~siam_tracker_ros.ros.sim_camera_node`) only adds ROS (clock, topics, pacing).

- :func:`follow_scene`: the small generated scene that always runs (no ``../shared``): a
  textured target sweeping left and right across a 1280x720 background, far enough that a fixed
  480x270 window loses it for about a third of the run.
- :func:`open_source`: a real sequence folder (``../shared/data`` layouts) or that scene, with an
  optional frame range.
- :class:`SimLog`: one CSV row per simulated frame (what the camera saw, the true box, the
  command applied, the latency from frame publication to the command derived from it).
- :func:`summarize`: the measures of a log.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Mapping
from collections.abc import Sequence as SequenceABC
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from siam_tracker_ros.datasets import FrameRange, Sequence, load_sequence
from siam_tracker_ros.simulation import GimbalCamera, SyntheticScene, VirtualCamera
from siam_tracker_ros.simulation.gimbal import GimbalState
from siam_tracker_ros.simulation.virtual_camera import View

__all__ = [
    "LOG_FIELDS",
    "SCENE_SIZE",
    "LogRow",
    "SimLog",
    "follow_scene",
    "make_gimbal",
    "open_source",
    "read_log",
    "summarize",
]

#: the generated scene's size (a "high-resolution" frame the window moves over)
SCENE_SIZE = (1280, 720)


def follow_scene(n_frames: int = 240, seed: int = 7, fps: float = 30.0) -> Sequence:
    """The generated follow scene: a 40x40 textured target on a sine sweep of +-300 px
    (period ``n_frames``) and +-80 px vertically (period ``n_frames / 2``) around the centre of
    a 1280x720 background. A fixed 480x270 window centred on the start sees it only while it is
    within about 260 px of the centre: about two thirds of the frames."""
    t = np.arange(n_frames, dtype=np.float64)
    centres = np.stack(
        [
            SCENE_SIZE[0] / 2 + 300.0 * np.sin(2 * np.pi * t / n_frames),
            SCENE_SIZE[1] / 2 + 80.0 * np.sin(4 * np.pi * t / n_frames),
        ],
        axis=1,
    )
    scene = SyntheticScene(
        n_frames=n_frames,
        size=SCENE_SIZE,
        target_size=(40, 40),
        centres=centres,
        seed=seed,
        fps=fps,
    )
    return Sequence(
        name=f"follow_scene_{seed}",
        frames=scene,
        groundtruth=scene.boxes.copy(),
        layout="synthetic",
    )


def open_source(
    path: str | Path | None, first: int = 0, frames: int = 0, *, scene_frames: int = 240
) -> Sequence:
    """The sequence at ``path`` (any layout :func:`~siam_tracker_ros.datasets.load_sequence`
    reads; ``None``: :func:`follow_scene` of ``scene_frames``), cut to ``frames`` frames from
    ``first`` (0-based; ``frames=0``: to the end). ``ValueError`` with one line for a bad range."""
    seq = follow_scene(scene_frames) if path is None else load_sequence(path)
    n = len(seq.groundtruth)
    if first < 0 or first >= n:
        raise ValueError(f"first frame {first} outside the sequence's {n} frames")
    count = n - first if frames <= 0 else frames
    if first + count > n:
        raise ValueError(f"frames {first}..{first + count - 1} past the sequence's {n} frames")
    if first == 0 and count == n:
        return seq
    return Sequence(
        name=seq.name,
        frames=FrameRange(seq.frames, first, count),
        groundtruth=seq.groundtruth[first : first + count],
        absent=seq.absent[first : first + count],
        layout=seq.layout,
        path=seq.path,
    )


def make_gimbal(
    seq: Sequence,
    size: tuple[int, int],
    *,
    zoom: float = 1.0,
    hfov_deg: float = 60.0,
    max_rate: float = 2.0,
    mapping: str = "linear",
) -> GimbalCamera:
    """The simulated pan/tilt camera over ``seq``, pointed at the target's first box."""
    camera = VirtualCamera.from_sequence(seq, size=size, zoom=zoom)
    return GimbalCamera(camera, hfov_deg=hfov_deg, max_rate=max_rate, mapping=mapping)  # type: ignore[arg-type]


#: columns of the simulator's CSV log
LOG_FIELDS = (
    "frame",
    "stamp_ns",
    "time_s",
    "source_index",
    "pan",
    "tilt",
    "window_cx",
    "window_cy",
    "truth_x",
    "truth_y",
    "truth_w",
    "truth_h",
    "absent",
    "visible",
    "error_x",
    "error_y",
    "cmd_pan_rate",
    "cmd_tilt_rate",
    "cmd_stamp_ns",
    "applied_pan_rate",
    "applied_tilt_rate",
    "latency_ms",
    "paced_by",
    "wait_ms",
)


@dataclass(frozen=True)
class LogRow:
    """One simulated frame: the view published (its stamp, true box, pointing) and the command
    applied over the following time step."""

    frame: int
    stamp_ns: int
    state: GimbalState
    view: View
    width: int
    height: int
    cmd: tuple[float, float]
    cmd_stamp_ns: int
    applied: tuple[float, float]
    latency_ms: float
    paced_by: str
    wait_ms: float

    def as_dict(self) -> dict[str, Any]:
        x, y, w, h = (float(v) for v in self.view.box)
        absent = bool(self.view.absent)
        err_x = float("nan") if absent else (x + w / 2 - self.width / 2) / self.width
        err_y = float("nan") if absent else (y + h / 2 - self.height / 2) / self.height
        return {
            "frame": self.frame,
            "stamp_ns": self.stamp_ns,
            "time_s": f"{self.state.time:.6f}",
            "source_index": self.view.index,
            "pan": f"{self.state.pan:.6f}",
            "tilt": f"{self.state.tilt:.6f}",
            "window_cx": f"{self.view.centre[0]:.3f}",
            "window_cy": f"{self.view.centre[1]:.3f}",
            "truth_x": f"{x:.2f}",
            "truth_y": f"{y:.2f}",
            "truth_w": f"{w:.2f}",
            "truth_h": f"{h:.2f}",
            "absent": int(absent),
            "visible": f"{self.view.visible:.3f}",
            "error_x": f"{err_x:.5f}",
            "error_y": f"{err_y:.5f}",
            "cmd_pan_rate": f"{self.cmd[0]:.6f}",
            "cmd_tilt_rate": f"{self.cmd[1]:.6f}",
            "cmd_stamp_ns": self.cmd_stamp_ns,
            "applied_pan_rate": f"{self.applied[0]:.6f}",
            "applied_tilt_rate": f"{self.applied[1]:.6f}",
            "latency_ms": f"{self.latency_ms:.3f}",
            "paced_by": self.paced_by,
            "wait_ms": f"{self.wait_ms:.3f}",
        }


class SimLog:
    """The CSV log (rows flushed as they are written, so a run stopped early keeps them); a
    no-op without a path."""

    def __init__(self, path: str | Path | None) -> None:
        self.path = Path(path) if path else None
        self._fh = None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = open(self.path, "w", newline="")  # noqa: SIM115 - closed in close()
            self._table = csv.DictWriter(self._fh, fieldnames=LOG_FIELDS)
            self._table.writeheader()

    def write(self, row: LogRow) -> None:
        if self._fh is not None:
            self._table.writerow(row.as_dict())
            self._fh.flush()

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


def read_log(path: str | Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def _floats(rows: Iterable[Mapping[str, str]], key: str) -> np.ndarray:
    return np.array([float(r[key]) for r in rows], dtype=np.float64)


def summarize(rows: SequenceABC[Mapping[str, str]], skip: int = 0) -> dict[str, Any]:
    """The measures of a log (rows after the first ``skip``): frames, share of frames with the
    target in view, mean and p95 absolute horizontal centring error (fraction of the image
    width, over frames in view), latency p50/p95/max (ms, frames with a command derived from
    them) and how the frames were paced."""
    rows = rows[skip:]
    if not rows:
        return {"frames": 0}
    absent = _floats(rows, "absent").astype(bool)
    err = np.abs(_floats(rows, "error_x"))[~absent]
    lat = _floats(rows, "latency_ms")
    lat = lat[np.isfinite(lat)]
    paced: dict[str, int] = {}
    for r in rows:
        paced[r["paced_by"]] = paced.get(r["paced_by"], 0) + 1

    def pct(values: np.ndarray, q: float) -> float:
        return float(np.percentile(values, q)) if values.size else math.nan

    return {
        "frames": len(rows),
        "in_view": float(np.mean(~absent)),
        "mean_abs_error_x": float(err.mean()) if err.size else math.nan,
        "p95_abs_error_x": pct(err, 95),
        "latency_p50_ms": pct(lat, 50),
        "latency_p95_ms": pct(lat, 95),
        "latency_max_ms": float(lat.max()) if lat.size else math.nan,
        "latency_frames": int(lat.size),
        "paced_by": paced,
    }


def main(argv: list[str] | None = None) -> int:
    """``python -m siam_tracker_ros.ros.follow_sim sim.csv [--skip N]``: the measures of a
    simulator log as JSON (in view, centring error, loop latency)."""
    import argparse
    import json

    p = argparse.ArgumentParser(prog="python -m siam_tracker_ros.ros.follow_sim")
    p.add_argument("csv", help="sim_camera_node's output.csv")
    p.add_argument("--skip", type=int, default=0, help="leave out the first N frames")
    args = p.parse_args(argv)
    print(json.dumps(summarize(read_log(args.csv), args.skip), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
