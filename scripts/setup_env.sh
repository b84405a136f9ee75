#!/usr/bin/env bash
# Create (or refresh) the project's virtual environment on a machine with no ROS install:
# PyTorch, the ROS 2 Kilted wheels, OpenCV and the tools the tests need, then build the
# project's msg/ interfaces and a vision_msgs 4.x compatible package into the venv.
# Idempotent: a second run only installs what is missing.
#
#   scripts/setup_env.sh                      # venv at ./.venv, CPU-only torch
#   TORCH_VARIANT=cuda scripts/setup_env.sh   # CUDA torch (PyPI's x86-64 build, several GB)
#   TORCH_INDEX_URL=https://download.pytorch.org/whl/cu128 TORCH_VARIANT=cuda scripts/setup_env.sh
#   VENV=/path scripts/setup_env.sh
#
# TORCH_VARIANT=cpu (the default) installs the CPU-only torch wheel (~200 MB) from a local mirror
# when one holds it, else from PyTorch's CPU index: PyPI's own x86-64 Linux torch is the CUDA
# build, several GB of NVIDIA libraries a CPU-only machine does not need. Running again with the
# other variant replaces the installed torch.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VENV=${VENV:-$ROOT/.venv}
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
TORCH_VERSION=2.13.0
TORCH_VARIANT=${TORCH_VARIANT:-cpu}
case "$TORCH_VARIANT" in
  cpu) torch_what="CPU build, ~200 MB" ;;
  cuda) torch_what="CUDA build, several GB with the NVIDIA libraries" ;;
  *) echo "[setup] TORCH_VARIANT must be cpu or cuda (got '$TORCH_VARIANT')" >&2; exit 2 ;;
esac

if ! command -v cmake >/dev/null || ! command -v ninja >/dev/null || ! command -v unshare >/dev/null \
   || ! command -v ip >/dev/null || ! command -v g++ >/dev/null; then
  echo "[setup] installing build tools (cmake, ninja, g++, iproute2, util-linux) with apt" >&2
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq cmake ninja-build g++ iproute2 util-linux >/dev/null
fi

if [ ! -x "$VENV/bin/python" ]; then
  echo "[setup] creating the virtual environment $VENV" >&2
  "$PY" -m venv "$VENV"
fi
# pip install, quiet. Its stderr is shown except one harmless line some mirror set-ups print per
# package ("WARNING: Location 'file:///...' is ignored: it is neither a file nor a directory."),
# so that a real error stands out.
pip_install() {
  local err rc=0
  err=$(mktemp)
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check "$@" 2>"$err" || rc=$?
  grep -v "^WARNING: Location '.*' is ignored: it is neither a file nor a directory\.$" "$err" >&2 \
    || true
  rm -f "$err"
  return "$rc"
}
pip_install --upgrade pip >/dev/null

# torch first, pinned, so nothing later pulls another build of it.
torch_stamp="$VENV/.torch_variant"
if ! "$VENV/bin/python" -c "import torch" 2>/dev/null \
   || [ "$(cat "$torch_stamp" 2>/dev/null || echo "$TORCH_VARIANT")" != "$TORCH_VARIANT" ]; then
  if "$VENV/bin/python" -c "import torch" 2>/dev/null; then
    echo "[setup] removing the installed torch to switch to TORCH_VARIANT=$TORCH_VARIANT" >&2
    "$VENV/bin/python" -m pip uninstall -y -q torch
  fi
  echo "[setup] installing torch $TORCH_VERSION ($torch_what)..." >&2
  if [ -n "${TORCH_INDEX_URL:-}" ]; then
    pip_install "torch==$TORCH_VERSION" --index-url "$TORCH_INDEX_URL"
  elif [ "$TORCH_VARIANT" = cpu ]; then
    # a mirror or wheel folder that holds the +cpu wheel (the project's machines), else PyTorch's
    # CPU index; the first try's "no matching distribution" is expected and not shown
    pip_install "torch==$TORCH_VERSION+cpu" 2>/dev/null \
      || pip_install "torch==$TORCH_VERSION" --index-url https://download.pytorch.org/whl/cpu
  else
    pip_install "torch==$TORCH_VERSION"
  fi
  if [ "$TORCH_VARIANT" = cuda ] \
     && ! "$VENV/bin/python" -c "import sys, torch; sys.exit(torch.version.cuda is None)"; then
    echo "[setup] note: the torch that was installed has no CUDA support (no CUDA wheel on the" \
         "configured package index; set TORCH_INDEX_URL)" >&2
  fi
fi
echo "$TORCH_VARIANT" > "$torch_stamp"

echo "[setup] checking the Python dependencies (requirements.txt; a first run installs them)..." >&2
pip_install -r "$ROOT/requirements.txt"
# This package, editable; only when its packaging changed (or the venv is new). The filter hides
# setuptools' informational box about editable installs, nothing else.
editable_key="$ROOT $(cat "$ROOT/setup.py" "$ROOT/pyproject.toml" | sha256sum | cut -c1-16)"
if [ "$(cat "$VENV/.siam_editable" 2>/dev/null)" != "$editable_key" ] \
   || ! "$VENV/bin/python" -I -c "import importlib.metadata as m; m.version('siam_tracker_ros')" \
     2>/dev/null; then
  echo "[setup] installing siam_tracker_ros from $ROOT (editable)" >&2
  PYTHONWARNINGS="ignore:Editable installation" \
    pip_install --no-deps --no-build-isolation -e "$ROOT"
  echo "$editable_key" > "$VENV/.siam_editable"
fi

# Interfaces: msg/ (this package) and, unless a real one is importable, vision_msgs.
"$VENV/bin/python" "$ROOT/scripts/build_interfaces.py" --venv "$VENV"

# ROS 2 command-line and launch tools (ros2 launch/run/topic/param/lifecycle, launch_testing):
# on no package registry; installed from their sources in ../shared/ros or $ROS_TOOLS_DIR.
ROS_TOOLS_DIR=${ROS_TOOLS_DIR:-$ROOT/../shared/ros}
if [ -f "$ROS_TOOLS_DIR/install_ros_tools.sh" ]; then
  [ -e "$VENV/.ros_tools_installed" ] \
    || echo "[setup] installing the ROS 2 CLI and launch tools from $ROS_TOOLS_DIR (~40 s)" >&2
  if ! out=$(bash "$ROS_TOOLS_DIR/install_ros_tools.sh" "$VENV" 2>&1); then
    echo "$out" | grep -v "^WARNING: Location" >&2
    echo "[setup] installing the ROS 2 tools from $ROS_TOOLS_DIR failed (output above)" >&2
    exit 1
  fi
else
  echo "[setup] no ROS 2 CLI/launch tools: $ROS_TOOLS_DIR/install_ros_tools.sh not found (set" \
       "ROS_TOOLS_DIR); 'ros2 launch/run' unavailable, run the node as $VENV/bin/tracker_node" >&2
fi
# The colcon layout in the venv prefix (share/siam_tracker_ros/{launch,config}, lib/... executables)
# for `ros2 launch siam_tracker_ros tracker.launch.py` and `ros2 run siam_tracker_ros tracker_node`.
"$VENV/bin/python" "$ROOT/scripts/ros_layout.py" --prefix "$VENV"
echo "[setup] ready: $VENV"
