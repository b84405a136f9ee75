"""Scripted virtual-camera motions: a list of small segments -> a window centre (and occluders)
per frame, deterministic from a seed.

Why segments: each long-term situation worth measuring (the target leaves the view quickly or
slowly, stays away long, comes back from the other side, hides behind something) is one small,
separately testable piece, and a recipe composes them in order. Frames not covered by the list
follow the target.

- :class:`Follow`: the window follows the target smoothly (exponential moving average of its
  centre, ``follow_alpha`` per frame, held where the source has no box), kept inside the scene
  where the scene is larger than the window so no border fill shows while following.
- :class:`Glance` (quick pan away, hold, quick pan back), :class:`Drift` (slow linear drift out
  of view, hold, slow drift back), :class:`Absence` (a long absence: the window stays pointed
  away, wandering slowly), :class:`Reenter` (pan away to one side, then the view cuts to the
  other side and pans back, so the target re-enters from the opposite edge). While away the
  window is pointed at ``target centre + D`` along the pan axis (across it, where the follow
  centre is), with ``|D|`` = half the window + half the largest box of the segment + ``margin``,
  so the target stays out of view whatever it does; the transitions interpolate between the
  follow centre and that point (smoothstep, or linear for the drift).
- :class:`Occlude`: an occluder (solid colour, a patch of the same frame cut from elsewhere, or
  that patch blurred; a box around the target or a full band across the window) slides over
  the target, stays on it, and slides off to the other side, while the window follows.

All positions are scene pixels (the zoomed source, see
:mod:`~siam_tracker_ros.simulation.virtual_camera`). A small smooth hand-shake (``shake`` px,
seeded) is added to every frame, so window positions are sub-pixel like a real camera's.
Whether the target is visible is never assumed from the script: labels come from the geometry of
each rendered window (:meth:`VirtualCamera.label`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence as SequenceABC
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import numpy as np

from siam_tracker_ros.simulation.virtual_camera import Occluder, OccluderKind, VirtualCamera

__all__ = [
    "MOTIONS",
    "Absence",
    "Drift",
    "Follow",
    "Glance",
    "Motion",
    "Occlude",
    "Reenter",
    "Script",
    "motion_from_dict",
    "plan",
]

Direction = Literal["auto", "left", "right", "up", "down"]
_UNIT: dict[str, tuple[float, float]] = {
    "left": (-1.0, 0.0),
    "right": (1.0, 0.0),
    "up": (0.0, -1.0),
    "down": (0.0, 1.0),
}


def _check_counts(name: str, **counts: int) -> None:
    for key, value in counts.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ValueError(f"{name}.{key}: must be a whole number >= 0, got {value!r}")
    if sum(counts.values()) < 1:
        raise ValueError(f"{name}: lasts no frame")


def _check_direction(name: str, direction: str) -> None:
    if direction != "auto" and direction not in _UNIT:
        raise ValueError(f"{name}.direction: must be auto, left, right, up or down")


@dataclass(frozen=True)
class Follow:
    """Follow the target smoothly for ``frames`` frames."""

    frames: int
    name: ClassVar[str] = "follow"

    def __post_init__(self) -> None:
        _check_counts(self.name, frames=self.frames)


@dataclass(frozen=True)
class _Away:
    """Point the window away (``out`` frames), stay away (``hold``), come back (``back``).

    ``direction`` is where the window pans (the target leaves at the opposite edge); ``auto``
    picks left or right, whichever keeps more of the away window inside the footage (seeded on
    a tie). ``wander``: amplitude in pixels of a slow seeded wander while away (across the pan
    axis, and further out along it, never back towards the target).
    """

    out: int = 6
    hold: int = 30
    back: int = 6
    direction: Direction = "auto"
    wander: float = 0.0
    name: ClassVar[str] = "away"
    linear: ClassVar[bool] = False
    reenter: ClassVar[bool] = False

    def __post_init__(self) -> None:
        _check_counts(self.name, out=self.out, hold=self.hold, back=self.back)
        _check_direction(self.name, self.direction)
        if not (np.isfinite(self.wander) and self.wander >= 0):
            raise ValueError(f"{self.name}.wander: must be >= 0")

    @property
    def frames(self) -> int:
        return self.out + self.hold + self.back


@dataclass(frozen=True)
class Glance(_Away):
    """Glance away: a quick pan until the target is out of view, a hold, a quick pan back."""

    name: ClassVar[str] = "glance"


@dataclass(frozen=True)
class Drift(_Away):
    """Slow drift out of view and back: linear, so the target spends many frames at the edge,
    partly visible, before it is gone (and again on the way back)."""

    out: int = 60
    hold: int = 10
    back: int = 60
    name: ClassVar[str] = "drift"
    linear: ClassVar[bool] = True


@dataclass(frozen=True)
class Absence(_Away):
    """A long absence: pan away and stay away for ``hold`` frames (default 120), wandering."""

    out: int = 8
    hold: int = 120
    back: int = 10
    wander: float = 24.0
    name: ClassVar[str] = "absence"


@dataclass(frozen=True)
class Reenter(_Away):
    """Re-entry on the other side: pan away (the target leaves at one edge), hold, then the
    view cuts to the mirror position and pans back, so the target enters from the opposite
    edge. ``back`` >= 1 (the re-entry is that pan)."""

    back: int = 10
    name: ClassVar[str] = "reenter"
    reenter: ClassVar[bool] = True

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.back < 1:
            raise ValueError("reenter.back: must be >= 1 (the pan the target re-enters by)")


@dataclass(frozen=True)
class Occlude:
    """An occluder slides over the target (``enter`` frames), covers it (``hold``), slides off
    to the other side (``exit``), while the window follows.

    ``kind``: ``solid`` (a flat seeded colour), ``patch`` (texture of the same frame from
    elsewhere), ``blur`` (that texture blurred). ``shape``: ``box`` (``cover`` times the largest
    target box of the segment) or ``band`` (a strip across the whole window, ``cover`` times the
    target's width or height). ``direction``: where the occluder moves (``auto``: left or right,
    seeded).
    """

    enter: int = 6
    hold: int = 30
    exit: int = 6
    kind: OccluderKind = "solid"
    shape: Literal["box", "band"] = "box"
    direction: Direction = "auto"
    cover: float = 1.3
    name: ClassVar[str] = "occlude"

    def __post_init__(self) -> None:
        _check_counts(self.name, enter=self.enter, hold=self.hold, exit=self.exit)
        _check_direction(self.name, self.direction)
        if self.kind not in ("solid", "patch", "blur"):
            raise ValueError("occlude.kind: must be solid, patch or blur")
        if self.shape not in ("box", "band"):
            raise ValueError("occlude.shape: must be box or band")
        if not (np.isfinite(self.cover) and self.cover >= 1.0):
            raise ValueError("occlude.cover: must be >= 1 (the occluder is at least the box)")

    @property
    def frames(self) -> int:
        return self.enter + self.hold + self.exit


Motion = Follow | Glance | Drift | Absence | Reenter | Occlude

#: recipe key -> motion class
MOTIONS: dict[str, type[Any]] = {
    cls.name: cls for cls in (Follow, Glance, Drift, Absence, Reenter, Occlude)
}


def motion_from_dict(entry: dict[str, Any]) -> Motion:
    """A motion from its recipe form ``{name: {field: value, ...}}`` (e.g. ``{"glance":
    {"hold": 30}}``); unknown names or fields are an error naming them."""
    if not isinstance(entry, dict) or len(entry) != 1:
        raise ValueError(f"a motion is one mapping {{name: {{fields}}}}, got {entry!r}")
    ((name, params),) = entry.items()
    cls = MOTIONS.get(name)
    if cls is None:
        raise ValueError(f"unknown motion {name!r}; known: {', '.join(sorted(MOTIONS))}")
    params = dict(params or {})
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(params) - known)
    if unknown:
        raise ValueError(f"{name}: unknown field(s) {unknown}; known: {sorted(known)}")
    motion: Motion = cls(**params)
    return motion


@dataclass
class Script:
    """A planned camera path: per frame the window centre (scene pixels) and the occluders;
    ``segments`` records each motion as planned (0-based first/last frame, resolved direction,
    distances), for the SOURCE.txt of generated material."""

    centres: np.ndarray
    occluders: list[tuple[Occluder, ...]]
    segments: list[dict[str, Any]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.centres)


def _smooth_noise(rng: np.random.Generator, n: int, sigma: float) -> np.ndarray:
    """``(n, 2)`` Gaussian-filtered white noise with unit standard deviation per axis."""
    radius = int(np.ceil(3 * sigma))
    raw = rng.standard_normal((n + 2 * radius, 2))
    kernel = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    smooth = np.stack([np.convolve(raw[:, k], kernel, mode="valid") for k in range(2)], axis=1)
    return smooth / max(float(smooth.std()), 1e-9) if n > 1 else np.zeros((n, 2))


def _fill(values: np.ndarray, missing: np.ndarray) -> np.ndarray:
    """Rows of ``values`` where ``missing`` taken from the last present row (the first present
    row before any)."""
    present = np.flatnonzero(~missing)
    if present.size == 0:
        raise ValueError("the source has no target box on any frame")
    idx = np.maximum.accumulate(np.where(missing, 0, np.arange(len(values))))
    idx[: present[0]] = present[0]
    return values[idx]


def _smoothstep(t: float) -> float:
    t = min(max(t, 0.0), 1.0)
    return t * t * (3.0 - 2.0 * t)


def _phase(k: int, first: int, middle: int, last: int, linear: bool) -> tuple[float, bool]:
    """``(weight of the away/cover position, in the last part)`` at frame ``k`` of a three-part
    segment: rises over ``first`` frames, 1 over ``middle``, falls over ``last``."""
    ease = (lambda t: min(max(t, 0.0), 1.0)) if linear else _smoothstep
    if k < first:
        return ease((k + 1) / first), False
    if k < first + middle:
        return 1.0, False
    return 1.0 - ease((k - first - middle + 1) / last), True


class _Planner:
    def __init__(
        self,
        camera: VirtualCamera,
        seed: int,
        follow_alpha: float,
        shake: float,
        margin: float,
    ) -> None:
        if not 0.0 < follow_alpha <= 1.0:
            raise ValueError(f"follow_alpha must be in (0, 1], got {follow_alpha}")
        if not (np.isfinite(shake) and shake >= 0 and np.isfinite(margin) and margin >= 0):
            raise ValueError("shake and margin must be >= 0")
        boxes, absent = camera.targets()
        self.n = len(boxes)
        self.window = np.array(camera.size, dtype=np.float64)
        self.scene = np.array(camera.scene_size, dtype=np.float64)
        self.sizes = _fill(boxes[:, 2:], absent)
        self.target = _fill(boxes[:, :2] + boxes[:, 2:] / 2.0, absent)
        self.boxes, self.absent = boxes, absent
        self.margin = float(margin)
        self.rng = np.random.default_rng(seed)
        follow = np.empty_like(self.target)
        follow[0] = self.target[0]
        for i in range(1, self.n):
            follow[i] = follow[i - 1] + follow_alpha * (self.target[i] - follow[i - 1])
        half = self.window / 2.0
        # stay inside the footage while following where it is larger than the window
        low = np.where(self.scene >= self.window, half, self.scene / 2.0)
        high = np.where(self.scene >= self.window, self.scene - half, self.scene / 2.0)
        self.follow = np.clip(follow, low, high)
        self.shake = _smooth_noise(self.rng, self.n, sigma=6.0) * shake
        self.centres = self.follow + self.shake
        self.occluders: list[tuple[Occluder, ...]] = [() for _ in range(self.n)]

    def _overflow(self, centre: np.ndarray) -> float:
        """Pixels of a window centred on ``centre`` that lie outside the scene (per axis sum)."""
        half = self.window / 2.0
        return float(
            np.maximum(0.0, half - centre).sum() + np.maximum(0.0, centre + half - self.scene).sum()
        )

    def _pick(self, direction: str, candidates: list[tuple[str, float]]) -> str:
        """``direction``, or for ``auto`` the candidate of least cost (seeded on a tie)."""
        u = float(self.rng.random())  # drawn always, so one choice never shifts the others
        if direction != "auto":
            return direction
        best = min(cost for _, cost in candidates)
        ties = [name for name, cost in candidates if cost <= best + 1.0]
        return ties[min(int(u * len(ties)), len(ties) - 1)]

    def away(self, m: _Away, i0: int) -> dict[str, Any]:
        frames = slice(i0, i0 + m.frames)
        half_box = self.sizes[frames].max(axis=0) / 2.0
        wander = _smooth_noise(self.rng, m.frames, sigma=15.0) * m.wander

        def distance(unit: np.ndarray) -> float:
            axis = int(np.flatnonzero(unit)[0])
            return float(self.window[axis] / 2.0 + half_box[axis] + self.margin)

        costs = []
        for name in ("left", "right"):
            unit = np.array(_UNIT[name])
            costs.append((name, self._overflow(self.target[i0] + unit * distance(unit))))
        direction = self._pick(m.direction, costs)
        unit = np.array(_UNIT[direction])
        d = distance(unit)
        perp = np.abs(np.array([unit[1], unit[0]]))
        for k in range(m.frames):
            i = i0 + k
            s, returning = _phase(k, m.out, m.hold, m.back, m.linear)
            along = unit * (d + abs(wander[k, 0]))
            if m.reenter and returning:
                along = -along  # the cut: the window now stands on the target's other side
            # along the pan axis: the target's position + the offset; across it: where the
            # (footage-bounded) follow centre is, so pointing away adds no fill across the axis
            away = np.abs(unit) * (self.target[i] + along) + perp * (self.follow[i] + wander[k, 1])
            self.centres[i] = (1.0 - s) * self.follow[i] + s * away + self.shake[i]
        return {"direction": direction, "distance": round(d, 1)}

    def occlude(self, m: Occlude, i0: int) -> dict[str, Any]:
        frames = slice(i0, i0 + m.frames)
        box = self.sizes[frames].max(axis=0)
        horizontal = ("left", 0.0), ("right", 0.0)
        direction = self._pick(m.direction, list(horizontal))
        unit = np.array(_UNIT[direction])
        axis = int(np.flatnonzero(unit)[0])
        size = box * m.cover
        if m.shape == "band":  # across the whole window, perpendicular to the motion
            size[1 - axis] = self.window[1 - axis] + 2.0
        slide = size[axis] / 2.0 + box[axis] / 2.0 + self.margin
        # texture from beside the target, on the side with more footage
        step = np.zeros(2)
        step[axis] = size[axis] + box[axis] + 2.0 * self.margin
        sides = [
            ("-", self._overflow(self.target[i0] - step)),
            ("+", self._overflow(self.target[i0] + step)),
        ]
        side = self._pick("auto", sides)
        offset = step if side == "+" else -step
        colour = tuple(int(c) for c in self.rng.integers(30, 226, size=3))
        sigma = max(2.0, 0.15 * float(min(size)))
        for k in range(m.frames):
            i = i0 + k
            if self.absent[i]:
                continue
            s, leaving = _phase(k, m.enter, m.hold, m.exit, linear=False)
            shift = (1.0 - s) * slide * (1.0 if leaving else -1.0)
            origin = self.centres[i] - self.window / 2.0
            centre = self.target[i] - origin + unit * shift
            if m.shape == "band":
                centre[1 - axis] = self.window[1 - axis] / 2.0
            x0, y0 = np.round(centre - size / 2.0).astype(int)
            x1, y1 = np.round(centre + size / 2.0).astype(int)
            occ = Occluder(
                (int(x0), int(y0), int(x1 - x0), int(y1 - y0)),
                kind=m.kind,
                colour=(colour[0], colour[1], colour[2]),
                offset=(float(offset[0]), float(offset[1])),
                sigma=sigma,
            )
            self.occluders[i] = (*self.occluders[i], occ)
        return {
            "direction": direction,
            "kind": m.kind,
            "shape": m.shape,
            "size": [round(float(v), 1) for v in size],
            "texture_offset": [round(float(v), 1) for v in offset],
        }


def plan(
    camera: VirtualCamera,
    motions: SequenceABC[Motion],
    *,
    seed: int,
    follow_alpha: float = 0.15,
    shake: float = 1.0,
    margin: float = 8.0,
) -> Script:
    """The window path of ``motions`` (in order, from frame 0; frames after the last one follow)
    over ``camera``'s source. The motions must fit in the source; same inputs, same script."""
    planner = _Planner(camera, seed, follow_alpha, shake, margin)
    segments: list[dict[str, Any]] = []
    i = 0
    for k, m in enumerate(motions):
        if i + m.frames > planner.n:
            raise ValueError(
                f"motion {k} ({m.name}) would end at frame {i + m.frames}, but the source has "
                f"{planner.n} frames"
            )
        info: dict[str, Any] = {"motion": m.name, "first": i, "last": i + m.frames - 1}
        if isinstance(m, _Away):
            info.update(planner.away(m, i))
        elif isinstance(m, Occlude):
            info.update(planner.occlude(m, i))
        segments.append(info)
        i += m.frames
    if i < planner.n:
        segments.append({"motion": "follow", "first": i, "last": planner.n - 1})
    return Script(planner.centres.copy(), planner.occluders, segments)
