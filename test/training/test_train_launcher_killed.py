"""``siam-tracker train --nproc N``: the ranks end with the launcher, however it ends.

A signal to the launcher alone (``timeout``, ``kill``, a CI job's cancel, the OOM killer) skips
its join of the ranks. They end anyway: ``torch.multiprocessing.spawn`` asks the kernel to send
each rank SIGINT when its parent dies (``PR_SET_PDEATHSIG``), and the trainer lets that
KeyboardInterrupt end the rank. This holds it (the evaluation pool, whose spawned workers get no
such signal, watches its parent itself: ``test/evaluation/test_eval_pool.py``)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from train_helpers import TINY

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc (Linux)")


def _children(pid: int) -> list[int]:
    """Live processes whose parent is ``pid`` and that multiprocessing spawned."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[1]) == pid and b"spawn_main" in cmdline and fields[0] != "Z":
            found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


@pytest.mark.slow  # ~15 s: two ranks start, then the launcher is killed
def test_training_ranks_exit_when_the_launcher_is_killed(tmp_path: Path) -> None:
    cfg = {
        **TINY,
        "output_dir": str(tmp_path / "ddp"),
        "data": {**TINY["data"], "samples_per_epoch": 16, "batch_size": 2},
        "optim": {**TINY["optim"], "max_steps": 100000, "backbone_frozen_epochs": 0},
    }
    path = tmp_path / "long.yaml"
    path.write_text(yaml.safe_dump(cfg))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(k, None)
    launcher = subprocess.Popen(
        [sys.executable, "-m", "siam_tracker_ros.training", "--config", str(path)]
        + ["--nproc", "2", "--threads", "1"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    ranks: list[int] = []
    try:
        deadline = time.monotonic() + 60.0
        while len(ranks) < 2 and time.monotonic() < deadline and launcher.poll() is None:
            time.sleep(0.2)
            ranks = _children(launcher.pid)
        assert len(ranks) == 2, ranks
        time.sleep(3.0)  # into their training loops
        assert all(_alive(r) for r in ranks)
        os.kill(launcher.pid, signal.SIGKILL)  # no clean-up in the launcher at all
        launcher.wait(timeout=10)
        deadline = time.monotonic() + 20.0
        while any(_alive(r) for r in ranks) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not any(_alive(r) for r in ranks)
    finally:
        if launcher.poll() is None:
            launcher.kill()
        for r in ranks:
            if _alive(r):
                os.kill(r, signal.SIGKILL)
