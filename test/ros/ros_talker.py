"""Second process of the foundation test: publishes one known Image and Detection2D again and
again until stopped (started by ros_scenarios.foundation inside the isolated namespace)."""

from __future__ import annotations

import numpy as np
import rclpy
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
from vision_msgs.msg import Detection2D, ObjectHypothesisWithPose


def main() -> None:
    rclpy.init()
    node = rclpy.create_node("talker")
    qos = QoSProfile(
        history=HistoryPolicy.KEEP_LAST, depth=10, reliability=ReliabilityPolicy.RELIABLE
    )
    img_pub = node.create_publisher(Image, "image", qos)
    det_pub = node.create_publisher(Detection2D, "detection", qos)
    data = (np.arange(48 * 64 * 3) % 251).astype(np.uint8).tobytes()
    img = Image(height=48, width=64, encoding="rgb8", step=192, data=data)
    img.header.frame_id = "cam"
    det = Detection2D(id="track-7")
    det.header.frame_id = "cam"
    det.bbox.center.position.x = 12.5
    hyp = ObjectHypothesisWithPose()
    hyp.hypothesis.score = 0.875
    det.results = [hyp]
    try:
        while rclpy.ok():
            img_pub.publish(img)
            det_pub.publish(det)
            rclpy.spin_once(node, timeout_sec=0.1)
    except KeyboardInterrupt:
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()


if __name__ == "__main__":
    main()
