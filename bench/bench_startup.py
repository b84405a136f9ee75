"""Start-up time of ``load_tracker`` (the one loading path): first start (ONNX export) vs later
starts (graphs from the disk cache), each in a fresh process, like starts of the ROS node.

    .venv/bin/python bench/bench_startup.py                 # the bundled model
    .venv/bin/python bench/bench_startup.py --model path/to/checkpoint.pt --starts 3

Columns: ``imports`` (importing ``siam_tracker_ros.core.loading``), ``load_tracker`` (resolve
the file, read its config, find the graphs or export them, create and warm the sessions) and
``total`` = both, measured from the first line of the fresh process: what a cached start costs,
import included (issue 25's target: < 0.5 s for the bundled model on the CPU). ``torch``: whether
the process imported PyTorch at all (a cached start of an exported-graph backend does not). The
cache is a fresh temporary folder (``SIAM_TRACKER_CACHE``), so the first start always exports.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_CHILD = """
import time
t0 = time.perf_counter()
import json, sys
from siam_tracker_ros.core.loading import load_tracker
t1 = time.perf_counter()
tracker = load_tracker(sys.argv[1] or None)
t2 = time.perf_counter()
print(json.dumps({"imports_s": t1 - t0, "prepare_s": t2 - t1, "torch": "torch" in sys.modules,
                  "runtime": type(tracker.runtime).__name__}))
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="", help="checkpoint or YAML (default: the bundled model)")
    ap.add_argument("--starts", type=int, default=2, help="process starts (the first exports)")
    args = ap.parse_args()
    cache = tempfile.mkdtemp(prefix="siam_startup_cache_")
    env = {**os.environ, "SIAM_TRACKER_CACHE": cache, "PYTHONPATH": str(ROOT)}
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    print(f"{stamp}; {os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.2f}; cache {cache}")
    print("| start | imports (s) | load_tracker (s) | total (s) | torch imported | runtime |")
    print("|---|---:|---:|---:|---|---|")
    for i in range(args.starts):
        out = subprocess.run(
            [sys.executable, "-c", _CHILD, args.model],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        row = json.loads(out.stdout.strip().splitlines()[-1])
        label = "first (exports)" if i == 0 else f"{i + 1} (cache)"
        total = row["imports_s"] + row["prepare_s"]
        print(
            f"| {label} | {row['imports_s']:.2f} | {row['prepare_s']:.2f} | {total:.2f} | "
            f"{'yes' if row['torch'] else 'no'} | {row['runtime']} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
