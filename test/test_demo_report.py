"""The demo's own report (scripts/run_demo.py): every published frame is accounted for, in
categories that add up, and the files it wrote are listed with their paths. The accounting is
checked on hand-made counters and on a real run of the demo (node + replay in a loopback-only
namespace) over a short generated video."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import cv2
import numpy as np
import pytest
from conftest import ROOT

from siam_tracker_ros.testing.isolation import isolation_available


def _run_demo_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("run_demo", ROOT / "scripts" / "run_demo.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


run_demo = _run_demo_module()


def _diag(**values: int) -> dict[str, Any]:
    """A recorded /diagnostics status (its values are strings, as on the wire)."""
    return {"name": "tracker_node: tracking", "values": {k: str(v) for k, v in values.items()}}


def test_the_init_frame_is_the_one_neither_processed_nor_dropped() -> None:
    """The issue's run: 140 published, 137 processed, 2 dropped: the third is the init frame."""
    stamps = [1_000 + 100 * i for i in range(140)]
    statuses = [{"frames_processed": 137, "frames_dropped": 2}]
    diagnostics = [_diag(frames_received=140, frames_processed=137, frames_dropped=2)]
    acc = run_demo.frame_accounting(stamps, 0, statuses, diagnostics)
    assert acc == {
        "frames_published": 140,
        "frames_before_init": 0,
        "frames_init": 1,
        "frames_processed": 137,
        "frames_dropped": 2,
        "frames_malformed": 0,
        "frames_tracker_errors": 0,
        "frames_not_received": 0,
        "frames_unaccounted": 0,
    }
    line = run_demo.describe_accounting(acc)
    assert line.startswith("140 published = 1 init frame") and "137 tracked" in line
    assert "2 dropped" in line and "unaccounted" not in line


def test_every_category_adds_up_and_a_gap_is_shown() -> None:
    stamps = list(range(50))
    # init on frame 3; 2 frames lost in transport, 1 malformed, 1 tracker error; the node's
    # final counters come from /diagnostics, not from its (older) last status
    statuses = [{"frames_processed": 30, "frames_dropped": 1}]
    diagnostics = [
        _diag(frames_received=10),  # an early message: ignored
        _diag(
            frames_received=47,
            frames_malformed=1,
            frames_processed=38,
            frames_dropped=4,
            tracker_errors=1,
        ),
    ]
    acc = run_demo.frame_accounting(stamps, 3, statuses, diagnostics)
    assert acc["frames_before_init"] == 3 and acc["frames_not_received"] == 2
    assert acc["frames_processed"] == 38 and acc["frames_dropped"] == 4
    parts = sum(v for k, v in acc.items() if k != "frames_published")
    assert parts == acc["frames_published"] == 50
    assert acc["frames_unaccounted"] == 50 - (3 + 1 + 38 + 4 + 1 + 1 + 2) == 0
    # a frame the node skipped without counting it shows up, it is not hidden
    diagnostics[-1]["values"]["frames_processed"] = "37"
    acc = run_demo.frame_accounting(stamps, 3, statuses, diagnostics)
    assert acc["frames_unaccounted"] == 1
    assert "1 unaccounted" in run_demo.describe_accounting(acc)


def _video(path: Path, n: int = 45) -> str:
    """A textured 40x40 target moving 2 px right per frame at 15 fps; its first box."""
    rng = np.random.default_rng(5)
    bg = cv2.resize(rng.integers(0, 256, (12, 16, 3), dtype=np.uint8), (320, 240))
    tex = cv2.resize(
        rng.integers(0, 256, (8, 8, 3), dtype=np.uint8), (40, 40), interpolation=cv2.INTER_NEAREST
    )
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 15.0, (320, 240))
    for i in range(n):
        frame = bg.copy()
        frame[100:140, 60 + 2 * i : 100 + 2 * i] = tex
        writer.write(frame)
    writer.release()
    return "60,100,40,40"


@pytest.mark.ros
@pytest.mark.slow
def test_the_demo_accounts_for_every_frame_and_lists_its_files(tmp_path: Path) -> None:
    if not isolation_available():
        pytest.skip("no loopback-only namespace here")
    box = _video(tmp_path / "in.avi")
    out = tmp_path / "demo_out"
    argv = [
        sys.executable,
        str(ROOT / "scripts" / "run_demo.py"),
        "--video",
        str(tmp_path / "in.avi"),
    ]
    argv += ["--init-box", box, "--max-frames", "0", "--out", str(out), "--response-every", "10"]
    res = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    categories = {k: v for k, v in summary.items() if k in run_demo.ACCOUNTING_WORDS}
    assert summary["frames_published"] == 45
    assert sum(categories.values()) == 45 and summary["frames_unaccounted"] == 0, summary
    assert summary["frames_init"] == 1 and summary["frames_processed"] >= 30, summary
    frames_line = next(ln for ln in res.stdout.splitlines() if ln.strip().startswith("frames:"))
    assert "45 published = " in frames_line and "1 init frame" in frames_line, frames_line
    # the list of files: each path printed exists, and the expected kinds are all there
    listed = [
        Path(ln.split("  (")[0].strip())
        for ln in res.stdout.split("files:\n", 1)[1].splitlines()
        if ln.startswith("  /")
    ]
    assert listed and all(p.is_file() for p in listed), listed
    names = {p.relative_to(out).as_posix() for p in listed}
    assert {"annotated.mp4", "detections.csv", "statuses.csv", "summary.json"} <= names
    assert any(n.startswith("frames/") for n in names) and any(
        n.startswith("response/") for n in names
    )
    assert sorted(summary["files"]) == sorted(names)
