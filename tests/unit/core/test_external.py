"""Callbacks, wait_for_callback, chained invoke and wait_for_condition in the core."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import attrs
import pytest

import durable
from durable import Duration, JitterStrategy
from durable.config import CallbackConfig, InvokeConfig, WaitForCallbackConfig
from durable.core import Failure, Finish, Replay, Suspend, Value
from durable.errors import (
    CallbackError,
    CallbackExternalError,
    CallbackSubmitterError,
    CallbackTimeoutError,
    InvokeError,
    ValidationError,
    WaitForConditionError,
)
from durable.model import (
    CallbackDetails,
    ChainedInvokeDetails,
    ErrorObject,
    Operation,
    OperationStatus,
    OperationType,
    StepDetails,
)
from durable.retries import RetryPresets
from durable.serdes import DEFAULT_JSON_SERDES
from durable.testing.logs import LogBuilder
from durable.waits import (
    WaitForConditionConfig,
    WaitForConditionDecision,
    WaitStrategyConfig,
    create_wait_strategy,
)
from tests.unit.core.conftest import NOW, Trace, invoke

ID_1 = "1ced8f5be2db23a6513eba4d819c73806424748a7bc6fa0d792cc1c7d1775a97"


def value_of(trace: Trace) -> Any:
    assert isinstance(trace.end, Finish) and isinstance(trace.end.outcome, Value), trace.end
    return trace.end.outcome.value


def error_of(trace: Trace) -> BaseException:
    assert isinstance(trace.end, Finish) and isinstance(trace.end.outcome, Failure), trace.end
    return trace.end.outcome.error


def answered(trace: Trace, op_id: str, **changes: Any) -> list[Operation]:
    """The log after ``trace``, with ``op_id``'s record changed as the service would."""
    log = dict(trace.log)
    log[op_id] = attrs.evolve(log[op_id], **changes)
    return list(log.values())


def approval(event: Any, ctx: durable.Context) -> Any:
    callback = yield ctx.create_callback(
        name="approval", config=CallbackConfig(timeout=Duration.from_hours(1))
    )
    ctx.logger.info("send %s", callback.callback_id)
    return (yield callback.result())


class TestCallbacks:
    def test_a_callback_start_is_confirmed_then_the_workflow_waits(self) -> None:
        """create_callback writes a blocking START with its timeouts; result() suspends untimed."""
        trace = invoke(approval)
        assert trace.wire == [[("CALLBACK", "START")]]
        start = trace.requests[0][0]
        assert (start.name, start.sub_type) == ("approval", "Callback")
        assert start.callback_options is not None
        assert start.callback_options.timeout_seconds == 3600
        assert start.callback_options.heartbeat_timeout_seconds == 0
        assert isinstance(trace.end, Suspend) and trace.end.resume_at is None

    def test_the_answer_is_the_raw_string_without_a_serdes(self) -> None:
        """A SUCCEEDED callback returns exactly what the external system sent."""
        first = invoke(approval)
        log = answered(
            first,
            ID_1,
            status=OperationStatus.SUCCEEDED,
            callback_details=CallbackDetails(callback_id="cb=", result='{"ok": true}'),
        )
        assert value_of(invoke(approval, log)) == '{"ok": true}'

    def test_a_serdes_decodes_the_answer(self) -> None:
        """With CallbackConfig(serdes=...) the answer is decoded."""

        def wf(event: Any, ctx: durable.Context) -> Any:
            cb = yield ctx.create_callback(config=CallbackConfig(serdes=DEFAULT_JSON_SERDES))
            return (yield cb.result())

        first = invoke(wf)
        log = answered(
            first,
            ID_1,
            status=OperationStatus.SUCCEEDED,
            callback_details=CallbackDetails(callback_id="cb=", result='{"ok": true}'),
        )
        assert value_of(invoke(wf, log)) == {"ok": True}

    @pytest.mark.parametrize(
        ("status", "error_type", "message"),
        [
            (OperationStatus.TIMED_OUT, CallbackTimeoutError, "Callback timed out"),
            (OperationStatus.FAILED, CallbackExternalError, "rejected by Bob"),
        ],
    )
    def test_timeouts_and_failures_raise_at_result(
        self, status: OperationStatus, error_type: type[Exception], message: str
    ) -> None:
        """The handle is still returned; result() raises the callback's error."""
        first = invoke(approval)
        error = ErrorObject(message=message, type="Callback.Timeout", data="d")
        log = answered(
            first,
            ID_1,
            status=status,
            callback_details=CallbackDetails(callback_id="cb=", error=error),
        )
        raised = error_of(invoke(approval, log))
        assert isinstance(raised, error_type)
        assert (raised.message, raised.data) == (message, "d")  # type: ignore[attr-defined]

    def test_result_of_a_callback_not_in_the_log_is_an_error(self) -> None:
        """A handle made up by hand cannot be waited for."""

        def wf(event: Any, ctx: durable.Context) -> Any:
            return (yield durable.ops.Callback(callback_id="x", operation_id="nope").result())

        assert isinstance(error_of(invoke(wf)), CallbackError)


def submit(callback_id: str, context: durable.ops.WaitForCallbackContext) -> None:
    context.logger.info("approve with %s", callback_id)


class TestWaitForCallback:
    def wf(self, event: Any, ctx: durable.Context) -> Any:
        return (yield ctx.wait_for_callback(submit, name="approve"))

    def test_first_run_opens_the_callback_and_runs_the_submitter(self) -> None:
        """[CONTEXT START, CALLBACK START] then the submitter step, then the wait."""
        trace = invoke(self.wf)
        assert trace.wire == [
            [("CONTEXT", "START"), ("CALLBACK", "START")],
            [("STEP", "START"), ("STEP", "SUCCEED")],
        ]
        context, callback = trace.requests[0]
        assert (context.sub_type, context.name) == ("WaitForCallback", "approve")
        assert (callback.name, callback.parent_id) == ("approve create callback id", ID_1)
        assert trace.requests[1][0].name == "approve submitter"
        assert isinstance(trace.end, Suspend)

    def test_the_answer_completes_the_wrapper_context(self) -> None:
        """After the external answer, the wrapper SUCCEEDs with it."""
        first = invoke(self.wf)
        callback_id = first.requests[0][1].id
        log = answered(
            first,
            callback_id,
            status=OperationStatus.SUCCEEDED,
            callback_details=CallbackDetails(callback_id="cb=", result="yes"),
        )
        trace = invoke(self.wf, log)
        assert value_of(trace) == "yes"
        assert trace.wire == [[("CONTEXT", "SUCCEED")]]

    def test_a_failing_submitter_raises_callback_submitter_error(self) -> None:
        """Once its retries are spent, the submitter's failure surfaces as such."""

        def wf(event: Any, ctx: durable.Context) -> Any:
            def broken(callback_id: str, context: Any) -> None:
                raise ConnectionError("queue down")

            config = WaitForCallbackConfig(retry_strategy=RetryPresets.none())
            return (yield ctx.wait_for_callback(broken, name="w", config=config))

        error = error_of(invoke(wf))
        assert isinstance(error, CallbackSubmitterError) and error.message == "queue down"

    def test_a_timed_out_callback_raises_callback_timeout_error(self) -> None:
        """The wrapper FAILs and the workflow sees the callback's own error class."""
        first = invoke(self.wf)
        callback_id = first.requests[0][1].id
        log = answered(
            first,
            callback_id,
            status=OperationStatus.TIMED_OUT,
            callback_details=CallbackDetails(
                callback_id="cb=", error=ErrorObject(message="Callback timed out on heartbeat")
            ),
        )
        trace = invoke(self.wf, log)
        error = error_of(trace)
        assert isinstance(error, CallbackTimeoutError)
        assert error.message == "Callback timed out on heartbeat"
        assert trace.wire == [[("CONTEXT", "FAIL")]]


class TestInvoke:
    def wf(self, event: Any, ctx: durable.Context) -> Any:
        return (yield ctx.invoke("billing:live", {"order": 7}, name="bill"))

    def test_the_input_is_plain_json_and_the_workflow_waits(self) -> None:
        """START carries json.dumps of the payload and the function name, then suspends."""
        trace = invoke(self.wf)
        (start,) = trace.requests[0]
        assert start.payload == json.dumps({"order": 7})
        assert start.chained_invoke_options is not None
        assert start.chained_invoke_options.function_name == "billing:live"
        assert start.chained_invoke_options.tenant_id is None
        assert isinstance(trace.end, Suspend) and trace.end.resume_at is None

    def test_the_result_is_decoded_as_json(self) -> None:
        """A SUCCEEDED invoke returns json.loads of the target's result."""
        first = invoke(self.wf)
        log = answered(
            first,
            ID_1,
            status=OperationStatus.SUCCEEDED,
            chained_invoke_details=ChainedInvokeDetails(result='{"paid": 7}'),
        )
        assert value_of(invoke(self.wf, log)) == {"paid": 7}

    def test_a_failed_target_raises_invoke_error(self) -> None:
        """FAILED, TIMED_OUT and STOPPED invokes raise InvokeError with the stored error."""
        first = invoke(self.wf)
        log = answered(
            first,
            ID_1,
            status=OperationStatus.TIMED_OUT,
            chained_invoke_details=ChainedInvokeDetails(
                error=ErrorObject(message="took too long", type="ChainedInvoke.Timeout")
            ),
        )
        error = error_of(invoke(self.wf, log))
        assert isinstance(error, InvokeError)
        assert (error.message, error.error_type) == ("took too long", "ChainedInvoke.Timeout")

    def test_an_oversized_input_is_refused_before_anything_is_sent(self) -> None:
        """A payload over 1 MiB raises ValidationError naming the operation and the sizes."""

        def wf(event: Any, ctx: durable.Context) -> Any:
            return (yield ctx.invoke("f", "x" * 1_048_577, name="huge"))

        trace = invoke(wf)
        error = error_of(trace)
        assert isinstance(error, ValidationError)
        assert "invoke 'huge'" in str(error) and "1048576" in str(error)
        assert trace.requests == []

    def test_a_tenant_id_is_validated_when_configured(self) -> None:
        """InvokeConfig refuses a tenant id with characters the service rejects."""
        with pytest.raises(ValidationError, match="tenant_id"):
            InvokeConfig(tenant_id="a;b")
        trace = invoke(
            lambda e, c: (yield c.invoke("f", None, config=InvokeConfig(tenant_id="t-1")))
        )
        options = trace.requests[0][0].chained_invoke_options
        assert options is not None and options.tenant_id == "t-1"
        assert trace.requests[0][0].payload == "null"


def polling_config(limit: int = 5) -> WaitForConditionConfig[dict[str, int]]:
    return WaitForConditionConfig(
        wait_strategy=create_wait_strategy(
            WaitStrategyConfig(
                should_continue_polling=lambda state: state["n"] < 3,
                max_attempts=limit,
                initial_delay=Duration(10),
                jitter_strategy=JitterStrategy.NONE,
            )
        ),
        initial_state={"n": 0},
    )


def poll(
    state: dict[str, int], context: durable.ops.WaitForConditionCheckContext
) -> dict[str, int]:
    return {"n": state["n"] + 1}


class TestWaitForCondition:
    def wf(self, event: Any, ctx: durable.Context) -> Any:
        return (yield ctx.wait_for_condition(poll, config=polling_config(), name="job"))

    def test_a_check_that_wants_more_writes_retry_with_the_state(self) -> None:
        """The first check runs at once; RETRY carries its state and the strategy's delay."""
        trace = invoke(self.wf)
        assert trace.wire == [[("STEP", "START"), ("STEP", "RETRY")]]
        start, retry = trace.requests[0]
        assert (start.sub_type, start.name) == ("WaitForCondition", "job")
        assert retry.payload == '{"t":"m","v":{"n":{"t":"i","v":1}}}'
        assert (
            retry.step_options is not None and retry.step_options.next_attempt_delay_seconds == 10
        )
        assert isinstance(trace.end, Suspend) and trace.end.resume_at == NOW + timedelta(seconds=10)

    def test_the_next_check_starts_from_the_saved_state(self) -> None:
        """A READY record hands its saved state to the check, until the condition holds."""
        first = invoke(self.wf)
        record = first.log[ID_1]
        log = answered(
            first,
            ID_1,
            status=OperationStatus.READY,
            step_details=attrs.evolve(record.step_details or StepDetails(), attempt=2),
        )
        saved = '{"t":"m","v":{"n":{"t":"i","v":2}}}'
        log = [
            attrs.evolve(op, step_details=StepDetails(attempt=2, result=saved))
            if op.id == ID_1
            else op
            for op in log
        ]
        trace = invoke(self.wf, log)
        assert value_of(trace) == {"n": 3}
        assert trace.wire == [[("STEP", "START"), ("STEP", "SUCCEED")]]
        assert trace.bodies == [(ID_1, 3)]

    def test_exhaustion_fails_with_wait_for_condition_error(self) -> None:
        """When max_attempts checks pass without the condition, FAIL and raise."""

        def wf(event: Any, ctx: durable.Context) -> Any:
            return (yield ctx.wait_for_condition(poll, config=polling_config(limit=1)))

        trace = invoke(wf)
        error = error_of(trace)
        assert isinstance(error, WaitForConditionError)
        assert "exhausted 1 attempts" in error.message
        assert trace.wire == [[("STEP", "START"), ("STEP", "FAIL")]]

    def test_a_failing_check_fails_the_operation(self) -> None:
        """An exception from the check is recorded and raised as WaitForConditionError."""

        def wf(event: Any, ctx: durable.Context) -> Any:
            def bad(state: Any, context: Any) -> Any:
                raise RuntimeError("status endpoint down")

            return (yield ctx.wait_for_condition(bad, config=polling_config()))

        trace = invoke(wf)
        error = error_of(trace)
        assert isinstance(error, WaitForConditionError)
        assert (error.message, error.error_type) == ("status endpoint down", "RuntimeError")

    def test_config_is_required_before_an_id_is_allocated(self) -> None:
        """A missing config raises ValidationError at the call, allocating nothing."""
        ctx = Replay(lambda e, c: None, None, [], NOW).root_context
        with pytest.raises(ValidationError, match="WaitForConditionConfig"):
            ctx.wait_for_condition(poll)
        assert ctx._position == 0

    def test_a_satisfied_condition_wins_over_exhaustion(self) -> None:
        """A check that meets the condition on its last allowed attempt succeeds."""
        strategy = create_wait_strategy(
            WaitStrategyConfig(should_continue_polling=lambda s: False, max_attempts=1)
        )
        assert strategy({"n": 9}, 1) == WaitForConditionDecision.stop_polling()


def test_external_operations_replay_to_the_same_identity() -> None:
    """A renamed callback under a recorded one is non-determinism, like any operation."""
    log = LogBuilder()
    log.raw(
        Operation(
            id=ID_1,
            type=OperationType.CALLBACK,
            status=OperationStatus.STARTED,
            name="approval",
            sub_type="Callback",
            callback_details=CallbackDetails(callback_id="c="),
        )
    )

    def renamed(event: Any, ctx: durable.Context) -> Any:
        cb = yield ctx.create_callback(name="other")
        return (yield cb.result())

    assert "name checkpoint='approval' current='other'" in str(
        error_of(invoke(renamed, log.operations))
    )
