"""The training config (one YAML file = one training run), parsed strictly into dataclasses.

Layout::

    base_config: config/nanotrack.yaml   # optional: model + tracker sections to start from
    model: {...}                          # merged over base_config's model section
    tracker: {...}                        # merged over base_config's tracker section
    init_weights: path.pth                # optional weights loaded before training
    output_dir: runs/name
    seed: 0
    device: auto                          # auto | cpu | cuda | cuda:N
    data: {samples_per_epoch, batch_size, num_workers, neg_prob, gray_prob, cache_dir,
           template_aug: {...}, search_aug: {...}, sources: [{type: ..., ...}, ...],
           holdout_fraction, holdout_seed, val_pairs}
    loss: {...}                           # losses.LossConfig
    optim: {...}                          # OptimConfig
    log: {...}                            # LogConfig

The ``model``/``tracker`` sections are exactly those of a tracking config, so the final
checkpoint carries them and ``core.loading.load_tracker`` rebuilds the same tracker. Paths may use
``${SHARED}`` (the read-only shared folder) and ``~``/environment variables; relative paths are
relative to the current directory (the repository root in the documented commands).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from siam_tracker_ros.datasets import shared_dir
from siam_tracker_ros.training.augment import AugmentConfig
from siam_tracker_ros.training.losses import LossConfig
from siam_tracker_ros.typed_config import build_dataclass, to_plain

__all__ = [
    "DataConfig",
    "LogConfig",
    "OptimConfig",
    "TrainConfig",
    "expand_path",
    "load_train_config",
    "train_config_from_dict",
]


def expand_path(p: str) -> str:
    """``${SHARED}`` -> the shared folder; then ``~`` and environment variables."""
    p = p.replace("${SHARED}", str(shared_dir()))
    return os.path.expanduser(os.path.expandvars(p))


@dataclass(frozen=True)
class DataConfig:
    samples_per_epoch: int = 2000
    batch_size: int = 16
    num_workers: int = 1
    neg_prob: float = 0.2
    gray_prob: float = 0.05
    #: where decoded video frames are cached (default ~/.cache/siam_tracker_ros/frames)
    cache_dir: str | None = None
    template_aug: AugmentConfig = field(
        default_factory=lambda: AugmentConfig(shift=4, scale=0.05, blur=0.0, color=1.0)
    )
    search_aug: AugmentConfig = field(
        default_factory=lambda: AugmentConfig(shift=64, scale=0.18, blur=0.2, color=1.0)
    )
    #: raw source mappings (``type:`` + type-specific keys), parsed by ``sources.build_sources``
    sources: tuple[dict[str, Any], ...] = ()
    #: share of each real source's sequences held out of training (chosen by sequence name with
    #: ``holdout_seed``, so the same videos every run); 0 = none. The held-out videos feed the
    #: validation loss (early stopping, best checkpoint) and never a training pair or the
    #: synthetic source's photo pool.
    holdout_fraction: float = 0.0
    holdout_seed: int = 0
    #: fixed pairs drawn once from the held-out videos for the validation loss
    val_pairs: int = 128

    def __post_init__(self) -> None:
        if self.samples_per_epoch < 1 or self.batch_size < 1 or self.num_workers < 0:
            raise ValueError("data: samples_per_epoch/batch_size >= 1, num_workers >= 0")
        if not (0 <= self.neg_prob < 1 and 0 <= self.gray_prob <= 1):
            raise ValueError("data: neg_prob in [0, 1), gray_prob in [0, 1]")
        if not 0 <= self.holdout_fraction < 1 or self.val_pairs < 1:
            raise ValueError("data: holdout_fraction in [0, 1), val_pairs >= 1")


@dataclass(frozen=True)
class OptimConfig:
    optimizer: Literal["sgd", "adamw"] = "sgd"
    epochs: int = 20
    #: learning rate after warm-up; decays log-linearly to ``lr_end`` at the last step
    lr: float = 5e-3
    lr_end: float = 5e-4
    warmup_epochs: float = 1.0
    #: the warm-up starts at ``lr * warmup_factor``
    warmup_factor: float = 0.2
    momentum: float = 0.9
    weight_decay: float = 1e-4
    grad_clip: float = 10.0
    #: epochs with the backbone frozen (weights and BN statistics), pysot's TRAIN.START_EPOCH idea
    backbone_frozen_epochs: int = 10
    #: backbone learning rate relative to the rest once unfrozen
    backbone_lr_mult: float = 0.1
    #: mixed precision on CUDA (ignored on CPU)
    amp: bool = True
    #: stop after this many optimizer steps in total (smoke runs, tests)
    max_steps: int | None = None
    #: stop (checkpointing first) after this many minutes of training
    max_minutes: float | None = None
    #: validation loss on the held-out pairs (``data.holdout_fraction`` > 0) every this many
    #: steps; 0 = at each epoch end. It is also computed before the first step, so the starting
    #: weights compete: ``model.pt`` holds the weights of the best evaluation, not the last step
    val_every: int = 0
    #: early stopping: stop after this many evaluations without improving the best validation
    #: loss by more than ``min_delta``; 0 = never stop early (the best weights are still kept)
    patience: int = 0
    min_delta: float = 0.0

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.lr <= 0 or self.lr_end <= 0:
            raise ValueError("optim: epochs >= 1, lr and lr_end > 0")
        if self.warmup_epochs < 0 or not 0 < self.warmup_factor <= 1:
            raise ValueError("optim: warmup_epochs >= 0 and warmup_factor in (0, 1]")
        if self.backbone_frozen_epochs < 0 or self.backbone_lr_mult < 0:
            raise ValueError("optim: backbone_frozen_epochs and backbone_lr_mult must be >= 0")
        if self.val_every < 0 or self.patience < 0 or self.min_delta < 0:
            raise ValueError("optim: val_every, patience and min_delta must be >= 0")


@dataclass(frozen=True)
class LogConfig:
    log_every: int = 10
    #: write ``last.pt`` every this many steps (and at every epoch end)
    ckpt_every: int = 200
    tensorboard: bool = True
    progress: bool = True


@dataclass(frozen=True)
class TrainConfig:
    model: dict[str, Any]
    tracker: dict[str, Any] = field(default_factory=dict)
    base_config: str | None = None
    init_weights: str | None = None
    output_dir: str = "runs/train"
    seed: int = 0
    device: str = "auto"
    data: DataConfig = field(default_factory=DataConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    log: LogConfig = field(default_factory=LogConfig)

    def to_dict(self) -> dict[str, Any]:
        return to_plain(dataclasses.asdict(self))


def _merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = _merge(out[k], v)
        else:
            out[k] = v
    return out


def train_config_from_dict(data: Mapping[str, Any]) -> TrainConfig:
    """Strictly parse a training config mapping (``base_config`` is resolved here)."""
    data = dict(data)
    base = data.get("base_config")
    if base:
        with Path(expand_path(base)).open(encoding="utf-8") as fh:
            base_data = yaml.safe_load(fh) or {}
        data["model"] = _merge(base_data.get("model") or {}, data.get("model") or {})
        data["tracker"] = _merge(base_data.get("tracker") or {}, data.get("tracker") or {})
    if not isinstance(data.get("model"), Mapping) or "family" not in data["model"]:
        raise ValueError("model.family: missing (give a model: section or a base_config)")
    cfg: TrainConfig = build_dataclass(TrainConfig, data, "train")
    return cfg


def load_train_config(path: str | Path) -> TrainConfig:
    with Path(path).open(encoding="utf-8") as fh:
        data = yaml.safe_load(fh) or {}
    try:
        return train_config_from_dict(data)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
