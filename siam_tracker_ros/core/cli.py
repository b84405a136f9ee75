"""``siam-tracker track``: run the tracker on a video file or an image folder (no ROS).

Writes the per-frame results a user needs to use the trajectory without Python (``--csv``: frame,
time, x, y, w, h, score, presence, state; ``--mot``: a MOT-challenge file), an optional annotated
video at the source's frame rate (green box while tracking, red while lost), and prints the
tracking speed, so a config and its weights can be tried without a robot.

The outputs are written under temporary names beside their final ones and renamed when the run
ends (:class:`ResultWriters`): a run that fails (a box outside the image, an unreadable video)
leaves no header-only file behind and no earlier result truncated; an interrupted run (Ctrl-C)
keeps the frames it tracked.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from contextlib import suppress
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import cv2
import numpy as np

from siam_tracker_ros.core.geometry import validate_box
from siam_tracker_ros.core.result import TrackState
from siam_tracker_ros.runtime.registry import backend_names, describe_backends

if TYPE_CHECKING:
    from siam_tracker_ros.datasets import FrameSource

#: Frame rate assumed when a source does not report one (image folders, some containers).
DEFAULT_FPS = 30.0
CSV_COLUMNS = ("frame", "time", "x", "y", "w", "h", "score", "presence", "state")
#: ``state`` of the CSV's first row (the init box, not a tracking result)
INIT_STATE = "init"


def csv_states() -> tuple[str, ...]:
    """Every value the CSV's ``state`` column can hold: ``init``, then each tracking state of
    :class:`core.result.TrackState` in lower case (taken from the enum, so the help and the
    README cannot fall behind it; IDLE is never a tracking result)."""
    return (INIT_STATE, *(s.name.lower() for s in TrackState if s != TrackState.IDLE))


#: ``track --help``'s description: plain text (argparse prints it as it is)
DESCRIPTION = """\
Run the tracker on a video file, a ROS 2 bag or an image folder (no ROS needed) and write what a
user needs to use the trajectory without Python: a per-frame CSV (--csv), a MOT-challenge file
(--mot) and an annotated video at the source's frame rate (--output; green box while tracking,
red while lost). Prints the tracking speed. A run that fails leaves none of its output files
behind.
"""
#: Track id in the MOT file (one target per run).
MOT_TRACK_ID = 1


def parse_box(text: str) -> tuple[float, float, float, float]:
    """``"x,y,w,h"`` -> four floats with a positive size (argparse type)."""
    parts = text.replace(" ", "").split(",")
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected x,y,w,h numbers, got {text!r}") from None
    if len(values) != 4:
        raise argparse.ArgumentTypeError(f"expected 4 values x,y,w,h, got {text!r}")
    try:
        validate_box(values)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: {exc}") from None
    return values  # type: ignore[return-value]


def frame_rate(reported: float | None) -> float:
    """The video's own rate, or :data:`DEFAULT_FPS` when it reports none: some containers give
    0, NaN or absurd rates (e.g. 90000, a stream's time base)."""
    fps = float(reported or 0.0)
    return fps if 0.0 < fps <= 1000.0 else DEFAULT_FPS


def open_frames(video: str | None, images: str | None, fps: float | None) -> FrameSource:
    """The frames of ``--video`` (a video file or a ROS 2 bag) or ``--images`` (a folder, natural
    order), through the one reader the evaluation and ``replay_node`` use, with a usable rate:
    the source's own (:func:`frame_rate`), ``fps`` for an image folder, which has none. Checks
    the path at once, so a missing input is an error before any model loads."""
    from siam_tracker_ros.datasets import open_source

    path = Path(video if video is not None else str(images))
    what = "video" if video is not None else "image folder"
    if not path.exists():
        raise FileNotFoundError(f"{what} not found: {path}")
    if images is not None and not path.is_dir():
        raise ValueError(f"--images {path}: not a folder (use --video for a video file)")
    source = open_source(path, fps=fps or DEFAULT_FPS)
    source.fps = frame_rate(source.fps)
    return source


def draw(frame: np.ndarray, box: np.ndarray, present: bool, score: float) -> np.ndarray:
    """``frame`` with the box and its score; the score sits above the box's corner, moved
    inside the image when the box is at an edge, so it is never cut off."""
    out = frame.copy()
    x, y, w, h = (int(round(v)) for v in box)
    color = (0, 200, 0) if present else (0, 0, 255)
    cv2.rectangle(out, (x, y), (x + w, y + h), color, 2)
    text = f"{score:.2f}"
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.5, 1)
    tx = max(0, min(x, out.shape[1] - 1 - tw))
    ty = max(th, min(y - 4, out.shape[0] - 1 - base))
    cv2.putText(out, text, (tx, ty), cv2.FONT_HERSHEY_SIMPLEX, 0.5, color, 1)
    return out


def display_problem() -> str | None:
    """Why no ROI selection window can open here, or None when one can."""
    if sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    ):
        return "--select-roi needs a display (no DISPLAY is set); pass --init x,y,w,h instead"
    gui = [
        line for line in cv2.getBuildInformation().splitlines() if line.strip().startswith("GUI:")
    ]
    if gui and gui[0].split(":", 1)[1].strip().upper() in ("", "NONE"):
        return (
            "--select-roi needs OpenCV with a GUI (this is a headless build: pip install "
            "opencv-contrib-python instead of the -headless wheel); pass --init x,y,w,h instead"
        )
    return None


def select_roi(frame: np.ndarray) -> tuple[float, float, float, float]:
    """The box the user drags on ``frame`` in OpenCV's ROI window (Enter/Space confirms)."""
    problem = display_problem()
    if problem:
        raise ValueError(problem)
    try:
        x, y, w, h = cv2.selectROI("siam-tracker: select the target", frame, showCrosshair=True)
    except cv2.error as exc:
        raise ValueError(f"--select-roi: cannot open a window ({exc.msg.strip()})") from None
    finally:
        cv2.destroyAllWindows()
    if w <= 0 or h <= 0:
        raise ValueError("--select-roi: no box was selected (drag a box, then press Enter)")
    return float(x), float(y), float(w), float(h)


class ResultWriters:
    """The per-frame outputs (CSV, MOT file, annotated video), each optional.

    Each is written to a hidden temporary file beside its final path (same folder, same
    extension: OpenCV picks the video container by it) and renamed onto the final path by
    :meth:`close` when the run ends well, or was interrupted (the rows written are valid). A
    failed run removes them, and any folder made for them, so it leaves no header-only CSV and
    does not truncate an earlier result of the same name."""

    def __init__(self, args: argparse.Namespace, fps: float) -> None:
        self._video_path: str | None = args.output
        self._video_fps = args.fps if args.fps is not None else fps
        self._video: cv2.VideoWriter | None = None
        self._csv: Any = None
        self._mot: IO[str] | None = None
        self._files: list[IO[str]] = []
        #: (temporary, final) paths, renamed by :meth:`close`
        self._pending: list[tuple[Path, Path]] = []
        self._made_dirs: list[Path] = []  # folders this run created, deepest last
        try:
            if args.csv:
                fh = self._open(args.csv)
                self._csv = csv.writer(fh)
                self._csv.writerow(CSV_COLUMNS)
            if args.mot:
                self._mot = self._open(args.mot)
        except BaseException:  # e.g. the MOT file's folder is not writable: undo the CSV too
            self.close(keep=False)
            raise

    def _temporary(self, final: str) -> Path:
        path = Path(final)
        missing = [p for p in (path.parent, *path.parent.parents) if not p.exists()]
        path.parent.mkdir(parents=True, exist_ok=True)
        self._made_dirs += reversed(missing)
        tmp = path.with_name(f".{path.stem}.partial{path.suffix}")
        self._pending.append((tmp, path))
        return tmp

    def _open(self, final: str) -> IO[str]:
        fh = open(self._temporary(final), "w", newline="")  # noqa: SIM115 - closed in close()
        self._files.append(fh)
        return fh

    def write(
        self,
        index: int,
        t: float,
        frame: np.ndarray,
        box: np.ndarray,
        score: float,
        present: bool,
        state: str,
    ) -> None:
        x, y, w, h = (float(v) for v in box)
        if self._csv is not None:
            self._csv.writerow(
                [
                    index,
                    f"{t:.4f}",
                    f"{x:.2f}",
                    f"{y:.2f}",
                    f"{w:.2f}",
                    f"{h:.2f}",
                    f"{score:.4f}",
                    int(present),
                    state,
                ]
            )
        if self._mot is not None and present:
            # MOT challenge: frame (1-based), id, left, top, width, height, conf, x, y, z
            self._mot.write(
                f"{index + 1},{MOT_TRACK_ID},{x:.2f},{y:.2f},{w:.2f},{h:.2f},{score:.4f},-1,-1,-1\n"
            )
        if self._video_path:
            if self._video is None:
                tmp = self._temporary(self._video_path)
                fourcc = cv2.VideoWriter.fourcc(*"mp4v")
                size = (frame.shape[1], frame.shape[0])
                self._video = cv2.VideoWriter(str(tmp), fourcc, self._video_fps, size)
                if not self._video.isOpened():
                    raise ValueError(f"cannot write video {self._video_path}")
            self._video.write(draw(frame, box, present, score))

    def close(self, keep: bool) -> None:
        """Close every output; rename them onto their final paths (``keep``) or remove them and
        the folders made for them."""
        for fh in self._files:
            fh.close()
        if self._video is not None:
            self._video.release()
        for tmp, final in self._pending:
            if keep and tmp.exists():
                os.replace(tmp, final)
            else:
                tmp.unlink(missing_ok=True)
        if not keep:
            for folder in reversed(self._made_dirs):
                with suppress(OSError):  # not empty: something else was put there meanwhile
                    folder.rmdir()

    def __enter__(self) -> ResultWriters:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        # an interrupted run keeps the frames it tracked; any other failure leaves nothing
        self.close(keep=exc_type is None or issubclass(exc_type, KeyboardInterrupt))


def run_track(args: argparse.Namespace) -> int:
    source = open_frames(args.video, args.images, args.fps)  # before the model loads
    if args.select_roi and display_problem():
        raise ValueError(display_problem())

    from siam_tracker_ros.core.loading import load_tracker

    tracker = load_tracker(
        args.config,
        args.weights,
        device=args.device,
        backend=args.runtime,
        threads=args.threads,
    )
    torch = sys.modules.get("torch")  # only a backend that runs PyTorch imported it
    if torch is not None:
        torch.set_num_threads(args.threads)
    n, elapsed, first_clock = 0, 0.0, 0.0
    with ResultWriters(args, source.fps) as out:
        for i, (frame, clock) in enumerate(source.timed()):
            if args.max_frames is not None and i >= args.max_frames:
                break
            if clock is None:
                clock = i / source.fps
            if i == 0:  # a bag's clock starts anywhere: time counts from frame 0
                first_clock = clock
            t = clock - first_clock
            if i == 0:
                init = select_roi(frame) if args.select_roi else args.init
                tracker.init(frame, init)
                out.write(i, t, frame, np.asarray(init, dtype=np.float64), 1.0, True, INIT_STATE)
                continue
            t0 = time.perf_counter()
            res = tracker.track(frame)
            elapsed += time.perf_counter() - t0
            n += 1
            out.write(i, t, frame, res.box, res.score, res.present, res.state.name.lower())
        if n == 0:  # inside: a run that tracked nothing leaves no output files
            raise ValueError("no frames tracked: the input needs at least 2 frames")
    print(
        f"tracked {n} frames on {tracker.device}: {n / elapsed:.1f} fps "
        f"({1000 * elapsed / n:.2f} ms/frame)"
    )
    return 0


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number >= 1, got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0.0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text}")
    return value


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "track",
        help="track a target through a video or image folder",
        description=DESCRIPTION,
        epilog="example: siam-tracker track --video in.mp4 --init 120,80,40,60 "
        "--output out.mp4 --csv boxes.csv --mot mot.txt",
    )
    p.add_argument(
        "--config",
        default=None,
        help="model: a YAML config (model + tracker) or a self-describing checkpoint (.pt); "
        "default: the bundled model",
    )
    p.add_argument("--weights", default=None, help="weights file for a YAML config")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--video", help="video file (or a ROS 2 bag folder / .mcap / .db3)")
    src.add_argument("--images", help="folder of frames (natural order: 2.jpg before 10.jpg)")
    first = p.add_mutually_exclusive_group(required=True)
    first.add_argument("--init", type=parse_box, help="first-frame box x,y,w,h (pixels)")
    first.add_argument(
        "--select-roi",
        action="store_true",
        help="draw the first-frame box with the mouse (needs a display)",
    )
    p.add_argument("--output", default=None, help="annotated video to write (.mp4)")
    p.add_argument(
        "--csv",
        default=None,
        help="per-frame results: frame,time,x,y,w,h,score,presence,state (frame 0 = init, "
        "time = seconds into the source, presence 1/0, state: "
        f"{', '.join(csv_states())})",
    )
    p.add_argument(
        "--mot",
        default=None,
        help="MOT-challenge file: frame,id,x,y,w,h,conf,-1,-1,-1 (1-based frames, id 1, "
        "frames with presence 0 are left out)",
    )
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:N or auto (default: config)")
    p.add_argument(
        "--fps",
        type=_positive_float,
        default=None,
        help=f"frame rate of --output (default: the source's, {DEFAULT_FPS:g} for images)",
    )
    p.add_argument(
        "--threads",
        type=_positive_int,
        default=1,
        help="CPU threads (ONNX Runtime per run, and torch)",
    )
    p.add_argument(
        "--runtime",
        choices=("auto", *backend_names()),
        default=None,
        help="inference backend (default: the model's runtime.backend); " + describe_backends(),
    )
    p.add_argument(
        "--max-frames", type=_positive_int, default=None, help="stop after this many frames"
    )
    p.set_defaults(func=run_track)
