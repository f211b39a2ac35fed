"""Operations that wait for the world: callbacks, chained invokes, polling.

Responsibility: the semantics of protocol.md §5.3-§5.6, as handlers in the
style of ``_handlers``: an immediate ``Outcome`` when the log answers, or a
process that emits updates, parks until the service reports progress, and
ends in an ``Outcome``.  Nothing here runs user code except through
``RunBody`` (the check of ``wait_for_condition``, the submitter step) or a
strategy callable, as ``_handlers`` does for retry strategies.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from durable.config import MAX_WAIT_SECONDS, CallbackConfig, ChildConfig, StepConfig
from durable.core._actions import Failure, Outcome, Value
from durable.core._context import Context
from durable.core._handlers import (
    _NONE,
    Emit,
    Park,
    Process,
    RunBody,
    _decode,
    _propagates,
    _step_logger,
    _update,
    start_child,
)
from durable.core._log import rebuild_error
from durable.errors import (
    CallbackError,
    CallbackExternalError,
    CallbackSubmitterError,
    CallbackTimeoutError,
    ChildContextError,
    DurableError,
    InvokeError,
    StepError,
    UsageError,
    ValidationError,
    WaitForConditionError,
)
from durable.model import (
    CallbackOptions,
    ChainedInvokeOptions,
    ErrorObject,
    Operation,
    OperationAction,
    OperationStatus,
    StepOptions,
    to_datetime,
)
from durable.ops import (
    Callback,
    CallbackResult,
    ChildContext,
    CreateCallback,
    Invoke,
    Step,
    StepContext,
    WaitForCallback,
    WaitForCallbackContext,
    WaitForCondition,
    WaitForConditionCheckContext,
)
from durable.serdes import DEFAULT_JSON_SERDES, PASS_THROUGH_SERDES, deserialize, serialize
from durable.waits import WaitForConditionDecision, decide_wait

if TYPE_CHECKING:
    from durable.core._replay import Replay

__all__ = [
    "MAX_INVOKE_PAYLOAD_BYTES",
    "read_callback_result",
    "start_create_callback",
    "start_invoke",
    "start_wait_for_callback",
    "start_wait_for_condition",
]

#: The service's limit on a chained invoke's input payload (protocol.md §9).
MAX_INVOKE_PAYLOAD_BYTES = 1_048_576

_STARTED = OperationStatus.STARTED
_PENDING = OperationStatus.PENDING
_READY = OperationStatus.READY
_SUCCEEDED = OperationStatus.SUCCEEDED
_FAILED = OperationStatus.FAILED
_TIMED_OUT = OperationStatus.TIMED_OUT
_FAILURE_STATUSES = frozenset(
    {OperationStatus.FAILED, OperationStatus.CANCELLED, OperationStatus.STOPPED}
)


# -- create_callback and Callback.result() (§5.4) -------------------------------------


def _handle(op_id: str, desc: CreateCallback, record: Operation) -> Outcome:
    details = record.callback_details
    if details is None or not details.callback_id:
        return Failure(
            CallbackError(
                f"Missing callback details for operation: {op_id} ({desc.label})",
                operation_id=op_id,
                operation_name=desc.name,
            )
        )
    config = desc.config
    return Value(
        Callback(
            callback_id=details.callback_id,
            operation_id=op_id,
            name=desc.name,
            serdes=config.serdes if config is not None else None,
        )
    )


def start_create_callback(
    rp: Replay, ctx: Context, op_id: str, desc: CreateCallback, record: Operation | None
) -> Outcome | Process:
    # A stored callback, whatever its status, only hands back the handle:
    # errors surface from result(), so code in between replays the same way.
    if record is not None:
        return _handle(op_id, desc, record)
    return _create_callback_process(rp, ctx, op_id, desc)


def _create_callback_process(rp: Replay, ctx: Context, op_id: str, desc: CreateCallback) -> Process:
    config = desc.config if desc.config is not None else CallbackConfig()
    yield Emit(
        _update(
            ctx,
            op_id,
            desc,
            OperationAction.START,
            callback_options=CallbackOptions(
                timeout_seconds=config.timeout_seconds,
                heartbeat_timeout_seconds=config.heartbeat_timeout_seconds,
            ),
        ),
        True,
    )
    record = rp.log.get(op_id)
    if record is None:
        return Failure(
            CallbackError(
                f"the service did not report {desc.label} (id {op_id}) after its START, so "
                "it has no callback id",
                operation_id=op_id,
                operation_name=desc.name,
            )
        )
    return _handle(op_id, desc, record)


def _callback_outcome(rp: Replay, desc: CallbackResult[Any]) -> Outcome | None:
    op_id = desc.operation_id
    record = rp.log.get(op_id)
    if record is None:
        return Failure(
            CallbackError(
                f"Callback operation must exist: {desc.label} (id {op_id}) is not in the "
                "log; call result() on a callback this execution created",
                operation_id=op_id,
                operation_name=desc.name,
            )
        )
    status = record.status
    details = record.callback_details
    if status is _SUCCEEDED:
        payload = details.result if details is not None else None
        return _decode(rp, op_id, desc, desc.serdes or PASS_THROUGH_SERDES, payload)
    error = details.error if details is not None else None
    error = error or ErrorObject()
    if status is _TIMED_OUT:
        return Failure(
            CallbackTimeoutError(
                error.message or "Callback timed out",
                data=error.data,
                stack_trace=error.stack_trace,
                operation_id=op_id,
                operation_name=desc.name,
            )
        )
    if status in _FAILURE_STATUSES:
        return Failure(
            CallbackExternalError(
                error.message or "Callback failed",
                data=error.data,
                stack_trace=error.stack_trace,
                operation_id=op_id,
                operation_name=desc.name,
            )
        )
    return None


def read_callback_result(rp: Replay, ctx: Context, desc: CallbackResult[Any]) -> Outcome | Process:
    """The answer of a callback; allocates no id (it reads the callback's record)."""
    outcome = _callback_outcome(rp, desc)
    if outcome is not None:
        return outcome
    return _await_callback(rp, desc)


def _await_callback(rp: Replay, desc: CallbackResult[Any]) -> Process:
    while True:
        yield Park(None, f"{desc.label} waits for its answer")
        outcome = _callback_outcome(rp, desc)
        if outcome is not None:
            return outcome


# -- wait_for_callback (§5.5) ------------------------------------------------------------


def _wait_for_callback_body(ctx: Context, desc: WaitForCallback[Any]) -> Any:
    config = desc.config
    prefix = f"{desc.name} " if desc.name else ""
    callback = yield CreateCallback(name=f"{prefix}create callback id", config=config)
    submitter = desc.submitter

    def submit(step_ctx: StepContext) -> Any:
        return submitter(callback.callback_id, WaitForCallbackContext(logger=step_ctx.logger))

    step_config = (
        StepConfig(retry_strategy=desc.retry_strategy, serdes=config.serdes)
        if config is not None
        else None
    )
    yield Step(fn=submit, name=f"{prefix}submitter", config=step_config)
    return (yield callback.result())


_WAIT_FOR_CALLBACK = ChildConfig(sub_type="WaitForCallback")


def _translate(error: BaseException) -> BaseException:
    """A callback error surfaces as itself; a failed submitter as
    ``CallbackSubmitterError``; anything else stays ``ChildContextError``."""
    if isinstance(error, ChildContextError):
        cause = error.__cause__
        if isinstance(cause, CallbackError):
            return cause
        if isinstance(cause, StepError):
            return CallbackSubmitterError(
                error.message or "Callback submitter failed",
                data=error.data,
                stack_trace=error.stack_trace,
                operation_id=error.operation_id,
                operation_name=error.operation_name,
            )
    return error


def start_wait_for_callback(
    rp: Replay, ctx: Context, op_id: str, desc: WaitForCallback[Any], record: Operation | None
) -> Outcome | Process:
    child: ChildContext[Any] = ChildContext(
        fn=_wait_for_callback_body, args=(desc,), name=desc.name, config=_WAIT_FOR_CALLBACK
    )
    answer = start_child(rp, ctx, op_id, child, record)
    if type(answer) is Value:
        return answer
    if type(answer) is Failure:
        return Failure(_translate(answer.error))
    return _translated(answer)  # type: ignore[arg-type]


def _translated(process: Process) -> Process:
    outcome = yield from process
    if isinstance(outcome, Failure):
        return Failure(_translate(outcome.error))
    return outcome


# -- invoke (§5.6) ------------------------------------------------------------------------


def _invoke_outcome(
    rp: Replay, op_id: str, desc: Invoke[Any], record: Operation | None
) -> Outcome | None:
    if record is None:
        return None
    status = record.status
    details = record.chained_invoke_details
    if status is _SUCCEEDED:
        config = desc.config
        serdes = (config.serdes_result if config is not None else None) or DEFAULT_JSON_SERDES
        return _decode(rp, op_id, desc, serdes, details.result if details is not None else None)
    if status is _FAILED or status is _TIMED_OUT or record.is_terminal:
        # CANCELLED too: the reference SDK would wait forever (protocol.md Q6).
        return Failure(
            rebuild_error(
                InvokeError,
                details.error if details is not None else None,
                op_id=op_id,
                name=desc.name,
                what=desc.label,
            )
        )
    return None


def start_invoke(
    rp: Replay, ctx: Context, op_id: str, desc: Invoke[Any], record: Operation | None
) -> Outcome | Process:
    outcome = _invoke_outcome(rp, op_id, desc, record)
    if outcome is not None:
        return outcome
    return _invoke_process(rp, ctx, op_id, desc, record)


def _invoke_process(
    rp: Replay, ctx: Context, op_id: str, desc: Invoke[Any], record: Operation | None
) -> Process:
    if record is None:
        config = desc.config
        serdes = (config.serdes_payload if config is not None else None) or DEFAULT_JSON_SERDES
        payload = serialize(serdes, desc.payload, op_id, rp.execution_arn, what=desc.label)
        size = len(payload.encode()) if payload is not None else 0
        if size > MAX_INVOKE_PAYLOAD_BYTES:
            raise ValidationError(
                f"{desc.label} (id {op_id}): the input payload is {size} bytes; the service "
                f"accepts at most {MAX_INVOKE_PAYLOAD_BYTES}"
            )
        yield Emit(
            _update(
                ctx,
                op_id,
                desc,
                OperationAction.START,
                payload=payload,
                chained_invoke_options=ChainedInvokeOptions(
                    function_name=desc.function_name,
                    tenant_id=config.tenant_id if config is not None else None,
                ),
            ),
            True,
        )
    while True:
        # The target may already have failed (it could not be resolved).
        outcome = _invoke_outcome(rp, op_id, desc, rp.log.get(op_id))
        if outcome is not None:
            return outcome
        yield Park(None, f"{desc.label} waits for {desc.function_name!r}")


# -- wait_for_condition (§5.3) --------------------------------------------------------------


def start_wait_for_condition(
    rp: Replay, ctx: Context, op_id: str, desc: WaitForCondition[Any], record: Operation | None
) -> Outcome | Process:
    if record is not None and record.is_terminal:
        details = record.step_details
        if record.status is _SUCCEEDED:
            return _decode(
                rp, op_id, desc, desc.config.serdes, details.result if details is not None else None
            )
        if record.status is _FAILED:
            return Failure(
                rebuild_error(
                    WaitForConditionError,
                    details.error if details is not None else None,
                    op_id=op_id,
                    name=desc.name,
                    what=desc.label,
                )
            )
        return Failure(
            WaitForConditionError(
                f"{desc.label} (id {op_id}) was {record.status.value} by the service",
                operation_id=op_id,
                operation_name=desc.name,
            )
        )
    return _condition_process(rp, ctx, op_id, desc, record)


def _condition_process(
    rp: Replay, ctx: Context, op_id: str, desc: WaitForCondition[Any], record: Operation | None
) -> Process:
    config = desc.config
    serdes = config.serdes
    log = rp.log
    arn = rp.execution_arn
    while True:
        status = record.status if record is not None else None
        details = record.step_details if record is not None else None
        if status is _PENDING:
            due = details.next_attempt_timestamp if details is not None else None
            yield Park(
                None if due is None else to_datetime(due),
                f"{desc.label} waits for its next check",
            )
            record = log.get(op_id)
            continue
        # The state the previous check saved, read before START (a START on
        # a READY step may clear it on the service: protocol.md Q13).
        saved = details.result if details is not None and status in (_STARTED, _READY) else None
        if status is not _STARTED:
            yield Emit(_update(ctx, op_id, desc, OperationAction.START), False)
        attempt = ((details.attempt or 0) if details is not None else 0) + 1
        try:
            if saved:
                state = deserialize(serdes, saved, op_id, arn, what=desc.label)
            else:
                text = serialize(serdes, config.initial_state, op_id, arn, what=desc.label)
                state = (
                    None if text is None else deserialize(serdes, text, op_id, arn, what=desc.label)
                )
        except DurableError as exc:
            return (yield from _fail_condition(ctx, op_id, desc, exc))
        check = desc.check

        def call(step_ctx: StepContext, state: Any = state, check: Any = check) -> Any:
            return check(
                state,
                WaitForConditionCheckContext(logger=step_ctx.logger, attempt=step_ctx.attempt),
            )

        outcome: Outcome = yield RunBody(
            op_id=op_id,
            call=call,
            attempt=attempt,
            step_context=StepContext(
                logger=_step_logger(ctx, op_id, desc.name, attempt),
                attempt=attempt,
                operation_id=op_id,
                name=desc.name,
            ),
            name=desc.name,
        )
        if isinstance(outcome, Failure):
            if _propagates(outcome.error):
                return outcome
            return (yield from _fail_condition(ctx, op_id, desc, outcome.error))
        try:
            payload = serialize(serdes, outcome.value, op_id, arn, what=desc.label)
            new_state = (
                None
                if payload is None
                else deserialize(serdes, payload, op_id, arn, what=desc.label)
            )
            decision = decide_wait(config.wait_strategy, new_state, attempt, rp.random)
            if not isinstance(decision, WaitForConditionDecision):
                raise UsageError(
                    f"the wait strategy of {desc.label} returned {decision!r}; a wait strategy "
                    "must return a WaitForConditionDecision"
                )
        except Exception as exc:
            if _propagates(exc):
                return Failure(exc)
            return (yield from _fail_condition(ctx, op_id, desc, exc))
        if not decision.should_continue:
            yield Emit(_update(ctx, op_id, desc, OperationAction.SUCCEED, payload=payload), True)
            return Value(new_state) if payload is not None else _NONE
        delay = min(max(1, decision.delay_seconds), MAX_WAIT_SECONDS)
        yield Emit(
            _update(
                ctx,
                op_id,
                desc,
                OperationAction.RETRY,
                payload=payload,
                step_options=StepOptions(next_attempt_delay_seconds=delay),
            ),
            True,
        )
        yield Park(rp.now + timedelta(seconds=delay), f"{desc.label} checks again in {delay} s")
        record = log.get(op_id)


def _fail_condition(
    ctx: Context, op_id: str, desc: WaitForCondition[Any], error: BaseException
) -> Process:
    error_object = ErrorObject.from_exception(error)
    yield Emit(_update(ctx, op_id, desc, OperationAction.FAIL, error=error_object), True)
    return Failure(
        rebuild_error(
            WaitForConditionError, error_object, op_id=op_id, name=desc.name, what=desc.label
        )
    )
