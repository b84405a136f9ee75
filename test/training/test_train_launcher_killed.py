"""``siam-tracker train --nproc N``: the ranks end with the launcher, however it ends.

A signal to the launcher alone (``timeout``, ``kill``, a CI job's cancel, the OOM killer) skips
its join of the ranks. They end anyway: ``torch.multiprocessing.spawn`` asks the kernel to send
each rank SIGINT when its parent dies (``PR_SET_PDEATHSIG``), and the trainer lets that
KeyboardInterrupt end the rank. This holds it (the evaluation pool, whose spawned workers get no
such signal, watches its parent itself: ``test/evaluation/test_eval_pool.py``)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest
from process_helpers import alive, end_all, kill_and_watch, spawned_children
from train_helpers import two_rank_run

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc (Linux)")


@pytest.mark.slow  # ~15 s: two ranks start, then the launcher is killed
def test_training_ranks_exit_when_the_launcher_is_killed(tmp_path: Path) -> None:
    command, env = two_rank_run(tmp_path, max_steps=100000)
    launcher = subprocess.Popen(
        command,
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
            ranks = spawned_children(launcher.pid)
        assert len(ranks) == 2, ranks
        time.sleep(3.0)  # into their training loops
        assert all(alive(r) for r in ranks)
        assert not kill_and_watch(launcher, ranks, timeout=20.0)
    finally:
        end_all(launcher, ranks)
