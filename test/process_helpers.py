"""Processes seen through /proc (Linux), for the tests that kill a parent and watch its spawned
workers end (``test/evaluation/test_eval_pool.py``,
``test/training/test_train_launcher_killed.py``)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any


def spawned_children(pid: int) -> list[int]:
    """Live (not zombie) processes whose parent is ``pid`` and that multiprocessing spawned."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[1]) == pid and b"spawn_main" in cmdline and fields[0] != "Z":
            found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    """Running (a zombie left for a parent that never reaps it counts as ended)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def kill_and_watch(parent: subprocess.Popen[Any], children: list[int], timeout: float) -> list[int]:
    """SIGKILL ``parent`` (no clean-up of its own at all), reap it, and wait up to ``timeout`` s
    for ``children`` to end; returns those still running."""
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait(timeout=10)
    deadline = time.monotonic() + timeout
    while any(alive(c) for c in children) and time.monotonic() < deadline:
        time.sleep(0.2)
    return [c for c in children if alive(c)]


def end_all(parent: subprocess.Popen[Any], children: list[int]) -> None:
    """A test's clean-up: whatever of ``parent`` and ``children`` still runs is killed."""
    if parent.poll() is None:
        parent.kill()
    for c in children:
        if alive(c):
            os.kill(c, signal.SIGKILL)
