# ruff: noqa: I001 - `launch` is the ROS package, not this repo's launch/ folder
"""ROS-style integration test (launch_testing, as image_pipeline tests its nodes): the package's
own tracker.launch.py brings tracker_node up (autostart), a driver node in the test publishes a
generated video with a stamped init box, and the test checks that the Detection2DArray follows the
target with one stable track id; after shutdown every process must have exited cleanly.

Not collected by pytest (the name matches neither test_*.py nor *_test.py): it needs a
loopback-only namespace, so test/ros/test_launch_testing.py runs it with
``launch_test test/ros/launch_tests/tracker_node.launch.py`` inside one.
"""

import sys
import time
import unittest
from pathlib import Path

import launch
import launch_testing
import launch_testing.actions
import launch_testing.asserts
import numpy as np
import rclpy
from launch.actions import IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import PathJoinSubstitution
from launch_ros.substitutions import FindPackageShare
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
from vision_msgs.msg import Detection2DArray

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from ros_fakes import textured_target_frames  # noqa: E402
from siam_tracker_ros.msg import InitTarget  # noqa: E402
from siam_tracker_ros.evaluation.metrics import iou  # noqa: E402
from siam_tracker_ros.ros.messages import (  # noqa: E402
    image_msg,
    init_target_msg,
    stamp_to_ns,
    stamped_header,
)

RELIABLE = QoSProfile(
    history=HistoryPolicy.KEEP_LAST, depth=50, reliability=ReliabilityPolicy.RELIABLE
)


def generate_test_description() -> launch.LaunchDescription:
    tracker = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(
            PathJoinSubstitution(
                [FindPackageShare("siam_tracker_ros"), "launch", "tracker.launch.py"]
            )
        ),
        launch_arguments={"camera_topic": "/camera/image_raw"}.items(),
    )
    return launch.LaunchDescription([tracker, launch_testing.actions.ReadyToTest()])


class TestTrackerNode(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        rclpy.init()

    @classmethod
    def tearDownClass(cls) -> None:
        rclpy.shutdown()

    def setUp(self) -> None:
        self.node = rclpy.create_node("tracker_launch_test_driver")

    def tearDown(self) -> None:
        self.node.destroy_node()

    def spin(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            rclpy.spin_once(self.node, timeout_sec=0.02)

    def test_detections_follow_the_target(self, proc_output) -> None:
        frames, boxes = textured_target_frames(40)
        image_pub = self.node.create_publisher(Image, "/camera/image_raw", RELIABLE)
        init_pub = self.node.create_publisher(InitTarget, "/init_target", RELIABLE)
        arrays: list[Detection2DArray] = []
        self.node.create_subscription(Detection2DArray, "/detections", arrays.append, RELIABLE)
        end = time.monotonic() + 90  # the node loads and warms its model before subscribing
        while image_pub.get_subscription_count() == 0 and time.monotonic() < end:
            self.spin(0.1)
        self.assertGreater(image_pub.get_subscription_count(), 0, "tracker never subscribed")
        stamps = []
        for i, img in enumerate(frames):
            stamp = self.node.get_clock().now().nanoseconds
            image_pub.publish(image_msg(img, stamped_header(stamp, "cam")))
            stamps.append(stamp)
            if i == 3:  # a delayed click on frame 0, stamped with frame 0
                init_pub.publish(init_target_msg(stamped_header(stamps[0], "cam"), boxes[0]))
            self.spin(1 / 15)
        self.spin(1.0)
        proc_output.assertWaitFor("tracking track-1", timeout=10, stream="stderr")
        index = {s: i for i, s in enumerate(stamps)}
        found = [
            (index[stamp_to_ns(a.header.stamp)], a.detections[0])
            for a in arrays
            if a.detections and stamp_to_ns(a.header.stamp) in index
        ]
        self.assertGreaterEqual(len(found), 20, f"{len(arrays)} arrays")
        self.assertEqual({d.id for _, d in found}, {"track-1"})
        ious = [
            iou(
                np.array(
                    [
                        d.bbox.center.position.x - d.bbox.size_x / 2,
                        d.bbox.center.position.y - d.bbox.size_y / 2,
                        d.bbox.size_x,
                        d.bbox.size_y,
                    ]
                ),
                boxes[i],
            )
            for i, d in found
        ]
        self.assertGreaterEqual(float(np.mean(np.array(ious) > 0.5)), 0.9, ious)


@launch_testing.post_shutdown_test()
class TestShutdown(unittest.TestCase):
    def test_exit_codes(self, proc_info) -> None:
        launch_testing.asserts.assertExitCodes(proc_info)
