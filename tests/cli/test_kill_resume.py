"""``durable run`` killed with SIGKILL mid-run, then ``durable resume``.

The run is a real subprocess; nothing in it is mocked.  Step bodies append
their name to ``steps.log``, so the test sees exactly which bodies ran, and
how often, across the two processes.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import durable
from durable import Duration, StepConfig, StepSemantics
from durable.cli import EXIT_OK, EXIT_USAGE
from durable.model import OperationStatus, OperationType
from durable.testing import LocalRunner
from durable.testing._sqlite import SqliteService, SqliteStore
from tests.cli.conftest import Project, subprocess_env

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")

WORKFLOWS = """
import os
import time

import durable
from durable import Duration


def body(name, value):
    def run(step_ctx):
        with open("steps.log", "a") as log:
            log.write(name + "\\n")
        if name == "slow" and not os.path.exists("slow.marker"):
            open("slow.marker", "w").close()
            time.sleep(60)  # killed here on the first run
        if name == "before-wait":
            open("wait.marker", "w").close()
        return value
    return run


@durable.workflow
def pipeline(event, ctx):
    one = yield ctx.step(body("one", 1), name="one")
    two = yield ctx.step(body("two", 2), name="two")
    slow = yield ctx.step(body("slow", 3), name="slow")
    four = yield ctx.step(body("four", 4), name="four")
    return {"total": event["base"] + one + two + slow + four}


@durable.workflow
def pausing(event, ctx):
    first = yield ctx.step(body("before-wait", "a"), name="before-wait")
    yield ctx.wait(Duration.from_seconds(2), name="pause")
    last = yield ctx.step(body("after-wait", "b"), name="after-wait")
    return first + last
"""

STORE = "run.db"


def start(project: Project, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "durable.cli", *args],
        cwd=project.root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=subprocess_env(),
    )


def wait_for(condition: str, check: object, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {condition}")
        time.sleep(0.02)


def kill(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)  # reaped: its claim on the execution is now stale
    assert process.returncode == -signal.SIGKILL


def steps(project: Project) -> Counter[str]:
    return Counter((project.root / "steps.log").read_text().split())


def result_of(output: str) -> object:
    return json.loads(output.split("result: ", 1)[1].splitlines()[0])


def test_killed_in_a_step_body_resumes_without_rerunning_checkpointed_steps(
    project: Project,
) -> None:
    wf = project.module(WORKFLOWS)
    run = start(project, "run", f"{wf}:pipeline", "--input", '{"base": 100}', "--name", "job",
                "--store", STORE)  # fmt: skip
    try:
        wait_for("the slow step", (project.root / "slow.marker").exists)
        # While the run is alive, nobody else may drive the execution.
        busy = project.spawn("resume", "job", "--store", STORE)
        assert busy.code == EXIT_USAGE
        assert f"being run by process {run.pid}" in busy.err
    finally:
        kill(run)
    assert steps(project) == Counter({"one": 1, "two": 1, "slow": 1})
    with SqliteStore(project.root / STORE, create=False) as store:
        stored = store.resolve("job")
        ops = {op.name: op for op in store.load_operations(stored.arn)}
    # The first two steps were committed before the third began.
    assert ops["one"].status is OperationStatus.SUCCEEDED
    assert ops["two"].status is OperationStatus.SUCCEEDED
    assert "four" not in ops

    resumed = project.spawn("resume", "job", "--store", STORE)

    assert resumed.code == EXIT_OK, resumed.err
    assert result_of(resumed.out) == {"total": 110}
    # Checkpointed steps did not run again; the step that was running when the
    # process died ran again (at least once), the rest once.
    assert steps(project) == Counter({"one": 1, "two": 1, "slow": 2, "four": 1})
    ran = re.findall(r"^\S+  (\S+)\s+STEP\s+[0-9a-f]{8}  running attempt", resumed.out, re.M)
    assert ran == ["slow", "four"]
    listing = project.spawn("list", "--store", STORE)
    assert "SUCCEEDED" in listing.out


def test_killed_during_a_real_time_wait_keeps_the_deadline(project: Project) -> None:
    wf = project.module(WORKFLOWS)
    began = time.monotonic()
    run = start(project, "run", f"{wf}:pausing", "--name", "nap", "--store", STORE)
    try:
        wait_for("the first step", (project.root / "wait.marker").exists)

        def wait_started() -> bool:
            with SqliteStore(project.root / STORE, create=False) as store:
                return any(op.name == "pause" for op in store.load_operations(
                    store.resolve("nap").arn))  # fmt: skip

        wait_for("the wait to be checkpointed", wait_started)
    finally:
        kill(run)

    resumed = project.spawn("resume", "nap", "--store", STORE)

    assert resumed.code == EXIT_OK, resumed.err
    assert result_of(resumed.out) == "ab"
    assert time.monotonic() - began >= 2.0  # the wait took real time, across the kill
    assert steps(project) == Counter({"before-wait": 1, "after-wait": 1})
    assert "wait over" in resumed.out


# -- the same, in-process, at every checkpoint ---------------------------------------


class _Died(KeyboardInterrupt):
    """The process died (only a KeyboardInterrupt escapes the local runner)."""


def _workflow(counts: Counter[str]) -> Any:
    def body(name: str, value: int) -> Callable[[Any], int]:
        def run(step_ctx: Any) -> int:
            counts[name] += 1
            return value

        return run

    def kid(ctx: Any) -> Any:
        return (yield ctx.step(body("kid", 10), name="kid"))

    def item(ctx: Any, x: int, index: int, items: Any) -> Any:
        return (yield ctx.step(body(f"item-{x}", x), name=f"item-{x}"))

    @durable.workflow
    def flow(event: Any, ctx: Any) -> Any:
        a = yield ctx.step(body("a", 1), name="a")
        yield ctx.wait(Duration.from_minutes(5), name="pause")
        k = yield ctx.run_in_child_context(kid, name="child")
        batch = yield ctx.map([100, 200, 300], item, name="fan")
        c = yield ctx.step(
            body("c", 1000),
            name="c",
            config=StepConfig(step_semantics=StepSemantics.AT_MOST_ONCE_PER_RETRY),
        )
        return a + k + sum(batch.get_results()) + c + event["base"]

    return flow


def test_killed_at_every_checkpoint_resumes_from_the_store(tmp_path: Path) -> None:
    counts: Counter[str] = Counter()
    clean = LocalRunner(_workflow(counts), service=SqliteService(tmp_path / "clean.db")).run(
        {"base": 5}
    )
    assert clean.result == 1 + 10 + 600 + 1000 + 5
    calls = clean.checkpoint_calls
    assert calls >= 5

    for call in range(1, calls + 1):
        for phase in ("before", "after"):
            path = tmp_path / f"crash-{call}-{phase}.db"
            counts = Counter()

            def fault(number: int, when: str, call: int = call, phase: str = phase) -> None:
                if number == call and when == phase:
                    raise _Died()

            service = SqliteService(path, fault=fault)
            runner = LocalRunner(_workflow(counts), service=service)
            with pytest.raises(_Died):
                runner.run({"base": 5})
            # What the service accepted (in memory) is exactly what the file holds.
            with SqliteStore(path, create=False) as check:
                (row,) = check.executions()
                accepted = service.execution(row.arn)
                assert check.load_operations(row.arn) == list(accepted.operations.values())
                journal = check.db.execute("SELECT COUNT(*) FROM journal").fetchone()[0]
                assert journal == len(accepted.journal)
            service.store.close()  # the process is gone; only the file is left
            del service, runner

            store = SqliteStore(path, create=False)
            (stored,) = store.executions()
            done_before = {
                op.name
                for op in store.load_operations(stored.arn)
                if op.type is OperationType.STEP and op.status is OperationStatus.SUCCEEDED
            }
            ran_before = Counter(counts)
            reopened = SqliteService(store)
            result = LocalRunner(_workflow(counts), service=reopened).resume(stored.arn)

            where = f"crash at checkpoint {call} ({phase})"
            assert result.result == clean.result, where
            for name in done_before:
                assert counts[name] == 1, f"{where}: {name} ran again"
            # A step the log had not completed ran at most once more (the
            # at-most-once step 'c', whose interrupted attempt is not re-run,
            # gets a second attempt from its retry strategy).
            assert all(counts[name] <= ran_before[name] + 1 for name in counts), where
            assert set(counts) == {"a", "kid", "item-100", "item-200", "item-300", "c"}, where
            store.close()
