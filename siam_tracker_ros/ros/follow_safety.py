"""The follow node's safety rules as plain Python (no rclpy): which box may become a motion
command, and when the command must be zero, with the reason.

Why a separate, ROS-free module: these rules are what keeps a robot from chasing a stale or
phantom box, so every path is unit-tested (and fuzzed over random message orders) without ROS
processes; the node (:mod:`~siam_tracker_ros.ros.follow_node`) feeds it messages and the node
clock and publishes what it returns.

Rules (every time is the *node clock*, simulated time included, compared with *frame stamps*):

- A command comes only from a box whose tracker status for the same frame stamp says TRACKING
  or AMBIGUOUS and carries the same track id (``require_status``; without it a box alone counts,
  and a newer LOST/IDLE status still stops), that is newer than every box used before, and no
  older than ``timeout_s`` nor more than ``max_future_s`` ahead of the clock (a stamp from the
  future means the clocks disagree: ``use_sim_time`` missing, or unsynchronised machines).
- LOST or IDLE (or any unknown state) in the newest status: zero at once, on that message.
- No fresh box: the held command is republished at the control rate only while its box is
  younger than ``timeout_s``; the first tick after that publishes zero (so a stop comes within
  one control period of the timeout, whether boxes stopped coming or only old ones arrive).
- AMBIGUOUS: ``on_ambiguous="slow"`` scales the command by ``ambiguous_scale`` (integrals
  frozen: the box may be on a look-alike), ``"stop"`` stops.
- A new track id (re-initialisation) drops the held command and every pending box, resets the
  controller (and the size set point) and publishes zero before anything of the new track; a box
  of another id than the newest status's is never used.
- Stops are hard zeros (no acceleration ramp: a stop must be a stop; the robot's own controller
  brakes); the ramp applies when moving again, from zero.
- A backwards jump of the node clock (simulator reset, looping bag) forgets every stamp.
- Any input (box or status) stamped more than ``max_future_s`` ahead of the clock stops the
  command and is otherwise dropped, before it is remembered: one glitched stamp must not make
  every later good input look older than it (the follower would stay stopped until the clock
  caught up with the glitch).
- A box whose id ends in :data:`LOST_ID_SUFFIX` (the tracker's ``output.publish_lost``
  estimate while LOST) is never followed; without ``require_status`` a box alone never
  switches track while the newest status is of another track (statuses switch tracks).

Each stop has a reason code (:data:`REASONS`) that goes to ``/diagnostics``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from siam_tracker_ros.ros.follow_control import (
    ZERO,
    CameraModel,
    ControlConfig,
    FollowCommand,
    FollowController,
    TargetBox,
    TargetError,
    limit_accel,
)

__all__ = [
    "AMBIGUOUS",
    "IDLE",
    "LOST",
    "LOST_ID_SUFFIX",
    "REASONS",
    "TRACKING",
    "WARN_REASONS",
    "FollowSupervisor",
    "Output",
    "SafetyConfig",
    "TrackerReport",
]

#: ``TrackerStatus`` states (the values of ``core.result.TrackState``)
IDLE, TRACKING, LOST, AMBIGUOUS = 0, 1, 2, 3
_STATE_NAMES = {IDLE: "idle", TRACKING: "tracking", LOST: "lost", AMBIGUOUS: "ambiguous"}
#: the id suffix of the detection the tracker node publishes while LOST (``output.publish_lost``:
#: its last estimate, score 0, for debugging) -- never a box to follow
LOST_ID_SUFFIX = ":lost"

#: stop reason code -> what it means (``""`` is "following")
REASONS = {
    "no_target": "waiting for a tracked target",
    "no_camera_info": "no camera_info yet (bearings need the intrinsics)",
    "disabled": "follower disabled (enabled:=false)",
    "lost": "target lost (tracker status LOST)",
    "idle": "tracker idle (not tracking)",
    "ambiguous": "target ambiguous (safety.on_ambiguous=stop)",
    "stale": "no fresh detection within safety.timeout_s",
    "future_stamp": "input stamped ahead of the node clock (use_sim_time? clock sync?)",
    "low_score": "detection score below input.min_score",
    "bad_box": "detection box not usable (non-finite, empty, or not in the camera_info image)",
    "new_track": "new track id: controller reset",
    "deactivated": "node deactivated",
    "shutdown": "node shutting down",
}
#: reasons that are a safety event (WARN on /diagnostics); the others are normal idling
WARN_REASONS = frozenset({"lost", "ambiguous", "stale", "future_stamp", "low_score", "bad_box"})
_RECENT = 32  # statuses / pending boxes kept by stamp


@dataclass(frozen=True)
class SafetyConfig:
    """The safety settings (the node's ``safety.*``, ``input.*``, ``enabled``, control period)."""

    enabled: bool = True
    timeout_s: float = 0.5
    max_future_s: float = 0.1
    on_ambiguous: str = "slow"
    ambiguous_scale: float = 0.5
    require_status: bool = True
    min_score: float = 0.0
    zero_while_stopped: bool = True
    #: zeros published after a stop when ``zero_while_stopped`` is false
    zero_repeats: int = 3
    #: the control period (s): the longest time step the acceleration ramp counts at once
    period_s: float = 0.05

    def __post_init__(self) -> None:
        if self.on_ambiguous not in ("slow", "stop"):
            raise ValueError("on_ambiguous must be 'slow' or 'stop'")


@dataclass(frozen=True)
class TrackerReport:
    """What the follower reads of a ``TrackerStatus``."""

    stamp_ns: int
    state: int
    track_id: str


@dataclass(frozen=True)
class Output:
    """One command to publish (``publish`` False: nothing to send this time): the command, the
    stamp of the newest input it accounts for, the stop reason (``""`` while following), a
    one-line detail, whether the reason changed with it (a new stop goes to ``/diagnostics`` at
    once), the errors of the box it came from and its track id."""

    command: FollowCommand
    stamp_ns: int
    reason: str
    detail: str = ""
    changed: bool = False
    publish: bool = True
    error: TargetError | None = None
    #: the track the command comes from ("" for a stop)
    track_id: str = ""


@dataclass
class _Held:
    command: FollowCommand
    stamp_ns: int
    track_id: str
    error: TargetError


@dataclass
class _Counts:
    stops: Counter[str] = field(default_factory=Counter)
    commands: int = 0
    old_track_boxes: int = 0
    stale_boxes: int = 0
    unpaired_boxes: int = 0
    future_inputs: int = 0
    lost_boxes: int = 0


class FollowSupervisor:
    """The rules of the module doc over one stream of tracker messages (not thread-safe: the
    node calls it from its one executor thread)."""

    def __init__(self, safety: SafetyConfig, control: ControlConfig) -> None:
        self.safety = safety
        self.control = control
        self.controller = FollowController()
        self.camera: CameraModel | None = None
        self.counts = _Counts()
        self.reason = "no_target"
        self.detail = REASONS["no_target"]
        self.track_id: str | None = None
        self._forget()
        self._sent = ZERO
        self._sent_ns: int | None = None
        self._zeros = 0
        self._last_now: int | None = None
        self.note = ""

    def _forget(self) -> None:
        """Forget every stamp (start, clock jump)."""
        self._statuses: dict[int, TrackerReport] = {}
        self._boxes: dict[tuple[int, str], TargetBox] = {}  # waiting for their status
        self._newest_status: TrackerReport | None = None
        self._last_used_ns = -1
        self._newest_input_ns = 0
        self._held: _Held | None = None
        self.controller.reset()

    def restart(self) -> None:
        """Forget the tracks and stamps (the node is activated again): wait for a target, the
        camera and the counters kept."""
        self._forget()
        self.track_id = None
        self.reason, self.detail = "no_target", REASONS["no_target"]

    # ------------------------------------------------------------------ configuration
    def configure(self, safety: SafetyConfig, control: ControlConfig) -> None:
        """New settings (run-time parameter change): applied from the next message or tick."""
        self.safety, self.control = safety, control

    def set_camera(self, camera: CameraModel | None) -> None:
        """New intrinsics; None (an unusable camera_info) also drops the held command: the next
        tick stops."""
        self.camera = camera
        if camera is None:
            self._held = None

    @property
    def following(self) -> bool:
        return self.reason == ""

    # ------------------------------------------------------------------ inputs
    def on_status(self, report: TrackerReport, now_ns: int) -> Output | None:
        """A tracker status: stops on LOST / IDLE / (AMBIGUOUS with ``stop``), switches track on a
        new id, and completes a waiting box of the same stamp."""
        self._clock(now_ns)
        future = self._from_future(report.stamp_ns, now_ns, "status")
        if future is not None:
            return future
        newest = self._newest_status
        if newest is not None and report.stamp_ns < newest.stamp_ns:
            return None  # out of order: a newer status already decides
        self._newest_status = report
        self._statuses[report.stamp_ns] = report
        _trim(self._statuses)
        self._newest_input_ns = max(self._newest_input_ns, report.stamp_ns)
        switched = self._switch_track(report.track_id) if report.state != IDLE else False
        if report.state == LOST:
            return self._stop("lost", now_ns)
        if report.state == IDLE:
            return self._stop("idle", now_ns)
        if report.state not in (TRACKING, AMBIGUOUS):
            return self._stop("lost", now_ns, f"unknown tracker state {report.state}")
        if report.state == AMBIGUOUS and self.safety.on_ambiguous == "stop":
            return self._stop("ambiguous", now_ns)
        box = self._boxes.pop((report.stamp_ns, report.track_id), None)
        if box is not None:
            return self._follow(box, report.state, now_ns)
        if switched:
            return self._stop("new_track", now_ns, f"new track {report.track_id!r}")
        return None

    def on_box(self, box: TargetBox, now_ns: int) -> Output | None:
        """A detection: used at once when its status is known (or not required), else kept until
        the status of its frame arrives."""
        self._clock(now_ns)
        future = self._from_future(box.stamp_ns, now_ns, "detection")
        if future is not None:
            return future
        if box.track_id.endswith(LOST_ID_SUFFIX):
            self.counts.lost_boxes += 1
            return None
        if box.stamp_ns <= self._last_used_ns:
            return None  # a duplicate or out of order: never act on an older box
        newest = self._newest_status
        if not self.safety.require_status:
            if newest is not None and newest.track_id != box.track_id and newest.state != IDLE:
                self.counts.old_track_boxes += 1  # only a status switches to another track
                return None
            if newest is not None and newest.stamp_ns >= box.stamp_ns:
                if newest.state not in (TRACKING, AMBIGUOUS):
                    return None
            self._newest_input_ns = max(self._newest_input_ns, box.stamp_ns)
            status = self._statuses.get(box.stamp_ns)
            self._switch_track(box.track_id)
            return self._follow(box, status.state if status else TRACKING, now_ns)
        status = self._statuses.get(box.stamp_ns)
        if status is None:
            if newest is not None and box.stamp_ns < newest.stamp_ns:
                self.counts.unpaired_boxes += 1  # its status never came; a newer one decides
                return None
            self._boxes[(box.stamp_ns, box.track_id)] = box
            _trim(self._boxes)
            return None
        if newest is not None and status.stamp_ns < newest.stamp_ns:
            self.counts.unpaired_boxes += 1
            return None
        if box.track_id != status.track_id or box.track_id != self.track_id:
            self.counts.old_track_boxes += 1
            return None
        if status.state not in (TRACKING, AMBIGUOUS):
            return None
        return self._follow(box, status.state, now_ns)

    def tick(self, now_ns: int) -> Output | None:
        """The control timer: the held command while its box is fresh, else zero with the
        reason."""
        self._clock(now_ns)
        held = self._held
        if held is None:
            if self.camera is None and self.following:  # camera_info turned unusable
                return self._stop("no_camera_info", now_ns)
            if self.reason in ("lost", "idle", "ambiguous") and self._newest_status is not None:
                state = self._newest_status.state
                if state == TRACKING or (state == AMBIGUOUS and self.safety.on_ambiguous == "slow"):
                    return self._stop("stale", now_ns, "tracker says tracking, no box yet")
            return self._stop(self.reason or "stale", now_ns, self.detail)
        age = (now_ns - held.stamp_ns) / 1e9
        if age > self.safety.timeout_s:
            return self._stop(
                "stale",
                now_ns,
                f"no fresh detection for {age:.2f} s (safety.timeout_s={self.safety.timeout_s})",
            )
        if not self.safety.enabled:
            return self._stop("disabled", now_ns)
        return self._emit(held.command, now_ns, held.stamp_ns, held.track_id, held.error)

    def stop(self, reason: str, now_ns: int, detail: str = "") -> Output:
        """Stop from outside (disabled at run time, deactivate, shutdown)."""
        return self._stop(reason, now_ns, detail)

    # ------------------------------------------------------------------ internals
    def _clock(self, now_ns: int) -> None:
        """A backwards jump of the node clock (beyond the future tolerance) forgets every stamp:
        they belong to the old time line."""
        last = self._last_now
        if last is not None and now_ns + int(self.safety.max_future_s * 1e9) < last:
            self._forget()
        self._last_now = now_ns

    def _from_future(self, stamp_ns: int, now_ns: int, what: str) -> Output | None:
        """The stop for an input stamped more than ``max_future_s`` ahead of the clock (None for
        any other): counted, never remembered."""
        ahead = (stamp_ns - now_ns) / 1e9
        if ahead <= self.safety.max_future_s:
            return None
        self.counts.future_inputs += 1
        return self._stop("future_stamp", now_ns, f"{what} stamped {ahead:.3f} s ahead")

    def _switch_track(self, track_id: str) -> bool:
        """Make ``track_id`` the current track; True (and everything of the old one dropped) when
        it is a new one."""
        if track_id == self.track_id:
            return False
        self.track_id = track_id
        self._held = None
        self._sent = ZERO  # the new track ramps up from zero, never from the old one's command
        self._boxes = {k: b for k, b in self._boxes.items() if b.track_id == track_id}
        self.controller.reset()
        return True

    def _follow(self, box: TargetBox, state: int, now_ns: int) -> Output:
        s = self.safety
        self._last_used_ns = box.stamp_ns
        self._boxes = {k: b for k, b in self._boxes.items() if k[0] > box.stamp_ns}
        age = (now_ns - box.stamp_ns) / 1e9
        if not s.enabled:
            return self._stop("disabled", now_ns)
        if self.camera is None:
            return self._stop("no_camera_info", now_ns)
        if age > s.timeout_s:
            self.counts.stale_boxes += 1
            return self._stop("stale", now_ns, f"detection {age:.3f} s old on arrival")
        if not box.score >= s.min_score:  # NaN included
            return self._stop("low_score", now_ns, f"score {box.score:.2f} < {s.min_score:.2f}")
        if state == AMBIGUOUS and s.on_ambiguous == "stop":
            return self._stop("ambiguous", now_ns)
        try:
            command, error = self.controller.update(
                box, self.camera, self.control, integrate=state == TRACKING
            )
        except (ValueError, ArithmeticError) as exc:  # refused, or arithmetic past its range
            return self._stop("bad_box", now_ns, str(exc) or type(exc).__name__)
        self.note = ""
        if state == AMBIGUOUS:
            command = command.scaled(s.ambiguous_scale)
            self.note = f"ambiguous: commands scaled by {s.ambiguous_scale}"
        self._held = _Held(command, box.stamp_ns, box.track_id, error)
        self.counts.commands += 1
        return self._emit(command, now_ns, box.stamp_ns, box.track_id, error)

    def _emit(
        self, target: FollowCommand, now_ns: int, stamp_ns: int, track_id: str, error: TargetError
    ) -> Output:
        dt = 0.0 if self._sent_ns is None else (now_ns - self._sent_ns) / 1e9
        dt = min(max(dt, 0.0), self.safety.period_s)
        command = limit_accel(self._sent, target, dt, self.control)
        self._sent, self._sent_ns = command, now_ns
        detail = self.note or "following"
        changed = self.reason != "" or detail != self.detail  # a stop ended, or slowed / not
        self.reason, self.detail, self._zeros = "", detail, 0
        return Output(command, stamp_ns, "", self.detail, changed, True, error, track_id)

    def _stop(self, reason: str, now_ns: int, detail: str = "") -> Output:
        self._held = None
        self.controller.reset(keep_setpoint=reason not in ("new_track", "idle"))
        self._sent, self._sent_ns = ZERO, now_ns
        changed = reason != self.reason
        if changed:
            self.counts.stops[reason] += 1
            self._zeros = 0
        self.reason, self.detail = reason, detail or REASONS.get(reason, reason)
        self._zeros += 1
        publish = self.safety.zero_while_stopped or self._zeros <= self.safety.zero_repeats
        return Output(ZERO, self._newest_input_ns, reason, self.detail, changed, publish)

    # ------------------------------------------------------------------ monitoring
    def snapshot(self, now_ns: int) -> dict[str, Any]:
        """What ``/diagnostics`` shows: state, reason, track, input age, last command, counts."""
        held = self._held
        newest = self._newest_status
        values: dict[str, Any] = {
            "state": "following" if self.following else "stopped",
            "reason": self.reason or "-",
            "detail": self.detail,
            "track_id": self.track_id or "",
            "tracker_state": _STATE_NAMES.get(newest.state, "?") if newest else "-",
            "input_age_ms": (now_ns - held.stamp_ns) / 1e6 if held else float("nan"),
            "yaw_rate": self._sent.yaw_rate,
            "pitch_rate": self._sent.pitch_rate,
            "forward": self._sent.forward,
            "yaw_error_rad": held.error.yaw if held else float("nan"),
            "pitch_error_rad": held.error.pitch if held else float("nan"),
            "size_error": held.error.size_error if held else float("nan"),
            "commands": self.counts.commands,
            "old_track_boxes_ignored": self.counts.old_track_boxes,
            "stale_boxes_ignored": self.counts.stale_boxes,
            "unpaired_boxes_ignored": self.counts.unpaired_boxes,
            "future_inputs_ignored": self.counts.future_inputs,
            "lost_boxes_ignored": self.counts.lost_boxes,
            "camera_info": self.camera is not None,
        }
        for reason in REASONS:
            values[f"stops_{reason}"] = self.counts.stops.get(reason, 0)
        return values


def _trim(recent: dict[Any, Any]) -> None:
    """Keep the newest :data:`_RECENT` entries of a dict keyed by stamp (or stamp first)."""
    while len(recent) > _RECENT:
        del recent[min(recent)]
