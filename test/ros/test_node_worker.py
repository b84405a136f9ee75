"""The tracker node's worker loop survives a fault in any one turn (publishing and the notices
included): a throttled warning and on to the next frame, never a silent end of the thread; and
it ends on its own stop event, not on a flag the next activation sets again. The loop is run on
a stand-in of the node (no ROS context: nothing is started)."""

from __future__ import annotations

import threading
from types import SimpleNamespace
from typing import Any

from siam_tracker_ros.ros.diagnostics import TrackingStats
from siam_tracker_ros.ros.frame_buffer import Frame, LatestSlot
from siam_tracker_ros.ros.node import TrackerNode


def _node(turns: list[Any], stop: threading.Event, fail_at: set[int]) -> SimpleNamespace:
    warnings: list[tuple[str, str]] = []
    slot = LatestSlot()

    def work_once(frame: Frame | None, _stop: threading.Event) -> None:
        turns.append(frame)
        if len(turns) in fail_at:
            raise RuntimeError("publisher gone")
        if len(turns) >= 5:
            stop.set()
        slot.put(Frame(len(turns), None))

    slot.put(Frame(0, None))
    return SimpleNamespace(
        _slot=slot,
        _work_once=work_once,
        _stats=TrackingStats(),
        _warn=lambda kind, text: warnings.append((kind, text)),
        warnings=warnings,
    )


def test_a_fault_in_one_turn_is_a_warning_and_the_worker_goes_on() -> None:
    turns: list[Any] = []
    stop = threading.Event()
    node = _node(turns, stop, fail_at={2, 3})
    TrackerNode._work(node, stop)  # type: ignore[arg-type]
    assert len(turns) == 5  # on past the two faults, until its stop
    assert node._stats.track_errors == 2
    assert node.warnings == [("track", "tracker worker: RuntimeError: publisher gone")] * 2


def test_the_worker_ends_on_its_own_stop_event() -> None:
    turns: list[Any] = []
    stop = threading.Event()
    stop.set()  # stopped before its first turn: an older worker after a new activation
    node = _node(turns, stop, fail_at=set())
    TrackerNode._work(node, stop)  # type: ignore[arg-type]
    assert turns == []
