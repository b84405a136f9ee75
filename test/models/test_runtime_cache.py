"""The ONNX export cache (``runtime/export_cache.py``): hits, keys, corruption, concurrent starts.

Every test uses its own cache folder (``tmp_path``); the export of a NanoTrack v2 with random
weights takes a second or two here.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import ROOT

from siam_tracker_ros.core.config import load_config
from siam_tracker_ros.models.base import SiameseModel
from siam_tracker_ros.models.registry import build_model
from siam_tracker_ros.runtime.export_cache import (
    ENV_VAR,
    cache_key,
    cached_export,
    default_cache_dir,
)
from siam_tracker_ros.runtime.onnx_backend import OnnxRuntimeBackend

NANO_V2 = ROOT / "config" / "models" / "nanotrack_v2.yaml"


def _model(seed: int = 0) -> SiameseModel:
    torch.manual_seed(seed)
    return build_model(load_config(NANO_V2).model).eval()


def _entries(root: Path) -> list[Path]:
    return sorted(p for p in (root / "onnx").iterdir() if not p.name.startswith("."))


def test_second_start_is_a_cache_hit(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    model = _model()
    with caplog.at_level(logging.INFO, logger="siam_tracker_ros.runtime.export_cache"):
        first = cached_export(model, tmp_path, 127, (255,))[0]
    exporting = [r for r in caplog.records if "exporting the model to ONNX" in r.getMessage()]
    assert len(exporting) == 1  # the first start says what it is doing, once
    stamps = {p: p.stat().st_mtime_ns for p in first.out_dir.iterdir()}
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="siam_tracker_ros.runtime.export_cache"):
        second = cached_export(_model(), tmp_path, 127, (255,))[0]  # same weights, new object
    assert not caplog.records  # a hit is silent
    assert second.out_dir == first.out_dir and second.search_paths == first.search_paths
    assert {p: p.stat().st_mtime_ns for p in second.out_dir.iterdir()} == stamps
    assert _entries(tmp_path) == [first.out_dir]
    manifest = json.loads((first.out_dir / "manifest.json").read_text())
    graphs = {p.name for p in first.out_dir.glob("*.onnx")}
    assert set(manifest["files"]) == graphs | {"pool.npz"}  # every file checksummed
    assert first.pool_spec is not None and first.host_pool  # verified pooling kept


def test_other_weights_or_template_size_get_another_entry(tmp_path: Path) -> None:
    a, b = _model(seed=0), _model(seed=1)
    assert cache_key(a, 127) != cache_key(b, 127)
    assert cache_key(a, 127) != cache_key(a, 135)
    assert cache_key(a, 127) == cache_key(_model(seed=0), 127)
    with torch.no_grad():  # one parameter changed in place: another key
        next(a.parameters()).add_(1e-3)
    assert cache_key(a, 127) != cache_key(_model(seed=0), 127)
    first = cached_export(a, tmp_path, 127, (255,))[0]
    other = cached_export(b, tmp_path, 127, (255,))[0]
    assert first.out_dir != other.out_dir and len(_entries(tmp_path)) == 2


@pytest.mark.parametrize("damage", ["truncate", "flip", "delete", "manifest"])
def test_corrupt_entry_is_rebuilt_with_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, damage: str
) -> None:
    model = _model()
    entry = cached_export(model, tmp_path, 127, (255,))[0].out_dir
    graph = entry / "model_search_dynamic.onnx"
    if damage == "truncate":
        graph.write_bytes(graph.read_bytes()[:1000])
    elif damage == "flip":
        data = bytearray(graph.read_bytes())
        data[len(data) // 2] ^= 0xFF
        graph.write_bytes(bytes(data))
    elif damage == "delete":
        graph.unlink()
    else:
        (entry / "manifest.json").write_text("{not json")
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="siam_tracker_ros.runtime.export_cache"):
        again = cached_export(model, tmp_path, 127, (255,))[0]
    assert len(caplog.records) == 1  # one line: what is wrong and that it is rebuilt
    message = caplog.records[0].getMessage()
    assert f"{entry} is corrupt" in message and "exporting the model to ONNX again" in message
    assert again.out_dir == entry and graph.is_file()
    # and the rebuilt graphs run
    backend = OnnxRuntimeBackend(again, model)
    backend.prepare(127, (255,))


_RACE = """
import sys, torch
from siam_tracker_ros.core.config import load_config
from siam_tracker_ros.models.registry import build_model
from siam_tracker_ros.runtime.onnx_backend import OnnxRuntimeBackend
torch.manual_seed(7)
model = build_model(load_config(sys.argv[1]).model).eval()
backend = OnnxRuntimeBackend.from_model(model, search_sizes=(255,), cache_dir=sys.argv[2])
backend.prepare(127, (255,))
print(backend.exported.out_dir)
"""


def test_two_processes_starting_at_once_share_one_entry(tmp_path: Path) -> None:
    """Both export (neither finds the entry), one publishes it; both end up reading the same
    intact entry, and no temporary folders are left behind."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _RACE, str(NANO_V2), str(tmp_path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (_, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err
    dirs = {out.strip().splitlines()[-1] for out, _ in outs}
    assert len(dirs) == 1
    assert [p.name for p in (tmp_path / "onnx").iterdir()] == [Path(dirs.pop()).name]
    torch.manual_seed(7)
    entry = cached_export(_model(seed=7), tmp_path, 127, (255,))[0].out_dir
    assert (entry / "manifest.json").is_file()


def test_cache_folder_default_and_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "explicit"))
    assert default_cache_dir() == tmp_path / "explicit"
    monkeypatch.delenv(ENV_VAR)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "siam_tracker_ros"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert default_cache_dir() == Path.home() / ".cache" / "siam_tracker_ros"


def test_unwritable_cache_falls_back_to_a_temporary_export(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with caplog.at_level(logging.WARNING):
        backend = OnnxRuntimeBackend.from_model(_model(), search_sizes=(255,), cache_dir=blocker)
    assert any("not usable" in r.getMessage() for r in caplog.records)
    assert not str(backend.exported.out_dir).startswith(str(blocker))
    backend.prepare(127, (255,))


def test_export_leaves_a_training_mode_model_untouched(tmp_path: Path) -> None:
    """``build_model`` returns a training-mode network; the export and the checks done for the
    cache must not run it in that mode (batch norm would update its running statistics, and the
    next start would hash other weights)."""
    model = _model()
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    key = cache_key(model, 127)
    cached_export(model, tmp_path, 127, (255,))[0]
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert cache_key(model, 127) == key


_FRESH_START = """
import json, sys, time
t0 = time.perf_counter()
from siam_tracker_ros.core.loading import load_tracker
tracker = load_tracker(cache_dir=sys.argv[1])
elapsed = time.perf_counter() - t0
import numpy as np
frame = np.random.default_rng(0).integers(0, 255, (240, 320, 3), dtype=np.uint8)
tracker.init(frame, (100, 80, 40, 50))
box = tracker.track(frame).box.tolist()
print(json.dumps({"torch": "torch" in sys.modules, "s": elapsed, "box": box,
                  "runtime": type(tracker.runtime).__name__}))
"""


def test_a_cached_start_needs_no_pytorch(tmp_path: Path) -> None:
    """The first start of the bundled model exports (imports torch); a second start in a fresh
    process finds graphs, pooling and config in the cache and never imports torch -- and tracks
    the same box. (Its time is a benchmark's business: bench/bench_startup.py.)"""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    runs = []
    for _ in range(2):
        res = subprocess.run(
            [sys.executable, "-c", _FRESH_START, str(tmp_path)],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
        )
        assert res.returncode == 0, res.stderr
        runs.append(json.loads(res.stdout.strip().splitlines()[-1]))
    first, second = runs
    assert first["torch"] and not second["torch"]
    assert first["runtime"] == second["runtime"] == "OnnxRuntimeBackend"
    assert first["box"] == second["box"]
    assert len(list((tmp_path / "configs").glob("*.json"))) == 1  # the checkpoint's config


def test_source_key_follows_the_files_and_the_backend(tmp_path: Path) -> None:
    from siam_tracker_ros.runtime.export_cache import source_key

    a, b = tmp_path / "a.pt", tmp_path / "b.pt"
    a.write_bytes(b"weights one")
    b.write_bytes(b"weights two")
    key = source_key([a], {"family": "nanotrack"}, 127, "onnxruntime=1")
    assert key == source_key([a], {"family": "nanotrack"}, 127, "onnxruntime=1")
    assert key != source_key([b], {"family": "nanotrack"}, 127, "onnxruntime=1")
    assert key != source_key([a], {"family": "nanotrack", "version": 3}, 127, "onnxruntime=1")
    assert key != source_key([a], {"family": "nanotrack"}, 135, "onnxruntime=1")
    assert key != source_key([a], {"family": "nanotrack"}, 127, "openvino=2026")
