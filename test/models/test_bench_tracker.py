"""``bench/bench_tracker.py`` (the README's "fps per backbone" command): each config runs on
the runtime the node would give it, also when that runtime comes from the export cache (a
second run used to stop with "Tracker needs a model or a prepared runtime")."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import ROOT


def test_the_bench_runs_on_the_nodes_runtime_from_a_cold_and_a_warm_cache(
    tmp_path: Path,
) -> None:
    env = {**os.environ, "SIAM_TRACKER_CACHE": str(tmp_path / "cache")}
    cmd = [sys.executable, str(ROOT / "bench" / "bench_tracker.py"), "--frames", "2"]
    cmd += ["--warmup", "1", "--configs", str(ROOT / "config/models/nanotrack_v3_default.yaml")]
    for _ in ("cold", "warm"):
        res = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        assert res.returncode == 0, res.stderr[-2000:]
        row = next(line for line in res.stdout.splitlines() if "nanotrack_v3_default" in line)
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[1] == "cpu (OnnxRuntimeBackend)", row  # what the node runs on a CPU
        assert float(cells[3]) > 0 and float(cells[5]) > 0, row
