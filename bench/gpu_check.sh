#!/usr/bin/env bash
# One command for a bare GPU machine: the CUDA tests and the GPU rows of bench/bench_speed.py
# (ResNet-50 SiamMargin and the light model, PyTorch fp16, eager vs CUDA graphs, peak GPU memory),
# ending in one table. Needs a Python with torch (CUDA build), onnxruntime, OpenCV, numpy and
# PyYAML; pytest for the test part (skipped with a line if absent). No ROS, no network, no .venv:
# the repository is put on PYTHONPATH (or `pip install -e . --no-deps` was run before).
#
#   bash bench/gpu_check.sh                      # python3 from PATH, ~5 minutes on one GPU
#   PYTHON=/opt/py/bin/python bash bench/gpu_check.sh --frames 150 --data /data/sequences
#
# Options: --frames N (per sequence, default 120), --repeats N (default 2), --data DIR (sequence
# folders; default ../shared/data/sequences, else synthetic sequences are generated),
# --r50-weights FILE (pysot's siamrpn_r50_l234_dwxcorr model.pth; default random weights),
# --device cuda:N (default cuda), --no-tests.
#
# Exit status: 0 all ran and passed; 1 a test or the bench failed; 2 bad arguments or a missing
# Python package; 3 no CUDA on this machine (nothing was run; the line says so).
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PYTHON=${PYTHON:-python3}
FRAMES=120
REPEATS=2
DATA=""
R50=""
DEVICE=cuda
TESTS=1

usage() { sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
  case "$1" in
    --frames) FRAMES=${2:?--frames needs a number}; shift 2 ;;
    --repeats) REPEATS=${2:?--repeats needs a number}; shift 2 ;;
    --data) DATA=${2:?--data needs a folder}; shift 2 ;;
    --r50-weights) R50=${2:?--r50-weights needs a file}; shift 2 ;;
    --device) DEVICE=${2:?--device needs cuda or cuda:N}; shift 2 ;;
    --no-tests) TESTS=0; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "gpu_check: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
case "$FRAMES$REPEATS" in *[!0-9]*|"") echo "gpu_check: --frames/--repeats need whole numbers" >&2; exit 2 ;; esac
case "$DEVICE" in cuda|cuda:[0-9]*) ;; *) echo "gpu_check: --device must be cuda or cuda:N, got '$DEVICE'" >&2; exit 2 ;; esac

cd "$ROOT"
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
export SIAM_TRACKER_CACHE=${SIAM_TRACKER_CACHE:-$(mktemp -d)}

if ! command -v "$PYTHON" >/dev/null 2>&1; then
  echo "gpu_check: no Python at '$PYTHON' (set PYTHON=...)" >&2; exit 2
fi
missing=$("$PYTHON" - <<'EOF'
import importlib.util
need = ["torch", "numpy", "cv2", "yaml", "onnxruntime"]
print(" ".join(n for n in need if importlib.util.find_spec(n) is None))
EOF
)
if [ -n "$missing" ]; then
  echo "gpu_check: missing Python packages: $missing" >&2; exit 2
fi

gpu=$("$PYTHON" -c "
import torch
if torch.cuda.is_available():
    print(torch.cuda.get_device_name(0), '| torch', torch.__version__, '| CUDA', torch.version.cuda)
" 2>/dev/null)
if [ -z "$gpu" ]; then
  echo "gpu_check: no CUDA on this machine (torch.cuda.is_available() is False); nothing run"
  exit 3
fi
echo "gpu_check: $(date -u '+%Y-%m-%d %H:%M UTC'); $gpu"
status=0
start=$(date +%s)

# ---------------------------------------------------------------------------------- CUDA tests
if [ "$TESTS" = 1 ]; then
  if "$PYTHON" -c "import pytest" 2>/dev/null; then
    echo "gpu_check: CUDA tests (pytest -m gpu test/core test/models)"
    if ! "$PYTHON" -m pytest -p no:cacheprovider -q -m gpu -o addopts="" \
        -p no:launch_testing -p no:launch_ros test/core test/models; then
      echo "gpu_check: CUDA tests FAILED" >&2; status=1
    fi
  else
    echo "gpu_check: pytest not installed; CUDA tests skipped"
  fi
fi

# ------------------------------------------------------------------------------- GPU bench rows
if [ -z "$DATA" ]; then
  if [ -d "$ROOT/../shared/data/sequences" ]; then
    DATA="$ROOT/../shared/data/sequences"
  elif [ -d "$ROOT/shared/data/sequences" ]; then
    DATA="$ROOT/shared/data/sequences"
  else
    DATA=$(mktemp -d)
    echo "gpu_check: no sequences found; generating 3 synthetic ones in $DATA"
    "$PYTHON" - "$DATA" "$FRAMES" <<'EOF'
import sys
from pathlib import Path
import cv2
import numpy as np
root, frames = Path(sys.argv[1]), int(sys.argv[2]) + 1
for seq, (h, w) in enumerate([(480, 640), (720, 1280), (360, 640)]):
    rng = np.random.default_rng(seq)
    bg = cv2.resize(rng.integers(0, 256, (h // 8, w // 8, 3), dtype=np.uint8), (w, h))
    tex = cv2.resize(rng.integers(0, 256, (12, 10, 3), dtype=np.uint8), (40, 48),
                     interpolation=cv2.INTER_NEAREST)
    d = root / f"synthetic_{seq}"
    (d / "img").mkdir(parents=True)
    boxes = []
    for t in range(frames):
        x = int(w / 2 - 20 + (w / 3) * np.sin(t / 25.0))
        y = int(h / 2 - 24 + (h / 4) * np.sin(t / 17.0))
        f = bg.copy()
        f[y:y + 48, x:x + 40] = tex
        cv2.imwrite(str(d / "img" / f"{t + 1:04d}.jpg"), f)
        boxes.append(f"{x},{y},40,48")
    (d / "groundtruth_rect.txt").write_text("\n".join(boxes) + "\n")
EOF
  fi
fi

keys=$("$PYTHON" - <<'EOF'
from siam_tracker_ros.core.defaults import BUNDLED_CHECKPOINT as light
keys = ["gpu-r50", "gpu-r50-graphs", "gpu-nanotrack", "gpu-nanotrack-graphs"]
if light.is_file():
    keys += ["gpu-light", "gpu-light-graphs"]
print(",".join(keys))
EOF
)
echo "gpu_check: GPU rows of bench_speed.py ($keys), $FRAMES frames x $REPEATS repeats of $DATA"
bench_args=(--device "$DEVICE" --only "$keys" --frames "$FRAMES" --repeats "$REPEATS" --data "$DATA")
[ -n "$R50" ] && bench_args+=(--r50-weights "$R50")
table=$(mktemp)
if ! "$PYTHON" bench/bench_speed.py "${bench_args[@]}" >"$table"; then
  echo "gpu_check: bench_speed.py FAILED" >&2; status=1
fi

echo
echo "=============================== gpu_check result ==============================="
echo "$gpu; $(( $(date +%s) - start )) s in all; tests: $([ "$TESTS" = 1 ] && echo run || echo skipped)"
cat "$table"
exit $status
