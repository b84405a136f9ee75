"""Losses: SiamRPN++'s (balanced CE + 1.2 * weighted L1), the point-head equivalent (balanced CE +
IoU loss) and SiamMargin's correlation-map supervision with its margin term.

SiamMargin's argument: the RPN head cannot guarantee that the correlation map ranks the target
above a look-alike distractor, so the correlation map gets its own supervision -- a tiny 1x1-conv
scorer on the correlation embedding, trained with a binary label per position (1 where any anchor
or point is positive) -- made "harsh" by a margin: the hardest negatives' responses must sit at
least ``margin`` below the target's response. The scorer exists only in training: its parameters
live in :class:`MarginAux` (not in the model), so the shipped model is unchanged in size and
speed, while the gradient shapes the backbone/neck/correlation features the head sees.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from siam_tracker_ros.models.base import HeadOutput

__all__ = [
    "LossConfig",
    "MarginAux",
    "balanced_ce",
    "distill_losses",
    "iou_loss",
    "margin_ranking_loss",
    "weighted_l1",
]


@dataclass(frozen=True)
class LossConfig:
    """The ``loss:`` section of a training config."""

    cls_weight: float = 1.0
    loc_weight: float = 1.2
    #: point heads: "iou" (1 - IoU, SiamBAN/NanoTrack's linear IoU) or "l1" (on log distances)
    point_loc: str = "iou"
    pos_thr: float = 0.6
    neg_thr: float = 0.3
    pos_num: int = 16
    total_num: int = 64
    neg_pair_num: int = 16
    #: SiamMargin: binary CE of the correlation-map scorer (0 disables the scorer)
    corr_weight: float = 0.0
    #: SiamMargin: the margin term on the scorer's responses (0 disables it)
    margin_weight: float = 0.0
    #: the same margin term on the head's own foreground score (0 disables it)
    head_margin_weight: float = 0.0
    margin: float = 1.0
    #: how many of the hardest negative positions per sample the margin looks at
    margin_topk: int = 8
    #: hidden width of the scorer (0: a single linear 1x1 conv)
    scorer_hidden: int = 0
    #: distillation toward the starting model (a frozen copy of the initial weights): KL of the
    #: teacher's cls distribution to the student's at every position (0 disables the teacher)
    distill_weight: float = 0.0
    #: the same for the box branch: L1 between student and teacher box outputs (point heads: on
    #: log distances), weighted per position by the teacher's foreground probability
    distill_loc_weight: float = 0.0
    #: softmax temperature of the cls distillation (the KL is scaled by T^2, as Hinton et al.)
    distill_temperature: float = 1.0

    def __post_init__(self) -> None:
        if self.point_loc not in ("iou", "l1"):
            raise ValueError(f"loss.point_loc: must be 'iou' or 'l1', got {self.point_loc!r}")
        for name in (
            "cls_weight",
            "loc_weight",
            "corr_weight",
            "margin_weight",
            "head_margin_weight",
            "margin",
            "distill_weight",
            "distill_loc_weight",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"loss.{name}: must be >= 0")
        if not 0 <= self.neg_thr <= self.pos_thr <= 1:
            raise ValueError("loss: need 0 <= neg_thr <= pos_thr <= 1")
        if self.margin_topk < 1 or self.pos_num < 0 or self.total_num < 1:
            raise ValueError("loss.margin_topk/total_num must be >= 1, pos_num >= 0")
        if self.distill_temperature <= 0:
            raise ValueError("loss.distill_temperature: must be > 0")

    @property
    def uses_corr(self) -> bool:
        return self.corr_weight > 0 or self.margin_weight > 0

    @property
    def uses_teacher(self) -> bool:
        return self.distill_weight > 0 or self.distill_loc_weight > 0


def balanced_ce(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """``0.5 * CE(positives) + 0.5 * CE(negatives)`` over the whole batch (pysot's ``select``).

    ``logits`` ``(..., 2)`` background/foreground; ``labels`` ``(...)`` in {1, 0, -1}. A class with
    no sampled member contributes 0 (as pysot's ``get_cls_loss``).
    """
    logp = F.log_softmax(logits.float(), dim=-1)
    loss = logits.new_zeros((), dtype=torch.float32)
    for cls_id in (1, 0):
        mask = labels == cls_id
        if mask.any():
            loss = loss + 0.5 * (-logp[..., cls_id][mask]).mean()
    return loss


def weighted_l1(pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """pysot's ``weight_l1_loss``: ``sum(|pred - target| summed over 4 coords * weight) / B``.

    ``pred``/``target`` ``(B, 4, A, N, N)``, ``weight`` ``(B, A, N, N)`` (1/num_pos at positives).
    """
    diff = (pred.float() - target).abs().sum(dim=1)
    return (diff * weight).sum() / pred.shape[0]


def iou_loss(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean ``1 - IoU`` of l/t/r/b distance boxes ``(B, 4, N, N)`` at the ``mask`` positions."""
    if not mask.any():
        return pred.sum() * 0.0
    p = pred.float().permute(0, 2, 3, 1)[mask]
    t = target.permute(0, 2, 3, 1)[mask]
    p_area = (p[:, 0] + p[:, 2]) * (p[:, 1] + p[:, 3])
    t_area = (t[:, 0] + t[:, 2]) * (t[:, 1] + t[:, 3])
    w = torch.minimum(p[:, 0], t[:, 0]) + torch.minimum(p[:, 2], t[:, 2])
    h = torch.minimum(p[:, 1], t[:, 1]) + torch.minimum(p[:, 3], t[:, 3])
    inter = w.clamp(min=0) * h.clamp(min=0)
    iou = inter / (p_area + t_area - inter).clamp(min=1e-6)
    return (1.0 - iou).mean()


def margin_ranking_loss(
    response: torch.Tensor,
    pos_mask: torch.Tensor,
    neg_mask: torch.Tensor,
    margin: float,
    topk: int,
) -> torch.Tensor:
    """Push the hardest negatives at least ``margin`` below the target's response.

    ``response`` ``(B, H, W)``; ``pos_mask``/``neg_mask`` ``(B, H, W)`` bool. Per sample with any
    positive: target response = mean response over its positive positions; the ``topk`` highest
    responses among its negatives each pay ``relu(margin - (target - negative))``. Averaged over
    samples (and the k negatives); samples without positives (negative pairs) or negatives are
    skipped. Exactly 0 when every sample meets the margin.
    """
    b = response.shape[0]
    r = response.float().reshape(b, -1)
    pos = pos_mask.reshape(b, -1)
    neg = neg_mask.reshape(b, -1)
    valid = pos.any(1) & neg.any(1)
    if not valid.any():
        return response.sum() * 0.0
    r, pos, neg = r[valid], pos[valid], neg[valid]
    target = (r * pos).sum(1) / pos.sum(1)
    k = min(topk, r.shape[1])
    neg_r = torch.where(neg, r, torch.full_like(r, float("-inf")))
    hard, _ = neg_r.topk(k, dim=1)
    present = torch.isfinite(hard)
    viol = F.relu(margin - (target.unsqueeze(1) - hard))
    viol = torch.where(present, viol, torch.zeros_like(viol))
    per_sample = viol.sum(1) / present.sum(1).clamp(min=1)
    return per_sample.mean()


def balanced_bce(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """``0.5 * BCE(label 1) + 0.5 * BCE(label 0)`` over all positions of the batch."""
    loss = F.binary_cross_entropy_with_logits(logits.float(), labels.float(), reduction="none")
    out = logits.new_zeros((), dtype=torch.float32)
    for val in (True, False):
        mask = labels == val
        if mask.any():
            out = out + 0.5 * loss[mask].mean()
    return out


class MarginAux(nn.Module):
    """SiamMargin's training-only scorer: one small 1x1-conv stack per correlation level.

    Lives beside the model (its parameters are optimised and checkpointed with the training
    state, never shipped), so enabling the margin loss changes what the model learns, not what
    it is.
    """

    def __init__(self, channels: Sequence[int], hidden: int = 0) -> None:
        super().__init__()
        scorers = []
        for c in channels:
            if hidden > 0:
                scorers.append(
                    nn.Sequential(
                        nn.Conv2d(c, hidden, 1), nn.ReLU(inplace=True), nn.Conv2d(hidden, 1, 1)
                    )
                )
            else:
                scorers.append(nn.Sequential(nn.Conv2d(c, 1, 1)))
        self.scorers = nn.ModuleList(scorers)

    def forward(self, corr: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """Per-level responses ``(B, H, W)`` (logits)."""
        if len(corr) != len(self.scorers):
            raise ValueError(f"MarginAux has {len(self.scorers)} levels, got {len(corr)} maps")
        return [s(c.float()).squeeze(1) for s, c in zip(self.scorers, corr, strict=True)]


def distill_losses(
    student: HeadOutput,
    teacher: HeadOutput,
    *,
    head_type: str,
    anchor_num: int = 1,
    score_activation: str = "softmax",
    temperature: float = 1.0,
) -> dict[str, torch.Tensor]:
    """Keep what the starting model knows: match its head outputs on the same pairs.

    ``distill_cls``: mean over positions (and anchors) of ``KL(teacher || student)`` of the
    foreground/background distribution at temperature ``T`` (softmax over the 2 logits, or the
    sigmoid of the foreground logit for ``score_activation == "sigmoid"``), times ``T^2``.
    ``distill_loc``: L1 between the box outputs (anchor heads: the 4 deltas; point heads: log
    distances, scale-invariant), summed over the 4 coordinates and averaged with the teacher's
    foreground probability as weight, so only positions the teacher thinks hold the target count
    (elsewhere its box outputs are unsupervised noise). Both are exactly 0 when the outputs match.
    """
    t = float(temperature)
    b, _, n, m = student.cls.shape
    if head_type == "anchor":
        s_logits = student.cls.float().reshape(b, 2, anchor_num, n, m)
        t_logits = teacher.cls.float().reshape(b, 2, anchor_num, n, m)
        s_loc = student.loc.float().reshape(b, 4, anchor_num, n, m)
        t_loc = teacher.loc.float().reshape(b, 4, anchor_num, n, m)
    else:
        s_logits, t_logits = student.cls.float(), teacher.cls.float()
        s_loc = student.loc.float().clamp(min=1e-3).log()
        t_loc = teacher.loc.float().clamp(min=1e-3).log()
    if head_type == "point" and score_activation == "sigmoid":
        s_p = torch.sigmoid(s_logits[:, 1] / t)
        t_p = torch.sigmoid(t_logits[:, 1] / t)
        eps = 1e-6
        kl = t_p * (torch.log(t_p + eps) - torch.log(s_p + eps)) + (1 - t_p) * (
            torch.log(1 - t_p + eps) - torch.log(1 - s_p + eps)
        )
        fg = torch.sigmoid(t_logits[:, 1])
    else:
        s_logp = F.log_softmax(s_logits / t, dim=1)
        t_logp = F.log_softmax(t_logits / t, dim=1)
        kl = (t_logp.exp() * (t_logp - s_logp)).sum(dim=1)
        fg = F.softmax(t_logits, dim=1)[:, 1]
    cls = kl.mean() * t * t
    w = fg.detach()
    diff = (s_loc - t_loc.detach()).abs().sum(dim=1)
    loc = (diff * w).sum() / w.sum().clamp(min=1e-6)
    return {"distill_cls": cls, "distill_loc": loc}
