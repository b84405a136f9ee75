"""Loss functions: the margin term, balanced CE, L1 and IoU losses."""

from __future__ import annotations

import math

import pytest
import torch

from siam_tracker_ros.training.losses import (
    MarginAux,
    balanced_ce,
    iou_loss,
    margin_ranking_loss,
    weighted_l1,
)


def _maps() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    resp = torch.zeros(1, 3, 3)
    pos = torch.zeros(1, 3, 3, dtype=torch.bool)
    pos[0, 1, 1] = True
    neg = ~pos
    return resp, pos, neg


def test_margin_loss_is_zero_when_the_margin_is_met() -> None:
    resp, pos, neg = _maps()
    resp[0, 1, 1] = 3.0
    resp[0, 0, 0] = 1.9  # hardest negative: 3.0 - 1.9 = 1.1 > margin 1.0
    assert float(margin_ranking_loss(resp, pos, neg, margin=1.0, topk=4)) == 0.0


def test_margin_loss_is_positive_when_violated_and_has_the_expected_value() -> None:
    resp, pos, neg = _maps()
    resp[0, 1, 1] = 3.0
    resp[0, 0, 0] = 2.5  # a distractor only 0.5 below the target: violation 0.5
    resp[0, 2, 2] = 3.5  # a distractor above the target: violation 1.5
    loss = margin_ranking_loss(resp, pos, neg, margin=1.0, topk=2)
    assert float(loss) == pytest.approx((0.5 + 1.5) / 2)
    # the gradient lowers the negatives and raises the target
    r = resp.clone().requires_grad_(True)
    margin_ranking_loss(r, pos, neg, margin=1.0, topk=2).backward()
    assert r.grad is not None
    assert r.grad[0, 1, 1] < 0 and r.grad[0, 0, 0] > 0 and r.grad[0, 2, 2] > 0


def test_margin_loss_skips_samples_without_a_target() -> None:
    resp, pos, neg = _maps()
    resp[0, 0, 0] = 10.0
    no_pos = torch.zeros_like(pos)
    assert float(margin_ranking_loss(resp, no_pos, neg, margin=1.0, topk=3)) == 0.0


def test_balanced_ce_weights_classes_equally() -> None:
    logits = torch.zeros(4, 2)
    labels = torch.tensor([1, 0, 0, -1])
    assert float(balanced_ce(logits, labels)) == pytest.approx(math.log(2))
    confident = torch.tensor([[0.0, 20.0], [20.0, 0.0], [20.0, 0.0], [0.0, 0.0]])
    assert float(balanced_ce(confident, labels)) < 1e-6


def test_weighted_l1_and_iou_loss() -> None:
    pred = torch.zeros(1, 4, 1, 2, 2)
    target = torch.ones(1, 4, 1, 2, 2)
    weight = torch.zeros(1, 1, 2, 2)
    weight[0, 0, 0, 0] = 1.0
    assert float(weighted_l1(pred, target, weight)) == pytest.approx(4.0)
    d = torch.full((1, 4, 2, 2), 10.0)
    mask = torch.ones(1, 2, 2, dtype=torch.bool)
    assert float(iou_loss(d, d, mask)) == pytest.approx(0.0, abs=1e-6)
    half = d.clone()
    half[:, 2] = 0.0  # right distance 0: box half as wide, IoU 0.5
    assert float(iou_loss(half, d, mask)) == pytest.approx(0.5)


def test_margin_aux_scores_every_position() -> None:
    aux = MarginAux([8, 4], hidden=0)
    out = aux([torch.randn(2, 8, 5, 5), torch.randn(2, 4, 5, 5)])
    assert [tuple(o.shape) for o in out] == [(2, 5, 5), (2, 5, 5)]
    with pytest.raises(ValueError):
        aux([torch.randn(2, 8, 5, 5)])
