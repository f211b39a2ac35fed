"""Real processes killed with SIGKILL, then ``durable resume`` (issue 9, item 2).

Each case starts ``durable run`` (a real subprocess, SQLite store, real
time) on a workflow of ``crash_sigkill_workflows.py``, waits until the
process reaches the chosen point (see that module's ``CRASH_PAUSE``), kills
it with SIGKILL, notes what the store and ``runs.log`` hold, and runs
``durable resume`` in a second process.  Then:

* the result is the clean one;
* every operation the store held SUCCEEDED at the kill is unchanged, and no
  body of such a step ran again;
* the resume ran each (step, attempt) body at most once: an at-least-once
  body interrupted by the kill re-ran exactly once, an at-most-once attempt
  never ran twice, and exactly the at-most-once steps the store held
  STARTED at the kill were reported as ``StepInterruptedError`` (a RETRY in
  the journal) and retried;
* each case's exact expected counts.

``tests/cli/test_kill_resume.py`` covers the CLI side (claims, timeline,
real-time waits across a kill).
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import attrs
import pytest

from durable.errors import StepInterruptedError
from durable.model import Operation, OperationAction, OperationStatus, OperationType
from durable.testing._sqlite import SqliteService, SqliteStore
from tests.reliability import report

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")

WORKFLOWS = Path(__file__).with_name("crash_sigkill_workflows.py")
MODULE = "crash_sigkill_workflows"
STORE = "run.db"
NAME = "job"
#: Name prefixes of the at-most-once steps of the workflows.
AT_MOST_ONCE = ("charge", "mark-")


@attrs.frozen
class Case:
    """Kill ``workflow`` at ``pause``, then resume; ``expect`` maps "name attempt"
    to its total body runs over both processes (others not listed: see ``check``)."""

    id: str
    workflow: str
    pause: str
    result: object
    expect: dict[str, int]
    #: At-most-once steps the kill must interrupt (the round may hold others).
    interrupted: tuple[str, ...] = ()


ORDER_TOTAL = {"total": 5 + 1 + 10 + 100}
FANOUT_TOTAL = sum(range(1, 7)) + 6 + 1000

CASES = [
    Case(
        "at-most-once, before its body (START durable)",
        "order",
        "after-commit:START:charge",
        ORDER_TOTAL,
        {"prep 1": 1, "charge 1": 0, "charge 2": 1, "ship 1": 1},
        interrupted=("charge",),
    ),
    Case(
        "at-most-once, during its body",
        "order",
        "in-body:charge",
        ORDER_TOTAL,
        {"prep 1": 1, "charge 1": 1, "charge 2": 1, "ship 1": 1},
        interrupted=("charge",),
    ),
    Case(
        "at-most-once, after its body, before its checkpoint",
        "order",
        "before-send:SUCCEED:charge",
        ORDER_TOTAL,
        {"prep 1": 1, "charge 1": 1, "charge 2": 1, "ship 1": 1},
        interrupted=("charge",),
    ),
    Case(
        "at-least-once, between checkpoints, before its body",
        "order",
        "after-commit:SUCCEED:charge",
        ORDER_TOTAL,
        {"prep 1": 1, "charge 1": 1, "ship 1": 1},
    ),
    Case(
        "at-least-once, during its body",
        "order",
        "in-body:ship",
        ORDER_TOTAL,
        {"prep 1": 1, "charge 1": 1, "ship 1": 2},
    ),
    Case(
        "at-least-once, after its body, before its checkpoint",
        "order",
        "before-send:SUCCEED:ship",
        ORDER_TOTAL,
        {"prep 1": 1, "charge 1": 1, "ship 1": 2},
    ),
    Case(
        "map, during an item's body",
        "fanout",
        "in-body:item-3",
        FANOUT_TOTAL,
        {"item-1 1": 1, "item-2 1": 1, "item-3 1": 2, "done 1": 1},
    ),
    Case(
        "map, an item's at-most-once step after its body",
        "fanout",
        "before-send:SUCCEED:mark-4",
        FANOUT_TOTAL,
        {"mark-1 1": 1, "mark-4 1": 1, "done 1": 1},
        interrupted=("mark-4",),
    ),
    Case(
        "map, between checkpoints of the batch",
        "fanout",
        "after-commit:SUCCEED:item-5",
        FANOUT_TOTAL,
        {"item-5 1": 1, "mark-1 1": 1, "done 1": 1},
    ),
]


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    shutil.copy(WORKFLOWS, tmp_path / f"{MODULE}.py")
    return tmp_path


def _env(pause: str | None) -> dict[str, str]:
    import os

    env = dict(os.environ)
    env.pop("DURABLE_STORE", None)
    env.pop("CRASH_PAUSE", None)
    if pause is not None:
        env["CRASH_PAUSE"] = pause
    return env


def _runs(root: Path) -> Counter[str]:
    path = root / "runs.log"
    lines = path.read_text().splitlines() if path.exists() else []
    return Counter(lines)


def _stored(root: Path) -> tuple[str, list[Operation]]:
    with SqliteStore(root / STORE, create=False) as store:
        stored = store.resolve(NAME)
        return stored.arn, store.load_operations(stored.arn)


def _kill_at(root: Path, case: Case) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "durable.cli", "run", f"{MODULE}:{case.workflow}",
         "--input", '{"base": 5}', "--name", NAME, "--store", STORE],
        cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=_env(case.pause),
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while not (root / "paused").exists():
            if process.poll() is not None:
                out, err = process.communicate()
                raise AssertionError(f"{case.id}: the run ended before pausing:\n{out}\n{err}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{case.id}: the run never reached {case.pause}")
            time.sleep(0.02)
    finally:
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=10)
    assert process.returncode == -signal.SIGKILL


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_killed_and_resumed(workdir: Path, case: Case) -> None:
    _kill_at(workdir, case)
    before = _runs(workdir)
    arn, at_kill = _stored(workdir)
    finished = {op.id: op for op in at_kill if op.is_terminal}

    resumed = subprocess.run(
        [sys.executable, "-m", "durable.cli", "resume", NAME, "--store", STORE],
        cwd=workdir, capture_output=True, text=True, timeout=60, env=_env(None),
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    result_line = next(line for line in resumed.stdout.splitlines() if line.startswith("result: "))
    assert json.loads(result_line.removeprefix("result: ")) == case.result

    after = _runs(workdir)
    _, final = _stored(workdir)
    by_id = {op.id: op for op in final}
    # Nothing checkpointed was lost or changed.
    for op_id, op in finished.items():
        assert by_id[op_id] == op, f"{case.id}: {op.name} changed after the kill"
    # No finished step ran again; the resume ran each attempt at most once.
    finished_names = {op.name for op in finished.values() if op.type is OperationType.STEP}
    for key, total in after.items():
        name = key.split()[0]
        if name in finished_names:
            assert total == before[key], f"{case.id}: finished step {key} ran again"
        assert total - before[key] <= 1, f"{case.id}: {key} ran {total - before[key]}x on resume"
    for key, total in case.expect.items():
        assert after[key] == total, f"{case.id}: {key} ran {after[key]} times, expected {total}"
    # At-most-once attempts never ran twice.
    for key, total in after.items():
        if key.startswith(AT_MOST_ONCE):
            assert total == 1, f"{case.id}: at-most-once {key} ran {total} times"

    # Interrupted at-most-once attempts surfaced as StepInterruptedError (§5.1).
    service = SqliteService(workdir / STORE, executions=[arn])
    try:
        journal = service.execution(arn).journal
    finally:
        service.store.close()
    names = {op.id: op.name for op in final}
    reported = [
        names[u.id]
        for request in journal
        for u in request.updates
        if u.error is not None and u.error.type == StepInterruptedError.wire_type
    ]
    started = sorted(
        op.name or ""
        for op in at_kill
        if op.type is OperationType.STEP
        and op.status is OperationStatus.STARTED
        and (op.name or "").startswith(AT_MOST_ONCE)
    )
    assert sorted(reported) == started, f"{case.id}: STARTED at the kill: {started}"
    assert set(case.interrupted) <= set(started)
    for request in journal:
        for u in request.updates:
            if u.error is not None and u.error.type == StepInterruptedError.wire_type:
                assert u.action is OperationAction.RETRY
    steps = [op for op in final if op.type is OperationType.STEP]
    assert all(op.status is OperationStatus.SUCCEEDED for op in steps)
    report.count(f"SIGKILL: {case.pause.split(':')[0]}")
