"""Use a second core only while it pays: pick a graph's thread count from its own recent run times.

Why: on two idle cores a second intra-op thread makes the search graph faster, but as soon as
another process holds the second core a multi-threaded run waits for its descheduled worker and
takes several times longer than a single-threaded one (docs/speed.md, *Threads*). A robot's CPU
also runs the camera driver and the rest of ROS, so neither fixed choice is right everywhere.

How: the backend keeps a session per thread count (1 and ``many``) and asks :class:`ThreadChoice`
which one to run. The choice is whichever had the lower median wall time over its last
``window`` runs (switching only for a gain of ``1 - margin`` or more, so it does not flap), and
the other one is run now and then to see whether things changed (a *probe*: the choice switches
when the probe's run beats the current choice's recent median): first every ``probe_min`` runs,
and each probe that confirms the current choice doubles the interval, up to ``probe_max``. A
probe also comes at once when the current choice's median rises above the other's last one.
Under sustained load the slow choice thus costs one run in up to ``probe_max``; when load comes
while the multi-threaded session is used, its median rises within a few runs, the one-thread
session is probed and taken. Everything is kept per ``key`` (the backend's search
size: costs differ by crop size). Nothing here knows about ONNX Runtime.
"""

from __future__ import annotations

import statistics
from collections import deque
from collections.abc import Hashable
from dataclasses import dataclass, field

__all__ = ["ThreadChoice"]


@dataclass
class _State:
    times: dict[int, deque[float]]
    current: int
    runs: int = 0
    probe_interval: int = 0
    since_probe: int = 0
    probing: bool = False
    warmed: bool = False
    switches: int = 0
    chosen: dict[int, int] = field(default_factory=dict)


class ThreadChoice:
    """Chooses between 1 thread and ``many`` per key from measured run times (see module doc).

    ``pick(key)`` before a run, ``record(key, threads, seconds)`` after it. ``warmup`` runs of
    each choice are taken first (alternating), the very first run of each is not counted (it
    plans memory)."""

    def __init__(
        self,
        many: int,
        window: int = 7,
        margin: float = 0.8,
        probe_min: int = 16,
        probe_max: int = 256,
        warmup: int = 3,
    ) -> None:
        if many < 2:
            raise ValueError(f"many must be >= 2 (threads to choose from: 1 and many), got {many}")
        if not 0.0 < margin <= 1.0:
            raise ValueError(f"margin must be in (0, 1], got {margin}")
        if window < 1 or warmup < 1 or probe_min < 2 or probe_max < probe_min:
            raise ValueError("need window >= 1, warmup >= 1 and 2 <= probe_min <= probe_max")
        self.choices = (1, many)
        self.window = window
        self.margin = margin
        self.probe_min = probe_min
        self.probe_max = probe_max
        self.warmup = warmup
        self._states: dict[Hashable, _State] = {}
        self._first: set[tuple[Hashable, int]] = set()

    def _state(self, key: Hashable) -> _State:
        state = self._states.get(key)
        if state is None:
            state = _State(
                times={t: deque(maxlen=self.window) for t in self.choices},
                current=self.choices[-1],
                probe_interval=self.probe_min,
            )
            self._states[key] = state
        return state

    def pick(self, key: Hashable) -> int:
        """The thread count to run ``key`` with now."""
        state = self._state(key)
        unmeasured = [t for t in self.choices if len(state.times[t]) < self.warmup]
        if not state.warmed and unmeasured:
            # warm-up: alternate, the least measured first
            return min(unmeasured, key=lambda t: len(state.times[t]))
        if state.since_probe >= state.probe_interval:
            state.probing = True
            return self._other(state.current)
        return state.current

    def record(self, key: Hashable, threads: int, seconds: float) -> None:
        """The wall time of a run of ``key`` with ``threads`` threads."""
        state = self._state(key)
        if (key, threads) not in self._first:
            self._first.add((key, threads))  # the first run plans memory: not a measure
            return
        if threads not in state.times:
            return
        state.times[threads].append(seconds)
        state.runs += 1
        state.chosen[threads] = state.chosen.get(threads, 0) + 1
        if not state.warmed:
            state.current = self._best(state, state.current, margin=1.0)
            state.warmed = all(len(state.times[t]) >= self.warmup for t in self.choices)
            return
        if state.probing and threads != state.current:
            # a probe: switch if this fresh run beats the current choice's recent median; either
            # way the probed choice's older times are stale now
            state.probing = False
            state.since_probe = 0
            state.times[threads].clear()
            state.times[threads].append(seconds)
            if seconds < self.margin * statistics.median(state.times[state.current]):
                self._switch(state, threads)
            else:
                state.probe_interval = min(2 * state.probe_interval, self.probe_max)
            return
        state.since_probe += 1
        if self._best(state, state.current) != state.current:
            # the current choice got slower than the other was when last measured: measure the
            # other now (one run) rather than trusting its old times
            state.since_probe = state.probe_interval

    @property
    def keys(self) -> list[Hashable]:
        """Every key run so far."""
        return list(self._states)

    def current(self, key: Hashable) -> int:
        """The thread count ``key`` runs with between probes."""
        return self._state(key).current

    def stats(self, key: Hashable) -> dict[str, float | int]:
        """Median seconds per choice, runs per choice and switches so far (benches, tests)."""
        state = self._state(key)
        out: dict[str, float | int] = {"switches": state.switches, "current": state.current}
        for t in self.choices:
            if state.times[t]:
                out[f"median_s_{t}"] = statistics.median(state.times[t])
            out[f"runs_{t}"] = state.chosen.get(t, 0)
        return out

    def _other(self, threads: int) -> int:
        return self.choices[0] if threads == self.choices[1] else self.choices[1]

    def _best(self, state: _State, current: int, margin: float | None = None) -> int:
        """``current`` unless the other choice's median is below ``margin`` times its own."""
        other = self._other(current)
        if not state.times[other] or not state.times[current]:
            return current
        m = self.margin if margin is None else margin
        mine = statistics.median(state.times[current])
        theirs = statistics.median(state.times[other])
        return other if theirs < m * mine else current

    def _switch(self, state: _State, threads: int) -> None:
        state.current = threads
        state.switches += 1
        state.since_probe = 0
        state.probe_interval = self.probe_min
