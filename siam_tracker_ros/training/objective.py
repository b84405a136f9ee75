"""One training step's objective: model + targets + losses in one ``nn.Module``.

With ``loss.distill_weight``/``distill_loc_weight`` > 0 the module also holds a *teacher*: a
frozen copy of the starting weights (never trained, always in eval mode, no gradients), whose
head outputs on the same pairs the student is pulled toward, so fine-tuning keeps what the base
model knows.

Wrapping the model and the training-only :class:`MarginAux` scorer in one module lets
DistributedDataParallel synchronise both with one wrapper, and keeps the loss code independent of
how the model is distributed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from siam_tracker_ros.models.base import HeadOutput, SiameseModel
from siam_tracker_ros.training.labels import anchor_targets, point_targets, position_labels
from siam_tracker_ros.training.losses import (
    LossConfig,
    MarginAux,
    balanced_bce,
    balanced_ce,
    distill_losses,
    iou_loss,
    margin_ranking_loss,
    weighted_l1,
)

__all__ = ["HeadGeometry", "TrainModule"]


@dataclass(frozen=True)
class HeadGeometry:
    """How the tracker decodes this model's head (from the config's ``tracker:`` section)."""

    head_type: str
    stride: int
    search_size: int
    ratios: tuple[float, ...] = ()
    scales: tuple[float, ...] = ()
    #: point heads: "softmax" over the 2 channels or "sigmoid" of channel 1
    score_activation: str = "softmax"

    @property
    def anchor_num(self) -> int:
        return len(self.ratios) * len(self.scales)


class TrainModule(nn.Module):
    """``forward(template, search, boxes, positive)`` -> named loss terms (``"total"`` included).

    A plain dict of tensors (not a dataclass) so DistributedDataParallel can find the outputs.
    """

    def __init__(
        self,
        model: SiameseModel,
        geometry: HeadGeometry,
        loss_cfg: LossConfig,
        corr_channels: Sequence[int] = (),
        teacher: SiameseModel | None = None,
    ) -> None:
        super().__init__()
        if geometry.head_type != model.head_type:
            raise ValueError(
                f"model head_type {model.head_type!r} != geometry {geometry.head_type!r}"
            )
        if geometry.stride != model.stride:
            raise ValueError(
                f"the tracker config's stride {geometry.stride} differs from the model's "
                f"{model.stride}: labels would not match how the tracker decodes the head"
            )
        self.model = model
        self.geometry = geometry
        self.loss_cfg = loss_cfg
        self.aux: MarginAux | None = None
        if loss_cfg.uses_corr:
            if not corr_channels:
                raise ValueError(
                    "loss.corr_weight/margin_weight > 0 need HeadOutput.corr from the model, "
                    "but this model returns no correlation maps"
                )
            self.aux = MarginAux(corr_channels, loss_cfg.scorer_hidden)
        self.teacher: SiameseModel | None = None
        if loss_cfg.uses_teacher:
            if teacher is None:
                raise ValueError(
                    "loss.distill_weight/distill_loc_weight > 0 need a teacher (the starting "
                    "model); TrainModule(..., teacher=frozen_copy(model))"
                )
            if teacher is model:
                raise ValueError("the teacher must be a separate (frozen) copy of the model")
            for p in teacher.parameters():
                p.requires_grad_(False)
            teacher.eval()
            self.teacher = teacher

    def train(self, mode: bool = True) -> TrainModule:
        super().train(mode)
        if self.teacher is not None:
            self.teacher.eval()  # its BN statistics stay the starting model's
        return self

    def trainable_named_parameters(self) -> list[tuple[str, nn.Parameter]]:
        """Every parameter except the teacher's (what the optimizer may update)."""
        return [(n, p) for n, p in self.named_parameters() if not n.startswith("teacher.")]

    def forward(
        self,
        template: torch.Tensor,
        search: torch.Tensor,
        boxes: torch.Tensor,
        positive: torch.Tensor,
        generator: torch.Generator | None = None,
    ) -> dict[str, torch.Tensor]:
        out = self.model(template, search)
        terms = self.losses(out, boxes, positive, generator)
        if self.teacher is not None:
            with torch.no_grad():
                t_out = self.teacher(template, search)
            d = self.distill_terms(out, t_out)
            c = self.loss_cfg
            terms["total"] = (
                terms["total"]
                + c.distill_weight * d["distill_cls"]
                + c.distill_loc_weight * d["distill_loc"]
            )
            terms.update(d)
        return terms

    def distill_terms(self, out: HeadOutput, t_out: HeadOutput) -> dict[str, torch.Tensor]:
        """``distill_cls`` and ``distill_loc`` of the student's outputs toward the teacher's."""
        g = self.geometry
        return distill_losses(
            out,
            t_out,
            head_type=g.head_type,
            anchor_num=g.anchor_num,
            score_activation=g.score_activation,
            temperature=self.loss_cfg.distill_temperature,
        )

    def losses(
        self,
        out: HeadOutput,
        boxes: torch.Tensor,
        positive: torch.Tensor,
        generator: torch.Generator | None = None,
    ) -> dict[str, torch.Tensor]:
        g, c = self.geometry, self.loss_cfg
        size = out.cls.shape[-1]
        b = out.cls.shape[0]
        terms: dict[str, torch.Tensor] = {}
        if g.head_type == "anchor":
            t = anchor_targets(
                boxes,
                positive,
                stride=g.stride,
                ratios=g.ratios,
                scales=g.scales,
                size=size,
                search_size=g.search_size,
                pos_thr=c.pos_thr,
                neg_thr=c.neg_thr,
                pos_num=c.pos_num,
                total_num=c.total_num,
                neg_pair_num=c.neg_pair_num,
                generator=generator,
            )
            a = g.anchor_num
            cls = out.cls.reshape(b, 2, a, size, size).permute(0, 2, 3, 4, 1)
            terms["cls"] = balanced_ce(cls, t.cls)
            loc = out.loc.reshape(b, 4, a, size, size)
            terms["loc"] = weighted_l1(loc, t.loc, t.loc_weight)
            head_resp = (cls[..., 1] - cls[..., 0]).amax(dim=1)
            pos_any, neg_all = t.pos_any, t.neg_all
        else:
            p = point_targets(
                boxes,
                positive,
                stride=g.stride,
                size=size,
                search_size=g.search_size,
                pos_num=c.pos_num,
                total_num=c.total_num,
                neg_pair_num=c.neg_pair_num,
                generator=generator,
            )
            if g.score_activation == "sigmoid":
                terms["cls"] = balanced_bce(out.cls[:, 1][p.cls >= 0], p.cls[p.cls >= 0] == 1)
                head_resp = out.cls[:, 1].float()
            else:
                cls = out.cls.permute(0, 2, 3, 1)
                terms["cls"] = balanced_ce(cls, p.cls)
                head_resp = (cls[..., 1] - cls[..., 0]).float()
            pos_mask = p.cls == 1
            if c.point_loc == "iou":
                terms["loc"] = iou_loss(out.loc, p.loc, pos_mask)
            else:
                terms["loc"] = _log_l1(out.loc, p.loc, pos_mask)
            pos_any, neg_all = p.pos_any, p.neg_all
        total = c.cls_weight * terms["cls"] + c.loc_weight * terms["loc"]
        if c.head_margin_weight > 0:
            terms["head_margin"] = margin_ranking_loss(
                head_resp, pos_any, neg_all, c.margin, c.margin_topk
            )
            total = total + c.head_margin_weight * terms["head_margin"]
        if self.aux is not None:
            if not out.corr:
                raise ValueError("the margin loss needs HeadOutput.corr, the model returned none")
            corr_terms = self._corr_losses(out.corr, boxes, positive, (size, pos_any, neg_all))
            terms.update(corr_terms)
            total = total + c.corr_weight * corr_terms["corr"]
            total = total + c.margin_weight * corr_terms["margin"]
        terms["total"] = total
        return terms

    def _corr_losses(
        self,
        corr: Sequence[torch.Tensor],
        boxes: torch.Tensor,
        positive: torch.Tensor,
        head_labels: tuple[int, torch.Tensor, torch.Tensor],
    ) -> dict[str, torch.Tensor]:
        """``head_labels``: ``(size, pos_any, neg_all)`` the head's assignment already produced;
        a correlation map on that same grid reuses them instead of assigning again."""
        assert self.aux is not None
        g, c = self.geometry, self.loss_cfg
        responses = self.aux(corr)
        head_size, head_pos, head_neg = head_labels
        bce, margin = [], []
        for resp in responses:
            if resp.shape[-1] == head_size:
                label, pool = head_pos, head_neg
            else:
                label, pool = position_labels(
                    boxes,
                    positive,
                    head_type=g.head_type,
                    stride=g.stride,
                    size=resp.shape[-1],
                    search_size=g.search_size,
                    ratios=g.ratios,
                    scales=g.scales,
                    pos_thr=c.pos_thr,
                    neg_thr=c.neg_thr,
                )
            bce.append(balanced_bce(resp, label))
            margin.append(margin_ranking_loss(resp, label, pool, c.margin, c.margin_topk))
        return {
            "corr": torch.stack(bce).mean(),
            "margin": torch.stack(margin).mean(),
        }


def _log_l1(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """L1 between log distances at the positive points (scale-invariant, like pysot's dw/dh)."""
    if not mask.any():
        return pred.sum() * 0.0
    p = pred.float().clamp(min=1e-3).log().permute(0, 2, 3, 1)[mask]
    t = target.clamp(min=1e-3).log().permute(0, 2, 3, 1)[mask]
    return (p - t).abs().sum(1).mean()
