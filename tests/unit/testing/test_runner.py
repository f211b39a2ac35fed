"""The local runner re-invokes like the service and describes the execution."""

from __future__ import annotations

import logging
from typing import Any

import pytest

import durable
from durable import Duration, StepConfig, StepSemantics
from durable.model import (
    ExecutionStatus,
    InvocationStatus,
    OperationStatus,
    OperationType,
    to_datetime,
)
from durable.retries import RetryPresets
from durable.testing import LocalRunner, LocalService, RunnerError, SimulatedCrash, run


@durable.step
def double(step_ctx: durable.StepContext, x: int) -> int:
    return 2 * x


@durable.workflow
def with_wait(event: Any, ctx: durable.Context) -> Any:
    a = yield double(event["x"])
    yield ctx.wait(Duration.from_days(30), name="month")
    b = yield ctx.step(lambda _: a + 1, name="plus-one")
    return {"a": a, "b": b}


def test_waits_are_skipped_in_virtual_time() -> None:
    """A 30-day wait ends after one re-invocation and no real time."""
    runner = LocalRunner(with_wait)
    result = runner.run({"x": 4})
    assert result.status is InvocationStatus.SUCCEEDED
    assert result.execution_status is ExecutionStatus.SUCCEEDED
    assert result.result == {"a": 8, "b": 9}
    assert result.invocations == 2
    start = result.log[0].start_timestamp
    assert start is not None
    assert runner.clock.now() - to_datetime(start) >= Duration.from_days(30).to_timedelta()


def test_operations_are_inspected_by_name() -> None:
    """Each operation exposes its type, status, attempts and decoded result."""
    result = run(with_wait, {"x": 1})
    step = result.get_step("double")
    assert (step.type, step.status, step.attempts, step.result) == (
        OperationType.STEP,
        OperationStatus.SUCCEEDED,
        1,
        2,
    )
    assert result.get_wait("month").status is OperationStatus.SUCCEEDED
    assert [op.name for op in result.operations] == ["double", "month", "plus-one"]
    with pytest.raises(KeyError, match="no operation named 'nope'"):
        result.get_step("nope")
    with pytest.raises(KeyError, match="of type STEP"):
        result.get_step("month")


def test_the_summary_lists_every_operation() -> None:
    """summary() reports the outcome and one row per operation."""
    text = run(with_wait, {"x": 1}).summary()
    assert "execution SUCCEEDED after 2 invocation(s)" in text
    assert "double" in text and "month" in text and "plus-one" in text


def test_a_failed_workflow_reports_its_error() -> None:
    """An exception escaping the workflow fails the execution with its record."""

    @durable.workflow
    def failing(event: Any, ctx: durable.Context) -> Any:
        yield ctx.step(
            lambda _: 1 / 0, name="divide", config=StepConfig(retry_strategy=RetryPresets.none())
        )

    result = run(failing)
    assert result.status is InvocationStatus.FAILED
    assert result.error is not None
    assert result.error.type == "aws_durable_execution_sdk_python.exceptions.StepError"
    assert result.error.message == "division by zero"
    assert result.get_step("divide").error is not None


def test_retries_run_in_later_invocations_with_growing_attempts() -> None:
    """A step failing twice succeeds on attempt 3, each retry a new invocation."""

    @durable.workflow
    def flaky(event: Any, ctx: durable.Context) -> Any:
        def body(step_ctx: durable.StepContext) -> int:
            if step_ctx.attempt < 3:
                raise ConnectionError("try again")
            return step_ctx.attempt

        return (
            yield ctx.step(
                body, name="flaky", config=StepConfig(retry_strategy=RetryPresets.linear())
            )
        )

    result = run(flaky)
    assert result.result == 3 and result.get_step("flaky").attempts == 3
    assert result.invocations == 3


def test_a_crashing_invocation_is_retried_and_the_execution_completes() -> None:
    """A process killed mid-body is re-invoked; the at-least-once body runs again."""
    runs: list[int] = []

    @durable.workflow
    def fragile(event: Any, ctx: durable.Context) -> Any:
        def body(step_ctx: durable.StepContext) -> str:
            runs.append(step_ctx.attempt)
            if len(runs) == 1:
                raise SimulatedCrash("OOM")
            return "ok"

        return (yield ctx.step(body, name="fragile"))

    result = run(fragile)
    assert result.succeeded and result.result == "ok"
    assert runs == [1, 1] and result.invocations == 2


def test_an_interrupted_at_most_once_step_does_not_run_again() -> None:
    """A crash inside an at-most-once body counts as a failed attempt (§5.1)."""
    runs: list[int] = []

    @durable.workflow
    def once(event: Any, ctx: durable.Context) -> Any:
        def body(step_ctx: durable.StepContext) -> int:
            runs.append(step_ctx.attempt)
            if step_ctx.attempt == 1:
                raise SimulatedCrash("killed")
            return step_ctx.attempt

        config = StepConfig(
            retry_strategy=RetryPresets.linear(),
            step_semantics=StepSemantics.AT_MOST_ONCE_PER_RETRY,
        )
        return (yield ctx.step(body, name="pay", config=config))

    result = run(once)
    assert result.result == 2 and runs == [1, 2]
    step = result.get_step("pay")
    assert step.attempts == 2


def test_five_failed_invocations_fail_the_execution() -> None:
    """An invocation that always raises is retried, then the execution fails (emulator rule)."""
    calls: list[int] = []

    def broken(event: Any, ctx: durable.Context) -> Any:
        calls.append(1)
        raise SimulatedCrash("segfault")

    result = run(broken)
    assert result.execution_status is ExecutionStatus.FAILED
    assert len(calls) == 5
    assert result.error is not None and result.error.type == "Runtime.ExitError"


def test_max_invocations_bounds_a_workflow_that_never_ends() -> None:
    """A workflow waiting forever in a loop is stopped with a RunnerError."""

    def forever(event: Any, ctx: durable.Context) -> Any:
        while True:
            yield ctx.wait(1)

    with pytest.raises(RunnerError, match="still running after 20 invocations"):
        LocalRunner(forever, max_invocations=20).run()


def test_log_lines_appear_once_across_replays(caplog: pytest.LogCaptureFixture) -> None:
    """Each workflow log line is emitted exactly once although the code replays."""

    @durable.workflow
    def chatty(event: Any, ctx: durable.Context) -> Any:
        ctx.logger.info("begin")
        yield ctx.step(lambda s: s.logger.info("in step one"), name="one")
        ctx.logger.info("between")
        yield ctx.wait(10, name="w1")
        ctx.logger.info("after first wait")
        yield ctx.wait(10, name="w2")
        ctx.logger.info("end")

    with caplog.at_level(logging.INFO, logger="durable"):
        result = run(chatty)
    assert result.invocations == 3
    assert [r.getMessage() for r in caplog.records] == [
        "begin",
        "in step one",
        "between",
        "after first wait",
        "end",
    ]


def test_a_custom_service_and_seed_make_runs_repeatable() -> None:
    """The same seed gives the same jittered retry delays."""

    @durable.workflow
    def jittery(event: Any, ctx: durable.Context) -> Any:
        def body(step_ctx: durable.StepContext) -> int:
            if step_ctx.attempt < 3:
                raise ValueError("no")
            return 1

        return (yield ctx.step(body, name="j"))

    def delays(seed: int) -> list[int]:
        service = LocalService()
        LocalRunner(jittery, service=service, seed=seed).run()
        return [
            u.step_options.next_attempt_delay_seconds
            for r in service.execution(next(iter(service._executions))).journal
            for u in r.updates
            if u.step_options is not None
        ]

    assert delays(7) == delays(7)
