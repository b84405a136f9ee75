"""DistributedDataParallel smoke test: two CPU processes (gloo) on 127.0.0.1 train two steps."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import torch
from train_helpers import two_rank_run

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow  # 29 s on the 2-core VM (2026-12-03)
def test_ddp_smoke_two_cpu_processes(tmp_path: Path) -> None:
    command, env = two_rank_run(tmp_path, max_steps=2)
    proc = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert "trained 2 steps" in proc.stdout
    assert (tmp_path / "ddp" / "model.pt").is_file()
    state = torch.load(tmp_path / "ddp" / "last.pt", weights_only=True)
    assert state["global_step"] == 2 and len(state["rng"]) == 2
