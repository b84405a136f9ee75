"""Model preparation time of ``Tracker.from_checkpoint``: first start (ONNX export) vs second start
(graphs from the disk cache), each in a fresh process, like two starts of the ROS node.

    .venv/bin/python bench/bench_startup.py                 # the bundled model
    .venv/bin/python bench/bench_startup.py --model path/to/checkpoint.pt --starts 3

"Model preparation" is the ``from_checkpoint`` call: read the checkpoint, build the network, load
the weights, export the ONNX graphs or find them in the cache (hashing the weights), create and
warm the ONNX Runtime sessions. Python and torch import time is printed apart. The cache is a
fresh temporary folder (``SIAM_TRACKER_CACHE``), so the first start always exports.
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
import json, sys, time
t0 = time.perf_counter()
import torch
from siam_tracker_ros.core.loading import load_tracker
t1 = time.perf_counter()
tracker = load_tracker(sys.argv[1] or None)
t2 = time.perf_counter()
print(json.dumps({"imports_s": t1 - t0, "prepare_s": t2 - t1, "runtime": repr(tracker.runtime)}))
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
    print("| start | imports (s) | model preparation (s) |")
    print("|---|---:|---:|")
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
        print(f"| {label} | {row['imports_s']:.2f} | {row['prepare_s']:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
