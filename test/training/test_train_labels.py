"""Label assignment on hand-made cases (anchors, points, correlation-map positions)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from siam_tracker_ros.core.anchors import generate_anchors
from siam_tracker_ros.training.labels import (
    anchor_targets,
    box_iou_xyxy,
    point_targets,
    position_grid,
    position_labels,
    sample_labels,
)

RATIOS = (0.33, 0.5, 1.0, 2.0, 3.0)
S = 255  # search size; crop centre at 127.5


def _anchor_box(a: int, i: int, j: int) -> torch.Tensor:
    """x1y1x2y2 (search-crop coordinates) of anchor a at row i, column j (25x25, stride 8)."""
    anc = generate_anchors(8, RATIOS, (8,), 25).reshape(5, 25, 25, 4)[a, i, j]
    cx, cy, w, h = float(anc[0]) + S / 2, float(anc[1]) + S / 2, float(anc[2]), float(anc[3])
    return torch.tensor([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])


def _targets(box: torch.Tensor, positive: bool = True, **kw: object):
    return anchor_targets(
        box[None],
        torch.tensor([positive]),
        stride=8,
        ratios=RATIOS,
        scales=(8,),
        size=25,
        search_size=S,
        **kw,  # type: ignore[arg-type]
    )


def test_box_equal_to_an_anchor_is_positive_with_zero_regression() -> None:
    box = _anchor_box(2, 10, 14)  # the square anchor, left/up of centre
    t = _targets(box, pos_num=100, total_num=100_000)
    assert t.cls[0, 2, 10, 14] == 1
    assert torch.allclose(t.loc[0, :, 2, 10, 14], torch.zeros(4), atol=1e-5)
    assert t.pos_any[0, 10, 14]
    # far away anchors are negatives and the position there is a clear negative
    assert t.cls[0, :, 0, 0].eq(0).all() and t.neg_all[0, 0, 0]
    # the loc weight spreads 1 over the sampled positives
    assert float(t.loc_weight.sum()) == pytest.approx(1.0)


def test_iou_band_between_thresholds_is_ignored() -> None:
    anchor = _anchor_box(2, 12, 12)  # 64x64 square at the crop centre
    # shift right so that IoU with that anchor is 0.5: overlap w = 64 - d, IoU = (64-d)/(64+d)
    d = 64 / 3
    box = anchor + torch.tensor([d, 0.0, d, 0.0])
    assert float(box_iou_xyxy(anchor, box)) == pytest.approx(0.5, abs=1e-4)
    t = _targets(box, pos_num=100, total_num=2000)
    # the anchor one cell (8 px) to the right is closer (IoU > 0.6) -> positive there, while the
    # centre one sits in the ignore band
    assert t.cls[0, 2, 12, 12] == -1
    assert t.cls[0, 2, 12, 15] == 1
    # label 0 at the centre position for SiamMargin, but not a hard-negative candidate
    assert not t.neg_all[0, 12, 12]


def test_sampling_caps_positives_and_total() -> None:
    # a 64x64 target at the centre: the square anchors of the 3x3 cells around it have IoU > 0.6
    box = torch.tensor([S / 2 - 32, S / 2 - 32, S / 2 + 32, S / 2 + 32])
    full = _targets(box, pos_num=10_000, total_num=100_000)
    assert int((full.cls == 1).sum()) == 9
    assert full.pos_any[0, 11:14, 11:14].all() and int(full.pos_any.sum()) == 9
    t = _targets(box, pos_num=4, total_num=20, generator=torch.Generator().manual_seed(0))
    assert int((t.cls == 1).sum()) == 4
    assert int((t.cls == 0).sum()) == 16
    t = _targets(box, generator=torch.Generator().manual_seed(0))  # pysot's 16 / 64
    assert int((t.cls == 1).sum()) == 9
    assert int((t.cls == 0).sum()) == 64 - 9
    # sampled positives are a subset of all positives
    assert bool(((t.cls == 1) <= (full.cls == 1)).all())


def test_negative_pair_labels_only_the_centre_window() -> None:
    box = torch.tensor([S / 2 - 32, S / 2 - 32, S / 2 + 32, S / 2 + 32])
    t = _targets(box, positive=False, neg_pair_num=10_000)
    assert int((t.cls == 1).sum()) == 0
    negs = (t.cls == 0).any(1)[0]
    rows, cols = torch.nonzero(negs, as_tuple=True)
    assert rows.min() == 9 and rows.max() == 15 and cols.min() == 9 and cols.max() == 15
    assert not t.pos_any.any() and t.neg_all.all()
    t16 = _targets(box, positive=False, generator=torch.Generator().manual_seed(1))
    assert int((t16.cls == 0).sum()) == 16


def test_point_labels_follow_the_ellipses() -> None:
    grid = position_grid(16, 16, S)
    assert grid[8, 8].tolist() == [S / 2, S / 2]  # point (8, 8) is the crop centre (NanoTrack)
    assert grid[0, 0].tolist() == [S / 2 - 128, S / 2 - 128]
    # 128x64 target centred on point (8, 8)
    box = torch.tensor([S / 2 - 64, S / 2 - 32, S / 2 + 64, S / 2 + 32])
    p = point_targets(
        box[None],
        torch.tensor([True]),
        stride=16,
        size=16,
        search_size=S,
        pos_num=100,
        total_num=1000,
    )
    # inner ellipse semi-axes 32 x 16: (8,8) and the points 16 px left/right are inside
    assert p.cls[0, 8, 8] == 1 and p.cls[0, 8, 7] == 1 and p.cls[0, 8, 9] == 1
    assert p.cls[0, 7, 8] != 1  # 16 px up is on the inner boundary (not < 1)
    # outer ellipse semi-axes 64 x 32: (8, 11) is 48 px right: inside outer -> ignored
    assert p.cls[0, 8, 11] == -1
    assert p.cls[0, 0, 0] == 0
    assert p.loc[0, :, 8, 8].tolist() == [64.0, 32.0, 64.0, 32.0]
    assert p.loc[0, :, 8, 9].tolist() == [80.0, 32.0, 48.0, 32.0]


def test_position_labels_mark_positions_with_any_positive() -> None:
    box = _anchor_box(4, 5, 20)  # a tall anchor far from the centre
    label, pool = position_labels(
        box[None],
        torch.tensor([True]),
        head_type="anchor",
        stride=8,
        size=25,
        search_size=S,
        ratios=RATIOS,
        scales=(8,),
    )
    assert label[0, 5, 20] and label.sum() >= 1
    assert not (label & pool).any()
    assert pool[0, 20, 3]
    label_neg, pool_neg = position_labels(
        box[None],
        torch.tensor([False]),
        head_type="anchor",
        stride=8,
        size=25,
        search_size=S,
        ratios=RATIOS,
        scales=(8,),
    )
    assert not label_neg.any() and pool_neg.all()


def test_sample_labels_is_reproducible_and_respects_quotas() -> None:
    labels = torch.tensor([[1.0] * 30 + [0.0] * 100 + [-1.0] * 10, [1.0] * 3 + [0.0] * 137])
    a = sample_labels(labels, 16, 64, torch.Generator().manual_seed(5))
    b = sample_labels(labels, 16, 64, torch.Generator().manual_seed(5))
    assert torch.equal(a, b)
    assert (a[0] == 1).sum() == 16 and (a[0] == 0).sum() == 48
    assert (a[1] == 1).sum() == 3 and (a[1] == 0).sum() == 61
    assert not ((a == 1) & (labels != 1)).any() and not ((a == 0) & (labels != 0)).any()
    np.testing.assert_array_equal((a[0, 130:] == -1).numpy(), np.ones(10, bool))
