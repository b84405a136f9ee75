"""The training loop: the loss goes down, checkpoints load in the Tracker, resume is exact."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from train_helpers import TINY, batch_of, tiny_config, tiny_dataset

from siam_tracker_ros.core.loading import load_tracker
from siam_tracker_ros.models.registry import build_model
from siam_tracker_ros.training.objective import HeadGeometry, TrainModule
from siam_tracker_ros.training.trainer import train


@pytest.mark.slow  # 14-21 s per head on the 2-core VM (2026-12-03)
@pytest.mark.parametrize("head", ["anchor", "point"])
def test_a_few_steps_on_tiny_data_reduce_the_loss(tmp_path: Path, head: str) -> None:
    torch.manual_seed(0)
    cfg = tiny_config(tmp_path)
    model = build_model({**TINY["model"], "head": head})
    geo = (
        HeadGeometry("anchor", 8, 127, (0.33, 0.5, 1.0, 2.0, 3.0), (4.0,))
        if head == "anchor"
        else HeadGeometry("point", 8, 127)
    )
    module = TrainModule(model, geo, cfg.loss, corr_channels=[32])
    batch = batch_of(tiny_dataset(cfg), 8)
    opt = torch.optim.SGD(module.parameters(), lr=0.01, momentum=0.9)

    def loss_at(step: int) -> dict[str, torch.Tensor]:
        gen = torch.Generator().manual_seed(step)
        return module(batch["template"], batch["search"], batch["box"], batch["positive"], gen)

    module.train()
    first = {k: float(v.detach()) for k, v in loss_at(0).items()}
    for step in range(20):
        terms = loss_at(step)
        opt.zero_grad()
        terms["total"].backward()
        opt.step()
    last = {k: float(v.detach()) for k, v in loss_at(0).items()}
    assert last["total"] < 0.7 * first["total"], (first, last)
    assert last["margin"] < first["margin"] and last["cls"] < first["cls"]


def test_train_writes_a_checkpoint_the_tracker_loads(tmp_path: Path) -> None:

    cfg = tiny_config(tmp_path, optim={"max_steps": 3})
    result = train(cfg)
    assert result.global_step == 3 and result.stopped_early
    assert result.model_path is not None and result.model_path.is_file()
    lines = (tmp_path / "run" / "history.jsonl").read_text().splitlines()
    assert [json.loads(x)["step"] for x in lines] == [1, 2, 3]
    tracker = load_tracker(result.model_path)
    img = np.random.default_rng(0).integers(0, 255, (120, 160, 3), dtype=np.uint8)
    tracker.init(img, (60.0, 40.0, 30.0, 20.0))
    out = tracker.track(img)
    assert np.isfinite(out.box).all()


def test_resume_continues_where_it_stopped(tmp_path: Path) -> None:
    # steps per epoch = 16 / 4 = 4; epoch 0 frozen backbone, epoch 1 unfrozen: 6 steps cross it
    full = train(tiny_config(tmp_path / "a", optim={"max_steps": 6}))
    part = train(tiny_config(tmp_path / "b", optim={"max_steps": 3}))
    rest = train(tiny_config(tmp_path / "b", optim={"max_steps": 6}), resume=True)
    assert [h["step"] for h in rest.history] == [4, 5, 6]
    for a, b in zip(full.history[3:], rest.history, strict=True):
        assert a["lr"] == pytest.approx(b["lr"], rel=1e-12)
        assert a["total"] == pytest.approx(b["total"], rel=1e-5, abs=1e-6)
    for a, b in zip(full.history[:3], part.history, strict=True):
        assert a["total"] == pytest.approx(b["total"], rel=1e-5, abs=1e-6)
    sa = torch.load(tmp_path / "a" / "run" / "last.pt", weights_only=True)["train_module"]
    sb = torch.load(tmp_path / "b" / "run" / "last.pt", weights_only=True)["train_module"]
    for k in sa:
        assert torch.allclose(sa[k].float(), sb[k].float(), atol=1e-5), k
