#!/usr/bin/env bash
# The main job on a fresh machine: set up .venv (idempotent), fetch Debian's real sample videos
# (opencv-doc) if missing, and track a real video through the real ROS 2 tracker node (inside a
# loopback-only network namespace; started by `ros2 launch` when the ROS 2 tools are installed).
# Results (annotated video, response maps, detections) land in demo_out/. Extra arguments go to
# scripts/run_demo.py (see --help).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
"$ROOT/scripts/setup_env.sh"
# --follow: the closed-loop follow demo (simulated gimbal + tracker + follower; docs/follow.md)
if [ "${1:-}" = "--follow" ]; then shift; cd "$ROOT"; exec .venv/bin/python scripts/run_follow_demo.py "$@"; fi
if [ ! -e /usr/share/doc/opencv-doc/examples/data/vtest.avi ]; then
  echo "[demo] installing Debian's opencv-doc for its real sample videos (~95 MB)" >&2
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq opencv-doc >/dev/null
fi
cd "$ROOT"
# With the ROS 2 tools in the venv (setup_env.sh installs them from ../shared/ros) the node is
# started the way a user starts it: ros2 launch siam_tracker_ros tracker.launch.py
if [ -x .venv/bin/ros2 ] && [ -e .venv/share/siam_tracker_ros/launch/tracker.launch.py ]; then
  exec .venv/bin/python scripts/run_demo.py --ros2-launch "$@"
fi
exec .venv/bin/python scripts/run_demo.py "$@"
