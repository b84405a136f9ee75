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
        (f"share/{PACKAGE}/config", glob("config/*.yaml") + glob("config/*.xml")),
        (f"share/{PACKAGE}/config/models", glob("config/models/*.yaml")),
    ],
    install_requires=["numpy", "pyyaml", "opencv-python-headless", "torch", "tqdm"],
    entry_points={
        "console_scripts": [
            "siam-tracker = siam_tracker_ros.cli:main",
            "tracker_node = siam_tracker_ros.ros.node:main",
            "replay_node = siam_tracker_ros.ros.replay:main",
        ]
    },
)
