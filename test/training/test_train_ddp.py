"""DistributedDataParallel smoke test: two CPU processes (gloo) on 127.0.0.1 train two steps."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from train_helpers import TINY

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow  # 29 s on the 2-core VM (2026-12-03)
def test_ddp_smoke_two_cpu_processes(tmp_path: Path) -> None:
    cfg = {
        **TINY,
        "output_dir": str(tmp_path / "ddp"),
        "data": {**TINY["data"], "samples_per_epoch": 16, "batch_size": 2},
        "optim": {**TINY["optim"], "max_steps": 2, "backbone_frozen_epochs": 0},
    }
    path = tmp_path / "ddp.yaml"
    path.write_text(yaml.safe_dump(cfg))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(k, None)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "siam_tracker_ros.training",
            "--config",
            str(path),
            "--nproc",
            "2",
            "--threads",
            "1",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert "trained 2 steps" in proc.stdout
    assert (tmp_path / "ddp" / "model.pt").is_file()
    state = torch.load(tmp_path / "ddp" / "last.pt", weights_only=True)
    assert state["global_step"] == 2 and len(state["rng"]) == 2
