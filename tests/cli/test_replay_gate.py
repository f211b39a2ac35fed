"""The replay gate: ``durable replay`` and ``durable.gate.check_replay``.

Logs are recorded with ``durable run`` (in-process) and ``durable history
--json``, then replayed against changed code.  Step bodies append to
``bodies.log``, so the tests can check that the gate never runs one.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import durable
from durable import gate
from durable.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE, EXIT_WAITING, load_workflow
from durable.core import branch_id, operation_id
from durable.gate import ExecutionLog, GateError, Verdict, check_replay, load_log
from durable.testing import LocalLambdaClient, LocalRunner, LocalService
from tests.cli.conftest import Project

WORKFLOWS = """
import durable
from durable import Duration
from durable.compat import DurableContext, durable_execution


def body(name, value):
    def run(step_ctx):
        with open("bodies.log", "a") as log:
            log.write(name + "\\n")
        return value
    return run


def kid(ctx):
    inner = yield ctx.step(body("kid-step", 10), name="kid-step")
    return inner


@durable.workflow
def v1(event, ctx):
    a = yield ctx.step(body("a", 1), name="a")
    b = yield ctx.step(body("b", 2), name="b")
    yield ctx.wait(Duration.from_seconds(30), name="w")
    k = yield ctx.run_in_child_context(kid, name="kid")
    c = yield ctx.step(body("c", 3), name="c")
    return a + b + k + c + event["base"]


@durable.workflow
def renamed(event, ctx):
    a = yield ctx.step(body("a", 1), name="a")
    b = yield ctx.step(body("b", 2), name="b2")
    yield ctx.wait(Duration.from_seconds(30), name="w")
    k = yield ctx.run_in_child_context(kid, name="kid")
    c = yield ctx.step(body("c", 3), name="c")
    return a + b + k + c


@durable.workflow
def inserted(event, ctx):
    a = yield ctx.step(body("a", 1), name="a")
    yield ctx.step(body("new", 0), name="new")
    b = yield ctx.step(body("b", 2), name="b")
    yield ctx.wait(Duration.from_seconds(30), name="w")
    k = yield ctx.run_in_child_context(kid, name="kid")
    c = yield ctx.step(body("c", 3), name="c")
    return a + b + k + c


@durable.workflow
def removed(event, ctx):
    a = yield ctx.step(body("a", 1), name="a")
    yield ctx.wait(Duration.from_seconds(30), name="w")
    k = yield ctx.run_in_child_context(kid, name="kid")
    c = yield ctx.step(body("c", 3), name="c")
    return a + k + c


@durable.workflow
def removed_last(event, ctx):
    a = yield ctx.step(body("a", 1), name="a")
    b = yield ctx.step(body("b", 2), name="b")
    yield ctx.wait(Duration.from_seconds(30), name="w")
    k = yield ctx.run_in_child_context(kid, name="kid")
    return a + b + k


@durable.workflow
def reordered(event, ctx):
    b = yield ctx.step(body("b", 2), name="b")
    a = yield ctx.step(body("a", 1), name="a")
    yield ctx.wait(Duration.from_seconds(30), name="w")
    k = yield ctx.run_in_child_context(kid, name="kid")
    c = yield ctx.step(body("c", 3), name="c")
    return a + b + k + c


@durable.workflow
def retyped(event, ctx):
    a = yield ctx.step(body("a", 1), name="a")
    b = yield ctx.step(body("b", 2), name="b")
    yield ctx.step(body("w", 0), name="w")
    k = yield ctx.run_in_child_context(kid, name="kid")
    c = yield ctx.step(body("c", 3), name="c")
    return a + b + k + c


@durable.workflow
def appended(event, ctx):
    total = yield from v1.fn(event, ctx)
    d = yield ctx.step(body("d", 4), name="d")
    return total + d


def kid_waits(ctx):
    inner = yield ctx.step(body("inside", 1), name="inside")
    answer = yield (yield ctx.create_callback(name="kid-cb")).result()
    return [inner, answer]


def kid_waits_renamed(ctx):
    inner = yield ctx.step(body("inside", 1), name="inside-renamed")
    answer = yield (yield ctx.create_callback(name="kid-cb")).result()
    return [inner, answer]


@durable.workflow
def held_child(event, ctx):
    first = yield ctx.step(body("first", 0), name="first")
    result = yield ctx.run_in_child_context(kid_waits, name="kid")
    return [first, result]


@durable.workflow
def held_child_renamed(event, ctx):
    first = yield ctx.step(body("first", 0), name="first")
    result = yield ctx.run_in_child_context(kid_waits_renamed, name="kid")
    return [first, result]


def item(ctx, x, index, items):
    y = yield ctx.step(body("item", x * 2), name="item")
    answer = yield (yield ctx.create_callback(name="item-cb")).result()
    return [y, answer]


def item_renamed(ctx, x, index, items):
    y = yield ctx.step(body("item", x * 2), name="item-renamed")
    answer = yield (yield ctx.create_callback(name="item-cb")).result()
    return [y, answer]


@durable.workflow
def held_map(event, ctx):
    a = yield ctx.step(body("a", 1), name="a")
    batch = yield ctx.map([1, 2], item, name="fan")
    return [a, batch.get_results()]


@durable.workflow
def held_map_renamed(event, ctx):
    a = yield ctx.step(body("a", 1), name="a")
    batch = yield ctx.map([1, 2], item_renamed, name="fan")
    return [a, batch.get_results()]


@durable.workflow
def held_map_more(event, ctx):
    result = yield from held_map.fn(event, ctx)
    yield ctx.step(body("after", 0), name="after")
    return result


@durable.workflow
def by_input(event, ctx):
    size = "big" if event["base"] > 50 else "small"
    done = yield ctx.step(body(size, 1), name=size)
    return done


@durable.workflow
def fails_now(event, ctx):
    yield from v1.fn(event, ctx)
    raise RuntimeError("a new bug")


@durable_execution
def imperative(event, context: DurableContext):
    a = context.step(body("a", 1), name="a")
    b = context.step(body("b", 2), name="b")
    return a + b


@durable_execution
def imperative_more(event, context: DurableContext):
    a = context.step(body("a", 1), name="a")
    b = context.step(body("b", 2), name="b")
    c = context.step(body("c", 3), name="c")
    return a + b + c


@durable_execution
def imperative_renamed(event, context: DurableContext):
    a = context.step(body("a", 1), name="a")
    b = context.step(body("b", 2), name="bee")
    return a + b
"""


def op(n: int, prefix: str | None = None) -> str:
    return operation_id(prefix, n)


class Recorded:
    """A workflow module with v1 executions recorded and saved as JSON."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self.mod = project.module(WORKFLOWS)

    def record(self, workflow: str, name: str, expect: int = EXIT_OK) -> Path:
        run = self.project.cli(
            "run", f"{self.mod}:{workflow}", "--virtual-time", "--name", name,
            "--input", '{"base": 100}',
        )  # fmt: skip
        assert run.code == expect, run.out + run.err
        path = self.project.root / f"{name}.json"
        assert self.project.cli("history", name, "--json", "-o", str(path)).code == EXIT_OK
        return path

    def bodies(self) -> int:
        log = self.project.root / "bodies.log"
        return len(log.read_text().split()) if log.exists() else 0

    def logged(self, path: Path) -> int:
        data = json.loads(path.read_text())
        return sum(1 for item in data["Operations"] if item["Type"] != "EXECUTION")


@pytest.fixture
def rec(project: Project) -> Recorded:
    return Recorded(project)


def test_unchanged_code_passes_and_runs_no_body(rec: Recorded) -> None:
    path = rec.record("v1", "base")
    ran = rec.bodies()
    assert ran == 4  # a, b, kid-step, c: once each, while recording

    done = rec.project.cli("replay", "--against", str(path), f"{rec.mod}:v1")

    assert done.code == EXIT_OK, done.err
    assert f"{path}: compatible\n" in done.out
    assert f"all {rec.logged(path)} logged operation(s) matched; the workflow returned" in done.out
    assert "1 execution(s): 1 compatible" in done.out
    assert rec.bodies() == ran


@pytest.mark.parametrize(
    ("variant", "position", "logged", "requested", "visited"),
    [
        ("renamed", 2, "STEP 'b' (sub-type 'Step')", "STEP 'b2' (sub-type 'Step')", 2),
        ("inserted", 2, "STEP 'b' (sub-type 'Step')", "STEP 'new' (sub-type 'Step')", 2),
        ("removed", 2, "STEP 'b' (sub-type 'Step')", "WAIT 'w' (sub-type 'Wait')", 2),
        ("reordered", 1, "STEP 'a' (sub-type 'Step')", "STEP 'b' (sub-type 'Step')", 1),
        ("retyped", 3, "WAIT 'w' (sub-type 'Wait')", "STEP 'w' (sub-type 'Step')", 3),
    ],
)
def test_changed_code_is_flagged_at_the_first_divergent_operation(
    rec: Recorded, variant: str, position: int, logged: str, requested: str, visited: int
) -> None:
    path = rec.record("v1", "base")
    ran = rec.bodies()

    done = rec.project.cli("replay", "--against", str(path), f"{rec.mod}:{variant}")

    assert done.code == EXIT_FAILED
    assert f"{path}: divergent" in done.out
    assert f"  operation: {op(position)}\n" in done.out
    assert f"  log holds: {logged}\n" in done.out
    assert f"  code asks: {requested}\n" in done.out
    remaining = rec.logged(path) - visited
    assert f"  remaining: {remaining} of {rec.logged(path)} logged operation(s) not visited" in (
        done.out
    )
    assert "1 divergent" in done.out
    assert rec.bodies() == ran


def test_removed_last_step_is_flagged_when_the_code_returns_early(rec: Recorded) -> None:
    path = rec.record("v1", "base")
    done = rec.project.cli("replay", "--against", str(path), f"{rec.mod}:removed_last")
    assert done.code == EXIT_FAILED
    assert f"  operation: {op(5)}\n" in done.out
    assert "  log holds: STEP 'c' (sub-type 'Step')\n" in done.out
    assert "  code asks: nothing (it returned)\n" in done.out
    assert "  remaining: 1 of 6 logged operation(s) not visited" in done.out
    assert "were operations removed" in done.out


def test_appended_step_is_compatible_with_more_work(rec: Recorded) -> None:
    path = rec.record("v1", "base")
    ran = rec.bodies()
    done = rec.project.cli("replay", "--against", str(path), f"{rec.mod}:appended")
    assert done.code == EXIT_OK, done.err
    assert f"{path}: compatible-more-work" in done.out
    assert f"(id {op(6)})" in done.out and "STEP 'd'" in done.out
    assert "1 compatible with more work" in done.out
    assert rec.bodies() == ran


def test_several_logs_report_each(rec: Recorded) -> None:
    first = rec.record("v1", "one")
    second = rec.record("v1", "two")
    done = rec.project.cli("replay", f"{rec.mod}:renamed", "--against", str(first), "two", "--json")
    assert done.code == EXIT_FAILED
    reports = json.loads(done.out)
    assert [r["Source"] for r in reports] == [str(first), "two"]  # a file, a stored execution
    assert {r["Verdict"] for r in reports} == {"divergent"}
    assert all(r["OperationId"] == op(2) for r in reports)
    assert reports[0]["Logged"] == {"Type": "STEP", "SubType": "Step", "Name": "b"}
    assert reports[0]["Requested"] == {"Type": "STEP", "SubType": "Step", "Name": "b2"}
    assert second.exists()


def test_directory_of_logs(rec: Recorded) -> None:
    rec.record("v1", "one")
    rec.record("v1", "two")
    logs = rec.project.root / "logs"
    logs.mkdir()
    for name in ("one", "two"):
        (rec.project.root / f"{name}.json").rename(logs / f"{name}.json")
    done = rec.project.cli("replay", "--against", str(logs), f"{rec.mod}:v1")
    assert done.code == EXIT_OK
    assert "2 execution(s): 2 compatible" in done.out


def test_pending_callback_in_a_child_context(rec: Recorded) -> None:
    path = rec.record("held_child", "held", expect=EXIT_WAITING)
    ran = rec.bodies()

    same = rec.project.cli("replay", "--against", str(path), f"{rec.mod}:held_child")
    assert same.code == EXIT_OK
    assert f"{path}: compatible\n" in same.out
    assert "the workflow waits where the log does" in same.out

    changed = rec.project.cli("replay", "--against", str(path), f"{rec.mod}:held_child_renamed")
    assert changed.code == EXIT_FAILED
    kid = op(2)
    assert f"  operation: {op(1, kid)}\n" in changed.out
    assert "  log holds: STEP 'inside'" in changed.out
    assert "  code asks: STEP 'inside-renamed'" in changed.out
    assert rec.bodies() == ran


def test_pending_map_branches(rec: Recorded) -> None:
    path = rec.record("held_map", "fan", expect=EXIT_WAITING)
    ran = rec.bodies()
    assert ran == 3  # a, and one item per branch

    same = rec.project.cli("replay", "--against", str(path), f"{rec.mod}:held_map")
    assert same.code == EXIT_OK and "compatible\n" in same.out

    later = rec.project.cli("replay", "--against", str(path), f"{rec.mod}:held_map_more")
    assert later.code == EXIT_OK
    assert f"{path}: compatible\n" in later.out  # it waits before reaching the new step

    changed = rec.project.cli("replay", "--against", str(path), f"{rec.mod}:held_map_renamed")
    assert changed.code == EXIT_FAILED
    first_branch = branch_id(op(2), 0)
    assert f"  operation: {op(1, first_branch)}\n" in changed.out
    assert "  log holds: STEP 'item'" in changed.out
    assert "  code asks: STEP 'item-renamed'" in changed.out
    assert rec.bodies() == ran


def test_input_comes_from_the_execution_operation(rec: Recorded) -> None:
    path = rec.record("by_input", "sized")  # input {"base": 100}: the 'big' step
    same = rec.project.cli("replay", "--against", str(path), f"{rec.mod}:by_input")
    assert same.code == EXIT_OK and f"{path}: compatible\n" in same.out

    document = json.loads(path.read_text())
    (execution,) = [item for item in document["Operations"] if item["Type"] == "EXECUTION"]
    execution["ExecutionDetails"]["InputPayload"] = '{"base": 1}'
    small = rec.project.root / "small.json"
    small.write_text(json.dumps(document))
    done = rec.project.cli("replay", "--against", str(small), f"{rec.mod}:by_input")
    assert done.code == EXIT_FAILED
    assert "  log holds: STEP 'big' (sub-type 'Step')\n" in done.out
    assert "  code asks: STEP 'small' (sub-type 'Step')\n" in done.out


def test_code_that_now_fails_on_a_succeeded_log(rec: Recorded) -> None:
    path = rec.record("v1", "base")
    done = rec.project.cli("replay", "--against", str(path), f"{rec.mod}:fails_now")
    assert done.code == EXIT_FAILED
    assert "the logged execution SUCCEEDED, but the code now fails" in done.out
    assert "RuntimeError: a new bug" in done.out

    # The logged execution failed the same way: nothing diverges.
    failed = rec.record("fails_now", "failed", expect=EXIT_FAILED)
    again = rec.project.cli("replay", "--against", str(failed), f"{rec.mod}:fails_now")
    assert again.code == EXIT_OK
    assert "every logged operation matched; the workflow fails with RuntimeError" in again.out


def test_log_formats(rec: Recorded) -> None:
    path = rec.record("v1", "base")
    document = json.loads(path.read_text())
    operations = document["Operations"]
    root = rec.project.root

    def as_boto3(item: dict[str, Any]) -> dict[str, Any]:
        out = dict(item)
        for key in ("StartTimestamp", "EndTimestamp"):
            if key in out:
                out[key] = datetime.fromtimestamp(out[key] / 1000, UTC)
        return out

    formats = {
        "state.json": {"Operations": operations, "NextMarker": ""},
        "event.json": {
            "DurableExecutionArn": document["DurableExecutionArn"],
            "CheckpointToken": "token",
            "InitialExecutionState": {"Operations": operations},
        },
        "list.json": operations,
        # boto3's answer dumped with default=str: timestamps become text
        "boto3.json": {"Operations": [as_boto3(item) for item in operations]},
    }
    for name, data in formats.items():
        (root / name).write_text(json.dumps(data, default=str))
    done = rec.project.cli("replay", "--against", *formats, f"{rec.mod}:renamed")
    assert done.code == EXIT_FAILED
    assert done.out.count(f"  operation: {op(2)}\n") == len(formats)

    (root / "bad.json").write_text('{"Executions": []}')
    bad = rec.project.cli("replay", "--against", "bad.json", f"{rec.mod}:v1")
    assert bad.code == EXIT_USAGE
    assert "bad.json: not a checkpoint log" in bad.err and "found Executions" in bad.err

    (root / "broken.json").write_text(json.dumps({"Operations": [{"Id": "x", "Type": "NOPE"}]}))
    broken = rec.project.cli("replay", "--against", "broken.json", f"{rec.mod}:v1")
    assert broken.code == EXIT_USAGE
    assert "broken.json: Operations[0]" in broken.err and "NOPE" in broken.err

    store = rec.project.cli("replay", "--against", ".durable/durable.db", f"{rec.mod}:v1")
    assert store.code == EXIT_USAGE and "is a SQLite database, not a JSON log" in store.err

    missing = rec.project.cli("replay", "--against", f"{rec.mod}:v1")
    assert missing.code == EXIT_USAGE and "name the workflow" in missing.err


def test_live_execution_through_boto3_shaped_client(
    rec: Recorded, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = LocalService(page_size=3)  # the state arrives in pages
    workflow = load_workflow(f"{rec.mod}:held_map")
    result = LocalRunner(workflow, service=service).run({"base": 1})
    assert result.execution_status.value == "RUNNING"
    # GetDurableExecutionState needs the token Lambda hands an invocation.
    token = service.begin_invocation(result.arn).checkpoint_token
    client = LocalLambdaClient(service)
    monkeypatch.setattr(gate, "lambda_client", lambda region=None, endpoint_url=None: client)

    same = rec.project.cli(
        "replay", "--against", result.arn, "--checkpoint-token", token, f"{rec.mod}:held_map"
    )
    assert same.code == EXIT_OK, same.err
    assert f"{result.arn}: compatible" in same.out
    assert client.state_calls >= 3

    changed = rec.project.cli(
        "replay", "--against", result.arn, "--checkpoint-token", token,
        f"{rec.mod}:held_map_renamed",
    )  # fmt: skip
    assert changed.code == EXIT_FAILED
    assert f"  operation: {op(1, branch_id(op(2), 0))}\n" in changed.out

    expired = rec.project.cli(
        "replay", "--against", result.arn, "--checkpoint-token", "stale", f"{rec.mod}:held_map"
    )
    assert expired.code == EXIT_USAGE
    assert "get_durable_execution_state failed" in expired.err
    assert "Invalid checkpoint token" in expired.err


@pytest.mark.interop
def test_live_execution_history_from_the_emulator(
    rec: Recorded, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("aws_durable_execution_sdk_python_testing.runner")
    from tests.integration.emulator import (
        DUMMY_AWS_ENVIRONMENT,
        UNSET_AWS_ENVIRONMENT,
        EmulatorHarness,
    )

    for name in UNSET_AWS_ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    for name, value in DUMMY_AWS_ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    v1 = load_workflow(f"{rec.mod}:v1")
    with EmulatorHarness() as harness:
        harness.register("orders", durable.workflow(boto3_client=harness.client)(v1.fn))
        run = harness.run("orders", {"base": 7})
        assert run.status == "SUCCEEDED" and run.result == 23
        url = harness.endpoint_url
        same = rec.project.cli(
            "replay", "--against", run.arn, "--live", "--endpoint-url", url, f"{rec.mod}:v1"
        )
        changed = rec.project.cli(
            "replay", "--against", run.arn, "--live", "--endpoint-url", url,
            f"{rec.mod}:reordered",
        )  # fmt: skip
    assert same.code == EXIT_OK, same.out + same.err
    assert "all 6 logged operation(s) matched; the workflow returned" in same.out
    assert changed.code == EXIT_FAILED
    assert f"  operation: {op(1)}\n" in changed.out


def test_python_api(rec: Recorded) -> None:
    path = rec.record("v1", "base")
    v1 = load_workflow(f"{rec.mod}:v1")
    log = load_log(path)
    seen: list[str] = []
    reports = check_replay(
        v1,
        [path, log, log.operations, json.loads(path.read_text())],
        on_report=lambda r: seen.append(r.source),
    )
    assert [r.verdict for r in reports] == [Verdict.COMPATIBLE] * 4
    assert all(r.passed and r.remaining == 0 for r in reports)
    assert seen == [str(path), str(path), "<log 2>", "<log 3>"]
    with pytest.raises(GateError, match="cannot read the file"):
        check_replay(v1, [rec.project.root / "nope.json"])


def test_imperative_workflows(rec: Recorded) -> None:
    workflow = load_workflow(f"{rec.mod}:imperative")
    result = LocalRunner(workflow).run({})
    log = ExecutionLog(source="imperative", operations=result.log)
    ran = rec.bodies()
    verdicts = {
        name: check_replay(load_workflow(f"{rec.mod}:{name}"), [log])[0]
        for name in ("imperative", "imperative_more", "imperative_renamed")
    }
    assert verdicts["imperative"].verdict is Verdict.COMPATIBLE
    assert verdicts["imperative_more"].verdict is Verdict.COMPATIBLE_MORE_WORK
    assert verdicts["imperative_more"].operation_id == op(3)
    assert verdicts["imperative_renamed"].verdict is Verdict.DIVERGENT
    assert verdicts["imperative_renamed"].operation_id == op(2)
    assert rec.bodies() == ran
    # The gate unwound the handler threads it left waiting for a step body.
    deadline = time.monotonic() + 5
    while any(t.name.startswith("durable-") for t in threading.enumerate()):
        assert time.monotonic() < deadline, [t.name for t in threading.enumerate()]
        time.sleep(0.01)
