"""The interpreter, driven with plain data: fresh runs, replays, retries, waits."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest

import durable
from durable import Duration, StepConfig, StepSemantics
from durable.core import Checkpoint, Failure, Finish, Replay, RunStep, Suspend, Value
from durable.errors import (
    NonDeterminismError,
    SerDesError,
    StepError,
    UsageError,
    ValidationError,
)
from durable.model import ErrorObject, OperationAction, OperationStatus, OperationType
from durable.retries import RetryPresets
from durable.testing.logs import LogBuilder
from tests.unit.core.conftest import NOW, invoke


@durable.step
def greet(step_ctx: durable.StepContext, name: str) -> dict[str, str]:
    return {"msg": f"Hello {name}"}


def two_steps(event: Any, ctx: durable.Context) -> Any:
    a = yield greet("Bob")
    b = yield ctx.step(lambda _: 5, name="five")
    return [a, b]


def finish_value(trace: Any) -> Any:
    assert isinstance(trace.end, Finish), trace.end
    assert isinstance(trace.end.outcome, Value), trace.end.outcome
    return trace.end.outcome.value


def finish_error(trace: Any) -> BaseException:
    assert isinstance(trace.end, Finish), trace.end
    assert isinstance(trace.end.outcome, Failure), trace.end.outcome
    return trace.end.outcome.error


class TestFreshRun:
    def test_a_default_step_sends_start_and_succeed_in_one_request(self) -> None:
        """An at-least-once step queues START and flushes it with its SUCCEED."""
        trace = invoke(two_steps)
        assert finish_value(trace) == [{"msg": "Hello Bob"}, 5]
        assert trace.wire == [[("STEP", "START"), ("STEP", "SUCCEED")]] * 2
        first = trace.requests[0][1]
        assert first.name == "greet" and first.sub_type == "Step"
        assert first.payload == '{"t":"m","v":{"msg":{"t":"s","v":"Hello Bob"}}}'
        assert trace.requests[1][1].payload == "5"

    def test_the_first_actions_are_a_queued_start_then_the_body(self) -> None:
        """Before any body runs the core asks for a non-blocking START and the body."""
        replay = Replay(two_steps, None, [], NOW)
        actions = replay.next_actions()
        assert [type(a) for a in actions] == [Checkpoint, RunStep]
        assert isinstance(actions[0], Checkpoint) and not actions[0].blocking
        run = actions[1]
        assert isinstance(run, RunStep) and run.attempt == 1 and run.name == "greet"
        assert replay.next_actions() == []  # nothing can move until the body reports

    def test_the_workflow_receives_the_round_tripped_value(self) -> None:
        """A step's caller gets the deserialized copy of what was checkpointed."""
        seen: list[Any] = []

        def wf(event: Any, ctx: durable.Context) -> Any:
            value = yield ctx.step(lambda _: (1, 2), name="tuple")
            seen.append(value)
            return None

        invoke(wf)
        assert seen == [(1, 2)] and isinstance(seen[0], tuple)

    def test_a_wait_checkpoints_start_and_suspends_until_its_end(self) -> None:
        """A wait is a blocking WAIT START followed by a timed suspension."""

        def wf(event: Any, ctx: durable.Context) -> Any:
            yield ctx.wait(Duration.from_minutes(2), name="pause")
            return "after"

        trace = invoke(wf)
        assert trace.wire == [[("WAIT", "START")]]
        start = trace.requests[0][0]
        assert start.wait_options is not None and start.wait_options.wait_seconds == 120
        assert start.sub_type == "Wait" and start.name == "pause"
        assert isinstance(trace.end, Suspend)
        assert trace.end.resume_at == NOW + timedelta(minutes=2)

    def test_a_plain_function_workflow_finishes_with_its_value(self) -> None:
        """A workflow that is not a generator simply returns."""
        trace = invoke(lambda event, ctx: {"echo": event}, event=3)
        assert finish_value(trace) == {"echo": 3}
        assert trace.requests == []

    def test_a_workflow_raising_before_its_first_yield_fails(self) -> None:
        """An exception raised at once becomes the Finish failure."""

        def wf(event: Any, ctx: durable.Context) -> Any:
            raise KeyError("order_id")

        error = finish_error(invoke(wf))
        assert isinstance(error, KeyError)


class TestReplay:
    def test_a_complete_log_replays_without_running_any_body(self) -> None:
        """Stored results are sent in; no step body runs and nothing is sent."""
        log = LogBuilder()
        log.step("greet", result={"msg": "Hello Bob"})
        log.step("five", result=5)
        trace = invoke(two_steps, log.operations)
        assert finish_value(trace) == [{"msg": "Hello Bob"}, 5]
        assert trace.bodies == [] and trace.requests == []

    def test_replay_continues_with_new_operations_after_the_log_ends(self) -> None:
        """Only the operations missing from the log run."""
        log = LogBuilder()
        log.step("greet", result={"msg": "stored"})
        trace = invoke(two_steps, log.operations)
        assert finish_value(trace) == [{"msg": "stored"}, 5]
        assert len(trace.bodies) == 1
        assert trace.wire == [[("STEP", "START"), ("STEP", "SUCCEED")]]

    def test_a_fired_wait_lets_the_workflow_continue(self) -> None:
        """A SUCCEEDED wait returns None and the next operation runs."""

        def wf(event: Any, ctx: durable.Context) -> Any:
            yield ctx.wait(5, name="w")
            return (yield ctx.step(lambda _: "done", name="after"))

        log = LogBuilder()
        log.wait("w")
        assert finish_value(invoke(wf, log.operations)) == "done"

    def test_a_wait_still_running_suspends_again_without_a_new_start(self) -> None:
        """A STARTED wait re-suspends until its scheduled end; nothing is written."""

        def wf(event: Any, ctx: durable.Context) -> Any:
            yield ctx.wait(60, name="w")

        log = LogBuilder()
        end = NOW + timedelta(seconds=42)
        log.wait("w", status=OperationStatus.STARTED, scheduled_end=end)
        trace = invoke(wf, log.operations)
        assert trace.requests == []
        assert isinstance(trace.end, Suspend) and trace.end.resume_at == end

    def test_a_failed_step_raises_step_error_with_the_stored_fields(self) -> None:
        """A FAILED record is thrown into the workflow as StepError (§7.6)."""
        caught: list[StepError] = []

        def wf(event: Any, ctx: durable.Context) -> Any:
            try:
                yield greet("x")
            except StepError as exc:
                caught.append(exc)
            return "handled"

        log = LogBuilder()
        log.step(
            "greet", error=ErrorObject(message="declined", type="myapp.CardDeclined", data="42")
        )
        assert finish_value(invoke(wf, log.operations)) == "handled"
        (err,) = caught
        assert (err.message, err.error_type, err.data) == ("declined", "myapp.CardDeclined", "42")
        assert err.operation_name == "greet"

    def test_a_stored_step_error_type_rebuilds_its_cause_class(self) -> None:
        """The reference SDK's operation-error names rebuild the matching class as cause."""
        caught: list[BaseException] = []

        def wf(event: Any, ctx: durable.Context) -> Any:
            try:
                yield greet("x")
            except StepError as exc:
                caught.append(exc)

        log = LogBuilder()
        log.step(
            "greet",
            error=ErrorObject(
                message="inner", type="aws_durable_execution_sdk_python.exceptions.StepError"
            ),
        )
        invoke(wf, log.operations)
        assert isinstance(caught[0].__cause__, StepError)

    def test_a_pending_retry_suspends_until_the_next_attempt(self) -> None:
        """A PENDING step suspends at its NextAttemptTimestamp without running."""
        due = NOW + timedelta(seconds=30)
        log = LogBuilder()
        log.step("greet", status=OperationStatus.PENDING, attempt=1, next_attempt=due)
        trace = invoke(two_steps, log.operations)
        assert trace.bodies == [] and trace.requests == []
        assert isinstance(trace.end, Suspend) and trace.end.resume_at == due

    def test_a_ready_step_starts_its_next_attempt(self) -> None:
        """A READY step writes START again and runs attempt Attempt + 1."""
        log = LogBuilder()
        log.step("greet", status=OperationStatus.READY, attempt=2)
        trace = invoke(two_steps, log.operations)
        assert trace.bodies[0][1] == 3
        assert trace.wire[0] == [("STEP", "START"), ("STEP", "SUCCEED")]

    def test_an_interrupted_at_least_once_step_reruns_without_start(self) -> None:
        """A STARTED at-least-once step runs its body again and sends only SUCCEED."""
        log = LogBuilder()
        log.step("greet", status=OperationStatus.STARTED, attempt=0)
        trace = invoke(two_steps, log.operations)
        assert trace.bodies[0][1] == 1
        assert trace.wire[0] == [("STEP", "SUCCEED")]

    def test_an_interrupted_at_most_once_step_is_not_rerun(self) -> None:
        """A STARTED at-most-once step counts as a failed attempt and goes to its strategy."""
        runs: list[int] = []

        def wf(event: Any, ctx: durable.Context) -> Any:
            return (
                yield ctx.step(
                    lambda s: runs.append(s.attempt),
                    name="pay",
                    config=StepConfig(
                        retry_strategy=RetryPresets.none(),
                        step_semantics=StepSemantics.AT_MOST_ONCE_PER_RETRY,
                    ),
                )
            )

        log = LogBuilder()
        log.step("pay", status=OperationStatus.STARTED, attempt=0)
        trace = invoke(wf, log.operations)
        assert runs == []
        assert trace.wire == [[("STEP", "FAIL")]]
        error = trace.requests[0][0].error
        assert error is not None
        assert error.type == "aws_durable_execution_sdk_python.exceptions.StepInterruptedError"
        assert isinstance(finish_error(trace), StepError)


class TestRetries:
    def test_a_failing_step_checkpoints_retry_and_suspends(self) -> None:
        """A retryable failure writes RETRY with the delay and the error, then suspends."""

        def boom(step_ctx: Any) -> None:
            raise ValueError("boom")

        def wf(event: Any, ctx: durable.Context) -> Any:
            yield ctx.step(
                boom, name="flaky", config=StepConfig(retry_strategy=RetryPresets.linear())
            )

        trace = invoke(wf)
        assert trace.wire == [[("STEP", "START"), ("STEP", "RETRY")]]
        retry = trace.requests[0][1]
        assert retry.error == ErrorObject(message="boom", type="ValueError")
        assert retry.step_options is not None and retry.step_options.next_attempt_delay_seconds == 1
        assert isinstance(trace.end, Suspend) and trace.end.resume_at == NOW + timedelta(seconds=1)

    def test_exhausted_retries_fail_the_step(self) -> None:
        """When the strategy gives up, FAIL is written and StepError thrown in."""

        def boom(step_ctx: Any) -> None:
            raise ValueError("still broken")

        def wf(event: Any, ctx: durable.Context) -> Any:
            yield ctx.step(
                boom, name="flaky", config=StepConfig(retry_strategy=RetryPresets.linear())
            )

        log = LogBuilder()
        log.step("flaky", status=OperationStatus.READY, attempt=5)
        trace = invoke(wf, log.operations)
        assert trace.wire == [[("STEP", "START"), ("STEP", "FAIL")]]
        assert trace.bodies == [(log.operations[1].id, 6)]
        error = finish_error(trace)
        assert isinstance(error, StepError) and error.message == "still broken"
        assert error.error_type == "ValueError"

    def test_jitter_comes_from_the_random_input(self) -> None:
        """The retry delay of a jittered strategy is drawn from the given source."""

        def boom(step_ctx: Any) -> None:
            raise ValueError("x")

        def wf(event: Any, ctx: durable.Context) -> Any:
            yield ctx.step(boom, name="s")  # default: 5 s base, full jitter

        low = invoke(wf, random=lambda: 0.0).requests[0][1]
        high = invoke(wf, random=lambda: 0.99).requests[0][1]
        assert low.step_options is not None and high.step_options is not None
        assert low.step_options.next_attempt_delay_seconds == 1
        assert high.step_options.next_attempt_delay_seconds == 5

    def test_a_retry_strategy_returning_garbage_is_a_clear_error(self) -> None:
        """A strategy must return a RetryDecision; anything else names the step."""

        def wf(event: Any, ctx: durable.Context) -> Any:
            yield ctx.step(
                lambda _: 1 / 0, name="div", config=StepConfig(retry_strategy=lambda e, n: True)
            )

        error = finish_error(invoke(wf))
        assert isinstance(error, UsageError) and "step 'div'" in str(error)

    def test_at_most_once_start_is_confirmed_before_the_body(self) -> None:
        """An at-most-once step sends START alone and waits for it before running."""

        def wf(event: Any, ctx: durable.Context) -> Any:
            return (
                yield ctx.step(
                    lambda _: "paid",
                    name="pay",
                    config=StepConfig(step_semantics=StepSemantics.AT_MOST_ONCE_PER_RETRY),
                )
            )

        trace = invoke(wf)
        assert trace.wire == [[("STEP", "START")], [("STEP", "SUCCEED")]]
        kinds = [type(a).__name__ for a in trace.actions]
        assert kinds.index("RunStep") > kinds.index("Checkpoint")
        assert finish_value(trace) == "paid"


class TestNonDeterminism:
    def test_a_changed_type_is_detected(self) -> None:
        """A WAIT where the log has a STEP names both and the id."""

        def wf(event: Any, ctx: durable.Context) -> Any:
            yield ctx.wait(5, name="greet")

        log = LogBuilder()
        step = log.step("greet", result=1)
        error = finish_error(invoke(wf, log.operations))
        assert isinstance(error, NonDeterminismError)
        assert error.operation_id == step.id
        text = str(error)
        assert f"id={step.id!r}" in text
        assert "type checkpoint='STEP' current='WAIT'" in text
        assert "STEP 'greet'" in text and "WAIT 'greet'" in text

    def test_a_changed_name_is_detected(self) -> None:
        """A renamed step is a mismatch reported in the reference SDK's format."""

        def wf(event: Any, ctx: durable.Context) -> Any:
            yield ctx.step(lambda _: 1, name="b")

        log = LogBuilder()
        log.step("a", result=1)
        error = finish_error(invoke(wf, log.operations))
        assert isinstance(error, NonDeterminismError)
        assert "name checkpoint='a' current='b'" in str(error)

    def test_a_changed_sub_type_is_detected(self) -> None:
        """A custom sub-type that differs from the log's is a mismatch."""

        def wf(event: Any, ctx: durable.Context) -> Any:
            yield ctx.step(lambda _: 1, name="a", config=StepConfig(sub_type="Charge"))

        log = LogBuilder()
        log.step("a", result=1)
        assert "subtype checkpoint='Step' current='Charge'" in str(
            finish_error(invoke(wf, log.operations))
        )

    def test_a_removed_operation_shifts_the_next_one_onto_the_wrong_record(self) -> None:
        """Deleting an operation makes the next one meet its predecessor's record."""

        def wf(event: Any, ctx: durable.Context) -> Any:
            yield ctx.step(lambda _: 2, name="second")

        log = LogBuilder()
        log.step("first", result=1)
        log.step("second", result=2)
        error = finish_error(invoke(wf, log.operations))
        assert "name checkpoint='first' current='second'" in str(error)

    def test_the_workflow_may_catch_the_error_but_it_still_ends_the_execution(self) -> None:
        """Non-determinism is raised where the operation is yielded, so an
        ``except`` block can clean up; but the execution fails with it, and
        no update is sent."""
        cleaned = []

        def wf(event: Any, ctx: durable.Context) -> Any:
            try:
                yield ctx.step(lambda _: 1, name="b")
            except NonDeterminismError:
                cleaned.append(True)
                return "caught"

        log = LogBuilder()
        log.step("a", result=1)
        trace = invoke(wf, log.operations)
        assert cleaned == [True]
        assert isinstance(finish_error(trace), NonDeterminismError)
        assert trace.requests == []


class TestMisuse:
    def test_yielding_something_that_is_not_an_operation_raises_in_the_workflow(self) -> None:
        """A non-descriptor yield raises UsageError at the yield, naming the object."""

        def wf(event: Any, ctx: durable.Context) -> Any:
            yield 42

        error = finish_error(invoke(wf))
        assert isinstance(error, UsageError) and isinstance(error, TypeError)
        assert "yielded 42" in str(error) and "wf" in str(error)

    def test_returning_a_descriptor_without_yielding_it_is_reported(self) -> None:
        """A plain function that returns ctx.step(...) forgot to yield it."""
        error = finish_error(invoke(lambda event, ctx: ctx.step(lambda _: 1, name="s")))
        assert isinstance(error, UsageError) and "instead of yielding it" in str(error)

    def test_a_short_wait_is_rejected_before_an_id_is_allocated(self) -> None:
        """ctx.wait(0) raises at once and the next operation still gets id n=1."""

        def wf(event: Any, ctx: durable.Context) -> Any:
            with pytest.raises(ValidationError):
                ctx.wait(Duration(0))
            return (yield ctx.step(lambda _: "ok", name="s"))

        trace = invoke(wf)
        assert trace.requests[0][0].id == LogBuilder().next_id()

    def test_step_finished_for_an_unknown_step_is_refused(self) -> None:
        """Reporting a body the core never asked for is a usage error."""
        replay = Replay(two_steps, None, [], NOW)
        replay.next_actions()
        with pytest.raises(UsageError, match="no step body of that id"):
            replay.step_finished("nope", Value(1))

    def test_the_interpreter_refuses_further_calls_after_an_internal_error(self) -> None:
        """A BaseException escaping user code poisons the Replay, as h11 does."""

        def wf(event: Any, ctx: durable.Context) -> Any:
            yield ctx.step(lambda _: 1, name="s")
            raise KeyboardInterrupt

        log = LogBuilder()
        log.step("s", result=1)
        replay = Replay(wf, None, log.operations, NOW)
        with pytest.raises(KeyboardInterrupt):
            replay.next_actions()
        with pytest.raises(UsageError, match="internal error"):
            replay.next_actions()


class TestSuspension:
    def test_except_exception_cannot_swallow_a_suspension(self) -> None:
        """Closing the generator at a suspension bypasses `except Exception`."""
        events: list[str] = []

        def wf(event: Any, ctx: durable.Context) -> Any:
            try:
                yield ctx.wait(10, name="w")
                events.append("after wait")
            except Exception:
                events.append("swallowed")
            finally:
                events.append("finally")

        trace = invoke(wf)
        assert isinstance(trace.end, Suspend)
        assert events == ["finally"]

    @pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
    def test_a_workflow_that_keeps_running_after_suspension_fails_clearly(self) -> None:
        """Catching GeneratorExit and yielding again is reported as misuse."""

        def wf(event: Any, ctx: durable.Context) -> Any:
            while True:
                try:
                    yield ctx.wait(10, name="w")
                except BaseException:
                    continue

        error = finish_error(invoke(wf))
        assert isinstance(error, UsageError) and "kept running after it was suspended" in str(error)


class TestCoroutines:
    def test_a_coroutine_writes_the_same_updates_as_a_generator(self) -> None:
        """await and yield of the same operations produce the same requests."""

        async def wf(event: Any, ctx: durable.Context) -> Any:
            a = await greet("Bob")
            b = await ctx.step(lambda _: 5, name="five")
            await ctx.wait(3, name="w")
            return [a, b]

        def gen(event: Any, ctx: durable.Context) -> Any:
            a = yield greet("Bob")
            b = yield ctx.step(lambda _: 5, name="five")
            yield ctx.wait(3, name="w")
            return [a, b]

        assert invoke(wf).requests == invoke(gen).requests

    def test_awaiting_a_foreign_awaitable_is_reported(self) -> None:
        """An awaitable of another framework is not an operation; the error says so."""

        class Foreign:
            def __await__(self) -> Any:
                yield "tick"

        async def wf(event: Any, ctx: durable.Context) -> Any:
            await Foreign()

        error = finish_error(invoke(wf))
        assert isinstance(error, UsageError) and "not a durable operation" in str(error)


class TestSerialization:
    def test_an_unserializable_result_fails_the_step_naming_it(self) -> None:
        """A result the serializer rejects is a SerDesError naming the step, checkpointed FAIL."""

        def wf(event: Any, ctx: durable.Context) -> Any:
            yield ctx.step(lambda _: object(), name="opaque")

        trace = invoke(wf)
        error = finish_error(trace)
        assert isinstance(error, SerDesError)
        assert "step 'opaque'" in str(error) and "object" in str(error)
        assert trace.wire == [[("STEP", "START"), ("STEP", "FAIL")]]
        fail = trace.requests[0][1]
        assert fail.error is not None
        assert fail.error.type == "aws_durable_execution_sdk_python.exceptions.SerDesError"


class TestLogging:
    def test_logs_before_the_replay_boundary_are_silent(self) -> None:
        """Only lines after the last replayed operation are logged again."""
        records: list[str] = []

        class Sink:
            def _log(self, msg: object, *args: Any, **kwargs: Any) -> None:
                records.append(str(msg) % args)

            debug = info = warning = error = exception = _log

        def wf(event: Any, ctx: durable.Context) -> Any:
            ctx.logger.info("start")
            yield ctx.step(lambda _: 1, name="a")
            ctx.logger.info("after %s", "a")
            yield ctx.step(lambda _: 2, name="b")
            ctx.logger.info("end")

        log = LogBuilder()
        log.step("a", result=1)
        invoke(wf, log.operations, logger=Sink())
        assert records == ["after a", "end"]

    def test_context_fields_reach_a_stdlib_logger(self, caplog: pytest.LogCaptureFixture) -> None:
        """Records carry executionArn, and step records the operation fields."""

        def wf(event: Any, ctx: durable.Context) -> Any:
            ctx.logger.info("outside")
            yield ctx.step(lambda s: s.logger.info("inside"), name="s")

        with caplog.at_level(logging.INFO, logger="durable"):
            invoke(wf, execution_arn="arn:x")
        outside, inside = caplog.records
        assert outside.executionArn == "arn:x"  # type: ignore[attr-defined]
        assert inside.operationName == "s" and inside.attempt == 1  # type: ignore[attr-defined]
        assert outside.funcName == "wf"


class TestDepth:
    def test_a_ten_thousand_step_loop_replays_without_recursion(self) -> None:
        """A long log replays in one pass with no step body and no stack growth."""
        n = 10_000
        log = LogBuilder()
        for i in range(n):
            log.step(None, result=i)

        def wf(event: Any, ctx: durable.Context) -> Any:
            total = 0
            for _ in range(n):
                total += yield ctx.step(lambda _: 0)
            return total

        trace = invoke(wf, log.operations)
        assert finish_value(trace) == sum(range(n)) and trace.bodies == []


def test_updates_carry_the_operation_identity() -> None:
    """Every update repeats the id, type, sub-type and name of its operation."""
    trace = invoke(two_steps)
    start, succeed = trace.requests[0]
    assert start.id == succeed.id == LogBuilder().next_id()
    assert (start.type, start.action) == (OperationType.STEP, OperationAction.START)
    assert start.parent_id is None and start.payload is None


class TestEdges:
    def test_a_step_ended_by_the_service_fails_with_its_status(self) -> None:
        """A STOPPED step record raises StepError naming the status; the body never runs."""
        log = LogBuilder()
        log.step("greet", status=OperationStatus.STOPPED)
        trace = invoke(two_steps, log.operations)
        error = finish_error(trace)
        assert isinstance(error, StepError) and "STOPPED by the service" in str(error)
        assert trace.bodies == []

    def test_a_failed_step_without_an_error_object_still_raises(self) -> None:
        """A FAILED record with no ErrorObject becomes StepError('Unknown error...')."""
        log = LogBuilder()
        log.step("greet", status=OperationStatus.FAILED)
        error = finish_error(invoke(two_steps, log.operations))
        assert isinstance(error, StepError) and "No ErrorObject" in str(error)

    def test_a_stored_serdes_failure_comes_back_as_serdes_error(self) -> None:
        """A FAILED step whose error type is SerDesError is rebuilt as SerDesError."""
        log = LogBuilder()
        log.step(
            "greet",
            error=ErrorObject(
                message="bad", type="aws_durable_execution_sdk_python.exceptions.SerDesError"
            ),
        )
        assert isinstance(finish_error(invoke(two_steps, log.operations)), SerDesError)

    def test_an_unconfirmed_at_most_once_start_is_an_invalid_state(self) -> None:
        """If the service does not report STARTED after START, the body must not run."""
        from durable.errors import InvalidStateError

        def wf(event: Any, ctx: durable.Context) -> Any:
            yield ctx.step(
                lambda _: 1,
                name="pay",
                config=StepConfig(step_semantics=StepSemantics.AT_MOST_ONCE_PER_RETRY),
            )

        replay = Replay(wf, None, [], NOW)
        (checkpoint,) = replay.next_actions()
        assert isinstance(checkpoint, Checkpoint) and checkpoint.blocking
        replay.checkpointed([], NOW)  # the answer does not mention the step
        (finish,) = replay.next_actions()
        assert isinstance(finish, Finish) and isinstance(finish.error, InvalidStateError)
        assert "reported nothing" in str(finish.error)

    def test_done_and_finished_calls_are_inert(self) -> None:
        """After Finish the Replay reports done and returns no more actions."""
        replay = Replay(lambda e, c: 1, None, [], NOW)
        assert not replay.done
        (finish,) = replay.next_actions()
        assert isinstance(finish, Finish) and finish.result == 1 and finish.error is None
        assert replay.done and replay.next_actions() == []

    def test_step_finished_needs_an_outcome(self) -> None:
        """Passing a bare value instead of Value/Failure is refused."""
        replay = Replay(two_steps, None, [], NOW)
        (_, run) = replay.next_actions()
        assert isinstance(run, RunStep) and replay.running_steps == {run.op_id}
        with pytest.raises(UsageError, match="Value or a Failure"):
            replay.step_finished(run.op_id, {"msg": "x"})  # type: ignore[arg-type]

    def test_a_workflow_must_be_callable(self) -> None:
        """Replay(None, ...) is a usage error."""
        with pytest.raises(UsageError, match="must be callable"):
            Replay(None, None, [], NOW)  # type: ignore[arg-type]

    def test_yielding_none_explains_itself(self) -> None:
        """A bare yield says it is not an operation."""

        def wf(event: Any, ctx: durable.Context) -> Any:
            yield

        assert "bare `yield`" in str(finish_error(invoke(wf)))

    def test_an_exception_while_unwinding_fails_the_execution(self) -> None:
        """A finally block raising during suspension replaces the suspension with FAILED."""

        def wf(event: Any, ctx: durable.Context) -> Any:
            try:
                yield ctx.wait(10)
            finally:
                raise RuntimeError("cleanup failed")

        error = finish_error(invoke(wf))
        assert isinstance(error, RuntimeError) and str(error) == "cleanup failed"


class TestContext:
    def test_ctx_step_accepts_a_step_function_and_a_built_step(self) -> None:
        """Both keep the decorated name unless a new one is given."""

        @durable.step
        def ping(step_ctx: durable.StepContext) -> str:
            return "pong"

        ctx = Replay(two_steps, None, [], NOW).root_context
        assert ctx.step(ping).name == "ping"
        assert ctx.step(ping, name="other").name == "other"
        assert ctx.step(greet("x")).name == "greet"
        assert ctx.step(greet("x"), config=StepConfig(sub_type="G")).sub_type == "G"
        with pytest.raises(ValidationError, match="needs a callable"):
            ctx.step(42)  # type: ignore[call-overload]

    def test_set_logger_rejects_objects_without_logger_methods(self) -> None:
        """A logger must have debug/info/warning/error/exception."""
        ctx = Replay(two_steps, None, [], NOW).root_context
        with pytest.raises(ValidationError, match="has no debug"):
            ctx.set_logger(object())  # type: ignore[arg-type]

    def test_set_logger_redirects_every_level(self) -> None:
        """After set_logger, each level method reaches the new logger with the fields."""
        calls: list[tuple[str, dict[str, Any]]] = []

        class Sink:
            def __getattr__(self, level: str) -> Any:
                return lambda msg, *a, **k: calls.append((level, k["extra"]))

        def wf(event: Any, ctx: durable.Context) -> Any:
            ctx.set_logger(Sink())  # type: ignore[arg-type]
            for level in ("debug", "info", "warning", "error", "exception", "critical"):
                getattr(ctx.logger, level)("m", extra={"k": level})
            return ctx.operation_id, ctx.parent_id, ctx.execution_arn

        trace = invoke(wf, execution_arn="arn:e")
        assert finish_value(trace) == (None, None, "arn:e")
        assert [c[0] for c in calls] == [
            "debug",
            "info",
            "warning",
            "error",
            "exception",
            "critical",
        ]
        assert calls[0][1] == {"executionArn": "arn:e", "k": "debug"}


def test_close_unwinds_a_workflow_stopped_half_way() -> None:
    """``Replay.close`` runs the workflow's ``finally`` blocks, emits nothing,
    and leaves the Replay done."""
    unwound: list[str] = []

    def wf(event: Any, ctx: durable.Context) -> Any:
        try:
            yield ctx.step(lambda _: 1, name="first")
            yield ctx.step(lambda _: 2, name="second")
        finally:
            unwound.append("finally")

    replay = Replay(wf, {}, {}, NOW)
    actions = replay.next_actions()
    assert any(isinstance(a, RunStep) for a in actions)
    assert not replay.done
    replay.close()
    assert unwound == ["finally"]
    assert replay.done
    replay.close()  # a second close does nothing
    assert unwound == ["finally"]


@pytest.mark.parametrize("then", ["return", "wait"])
def test_a_caught_nondeterminism_error_still_fails_the_execution(then: str) -> None:
    """``except Exception`` around an operation must not turn a log that no
    longer matches the code into a success (or a suspension)."""
    from durable.testing import LocalRunner

    def first(event: Any, ctx: durable.Context) -> Any:
        return (yield ctx.step(lambda _: 1, name="charge"))

    def changed(event: Any, ctx: durable.Context) -> Any:
        try:
            yield ctx.step(lambda _: 2, name="refund")  # the log holds 'charge' here
        except Exception:
            if then == "wait":
                yield ctx.wait(Duration.from_seconds(60), name="later")
            return "swallowed"
        return "unreachable"

    log = LocalRunner(first).run({}).log
    actions = Replay(changed, {}, log, NOW).next_actions()
    end = actions[-1]
    assert isinstance(end, Finish) and isinstance(end.outcome, Failure)
    assert isinstance(end.outcome.error, NonDeterminismError)
    assert "'charge'" in str(end.outcome.error) and "'refund'" in str(end.outcome.error)


def test_an_async_generator_workflow_is_refused_with_the_reason() -> None:
    async def wf(event: Any, ctx: durable.Context) -> Any:
        yield ctx.step(lambda _: 1, name="a")

    actions = Replay(wf, {}, {}, NOW).next_actions()
    end = actions[-1]
    assert isinstance(end, Finish) and isinstance(end.outcome, Failure)
    assert isinstance(end.outcome.error, UsageError)
    assert "async generator" in str(end.outcome.error) and "wf" in str(end.outcome.error)


def test_powertools_logger_lines_point_at_the_workflow() -> None:
    """With aws-lambda-powertools' Logger, the location is the caller's line."""
    import io
    import json as _json

    from aws_lambda_powertools import Logger

    stream = io.StringIO()
    logger = Logger(service="t", logger_handler=logging.StreamHandler(stream))

    def wf(event: Any, ctx: durable.Context) -> Any:
        ctx.logger.info("hello")  # the line the log must point at
        return (yield ctx.step(lambda _: 1, name="a"))

    from durable.testing import LocalRunner

    LocalRunner(wf, logger=logger).run({})
    record = _json.loads(stream.getvalue().splitlines()[0])
    assert record["message"] == "hello"
    assert record["location"].startswith("wf:")
