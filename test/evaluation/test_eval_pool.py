"""The parallel evaluation's worker processes end with the evaluation, however it ends.

Stopping ``siam-tracker evaluate --workers N`` with a signal to its main process alone
(``timeout``, ``kill``, a CI job's cancel) skips the pool's shutdown; before the pool's workers
watched their parent they stayed behind, idle, until ended by hand (seen on 2026-12-07)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from process_helpers import end_all, kill_and_watch, spawned_children

pytestmark = pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc (Linux)")


def test_pool_workers_exit_when_the_evaluation_process_is_killed(tmp_path: Path) -> None:
    script = tmp_path / "evaluation.py"
    script.write_text(
        textwrap.dedent(
            """
            import time
            from siam_tracker_ros.evaluation.runner import evaluation_pool

            if __name__ == "__main__":
                pool = evaluation_pool(2)
                jobs = [pool.submit(time.sleep, 120) for _ in range(2)]
                print("ready", flush=True)
                time.sleep(120)
            """
        )
    )
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    workers: list[int] = []
    try:
        assert parent.stdout is not None and parent.stdout.readline().strip() == "ready"
        deadline = time.monotonic() + 60.0
        workers = spawned_children(parent.pid)
        while len(workers) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
            workers = spawned_children(parent.pid)
        assert len(workers) == 2, workers  # both started, each in a two-minute job
        assert not kill_and_watch(parent, workers, timeout=20.0)
    finally:
        end_all(parent, workers)
