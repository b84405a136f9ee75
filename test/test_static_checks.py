"""Lint, format and type checks are part of the test suite, so CI and the README's one test
command run them: ruff lint and ``ruff format --check`` (the house style) over the whole tree,
mypy over every layer of the package (pyproject's [tool.mypy] files: core, models, runtime,
datasets, evaluation, training and the ROS layer ros/)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _tool(name: str) -> str:
    exe = Path(sys.executable).with_name(name)
    found = str(exe) if exe.exists() else shutil.which(name)
    if not found:
        pytest.skip(f"{name} not installed")
    return found


def test_ruff_clean() -> None:
    res = subprocess.run([_tool("ruff"), "check", "."], cwd=ROOT, capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr


def test_ruff_format_clean() -> None:
    """The tree is as ``ruff format`` writes it (run ``.venv/bin/ruff format .`` to fix)."""
    res = subprocess.run(
        [_tool("ruff"), "format", "--check", "."], cwd=ROOT, capture_output=True, text=True
    )
    assert res.returncode == 0, res.stdout + res.stderr


def test_mypy_clean() -> None:
    res = subprocess.run([_tool("mypy")], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout + res.stderr
