"""The one ``siam-tracker`` command. Each area registers its sub-commands through an
``add_parser(subparsers)`` function in its own module, imported lazily so that, for example,
``siam-tracker track`` works without the training dependencies."""

from __future__ import annotations

import argparse
import importlib
import sys

#: sub-command module -> provides ``add_parser(subparsers)``; each sets ``func`` on its parser.
COMMAND_MODULES = (
    "siam_tracker_ros.core.cli",  # track (a video or image folder, no ROS)
    "siam_tracker_ros.evaluation.cli",  # evaluate, ablate
    "siam_tracker_ros.training.cli",  # train
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="siam-tracker", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:  # an area not installed/built yet
            if exc.name and exc.name.startswith("siam_tracker_ros"):
                continue
            raise
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
