"""Head outputs -> candidate boxes and scores, and pysot's penalised best-candidate selection.

Everything runs in torch on the model's device, so a CUDA tracker moves one small packed tensor to
the host per search instead of the whole response. The arithmetic mirrors pysot's dtypes on purpose:
box decoding and softmax in float32 (pysot decodes on the float32 numpy view of the network output),
penalties and the cosine window in float64 (pysot mixes the float32 arrays with float64 state, which
promotes). That is what keeps boxes within ~1e-4 px of pysot rather than ~1e-2.

Layouts (see ``models.base.HeadOutput``): anchor heads put background logits in channels ``0..A-1``
and foreground in ``A..2A-1``, loc as dx/dy/dw/dh groups of ``A``; all flattening is anchor-major,
then row, then column. Point heads have 2 cls channels and l/t/r/b distances.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

__all__ = [
    "Candidate",
    "Decoded",
    "decode_anchor",
    "decode_point",
    "grid_shift",
    "select_best",
    "unpack_candidate",
]


@dataclass(frozen=True)
class Decoded:
    """Flat candidates of one search crop (all on the model's device).

    score: ``(K,)`` float32 foreground probability.
    boxes: ``(4, K)`` float32 ``cx, cy, w, h`` in search-crop pixels relative to the crop centre.
    response: ``(N, N)`` float32 score map (max over anchors) for visualisation.
    """

    score: torch.Tensor
    boxes: torch.Tensor
    response: torch.Tensor


def decode_anchor(cls: torch.Tensor, loc: torch.Tensor, anchors: torch.Tensor) -> Decoded:
    """pysot ``_convert_score`` + ``_convert_bbox`` for one crop (batch index 0).

    ``anchors``: ``(K, 4)`` float32 ``cx, cy, w, h`` from :func:`core.anchors.generate_anchors`.
    """
    cls = cls[:1].float()
    loc = loc[:1].float()
    n = cls.shape[-1]
    a = cls.shape[1] // 2
    score = F.softmax(cls.permute(1, 2, 3, 0).reshape(2, -1).permute(1, 0), dim=1)[:, 1]
    delta = loc.permute(1, 2, 3, 0).reshape(4, -1)
    boxes = torch.stack(
        [
            delta[0] * anchors[:, 2] + anchors[:, 0],
            delta[1] * anchors[:, 3] + anchors[:, 1],
            torch.exp(delta[2]) * anchors[:, 2],
            torch.exp(delta[3]) * anchors[:, 3],
        ]
    )
    response = score.reshape(a, n, n).amax(0)
    return Decoded(score=score, boxes=boxes, response=response)


def decode_point(
    cls: torch.Tensor, loc: torch.Tensor, points: torch.Tensor, activation: str = "softmax"
) -> Decoded:
    """Anchor-free decoding (SiamBAN / NanoTrack): one candidate per score-map point.

    ``points``: ``(N * N, 2)`` float32 point positions relative to the crop centre
    (:func:`core.anchors.generate_points`); ``loc`` holds left/top/right/bottom distances in crop
    pixels, so the box is ``(px - l, py - t, px + r, py + b)``. Kept separate and small so it can be
    checked against a reference implementation on its own.
    """
    cls = cls[:1].float()
    loc = loc[:1].float()
    n = cls.shape[-1]
    if activation == "softmax":
        flat = cls.permute(1, 2, 3, 0).reshape(cls.shape[1], -1).permute(1, 0)
        score = F.softmax(flat, dim=1)[:, -1]
    elif activation == "sigmoid":
        score = torch.sigmoid(cls[0, -1].reshape(-1))
    else:
        raise ValueError(f"unknown score activation {activation!r}")
    delta = loc.permute(1, 2, 3, 0).reshape(4, -1)
    x1 = points[:, 0] - delta[0]
    y1 = points[:, 1] - delta[1]
    x2 = points[:, 0] + delta[2]
    y2 = points[:, 1] + delta[3]
    boxes = torch.stack([(x1 + x2) * 0.5, (y1 + y2) * 0.5, x2 - x1, y2 - y1])
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


def _change(r: torch.Tensor) -> torch.Tensor:
    return torch.maximum(r, 1.0 / r)


def _sz(w: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    pad = (w + h) * 0.5
    return torch.sqrt((w + pad) * (h + pad))


def select_best(
    decoded: Decoded,
    target_wh: tuple[float, float],
    scale_z: float,
    penalty_k: float,
    window: torch.Tensor,
    window_influence: float,
    reference_sz: float | None = None,
) -> torch.Tensor:
    """pysot's scale/ratio penalty, cosine window and argmax; returns one packed float64 tensor.

    ``target_wh``: the current target size in image pixels and ``scale_z`` the image-to-crop scale
    (kept apart because pysot computes the aspect ratio on the unscaled size). ``window``:
    ``(K,)`` float64. The packed layout is read back on the host by :func:`unpack_candidate` --
    one device-to-host copy per search. ``reference_sz`` overrides the padded target size the
    scale penalty compares with (only ``opencv_compat`` uses it, to reproduce an OpenCV bug).
    """
    w, h = decoded.boxes[2], decoded.boxes[3]
    sw, sh = float(target_wh[0]), float(target_wh[1])
    tw, th = sw * scale_z, sh * scale_z
    target_sz = float(np.sqrt((tw + (tw + th) * 0.5) * (th + (tw + th) * 0.5)))
    if reference_sz is not None:
        target_sz = float(reference_sz)
    s_c = _change(_sz(w, h).double() / target_sz)
    r_c = _change((sw / sh) / (w / h).double())
    penalty = torch.exp(-(r_c * s_c - 1.0) * penalty_k)
    pscore = penalty * decoded.score.double()
    pscore = pscore * (1.0 - window_influence) + window * window_influence
    best = torch.argmax(pscore)
    head = torch.stack(
        [
            best.double(),
            decoded.score[best].double(),
            penalty[best],
            pscore[best],
        ]
    )
    return torch.cat([head, decoded.boxes[:, best].double(), decoded.response.double().flatten()])


@dataclass(frozen=True)
class Candidate:
    """The selected candidate of one search, on the host.

    box: ``cx, cy, w, h`` in search-crop pixels relative to the crop centre (float32 values held
    in float64). score: raw foreground score (a float32 value). penalty: float64 shape penalty.
    """

    index: int
    score: float
    penalty: float
    pscore: float
    box: np.ndarray
    response: np.ndarray


def unpack_candidate(packed: np.ndarray) -> Candidate:
    """Inverse of :func:`select_best`'s packing (``packed`` already on the host)."""
    n = int(round(np.sqrt(packed.size - 8)))
    return Candidate(
        index=int(packed[0]),
        score=float(packed[1]),
        penalty=float(packed[2]),
        pscore=float(packed[3]),
        box=packed[4:8].copy(),
        response=packed[8:].reshape(n, n).astype(np.float32),
    )
