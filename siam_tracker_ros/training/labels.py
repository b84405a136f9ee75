"""Training targets: anchor labels (SiamRPN++), point labels (NanoTrack/SiamBAN) and the
per-position correlation-map labels SiamMargin supervises.

Targets are computed on the batch in torch (not in the data workers) because the score-map size is
a property of the model, known only after a forward pass, and because one vectorised call per
batch is cheaper on two CPU cores than per-sample numpy loops. Geometry comes from
``core.anchors`` -- the same grids the tracker decodes with -- shifted from "relative to the crop
centre" to search-crop pixels (centre pixel ``S // 2``), so training and inference agree exactly.

Label values: 1 positive, 0 negative, -1 ignored (neither loss sees it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from siam_tracker_ros.core.anchors import generate_anchors, generate_points

__all__ = [
    "AnchorTargets",
    "PointTargets",
    "anchor_targets",
    "box_iou_xyxy",
    "position_grid",
    "position_labels",
    "point_targets",
    "sample_labels",
]


@dataclass
class AnchorTargets:
    """``cls`` ``(B, A, N, N)`` in {1, 0, -1}; ``loc`` ``(B, 4, A, N, N)`` dx/dy/dw/dh;
    ``loc_weight`` ``(B, A, N, N)`` (``1 / num_pos`` at positives); ``pos_any`` ``(B, N, N)``:
    True where any anchor is positive (before sampling) -- SiamMargin's position label;
    ``neg_all`` ``(B, N, N)``: True where every anchor is a clear negative (hard-negative pool)."""

    cls: torch.Tensor
    loc: torch.Tensor
    loc_weight: torch.Tensor
    pos_any: torch.Tensor
    neg_all: torch.Tensor


@dataclass
class PointTargets:
    """``cls`` ``(B, N, N)`` in {1, 0, -1}; ``loc`` ``(B, 4, N, N)`` left/top/right/bottom pixel
    distances; ``pos_any``/``neg_all`` as for anchors (before sampling)."""

    cls: torch.Tensor
    loc: torch.Tensor
    pos_any: torch.Tensor
    neg_all: torch.Tensor


def position_grid(stride: int, size: int, search_size: int) -> torch.Tensor:
    """``(N, N, 2)`` x/y search-crop coordinates of each score-map position (the crop centre is
    ``search_size / 2``, as the tracker decodes)."""
    pts = generate_points(stride, size) + np.float32(search_size / 2)
    return torch.from_numpy(pts).reshape(size, size, 2)


def box_iou_xyxy(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """IoU of broadcastable ``(..., 4)`` x1/y1/x2/y2 boxes."""
    iw = (torch.minimum(a[..., 2], b[..., 2]) - torch.maximum(a[..., 0], b[..., 0])).clamp(min=0)
    ih = (torch.minimum(a[..., 3], b[..., 3]) - torch.maximum(a[..., 1], b[..., 1])).clamp(min=0)
    inter = iw * ih
    area_a = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
    area_b = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    return inter / (area_a + area_b - inter).clamp(min=1e-6)


def sample_labels(
    labels: torch.Tensor,
    pos_num: int,
    total_num: int | torch.Tensor,
    generator: torch.Generator | None,
) -> torch.Tensor:
    """Keep at most ``pos_num`` positives and ``total_num - kept_pos`` negatives per sample.

    The rest become -1. Random choice without replacement through random scores + ranking, one
    call for the whole batch. ``labels`` is ``(B, ...)``; ``total_num`` an int or a ``(B,)``
    tensor; a new tensor is returned.
    """
    flat = labels.reshape(labels.shape[0], -1).clone()
    rand = torch.rand(flat.shape, generator=generator, device="cpu").to(flat.device)
    out = torch.full_like(flat, -1)
    pos = flat == 1
    keep_pos = _keep_random(pos, rand, pos_num)
    n_pos = keep_pos.sum(1, keepdim=True)
    total = torch.as_tensor(total_num, device=flat.device).reshape(-1, 1)
    neg_quota = (total - n_pos).clamp(min=0)
    keep_neg = _keep_random(flat == 0, rand, neg_quota)
    out[keep_pos] = 1
    out[keep_neg] = 0
    return out.reshape(labels.shape)


def _keep_random(mask: torch.Tensor, rand: torch.Tensor, quota: int | torch.Tensor) -> torch.Tensor:
    """Boolean mask keeping a random ``quota`` (per row) of the True entries of ``mask``."""
    score = torch.where(mask, rand, torch.full_like(rand, -1.0))
    order = score.argsort(dim=1, descending=True)
    rank = torch.empty_like(order)
    rank.scatter_(1, order, torch.arange(mask.shape[1], device=mask.device).expand_as(order))
    q = quota if isinstance(quota, torch.Tensor) else torch.full_like(rank[:, :1], quota)
    return mask & (rank < q)


def _negative_pair_candidates(size: int, radius: int, device: torch.device) -> torch.Tensor:
    """``(N, N)`` bool: the centre window where a negative pair's (other) object lies.

    pysot labels only this window as negatives for negative pairs, so the loss looks at the
    look-alike object in the middle of the search crop rather than at easy background.
    """
    win = torch.zeros(size, size, dtype=torch.bool, device=device)
    lo, hi = max(size // 2 - radius, 0), min(size // 2 + radius + 1, size)
    win[lo:hi, lo:hi] = True
    return win


def _quota(positive_pair: torch.Tensor, total_num: int, neg_pair_num: int) -> torch.Tensor:
    return torch.where(
        positive_pair,
        torch.full_like(positive_pair, total_num, dtype=torch.long),
        torch.full_like(positive_pair, neg_pair_num, dtype=torch.long),
    )


def anchor_targets(
    boxes_xyxy: torch.Tensor,
    positive_pair: torch.Tensor,
    *,
    stride: int,
    ratios: Sequence[float],
    scales: Sequence[float],
    size: int,
    search_size: int,
    pos_thr: float = 0.6,
    neg_thr: float = 0.3,
    pos_num: int = 16,
    total_num: int = 64,
    neg_pair_num: int = 16,
    neg_pair_radius: int = 3,
    generator: torch.Generator | None = None,
) -> AnchorTargets:
    """pysot's ``AnchorTarget`` for a batch.

    ``boxes_xyxy`` ``(B, 4)``: the target in search-crop pixels; ``positive_pair`` ``(B,)`` bool.
    Positives IoU > ``pos_thr``, negatives IoU < ``neg_thr``, then ``pos_num`` positives and up
    to ``total_num`` labels in all are sampled. Negative pairs (pysot): only the anchors in the
    centre ``2 * neg_pair_radius + 1`` window are negatives, ``neg_pair_num`` of them sampled.
    """
    device = boxes_xyxy.device
    a_num = len(ratios) * len(scales)
    anc = torch.from_numpy(generate_anchors(stride, ratios, scales, size)).to(device)
    anc = anc.reshape(a_num, size, size, 4)
    anc[..., :2] += search_size / 2
    cx, cy, w, h = anc.unbind(-1)
    anc_xyxy = torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], -1)
    b = boxes_xyxy.float().reshape(-1, 1, 1, 1, 4)
    iou = box_iou_xyxy(anc_xyxy.unsqueeze(0), b)  # (B, A, N, N)
    pair = positive_pair.reshape(-1, 1, 1, 1)
    pos = (iou > pos_thr) & pair
    neg = (iou < neg_thr) | ~pair
    window = _negative_pair_candidates(size, neg_pair_radius, device)
    labels = torch.full_like(iou, -1.0)
    labels[(iou < neg_thr) & pair] = 0
    labels[(~pair & window).expand_as(labels)] = 0
    labels[pos] = 1
    quota = _quota(positive_pair, total_num, neg_pair_num)
    sampled = sample_labels(labels, pos_num, quota, generator)
    tw = (b[..., 2] - b[..., 0]).clamp(min=1.0)
    th = (b[..., 3] - b[..., 1]).clamp(min=1.0)
    tcx = (b[..., 0] + b[..., 2]) / 2
    tcy = (b[..., 1] + b[..., 3]) / 2
    loc = torch.stack(
        [(tcx - cx) / w, (tcy - cy) / h, torch.log(tw / w), torch.log(th / h)], dim=1
    )  # (B, 4, A, N, N)
    n_pos = (sampled == 1).flatten(1).sum(1).clamp(min=1).float()
    loc_weight = (sampled == 1).float() / n_pos.reshape(-1, 1, 1, 1)
    return AnchorTargets(
        cls=sampled,
        loc=loc,
        loc_weight=loc_weight,
        pos_any=pos.any(1),
        neg_all=neg.all(1),
    )


def point_targets(
    boxes_xyxy: torch.Tensor,
    positive_pair: torch.Tensor,
    *,
    stride: int,
    size: int,
    search_size: int,
    pos_num: int = 16,
    total_num: int = 64,
    neg_pair_num: int = 16,
    neg_pair_radius: int = 3,
    generator: torch.Generator | None = None,
) -> PointTargets:
    """NanoTrack/SiamBAN ``PointTarget`` for a batch.

    A point is positive inside the ellipse with semi-axes ``w/4, h/4`` around the target centre
    and negative outside the ellipse with semi-axes ``w/2, h/2``; the ring between is ignored.
    Regression targets are the pixel distances from the point to the four box edges. Negative
    pairs label the centre window negative, as for anchors.
    """
    grid = position_grid(stride, size, search_size).to(boxes_xyxy.device)
    px, py = grid[..., 0], grid[..., 1]  # (N, N)
    b = boxes_xyxy.float().reshape(-1, 4, 1, 1)
    x1, y1, x2, y2 = b[:, 0], b[:, 1], b[:, 2], b[:, 3]  # (B, 1, 1)
    tcx, tcy = (x1 + x2) / 2, (y1 + y2) / 2
    tw, th = (x2 - x1).clamp(min=1.0), (y2 - y1).clamp(min=1.0)
    d_inner = ((px - tcx) / (tw / 4)) ** 2 + ((py - tcy) / (th / 4)) ** 2
    d_outer = ((px - tcx) / (tw / 2)) ** 2 + ((py - tcy) / (th / 2)) ** 2
    pair = positive_pair.reshape(-1, 1, 1)
    pos = (d_inner < 1) & pair
    neg = (d_outer > 1) | ~pair
    window = _negative_pair_candidates(size, neg_pair_radius, boxes_xyxy.device)
    labels = torch.full(d_inner.shape, -1.0, device=boxes_xyxy.device)
    labels[(d_outer > 1) & pair] = 0
    labels[(~pair & window).expand_as(labels)] = 0
    labels[pos] = 1
    quota = _quota(positive_pair, total_num, neg_pair_num)
    sampled = sample_labels(labels, pos_num, quota, generator)
    loc = torch.stack([px - x1, py - y1, x2 - px, y2 - py], dim=1)  # (B, 4, N, N)
    return PointTargets(cls=sampled, loc=loc, pos_any=pos, neg_all=neg)


def position_labels(
    boxes_xyxy: torch.Tensor,
    positive_pair: torch.Tensor,
    *,
    head_type: str,
    stride: int,
    size: int,
    search_size: int,
    ratios: Sequence[float] = (),
    scales: Sequence[float] = (),
    pos_thr: float = 0.6,
    neg_thr: float = 0.3,
) -> tuple[torch.Tensor, torch.Tensor]:
    """SiamMargin's binary label per correlation-map position on an ``size x size`` grid.

    Returns ``(label, hard_negative_pool)``, both ``(B, N, N)`` bool: ``label`` is True where any
    anchor/point at that position is positive and False where none is (shared from the head's
    assignment); ``hard_negative_pool`` marks positions that are unambiguously background, the
    ones the margin term may pick its hardest negatives from (the ring right around the target is
    label 0 but is not a distractor).
    """
    if head_type == "anchor":
        t = anchor_targets(
            boxes_xyxy,
            positive_pair,
            stride=stride,
            ratios=ratios,
            scales=scales,
            size=size,
            search_size=search_size,
            pos_thr=pos_thr,
            neg_thr=neg_thr,
        )
        return t.pos_any, t.neg_all
    p = point_targets(boxes_xyxy, positive_pair, stride=stride, size=size, search_size=search_size)
    return p.pos_any, p.neg_all
