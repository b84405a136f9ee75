"""The training loop: one YAML config in, a ``load_tracker``-loadable model out.

What it does and why:

* AMP (float16 autocast + GradScaler) on CUDA; plain float32 on CPU, where autocast buys nothing.
* The backbone is frozen (weights and BN statistics) for ``backbone_frozen_epochs`` so the fresh
  head does not wreck pretrained features, then trains at ``backbone_lr_mult`` times the lr.
* ``last.pt`` holds everything needed to continue bit-for-bit: model + margin scorer, optimizer,
  scheduler, scaler, epoch, step within the epoch and RNG states. Data is a function of
  ``(seed, epoch, index)`` and label sampling of ``(seed, step, rank)``, so a resumed run takes the
  same next step as an uninterrupted one.
* DistributedDataParallel when started by ``torchrun`` (or ``--nproc``): NCCL on GPUs, gloo on
  CPU; each rank takes its own slice of every global batch. The wrapper is rebuilt when the
  backbone unfreezes, because DDP fixes its parameter set at construction.
* Fine-tuning that does not forget: ``loss.distill_weight`` > 0 adds a frozen teacher (a copy of
  the starting weights) the head outputs are distilled toward; ``data.holdout_fraction`` > 0 holds
  whole training videos out, and a validation loss on fixed pairs from them (computed before the
  first step, then every ``optim.val_every`` steps or each epoch) picks the weights ``model.pt``
  gets -- the starting weights included -- and stops after ``optim.patience`` evaluations
  without improvement.
* The final model is written with ``models.checkpoint.save_checkpoint`` (config + weights).
"""

from __future__ import annotations

import copy
import datetime
import json
import logging
import os
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, Sampler

from siam_tracker_ros.core.config import tracker_config_from_dict
from siam_tracker_ros.models.base import SiameseModel
from siam_tracker_ros.models.checkpoint import save_checkpoint
from siam_tracker_ros.models.registry import build_model
from siam_tracker_ros.training.config import TrainConfig, expand_path
from siam_tracker_ros.training.dataset import PairDataset, SourceSpec
from siam_tracker_ros.training.init_weights import load_init_weights
from siam_tracker_ros.training.objective import HeadGeometry, TrainModule
from siam_tracker_ros.training.schedule import WarmupLogSchedule
from siam_tracker_ros.training.sources import build_source_split

__all__ = ["TrainResult", "ValidationSet", "build_model_for_training", "train"]

log = logging.getLogger(__name__)

#: model-config keys that only matter when building from scratch; the saved checkpoint carries
#: the trained weights, so these are neutralised there
_INIT_ONLY_KEYS = {"weights": None, "pretrained_backbone": False}


@dataclass
class TrainResult:
    """What a run did: per-step history (this process) and where the files are."""

    history: list[dict[str, float]] = field(default_factory=list)
    global_step: int = 0
    epoch: int = 0
    stopped_early: bool = False
    model_path: Path | None = None
    last_path: Path | None = None
    #: validation evaluations: ``{"step", "epoch", "val", ...terms}`` (empty without a holdout)
    val_history: list[dict[str, float]] = field(default_factory=list)
    #: the step whose weights ``model.pt`` holds when validating (0 = the starting weights)
    best_step: int | None = None
    best_val: float | None = None
    #: stopped by ``optim.patience`` (early stopping), not by the epoch count or a budget
    early_stopped: bool = False


class ValidationSet:
    """Fixed pairs from the held-out videos, turned into batches once; ``loss(module)`` is the
    task loss (``cls_weight * cls + loc_weight * loc``, the same criterion with or without the
    margin or distillation terms) averaged over them, with fixed label sampling."""

    def __init__(
        self,
        sources: list[SourceSpec],
        cfg: TrainConfig,
        exemplar_size: int,
        search_size: int,
        context: float,
    ) -> None:
        ds = PairDataset(
            sources,
            cfg.data.val_pairs,
            template_aug=cfg.data.template_aug,
            search_aug=cfg.data.search_aug,
            neg_prob=cfg.data.neg_prob,
            gray_prob=0.0,
            exemplar_size=exemplar_size,
            search_size=search_size,
            context=context,
            seed=cfg.seed + 7919,
        )
        self.batches: list[dict[str, torch.Tensor]] = []
        # crops are made in DataLoader workers as in training: OpenCV work in this process
        # before the training loader forks its workers can leave them deadlocked
        loader = DataLoader(
            ds,
            batch_size=cfg.data.batch_size,
            shuffle=False,
            num_workers=cfg.data.num_workers,
            worker_init_fn=_worker_init,
        )
        for batch in loader:
            # crops hold 0..255 values: half precision keeps them to 1/8 and halves the memory
            batch["template"] = batch["template"].half()
            batch["search"] = batch["search"].half()
            self.batches.append(batch)
        self.seed = cfg.seed

    @torch.no_grad()
    def loss(self, module: TrainModule, device: torch.device) -> dict[str, float]:
        was_training = module.training
        module.eval()
        c = module.loss_cfg
        sums: dict[str, float] = {}
        n = 0
        try:
            for i, batch in enumerate(self.batches):
                gen = torch.Generator().manual_seed(self.seed * 7919 + i)
                template = batch["template"].to(device).float()
                search = batch["search"].to(device).float()
                out = module.model(template, search)
                terms = module.losses(
                    out, batch["box"].to(device), batch["positive"].to(device), gen
                )
                k = int(batch["box"].shape[0])
                vals = {
                    "val": float(c.cls_weight * terms["cls"] + c.loc_weight * terms["loc"]),
                    "val_cls": float(terms["cls"]),
                    "val_loc": float(terms["loc"]),
                }
                if module.teacher is not None:
                    t_out = module.teacher(template, search)
                    d = module.distill_terms(out, t_out)
                    vals["val_distill_cls"] = float(d["distill_cls"])
                    vals["val_distill_loc"] = float(d["distill_loc"])
                for key, v in vals.items():
                    sums[key] = sums.get(key, 0.0) + v * k
                n += k
        finally:
            module.train(was_training)
        return {k: v / max(n, 1) for k, v in sums.items()}


class EpochSliceSampler(Sampler[int]):
    """Indices of this rank's share of global batches ``start_step..steps_per_epoch - 1``.

    Global batch ``s`` is indices ``s * B * W .. (s + 1) * B * W - 1``; rank ``r`` takes the
    ``r``-th block of ``B`` of it, so the set of samples a step trains on does not depend on how
    a run was interrupted.
    """

    def __init__(self, steps: int, batch: int, rank: int, world: int, start_step: int) -> None:
        self.steps, self.batch, self.rank, self.world = steps, batch, rank, world
        self.start_step = start_step

    def __iter__(self) -> Iterator[int]:
        for s in range(self.start_step, self.steps):
            base = s * self.batch * self.world + self.rank * self.batch
            yield from range(base, base + self.batch)

    def __len__(self) -> int:
        return max(self.steps - self.start_step, 0) * self.batch


def _worker_init(_: int) -> None:
    torch.set_num_threads(1)
    cv2.setNumThreads(1)


def build_model_for_training(cfg: TrainConfig) -> tuple[SiameseModel, dict[str, Any]]:
    """Build the model and load ``init_weights`` (or the model section's ``weights``)."""
    model = build_model(dict(cfg.model))
    init = cfg.init_weights or cfg.model.get("weights")
    info: dict[str, Any] = {}
    if init:
        info = load_init_weights(model, expand_path(str(init)))
        info["path"] = str(init)
        log.info("init weights %s: %s", init, info)
    return model, info


def _geometry(cfg: TrainConfig, model: SiameseModel) -> tuple[HeadGeometry, Any]:
    tcfg = tracker_config_from_dict(cfg.tracker)
    if model.head_type == "anchor":
        geo = HeadGeometry(
            head_type="anchor",
            stride=tcfg.anchor.stride,
            search_size=tcfg.instance_size,
            ratios=tuple(tcfg.anchor.ratios),
            scales=tuple(tcfg.anchor.scales),
        )
    else:
        geo = HeadGeometry(
            head_type="point",
            stride=tcfg.point.stride,
            search_size=tcfg.instance_size,
            score_activation=tcfg.point.score_activation,
        )
    return geo, tcfg


def _corr_channels(model: SiameseModel, exemplar: int, search: int) -> list[int]:
    """Channels of each correlation level, from one dry forward pass in eval mode."""
    was_training = model.training
    model.eval()
    with torch.inference_mode():
        dev = next(model.parameters()).device
        out = model(
            torch.zeros(1, 3, exemplar, exemplar, device=dev),
            torch.zeros(1, 3, search, search, device=dev),
        )
    model.train(was_training)
    return [int(c.shape[1]) for c in (out.corr or [])]


def _set_backbone_frozen(model: SiameseModel, frozen: bool) -> None:
    backbone = getattr(model, "backbone", None)
    if backbone is None:
        return
    for p in backbone.parameters():
        p.requires_grad_(not frozen)
    if frozen:
        backbone.eval()  # keep the pretrained BN statistics


def _param_groups(module: TrainModule, lr: float, backbone_mult: float) -> list[dict[str, Any]]:
    """Head (+ margin scorer) at ``lr``, backbone at ``lr * backbone_mult``; never the teacher."""
    backbone = getattr(module.model, "backbone", None)
    bb_ids = {id(p) for p in backbone.parameters()} if backbone is not None else set()
    params = [p for _, p in module.trainable_named_parameters()]
    bb = [p for p in params if id(p) in bb_ids]
    rest = [p for p in params if id(p) not in bb_ids]
    groups = [{"params": rest, "lr": lr, "name": "head"}]
    if bb:
        groups.append({"params": bb, "lr": lr * backbone_mult, "name": "backbone"})
    return groups


def _rng_state() -> dict[str, Any]:
    """Global RNG states (numpy's global generator is never used: data draws from seeded
    ``np.random.Generator`` objects, labels from seeded ``torch.Generator`` objects)."""
    return {
        "torch": torch.get_rng_state(),
        "python": [random.getstate()[0], list(random.getstate()[1]), random.getstate()[2]],
    }


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    p = state["python"]
    random.setstate((p[0], tuple(p[1]), p[2]))


def _resolve_device(name: str, local_rank: int) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        name = f"cuda:{local_rank}"
    return torch.device(name)


def _checkpoint_config(cfg: TrainConfig, tracker_dict: dict[str, Any]) -> dict[str, Any]:
    model = dict(cfg.model)
    for k, v in _INIT_ONLY_KEYS.items():
        if k in model:
            model[k] = v
    return {"model": model, "tracker": tracker_dict}


def train(
    cfg: TrainConfig,
    *,
    resume: bool | str | None = False,
    output_dir: str | Path | None = None,
) -> TrainResult:
    """Run (or continue) the training ``cfg`` describes. Distributed if ``WORLD_SIZE`` > 1."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = _resolve_device(cfg.device, local_rank)
    distributed = world > 1
    if distributed and not dist.is_initialized():
        dist.init_process_group(
            "nccl" if device.type == "cuda" else "gloo",
            timeout=datetime.timedelta(minutes=30),
        )
    if device.type == "cuda":
        torch.cuda.set_device(device)
    out_dir = Path(output_dir or cfg.output_dir)
    if rank == 0:
        out_dir.mkdir(parents=True, exist_ok=True)
    try:
        result = _train(cfg, resume, out_dir, rank, world, device)
        if distributed:
            # all ranks finish (rank 0 writes the last checkpoint) before the group is torn down:
            # a rank that destroys a gloo group while its peer still holds the connections can be
            # aborted by gloo ("terminate called without an active exception")
            dist.barrier()
        return result
    finally:
        if distributed and dist.is_initialized():
            dist.destroy_process_group()


def _train(
    cfg: TrainConfig,
    resume: bool | str | None,
    out_dir: Path,
    rank: int,
    world: int,
    device: torch.device,
) -> TrainResult:
    o = cfg.optim
    torch.manual_seed(cfg.seed + rank)
    random.seed(cfg.seed + rank)

    model, init_info = build_model_for_training(cfg)
    geo, tcfg = _geometry(cfg, model)
    model.to(device)
    corr_ch = _corr_channels(model, tcfg.exemplar_size, tcfg.instance_size)
    teacher = copy.deepcopy(model) if cfg.loss.uses_teacher else None
    module = TrainModule(model, geo, cfg.loss, corr_ch, teacher=teacher).to(device)

    # data: rank 0 first (it may decode videos into the frame cache), then the others
    if world > 1 and rank != 0:
        dist.barrier()
    sources, held_out = build_source_split(cfg.data)
    if world > 1 and rank == 0:
        dist.barrier()
    if cfg.data.holdout_fraction > 0 and not held_out:
        raise ValueError(
            "data.holdout_fraction > 0 but no real source has 2 or more sequences to hold out"
        )
    val_set = (
        ValidationSet(held_out, cfg, tcfg.exemplar_size, tcfg.instance_size, tcfg.context_amount)
        if held_out
        else None
    )
    dataset = PairDataset(
        sources,
        cfg.data.samples_per_epoch,
        template_aug=cfg.data.template_aug,
        search_aug=cfg.data.search_aug,
        neg_prob=cfg.data.neg_prob,
        gray_prob=cfg.data.gray_prob,
        exemplar_size=tcfg.exemplar_size,
        search_size=tcfg.instance_size,
        context=tcfg.context_amount,
        seed=cfg.seed,
    )
    bsz = cfg.data.batch_size
    steps_per_epoch = cfg.data.samples_per_epoch // (bsz * world)
    if steps_per_epoch < 1:
        raise ValueError(
            f"data.samples_per_epoch {cfg.data.samples_per_epoch} < batch_size x processes "
            f"({bsz} x {world})"
        )
    total_steps = steps_per_epoch * o.epochs

    groups = _param_groups(module, o.lr, o.backbone_lr_mult)
    optimizer: torch.optim.Optimizer
    if o.optimizer == "sgd":
        optimizer = torch.optim.SGD(
            groups, lr=o.lr, momentum=o.momentum, weight_decay=o.weight_decay
        )
    else:
        optimizer = torch.optim.AdamW(groups, lr=o.lr, weight_decay=o.weight_decay)
    schedule = WarmupLogSchedule(
        total_steps,
        int(round(o.warmup_epochs * steps_per_epoch)),
        o.warmup_factor,
        o.lr_end / o.lr,
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    use_amp = o.amp and device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)

    epoch, step_in_epoch, global_step = 0, 0, 0
    # validation state: best loss, its step, its weights (CPU copy), evaluations since
    best: dict[str, Any] = {"val": None, "step": None, "state": None, "bad": 0}
    last_path = out_dir / "last.pt"
    resume_path = Path(resume) if isinstance(resume, str) else (last_path if resume else None)
    if resume_path is not None and resume_path.is_file():
        state = torch.load(resume_path, map_location="cpu", weights_only=True)
        module.load_state_dict(state["train_module"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        scaler.load_state_dict(state["scaler"])
        epoch, step_in_epoch = int(state["epoch"]), int(state["step_in_epoch"])
        global_step = int(state["global_step"])
        if state.get("best") is not None:
            best = dict(state["best"])
        rngs = state["rng"]
        _set_rng_state(rngs[rank] if rank < len(rngs) else rngs[0])
        log.info("resumed from %s at epoch %d step %d", resume_path, epoch, global_step)
    elif resume_path is not None and isinstance(resume, str):
        raise FileNotFoundError(f"--resume {resume}: no such checkpoint")

    writer = None
    if rank == 0 and cfg.log.tensorboard:
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(str(out_dir / "tb"))
    result = TrainResult(last_path=last_path)
    history_file = (out_dir / "history.jsonl").open("a") if rank == 0 else None
    val_file = (out_dir / "val.jsonl").open("a") if rank == 0 and val_set is not None else None
    start_time = time.monotonic()

    def validate() -> bool:
        """Evaluate on the held-out pairs, keep the best weights; True = patience ran out."""
        assert val_set is not None
        vals = val_set.loss(module, device)
        if epoch < o.backbone_frozen_epochs:  # loss() restored train mode: BN of a frozen
            _set_backbone_frozen(model, True)  # backbone must stay in eval
        rec = {"step": global_step, "epoch": epoch, **vals}
        improved = best["val"] is None or vals["val"] < best["val"] - o.min_delta
        if improved:
            best["val"], best["step"], best["bad"] = vals["val"], global_step, 0
            best["state"] = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        else:
            best["bad"] += 1
        rec["best"] = float(best["val"])
        result.val_history.append(rec)
        if rank == 0:
            log.info(
                "validation at step %d: %s (best %.4f at step %d)",
                global_step,
                " ".join(f"{k}={v:.4g}" for k, v in vals.items()),
                best["val"],
                best["step"],
            )
            if val_file is not None:
                val_file.write(json.dumps(rec) + "\n")
                val_file.flush()
            if writer is not None:
                for k, v in vals.items():
                    writer.add_scalar(f"val/{k}", v, global_step)
        return o.patience > 0 and best["bad"] >= o.patience

    if val_set is not None and best["val"] is None:
        validate()  # the starting weights compete too

    def save_last() -> None:
        if world > 1:
            rng_list: list[Any] = [None] * world
            dist.all_gather_object(rng_list, _rng_state())
        else:
            rng_list = [_rng_state()]
        if rank != 0:
            return
        payload = {
            "train_module": {k: v.detach().cpu() for k, v in module.state_dict().items()},
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "scaler": scaler.state_dict(),
            "epoch": epoch,
            "step_in_epoch": step_in_epoch,
            "global_step": global_step,
            "rng": rng_list,
            "best": best if val_set is not None else None,
        }
        tmp = last_path.with_name(last_path.name + ".tmp")
        torch.save(payload, tmp)
        tmp.replace(last_path)

    stop = False
    frozen_state: bool | None = None
    wrapped: nn.Module = module
    while epoch < o.epochs and not stop:
        frozen = epoch < o.backbone_frozen_epochs
        module.train()
        _set_backbone_frozen(model, frozen)
        if frozen_state is None or frozen != frozen_state:
            frozen_state = frozen
            if world > 1:
                wrapped = nn.parallel.DistributedDataParallel(
                    module,
                    device_ids=[device.index] if device.type == "cuda" else None,
                    find_unused_parameters=True,
                )
        dataset.set_epoch(epoch)
        loader = DataLoader(
            dataset,
            batch_size=bsz,
            sampler=EpochSliceSampler(steps_per_epoch, bsz, rank, world, step_in_epoch),
            num_workers=cfg.data.num_workers,
            worker_init_fn=_worker_init,
            pin_memory=device.type == "cuda",
            drop_last=True,
        )
        bar = None
        if rank == 0 and cfg.log.progress:
            from tqdm import tqdm

            bar = tqdm(
                total=steps_per_epoch,
                initial=step_in_epoch,
                desc=f"epoch {epoch}",
                dynamic_ncols=True,
                leave=False,
            )
        for batch in loader:
            gen = torch.Generator().manual_seed(
                (cfg.seed * 1_000_003 + global_step * 1009 + rank) % 2**63
            )
            z = batch["template"].to(device, non_blocking=True)
            x = batch["search"].to(device, non_blocking=True)
            boxes = batch["box"].to(device, non_blocking=True)
            positive = batch["positive"].to(device, non_blocking=True)
            lr_now = optimizer.param_groups[0]["lr"]
            with torch.autocast(device.type, dtype=torch.float16, enabled=use_amp):
                terms = wrapped(z, x, boxes, positive, gen)
            loss = terms["total"]
            if not torch.isfinite(loss):
                raise FloatingPointError(f"loss is {loss.item()} at step {global_step}")
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            if o.grad_clip > 0:
                scaler.unscale_(optimizer)
                nn.utils.clip_grad_norm_(module.parameters(), o.grad_clip)
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            global_step += 1
            step_in_epoch += 1
            rec = {"step": global_step, "epoch": epoch, "lr": lr_now}
            rec.update({k: float(v.detach()) for k, v in terms.items()})
            result.history.append(rec)
            if rank == 0:
                if history_file is not None:
                    history_file.write(json.dumps(rec) + "\n")
                if writer is not None and global_step % cfg.log.log_every == 0:
                    for k, v in rec.items():
                        if k not in ("step", "epoch"):
                            writer.add_scalar(f"train/{k}", v, global_step)
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(loss=f"{rec['total']:.3f}", lr=f"{lr_now:.2e}")
                elif global_step % cfg.log.log_every == 0:
                    log.info(
                        "step %d %s",
                        global_step,
                        " ".join(f"{k}={v:.4g}" for k, v in rec.items() if k != "step"),
                    )
            stop = _should_stop(o.max_steps, o.max_minutes, global_step, start_time, world, device)
            if val_set is not None and o.val_every > 0 and global_step % o.val_every == 0:
                if validate():
                    result.early_stopped = stop = True
            if stop or global_step % cfg.log.ckpt_every == 0:
                save_last()
            if stop:
                break
        if bar is not None:
            bar.close()
        if not stop:
            epoch += 1
            step_in_epoch = 0
            if val_set is not None and o.val_every == 0 and validate():
                result.early_stopped = stop = True
            save_last()
    result.global_step, result.epoch, result.stopped_early = global_step, epoch, stop
    if history_file is not None:
        history_file.close()
    if val_file is not None:
        val_file.close()
    if val_set is not None and best["state"] is not None:
        if rank == 0 and best["step"] != global_step:
            # the last step's weights too, for comparison (model.pt gets the best evaluation's)
            save_checkpoint(
                out_dir / "last_model.pt",
                model,
                _checkpoint_config(cfg, tcfg.to_dict()),
                {"trained_steps": global_step, "train_config": cfg.to_dict()},
            )
        model.load_state_dict(best["state"])
        result.best_step, result.best_val = int(best["step"]), float(best["val"])
        log.info("model.pt: the weights of step %d (validation %.4f)", best["step"], best["val"])
    if writer is not None:
        writer.close()
    if rank == 0:
        model_path = out_dir / "model.pt"
        meta = {
            "trained_steps": global_step,
            "epochs_done": epoch,
            "finished": not stop,
            "world_size": world,
            "init_weights": init_info,
            "validation": (
                {
                    "best_step": result.best_step,
                    "best_val": result.best_val,
                    "early_stopped": result.early_stopped,
                    "held_out": sorted(
                        s.name for spec in held_out for s in getattr(spec.source, "sequences", [])
                    ),
                    "evaluations": result.val_history,
                }
                if val_set is not None
                else None
            ),
            "train_config": cfg.to_dict(),
            "final_terms": {
                k: v
                for k, v in (result.history[-1] if result.history else {}).items()
                if isinstance(v, float)
            },
        }
        save_checkpoint(model_path, model, _checkpoint_config(cfg, tcfg.to_dict()), meta)
        result.model_path = model_path
        log.info("saved %s (%d steps)", model_path, global_step)
    return result


def _should_stop(
    max_steps: int | None,
    max_minutes: float | None,
    step: int,
    start: float,
    world: int,
    device: torch.device,
) -> bool:
    stop = (max_steps is not None and step >= max_steps) or (
        max_minutes is not None and time.monotonic() - start >= max_minutes * 60
    )
    if world > 1 and max_minutes is not None:  # clocks differ: agree (any rank stops -> all)
        flag = torch.tensor([1.0 if stop else 0.0], device=device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        stop = bool(flag.item() > 0)
    return stop
