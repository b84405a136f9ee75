"""``siam-tracker init``: start tracking on a running ``tracker_node`` from the shell.

The ``ros2`` command-line tools come with a ROS 2 distribution and are not on PyPI, so the pip
path has no ``ros2 topic pub``; this command is its way to send one ``InitTarget``. It is also
the convenient way on a ROS 2 install: it stamps the box with the newest camera frame's stamp (the
node initialises on exactly that buffered frame; a hand-typed message cannot know the stamp), or
takes the box and stamp of the detection nearest a point from a detector's
``vision_msgs/Detection2DArray``, then waits for the node's status to show the new track.

The node says why it refuses an init in its log, which ROS 2 also publishes on ``/rosout``; the
command reads that line, so a refusal is reported at once with the node's reason. A box picked
from a detection or stamped with the newest camera frame is sent again (up to ``RESENDS`` times)
with a newer detection or frame when the node refused it for not having that frame: a
best-effort camera subscription drops frames under load, and the operator meant "this object
now", not that exact frame. A refusal is final in the node, so a resend never starts a second
track.

Every mistake (no node subscribed, no camera frame, no detection near the point, a bad box, the
node not starting the track) is a ``ValueError`` with one line, which the ``siam-tracker`` edge
prints with exit status 2. rclpy is imported only when the command runs, so ``siam-tracker
track`` and the rest of the CLI work without ROS.
"""

from __future__ import annotations

import argparse
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from siam_tracker_ros.core.cli import parse_box
from siam_tracker_ros.ros.throttle import INIT_WARNING_BURST

if TYPE_CHECKING:
    from rclpy.executors import Executor
    from rclpy.node import Node

__all__ = [
    "STAMP_CAMERA",
    "add_parser",
    "logger_name",
    "nearest_detection",
    "parse_point",
    "parse_stamp",
    "refusal_reason",
]

#: ``--stamp`` value: the stamp of the newest frame on ``--image-topic``
STAMP_CAMERA = "camera"
#: seconds each wait lasts (discovery, a camera frame or detections, the node's new track)
DEFAULT_TIMEOUT_S = 10.0
#: ``--max-distance`` default: how far (px) from the point a detection's box may be
DEFAULT_MAX_DISTANCE = 50.0
#: how many times a picked or camera-stamped init is sent again when the node lacked its frame:
#: as many as the node logs refusals of besides the first per ``log.throttle_s``
RESENDS = INIT_WARNING_BURST - 1
#: how the node's log lines about a refused init start (ros/node.py)
REFUSAL_PREFIXES = ("init rejected: ", "tracker init failed")
#: the refusals a newer frame can mend: the node never got (or no longer has) the stamped frame
FRAME_MISSING = ("no buffered frame", "no such frame came")

DESCRIPTION = """\
Send tracker_node one InitTarget (a box to start tracking), then wait until its status shows
the new track. The node initialises on the buffered camera frame whose stamp the message
carries, so the box must be stamped with the frame it was drawn on:

  --box X,Y,W,H     a box in pixels, stamped (by default) with the newest frame on
                    --image-topic; --stamp 0 lets the node take whatever frame is newest
                    when the message arrives; --stamp SECONDS names a frame
  --point X,Y       the detection nearest this pixel on a vision_msgs/Detection2DArray topic
                    (--detections, e.g. a detector's), with that detection's own stamp

Topic names resolve like the node's: relative names (the defaults) in --namespace.
Prints one line on success; every mistake is one line on stderr and exit status 2.
"""

EPILOG = """\
examples:
  siam-tracker init --box 300,200,60,120 --image-topic /camera/image_raw
  siam-tracker init --point 330,260 --detections /detector/detections
  siam-tracker init --box 300,200,60,120 --stamp 0 --namespace robot1
"""


def parse_point(text: str) -> tuple[float, float]:
    """``"x,y"`` -> two finite floats (argparse type)."""
    parts = text.replace(" ", "").split(",")
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected x,y numbers, got {text!r}") from None
    if len(values) != 2 or not all(math.isfinite(v) for v in values):
        raise argparse.ArgumentTypeError(f"expected 2 finite values x,y, got {text!r}")
    return values[0], values[1]


def parse_stamp(text: str) -> str | int:
    """``camera`` or a stamp in seconds (``0``: the newest frame) -> nanoseconds (argparse
    type); decimal arithmetic, so a 19-digit epoch stamp keeps its nanoseconds."""
    if text == STAMP_CAMERA:
        return STAMP_CAMERA
    try:
        seconds = Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(
            f"expected 'camera' or a stamp in seconds (0 = the newest frame), got {text!r}"
        ) from None
    if not seconds.is_finite() or seconds < 0:
        raise argparse.ArgumentTypeError(f"expected a stamp >= 0 seconds, got {text!r}")
    return int(seconds * 1_000_000_000)


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if not 0.0 < value < 3600.0:
        raise argparse.ArgumentTypeError(f"expected 0 < seconds < 3600, got {text!r}")
    return value


@dataclass(frozen=True)
class Pick:
    """The detection chosen for ``--point``: its box ``x, y, w, h``, its distance (px) from the
    point (0 inside the box) and how many detections there were to choose from."""

    box: tuple[float, float, float, float]
    distance: float
    candidates: int


def nearest_detection(
    boxes: list[tuple[float, float, float, float]], point: tuple[float, float]
) -> Pick | None:
    """The box nearest ``point``: distance 0 for a box containing it, else the distance to the
    box's edge; ties (nested or overlapping boxes) go to the box whose centre is nearer.
    None when there is no box."""
    px, py = point
    best: tuple[float, float, int] | None = None
    for i, (x, y, w, h) in enumerate(boxes):
        dx = max(x - px, 0.0, px - (x + w))
        dy = max(y - py, 0.0, py - (y + h))
        centre = math.hypot(px - (x + w / 2), py - (y + h / 2))
        key = (math.hypot(dx, dy), centre, i)
        if best is None or key < best:
            best = key
    if best is None:
        return None
    return Pick(boxes[best[2]], best[0], len(boxes))


def logger_name(node_name: str, node_namespace: str) -> str:
    """The logger name a node's log lines carry on ``/rosout``: its namespace and name joined
    with dots (``/robot1``, ``tracker_node`` -> ``robot1.tracker_node``)."""
    parts = [p for p in node_namespace.split("/") if p]
    return ".".join([*parts, node_name])


def refusal_reason(text: str) -> str | None:
    """The node's reason when a log line says it refused an init (``init rejected: REASON``,
    ``tracker init failed (...)``), else None."""
    for prefix in REFUSAL_PREFIXES:
        if text.startswith(prefix):
            return text.removeprefix("init rejected: ")
    return None


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "init",
        help="start tracking on a running tracker_node (ROS 2)",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--box", type=parse_box, metavar="X,Y,W,H", help="target box in pixels")
    what.add_argument(
        "--point",
        type=parse_point,
        metavar="X,Y",
        help="pick the detection nearest this pixel (needs --detections)",
    )
    p.add_argument(
        "--stamp",
        type=parse_stamp,
        default=None,
        metavar="camera|SECONDS",
        help="stamp of --box: 'camera' (default) = the newest frame on --image-topic; 0 = "
        "the frame that is newest when the node gets the message; or a frame's stamp in seconds",
    )
    p.add_argument(
        "--image-topic",
        default="image",
        help="camera topic the node tracks, for --stamp camera (default: image; "
        "TOPIC/compressed is read too)",
    )
    p.add_argument(
        "--detections",
        metavar="TOPIC",
        default=None,
        help="vision_msgs/Detection2DArray topic for --point (e.g. your detector's)",
    )
    p.add_argument(
        "--max-distance",
        type=float,
        default=DEFAULT_MAX_DISTANCE,
        help=f"--point: farthest a detection's box may be from the point, px "
        f"(default {DEFAULT_MAX_DISTANCE:g})",
    )
    p.add_argument("--topic", default="init_target", help="the node's InitTarget topic")
    p.add_argument("--status-topic", default="status", help="the node's status topic")
    p.add_argument(
        "--namespace", default="", help="namespace of the node (as in the launch argument)"
    )
    p.add_argument("--track-id", default="", help="track id for the outputs (default: the node's)")
    p.add_argument(
        "--timeout",
        type=_positive_seconds,
        default=DEFAULT_TIMEOUT_S,
        help=f"seconds to wait for the node, for a frame or detections, and for the new track "
        f"(each; default {DEFAULT_TIMEOUT_S:g})",
    )
    p.add_argument(
        "--no-wait",
        action="store_true",
        help="do not wait for the node's status to show the new track",
    )
    p.set_defaults(func=run_init)


def run_init(args: argparse.Namespace) -> int:
    if args.point is not None and not args.detections:
        raise ValueError(
            "--point needs --detections TOPIC (a vision_msgs/Detection2DArray topic, e.g. your "
            "detector's)"
        )
    if args.point is not None and args.stamp is not None:
        raise ValueError("--stamp is for --box; --point uses the chosen detection's own stamp")
    try:
        import rclpy
        from rclpy.exceptions import NameValidationException
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.validate_namespace import validate_namespace
    except ImportError as exc:
        raise ValueError(
            f"siam-tracker init needs ROS 2's rclpy ({exc}): on the pip path run "
            "scripts/setup_env.sh and use .venv/bin/siam-tracker; on a ROS 2 install source it"
        ) from None
    if args.namespace:
        # checked before any node exists: a node refused by rcl prints a warning of its own
        try:
            validate_namespace(
                args.namespace if args.namespace.startswith("/") else "/" + args.namespace
            )
        except NameValidationException as exc:
            raise ValueError(" ".join(str(exc).split())) from None
    # a context of its own: nothing global is left behind when this runs inside another program
    context = rclpy.Context()
    rclpy.init(args=[], context=context)
    executor = SingleThreadedExecutor(context=context)
    node = None
    try:
        try:
            node = rclpy.create_node(
                f"siam_tracker_init_{os.getpid()}",
                namespace=args.namespace,
                context=context,
                start_parameter_services=False,
            )
            client = _InitClient(node, executor, args)
        except NameValidationException as exc:
            raise ValueError(" ".join(str(exc).split())) from None
        print(client.run())
        return 0
    finally:
        executor.shutdown()
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown(context=context)


class _InitClient:
    """One init, step by step on one node: find the node's subscription, get the box and its
    stamp, publish, and watch the status for the new track."""

    def __init__(self, node: Node, executor: Executor, args: argparse.Namespace) -> None:
        from rclpy.event_handler import SubscriptionEventCallbacks
        from rclpy.qos import (
            DurabilityPolicy,
            HistoryPolicy,
            QoSProfile,
            ReliabilityPolicy,
            qos_profile_sensor_data,
        )
        from sensor_msgs.msg import CompressedImage, Image
        from vision_msgs.msg import Detection2DArray

        from siam_tracker_ros.msg import InitTarget, TrackerStatus

        self.node, self.executor, self.args = node, executor, args
        executor.add_node(node)
        # the node subscribes reliably with depth 10 (ros/node.py); volatile: a late joiner must
        # never receive this init
        reliable = QoSProfile(
            history=HistoryPolicy.KEEP_LAST,
            depth=10,
            reliability=ReliabilityPolicy.RELIABLE,
            durability=DurabilityPolicy.VOLATILE,
        )
        self.pub = node.create_publisher(InitTarget, args.topic, reliable)
        self.statuses: list[Any] = []
        self.status_publishers = 0  # matched: then statuses of a running track flow in

        def matched(info: Any) -> None:
            self.status_publishers = int(info.current_count)

        node.create_subscription(
            TrackerStatus,
            args.status_topic,
            self.statuses.append,
            reliable,
            event_callbacks=SubscriptionEventCallbacks(matched=matched),
        )
        # the newest camera frame and detection arrays only (images are large); best effort
        # subscriptions match reliable and best-effort publishers alike
        self.images: list[Any] = []
        self.arrays: list[Any] = []
        self.arrays_seen = 0

        def on_image(msg: Any) -> None:
            self.images[:] = [msg]

        def on_array(msg: Any) -> None:
            self.arrays_seen += 1
            if msg.detections:
                self.arrays[:] = [msg]

        # the node's refusals, from its log (volatile: only lines logged from now on)
        from rcl_interfaces.msg import Log

        self.refusals: list[tuple[str, str]] = []  # (logger name, reason)

        def on_log(msg: Any) -> None:
            reason = refusal_reason(msg.msg)
            if reason is not None:
                self.refusals.append((msg.name, reason))

        rosout = QoSProfile(
            history=HistoryPolicy.KEEP_LAST,
            depth=100,
            reliability=ReliabilityPolicy.RELIABLE,
            durability=DurabilityPolicy.VOLATILE,
        )
        self.rosout_matched = 0

        def rosout_matched(info: Any) -> None:
            self.rosout_matched = int(info.current_count)

        node.create_subscription(
            Log,
            "/rosout",
            on_log,
            rosout,
            event_callbacks=SubscriptionEventCallbacks(matched=rosout_matched),
        )
        camera_stamped = args.box is not None and args.stamp in (None, STAMP_CAMERA)
        self.retryable = args.point is not None or camera_stamped
        if camera_stamped:
            topic = args.image_topic
            node.create_subscription(Image, topic, on_image, qos_profile_sensor_data)
            node.create_subscription(
                CompressedImage, f"{topic}/compressed", on_image, qos_profile_sensor_data
            )
            self.image_topic = node.resolve_topic_name(topic)
        if args.point is not None:
            node.create_subscription(
                Detection2DArray, args.detections, on_array, qos_profile_sensor_data
            )
            self.detections_topic = node.resolve_topic_name(args.detections)

    def spin_until(self, done: Callable[[], bool], timeout: float) -> bool:
        end = time.monotonic() + timeout
        while not done():
            if time.monotonic() >= end:
                return False
            self.executor.spin_once(timeout_sec=0.05)
        return True

    def run(self) -> str:
        from rclpy.duration import Duration
        from std_msgs.msg import Header

        from siam_tracker_ros.ros.messages import init_target_msg, stamp_to_ns, time_from_ns

        args, topic = self.args, self.pub.topic_name
        if not self.spin_until(lambda: self.pub.get_subscription_count() > 0, args.timeout):
            where = f" in namespace {args.namespace!r}" if args.namespace else ""
            raise ValueError(
                f"no node subscribes to {topic} (waited {args.timeout:g} s): start tracker_node "
                f"(active){where} with the same ROS_DOMAIN_ID, or name its topic with --topic"
            )
        # the running track first: from the camera frame on, every moment counts (the node
        # finds that frame only while it is among the last input.buffer_size it received)
        before = None if args.no_wait else self.running_track()
        # the node's log lines reach this command only once its /rosout publisher is matched
        # (discovered apart from the init topic); without it a refusal is only the timeout
        if not args.no_wait:
            self.spin_until(
                lambda: self.rosout_matched >= self.node.count_publishers("/rosout"),
                min(args.timeout, 5.0),
            )
        resent: list[str] = []

        def again() -> str:
            stamps = ", ".join(resent)
            return f" (sent again: the node had no frame stamped {stamps})" if resent else ""

        for attempt in range(1 + (RESENDS if self.retryable else 0)):
            box, stamp_ns, frame_id, source = self.target()
            header = Header(stamp=time_from_ns(stamp_ns), frame_id=frame_id)
            self.refusals.clear()  # what the node says from now on is about this init
            self.pub.publish(init_target_msg(header, box, args.track_id))
            sent = (
                f"init {','.join(f'{v:g}' for v in box)} {source}, "
                f"stamp {stamp_ns / 1e9:.3f} s, sent to {topic}"
            )
            if args.no_wait:  # delivered before this process ends (the status says so otherwise)
                self.pub.wait_for_all_acked(Duration(seconds=args.timeout))
                return sent
            status = self.new_track(before, stamp_ns)
            if isinstance(status, str):  # the node refused it, and said why
                if self.retryable and any(m in status for m in FRAME_MISSING) and attempt < RESENDS:
                    resent.append(f"{stamp_ns / 1e9:.3f} s")
                    continue
                raise ValueError(f"{sent}, but the node refused it: {status}{again()}")
            break
        if status is None:
            where = (
                "its log says why"
                if self.log_visible()
                else "its console says why: its log does not reach /rosout here, e.g. started "
                "with --disable-rosout-logs, so this command cannot read the reason"
            )
            raise ValueError(
                f"{sent}, but no new track appeared on "
                f"{self.node.resolve_topic_name(args.status_topic)} within {args.timeout:g} s: "
                f"the node refused it ({where}; e.g. no buffered frame with that stamp: "
                "send it sooner, or raise input.buffer_size) or no camera frames reach it"
            )
        from siam_tracker_ros.core.result import TrackState

        return (
            f"{sent}: tracking {status.track_id}, {TrackState(status.state).name} "
            f"(score {status.score:.2f}, frame stamped {stamp_to_ns(status.header.stamp) / 1e9:.3f}"
            f" s){again()}"
        )

    def target(self) -> tuple[tuple[float, float, float, float], int, str, str]:
        """The box, its stamp (ns), the frame id and a few words on where they came from."""
        args = self.args
        if args.point is not None:
            return self.pick()
        x, y, w, h = (float(v) for v in args.box)
        box = (x, y, w, h)
        if args.stamp is not None and args.stamp != STAMP_CAMERA:
            return box, int(args.stamp), "", "(given stamp)"
        self.images.clear()  # a frame that arrives from now on: the newest
        if not self.spin_until(lambda: bool(self.images), args.timeout):
            raise ValueError(
                f"no camera frame on {self.image_topic} (or its /compressed) within "
                f"{args.timeout:g} s: name the node's camera topic with --image-topic, or send "
                "--stamp 0 (the node's newest frame)"
            )
        msg = self.images[-1]
        width, height = self.size(msg)
        from siam_tracker_ros.ros.messages import stamp_to_ns
        from siam_tracker_ros.ros.session import validate_box

        try:  # the node's own rule, so a box it would refuse is refused here with the reason
            validate_box(box, width, height)
        except ValueError as exc:
            raise ValueError(f"--box {','.join(f'{v:g}' for v in box)}: {exc}") from None
        stamp_ns = stamp_to_ns(msg.header.stamp)
        return box, stamp_ns, msg.header.frame_id, f"on the newest {width}x{height} frame"

    @staticmethod
    def size(msg: Any) -> tuple[int, int]:
        if hasattr(msg, "width"):
            return int(msg.width), int(msg.height)
        from siam_tracker_ros.datasets.image_conversion import check_compressed

        return check_compressed(msg.data)

    def pick(self) -> tuple[tuple[float, float, float, float], int, str, str]:
        from siam_tracker_ros.ros.messages import stamp_to_ns

        args, topic = self.args, self.detections_topic
        self.arrays.clear()  # detections of a frame the node still has
        seen = self.arrays_seen
        if not self.spin_until(lambda: bool(self.arrays), args.timeout):
            n = self.arrays_seen - seen
            got = f"{n} empty arrays" if n else "nothing"
            raise ValueError(
                f"no detection on {topic} within {args.timeout:g} s ({got} arrived): is the "
                "detector publishing vision_msgs/Detection2DArray there?"
            )
        array = self.arrays[-1]
        boxes = [
            (
                float(d.bbox.center.position.x - d.bbox.size_x / 2),
                float(d.bbox.center.position.y - d.bbox.size_y / 2),
                float(d.bbox.size_x),
                float(d.bbox.size_y),
            )
            for d in array.detections
        ]
        pick = nearest_detection(boxes, args.point)
        assert pick is not None  # the array has detections
        px, py = args.point
        if pick.distance > args.max_distance:
            raise ValueError(
                f"no detection within {args.max_distance:g} px of ({px:g}, {py:g}) on {topic}: "
                f"the nearest of its {pick.candidates} is {pick.distance:.0f} px away "
                "(another --point, or --max-distance)"
            )
        det = array.detections[boxes.index(pick.box)]
        stamp_ns = stamp_to_ns(det.header.stamp) or stamp_to_ns(array.header.stamp)
        frame_id = det.header.frame_id or array.header.frame_id
        return pick.box, stamp_ns, frame_id, f"(detection nearest ({px:g}, {py:g}) on {topic})"

    def running_track(self) -> Any:
        """The newest status before the init (None when the node is not tracking), so that the
        new track can be told from the running one: the status topic is matched first, then
        statuses get a second to arrive (a tracking node publishes one per camera frame)."""
        args, topic = self.args, self.node.resolve_topic_name(self.args.status_topic)
        if not self.spin_until(lambda: self.status_publishers > 0, args.timeout):
            raise ValueError(
                f"no status publisher on {topic} (waited {args.timeout:g} s), so the new "
                "track cannot be confirmed: name the node's status topic with --status-topic, "
                "or pass --no-wait"
            )
        self.spin_until(lambda: bool(self.statuses), min(1.0, args.timeout))
        return self.statuses[-1] if self.statuses else None

    def new_track(self, before: Any, stamp_ns: int) -> Any:
        """The first status after the init that belongs to a new track, the node's reason when
        it logs a refusal first, or None on timeout. A new track's status is not IDLE, of a
        frame no older than the init's, and either the first status seen or of another track
        than the one running before (another id, or its count started again)."""
        from siam_tracker_ros.core.result import TrackState
        from siam_tracker_ros.ros.messages import stamp_to_ns

        def is_new(s: Any) -> bool:
            if s.state == TrackState.IDLE or stamp_to_ns(s.header.stamp) < stamp_ns:
                return False
            if before is None or before.state == TrackState.IDLE:
                return True
            return s.track_id != before.track_id or s.frames_processed < before.frames_processed

        cursor = len(self.statuses)  # what arrived before the init belongs to the old track
        found: list[Any] = []

        def done() -> bool:
            nonlocal cursor
            found.extend(s for s in self.statuses[cursor:] if is_new(s))
            cursor = len(self.statuses)
            return bool(found) or self.refusal() is not None

        if not self.spin_until(done, self.args.timeout):
            return None
        return found[0] if found else self.refusal()

    def _loggers(self, infos: Any) -> set[str]:
        return {logger_name(i.node_name, i.node_namespace) for i in infos}

    def refusal(self) -> str | None:
        """The first refusal logged since the init by a node that subscribes to the init topic
        (looked up each time: a node's name can reach this process after its endpoints)."""
        if not self.refusals:
            return None
        loggers = self._loggers(self.node.get_subscriptions_info_by_topic(self.pub.topic_name))
        return next((reason for name, reason in self.refusals if name in loggers), None)

    def log_visible(self) -> bool:
        """Whether a node that subscribes to the init topic publishes its log on ``/rosout``
        (a node started with ``--disable-rosout-logs`` does not: its refusals reach only its
        console, and the command says so instead of pointing at a log it cannot read)."""
        subscribers = self._loggers(self.node.get_subscriptions_info_by_topic(self.pub.topic_name))
        return bool(subscribers & self._loggers(self.node.get_publishers_info_by_topic("/rosout")))
