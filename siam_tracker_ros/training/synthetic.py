"""Synthetic tracking sequences: real-photo (or procedural) targets moving over real-photo (or
procedural) backgrounds, with scale/aspect change, illumination change, occlusion and look-alike
distractors.

Why: the real training split here is 25 short videos. Synthetic sequences add the situations the
margin loss is about -- copies of the target (same object, slightly recoloured/rescaled) moving
nearby -- in unlimited amounts, and they let tests train on data the test generates itself.

Every sequence is a pure function of ``(seed, index)``: its parameters are drawn from a seeded
generator and frame ``t`` is rendered on demand, so nothing is stored, DataLoader workers agree,
and a resumed run sees the same data. Photos come from, in order of preference: frames/boxes of
the real training sequences (the annotated object becomes the target), image folders given in the
config, scikit-image's bundled data images if that package is installed, OpenCV's sample images if
``opencv-doc`` is installed; otherwise procedural textures.
"""

from __future__ import annotations

import glob
import logging
import math
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

__all__ = ["PhotoPool", "SyntheticConfig", "SyntheticSource", "procedural_texture"]

log = logging.getLogger(__name__)

_OPENCV_DOC_DIRS = (
    "/usr/share/doc/opencv-doc/examples/data",
    "/usr/share/opencv4/samples/data",
    "/usr/share/opencv/samples/data",
)
_SKIMAGE_NAMES = ("astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry", "cat")


@dataclass(frozen=True)
class SyntheticConfig:
    """The fields of a ``type: synthetic`` data source."""

    num_sequences: int = 200
    length: int = 150
    width: int = 480
    height: int = 360
    seed: int = 0
    distractor_prob: float = 0.6
    max_distractors: int = 3
    occlusion_prob: float = 0.4
    #: extra image folders/globs to draw backgrounds and targets from
    photo_dirs: tuple[str, ...] = ()
    #: how many photos one worker keeps decoded
    photo_cache: int = 48


def procedural_texture(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A colourful multi-scale noise texture with random shapes (uint8 BGR)."""
    img = np.zeros((h, w, 3), np.float32)
    for octave in range(1, 6):
        cells = 2**octave
        noise = rng.random((cells, cells, 3)).astype(np.float32)
        img += cv2.resize(noise, (w, h), interpolation=cv2.INTER_CUBIC) / octave
    img = (img - img.min()) / max(float(img.max() - img.min()), 1e-6)
    palette = rng.random((2, 3)).astype(np.float32) * 255
    img = palette[0] * (1 - img) + palette[1] * img
    for _ in range(int(rng.integers(3, 12))):
        color = tuple(float(c) for c in rng.random(3) * 255)
        kind = rng.integers(3)
        p = (int(rng.integers(w)), int(rng.integers(h)))
        size = int(rng.integers(3, max(4, min(h, w) // 4)))
        if kind == 0:
            cv2.circle(img, p, size, color, -1)
        elif kind == 1:
            cv2.rectangle(img, p, (p[0] + size, p[1] + size // 2 + 1), color, -1)
        else:
            q = (int(rng.integers(w)), int(rng.integers(h)))
            cv2.line(img, p, q, color, int(rng.integers(1, 5)))
    return np.clip(img, 0, 255).astype(np.uint8)


def _system_photos() -> list[str]:
    paths: list[str] = []
    for d in _OPENCV_DOC_DIRS:
        for ext in ("*.jpg", "*.png"):
            paths.extend(sorted(glob.glob(str(Path(d) / ext))))
    return paths


def _skimage_photos() -> list[np.ndarray]:
    try:
        from skimage import data as skdata  # optional
    except ImportError:
        return []
    out = []
    for name in _SKIMAGE_NAMES:
        try:
            img = np.asarray(getattr(skdata, name)())
        except Exception:  # noqa: BLE001 - some images need a download; skip them
            continue
        if img.ndim == 3 and img.shape[2] >= 3:
            out.append(cv2.cvtColor(img[..., :3].astype(np.uint8), cv2.COLOR_RGB2BGR))
    return out


class PhotoPool:
    """Backgrounds and target patches: ``(path, box_xywh or None)`` entries, decoded lazily.

    Entries with a box give their annotated object as a target patch; entries without give a
    random region. With no entries at all, procedural textures stand in.
    """

    def __init__(
        self, entries: Sequence[tuple[str, np.ndarray | None]] = (), cache: int = 48
    ) -> None:
        self.entries = list(entries)
        self._arrays: list[np.ndarray] = []
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self._cache_size = cache

    @classmethod
    def discover(
        cls, real: Sequence[tuple[str, np.ndarray | None]], dirs: Sequence[str], cache: int
    ) -> PhotoPool:
        entries: list[tuple[str, np.ndarray | None]] = list(real)
        for d in dirs:
            pattern = d if any(ch in d for ch in "*?[") else str(Path(d) / "*")
            for p in sorted(glob.glob(pattern)):
                if Path(p).suffix.lower() in (".jpg", ".jpeg", ".png", ".bmp"):
                    entries.append((p, None))
        entries.extend((p, None) for p in _system_photos())
        pool = cls(entries, cache)
        pool._arrays = _skimage_photos()
        return pool

    def __len__(self) -> int:
        return len(self.entries) + len(self._arrays)

    def image(self, idx: int) -> np.ndarray:
        if idx >= len(self.entries):
            return self._arrays[idx - len(self.entries)]
        if idx in self._cache:
            self._cache.move_to_end(idx)
            return self._cache[idx]
        img = cv2.imread(self.entries[idx][0], cv2.IMREAD_COLOR)
        if img is None:
            raise OSError(f"cannot read {self.entries[idx][0]}")
        self._cache[idx] = img
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return img

    def box(self, idx: int) -> np.ndarray | None:
        return self.entries[idx][1] if idx < len(self.entries) else None


@dataclass
class _Motion:
    """Smooth 1-D motion: a centre, two sinusoids and a drift, reflected into a range."""

    c0: float
    amp: tuple[float, float]
    period: tuple[float, float]
    phase: tuple[float, float]
    drift: float

    def at(self, t: float, lo: float, hi: float) -> float:
        v = self.c0 + self.drift * t
        for a, p, ph in zip(self.amp, self.period, self.phase, strict=True):
            v += a * math.sin(2 * math.pi * t / p + ph)
        span = max(hi - lo, 1e-3)
        v = (v - lo) % (2 * span)
        return lo + (v if v <= span else 2 * span - v)


def _motion(rng: np.random.Generator, centre: float, extent: float, speed: float) -> _Motion:
    return _Motion(
        c0=centre,
        amp=(float(rng.uniform(0, 0.35) * extent), float(rng.uniform(0, 0.1) * extent)),
        period=(float(rng.uniform(40, 200)), float(rng.uniform(8, 40))),
        phase=(float(rng.uniform(0, 2 * math.pi)), float(rng.uniform(0, 2 * math.pi))),
        drift=float(rng.normal(0, speed)),
    )


@dataclass
class _Object:
    """A pasted object: its patch source, base size, motion and appearance tweaks."""

    photo: int
    region: tuple[float, float, float, float] | None  # normalised x, y, w, h within the photo
    base_w: float
    base_h: float
    mx: _Motion
    my: _Motion
    scale_amp: float
    scale_period: float
    aspect_amp: float
    phase: float
    gain: tuple[float, float, float]
    ellipse: bool
    seed: int


@dataclass
class _SeqParams:
    background: int
    bg_texture_seed: int
    pan: tuple[float, float]
    zoom: float
    illum_amp: float
    illum_period: float
    illum_phase: float
    target: _Object
    distractors: list[_Object]
    occluder: _Object | None


class SyntheticSource:
    """``num_sequences`` synthetic sequences of ``length`` frames (a pair-sampler source)."""

    name = "synthetic"

    def __init__(self, cfg: SyntheticConfig, pool: PhotoPool | None = None) -> None:
        self.cfg = cfg
        self.pool = pool or PhotoPool()
        self._params: dict[int, _SeqParams] = {}

    # -- source interface --------------------------------------------------------------------
    def __len__(self) -> int:
        return self.cfg.num_sequences

    def num_frames(self, seq: int) -> int:
        return self.cfg.length

    def visible(self, seq: int) -> np.ndarray:
        boxes = np.stack([self._geometry(seq, t)[0] for t in range(self.cfg.length)])
        occluded = np.array([self._geometry(seq, t)[1] for t in range(self.cfg.length)])
        ok = (boxes[:, 2] > 4) & (boxes[:, 3] > 4) & (occluded < 0.5)
        return np.flatnonzero(ok)

    def load(self, seq: int, t: int) -> tuple[np.ndarray, np.ndarray]:
        """Frame ``t`` of sequence ``seq`` (BGR uint8) and the target's ``x, y, w, h``."""
        return self.render(seq, t), self._geometry(seq, t)[0]

    # -- generation -------------------------------------------------------------------------
    def _object(
        self, rng: np.random.Generator, photo: int, size_frac: float, aspect: float | None
    ) -> _Object:
        c = self.cfg
        region = None
        box = self.pool.box(photo) if len(self.pool) else None
        if box is None and len(self.pool):
            rw, rh = rng.uniform(0.15, 0.5), rng.uniform(0.15, 0.5)
            region = (float(rng.uniform(0, 1 - rw)), float(rng.uniform(0, 1 - rh)), rw, rh)
        if aspect is None:
            aspect = (
                float(box[2] / max(box[3], 1.0))
                if box is not None
                else float(math.exp(rng.uniform(math.log(0.4), math.log(2.5))))
            )
        aspect = float(np.clip(aspect, 0.2, 5.0))
        area = size_frac * c.width * c.height
        bw, bh = math.sqrt(area * aspect), math.sqrt(area / aspect)
        speed = float(rng.uniform(0.2, 3.0))
        return _Object(
            photo=photo,
            region=region,
            base_w=bw,
            base_h=bh,
            mx=_motion(rng, float(rng.uniform(0.2, 0.8) * c.width), c.width, speed),
            my=_motion(rng, float(rng.uniform(0.2, 0.8) * c.height), c.height, speed),
            scale_amp=float(rng.uniform(0, 0.45)),
            scale_period=float(rng.uniform(30, 200)),
            aspect_amp=float(rng.uniform(0, 0.25)),
            phase=float(rng.uniform(0, 2 * math.pi)),
            gain=(1.0, 1.0, 1.0),
            ellipse=bool(rng.random() < 0.3),
            seed=int(rng.integers(2**31)),
        )

    def params(self, seq: int) -> _SeqParams:
        if seq in self._params:
            return self._params[seq]
        c = self.cfg
        rng = np.random.default_rng([c.seed, seq])
        n = len(self.pool)
        photo = (lambda: int(rng.integers(n))) if n else (lambda: -1)
        target_photo = photo()
        target = self._object(rng, target_photo, float(rng.uniform(0.004, 0.06)), None)
        distractors = []
        if rng.random() < c.distractor_prob:
            for _ in range(int(rng.integers(1, c.max_distractors + 1))):
                d = self._object(rng, target_photo, 1.0, target.base_w / target.base_h)
                s = float(rng.uniform(0.8, 1.2))
                d.base_w, d.base_h = target.base_w * s, target.base_h * s
                d.region, d.ellipse, d.seed = target.region, target.ellipse, target.seed
                d.gain = tuple(float(g) for g in rng.uniform(0.85, 1.15, 3))  # type: ignore[assignment]
                distractors.append(d)
        occluder = None
        if rng.random() < c.occlusion_prob:
            occluder = self._object(rng, photo(), float(rng.uniform(0.01, 0.05)), None)
            occluder.mx.drift = float(rng.choice([-1, 1]) * rng.uniform(2, 6))
        p = _SeqParams(
            background=photo(),
            bg_texture_seed=int(rng.integers(2**31)),
            pan=(float(rng.normal(0, 1.0)), float(rng.normal(0, 0.6))),
            zoom=float(rng.uniform(1.0, 1.6)),
            illum_amp=float(rng.uniform(0, 0.35)),
            illum_period=float(rng.uniform(30, 150)),
            illum_phase=float(rng.uniform(0, 2 * math.pi)),
            target=target,
            distractors=distractors,
            occluder=occluder,
        )
        if len(self._params) > 4096:
            self._params.clear()
        self._params[seq] = p
        return p

    def _obj_box(self, o: _Object, t: int) -> np.ndarray:
        c = self.cfg
        s = math.exp(o.scale_amp * math.sin(2 * math.pi * t / o.scale_period + o.phase))
        a = math.exp(o.aspect_amp * math.sin(2 * math.pi * t / (1.7 * o.scale_period) + o.phase))
        w, h = o.base_w * s * a, o.base_h * s / a
        cx = o.mx.at(t, w / 2, c.width - w / 2)
        cy = o.my.at(t, h / 2, c.height - h / 2)
        return np.array([cx - w / 2, cy - h / 2, w, h], dtype=np.float32)

    def _geometry(self, seq: int, t: int) -> tuple[np.ndarray, float]:
        """Target box and the fraction of it the occluder covers."""
        p = self.params(seq)
        box = self._obj_box(p.target, t)
        frac = 0.0
        if p.occluder is not None:
            o = self._obj_box(p.occluder, t)
            iw = max(0.0, min(box[0] + box[2], o[0] + o[2]) - max(box[0], o[0]))
            ih = max(0.0, min(box[1] + box[3], o[1] + o[3]) - max(box[1], o[1]))
            frac = iw * ih / max(float(box[2] * box[3]), 1e-6)
        return box, frac

    # -- rendering --------------------------------------------------------------------------
    def _patch(self, o: _Object) -> np.ndarray:
        if o.photo < 0:
            return procedural_texture(np.random.default_rng(o.seed), 96, 96)
        img = self.pool.image(o.photo)
        box = self.pool.box(o.photo)
        h, w = img.shape[:2]
        if box is not None:
            x, y, bw, bh = (float(v) for v in box)
        else:
            assert o.region is not None
            x, y, bw, bh = o.region[0] * w, o.region[1] * h, o.region[2] * w, o.region[3] * h
        x0, y0 = int(max(0, math.floor(x))), int(max(0, math.floor(y)))
        x1, y1 = int(min(w, math.ceil(x + bw))), int(min(h, math.ceil(y + bh)))
        if x1 - x0 < 2 or y1 - y0 < 2:
            return procedural_texture(np.random.default_rng(o.seed), 64, 64)
        return img[y0:y1, x0:x1]

    def _background(self, p: _SeqParams, t: int) -> np.ndarray:
        c = self.cfg
        if p.background < 0:
            src = _texture_cache(p.bg_texture_seed, c.height * 2, c.width * 2)
        else:
            src = self.pool.image(p.background)
        sh, sw = src.shape[:2]
        scale = p.zoom * max(c.width / sw, c.height / sh)
        ox = (sw * scale - c.width) / 2 + p.pan[0] * t
        oy = (sh * scale - c.height) / 2 + p.pan[1] * t
        ox = _reflect(ox, max(sw * scale - c.width, 0.0))
        oy = _reflect(oy, max(sh * scale - c.height, 0.0))
        mat = np.array([[scale, 0, -ox], [0, scale, -oy]], dtype=np.float64)
        return cv2.warpAffine(src, mat, (c.width, c.height), borderMode=cv2.BORDER_REFLECT)

    def _paste(self, frame: np.ndarray, o: _Object, box: np.ndarray) -> None:
        x, y, w, h = (float(v) for v in box)
        patch = self._patch(o)
        pw, ph = max(int(round(w)), 2), max(int(round(h)), 2)
        res = cv2.resize(patch, (pw, ph), interpolation=cv2.INTER_AREA).astype(np.float32)
        res *= np.asarray(o.gain, np.float32)
        alpha = np.ones((ph, pw), np.float32)
        if o.ellipse:
            alpha[:] = 0
            cv2.ellipse(
                alpha, (pw // 2, ph // 2), (max(pw // 2, 1), max(ph // 2, 1)), 0, 0, 360, 1.0, -1
            )
        soft = cv2.GaussianBlur(alpha, (3, 3), 0)[..., None]
        x0, y0 = int(round(x)), int(round(y))
        fx0, fy0 = max(x0, 0), max(y0, 0)
        fx1, fy1 = min(x0 + pw, frame.shape[1]), min(y0 + ph, frame.shape[0])
        if fx1 <= fx0 or fy1 <= fy0:
            return
        px0, py0 = fx0 - x0, fy0 - y0
        px1, py1 = px0 + (fx1 - fx0), py0 + (fy1 - fy0)
        region = frame[fy0:fy1, fx0:fx1]
        a = soft[py0:py1, px0:px1]
        region[:] = region * (1 - a) + res[py0:py1, px0:px1] * a

    def render(self, seq: int, t: int) -> np.ndarray:
        """Frame ``t`` of sequence ``seq`` as BGR uint8."""
        p = self.params(seq)
        frame = self._background(p, t).astype(np.float32)
        for d in p.distractors:
            self._paste(frame, d, self._obj_box(d, t))
        self._paste(frame, p.target, self._obj_box(p.target, t))
        if p.occluder is not None:
            self._paste(frame, p.occluder, self._obj_box(p.occluder, t))
        illum = 1.0 + p.illum_amp * math.sin(2 * math.pi * t / p.illum_period + p.illum_phase)
        frame *= illum
        noise = np.random.default_rng([self.cfg.seed, seq, t]).normal(0, 2.0, frame.shape)
        return np.clip(frame + noise.astype(np.float32), 0, 255).astype(np.uint8)


_TEXTURES: OrderedDict[tuple[int, int, int], np.ndarray] = OrderedDict()


def _texture_cache(seed: int, h: int, w: int) -> np.ndarray:
    key = (seed, h, w)
    if key not in _TEXTURES:
        _TEXTURES[key] = procedural_texture(np.random.default_rng(seed), h, w)
        if len(_TEXTURES) > 32:
            _TEXTURES.popitem(last=False)
    return _TEXTURES[key]


def _reflect(v: float, span: float) -> float:
    if span <= 0:
        return 0.0
    v = v % (2 * span)
    return v if v <= span else 2 * span - v
