"""Fixtures for the command-line tests: a project directory with workflow
modules, and ``durable`` run in-process (``main``) or as a subprocess."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest

from durable.cli import main


@attrs.frozen
class Outcome:
    """What one ``durable`` command did."""

    code: int
    out: str
    err: str


@attrs.define
class Project:
    """A temporary directory, the current one, holding workflow modules."""

    root: Path
    modules: list[str] = attrs.Factory(list)

    def module(self, source: str) -> str:
        """Write ``source`` as a new module (unique name); return its name."""
        name = f"wf_{uuid.uuid4().hex[:12]}"
        (self.root / f"{name}.py").write_text(textwrap.dedent(source), encoding="utf-8")
        self.modules.append(name)
        return name

    def cli(self, *args: str) -> Outcome:
        """``durable ARGS`` in this process."""
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(list(args))
        return Outcome(code, out.getvalue(), err.getvalue())

    def spawn(self, *args: str, timeout: float = 60) -> Outcome:
        """``durable ARGS`` as a subprocess (``python -m durable.cli``), waited for."""
        done = subprocess.run(
            [sys.executable, "-m", "durable.cli", *args],
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=subprocess_env(),
        )
        return Outcome(done.returncode, done.stdout, done.stderr)


def subprocess_env() -> dict[str, str]:
    """The environment for ``durable`` subprocesses: no store override."""
    env = dict(os.environ)
    env.pop("DURABLE_STORE", None)
    return env


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Project]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DURABLE_STORE", raising=False)
    monkeypatch.setattr(sys, "path", list(sys.path))
    made = Project(tmp_path)
    yield made
    for name in made.modules:
        sys.modules.pop(name, None)
