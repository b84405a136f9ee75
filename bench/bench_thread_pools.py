"""Why two ONNX Runtime threads were slower than one inside the tracker: several spinning pools.

Every ONNX Runtime session has its own intra-op thread pool, and a tracker has several sessions
(the template graph, one per search size). With two threads each pool has one worker, and after a
run that worker keeps busy-waiting for a while. The next session's run and the host-side code
between runs then share two cores with the spinning workers of the sessions that just ran.
``session.force_spinning_stop`` (ONNX Runtime's session config) stops the spinning when a run
returns; :class:`siam_tracker_ros.runtime.onnx_backend.OnnxRuntimeOptions` sets it
(``stop_spinning``).

This bench reproduces that outside the tracker: ``--sessions`` ONNX Runtime backends of the
bundled model (each one 255-px search session with the setting's ``OnnxRuntimeOptions``), their
searches run in turn (the first one's timed: crop to NCHW float and the graph), with a fixed piece
of NumPy work between runs (the host side of a step), for each setting:

- ``1 thread``: one intra-op thread per session (the default);
- ``2 threads, spinning``: ONNX Runtime's own behaviour (``stop_spinning=False``; the tracker's
  before 2026-12-07);
- ``2 threads, stop spinning``: what the backend does now.

Each setting runs in a fresh process (settings never share a process, so no pool of one setting
spins while another is timed), in the order given, ``--rounds`` times.

    python bench/bench_thread_pools.py                 # 1 and 3 sessions, 3 rounds
    python bench/bench_thread_pools.py --sessions 1,2,3 --runs 300
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import time

import numpy as np

SETTINGS = {
    "1 thread": (1, False),
    "2 threads, spinning": (2, False),
    "2 threads, stop spinning": (2, True),
}


def _child(threads: int, stop: bool, sessions: int, runs: int) -> dict[str, float]:
    """Time ``runs`` runs of the first of ``sessions`` sessions (see the module docstring):
    each session is an :class:`OnnxRuntimeBackend` of the bundled model's graphs with the
    setting's options, so the bench runs the project's own session settings."""
    from siam_tracker_ros.core.loading import load_tracker
    from siam_tracker_ros.runtime.onnx_backend import OnnxRuntimeBackend, OnnxRuntimeOptions

    runtime = load_tracker().runtime
    assert isinstance(runtime, OnnxRuntimeBackend)
    kernels = runtime.template(np.full((127, 127, 3), 90, np.uint8))
    options = OnnxRuntimeOptions(intra_op_threads=threads, stop_spinning=stop)
    pool = [
        OnnxRuntimeBackend(runtime.exported, options=options, pool=runtime.host_pool)
        for _ in range(sessions)
    ]
    rng = np.random.default_rng(0)
    crop = rng.integers(0, 256, (255, 255, 3), dtype=np.uint8)
    for backend in pool:
        for _ in range(5):
            backend.search(crop, kernels)
    host = rng.random((160, 160))
    run_s, host_s = [], []
    cpu0 = time.process_time()
    for i in range(runs):
        t0 = time.perf_counter()
        pool[0].search(crop, kernels)
        run_s.append(time.perf_counter() - t0)
        if sessions > 1:
            pool[1 + i % (sessions - 1)].search(crop, kernels)
        t0 = time.perf_counter()
        for _ in range(4):
            host @ host
        host_s.append(time.perf_counter() - t0)
    cpu = (time.process_time() - cpu0) / runs
    return {
        "run_p50_ms": float(np.median(run_s) * 1e3),
        "run_p95_ms": float(np.percentile(run_s, 95) * 1e3),
        "host_p50_ms": float(np.median(host_s) * 1e3),
        "process_cpu_ms": cpu * 1e3,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", default="1,3", help="comma-separated session counts")
    ap.add_argument("--runs", type=int, default=300, help="timed runs per process")
    ap.add_argument("--rounds", type=int, default=3, help="processes per setting and count")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        threads, stop, sessions = json.loads(args.child)
        print(json.dumps(_child(threads, stop, sessions, args.runs)))
        return 0
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    counts = [int(n) for n in args.sessions.split(",") if n]
    rows: dict[tuple[str, int], list[dict[str, float]]] = {}
    for _ in range(args.rounds):
        for n in counts:
            for name, (threads, stop) in SETTINGS.items():
                child = json.dumps([threads, stop, n])
                out = subprocess.run(
                    [sys.executable, __file__, "--child", child, "--runs", str(args.runs)],
                    env=env,
                    capture_output=True,
                    text=True,
                    check=True,
                )
                rows.setdefault((name, n), []).append(json.loads(out.stdout.splitlines()[-1]))
    from bench_speed import machine  # this folder is on the path of a script run from it

    load = os.getloadavg()[0]
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    print(f"machine: {machine()}; {now}")
    print(f"{args.runs} runs x {args.rounds} processes per row; load average {load:.2f} after\n")
    print(
        "| setting | sessions | run p50 ms | run p95 ms | host work p50 ms "
        "| process CPU ms an iteration |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for (name, n), got in rows.items():
        med = {k: float(np.median([g[k] for g in got])) for k in got[0]}
        print(
            f"| {name} | {n} | {med['run_p50_ms']:.2f} | {med['run_p95_ms']:.2f} | "
            f"{med['host_p50_ms']:.2f} | {med['process_cpu_ms']:.2f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
