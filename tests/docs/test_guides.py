"""Every code block of every guide under docs/ runs, so the guides cannot
drift from the code.

How a guide's blocks are run, in order, in a fresh temporary directory that
is the working directory and is on ``sys.path``:

* ``python`` whose first line is ``# file: NAME``: written to ``NAME`` (a
  module later blocks import, a test file a later ``bash`` block runs, ...).
* ``python`` whose first line is ``# requires: MODULE``: executed when
  ``MODULE`` can be imported, otherwise compiled only (for deployment code
  such as the AWS CDK, which the test environment does not install).
* any other ``python`` block: executed, all of a guide's blocks in one
  namespace, like a notebook; ``assert`` lines in them are the checks.
* ``bash``: each line is a command run in the directory (``pip install``
  lines are only checked to install this project); it must exit 0.
* ``yaml`` / ``json``: parsed (CloudFormation's ``!Ref``-style tags allowed);
  ``text``: output shown to the reader, not run.

A block in any other language fails the test, so nothing is skipped silently.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.docs.blocks import Block, blocks

ROOT = Path(__file__).resolve().parents[2]
GUIDES = sorted((ROOT / "docs").glob("*.md"))


class _CloudFormationLoader(yaml.SafeLoader):
    """SafeLoader that reads ``!Ref``, ``!GetAtt``, ``!Sub``... as plain data."""


def _tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node)
    else:
        assert isinstance(node, yaml.MappingNode)
        value = loader.construct_mapping(node)
    return {suffix: value}


_CloudFormationLoader.add_multi_constructor("!", _tag)


def _environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "DURABLE_"))}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.pop("PYTHONPATH", None)
    return env


def _first_line(block: Block) -> str:
    return block.body.split("\n", 1)[0].strip()


def _run_bash(block: Block, where: str, cwd: Path) -> None:
    for line in block.body.splitlines():
        command = line.strip()
        if not command or command.startswith("#"):
            continue
        argv = shlex.split(command)
        if argv[:2] == ["pip", "install"]:
            assert any("durable" in arg or arg.startswith(("-e", ".")) for arg in argv[2:]), (
                f"{where}: a pip line that does not install this project: {command!r}"
            )
            continue
        done = subprocess.run(
            argv, cwd=cwd, env=_environment(), capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, f"{where}: {command!r} failed:\n{done.stdout}\n{done.stderr}"


def run_guide(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> int:
    """Run ``path``'s blocks; return how many ran (or were parsed)."""
    return run_blocks(blocks(path), path, tmp_path, monkeypatch)


def run_blocks(
    found: list[Block], path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> int:
    """Run ``found`` (blocks of ``path``) by the rules above; return how many ran."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    written: list[str] = []
    namespace: dict[str, Any] = {"__name__": f"guide_{path.stem.replace('-', '_')}"}
    count = 0
    try:
        for block in found:
            where = f"{path.relative_to(ROOT)}:{block.line}"
            first = _first_line(block)
            if block.lang == "text":
                continue
            count += 1
            if block.lang == "python" and block.file_name:
                target = tmp_path / block.file_name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(block.body, encoding="utf-8")
                module = block.file_name.removesuffix(".py").replace("/", ".")
                sys.modules.pop(module, None)
                written.append(module)
                importlib.invalidate_caches()
            elif block.lang == "python" and first.startswith("# requires:"):
                needed = first.removeprefix("# requires:").strip()
                code = compile(block.body, where, "exec", dont_inherit=True)
                if importlib.util.find_spec(needed.split(".")[0]) is not None:
                    exec(code, dict(namespace))
            elif block.lang == "python":
                exec(compile(block.body, where, "exec", dont_inherit=True), namespace)
            elif block.lang == "bash":
                _run_bash(block, where, tmp_path)
            elif block.lang == "yaml":
                loaded = yaml.load(block.body, Loader=_CloudFormationLoader)
                assert isinstance(loaded, dict), f"{where}: not a YAML mapping"
            elif block.lang == "json":
                json.loads(block.body)
            else:
                raise AssertionError(f"{where}: a {block.lang or 'plain'} block cannot be run")
    finally:
        for module in written:
            sys.modules.pop(module, None)
    return count


@pytest.mark.parametrize("guide", GUIDES, ids=lambda p: p.name)
def test_every_block_of_the_guide_runs(
    guide: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_guide(guide, tmp_path, monkeypatch)


def test_the_guides_exist_and_have_code() -> None:
    """The topics the guides must cover (issue 10), each with code that runs."""
    names = {p.stem for p in GUIDES}
    expected = {
        "getting-started",
        "steps-and-retries",
        "waits",
        "callbacks",
        "invoke",
        "wait-for-condition",
        "child-contexts",
        "parallel-and-map",
        "error-handling",
        "serialization",
        "logging",
        "testing",
        "deploying",
        "three-styles",
        "coming-from-the-aws-sdk",
        "sagas",
    }
    assert not expected - names, f"missing guides: {sorted(expected - names)}"
    for guide in GUIDES:
        if guide.stem in expected:
            assert any(b.lang == "python" for b in blocks(guide)), guide.name
