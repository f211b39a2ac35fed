"""Child contexts (protocol.md §5.7): ids, checkpoints, replay, failures, depth."""

from __future__ import annotations

from typing import Any

import pytest

import durable
from durable import ChildConfig, StepConfig
from durable.core import Failure, Finish, Value
from durable.errors import ChildContextError, NonDeterminismError, StepError
from durable.model import (
    ContextDetails,
    ErrorObject,
    Operation,
    OperationStatus,
    OperationType,
)
from durable.retries import RetryPresets
from durable.testing.logs import LogBuilder
from tests.unit.core.conftest import Trace, invoke

ROOT_1 = "1ced8f5be2db23a6513eba4d819c73806424748a7bc6fa0d792cc1c7d1775a97"
CHILD_1 = "974bfc6321e227b0ff101342eaf19b336f002dc6cc99c18f0941a7755cc20fc4"  # ROOT_1-1
CHILD_2 = "9d8bc609108ec7b3600d6cceec22d18553e3e1ec52a3568cb251464a3d39d24f"  # ROOT_1-2


def value_of(trace: Trace) -> Any:
    assert isinstance(trace.end, Finish) and isinstance(trace.end.outcome, Value), trace.end
    return trace.end.outcome.value


def error_of(trace: Trace) -> BaseException:
    assert isinstance(trace.end, Finish) and isinstance(trace.end.outcome, Failure), trace.end
    return trace.end.outcome.error


@durable.child_context
def two_steps(ctx: durable.Context, base: int) -> Any:
    a = yield ctx.step(lambda _: base + 1, name="s1")
    b = yield ctx.step(lambda _: base + 2, name="s2")
    return a + b


def parent(event: Any, ctx: durable.Context) -> Any:
    total = yield two_steps(10)
    return total


def complete_log(trace: Trace) -> list[Operation]:
    """The records a service would hold after ``trace``'s requests."""
    return list(trace.log.values())


class TestFreshRun:
    def test_the_child_writes_start_its_operations_then_succeed(self) -> None:
        """The CONTEXT START rides with the first inner request; SUCCEED closes it."""
        trace = invoke(parent)
        assert value_of(trace) == 23
        assert trace.wire == [
            [("CONTEXT", "START"), ("STEP", "START"), ("STEP", "SUCCEED")],
            [("STEP", "START"), ("STEP", "SUCCEED")],
            [("CONTEXT", "SUCCEED")],
        ]
        start, s1, _ = trace.requests[0]
        assert (start.id, start.name, start.sub_type) == (ROOT_1, "two_steps", "RunInChildContext")
        assert (s1.id, s1.parent_id) == (CHILD_1, ROOT_1)
        assert trace.requests[1][0].id == CHILD_2
        succeed = trace.requests[2][0]
        assert succeed.payload == "23"
        assert succeed.context_options is not None
        assert succeed.context_options.replay_children is False

    def test_plain_and_async_child_functions_work(self) -> None:
        """A child may be a plain function or a coroutine."""

        async def coro_child(ctx: durable.Context) -> Any:
            return await ctx.step(lambda _: "c", name="inner")

        def wf(event: Any, ctx: durable.Context) -> Any:
            a = yield ctx.run_in_child_context(lambda c: "plain", name="p")
            b = yield ctx.run_in_child_context(coro_child, name="q")
            return [a, b]

        assert value_of(invoke(wf)) == ["plain", "c"]

    def test_a_custom_sub_type_and_name_are_written(self) -> None:
        """ChildConfig.sub_type and an explicit name override the defaults."""

        def wf(event: Any, ctx: durable.Context) -> Any:
            return (
                yield ctx.run_in_child_context(
                    two_steps(1), name="renamed", config=ChildConfig(sub_type="Batch")
                )
            )

        start = invoke(wf).requests[0][0]
        assert (start.name, start.sub_type) == ("renamed", "Batch")


class TestReplay:
    def test_a_completed_child_returns_its_result_without_running(self) -> None:
        """A SUCCEEDED context is answered from its payload; its function is not called."""
        first = invoke(parent)
        calls: list[int] = []

        def wf(event: Any, ctx: durable.Context) -> Any:
            def body(c: durable.Context) -> Any:
                calls.append(1)
                yield c.step(lambda _: 0, name="s1")

            return (yield ctx.run_in_child_context(body, name="two_steps"))

        trace = invoke(wf, complete_log(first))
        assert value_of(trace) == 23 and calls == [] and trace.requests == []

    def test_an_interrupted_child_reruns_and_replays_its_steps(self) -> None:
        """A STARTED context runs its body again: finished steps replay, the rest run."""
        log = LogBuilder()
        log.raw(
            Operation(
                id=ROOT_1,
                type=OperationType.CONTEXT,
                status=OperationStatus.STARTED,
                name="two_steps",
                sub_type="RunInChildContext",
            )
        )
        first = invoke(parent)
        s1 = next(op for op in complete_log(first) if op.id == CHILD_1)
        trace = invoke(parent, [*log.operations, s1])
        assert value_of(trace) == 23
        assert [op_id for op_id, _ in trace.bodies] == [CHILD_2]
        assert trace.wire == [[("STEP", "START"), ("STEP", "SUCCEED")], [("CONTEXT", "SUCCEED")]]

    def test_children_of_a_completed_context_are_not_needed(self) -> None:
        """Replay never asks for the operations inside a completed context."""
        first = invoke(parent)
        only_parent = [op for op in complete_log(first) if op.parent_id is None]
        assert value_of(invoke(parent, only_parent)) == 23


class TestFailures:
    def test_a_failing_step_fails_the_context_with_its_type(self) -> None:
        """The CONTEXT FAIL records StepError; the workflow sees ChildContextError caused by it."""

        def bad(c: durable.Context) -> Any:
            yield c.step(
                lambda _: 1 / 0, name="div", config=StepConfig(retry_strategy=RetryPresets.none())
            )

        def wf(event: Any, ctx: durable.Context) -> Any:
            yield ctx.run_in_child_context(bad, name="child")

        trace = invoke(wf)
        fail = trace.requests[-1][0]
        assert (fail.type, fail.action.value) == (OperationType.CONTEXT, "FAIL")
        assert fail.error == ErrorObject(
            message="division by zero",
            type="aws_durable_execution_sdk_python.exceptions.StepError",
        )
        error = error_of(trace)
        assert isinstance(error, ChildContextError) and error.message == "division by zero"
        assert isinstance(error.__cause__, StepError)

    def test_a_stored_failure_is_raised_again(self) -> None:
        """A FAILED context raises ChildContextError without running its body."""
        log = LogBuilder()
        log.raw(
            Operation(
                id=ROOT_1,
                type=OperationType.CONTEXT,
                status=OperationStatus.FAILED,
                name="two_steps",
                sub_type="RunInChildContext",
                context_details=ContextDetails(error=ErrorObject(message="x", type="ValueError")),
            )
        )
        trace = invoke(parent, log.operations)
        error = error_of(trace)
        assert isinstance(error, ChildContextError) and error.error_type == "ValueError"
        assert trace.bodies == []

    def test_non_determinism_inside_a_child_is_not_wrapped(self) -> None:
        """An ExecutionError from inside passes through the context untouched, unwritten."""
        first = invoke(parent)
        log = [op for op in complete_log(first) if op.id != ROOT_1]

        @durable.child_context(name="two_steps")
        def renamed(ctx: durable.Context, base: int) -> Any:
            return (yield ctx.step(lambda _: 1, name="other"))

        def wf(event: Any, ctx: durable.Context) -> Any:
            return (yield renamed(1))

        trace = invoke(wf, log)
        assert isinstance(error_of(trace), NonDeterminismError)
        assert [u.action.value for r in trace.requests for u in r] == ["START"]


class TestLargeResults:
    def test_a_result_over_256_kib_is_rebuilt_by_replaying_children(self) -> None:
        """The context stores a summary with ReplayChildren; replay re-runs the body to
        rebuild the value from its children without writing anything."""
        big = "x" * 300_000

        def wf(event: Any, ctx: durable.Context) -> Any:
            def body(c: durable.Context) -> Any:
                part = yield c.step(lambda _: big, name="part")
                return {"data": part}

            value = yield ctx.run_in_child_context(
                body, name="big", config=ChildConfig(summary_generator=lambda v: "a summary")
            )
            return len(value["data"])

        first = invoke(wf)
        succeed = first.requests[-1][-1]
        assert succeed.payload == "a summary"
        assert succeed.context_options is not None and succeed.context_options.replay_children
        replay = invoke(wf, complete_log(first))
        assert value_of(replay) == 300_000
        assert replay.bodies == [] and replay.requests == []


class TestVirtual:
    def test_a_virtual_child_writes_nothing_of_its_own(self) -> None:
        """Its operations use the child's id prefix but report the enclosing parent."""

        def wf(event: Any, ctx: durable.Context) -> Any:
            return (
                yield ctx.run_in_child_context(two_steps(0), config=ChildConfig(is_virtual=True))
            )

        trace = invoke(wf)
        updates = trace.updates
        assert {u.type for u in updates} == {OperationType.STEP}
        assert updates[0].id == CHILD_1 and updates[0].parent_id is None
        assert value_of(trace) == 3

    def test_a_record_where_a_virtual_child_runs_is_non_determinism(self) -> None:
        """History written by a non-virtual context contradicts a virtual one."""
        first = invoke(parent)

        def wf(event: Any, ctx: durable.Context) -> Any:
            return (
                yield ctx.run_in_child_context(
                    two_steps(10), config=ChildConfig(is_virtual=True, sub_type="RunInChildContext")
                )
            )

        error = error_of(invoke(wf, complete_log(first)))
        assert isinstance(error, NonDeterminismError) and "virtual" in str(error)


class TestDepth:
    @pytest.mark.parametrize("depth", [1000])
    def test_contexts_nested_a_thousand_deep_run_and_replay(self, depth: int) -> None:
        """Nested child generators live on an explicit stack, not Python's."""

        def nest(ctx: durable.Context, level: int) -> Any:
            if level == depth:
                return (yield ctx.step(lambda _: level, name="leaf"))
            return (yield ctx.run_in_child_context(lambda c: nest(c, level + 1), name=f"l{level}"))

        def wf(event: Any, ctx: durable.Context) -> Any:
            return (yield ctx.run_in_child_context(lambda c: nest(c, 1), name="l0"))

        first = invoke(wf)
        assert value_of(first) == depth
        replay = invoke(wf, complete_log(first))
        assert value_of(replay) == depth and replay.requests == []


def test_the_child_logger_reports_its_parent() -> None:
    """Logs inside a child carry parentId = the context's id."""
    seen: list[dict[str, Any]] = []

    class Sink:
        def info(self, msg: object, *args: Any, **kwargs: Any) -> None:
            seen.append(kwargs["extra"])

        debug = warning = error = exception = info

    def wf(event: Any, ctx: durable.Context) -> Any:
        def body(c: durable.Context) -> Any:
            c.logger.info("inside")
            return 1

        return (yield ctx.run_in_child_context(body, name="c"))

    invoke(wf, logger=Sink())
    assert seen == [{"executionArn": "", "parentId": ROOT_1}]
