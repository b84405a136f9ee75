"""Fine-tuning that does not forget: distillation toward a frozen teacher, held-out videos and
early stopping that keeps the best evaluation's weights, NanoTrack v3 as a training base."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import torch
import yaml
from train_helpers import TINY, batch_of, tiny_config, tiny_dataset

from siam_tracker_ros.datasets import TrackSequence
from siam_tracker_ros.models.base import HeadOutput
from siam_tracker_ros.models.checkpoint import load_checkpoint
from siam_tracker_ros.models.registry import build_model
from siam_tracker_ros.training import trainer as trainer_mod
from siam_tracker_ros.training.config import train_config_from_dict
from siam_tracker_ros.training.dataset import PairDataset
from siam_tracker_ros.training.losses import LossConfig, distill_losses
from siam_tracker_ros.training.objective import HeadGeometry, TrainModule
from siam_tracker_ros.training.sources import build_source_split, split_holdout
from siam_tracker_ros.training.trainer import _param_groups, train

ROOT = Path(__file__).resolve().parents[2]

# ---------------------------------------------------------------- distillation loss


def _out(b: int, channels: int, n: int, seed: int) -> HeadOutput:
    g = torch.Generator().manual_seed(seed)
    cls = torch.randn(b, 2 * channels, n, n, generator=g)
    loc = torch.rand(b, 4 * channels, n, n, generator=g) * 50 + 1
    return HeadOutput(cls=cls, loc=loc)


@pytest.mark.parametrize(
    ("head_type", "anchors", "activation"),
    [("point", 1, "softmax"), ("point", 1, "sigmoid"), ("anchor", 5, "softmax")],
)
def test_distillation_is_zero_for_equal_outputs_and_positive_otherwise(
    head_type: str, anchors: int, activation: str
) -> None:
    t = _out(3, anchors, 7, seed=0)
    kw: dict[str, Any] = {
        "head_type": head_type,
        "anchor_num": anchors,
        "score_activation": activation,
    }
    same = distill_losses(HeadOutput(t.cls.clone(), t.loc.clone()), t, **kw)
    assert float(same["distill_cls"]) == pytest.approx(0.0, abs=1e-6)
    assert float(same["distill_loc"]) == pytest.approx(0.0, abs=1e-6)
    s = _out(3, anchors, 7, seed=1)
    diff = distill_losses(s, t, **kw)
    assert float(diff["distill_cls"]) > 1e-3 and float(diff["distill_loc"]) > 1e-3
    # the temperature form is still 0 at equality and positive otherwise
    kw["temperature"] = 2.0
    assert float(distill_losses(t, t, **kw)["distill_cls"]) == pytest.approx(0.0, abs=1e-6)
    assert float(distill_losses(s, t, **kw)["distill_cls"]) > 1e-3


def test_distillation_gradient_pulls_the_student_toward_the_teacher() -> None:
    t = _out(2, 1, 5, seed=0)
    s_cls = _out(2, 1, 5, seed=1).cls.requires_grad_(True)
    s_loc = t.loc.clone().requires_grad_(True)
    opt = torch.optim.Adam([s_cls, s_loc], lr=0.1)
    first = None
    for _ in range(60):
        d = distill_losses(HeadOutput(s_cls, s_loc), t, head_type="point")
        loss = d["distill_cls"] + d["distill_loc"]
        first = float(loss.detach()) if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(loss.detach()) < 0.2 * first


def test_loss_config_refuses_bad_distillation_settings() -> None:
    with pytest.raises(ValueError, match="distill_weight"):
        LossConfig(distill_weight=-1.0)
    with pytest.raises(ValueError, match="distill_temperature"):
        LossConfig(distill_temperature=0.0)
    assert LossConfig(distill_loc_weight=0.5).uses_teacher and not LossConfig().uses_teacher


# ---------------------------------------------------------------- the frozen teacher


def _point_module(distill: float = 1.0) -> tuple[TrainModule, dict[str, torch.Tensor]]:
    torch.manual_seed(0)
    cfg = tiny_config(
        Path("/nonexistent"), loss={"distill_weight": distill, "distill_loc_weight": distill}
    )
    model = build_model({**TINY["model"], "head": "point"})
    teacher = copy.deepcopy(model)
    module = TrainModule(
        model, HeadGeometry("point", 8, 127), cfg.loss, corr_channels=[32], teacher=teacher
    )
    return module, batch_of(tiny_dataset(cfg), 4)


def test_the_teacher_gets_no_gradient_and_never_changes() -> None:
    module, batch = _point_module()
    assert module.teacher is not None
    before = {k: v.clone() for k, v in module.teacher.state_dict().items()}
    groups = _param_groups(module, 0.05, 0.1)
    in_groups = {id(p) for g in groups for p in g["params"]}
    assert not in_groups & {id(p) for p in module.teacher.parameters()}
    assert in_groups >= {id(p) for p in module.model.parameters()}
    opt = torch.optim.SGD(groups, lr=0.05, momentum=0.9)
    module.train()
    assert not module.teacher.training  # train() keeps it in eval: its BN statistics stay
    for step in range(3):
        gen = torch.Generator().manual_seed(step)
        terms = module(batch["template"], batch["search"], batch["box"], batch["positive"], gen)
        assert {"distill_cls", "distill_loc"} <= set(terms)
        opt.zero_grad()
        terms["total"].backward()
        assert all(p.grad is None for p in module.teacher.parameters())
        opt.step()
    after = module.teacher.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # buffers (BN stats) too
    student = module.model.state_dict()
    assert any(not torch.equal(before[k], student[k]) for k in before)  # the student moved


def test_distillation_at_the_start_is_zero_in_eval_mode_and_adds_to_total() -> None:
    module, batch = _point_module(distill=2.0)
    module.eval()
    with torch.no_grad():
        out = module.model(batch["template"], batch["search"])
        assert module.teacher is not None
        d = module.distill_terms(out, module.teacher(batch["template"], batch["search"]))
    assert float(d["distill_cls"]) == pytest.approx(0.0, abs=1e-6)
    assert float(d["distill_loc"]) == pytest.approx(0.0, abs=1e-5)
    module.train()
    gen = torch.Generator().manual_seed(0)
    terms = module(batch["template"], batch["search"], batch["box"], batch["positive"], gen)
    c = module.loss_cfg
    base = c.cls_weight * terms["cls"] + c.loc_weight * terms["loc"]
    base = base + c.corr_weight * terms["corr"] + c.margin_weight * terms["margin"]
    base = base + c.head_margin_weight * terms["head_margin"]
    expect = base + 2.0 * terms["distill_cls"] + 2.0 * terms["distill_loc"]
    assert float(terms["total"].detach()) == pytest.approx(float(expect.detach()), rel=1e-5)


def test_a_teacher_is_required_and_must_be_a_copy() -> None:
    cfg = LossConfig(distill_weight=1.0)
    model = build_model({**TINY["model"], "head": "point"})
    geo = HeadGeometry("point", 8, 127)
    with pytest.raises(ValueError, match="need a teacher"):
        TrainModule(model, geo, cfg, corr_channels=[32])
    with pytest.raises(ValueError, match="separate"):
        TrainModule(model, geo, cfg, corr_channels=[32], teacher=model)


# ---------------------------------------------------------------- held-out videos


def _write_otb(root: Path, names: list[str], frames: int = 6) -> None:
    rng = np.random.default_rng(0)
    for name in names:
        img_dir = root / name / "img"
        img_dir.mkdir(parents=True)
        lines = []
        for i in range(frames):
            img = rng.integers(0, 255, (96, 128, 3), dtype=np.uint8)
            cv2.imwrite(str(img_dir / f"{i + 1:04d}.jpg"), img)
            lines.append(f"{30 + i},30,24,20")
        (root / name / "groundtruth_rect.txt").write_text("\n".join(lines) + "\n")


def _seqs(names: list[str]) -> list[TrackSequence]:
    return [TrackSequence(n, ["f"], np.array([[1.0, 1.0, 5.0, 5.0]])) for n in names]


def test_split_holdout_is_by_name_deterministic_and_leaves_training_data() -> None:
    names = [f"seq{i:02d}" for i in range(25)]
    train_a, held_a = split_holdout(_seqs(names), 0.2, seed=0)
    train_b, held_b = split_holdout(_seqs(list(reversed(names))), 0.2, seed=0)
    assert len(held_a) == 5 and len(train_a) == 20
    assert {s.name for s in held_a} == {s.name for s in held_b}  # reading order does not matter
    assert not {s.name for s in held_a} & {s.name for s in train_a}
    _, held_c = split_holdout(_seqs(names), 0.2, seed=1)
    assert {s.name for s in held_c} != {s.name for s in held_a}
    assert split_holdout(_seqs(names), 0.0, 0)[1] == []
    assert len(split_holdout(_seqs(["a", "b"]), 0.9, 0)[0]) == 1  # always one left to train on


def test_held_out_videos_never_appear_in_training_pairs(tmp_path: Path) -> None:
    names = [f"vid{i}" for i in range(10)]
    _write_otb(tmp_path / "otb", names)
    cfg = train_config_from_dict(
        {
            "model": {"family": "nanotrack"},
            "data": {
                "holdout_fraction": 0.3,
                "holdout_seed": 4,
                "sources": [
                    {"type": "otb", "root": str(tmp_path / "otb"), "frame_range": 3},
                    {
                        "type": "synthetic",
                        "num_sequences": 4,
                        "length": 10,
                        "width": 160,
                        "height": 120,
                        "real_targets": True,
                        "real_photos": 1000,
                    },
                ],
            },
        }
    )
    specs, held = build_source_split(cfg.data)
    held_names = {s.name for spec in held for s in spec.source.sequences}  # type: ignore[attr-defined]
    assert len(held_names) == 3
    real = [sp for sp in specs if hasattr(sp.source, "sequences")]
    train_names = {s.name for sp in real for s in sp.source.sequences}  # type: ignore[attr-defined]
    assert train_names == set(names) - held_names
    # the synthetic source's target/background photos come from the training videos only
    syn = [sp for sp in specs if hasattr(sp.source, "pool")]
    pool_paths = [p for p, _ in syn[0].source.pool.entries]  # type: ignore[attr-defined]
    assert pool_paths and not any(Path(p).parts[-3] in held_names for p in pool_paths)
    # and no sampled pair (template or search, negatives included) touches a held-out video
    ds = PairDataset(
        specs, 400, template_aug=cfg.data.template_aug, search_aug=cfg.data.search_aug, seed=0
    )
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(400):
        for src, seq, _t in ds.sample_indices(rng)[:2]:
            source = ds.sources[src].source
            if hasattr(source, "sequences"):
                seen.add(source.sequences[seq].name)
    assert seen and not seen & held_names


# ---------------------------------------------------------------- early stopping


def _holdout_config(tmp_path: Path, **optim: Any) -> Any:
    _write_otb(tmp_path / "otb", [f"vid{i}" for i in range(6)], frames=5)
    data = copy.deepcopy(TINY["data"])
    data["sources"] = [{"type": "otb", "root": str(tmp_path / "otb"), "frame_range": 3}]
    data.update({"holdout_fraction": 0.34, "val_pairs": 6})
    return tiny_config(
        tmp_path,
        data=data,
        loss={"distill_weight": 1.0, "distill_loc_weight": 0.5},
        optim={"epochs": 6, "backbone_frozen_epochs": 0, "lr": 0.02, **optim},
    )


def test_early_stopping_keeps_the_best_evaluations_weights(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = _holdout_config(tmp_path, patience=2)
    # a scripted validation curve: start 1.0, best after epoch 2, then two worse ones -> stop
    script = iter([1.0, 0.9, 0.5, 0.7, 0.8, 0.1, 0.1])
    snapshots: list[dict[str, torch.Tensor]] = []

    def fake_loss(self: Any, module: TrainModule, device: torch.device) -> dict[str, float]:
        snapshots.append({k: v.clone() for k, v in module.model.state_dict().items()})
        return {"val": next(script), "val_cls": 0.0, "val_loc": 0.0}

    monkeypatch.setattr(trainer_mod.ValidationSet, "loss", fake_loss)
    result = train(cfg)
    assert len(snapshots) == 5  # before step 1, then after epochs 1-4; patience 2 stops it
    assert result.early_stopped and result.epoch == 4
    assert result.best_val == 0.5 and result.best_step == 2 * 4  # 4 steps an epoch
    assert result.model_path is not None
    saved, _, _ = load_checkpoint(result.model_path)
    best = snapshots[2]
    assert all(torch.equal(saved[k], best[k]) for k in best)
    assert not all(torch.equal(saved[k], snapshots[4][k]) for k in best)  # not the last weights
    last, _, _ = load_checkpoint(tmp_path / "run" / "last_model.pt")  # those are kept beside
    assert all(torch.equal(last[k], snapshots[4][k]) for k in best)
    val_lines = (tmp_path / "run" / "val.jsonl").read_text().splitlines()
    assert [json.loads(x)["val"] for x in val_lines] == [1.0, 0.9, 0.5, 0.7, 0.8]


def test_the_starting_weights_win_when_training_never_improves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = _holdout_config(tmp_path, patience=1, epochs=3)
    values = iter([0.2, 0.3, 0.4])
    monkeypatch.setattr(
        trainer_mod.ValidationSet,
        "loss",
        lambda self, module, device: {"val": next(values)},
    )
    result = train(cfg)
    assert result.best_step == 0 and result.early_stopped and result.global_step == 4
    saved, _, _ = load_checkpoint(result.model_path)  # type: ignore[arg-type]
    torch.manual_seed(cfg.seed)
    init = build_model({**TINY["model"]})
    ref = init.state_dict()
    assert all(torch.equal(saved[k], ref[k]) for k in ref)


def test_the_real_validation_loss_runs_on_held_out_pairs(tmp_path: Path) -> None:
    cfg = _holdout_config(tmp_path, epochs=2, patience=0)
    result = train(cfg)
    assert [r["step"] for r in result.val_history] == [0, 4, 8]
    assert all(np.isfinite(r["val"]) and r["val"] > 0 for r in result.val_history)
    # at step 0 student == teacher (eval mode): the distillation terms are exactly 0
    assert result.val_history[0]["val_distill_cls"] == pytest.approx(0.0, abs=1e-6)
    assert result.val_history[1]["val_distill_cls"] > 0
    _, _, meta = load_checkpoint(result.model_path)  # type: ignore[arg-type]
    info = meta["validation"]
    assert len(info["held_out"]) == 2 and info["best_step"] == result.best_step


# ---------------------------------------------------------------- NanoTrack v3 as the base


def test_v3_finetune_pair_differs_only_in_the_margin_terms() -> None:
    a = yaml.safe_load((ROOT / "config/train/v3_finetune.yaml").read_text())
    b = yaml.safe_load((ROOT / "config/train/v3_finetune_nomargin.yaml").read_text())
    la, lb = a.pop("loss"), b.pop("loss")
    assert a.pop("output_dir") != b.pop("output_dir")
    assert a == b
    changed = {k for k in la if la[k] != lb.get(k)}
    assert changed == {"corr_weight", "margin_weight", "head_margin_weight"}
    assert la["distill_weight"] > 0 and a["data"]["holdout_fraction"] > 0
    assert a["optim"]["patience"] > 0 and a["base_config"] == "config/models/nanotrack_v3.yaml"


def test_v3_trains_from_its_released_weights(monkeypatch: pytest.MonkeyPatch) -> None:
    from conftest import shared_path

    shared_path("weights", "nanotrack", "pretrained_nanotrackv3.pth")
    monkeypatch.chdir(ROOT)
    from siam_tracker_ros.training.config import load_train_config

    cfg = load_train_config(ROOT / "config/train/v3_finetune.yaml")
    model, info = trainer_mod.build_model_for_training(cfg)
    assert info["loaded"] > 0 and info["missing"] == 0 and info["unexpected"] == 0
    geo, tcfg = trainer_mod._geometry(cfg, model)
    corr = trainer_mod._corr_channels(model, tcfg.exemplar_size, tcfg.instance_size)
    module = TrainModule(model, geo, cfg.loss, corr, teacher=copy.deepcopy(model))
    g = torch.Generator().manual_seed(0)
    z = torch.rand(2, 3, 127, 127, generator=g) * 255
    x = torch.rand(2, 3, 255, 255, generator=g) * 255
    boxes = torch.tensor([[100.0, 100.0, 150.0, 160.0], [90.0, 110.0, 170.0, 140.0]])
    module.train()
    terms = module(z, x, boxes, torch.tensor([True, False]), g)
    assert {"cls", "loc", "margin", "distill_cls", "distill_loc"} <= set(terms)
    assert torch.isfinite(terms["total"])
    terms["total"].backward()
    assert module.model.ban_head is not None  # type: ignore[union-attr]
    assert any(p.grad is not None for p in module.model.parameters())
