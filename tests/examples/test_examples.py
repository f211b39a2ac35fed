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
    stored = result.get_context("enrich").result  # the summary envelope, as plain JSON
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


FLAKY = {"inventory": [503], "payments": [500, 429], "shipping": [502, 504, 503]}


def test_multi_service_retries_each_service_with_its_own_policy() -> None:
    """Each service fails as the fault plan says and its step retries until it
    answers: 2, 3 and 4 attempts, each retry a new invocation."""
    module = load("multi_service")
    result = run(module["place_order"], {"order": {"id": "o-1", "amount": 3}, "faults": FLAKY})
    assert result.succeeded, result.error
    assert result.result["attempts"] == {"reserve-stock": 2, "charge-card": 3, "book-courier": 4}
    assert result.result["tracking"] == "TRACK-O-1"
    assert result.get_step("reserve-stock").attempts == 2
    assert result.get_step("charge-card").attempts == 3
    assert result.get_step("book-courier").attempts == 4
    assert result.invocations == 1 + 1 + 2 + 3
    assert [(service, attempt) for service, attempt, _ in module["CALLS"]] == [
        ("inventory", 1),
        ("inventory", 2),
        ("payments", 1),
        ("payments", 2),
        ("payments", 3),
        ("shipping", 1),
        ("shipping", 2),
        ("shipping", 3),
        ("shipping", 4),
    ]
    # Virtual time between first attempt and success: the custom strategy's
    # 10 s + 20 s, and the fixed preset's three one-minute pauses.
    charge = result.get_step("charge-card")
    courier = result.get_step("book-courier")
    assert charge.start_timestamp is not None and charge.end_timestamp is not None
    assert courier.start_timestamp is not None and courier.end_timestamp is not None
    assert (charge.end_timestamp - charge.start_timestamp).total_seconds() == 30
    assert (courier.end_timestamp - courier.start_timestamp).total_seconds() == 180


def test_multi_service_does_not_retry_a_declined_card() -> None:
    """A 402 from payments is not retried: one attempt, and the execution fails
    with OrderFailedError naming the step; shipping is never called."""
    module = load("multi_service")
    result = run(
        module["place_order"], {"order": {"id": "o-2", "amount": 3}, "faults": {"payments": [402]}}
    )
    assert not result.succeeded
    assert result.get_step("charge-card").attempts == 1
    assert result.get_step("charge-card").status is OperationStatus.FAILED
    assert result.get_operations("book-courier") == []
    assert result.invocations == 1
    assert result.error is not None
    assert (result.error.type or "").endswith("OrderFailedError")
    assert result.error.message == (
        "order o-2: step 'charge-card' gave up: payments answered 402 Payment Required"
    )
    assert [service for service, _, _ in module["CALLS"]] == ["inventory", "payments"]


@pytest.mark.parametrize(
    ("faults", "step", "attempts"),
    [
        ({"inventory": [503] * 9}, "reserve-stock", 3),  # RetryPresets.transient()
        ({"payments": [500] * 9}, "charge-card", 5),  # the custom strategy's cap
        ({"payments": [429, 503, 400]}, "charge-card", 3),  # 4xx ends it, 429 does not
        ({"shipping": [502] * 9}, "book-courier", 5),  # RetryPresets.fixed()
    ],
)
def test_multi_service_gives_up_when_a_policy_says_so(
    faults: dict[str, list[int]], step: str, attempts: int
) -> None:
    """A service that keeps failing exhausts its step's own retry policy; the
    execution's error names that step."""
    module = load("multi_service")
    result = run(module["place_order"], {"order": {"id": "o-3", "amount": 1}, "faults": faults})
    assert not result.succeeded
    assert result.get_step(step).attempts == attempts
    assert result.error is not None and f"step {step!r} gave up" in (result.error.message or "")


def test_multi_service_payment_policy_decisions() -> None:
    """The custom strategy: no retry for 4xx (but 429), doubling delays, 5 attempts."""
    module = load("multi_service")
    decide, error = module["payments_retry"], module["ServiceError"]
    assert not decide(error("payments", 402), 1).should_retry
    assert not decide(error("payments", 404), 1).should_retry
    assert decide(error("payments", 429), 1).delay_seconds == 10
    assert decide(error("payments", 500), 3).delay_seconds == 40
    assert not decide(error("payments", 500), 5).should_retry
    assert decide(TimeoutError("no answer"), 1).should_retry


def test_the_trial_subscription_spans_thirty_days_of_virtual_time() -> None:
    """Welcome on day 0, reminder on day 7, charge on day 30: three invocations."""
    from datetime import timedelta

    from durable.testing import LocalRunner

    module = load("long_running_job")
    customer = {"id": "c-9", "email": "x@example.com", "price": 9.0}
    runner = LocalRunner(module["trial_subscription"])
    started = runner.clock.now()
    result = runner.run({"customer": customer})
    assert result.succeeded, result.error
    assert result.result == {
        "customer": "c-9",
        "outcome": "subscribed",
        "detail": {"invoice": "inv-c-9-1", "amount": 9.0},
    }
    assert runner.clock.now() - started >= timedelta(days=30)
    assert result.invocations == 3
    days = {row["operation"]: row["end_day"] for row in module["timeline"](result, started)}
    assert days == {
        "send_welcome": 0,
        "first-week": 7,
        "send_reminder": 7,
        "rest-of-trial": 30,
        "check_cancellation": 30,
        "charge_first_month": 30,
    }
    first_week = result.get_wait("first-week")
    assert first_week.start_timestamp is not None and first_week.end_timestamp is not None
    assert first_week.end_timestamp - first_week.start_timestamp == timedelta(days=7)


def test_a_trial_cancelled_in_time_closes_the_account() -> None:
    """A customer who cancelled on day 12 is not charged on day 30."""
    from datetime import timedelta

    from durable.testing import LocalRunner

    module = load("long_running_job")
    customer = {"id": "c-8", "email": "y@example.com", "price": 9.0, "cancels_on_day": 12}
    runner = LocalRunner(module["trial_subscription"])
    started = runner.clock.now()
    result = runner.run({"customer": customer})
    assert result.result == {
        "customer": "c-8",
        "outcome": "cancelled",
        "detail": "account c-8 closed",
    }
    assert result.get_operations("charge_first_month") == []
    closed = result.get_step("close_account")
    assert closed.end_timestamp is not None
    assert closed.end_timestamp - started == timedelta(days=30)
    assert result.invocations == 3


TRIP = {"to": "Oslo", "date": "2025-06-01"}


def test_the_travel_saga_books_everything_and_undoes_nothing() -> None:
    module = load("travel_saga")
    result = run(module["book_trip"], {"trip": TRIP})
    assert result.result == {
        "status": "booked",
        "bookings": ["flight-oslo-2025-06-01", "hotel-oslo-2025-06-01", "car-oslo-2025-06-01"],
    }
    assert result.get_operations("compensate") == []
    assert module["LEDGER"] == ["book flight", "book hotel", "book car"]


@pytest.mark.parametrize(
    ("fail_at", "undone"),
    [
        ("flight", []),
        ("hotel", ["cancel-flight"]),
        ("car", ["cancel-hotel", "cancel-flight"]),
    ],
)
def test_a_failed_booking_undoes_the_earlier_ones_in_reverse(
    fail_at: str, undone: list[str]
) -> None:
    """The booking that fails stops the trip; what was booked before it is
    cancelled, last booked first, each cancellation a step of the saga's context."""
    module = load("travel_saga")
    result = run(module["book_trip"], {"trip": TRIP, "fail_at": fail_at})
    assert result.succeeded, result.error
    assert result.result == {
        "status": "not booked",
        "failed": f"book-{fail_at}",
        "reason": f"no {fail_at} left for Oslo on 2025-06-01",
        "compensation": {"compensated": undone, "failed": []},
    }
    assert result.get_step(f"book-{fail_at}").attempts == 1  # sold out is not retried
    compensate = result.get_context("compensate")
    assert compensate.sub_type == "Saga"
    assert [op.name for op in compensate.children] == undone
    assert all(op.succeeded for op in compensate.children)
    order = ["flight", "hotel", "car"]
    booked = order[: order.index(fail_at) + 1]
    cancelled = [f"cancel {u.removeprefix('cancel-')}-oslo-2025-06-01 (attempt 1)" for u in undone]
    assert module["LEDGER"] == [f"book {what}" for what in booked] + cancelled


def test_a_cancellation_that_keeps_failing_fails_the_trip_with_the_report() -> None:
    """The hotel cannot be cancelled: its undo is tried three times, the flight
    is still cancelled, and the execution fails with a CompensationError."""
    module = load("travel_saga")
    event = {"trip": TRIP, "fail_at": "car", "cancel_fails": ["hotel"]}
    result = run(module["book_trip"], event)
    assert not result.succeeded
    assert result.error is not None
    assert result.error.type == "durable.saga.CompensationError"
    message = result.error.message or ""
    assert "cancel-hotel" in message and "could not cancel hotel-oslo-2025-06-01" in message
    assert message.endswith("undone: cancel-flight")
    assert result.get_step("cancel-hotel").attempts == 3
    assert result.get_step("cancel-hotel").status is OperationStatus.FAILED
    assert result.get_step("cancel-flight").succeeded
    assert module["LEDGER"][3:] == [
        "cancel hotel-oslo-2025-06-01 (attempt 1)",
        "cancel hotel-oslo-2025-06-01 (attempt 2)",
        "cancel hotel-oslo-2025-06-01 (attempt 3)",
        "cancel flight-oslo-2025-06-01 (attempt 1)",
    ]


def test_chained_invokes_reach_a_plain_and_a_durable_target() -> None:
    """checkout invokes price-quote (one call) and issue-invoice (a child
    execution with a wait); both are CHAINED_INVOKE operations in the log."""
    from durable.model import OperationAction, OperationType

    module = load("chained_invoke")
    runner = module["make_runner"]()
    result = runner.run({"customer": "zed", "items": {"lamp": 1, "pen": 2}})
    assert result.succeeded, result.error
    assert result.result == {"status": "invoiced", "total": 32.5, "invoice": "INV-ZED-0001"}
    invokes = result.get_operations(type="CHAINED_INVOKE")
    assert [op.name for op in invokes] == ["quote", "invoice"]
    assert all(op.succeeded for op in invokes)
    assert result.get_invoke("quote").result == {"lines": {"lamp": 30.0, "pen": 2.5}, "total": 32.5}
    assert result.get_invoke("invoice").result == {
        "number": "INV-ZED-0001",
        "total": 32.5,
        "pdf": "s3://invoices/INV-ZED-0001.pdf",
    }
    starts = [
        u
        for request in result.requests
        for u in request.updates
        if u.type is OperationType.CHAINED_INVOKE and u.action is OperationAction.START
    ]
    assert [u.chained_invoke_options.function_name for u in starts if u.chained_invoke_options] == [
        "price-quote",
        "issue-invoice",
    ]
    assert json.loads(starts[1].payload or "") == {"customer": "zed", "total": 32.5}
    assert result.invocations == 3  # start, after the quote, after the invoice

    child_arn = runner.service.execution(result.arn).children[result.get_invoke("invoice").id]
    child = runner.result(child_arn)
    assert child.succeeded and child.result == result.get_invoke("invoice").result
    assert child.get_wait("review").succeeded
    assert [op.name for op in child.operations] == ["allocate_number", "review", "render_invoice"]


def test_a_failing_plain_target_is_an_invoke_error_for_the_caller() -> None:
    """price-quote raises for an unknown item: the invoke fails with its error
    and checkout, catching InvokeError, rejects the cart without invoicing."""
    module = load("chained_invoke")
    result = module["make_runner"]().run({"customer": "zed", "items": {"kettle": 1}})
    assert result.result == {"status": "rejected", "reason": "no price for kettle"}
    quote = result.get_invoke("quote")
    assert quote.status is OperationStatus.FAILED
    assert quote.error is not None and quote.error.type == "ValueError"
    assert result.get_operations("invoice") == []


@pytest.mark.parametrize(
    "name",
    [
        "greeting",
        "order_processing",
        "three_styles",
        "human_approval",
        "polling",
        "data_pipeline",
        "multi_service",
        "long_running_job",
        "travel_saga",
        "chained_invoke",
    ],
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
