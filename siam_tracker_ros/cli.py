"""The one ``siam-tracker`` command: each area registers its sub-commands through an
``add_parser(subparsers)`` function in its own module, imported lazily so that, for example,
``siam-tracker track`` works without the training dependencies.

This module is also the CLI's one error edge: a mistake the user can fix (a missing file, a bad
box, a config without weights) is one line on stderr and exit status 2, whichever sub-command hit
it; the traceback is shown only with ``--debug``.
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys
from collections.abc import Callable
from typing import NoReturn

#: sub-command module -> provides ``add_parser(subparsers)``; each sets ``func`` on its parser.
COMMAND_MODULES = (
    "siam_tracker_ros.core.cli",  # track (a video or image folder, no ROS)
    "siam_tracker_ros.evaluation.cli",  # evaluate, ablate
    "siam_tracker_ros.training.cli",  # train
    "siam_tracker_ros.ros.init_command",  # init (a running tracker_node; rclpy imported lazily)
)

#: Exit status of a user error (argparse's own usage errors use the same).
USAGE_ERROR = 2

DESCRIPTION = """\
Track one target through a video with a Siamese tracker, and evaluate or train trackers.

  track     follow a box through a video file or image folder; write an annotated video,
            per-frame CSV or a MOT-challenge file
  evaluate  compare trackers on a benchmark as downloaded (OTB-100, LaSOT, GOT-10k, VOT;
            UAV123 after scripts/uav123_to_otb.py)
  ablate    switch each SiamMargin mechanism of the tracker on in turn, on a benchmark
  train     train a model from one YAML file (resumable, multi-process)
  init      start tracking on a running tracker_node: send it a box (stamped with the newest
            camera frame) or the detection nearest a point (needs the ROS 2 wheels)

For a ROS 2 camera topic run the tracker_node executable (see the README), then
siam-tracker init.
"""

EPILOG = """\
examples:
  siam-tracker track --video in.mp4 --init 120,80,40,60 --output out.mp4 --csv boxes.csv
  siam-tracker track --video in.mp4 --select-roi --mot result.txt
  siam-tracker evaluate --data ~/data/OTB100 --split '' --trackers project,csrt --out results/
  siam-tracker train --config config/train/bundled.yaml
  siam-tracker init --box 300,200,60,120 --image-topic /camera/image_raw

'siam-tracker COMMAND --help' lists a command's options; --debug shows the full traceback of
an error.
"""


class UserError(Exception):
    """A mistake the user can fix (bad argument, missing file): printed as one line, exit 2."""


#: What the library raises for bad input; at this edge each becomes a :class:`UserError` line.
#: OSError: a file the user named is missing, unreadable, not a video, or cannot be written.
USER_ERROR_TYPES: tuple[type[BaseException], ...] = (UserError, ValueError, OSError)


class _Parser(argparse.ArgumentParser):
    """argparse with its usage errors on one line (``prog: error: ... (see prog --help)``)."""

    def error(self, message: str) -> NoReturn:
        self.exit(USAGE_ERROR, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="siam-tracker",
        usage="%(prog)s [--debug] COMMAND [options]   "
        "(COMMAND: track, evaluate, ablate, train, init)",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    sub = parser.add_subparsers(  # listed in DESCRIPTION, in users' words
        prog="siam-tracker",  # sub-command usage and errors read "siam-tracker track: ..."
        dest="command",
        required=True,
        metavar="COMMAND",
        parser_class=_Parser,
        help=argparse.SUPPRESS,
    )
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:  # an area not installed/built yet
            if exc.name and exc.name.startswith("siam_tracker_ros"):
                continue
            raise
        module.add_parser(sub)
    for command in sub.choices.values():
        # also accepted after the command; SUPPRESS keeps the top-level value when absent
        command.add_argument(
            "--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks"
        )
        plain_help(command)
    return parser


_RST_MARKUP = re.compile(r"``(.+?)``|:[a-z]+:`(.+?)`", flags=re.DOTALL)


def plain_text(text: str) -> str:
    """``text`` without reStructuredText markup (double backticks, ``:role:`` prefixes; the
    marked-up words stay): several commands take their help from a module docstring, which is
    written for developers."""
    return _RST_MARKUP.sub(lambda m: m.group(1) or m.group(2), text)


def parse_size(text: str) -> tuple[int, int]:
    """``"WxH"`` (``640x480``) -> two whole numbers >= 1 (argparse type; the benches' frame and
    target sizes)."""
    parts = text.lower().replace(" ", "").split("x")
    try:
        w, h = (int(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WxH, e.g. 640x480, got {text!r}") from None
    if w < 1 or h < 1:
        raise argparse.ArgumentTypeError(f"expected a size of at least 1x1, got {text!r}")
    return w, h


def plain_help(parser: argparse.ArgumentParser) -> None:
    """Make every help text of ``parser`` plain (:func:`plain_text`): what ``--help`` prints is
    read in a terminal, where markup is noise."""
    for attr in ("description", "epilog"):
        text = getattr(parser, attr)
        if text:
            setattr(parser, attr, plain_text(text))
    for action in parser._actions:
        if isinstance(action.help, str):
            action.help = plain_text(action.help)


def error_line(command: str, exc: BaseException) -> str:
    """The one line a user error prints: the command, then the library's own message."""
    if isinstance(exc, OSError) and exc.strerror and exc.filename is not None:
        text = f"{exc.strerror}: {exc.filename}"  # e.g. "No such file or directory: x.yaml"
    else:
        text = " ".join(str(exc).split()) or type(exc).__name__
    return f"siam-tracker {command}: error: {text}"


def user_error_types() -> tuple[type[BaseException], ...]:
    """:data:`USER_ERROR_TYPES` plus YAML syntax errors (a config the user wrote)."""
    try:
        import yaml
    except ImportError:  # pragma: no cover - pyyaml is a dependency
        return USER_ERROR_TYPES
    return (*USER_ERROR_TYPES, yaml.YAMLError)


def run_guarded(command: str, func: Callable[[], int | None], debug: bool) -> int:
    """Run one sub-command: its return value is the exit status; a user error is one line on
    stderr and status 2 (re-raised with ``debug``, for the traceback)."""
    try:
        return int(func() or 0)
    except user_error_types() as exc:
        if debug:
            raise
        print(error_line(command, exc), file=sys.stderr)
        return USAGE_ERROR
    except KeyboardInterrupt:
        print(f"siam-tracker {command}: interrupted", file=sys.stderr)
        return 130


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_guarded(args.command, lambda: args.func(args), args.debug)


if __name__ == "__main__":
    sys.exit(main())
