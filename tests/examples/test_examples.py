"""Each example runs end to end and does what its docstring says."""

from __future__ import annotations

import json
import runpy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from durable.model import OperationStatus
from durable.testing import run

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def load(name: str) -> dict[str, Any]:
    return runpy.run_path(str(EXAMPLES / f"{name}.py"), run_name="example")


def test_greeting_greets_waits_and_counts() -> None:
    """The greeting workflow returns the greeting and its length after one wait."""
    module = load("greeting")
    result = run(module["greeting"], {"name": "Ada"})
    assert result.result == [{"msg": "Hello Ada"}, 9]
    assert result.get_wait("pause").status is OperationStatus.SUCCEEDED
    assert result.invocations == 2


def test_order_processing_retries_the_charge_then_ships() -> None:
    """The charge fails twice, succeeds on attempt 3, and the order ships."""
    module = load("order_processing")
    result = run(module["process_order"], {"order_id": "o-1", "amount": 5})
    assert result.result == {
        "status": "shipped",
        "payment": {"payment_id": "pay-o-1", "amount": 5.0, "attempt": 3},
        "tracking": "TRACK-O-1",
    }
    assert result.get_step("charge-card").attempts == 3
    assert result.get_wait("cool-off").status is OperationStatus.SUCCEEDED


def test_order_processing_reports_an_invalid_order() -> None:
    """A non-positive amount fails validation at once (no retries) and fails the execution."""
    module = load("order_processing")
    result = run(module["process_order"], {"order_id": "o-2", "amount": 0})
    assert not result.succeeded
    assert result.get_step("validate_order").attempts == 1
    assert result.error is not None and "no positive amount" in (result.error.message or "")


@pytest.mark.parametrize("style", ["process_order", "process_order_async"])
def test_both_styles_of_order_processing_write_the_same_log(style: str) -> None:
    """The yield and await versions send identical checkpoint requests."""
    module = load("order_processing")
    reference = run(module["process_order"], {"order_id": "o-3", "amount": 1})
    other = run(module[style], {"order_id": "o-3", "amount": 1})
    assert [r.updates for r in other.requests] == [r.updates for r in reference.requests]


def test_the_three_styles_write_the_same_log() -> None:
    """Generator, coroutine and imperative trips leave identical checkpoint logs."""
    module = load("three_styles")
    results = [run(workflow, {"to": "Porto"}) for workflow in module["STYLES"].values()]
    assert {str(r.result) for r in results} == {
        str({"price": 200.0, "booking": ["hotel in Porto", "car in Porto"], "status": "confirmed"})
    }
    logs = [[r.updates for r in result.requests] for result in results]
    assert logs[0] == logs[1] == logs[2]


def test_human_approval_follows_each_answer() -> None:
    """Approval, rejection and silence each lead to their recorded decision."""
    from durable.testing import LocalRunner

    module = load("human_approval")
    report = {"id": "r1", "amount": 500, "manager": "m@example.com"}

    runner = LocalRunner(module["approve_expense"])
    pending = runner.run({"report": report})
    assert pending.status.value == "PENDING"
    callback = pending.get_callback("manager-approval")
    assert callback.callback_id == module["OUTBOX"][-1]["callback_id"]
    done = runner.send_callback_success(callback.callback_id or "", '{"note": "ok"}')
    assert done.result == {"report": "r1", "decision": "approved", "note": "ok"}

    runner = LocalRunner(module["approve_expense"])
    pending = runner.run({"report": report})
    timed_out = runner.advance(pending.arn, 25 * 3600)
    assert timed_out.result["decision"] == "escalated"

    small = run(module["approve_expense"], {"report": {**report, "amount": 20}})
    assert small.result["decision"] == "auto-approved"


def test_polling_checks_until_the_job_is_done() -> None:
    """The job needs six checks; each is one attempt of the polling step."""
    module = load("polling")
    result = run(module["render_report"], {"report": "t"})
    assert result.result == {"job": "job-t", "checks": 6, "location": "s3://reports/job-t.pdf"}
    assert result.get_operation("wait-for-job").attempts == 6
    assert result.invocations == 6


def test_the_data_pipeline_tolerates_broken_profiles_and_replays_without_work() -> None:
    """3,000 users, 1 in 37 broken: 81 failures stay under the 10 % tolerance;
    the batch result is too large to store, so the map keeps a summary; a
    replay of the finished log rebuilds everything and runs no step body."""
    from durable.core import Finish, Replay, RunStep, Value
    from durable.testing._service import EPOCH

    module = load("data_pipeline")
    result = run(module["pipeline"], {"users": 3000})
    assert result.succeeded, result.error
    assert result.result == {
        "users": 3000,
        "enriched": 2919,
        "gold": 292,
        "failed": [36, 73, 110, 147, 184],
        "failures": 81,
        "completion": "ALL_COMPLETED",
        "orders": 12345,
        "invoices": 11987,
    }
    assert result.invocations == 1
    stored = json.loads(result.get_context("enrich").result)  # the summary envelope
    assert stored["summary"] == "2919 enriched, 81 failed"
    assert stored["failureCount"] == 81 and stored["totalCount"] == 3000
    failed = [op for op in result.all_operations() if op.status is OperationStatus.FAILED]
    assert len(failed) == 2 * 81  # each broken user: its step and its branch

    replay = Replay(module["pipeline"].fn, {"users": 3000}, result.log, EPOCH)
    actions = replay.next_actions()
    assert not any(isinstance(a, RunStep) for a in actions)
    end = actions[-1]
    assert isinstance(end, Finish) and isinstance(end.outcome, Value)
    assert end.outcome.value == result.result


def test_a_tolerance_of_one_percent_stops_the_pipeline_early() -> None:
    """With 2.7 % broken profiles a 1 % tolerance is exceeded: the map stops
    starting users and the summary says why."""
    module = load("data_pipeline")
    result = run(module["pipeline"], {"users": 3000, "max_failure_percent": 1})
    assert result.succeeded
    assert result.result["completion"] == "FAILURE_TOLERANCE_EXCEEDED"
    assert result.result["failures"] == 31  # 31 / 3000 is the first count above 1 %
    assert result.result["users"] == 3000 and result.result["enriched"] < 3000


@pytest.mark.parametrize(
    "name",
    ["greeting", "order_processing", "three_styles", "human_approval", "polling", "data_pipeline"],
)
def test_examples_run_as_scripts(name: str) -> None:
    """`python examples/<name>.py` exits 0 and prints the execution's outcome."""
    out = subprocess.run(
        [sys.executable, str(EXAMPLES / f"{name}.py")],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    assert "execution SUCCEEDED" in out or "approved:" in out
