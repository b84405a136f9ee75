"""How every lifecycle node of the package runs as a process (its console-script ``main``).

The same conventions for each node: a bad ``--ros-args`` (a missing or non-YAML params file,
anything rcl refuses) gives one error line and exit status 1 instead of an rcl traceback; with
``autostart`` the node configures and activates itself and a failed start exits 1 after its one
error line; otherwise it waits, unconfigured, for ``ros2 lifecycle set``. It spins until Ctrl-C
or ``ros2 lifecycle set <node> shutdown``, and a second Ctrl-C (``ros2 launch`` forwards one
besides the terminal's) cannot interrupt the teardown.
"""

from __future__ import annotations

import contextlib
import re
import signal
import sys
import threading
from collections.abc import Callable
from typing import Protocol

import rclpy
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.lifecycle import TransitionCallbackReturn
from rclpy.node import Node

from siam_tracker_ros.ros.ros_args import params_file_problem

__all__ = ["LifecycleProcessNode", "run_lifecycle_node"]

SUCCESS = TransitionCallbackReturn.SUCCESS


class LifecycleProcessNode(Protocol):
    """What :func:`run_lifecycle_node` needs of a node (``rclpy.lifecycle.LifecycleNode`` plus
    two attributes)."""

    #: set by the node's ``on_shutdown``: the process ends
    finalized: threading.Event

    @property
    def autostart(self) -> bool: ...

    def trigger_configure(self) -> TransitionCallbackReturn: ...

    def trigger_activate(self) -> TransitionCallbackReturn: ...

    def destroy_node(self) -> None: ...


def ignore_sigint_for_cleanup() -> None:
    """Ignore further SIGINTs for the clean-up. A Ctrl-C reaches a launched node twice (from the
    terminal's process group and again from ``ros2 launch``); the second one can land while the
    handler is being swapped and would end the process with a traceback, so retry until the
    swap itself went through."""
    while True:
        try:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            return
        except KeyboardInterrupt:
            continue


def run_lifecycle_node(
    name: str,
    make_node: Callable[[], LifecycleProcessNode],
    args: list[str] | None = None,
    params_example: str = "'/**: {ros__parameters: {name: value}}'",
) -> int:
    """Run the node ``make_node()`` builds (after ``rclpy.init(args)``) as described in the
    module doc; returns the exit status. ``name`` and ``params_example`` (a one-line params
    file) go into the error line of a bad command line."""
    problem = params_file_problem(sys.argv if args is None else args)
    if problem is None:
        try:
            rclpy.init(args=args)
        except Exception as exc:  # anything else rcl refuses in the --ros-args
            problem = re.sub(r",? at /\S+", "", str(exc)).replace("failed to initialize rcl: ", "")
    if problem is not None:
        print(
            f"[ERROR] {name}: cannot start: {problem}; fix the --ros-args (a params "
            f"file is YAML: {params_example})",
            file=sys.stderr,
        )
        return 1
    node: LifecycleProcessNode | None = None
    status = 0
    try:
        node = make_node()
        if node.autostart and (
            node.trigger_configure() != SUCCESS or node.trigger_activate() != SUCCESS
        ):
            status = 1
        if status == 0:
            assert isinstance(node, Node)
            executor = SingleThreadedExecutor()
            executor.add_node(node)
            while rclpy.ok() and not node.finalized.is_set():
                executor.spin_once(timeout_sec=0.2)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        ignore_sigint_for_cleanup()
        with contextlib.suppress(KeyboardInterrupt):
            if node is not None:
                node.destroy_node()
            rclpy.try_shutdown()
    return status
