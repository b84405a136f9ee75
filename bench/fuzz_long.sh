#!/usr/bin/env bash
# The hypothesis fuzz tests with the long profile (test/conftest.py: 20,000 examples per test
# instead of CI's 2,000): image conversion, compressed decoding, init boxes (Tracker.init and the
# ROS session), parameters and message building. Prints pytest's per-test statistics and the
# wall time; any exception outside the documented ones fails a test.
#   bench/fuzz_long.sh                 # long profile (about 10x the CI run's time)
#   HYPOTHESIS_PROFILE=ci bench/fuzz_long.sh
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
export HYPOTHESIS_PROFILE="${HYPOTHESIS_PROFILE:-long}"
start=$(date +%s)
.venv/bin/python -m pytest -p no:cacheprovider -q --hypothesis-show-statistics \
    test/core/test_fuzz_init.py test/ros/test_fuzz_*.py "$@"
echo "fuzz_long: profile $HYPOTHESIS_PROFILE, $(($(date +%s) - start)) s on $(nproc) cores, $(date -u +%FT%TZ)"
