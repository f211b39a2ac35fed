"""The README's walk-through runs as written: a new user's project, its
tests, and the command line (issue 8's "done when")."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.docs.blocks import section_blocks

ROOT = Path(__file__).resolve().parents[2]
WALKTHROUGH = "Test it, check it, run it from the command line"


def test_the_walkthrough_runs_from_an_empty_directory(tmp_path: Path) -> None:
    found = section_blocks(ROOT / "README.md", WALKTHROUGH)
    files = [b for b in found if b.lang == "python" and b.file_name]
    commands = [b for b in found if b.lang == "bash"]
    assert [b.file_name for b in files] == ["shop.py", "test_shop.py"]
    assert len(commands) == 1
    for block in files:
        (tmp_path / str(block.file_name)).write_text(block.body, encoding="utf-8")

    bin_dir = Path(sys.executable).parent
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "DURABLE_"))}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    env.pop("PYTHONPATH", None)  # the installed package, as a user has it
    outputs = []
    for line in commands[0].body.splitlines():
        if not line.strip():
            continue
        argv = shlex.split(line)
        stdout = None
        if ">" in argv:  # `cmd ... > file`
            cut = argv.index(">")
            argv, stdout = argv[:cut], tmp_path / argv[cut + 1]
        done = subprocess.run(
            argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, f"README line {line!r} failed:\n{done.stdout}\n{done.stderr}"
        if stdout is not None:
            stdout.write_text(done.stdout, encoding="utf-8")
        outputs.append(done.stdout)

    tests, run, history, _, replay = outputs
    assert "4 passed" in tests
    assert "SUCCEEDED" in run and '"receipt": "receipt for o-1"' in run
    assert "cool-off" in history and "charge" in history
    assert "compatible" in replay and "divergent" not in replay.splitlines()[0]

    # The gate catches a changed workflow: rename the receipt step.
    shop = tmp_path / "shop.py"
    shop.write_text(shop.read_text().replace('name="receipt"', 'name="invoice"'))
    gate = subprocess.run(
        ["durable", "replay", "--against", "order-1.json", "shop:process_order"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert gate.returncode != 0
    assert "divergent" in gate.stdout and "'invoice'" in gate.stdout


def test_the_first_example_runs_in_both_styles(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The README's yield-style workflow and its imperative twin, with the
    asserts that follow them."""
    from tests.docs.test_guides import run_blocks

    found = section_blocks(ROOT / "README.md", "A workflow")
    assert [b.file_name for b in found if b.file_name] == ["orders.py", "orders_imperative.py"]
    assert run_blocks(found, ROOT / "README.md", tmp_path, monkeypatch) == 3
