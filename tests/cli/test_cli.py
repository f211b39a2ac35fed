"""The ``durable`` command line: run, resume, history, callback, list, errors."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from durable.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE, EXIT_WAITING
from durable.gate import load_log
from durable.model import OperationStatus, OperationType
from durable.testing._sqlite import SqliteStore
from tests.cli.conftest import Project

WORKFLOWS = """
import durable
from durable import Duration, JitterStrategy, RetryStrategyConfig, StepConfig
from durable import create_retry_strategy


@durable.workflow
def approval(event, ctx):
    quote = yield ctx.step(lambda s: {"amount": event["amount"] * 2}, name="quote")
    callback = yield ctx.create_callback(name="manager")
    try:
        decision = yield callback.result()
    except Exception as exc:
        return {"quote": quote, "decision": "rejected", "why": type(exc).__name__}
    return {"quote": quote, "decision": decision}


def flaky(step_ctx):
    if step_ctx.attempt < 2:
        raise RuntimeError("not yet")
    return "done"


RETRY = create_retry_strategy(
    RetryStrategyConfig(
        max_attempts=3, initial_delay=Duration.from_seconds(30),
        jitter_strategy=JitterStrategy.NONE,
    )
)


@durable.workflow
def patient(event, ctx):
    first = yield ctx.step(lambda s: "first", name="first")
    yield ctx.wait(Duration.from_hours(2), name="long-wait")
    second = yield ctx.step(flaky, name="flaky", config=StepConfig(retry_strategy=RETRY))
    return [first, second]


@durable.workflow
def broken(event, ctx):
    yield ctx.step(lambda s: 1, name="fine")
    raise ValueError("the workflow gave up")


def plain(event, ctx):
    return 1


NOT_A_WORKFLOW = 42
"""


@pytest.fixture
def wf(project: Project) -> str:
    return project.module(WORKFLOWS)


def callback_id_of(output: str) -> str:
    match = re.search(r"waiting for callback (\S+) \(manager\)", output)
    assert match is not None, output
    return match.group(1)


def test_run_virtual_time_subprocess_prints_timeline_and_result(project: Project, wf: str) -> None:
    done = project.spawn("run", f"{wf}:patient", "--virtual-time", "--name", "p1", timeout=30)

    assert done.code == EXIT_OK, done.err
    lines = done.out.splitlines()
    events = [line for line in lines if re.match(r"\d\d:\d\d:\d\d\.\d{3}  ", line)]
    text = "\n".join(events)
    # one line per event: time, name, type, id prefix, what happened
    assert re.search(r"first\s+STEP\s+[0-9a-f]{8}\s+running attempt 1", text)
    assert re.search(r"first\s+STEP\s+[0-9a-f]{8}\s+succeeded: \"first\"", text)
    assert re.search(r"long-wait\s+WAIT\s+[0-9a-f]{8}\s+waiting 7200s", text)
    assert re.search(r"long-wait\s+WAIT\s+[0-9a-f]{8}\s+wait over", text)
    assert re.search(r"flaky\s+STEP\s+[0-9a-f]{8}\s+attempt 1 failed .*not yet.*retry at", text)
    assert re.search(r"flaky\s+STEP\s+[0-9a-f]{8}\s+running attempt 2", text)
    assert re.search(r"flaky\s+STEP\s+[0-9a-f]{8}\s+succeeded: \"done\"", text)
    assert text.index("running attempt 1") < text.index("wait over") < text.index("retry at")
    assert "execution p1 SUCCEEDED" in done.out
    assert 'result: ["first", "done"]' in done.out
    # The default store is ./.durable/durable.db, and it holds the execution.
    with SqliteStore(project.root / ".durable" / "durable.db", create=False) as store:
        (stored,) = store.executions()
    assert stored.name == "p1"
    assert stored.workflow == f"{wf}:patient"
    assert stored.result == '["first", "done"]'


def test_callback_success_continues_the_run(project: Project, wf: str) -> None:
    run = project.cli("run", f"{wf}:approval", "--input", '{"amount": 21}', "--name", "a1")
    assert run.code == EXIT_WAITING, run.err
    callback_id = callback_id_of(run.out)
    assert f"durable callback a1 {callback_id}" in run.out

    listing = project.cli("list")
    assert listing.code == EXIT_OK
    (row,) = [line for line in listing.out.splitlines() if line.startswith("a1 ")]
    assert "RUNNING" in row and f"{wf}:approval" in row

    answer = project.cli("callback", "a1", callback_id, "--success", '"yes"')
    assert answer.code == EXIT_OK, answer.err
    assert "answered: success" in answer.out
    assert "execution a1 SUCCEEDED" in answer.out
    result = json.loads(answer.out.split("result: ", 1)[1].splitlines()[0])
    assert result == {"quote": {"amount": 42}, "decision": '"yes"'}

    again = project.cli("callback", "a1", callback_id, "--success", "1")
    assert again.code == EXIT_USAGE
    assert "CallbackTimeoutException" in again.err and callback_id in again.err


def test_callback_by_name_failure_and_no_resume(project: Project, wf: str) -> None:
    store = str(project.root / "custom.db")
    run = project.cli("run", f"{wf}:approval", "--input", '{"amount": 1}', "--store", store)
    assert run.code == EXIT_WAITING
    name = re.search(r"execution (\S+) \(", run.out).group(1)  # type: ignore[union-attr]

    recorded = project.cli(
        "callback", name, "manager", "--failure", "no budget", "--error-type", "Budget",
        "--no-resume", "--store", store,
    )  # fmt: skip
    assert recorded.code == EXIT_OK, recorded.err
    assert f"durable resume {name}" in recorded.out
    with SqliteStore(store, create=False) as db:
        ops = db.load_operations(db.resolve(name).arn)
    (callback,) = [op for op in ops if op.type is OperationType.CALLBACK]
    assert callback.status is OperationStatus.FAILED
    assert callback.error is not None and callback.error.type == "Budget"
    assert callback.error.message == "no budget"

    resumed = project.cli("resume", name, "--store", store)
    assert resumed.code == EXIT_OK, resumed.err
    assert '"decision": "rejected"' in resumed.out
    assert not (project.root / ".durable").exists()  # --store was honoured throughout

    finished = project.cli("resume", name, "--store", store)
    assert finished.code == EXIT_OK
    assert f"execution {name} already SUCCEEDED" in finished.out


def test_store_from_environment(project: Project, wf: str, monkeypatch: pytest.MonkeyPatch) -> None:
    store = project.root / "env" / "store.db"
    monkeypatch.setenv("DURABLE_STORE", str(store))
    assert project.cli("run", f"{wf}:patient", "--virtual-time").code == EXIT_OK
    assert store.exists()
    assert "execution-1" in project.cli("list").out
    assert not (project.root / ".durable").exists()


def test_history_table_and_json(project: Project, wf: str) -> None:
    assert project.cli("run", f"{wf}:patient", "--virtual-time", "--name", "h1").code == EXIT_OK

    table = project.cli("history", "h1")
    assert table.code == EXIT_OK
    lines = table.out.splitlines()
    assert lines[0] == "execution h1: SUCCEEDED"
    header = next(line for line in lines if line.startswith("ID "))
    for column in ("PARENT", "TYPE", "SUB-TYPE", "NAME", "STATUS", "ATTEMPT", "STARTED", "ENDED"):
        assert column in header
    rows = lines[lines.index(header) + 1 :]
    assert [row.split()[4] for row in rows] == ["first", "long-wait", "flaky"]
    flaky = rows[2].split()
    assert flaky[2:7] == ["STEP", "Step", "flaky", "SUCCEEDED", "2"]
    assert rows[2].endswith('"done"')

    document = project.cli("history", "h1", "--json")
    assert document.code == EXIT_OK
    data = json.loads(document.out)
    assert data["Status"] == "SUCCEEDED" and data["Name"] == "h1"
    assert [op.get("Name") for op in data["Operations"]] == ["h1", "first", "long-wait", "flaky"]

    target = project.root / "h1.json"
    written = project.cli("history", "h1", "--json", "--output", str(target))
    assert written.code == EXIT_OK
    log = load_log(target)  # what the replay gate reads
    assert log.arn == data["DurableExecutionArn"]
    assert [op.name for op in log.operations] == ["h1", "first", "long-wait", "flaky"]
    assert log.decode_input() == {}


def test_failed_workflow_exits_one(project: Project, wf: str) -> None:
    done = project.cli("run", f"{wf}:broken", "--input", "[1, 2]")
    assert done.code == EXIT_FAILED
    assert "execution execution-1 FAILED" in done.out
    assert "the workflow gave up" in done.out


def test_input_from_file(project: Project, wf: str) -> None:
    (project.root / "input.json").write_text('{"amount": 5}')
    run = project.cli("run", f"{wf}:approval", "--input", "@input.json")
    assert run.code == EXIT_WAITING
    assert '{"amount": 10}' in run.out


def test_execution_references(project: Project, wf: str) -> None:
    for name in ("alpha-1", "alpha-2"):
        assert project.cli("run", f"{wf}:patient", "--virtual-time", "--name", name).code == 0
    with SqliteStore(project.root / ".durable" / "durable.db") as store:
        arn = store.resolve("alpha-2").arn
    by_arn = project.cli("history", arn)
    by_prefix = project.cli("history", arn[:-20])
    by_id = project.cli("history", arn.rsplit("/", 1)[-1][:8])
    assert by_arn.out == by_prefix.out == by_id.out
    assert by_arn.out.startswith("execution alpha-2: SUCCEEDED")

    ambiguous = project.cli("history", "alpha")
    assert ambiguous.code == EXIT_USAGE
    assert "matches 2 executions" in ambiguous.err
    assert "alpha-1" in ambiguous.err and "alpha-2" in ambiguous.err

    unknown = project.cli("resume", "nope")
    assert unknown.code == EXIT_USAGE
    assert "no execution matches 'nope'" in unknown.err

    duplicate = project.cli("run", f"{wf}:patient", "--name", "alpha-1")
    assert duplicate.code == EXIT_USAGE
    assert "already exists" in duplicate.err


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("{wf}", "is not MODULE:WORKFLOW"),
        ("no_such_module_xyz:wf", "no module named 'no_such_module_xyz'"),
        ("{wf}:missing", "has no attribute 'missing'; its workflows: approval, broken, patient"),
        ("{wf}:NOT_A_WORKFLOW", "is a int, not a durable workflow"),
        ("{wf}:plain", "is a function, not a durable workflow"),
    ],
)
def test_workflow_errors(project: Project, wf: str, spec: str, message: str) -> None:
    done = project.cli("run", spec.format(wf=wf))
    assert done.code == EXIT_USAGE
    assert message in done.err
    assert done.err.startswith("durable: error: ")


def test_module_that_fails_to_import(project: Project) -> None:
    name = project.module("import durable\nraise RuntimeError('boom at import')\n")
    done = project.cli("run", f"{name}:wf")
    assert done.code == EXIT_USAGE
    assert f"importing '{name}' failed: RuntimeError: boom at import" in done.err


def test_other_usage_errors(project: Project, wf: str) -> None:
    bad_json = project.cli("run", f"{wf}:patient", "--input", "{nope")
    assert bad_json.code == EXIT_USAGE and "--input is not valid JSON" in bad_json.err

    no_store = project.cli("history", "x")
    assert no_store.code == EXIT_USAGE and "no store at" in no_store.err

    empty = project.cli("list")
    assert empty.code == EXIT_OK and "no executions" in empty.out

    assert project.cli("callback", "x", "y").code == EXIT_USAGE  # an answer is required
    assert project.cli().code == EXIT_USAGE
    assert project.cli("--help").code == EXIT_OK

    run = project.cli("run", f"{wf}:approval", "--input", '{"amount": 1}')
    assert run.code == EXIT_WAITING
    wrong = project.cli("callback", "execution-1", "zzz", "--success", "1")
    assert wrong.code == EXIT_USAGE
    assert "no callback 'zzz'" in wrong.err and "manager" in wrong.err


def test_list_json(project: Project, wf: str) -> None:
    assert project.cli("run", f"{wf}:patient", "--virtual-time", "--name", "one").code == 0
    assert project.cli("run", f"{wf}:broken", "--name", "two").code == EXIT_FAILED
    items = json.loads(project.cli("list", "--json").out)
    assert [(i["Name"], i["Status"]) for i in items] == [("one", "SUCCEEDED"), ("two", "FAILED")]
    assert all(i["Workflow"].startswith(wf) for i in items)


def test_history_json_of_waiting_execution_round_trips(project: Project, wf: str) -> None:
    assert project.cli("run", f"{wf}:approval", "--input", '{"amount": 3}').code == EXIT_WAITING
    path = Path(project.root / "waiting.json")
    assert project.cli("history", "execution-1", "--json", "-o", str(path)).code == EXIT_OK
    log = load_log(path)
    statuses = {op.name: op.status for op in log.operations}
    assert statuses["manager"] is OperationStatus.STARTED
    assert log.decode_input() == {"amount": 3}
