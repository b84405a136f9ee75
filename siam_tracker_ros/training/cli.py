"""``siam-tracker train --config config/train/X.yaml``: one command trains from one YAML file.

``--nproc N`` starts N local processes (DistributedDataParallel; gloo on CPU, NCCL on GPUs) on a
free 127.0.0.1 port; ``torchrun --nproc-per-node N -m siam_tracker_ros.training --config X``
does the same through torchrun. ``--resume`` continues from ``<output_dir>/last.pt``.
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
from typing import Any

__all__ = ["add_parser", "main", "run_train"]


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = subparsers.add_parser(
        "train", help="train a model from a YAML training config", description=__doc__
    )
    _add_arguments(p)
    p.set_defaults(func=run_train)
    return p


def _add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", required=True, help="training config (config/train/*.yaml)")
    p.add_argument("--output-dir", default=None, help="override the config's output_dir")
    p.add_argument(
        "--resume",
        nargs="?",
        const=True,
        default=False,
        help="continue from <output_dir>/last.pt (or the given file)",
    )
    p.add_argument("--nproc", type=int, default=1, help="local processes (DDP); default 1")
    p.add_argument("--max-steps", type=int, default=None, help="override optim.max_steps")
    p.add_argument("--max-minutes", type=float, default=None, help="override optim.max_minutes")
    p.add_argument("--threads", type=int, default=None, help="torch threads per process")
    p.add_argument("--device", default=None, help="override the config's device")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _load(args: argparse.Namespace) -> Any:
    import dataclasses

    from siam_tracker_ros.training.config import load_train_config

    cfg = load_train_config(args.config)
    optim = cfg.optim
    if args.max_steps is not None:
        optim = dataclasses.replace(optim, max_steps=args.max_steps)
    if args.max_minutes is not None:
        optim = dataclasses.replace(optim, max_minutes=args.max_minutes)
    cfg = dataclasses.replace(cfg, optim=optim)
    if args.device is not None:
        cfg = dataclasses.replace(cfg, device=args.device)
    return cfg


def _worker(rank: int, world: int, port: int, args: argparse.Namespace) -> None:
    os.environ.update(
        {
            "RANK": str(rank),
            "LOCAL_RANK": str(rank),
            "WORLD_SIZE": str(world),
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": str(port),
        }
    )
    _run_single(args)


def _run_single(args: argparse.Namespace) -> int:
    import torch

    from siam_tracker_ros.training.trainer import train

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if args.threads:
        torch.set_num_threads(args.threads)
    result = train(_load(args), resume=args.resume, output_dir=args.output_dir)
    if int(os.environ.get("RANK", "0")) == 0:
        last = result.history[-1] if result.history else {}
        print(
            f"trained {result.global_step} steps; final model {result.model_path}; "
            f"last step: " + " ".join(f"{k}={v:.4g}" for k, v in last.items())
        )
    return 0


def run_train(args: argparse.Namespace) -> int:
    if args.nproc > 1 and "WORLD_SIZE" not in os.environ:
        import torch.multiprocessing as mp

        _load(args)  # fail fast on a bad config, before starting processes
        mp.spawn(_worker, args=(args.nproc, _free_port(), args), nprocs=args.nproc, join=True)
        return 0
    return _run_single(args)


def main(argv: list[str] | None = None) -> int:
    """Entry for ``python -m siam_tracker_ros.training`` (and torchrun ``-m``)."""
    from siam_tracker_ros.cli import run_guarded

    parser = argparse.ArgumentParser(
        prog="python -m siam_tracker_ros.training", description=__doc__
    )
    _add_arguments(parser)
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    args = parser.parse_args(argv)
    # the same error edge as `siam-tracker train`: a user error is one line, exit status 2
    return run_guarded("train", lambda: run_train(args), args.debug)
