"""DurableFunctionTestRunner: the local side of the one runner interface."""

from __future__ import annotations

import contextlib
import time
from typing import Any

import pytest

import durable
from durable import CallbackConfig, CallbackTimeoutError, Duration
from durable.testing import (
    DurableFunctionTestRunner,
    DurableTestRunner,
    ErrorObject,
    ExecutionStatus,
    InvocationStatus,
    OperationStatus,
    RunnerError,
)
from tests.testing.workflows import (
    PaymentDeclinedError,
    approval,
    declined_order,
    process_order,
    process_order_async,
    process_order_imperative,
)


def essence(result: Any) -> list[tuple[Any, ...]]:
    return [
        (op.id, op.name, op.type, op.sub_type, op.status, op.attempts, op.result)
        for op in result.all_operations()
    ]


def test_the_three_styles_run_alike() -> None:
    """Generator, coroutine and imperative handlers give the same result and operations."""
    results = []
    for handler in (process_order, process_order_async, process_order_imperative):
        with DurableFunctionTestRunner(handler) as runner:
            results.append(runner.run({"order_id": "o-7", "amount": 12}, timeout=5))
    first = results[0]
    assert first.status is InvocationStatus.SUCCEEDED
    assert first.result == {
        "status": "done",
        "payment": {"order_id": "o-7", "charged": 12},
        "receipt": "receipt-o-7",
    }
    assert [op.name for op in first.operations] == ["charge", "cool-off", "receipt"]
    for other in results[1:]:
        assert other.result == first.result
        assert essence(other) == essence(first)


def test_runs_take_virtual_time_only() -> None:
    """The 30-minute cool-off passes on the virtual clock, not the real one."""
    runner = DurableFunctionTestRunner(process_order)
    started = time.monotonic()
    result = runner.run({"order_id": "o-1"})
    assert time.monotonic() - started < 5
    wait = result.get_wait("cool-off")
    assert wait.start_timestamp is not None and wait.end_timestamp is not None
    assert wait.end_timestamp - wait.start_timestamp >= Duration.from_minutes(30).to_timedelta()


def test_the_runner_is_a_local_durable_test_runner_and_a_context_manager() -> None:
    runner = DurableFunctionTestRunner(process_order)
    assert isinstance(runner, DurableTestRunner)
    assert runner.mode == "local"
    with runner as entered:
        assert entered is runner


def test_a_failed_execution_is_described_not_raised() -> None:
    result = DurableFunctionTestRunner(declined_order).run({})
    assert result.status is InvocationStatus.FAILED
    assert result.execution_status is ExecutionStatus.FAILED
    assert result.error is not None and result.error.message == "card expired"
    charge = result.get_step("charge")
    assert charge.status is OperationStatus.FAILED
    assert charge.error is not None and charge.error.type is not None
    assert charge.error.type.endswith("PaymentDeclinedError")


def test_execution_names_reach_the_arn() -> None:
    runner = DurableFunctionTestRunner(process_order)
    arn = runner.run_async({"order_id": "o-1"}, execution_name="order-o-1")
    assert "/durable-execution/order-o-1/" in arn
    assert runner.describe(arn).status is InvocationStatus.SUCCEEDED


def test_callback_round_trip() -> None:
    """run_async stops at the open callback; answering it lets the execution finish."""
    with DurableFunctionTestRunner(approval) as runner:
        arn = runner.run_async({})
        assert runner.describe(arn).status is InvocationStatus.PENDING
        callback_id = runner.wait_for_callback(arn, name="approval")
        assert callback_id == runner.describe(arn).get_callback("approval").callback_id
        runner.send_callback_success(callback_id, {"approved": True})
        result = runner.wait_for_result(arn)
    assert result.status is InvocationStatus.SUCCEEDED
    assert result.result == {"decision": '{"approved": true}'}
    assert result.get_callback("approval").result == {"approved": True}


def test_callback_failure_fails_the_callback() -> None:
    runner = DurableFunctionTestRunner(approval)
    arn = runner.run_async({})
    runner.send_callback_failure(runner.wait_for_callback(arn), PaymentDeclinedError("refused"))
    result = runner.wait_for_result(arn)
    callback = result.get_callback("approval")
    assert callback.status is OperationStatus.FAILED
    assert callback.error is not None and callback.error.message == "refused"
    assert result.status is InvocationStatus.FAILED


def test_callback_failure_without_an_error_records_an_empty_one() -> None:
    runner = DurableFunctionTestRunner(approval)
    arn = runner.run_async({})
    runner.send_callback_failure(runner.wait_for_callback(arn))
    callback = runner.wait_for_result(arn).get_callback("approval")
    assert (callback.status, callback.error) == (OperationStatus.FAILED, ErrorObject())


def test_run_of_a_workflow_only_the_test_can_finish_raises_timeout_error() -> None:
    """A callback without a timeout never ends by itself: run says so at once."""
    runner = DurableFunctionTestRunner(approval)
    with pytest.raises(TimeoutError, match=r"only the test can do.*'approval'"):
        runner.run({}, timeout=30)


def test_waiting_lets_a_callback_time_out_in_virtual_time() -> None:
    """wait_for_result passes virtual time as real time would pass in the cloud."""
    runner = DurableFunctionTestRunner(approval)
    started = time.monotonic()
    result = runner.run({"timeout": 3600})
    assert time.monotonic() - started < 5
    callback = result.get_callback("approval")
    assert callback.status is OperationStatus.TIMED_OUT
    assert result.status is InvocationStatus.FAILED
    assert callback.start_timestamp is not None and callback.end_timestamp is not None
    assert (callback.end_timestamp - callback.start_timestamp).total_seconds() == 3600


@durable.workflow
def two_callbacks(event: Any, ctx: durable.Context) -> Any:
    first = yield ctx.create_callback(
        name="first", config=CallbackConfig(timeout=Duration.from_minutes(5))
    )
    with contextlib.suppress(CallbackTimeoutError):
        yield first.result()
    second = yield ctx.create_callback(name="second")
    return (yield second.result())


def test_wait_for_callback_passes_time_until_the_named_callback_opens() -> None:
    runner = DurableFunctionTestRunner(two_callbacks)
    arn = runner.run_async()
    assert runner.describe(arn).get_callback("first").status is OperationStatus.STARTED
    second = runner.wait_for_callback(arn, "second")
    before = runner.describe(arn)
    assert before.get_callback("first").status is OperationStatus.TIMED_OUT
    assert before.get_callback("second").callback_id == second
    runner.send_callback_success(second, "yes")
    assert runner.wait_for_result(arn).result == "yes"


def test_wait_for_callback_fails_when_the_execution_ended_without_one() -> None:
    runner = DurableFunctionTestRunner(process_order)
    arn = runner.run_async({"order_id": "o-1"})
    with pytest.raises(RunnerError, match=r"ended SUCCEEDED without an open callback named 'x'"):
        runner.wait_for_callback(arn, "x")


def test_wait_for_callback_fails_at_once_when_nothing_can_open_it() -> None:
    runner = DurableFunctionTestRunner(approval)
    arn = runner.run_async({})
    with pytest.raises(TimeoutError, match="to open a callback named 'other'"):
        runner.wait_for_callback(arn, "other")


@pytest.mark.parametrize(
    ("timeout", "error"),
    [(0, ValueError), (-1, ValueError), (float("inf"), ValueError), ("10", TypeError)],
)
def test_timeouts_are_checked_in_local_mode_too(timeout: Any, error: type[Exception]) -> None:
    runner = DurableFunctionTestRunner(process_order)
    with pytest.raises(error, match="timeout"):
        runner.run({"order_id": "o-1"}, timeout=timeout)
    with pytest.raises(error, match="timeout"):
        runner.wait_for_result("arn", timeout=timeout)


@durable.workflow
def priced(event: Any, ctx: durable.Context) -> Any:
    return (yield ctx.invoke("pricing", {"sku": event["sku"]}, name="price"))


def test_functions_serve_chained_invokes() -> None:
    runner = DurableFunctionTestRunner(
        priced, functions={"pricing": lambda payload: {"sku": payload["sku"], "price": 3}}
    )
    result = runner.run({"sku": "a-1"})
    assert result.result == {"sku": "a-1", "price": 3}
    assert result.get_invoke("price").result == {"sku": "a-1", "price": 3}


def test_local_runner_options_pass_through() -> None:
    """Options of LocalRunner (here through_handler) reach the runner underneath."""
    runner = DurableFunctionTestRunner(process_order, through_handler=True, seed=3)
    assert runner.run({"order_id": "o-1"}).status is InvocationStatus.SUCCEEDED
    assert runner.local_runner._through_handler is True
    assert runner.service is runner.local_runner.service
