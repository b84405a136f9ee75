"""``process_memory``: another process's memory, threads and files as the soaks sample them,
and the one flat/GROWING rule they judge a series by."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import threading
import time

import pytest

from siam_tracker_ros.process_memory import growth_verdict, process_status

needs_proc = pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="no /proc here")


def test_a_series_that_keeps_rising_is_growing_and_noise_around_a_level_is_flat() -> None:
    minutes = [float(m) for m in range(40)]
    leak = [200.0 + 0.6 * m for m in minutes]  # +24 MiB over the span
    assert growth_verdict(minutes, leak)["verdict"] == "GROWING"
    level = [224.0 + (3.0 if m % 7 == 0 else 0.0) for m in minutes]  # collections, no trend
    verdict = growth_verdict(minutes, level)
    assert verdict["verdict"] == "flat" and verdict["max_mib"] == 227.0
    small = [100.0 + 0.1 * m for m in minutes]  # +3.9 MiB: under 20 MiB but over 2 % of 100
    assert growth_verdict(minutes, small)["verdict"] == "GROWING"
    assert growth_verdict([0.0, 1.0], [1.0, 2.0])["verdict"] == "too short"


@needs_proc
def test_another_process_is_read_and_a_gone_one_reads_nan() -> None:
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import threading, time\n"
            "blob = bytearray(64 << 20)\n"  # 64 MiB, written so it is resident
            "for i in range(0, len(blob), 4096): blob[i] = 1\n"
            "[threading.Thread(target=time.sleep, args=(30,), daemon=True).start() "
            "for _ in range(3)]\n"
            "files = [open('/dev/null') for _ in range(5)]\n"
            "print('ready', flush=True)\n"
            "time.sleep(30)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        status = process_status(child.pid)
        assert status["rss_mib"] >= 64.0
        assert status["threads"] >= 4  # its main thread and three sleepers
        assert status["fds"] >= 3 + 5  # stdin/out/err and five files
    finally:
        child.kill()
        child.wait()
    assert all(math.isnan(v) for v in process_status(child.pid).values())


@needs_proc
def test_this_process_threads_are_counted_as_they_start() -> None:
    before = process_status(os.getpid())["threads"]
    stop = threading.Event()
    workers = [threading.Thread(target=stop.wait) for _ in range(2)]
    for w in workers:
        w.start()
    try:
        time.sleep(0.05)
        assert process_status(os.getpid())["threads"] >= before + 2
    finally:
        stop.set()
        for w in workers:
            w.join()
