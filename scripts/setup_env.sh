#!/usr/bin/env bash
# Create (or refresh) the project's virtual environment on a machine with no ROS install:
# PyTorch, the ROS 2 Kilted wheels, OpenCV and the tools the tests need, then build the
# project's msg/ interfaces and a vision_msgs 4.x compatible package into the venv.
# Idempotent: a second run only installs what is missing.
#
#   scripts/setup_env.sh            # venv at ./.venv
#   VENV=/path scripts/setup_env.sh
#
# GPU users: after this script, install a CUDA build of torch into the venv, e.g.
#   .venv/bin/pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VENV=${VENV:-$ROOT/.venv}
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3

if ! command -v cmake >/dev/null || ! command -v ninja >/dev/null || ! command -v unshare >/dev/null \
   || ! command -v ip >/dev/null || ! command -v g++ >/dev/null; then
  echo "[setup] installing build tools (cmake, ninja, g++, iproute2, util-linux) with apt" >&2
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq cmake ninja-build g++ iproute2 util-linux >/dev/null
fi

[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip install -q --disable-pip-version-check)
"${PIP[@]}" --upgrade pip >/dev/null
# torch first, pinned, so nothing later pulls a CUDA build.
"$VENV/bin/python" -c "import torch" 2>/dev/null || "${PIP[@]}" "torch==2.13.0"
"${PIP[@]}" -r "$ROOT/requirements.txt"
"${PIP[@]}" --no-deps --no-build-isolation -e "$ROOT"

# Interfaces: msg/ (this package) and, unless a real one is importable, vision_msgs.
"$VENV/bin/python" "$ROOT/scripts/build_interfaces.py" --venv "$VENV"
echo "[setup] ready: $VENV"
