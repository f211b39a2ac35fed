"""The imperative API is typed precisely enough for mypy --strict to infer results."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("module", ["tests/compat/typed_usage.py"])
def test_typed_usage_passes_mypy_strict(module: str) -> None:
    """step and run_in_child_context return the callable's result type."""
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-error-summary", module],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_typed_usage_runs() -> None:
    """The same module runs on the local runner."""
    from durable.testing import run
    from tests.compat import typed_usage

    result = run(typed_usage.handler, {"k": "v"})
    assert result.result == {
        "total": 28.5,
        "text": "label",
        "numbers": [1],
        "squares": [1, 4, 9],
        "fetched": ["a", "a"],
    }
