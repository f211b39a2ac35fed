"""The imperative shim: blocking calls, suspension, the fast path, threads."""

from __future__ import annotations

import threading
from typing import Any

import pytest

import durable
from durable import (
    ChildContextError,
    DurableContext,
    Duration,
    JitterStrategy,
    NonDeterminismError,
    RetryPresets,
    RetryStrategyConfig,
    StepConfig,
    StepError,
    UsageError,
    WithRetryConfig,
    create_retry_strategy,
    durable_execution,
    with_retry,
)
from durable.errors import SuspendExecution
from durable.imperative import _Worker
from durable.model import ExecutionStatus, InvocationStatus
from durable.testing import LocalRunner, run


def test_a_suspension_unwinds_through_finally_but_not_except_exception() -> None:
    """A wait ends the invocation: finally blocks run, except Exception sees nothing."""
    seen: list[str] = []

    @durable_execution
    def handler(event: Any, context: DurableContext) -> str:
        try:
            context.wait(Duration(10), name="w")
            seen.append("after wait")
        except Exception:
            seen.append("swallowed")
        finally:
            seen.append("finally")
        return "done"

    result = run(handler)
    assert result.result == "done"
    assert seen == ["finally", "after wait", "finally"]


def test_worker_threads_end_with_their_invocations() -> None:
    """No thread outlives the invocation that started it, suspended or finished."""

    @durable_execution
    def handler(event: Any, context: DurableContext) -> int:
        for i in range(5):
            context.wait(Duration(1), name=f"w{i}")
        return 5

    before = threading.active_count()
    result = run(handler)
    assert result.invocations == 6
    assert threading.active_count() == before


def test_users_cannot_construct_a_suspension() -> None:
    """SuspendExecution is durable's own control flow."""
    with pytest.raises(UsageError, match="raised by durable only"):
        SuspendExecution("fake")


def test_catching_the_suspension_does_not_keep_the_handler_running() -> None:
    """A handler that catches BaseException still cannot run more operations."""
    calls: list[str] = []

    @durable_execution
    def handler(event: Any, context: DurableContext) -> str:
        try:
            context.wait(Duration(5), name="w")
        except BaseException:
            calls.append("caught")
            context.step(lambda _: "x", name="sneaky")  # raises the suspension again
        return "end"

    result = run(handler)
    assert result.result == "end"
    assert calls == ["caught"]
    assert [op.name for op in result.operations] == ["w"]  # "sneaky" never ran


def test_step_errors_reach_the_handler_and_failures_end_the_execution() -> None:
    """A failing step raises StepError at the call; an uncaught error fails the run."""

    caught: list[str] = []

    @durable_execution
    def handler(event: Any, context: DurableContext) -> Any:
        try:
            context.step(
                lambda _: 1 / 0, name="div", config=StepConfig(retry_strategy=RetryPresets.none())
            )
        except StepError as error:
            caught.append(error.error_type)
        raise RuntimeError("after the step")

    result = run(handler)
    assert caught == ["ZeroDivisionError"]
    assert result.execution_status is ExecutionStatus.FAILED
    assert result.error is not None and result.error.message == "after the step"


def test_replay_resolves_stored_operations_without_a_thread_switch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The fast path: a fully replayed handler never hands an operation to the interpreter."""

    @durable_execution
    def handler(event: Any, context: DurableContext) -> int:
        return sum(context.step(lambda _, i=i: i, name=f"s{i}") for i in range(50))

    runner = LocalRunner(handler)
    first = runner.run()
    assert first.result == sum(range(50))
    handoffs: list[object] = []
    original = _Worker.request

    def counting(self: _Worker, item: object) -> Any:
        handoffs.append(item)
        return original(self, item)

    monkeypatch.setattr(_Worker, "request", counting)
    service = runner.service
    arn = first.arn
    execution = service.execution(arn)
    execution.status = ExecutionStatus.RUNNING  # invoke the finished execution once more
    assert runner.invoke_once(arn) is InvocationStatus.SUCCEEDED
    assert handoffs == []


def test_nested_children_run_inline_on_one_thread() -> None:
    """A hundred nested child contexts need no extra threads."""
    depth = 100
    threads: set[int] = set()

    def nest(context: DurableContext, level: int) -> int:
        threads.add(threading.get_ident())
        if level == depth:
            return context.step(lambda _: level, name="leaf")
        return context.run_in_child_context(lambda c: nest(c, level + 1), name=f"l{level}")

    @durable_execution
    def handler(event: Any, context: DurableContext) -> int:
        return nest(context, 0)

    result = run(handler)
    assert result.result == depth
    assert len(threads) == 1


def test_a_child_failure_is_raised_as_child_context_error() -> None:
    """An exception inside a child comes back wrapped, with the inner type recorded."""

    @durable_execution
    def handler(event: Any, context: DurableContext) -> str:
        def child(c: DurableContext) -> None:
            c.step(lambda _: 1, name="fine")
            raise LookupError("missing")

        try:
            context.run_in_child_context(child, name="child")
        except ChildContextError as error:
            return f"{error.error_type}: {error.message}"
        return "unreachable"

    assert run(handler).result == "LookupError: missing"


def test_non_determinism_is_raised_at_the_call() -> None:
    """Renaming a step under a recorded execution fails at that call."""
    names = iter(["first", "renamed"])

    @durable_execution
    def handler(event: Any, context: DurableContext) -> Any:
        context.step(lambda _: 1, name=next(names))
        context.wait(Duration(1), name="w")
        return "end"

    result = run(handler)
    assert result.execution_status is ExecutionStatus.FAILED
    assert result.error is not None
    assert result.error.type == NonDeterminismError.wire_type
    assert "name checkpoint='first' current='renamed'" in (result.error.message or "")


def test_plugins_are_refused_clearly() -> None:
    """durable has no instrumentation plugins; asking for them is an error."""
    with pytest.raises(UsageError, match="plugins"):
        durable_execution(lambda e, c: None, plugins=[object()])


def test_with_retry_gives_up_with_the_last_error() -> None:
    """When the strategy stops, the attempt's error propagates out of with_retry."""
    strategy = create_retry_strategy(
        RetryStrategyConfig(max_attempts=2, jitter_strategy=JitterStrategy.NONE)
    )

    @durable_execution
    def handler(event: Any, context: DurableContext) -> str:
        def attempt(ctx: DurableContext, n: int) -> str:
            raise ValueError(f"attempt {n}")

        try:
            with_retry(
                context,
                attempt,
                WithRetryConfig(retry_strategy=strategy, wrap_with_run_in_child_context=False),
                name="r",
            )
        except ValueError as error:
            return str(error)
        return "unreachable"

    result = run(handler)
    assert result.result == "attempt 2"
    assert [op.name for op in result.operations] == ["r-backoff-1"]


def test_the_imperative_context_exposes_the_execution() -> None:
    """execution_context, lambda_context, is_replaying and the logger are there."""

    @durable_execution
    def handler(event: Any, context: DurableContext) -> list[Any]:
        context.set_logger(durable.core._replay._default_logger())
        return [
            context.execution_context.durable_execution_arn.startswith("arn:aws:lambda"),
            context.lambda_context,
            context.is_replaying(),
        ]

    assert run(handler).result == [True, None, False]


def test_nesting_past_the_recursion_limit_fails_cleanly() -> None:
    """Imperative children nested too deep fail with a clear error instead of hanging."""

    def nest(context: DurableContext, level: int) -> int:
        if level == 2000:
            return context.step(lambda _: level, name="leaf")
        return context.run_in_child_context(lambda c: nest(c, level + 1), name=f"l{level}")

    @durable_execution
    def handler(event: Any, context: DurableContext) -> int:
        return nest(context, 0)

    before = threading.active_count()
    result = run(handler)
    assert result.execution_status is ExecutionStatus.FAILED
    assert result.error is not None
    assert "nest too deeply for Python's recursion limit" in (result.error.message or "")
    assert threading.active_count() == before
