"""A tiny but real training setup shared by the training tests (fast on one CPU thread).

Small crops (63 template / 127 search), a 32-channel EfficientNet-Lite0 cut at block 4 (stride
8, 9x9 score map) and synthetic sequences with procedural textures: no files needed.
"""

from __future__ import annotations

import copy
import os
import sys
from pathlib import Path
from typing import Any

import torch
import yaml

from siam_tracker_ros.training.augment import AugmentConfig
from siam_tracker_ros.training.config import TrainConfig, train_config_from_dict
from siam_tracker_ros.training.dataset import PairDataset
from siam_tracker_ros.training.sources import build_sources

TINY: dict[str, Any] = {
    "model": {
        "family": "siammargin_lite",
        "output_stride": 8,
        "out_blocks": [4],
        "channels": 32,
        "head": "anchor",
    },
    "tracker": {"exemplar_size": 63, "instance_size": 127, "anchor": {"stride": 8, "scales": [4]}},
    "seed": 3,
    "device": "cpu",
    "data": {
        "samples_per_epoch": 16,
        "batch_size": 4,
        "num_workers": 0,
        "gray_prob": 0.0,
        "search_aug": {"shift": 12, "scale": 0.1, "blur": 0.1, "color": 0.5},
        "sources": [
            {
                "type": "synthetic",
                "num_sequences": 12,
                "length": 40,
                "width": 200,
                "height": 150,
                "real_targets": False,
            }
        ],
    },
    "loss": {"corr_weight": 1.0, "margin_weight": 1.0, "head_margin_weight": 0.5},
    "optim": {
        "epochs": 2,
        "lr": 0.01,
        "lr_end": 0.002,
        "warmup_epochs": 0.5,
        "backbone_frozen_epochs": 1,
    },
    "log": {"log_every": 1, "ckpt_every": 2, "tensorboard": False, "progress": False},
}


def tiny_config(tmp_path: Path, **overrides: Any) -> TrainConfig:
    """The tiny config with ``output_dir`` in ``tmp_path``; ``overrides`` are merged per section."""
    data = copy.deepcopy(TINY)
    data["output_dir"] = str(tmp_path / "run")
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key].update(value)
        else:
            data[key] = value
    return train_config_from_dict(data)


def tiny_dataset(cfg: TrainConfig) -> PairDataset:
    return PairDataset(
        build_sources(cfg.data),
        cfg.data.samples_per_epoch,
        template_aug=AugmentConfig(shift=2, scale=0.05, color=0.0),
        search_aug=cfg.data.search_aug,
        neg_prob=cfg.data.neg_prob,
        exemplar_size=63,
        search_size=127,
        seed=cfg.seed,
    )


def batch_of(ds: PairDataset, n: int) -> dict[str, torch.Tensor]:
    items = [ds[i] for i in range(n)]
    return {k: torch.stack([it[k] for it in items]) for k in items[0]}


def two_rank_run(tmp_path: Path, max_steps: int) -> tuple[list[str], dict[str, str]]:
    """The command and environment of ``--nproc 2`` training (gloo, one thread a rank) on the
    tiny setup for ``max_steps`` steps, its output in ``tmp_path / "ddp"``; the environment
    without the variables a launcher of our own (torchrun) would have set."""
    cfg = {
        **TINY,
        "output_dir": str(tmp_path / "ddp"),
        "data": {**TINY["data"], "samples_per_epoch": 16, "batch_size": 2},
        "optim": {**TINY["optim"], "max_steps": max_steps, "backbone_frozen_epochs": 0},
    }
    path = tmp_path / "ddp.yaml"
    path.write_text(yaml.safe_dump(cfg))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(k, None)
    command = [sys.executable, "-m", "siam_tracker_ros.training", "--config", str(path)]
    return command + ["--nproc", "2", "--threads", "1"], env
