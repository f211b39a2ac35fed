"""Layering: `import durable` stays light and the core stays pure (design.md)."""

from __future__ import annotations

import ast
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
FORBIDDEN_IN_CORE = {
    "asyncio",
    "boto3",
    "botocore",
    "concurrent",
    "os",
    "random",
    "socket",
    "subprocess",
    "threading",
    "time",
    "durable.runtime",
    "durable.lambda_",
    "durable.testing",
    "durable.wire",
}


def loaded_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print('\\n'.join(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout
    return set(out.split())


def test_import_durable_loads_neither_boto3_nor_cattrs() -> None:
    """Cold starts pay for every import: boto3, botocore and cattrs stay out."""
    modules = loaded_after("import durable")
    heavy = {m for m in modules if m.split(".")[0] in {"boto3", "botocore", "cattrs", "hypothesis"}}
    assert heavy == set()


def test_the_core_imports_no_io_threads_clock_or_randomness() -> None:
    """No module under durable/core imports anything that does I/O or is nondeterministic."""
    offenders = []
    for path in sorted((ROOT / "durable" / "core").glob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                if any(name == f or name.startswith(f + ".") for f in FORBIDDEN_IN_CORE):
                    offenders.append(f"{path.name}: {name}")
    assert offenders == []


@pytest.mark.parametrize("module", ["threading", "random", "socket", "asyncio", "logging"])
def test_importing_the_core_loads_no_runtime_machinery(module: str) -> None:
    """Importing durable.core loads no threading, random, sockets, event loop or logging
    beyond what its one dependency, attrs, loads by itself."""
    added = loaded_after("import durable.core") - loaded_after("import attrs")
    assert module not in added
