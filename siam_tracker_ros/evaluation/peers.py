"""OpenCV trackers wrapped to the harness protocol, as reference points ("peers").

CSRT, KCF and MIL come with opencv-contrib; NanoTrack v2 (``cv2.TrackerNano``) and VitTrack
(``cv2.TrackerVit``) need ONNX weights from a weights folder (``../shared/weights`` layout). A peer
whose weights or OpenCV class are missing is reported by :func:`peer_unavailable_reason` so the
caller can skip it with a note instead of failing the whole comparison.

As in ``../shared/data/PEERS.md``: when OpenCV's ``update`` reports failure, the previous box is
kept and the frame is reported with ``present=False``.

Reproducibility: OpenCV's MIL draws its samples with the C library's ``rand()``, so its result
depends on everything the process ran before (on ``vot_ball1`` its AUC is 0.14 or 0.78 depending
on the seed). Every ``init`` therefore re-seeds ``rand()`` and OpenCV's RNG, so a run does not
depend on which worker ran which sequence first.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from siam_tracker_ros.core.result import TrackResult, TrackState

#: bump when the wrapper's behaviour changes (part of the runner's cache key for peers)
WRAPPER_VERSION = 2

__all__ = [
    "PEERS",
    "WRAPPER_VERSION",
    "OpenCVPeer",
    "PeerInfo",
    "build_peer",
    "peer_unavailable_reason",
]


@dataclass(frozen=True)
class PeerInfo:
    """How to make one OpenCV peer."""

    label: str
    cv2_class: str  # attribute of ``cv2`` that must exist
    weights: tuple[str, ...] = ()  # files relative to the weights folder


PEERS: dict[str, PeerInfo] = {
    "csrt": PeerInfo("OpenCV CSRT", "TrackerCSRT"),
    "kcf": PeerInfo("OpenCV KCF", "TrackerKCF"),
    "mil": PeerInfo("OpenCV MIL", "TrackerMIL"),
    "nanotrack": PeerInfo(
        "NanoTrack v2 (cv2.TrackerNano)",
        "TrackerNano",
        (
            "nanotrack/nanotrackv2_nanotrack_backbone_sim.onnx",
            "nanotrack/nanotrackv2_nanotrack_head_sim.onnx",
        ),
    ),
    "vittrack": PeerInfo(
        "VitTrack (cv2.TrackerVit)", "TrackerVit", ("opencv_zoo/vitTracker.onnx",)
    ),
}


def peer_unavailable_reason(name: str, weights_dir: str | Path | None) -> str | None:
    """Why a peer cannot run here (``None`` when it can)."""
    info = PEERS.get(name)
    if info is None:
        return f"unknown peer {name!r} (known: {sorted(PEERS)})"
    if not hasattr(cv2, info.cv2_class):
        return f"this OpenCV ({cv2.__version__}) has no cv2.{info.cv2_class}"
    if info.weights:
        if weights_dir is None:
            return f"{name} needs weights ({', '.join(info.weights)}); pass --weights-dir"
        missing = [w for w in info.weights if not (Path(weights_dir) / w).is_file()]
        if missing:
            return f"{name}: missing weights {missing} under {weights_dir}"
    return None


def _factory(name: str, weights_dir: Path | None) -> Callable[[], Any]:
    if name == "csrt":
        return cv2.TrackerCSRT.create
    if name == "kcf":
        return cv2.TrackerKCF.create
    if name == "mil":
        return cv2.TrackerMIL.create
    assert weights_dir is not None
    if name == "nanotrack":
        backbone, head = (str(weights_dir / w) for w in PEERS[name].weights)

        def make_nano() -> Any:
            params = cv2.TrackerNano.Params()
            params.backbone, params.neckhead = backbone, head
            return cv2.TrackerNano.create(params)

        return make_nano
    if name == "vittrack":
        net = str(weights_dir / PEERS[name].weights[0])

        def make_vit() -> Any:
            params = cv2.TrackerVit.Params()
            params.net = net
            return cv2.TrackerVit.create(params)

        return make_vit
    raise ValueError(f"unknown peer {name!r}")


def seed_random(seed: int) -> None:
    """Seed libc ``rand()`` (MIL's sampler) and OpenCV's own RNG."""
    cv2.setRNGSeed(seed)
    try:
        ctypes.CDLL(None).srand(ctypes.c_uint(seed))
    except (OSError, AttributeError):  # pragma: no cover - no libc symbol lookup on this OS
        pass


class OpenCVPeer:
    """An OpenCV tracker behind ``init(image, box)`` / ``track(image) -> TrackResult``.

    OpenCV trackers cannot be re-initialised reliably in place, so every ``init`` builds a fresh
    one (this is also what makes VOT re-initialisation reset all state).
    """

    def __init__(self, name: str, weights_dir: str | Path | None = None, seed: int = 0) -> None:
        reason = peer_unavailable_reason(name, weights_dir)
        if reason is not None:
            raise ValueError(reason)
        self.name = name
        self.seed = seed
        self.label = PEERS[name].label
        self._make = _factory(name, Path(weights_dir) if weights_dir is not None else None)
        self._tracker: Any = None
        self._box = np.zeros(4)
        self._has_score = name in ("nanotrack", "vittrack")

    def init(self, image: np.ndarray, box: Any) -> None:
        b = np.asarray(box, dtype=np.float64).reshape(4)
        if not (np.isfinite(b).all() and b[2] > 0 and b[3] > 0):
            raise ValueError(f"init box must be finite with positive size, got {b.tolist()}")
        seed_random(self.seed)
        self._tracker = self._make()
        rect = tuple(int(round(v)) for v in b)
        rect = (rect[0], rect[1], max(rect[2], 1), max(rect[3], 1))
        self._tracker.init(image, rect)
        self._box = b.copy()

    def track(self, image: np.ndarray) -> TrackResult:
        if self._tracker is None:
            raise RuntimeError("track() called before init()")
        ok, rect = self._tracker.update(image)
        if ok:
            self._box = np.asarray(rect, dtype=np.float64).reshape(4)
        score = 1.0 if ok else 0.0
        if self._has_score:
            try:
                score = float(self._tracker.getTrackingScore())
            except cv2.error:
                pass
        return TrackResult(
            box=self._box.copy(),
            score=score,
            present=bool(ok),
            state=TrackState.TRACKING if ok else TrackState.LOST,
            response=np.zeros((0, 0), dtype=np.float32),
        )


def build_peer(name: str, weights_dir: str | Path | None = None) -> OpenCVPeer:
    return OpenCVPeer(name, weights_dir)
