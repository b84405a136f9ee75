#!/usr/bin/env bash
# The whole test suite on a fresh machine: set up .venv (idempotent), then pytest, which also runs
# ruff and mypy (test/test_static_checks.py) and the ROS integration tests (each inside a
# loopback-only network namespace). Extra arguments go to pytest.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
"$ROOT/scripts/setup_env.sh"
cd "$ROOT"
exec .venv/bin/python -m pytest -p no:cacheprovider "$@"
