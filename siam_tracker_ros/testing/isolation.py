"""Run ROS 2 processes only inside a private, loopback-only network namespace.

Project rule (and good hygiene for tests): DDS discovery must never reach a real network. Every
test or script that starts ROS processes wraps its command with :func:`isolated_command`, which
re-executes it under ``unshare -n`` (a new network namespace holding only ``lo``), brings ``lo``
up, verifies that no other interface exists, and sets ``ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST``
and a random ``ROS_DOMAIN_ID`` so parallel runs never see each other. All processes that must talk
to each other are started by that one wrapped command (they share its namespace).

Where a mount namespace can be made too (``unshare -m``, root), the run also gets a ``/dev/shm``
of its own (a fresh tmpfs): Fast DDS keeps its shared-memory transport's segments and port files
there, a process killed by a test leaves its segments behind, and Fast DDS's own advice for
corrupted segments is to remove them. A run then starts with none and leaves none.

No rclpy import here: this module is used by tests and scripts before any ROS process exists.
"""

from __future__ import annotations

import functools
import os
import random
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

#: Shell prologue run inside the new namespace before the real command (the tmpfs mount only
#: takes where ``unshare -m`` made a mount namespace: see :func:`_unshare`).
_PROLOGUE = (
    "set -e; ip link set lo up; "
    'if [ "$SIAM_PRIVATE_SHM" = 1 ]; then mount -t tmpfs -o mode=1777 shm /dev/shm; fi; '
    "unset SIAM_PRIVATE_SHM; "
    'links=$(ip -o link show | awk -F": " \'{print $2}\' | sed "s/@.*//"); '
    'if [ "$links" != "lo" ]; then '
    'echo "isolation: unexpected interfaces: $links" >&2; exit 97; fi; '
    'exec "$@"'
)

FASTDDS_PROFILE = Path(__file__).resolve().parents[2] / "config" / "fastdds_large_shm.xml"


class IsolationUnavailable(RuntimeError):
    """``unshare -n`` cannot be used here (not root and no user namespaces, or tools missing)."""


@functools.cache
def _unshare() -> tuple[str, ...] | None:
    """The ``unshare`` command line that works here, tried once a process: network and mount
    namespaces with a private ``/dev/shm`` where this machine allows it, else the network
    namespace alone; None when neither can be made (or the tools are missing)."""
    if not (shutil.which("unshare") and shutil.which("ip")):
        return None
    private = ("env", "SIAM_PRIVATE_SHM=1", "unshare", "-n", "-m", "--propagation", "private")
    for unshare in (private, ("unshare", "-n")):
        res = subprocess.run(
            [*unshare, "sh", "-c", _PROLOGUE, "sh", "true"], capture_output=True, timeout=20
        )
        if res.returncode == 0:
            return unshare
    return None


def isolation_available() -> bool:
    """True when a loopback-only namespace can be created on this machine."""
    return _unshare() is not None


def ros_environment(
    base: Mapping[str, str] | None = None, log_dir: Path | None = None, domain_id: int | None = None
) -> dict[str, str]:
    """Environment for ROS processes in the namespace: localhost-only discovery, a random domain
    id, logs under a temporary directory, the large shared-memory Fast DDS profile (measured
    15 ms -> 4.5 ms for 640x480 images) unless the caller set one, and Python's fault handler:
    a ROS process that dies of a signal inside native code (DDS, rclpy's C layer, a runtime)
    then leaves every thread's Python stack on its stderr instead of nothing (CI once saw a
    node end with SIGSEGV and an empty log)."""
    env = dict(os.environ if base is None else base)
    log_dir = log_dir or Path(tempfile.mkdtemp(prefix="siam_ros_"))
    env.update(
        ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST",
        ROS_LOCALHOST_ONLY="1",
        ROS_DOMAIN_ID=str(domain_id if domain_id is not None else random.randint(1, 101)),
        ROS_HOME=str(log_dir),
        ROS_LOG_DIR=str(log_dir / "log"),
        PYTHONUNBUFFERED="1",
        PYTHONFAULTHANDLER="1",
    )
    if FASTDDS_PROFILE.exists():
        env.setdefault("FASTDDS_DEFAULT_PROFILES_FILE", str(FASTDDS_PROFILE))
    return env


def isolated_command(cmd: Sequence[str]) -> list[str]:
    """Wrap ``cmd`` so that it runs in a new loopback-only network namespace."""
    if not cmd:
        raise ValueError("empty command")
    # where none can be made, the plain form fails with unshare's own message
    return [*(_unshare() or ("unshare", "-n")), "sh", "-c", _PROLOGUE, "sh", *cmd]


def run_isolated(
    cmd: Sequence[str],
    timeout: float,
    env: Mapping[str, str] | None = None,
    cwd: str | Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``cmd`` isolated (see module doc) with a hard timeout; returns its captured output.

    Raises :class:`IsolationUnavailable` when the namespace cannot be created, and
    ``subprocess.TimeoutExpired`` when the run outlives ``timeout`` seconds (the whole process
    group is killed first, so no ROS process survives a failed test).
    """
    if not (shutil.which("unshare") and shutil.which("ip")):
        raise IsolationUnavailable("unshare and ip (util-linux, iproute2) are required")
    proc = subprocess.Popen(
        isolated_command(cmd),
        env=dict(env or ros_environment()),
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        proc.communicate()
        raise
    if proc.returncode == 97:
        raise IsolationUnavailable(err.strip())
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def rerun_isolated(
    script: str | Path,
    argv: Sequence[str],
    name: str,
    timeout: float,
    cwd: str | Path | None = None,
) -> int:
    """Re-execute ``script`` with ``argv`` and ``--inside`` in a loopback-only namespace, relay
    its output and return its exit status (3 where no namespace can be made). How the benches
    and the demo start: the inner run starts all its ROS processes, which share that namespace.
    ``name`` prefixes the message; ``cwd`` defaults to the current folder (relative paths in
    ``argv`` then mean the same inside)."""
    if not isolation_available():
        print(
            f"{name}: cannot create a loopback-only network namespace (needs root or user "
            "namespaces, unshare and ip)",
            file=sys.stderr,
        )
        return 3
    res = run_isolated(
        [sys.executable, str(Path(script).resolve()), *argv, "--inside"],
        timeout=timeout,
        cwd=Path.cwd() if cwd is None else cwd,
    )
    sys.stdout.write(res.stdout)
    sys.stderr.write(res.stderr)
    return res.returncode
