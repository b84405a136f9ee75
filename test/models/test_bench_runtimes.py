"""``bench/bench_runtimes.py``: it times the bundled network in ONNX Runtime and reports a
runtime it cannot run as skipped, with why, instead of failing (the optional runtimes are not
installed here; a robot builder installs the ones they want to compare)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import ROOT


def _bench(tmp_path: Path, *extra: str) -> str:
    res = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "bench_runtimes.py"), "--runs", "3"]
        + ["--work", str(tmp_path), *extra],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    return res.stdout


def test_the_reference_rows_and_a_missing_converter(tmp_path: Path) -> None:
    out = _bench(tmp_path, "--runtimes", "mnn", "--mnnconvert", str(tmp_path / "no-such-tool"))
    rows = [line.split("|")[1:-1] for line in out.splitlines() if line.startswith("| ")]
    by_name = {(r[0].strip(), r[1].strip()): r for r in rows[1:]}
    # ONNX Runtime's backbone is the reference: its own difference is exactly zero
    assert by_name[("onnxruntime", "backbone")][4].strip() == "0.0e+00"
    assert float(by_name[("onnxruntime", "search graph")][3]) > 0.0
    # MNN either is not installed or its converter is not there: skipped, one line, no row
    assert ("mnn", "backbone") not in by_name
    assert any(line.startswith("mnn: skipped: ") for line in out.splitlines())
    assert (tmp_path / "backbone_255.onnx").exists()
    assert (tmp_path / "model_search_255.onnx").exists()


def test_several_threads_time_each_runtime_in_its_own_process(tmp_path: Path) -> None:
    out = _bench(tmp_path, "--runtimes", "", "--threads", "2")
    assert "each runtime in a process of its own" in out
    assert (tmp_path / "ms_onnxruntime.npy").exists()
    assert (tmp_path / "ms_onnxruntime_whole_search_graph.npy").exists()
