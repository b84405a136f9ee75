"""``replay_node``: publish a video, an image folder or a ROS 2 bag as a camera topic.

Frames go out at the source's real rate (or ``--fps``; ``--fps 0`` = as fast as possible) with
strictly increasing stamps from the node clock and a fixed ``frame_id``, like a live camera, so
the tracker's latency and frame dropping behave as they would on a robot. Optionally an
``InitTarget`` for frame ``k`` is published with frame ``k``'s stamp, ``--init-delay`` frames
later, to exercise the node's stamped (delayed) initialisation.

Example::

    replay_node /usr/share/doc/opencv-doc/examples/data/vtest.avi --init-box 255,218,30,90
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import rclpy
from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.utilities import remove_ros_args
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header

from siam_tracker_ros.datasets import open_source, read_boxes
from siam_tracker_ros.datasets.image_conversion import ENCODINGS, fill_image_msg
from siam_tracker_ros.msg import InitTarget
from siam_tracker_ros.ros.messages import init_target_msg, stamped_header

__all__ = ["build_parser", "main"]


def _box(text: str) -> tuple[float, float, float, float]:
    vals = [float(v) for v in text.replace(" ", ",").split(",") if v]
    if len(vals) != 4:
        raise argparse.ArgumentTypeError("expected x,y,w,h")
    return vals[0], vals[1], vals[2], vals[3]


def _at_least(low: float, kind: type = float, above: bool = False) -> Any:
    """An argparse type: a ``kind`` number >= ``low`` (> ``low`` with ``above``)."""

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not (value > low if above else value >= low) or value != value:
            raise argparse.ArgumentTypeError(f"expected a number {'>' if above else '>='} {low}")
        return value

    return parse


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="replay_node",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("source", help="video file, image folder (OTB sequence folder) or ROS 2 bag")
    p.add_argument(
        "--topic",
        default="image",
        help="image topic (default: image); --compressed publishes on <topic>/compressed",
    )
    p.add_argument("--frame-id", default="camera", help="header.frame_id of every image")
    p.add_argument(
        "--fps",
        type=_at_least(0.0),
        default=None,
        help="publication rate (default: the source's; 0 = as fast as possible)",
    )
    p.add_argument("--encoding", default="bgr8", choices=sorted(ENCODINGS))
    p.add_argument("--compressed", action="store_true", help="publish JPEG CompressedImage")
    p.add_argument(
        "--scale", type=_at_least(0.0, above=True), default=1.0, help="resize frames by this factor"
    )
    p.add_argument("--start", type=_at_least(0, int), default=0, help="skip this many frames")
    p.add_argument(
        "--max-frames", type=_at_least(0, int), default=0, help="stop after N frames (0 = all)"
    )
    p.add_argument("--bag-topic", default=None, help="image topic to read from a bag")
    p.add_argument("--init-box", type=_box, default=None, help="x,y,w,h on frame --init-frame")
    p.add_argument(
        "--groundtruth",
        default=None,
        help="box file (OTB groundtruth_rect.txt); its --init-frame row is the init box",
    )
    p.add_argument(
        "--init-frame",
        type=_at_least(0, int),
        default=0,
        help="published frame index the init box belongs to",
    )
    p.add_argument(
        "--init-delay",
        type=_at_least(0, int),
        default=0,
        help="publish the init this many frames after its frame (a delayed click)",
    )
    p.add_argument("--init-topic", default="init_target")
    p.add_argument(
        "--wait-subscribers",
        type=float,
        default=10.0,
        help="seconds to wait for a subscriber before the first frame",
    )
    p.add_argument(
        "--stamps-out",
        default=None,
        help="write 'index,stamp_ns' for every published frame to this CSV",
    )
    return p


class _Stamper:
    """Strictly increasing stamps from the node clock (a live camera never repeats a stamp)."""

    def __init__(self, node: Node) -> None:
        self._node = node
        self._last = 0

    def next(self) -> int:
        ns = self._node.get_clock().now().nanoseconds
        self._last = max(ns, self._last + 1)
        return self._last


class _StampLog:
    """``--stamps-out``: 'index,stamp_ns' rows written and flushed as frames go out, so a replay
    stopped early (Ctrl-C, a test ending it) still leaves the stamp of every frame it published."""

    def __init__(self, path: str | None) -> None:
        self._fh = open(path, "w", newline="") if path else None  # closed in close()
        self._table = csv.writer(self._fh) if self._fh else None
        if self._table is not None:
            self._table.writerow(["index", "stamp_ns"])

    def write(self, index: int, stamp_ns: int) -> None:
        if self._fh is not None and self._table is not None:
            self._table.writerow([index, stamp_ns])
            self._fh.flush()

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()


def _wait_for(node: Node, pubs: Sequence[Any], timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if all(p.get_subscription_count() > 0 for p in pubs):
            time.sleep(0.3)  # let the subscriber's side of discovery finish too
            return True
        time.sleep(0.05)
    return False


def run(args: argparse.Namespace, node: Node) -> int:
    log = node.get_logger()
    source = open_source(args.source, fps=30.0, bag_topic=args.bag_topic)
    fps = source.fps if args.fps is None else args.fps
    init_box = args.init_box
    if init_box is None and args.groundtruth:
        boxes = read_boxes(args.groundtruth)
        row = args.start + args.init_frame
        if row >= len(boxes) or not np.isfinite(boxes[row]).all():
            raise ValueError(f"{args.groundtruth} has no box for source frame {row}")
        init_box = tuple(boxes[row].tolist())
    # Reliable with a deep history so slow reliable readers (recorders) get every frame; a
    # best-effort depth-1 reader (tracker_node) still only ever sees the newest.
    reliable = QoSProfile(
        history=HistoryPolicy.KEEP_LAST, depth=30, reliability=ReliabilityPolicy.RELIABLE
    )
    if args.compressed:
        pub = node.create_publisher(CompressedImage, f"{args.topic}/compressed", reliable)
    else:
        pub = node.create_publisher(Image, args.topic, reliable)
    init_pub = (
        node.create_publisher(InitTarget, args.init_topic, reliable)
        if init_box is not None
        else None
    )
    if args.scale != 1.0 and init_box is not None and args.groundtruth:
        init_box = tuple(v * args.scale for v in init_box)
    waiting = [p for p in (pub, init_pub) if p is not None]
    if args.wait_subscribers > 0 and not _wait_for(node, waiting, args.wait_subscribers):
        log.warning(f"no subscriber after {args.wait_subscribers:.1f} s; publishing anyway")

    stamper = _Stamper(node)
    stamps: list[int] = []
    stamps_log = _StampLog(args.stamps_out)
    init_sent = False
    t0 = time.monotonic()
    src_t0: float | None = None
    published = 0
    for i, (img, src_t) in enumerate(source.timed()):
        if i < args.start:
            continue
        if args.max_frames and published >= args.max_frames:
            break
        if args.scale != 1.0:
            img = cv2.resize(img, None, fx=args.scale, fy=args.scale, interpolation=cv2.INTER_AREA)
        # Pace: the source clock when it has one and no --fps was given, else a fixed period.
        if fps > 0:
            if args.fps is None and src_t is not None:
                src_t0 = src_t if src_t0 is None else src_t0
                due = t0 + (src_t - src_t0)
            else:
                due = t0 + published / fps
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        stamp = stamper.next()
        header = stamped_header(stamp, args.frame_id)
        pub.publish(_image_message(img, header, args.encoding, args.compressed))
        stamps.append(stamp)
        stamps_log.write(published, stamp)
        if (
            init_pub is not None
            and not init_sent
            and (published >= args.init_frame + args.init_delay)
        ):
            init_pub.publish(
                init_target_msg(stamped_header(stamps[args.init_frame], args.frame_id), init_box)
            )
            init_sent = True
            log.info(f"init target for frame {args.init_frame} sent after frame {published}")
        published += 1
    elapsed = time.monotonic() - t0
    stamps_log.close()
    log.info(
        f"published {published} frames from {source.name} in {elapsed:.1f} s "
        f"({published / max(elapsed, 1e-9):.1f} fps)"
    )
    if init_pub is not None and not init_sent:
        log.warning(
            f"the init was never sent: frame {args.init_frame} + --init-delay "
            f"{args.init_delay} lies beyond the {published} frames published"
        )
    if not published:
        log.error(f"no frame published: {source.name} has none after --start {args.start}")
    time.sleep(0.3)  # let reliable publishers deliver the last messages
    return 0 if published else 1


def _image_message(
    img: np.ndarray, header: Header, encoding: str, compressed: bool
) -> Image | CompressedImage:
    if compressed:
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 90])
        if not ok:
            raise ValueError("JPEG encoding failed")
        return CompressedImage(header=header, format="jpeg", data=buf.tobytes())
    return fill_image_msg(Image(header=header), img, encoding)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv if argv is None else argv)
    args = build_parser().parse_args(remove_ros_args(argv)[1:])
    if not Path(args.source).exists():
        print(f"replay_node: {args.source} does not exist", file=sys.stderr)
        return 2
    rclpy.init(args=argv)
    node = rclpy.create_node("replay")
    try:
        return run(args, node)
    except (OSError, ValueError) as exc:  # an unreadable source or ground truth: one line
        print(f"replay_node: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    finally:
        node.destroy_node()
        rclpy.try_shutdown()


if __name__ == "__main__":
    raise SystemExit(main())
