"""Head outputs -> candidate boxes and scores, and pysot's penalised best-candidate selection.

This runs in NumPy on the host for every device. The maps are tiny (NanoTrack: 16 x 16 points;
SiamRPN++: 5 x 25 x 25 anchors, 75 KB of float32), so on a GPU one copy of ``cls`` + ``loc`` costs
what copying a packed best candidate did, and on a CPU some twenty NumPy calls take a fraction of
what twenty PyTorch operators on the same arrays take in dispatch alone (``docs/speed.md``). It is
also pysot's own arithmetic: pysot decodes on the float32 NumPy view of the network output, and
mixing those float32 arrays with its float64 state promotes the penalties and the cosine window to
float64. Keeping those dtypes is what holds boxes within ~1e-4 px of pysot rather than ~1e-2.

Layouts (see ``models.base.HeadOutput``): anchor heads put background logits in channels ``0..A-1``
and foreground in ``A..2A-1``, loc as dx/dy/dw/dh groups of ``A``; all flattening is anchor-major,
then row, then column. Point heads have 2 cls channels and l/t/r/b distances.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "Candidate",
    "Decoded",
    "decode_anchor",
    "decode_point",
    "grid_shift",
    "select_best",
]


@dataclass(frozen=True)
class Decoded:
    """Flat candidates of one search crop.

    score: ``(K,)`` float32 foreground probability.
    boxes: ``(4, K)`` float32 ``cx, cy, w, h`` in search-crop pixels relative to the crop centre.
    response: ``(N, N)`` float32 score map (max over anchors) for visualisation.
    """

    score: np.ndarray
    boxes: np.ndarray
    response: np.ndarray


def _two_class_softmax(background: np.ndarray, foreground: np.ndarray) -> np.ndarray:
    """Foreground probability of a 2-way softmax, computed as ``torch.softmax`` does (max
    subtracted, float32), so scores equal pysot's to float32 round-off."""
    top = np.maximum(background, foreground)
    e_bg = np.exp(background - top)
    e_fg = np.exp(foreground - top)
    out: np.ndarray = e_fg / (e_bg + e_fg)
    return out


def _maps(cls: np.ndarray, loc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Batch item 0 of ``(B, C, N, N)`` outputs as float32 ``(C, N * N)`` rows."""
    c = np.asarray(cls[0], dtype=np.float32)
    d = np.asarray(loc[0], dtype=np.float32)
    return c.reshape(c.shape[0], -1), d.reshape(d.shape[0], -1)


def decode_anchor(cls: np.ndarray, loc: np.ndarray, anchors: np.ndarray) -> Decoded:
    """pysot ``_convert_score`` + ``_convert_bbox`` for one crop (batch index 0).

    ``cls`` ``(B, 2A, N, N)``, ``loc`` ``(B, 4A, N, N)``; ``anchors``: ``(A * N * N, 4)`` float32
    ``cx, cy, w, h`` from :func:`core.anchors.generate_anchors`.
    """
    n = cls.shape[-1]
    a = cls.shape[1] // 2
    c, d = _maps(cls, loc)
    # (2A, NN) -> (2, A*NN): row 0 background, row 1 foreground, anchor-major like the anchors
    logits = c.reshape(2, -1)
    score = _two_class_softmax(logits[0], logits[1])
    delta = d.reshape(4, -1)
    aw, ah = anchors[:, 2], anchors[:, 3]
    boxes = np.stack(
        [
            delta[0] * aw + anchors[:, 0],
            delta[1] * ah + anchors[:, 1],
            np.exp(delta[2]) * aw,
            np.exp(delta[3]) * ah,
        ]
    )
    response = score.reshape(a, n, n).max(0)
    return Decoded(score=score, boxes=boxes, response=response)


def decode_point(
    cls: np.ndarray, loc: np.ndarray, points: np.ndarray, activation: str = "softmax"
) -> Decoded:
    """Anchor-free decoding (SiamBAN / NanoTrack): one candidate per score-map point.

    ``points``: ``(N * N, 2)`` float32 point positions relative to the crop centre
    (:func:`core.anchors.generate_points`); ``loc`` holds left/top/right/bottom distances in crop
    pixels, so the box is ``(px - l, py - t, px + r, py + b)``. Kept separate and small so it can be
    checked against a reference implementation on its own.
    """
    n = cls.shape[-1]
    c, d = _maps(cls, loc)
    if activation == "softmax":
        if c.shape[0] == 2:
            score = _two_class_softmax(c[0], c[1])
        else:
            e = np.exp(c - c.max(0))
            score = e[-1] / e.sum(0)
    elif activation == "sigmoid":
        score = 1.0 / (1.0 + np.exp(-c[-1]))
    else:
        raise ValueError(f"unknown score activation {activation!r}")
    px, py = points[:, 0], points[:, 1]
    x1 = px - d[0]
    y1 = py - d[1]
    x2 = px + d[2]
    y2 = py + d[3]
    boxes = np.stack([(x1 + x2) * np.float32(0.5), (y1 + y2) * np.float32(0.5), x2 - x1, y2 - y1])
    return Decoded(score=score, boxes=boxes, response=score.reshape(n, n))


def grid_shift(score_size: int, stride: int, instance_size: int, exemplar_size: int) -> float:
    """Offset (crop pixels) to add to pysot's ``-(N // 2) * stride`` grid for a search crop of
    side ``instance_size`` so that the grid follows the crop centre at *any* crop size.

    A fully convolutional network places score-map cell ``i`` at a fixed crop pixel
    ``i * stride + c`` measured from the crop's top-left corner, whatever the crop size; relative to
    the crop centre that is ``i * stride + c - instance_size / 2``. pysot's/NanoTrack's
    ``-(N // 2) * stride`` matches this only while ``(instance_size - exemplar_size) / stride`` is
    even (e.g. 255 and 351 with stride 16, where the networks were trained); one stride more (271,
    or the re-detection size 527) puts every box half a stride (8 px for NanoTrack) off. The grid
    here is anchored where pysot's is right -- the exemplar-sized search, whose map has
    ``N0 = N - (instance_size - exemplar_size) // stride`` cells -- and moved by half the extra
    crop size, so the result is 0 wherever pysot's grid is already right (pysot parity is kept).
    """
    extra = instance_size - exemplar_size
    n0 = score_size - extra // stride
    if n0 < 1:
        raise ValueError(
            f"a {score_size}x{score_size} score map cannot come from a {instance_size} px search "
            f"crop with stride {stride} and a {exemplar_size} px exemplar"
        )
    centred_origin = -(n0 // 2) * stride - extra / 2.0
    return float(centred_origin + (score_size // 2) * stride)


def _change(r: np.ndarray) -> np.ndarray:
    out: np.ndarray = np.maximum(r, 1.0 / r)
    return out


def _sz(w: np.ndarray, h: np.ndarray) -> np.ndarray:
    pad = (w + h) * np.float32(0.5)
    out: np.ndarray = np.sqrt((w + pad) * (h + pad))
    return out


@dataclass(frozen=True)
class Candidate:
    """The selected candidate of one search.

    box: ``cx, cy, w, h`` in search-crop pixels relative to the crop centre (float32 values held
    in float64). score: raw foreground score (a float32 value). penalty: float64 shape penalty.
    response: the ``(N, N)`` float32 score map.
    """

    index: int
    score: float
    penalty: float
    pscore: float
    box: np.ndarray
    response: np.ndarray
    #: every candidate's penalised score and shape penalty (``(K,)``), for policies that choose
    #: among candidates (``core.distractors``)
    pscores: np.ndarray | None = field(default=None, repr=False, compare=False)
    penalties: np.ndarray | None = field(default=None, repr=False, compare=False)


def candidate_at(decoded: Decoded, chosen: Candidate, index: int) -> Candidate:
    """Candidate ``index`` of the same search as ``chosen`` (which carries the arrays)."""
    if chosen.pscores is None or chosen.penalties is None:
        raise ValueError("candidate_at needs a Candidate from select_best (with its arrays)")
    return Candidate(
        index=index,
        score=float(decoded.score[index]),
        penalty=float(chosen.penalties[index]),
        pscore=float(chosen.pscores[index]),
        box=decoded.boxes[:, index].astype(np.float64),
        response=decoded.response,
        pscores=chosen.pscores,
        penalties=chosen.penalties,
    )


def select_best(
    decoded: Decoded,
    target_wh: tuple[float, float],
    scale_z: float,
    penalty_k: float,
    window: np.ndarray,
    window_influence: float,
    reference_sz: float | None = None,
) -> Candidate:
    """pysot's scale/ratio penalty, cosine window and argmax.

    ``target_wh``: the current target size in image pixels and ``scale_z`` the image-to-crop scale
    (kept apart because pysot computes the aspect ratio on the unscaled size). ``window``:
    ``(K,)`` float64. ``reference_sz`` overrides the padded target size the scale penalty
    compares with (only ``opencv_compat`` uses it, to reproduce an OpenCV bug).
    """
    w, h = decoded.boxes[2], decoded.boxes[3]
    sw, sh = float(target_wh[0]), float(target_wh[1])
    if reference_sz is None:
        tw, th = sw * scale_z, sh * scale_z
        target_sz = float(np.sqrt((tw + (tw + th) * 0.5) * (th + (tw + th) * 0.5)))
    else:
        target_sz = float(reference_sz)
    s_c = _change(_sz(w, h).astype(np.float64) / target_sz)
    r_c = _change((sw / sh) / (w / h).astype(np.float64))
    penalty = np.exp(-(r_c * s_c - 1.0) * penalty_k)
    pscore = penalty * decoded.score
    pscore *= 1.0 - window_influence
    pscore += window * window_influence
    best = int(np.argmax(pscore))
    return Candidate(
        index=best,
        score=float(decoded.score[best]),
        penalty=float(penalty[best]),
        pscore=float(pscore[best]),
        box=decoded.boxes[:, best].astype(np.float64),
        response=decoded.response,
        pscores=pscore,
        penalties=penalty,
    )
