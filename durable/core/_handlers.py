"""Per-operation semantics: one handler per descriptor type (protocol.md §5).

Responsibility: given a descriptor, its freshly allocated id and the record
the log holds at that id (if any), decide what happens.  A handler returns
either an ``Outcome`` at once (the common replay case: a stored result or
error) or a *process*: a small generator that yields internal requests to the
interpreter and finally returns the ``Outcome``:

* ``Emit(update, blocking)``  queue a checkpoint update; a blocking one parks
  the process until the shell reports the service's answer;
* ``RunBody(...)``            ask the shell to run a step body; the process is
  resumed with the body's ``Outcome``;
* ``Park(resume_at, reason)`` nothing to do until the service re-invokes (or,
  inside concurrent branches later, until ``resume_at``);
* ``RunChild(fn, args, kwargs, ctx)`` run ``fn(ctx, *args, **kwargs)`` as a
  nested workflow frame; the process is resumed with its ``Outcome``.

Processes read the log afresh after every blocking request, so what the
service answered (read-your-writes, protocol.md §3.2) decides what follows.
The table in ``_table`` maps descriptor types to handlers; the interpreter
has no ``isinstance`` ladder.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Generator
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Union

import attrs

from durable.config import CHECKPOINT_SIZE_LIMIT, MAX_WAIT_SECONDS, StepSemantics
from durable.core._actions import Failure, Outcome, Value
from durable.core._context import Context
from durable.core._log import rebuild_error
from durable.core._logger import ReplaySafeLogger
from durable.errors import (
    ChildContextError,
    ExecutionError,
    InvalidStateError,
    InvocationError,
    NonDeterminismError,
    RetryableSerDesError,
    SerDesError,
    StepError,
    StepInterruptedError,
    UsageError,
)
from durable.model import (
    ContextOptions,
    ErrorObject,
    Operation,
    OperationAction,
    OperationStatus,
    OperationUpdate,
    StepOptions,
    WaitOptions,
    to_datetime,
)
from durable.ops import ChildContext, Descriptor, Step, StepContext, Wait
from durable.retries import RetryDecision, RetryPresets, decide_retry
from durable.serdes import EXTENDED_TYPES_SERDES, SerDes, deserialize, serialize

if TYPE_CHECKING:
    from durable.core._replay import Replay

__all__ = ["Abandon", "Emit", "Join", "Park", "Process", "RunBody", "RunChild", "Spawn", "Started"]

_STARTED = OperationStatus.STARTED
_PENDING = OperationStatus.PENDING
_READY = OperationStatus.READY
_SUCCEEDED = OperationStatus.SUCCEEDED
_FAILED = OperationStatus.FAILED
_AT_MOST_ONCE = StepSemantics.AT_MOST_ONCE_PER_RETRY
_NONE = Value(None)
_default_decode = functools.partial(EXTENDED_TYPES_SERDES.deserialize, serdes_context=None)
_default_encode = functools.partial(EXTENDED_TYPES_SERDES.serialize, serdes_context=None)


@attrs.frozen
class Emit:
    update: OperationUpdate
    blocking: bool


@attrs.frozen(kw_only=True)
class RunBody:
    op_id: str
    call: Callable[[StepContext], Any]
    attempt: int
    step_context: StepContext
    name: str | None


@attrs.frozen
class Park:
    resume_at: datetime | None
    reason: str


@attrs.frozen
class RunChild:
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: tuple[tuple[str, Any], ...]
    ctx: Context


@attrs.frozen
class Spawn:
    """Start a branch: a new task running ``process`` (a branch's child
    context); the interpreter answers with the task, a handle for ``Abandon``."""

    process: Any
    ctx: Context
    op_id: str
    index: int


@attrs.frozen
class Join:
    """Wait until at least one spawned branch finished; the answer is a list
    of ``(index, outcome)`` (empty if no branch is left)."""


@attrs.frozen
class Abandon:
    """Stop driving these branch tasks (early completion)."""

    tasks: tuple[Any, ...]


Request = Union[Emit, RunBody, Park, RunChild, Spawn, Join, Abandon]  # noqa: UP007
Process = Generator[Request, Any, Outcome]


@attrs.frozen
class Started:
    """An operation whose id is allocated and whose process must now run.

    ``Replay.begin_operation`` returns it when the operation cannot be
    answered at once; a frame may also yield it (the imperative API does) to
    hand the process to the interpreter.
    """

    process: Process
    ctx: Context
    op_id: str
    record: Operation | None


Handler = Callable[["Replay", Context, str, Any, Operation | None], "Outcome | Process"]


def _update(
    ctx: Context,
    op_id: str,
    desc: Descriptor,
    action: OperationAction,
    **fields: Any,
) -> OperationUpdate:
    return OperationUpdate(
        id=op_id,
        parent_id=ctx.parent_id,
        name=desc.name,
        type=desc.op_type,
        sub_type=desc.sub_type,
        action=action,
        **fields,
    )


# -- step (protocol.md §5.1) --------------------------------------------------


def _decode(
    rp: Replay, op_id: str, desc: Descriptor, serdes: SerDes[Any] | None, payload: str | None
) -> Outcome:
    """A stored payload as the operation's outcome.  The default serializer
    is called directly (no context object, no wrapper) on the replay hot
    path; only a failure goes through the wrapper, which names the operation."""
    if payload is None:
        return _NONE
    if serdes is None:
        try:
            return Value(_default_decode(payload))
        except Exception:  # the wrapper below reports it, naming the operation
            pass
    try:
        return Value(deserialize(serdes, payload, op_id, rp.execution_arn, what=desc.label))
    except (SerDesError, RetryableSerDesError) as exc:
        return Failure(exc)


def _encode_round_trip(
    rp: Replay, op_id: str, desc: Descriptor, serdes: SerDes[Any] | None, value: Any
) -> tuple[str | None, Any]:
    """Serialize ``value`` and deserialize it again (what the workflow gets back)."""
    if serdes is None:
        try:
            text: str = _default_encode(value)
            return text, _default_decode(text)
        except Exception:  # the wrapper below reports it, naming the operation
            pass
    payload = serialize(serdes, value, op_id, rp.execution_arn, what=desc.label)
    if payload is None:
        return None, None
    return payload, deserialize(serdes, payload, op_id, rp.execution_arn, what=desc.label)


def start_step(
    rp: Replay, ctx: Context, op_id: str, desc: Step[Any], record: Operation | None
) -> Outcome | Process:
    if record is not None:
        status = record.status
        details = record.step_details
        if status is _SUCCEEDED:
            return _decode(
                rp,
                op_id,
                desc,
                desc.config.serdes if desc.config is not None else None,
                details.result if details is not None else None,
            )
        if status is _FAILED:
            return Failure(
                rebuild_error(
                    StepError,
                    details.error if details is not None else None,
                    op_id=op_id,
                    name=desc.name,
                    what=desc.label,
                )
            )
        if record.is_terminal:
            # CANCELLED, TIMED_OUT or STOPPED: the service ended the step. The
            # reference SDK would run the body again and then be refused by the
            # service; `durable` reports it as the step's failure instead.
            return Failure(
                StepError(
                    f"{desc.label} (id {op_id}) was {status.value} by the service",
                    error_type=f"Step.{status.value}",
                    operation_id=op_id,
                    operation_name=desc.name,
                )
            )
    return _step_process(rp, ctx, op_id, desc, record)


def _step_process(
    rp: Replay, ctx: Context, op_id: str, desc: Step[Any], record: Operation | None
) -> Process:
    at_most_once = desc.semantics is _AT_MOST_ONCE
    log = rp.log
    while True:
        status = record.status if record is not None else None
        if status is _PENDING:
            assert record is not None
            details = record.step_details
            due = details.next_attempt_timestamp if details is not None else None
            yield Park(
                None if due is None else to_datetime(due),
                f"{desc.label} waits for its next attempt",
            )
            record = log.get(op_id)
            continue
        details = record.step_details if record is not None else None
        attempt = ((details.attempt or 0) if details is not None else 0) + 1
        outcome: Outcome
        if status is _STARTED and at_most_once:
            outcome = Failure(
                StepInterruptedError(
                    f"Step operation_id={op_id} name={desc.name} was previously interrupted",
                    step_id=op_id,
                )
            )
        else:
            if status is not _STARTED:
                start = _update(ctx, op_id, desc, OperationAction.START)
                if at_most_once:
                    yield Emit(start, True)
                    confirmed = log.get(op_id)
                    if confirmed is None or confirmed.status is not _STARTED:
                        seen = "nothing" if confirmed is None else confirmed.status.value
                        raise InvalidStateError(
                            f"{desc.label} (id {op_id}) is at-most-once, so its START must be "
                            f"confirmed as STARTED before the body runs; the service reported "
                            f"{seen}"
                        )
                else:
                    yield Emit(start, False)
            outcome = yield RunBody(
                op_id=op_id,
                call=desc.invoke,
                attempt=attempt,
                step_context=StepContext(
                    logger=_step_logger(ctx, op_id, desc.name, attempt),
                    attempt=attempt,
                    operation_id=op_id,
                    name=desc.name,
                ),
                name=desc.name,
            )
        if isinstance(outcome, Value):
            serdes = desc.config.serdes if desc.config is not None else None
            try:
                payload, value = _encode_round_trip(rp, op_id, desc, serdes, outcome.value)
            except SerDesError as exc:
                outcome = Failure(exc)
            else:
                yield Emit(
                    _update(ctx, op_id, desc, OperationAction.SUCCEED, payload=payload), True
                )
                return Value(value)
        error = outcome.error
        # Unlike child contexts, a step hands other invocation errors (such as
        # StepInterruptedError) to its retry strategy (§5.1).
        if not isinstance(error, Exception) or isinstance(
            error, ExecutionError | RetryableSerDesError
        ):
            return outcome
        error_object = ErrorObject.from_exception(error)
        if isinstance(error, SerDesError):
            decision = RetryDecision.no_retry()
        else:
            decision = _decide(rp, desc, error, attempt)
        if decision.should_retry:
            delay = min(max(1, decision.delay_seconds), MAX_WAIT_SECONDS)
            yield Emit(
                _update(
                    ctx,
                    op_id,
                    desc,
                    OperationAction.RETRY,
                    error=error_object,
                    step_options=StepOptions(next_attempt_delay_seconds=delay),
                ),
                True,
            )
            yield Park(
                rp.now + timedelta(seconds=delay),
                f"{desc.label} retries (attempt {attempt + 1}) in {delay} s",
            )
            record = log.get(op_id)
            continue
        yield Emit(_update(ctx, op_id, desc, OperationAction.FAIL, error=error_object), True)
        return Failure(
            rebuild_error(StepError, error_object, op_id=op_id, name=desc.name, what=desc.label)
        )


def _decide(rp: Replay, desc: Step[Any], error: Exception, attempt: int) -> RetryDecision:
    config = desc.config
    strategy = config.retry_strategy if config is not None else None
    decision = decide_retry(strategy or RetryPresets.default(), error, attempt, rp.random)
    if not isinstance(decision, RetryDecision):
        raise UsageError(
            f"the retry strategy of {desc.label} returned {decision!r}; "
            "a retry strategy must return a RetryDecision"
        )
    return decision


def _step_logger(ctx: Context, op_id: str, name: str | None, attempt: int) -> ReplaySafeLogger:
    fields: dict[str, Any] = {"operationId": op_id, "attempt": attempt}
    if name:
        fields["operationName"] = name
    base = ctx.logger
    # A body only runs for real, so its logger is never silenced.
    return ReplaySafeLogger(base._holder, {**base._extra, **fields})


# -- wait (protocol.md §5.2) ----------------------------------------------------


def start_wait(
    rp: Replay, ctx: Context, op_id: str, desc: Wait, record: Operation | None
) -> Outcome | Process:
    if record is not None and record.is_terminal:
        # SUCCEEDED when the timer fired; CANCELLED (or STOPPED) ends the wait too.
        return _NONE
    return _wait_process(rp, ctx, op_id, desc, record)


def _wait_process(
    rp: Replay, ctx: Context, op_id: str, desc: Wait, record: Operation | None
) -> Process:
    log = rp.log
    if record is None:
        yield Emit(
            _update(
                ctx,
                op_id,
                desc,
                OperationAction.START,
                wait_options=WaitOptions(wait_seconds=desc.seconds),
            ),
            True,
        )
        record = log.get(op_id)
    while record is None or not record.is_terminal:
        details = record.wait_details if record is not None else None
        due = details.scheduled_end_timestamp if details is not None else None
        yield Park(
            to_datetime(due) if due is not None else rp.now + timedelta(seconds=desc.seconds),
            f"{desc.label} for {desc.seconds} s",
        )
        record = log.get(op_id)
    return _NONE


# -- child context (protocol.md §5.7) -------------------------------------------


def _propagates(error: BaseException) -> bool:
    """Errors an operation passes on untouched, writing nothing: the code
    contradicts the log, the invocation must be retried, or it is not an
    ``Exception`` at all."""
    return (
        not isinstance(error, Exception)
        or isinstance(error, ExecutionError)
        or (isinstance(error, InvocationError) and error.is_retryable())
    )


def start_child(
    rp: Replay,
    ctx: Context,
    op_id: str,
    desc: ChildContext[Any],
    record: Operation | None,
    *,
    replaying: bool | None = None,
) -> Outcome | Process:
    """``replaying`` overrides the replay status the child inherits from
    ``ctx`` (branches of a map or parallel decide it per branch)."""
    if desc.virtual:
        if record is not None:
            return Failure(
                NonDeterminismError(
                    f"Non-deterministic operation identity at id={op_id!r}: the code runs a "
                    f"virtual {desc.label} there, which writes no checkpoint, but the log holds "
                    f"{record.type.value} {record.name!r}. The context was made virtual (or "
                    "operations were reordered) after this execution started.",
                    operation_id=op_id,
                )
            )
        return _child_process(rp, ctx, op_id, desc, None, replaying)
    if record is not None and record.is_terminal:
        stored = stored_context_outcome(
            rp, op_id, desc, record, desc.config.serdes if desc.config is not None else None
        )
        if stored is not None:
            return stored
    return _child_process(rp, ctx, op_id, desc, record, replaying)


def stored_context_outcome(
    rp: Replay, op_id: str, desc: Descriptor, record: Operation, serdes: SerDes[Any] | None
) -> Outcome | None:
    """The outcome a terminal CONTEXT record answers at once; ``None`` for
    SUCCEEDED with ReplayChildren (the body must run again to rebuild it)."""
    details = record.context_details
    status = record.status
    if status is _SUCCEEDED:
        if details is not None and details.replay_children:
            return None
        return _decode(rp, op_id, desc, serdes, details.result if details is not None else None)
    if status is _FAILED:
        return Failure(
            rebuild_error(
                ChildContextError,
                details.error if details is not None else None,
                op_id=op_id,
                name=desc.name,
                what=desc.label,
            )
        )
    return Failure(
        ChildContextError(
            f"{desc.label} (id {op_id}) was {status.value} by the service",
            error_type=f"Context.{status.value}",
            operation_id=op_id,
            operation_name=desc.name,
        )
    )


def _child_process(
    rp: Replay,
    ctx: Context,
    op_id: str,
    desc: ChildContext[Any],
    record: Operation | None,
    replaying: bool | None = None,
) -> Process:
    virtual = desc.virtual
    # A SUCCEEDED record reaches here only with ReplayChildren: the body runs
    # again over its children's checkpoints to rebuild the value, writing nothing.
    rebuilding = record is not None and record.status is _SUCCEEDED
    if record is None and not virtual:
        yield Emit(_update(ctx, op_id, desc, OperationAction.START), False)
    child_ctx = ctx._child(op_id, virtual=virtual)
    if replaying is not None:
        child_ctx.replaying = replaying
    outcome: Outcome = yield RunChild(desc.fn, desc.args, desc.kwargs, child_ctx)
    config = desc.config
    if isinstance(outcome, Value):
        serdes = config.serdes if config is not None else None
        try:
            payload, value = _encode_round_trip(rp, op_id, desc, serdes, outcome.value)
            if virtual or rebuilding:
                return Value(value)
            replay_children = payload is not None and len(payload) > CHECKPOINT_SIZE_LIMIT
            if replay_children:
                summarize = config.summary_generator if config is not None else None
                payload = str(summarize(outcome.value)) if summarize is not None else ""
        except Exception as exc:  # serializer or summary generator
            outcome = Failure(exc)
        else:
            yield Emit(
                _update(
                    ctx,
                    op_id,
                    desc,
                    OperationAction.SUCCEED,
                    payload=payload,
                    context_options=ContextOptions(replay_children=replay_children),
                ),
                True,
            )
            return Value(value)
    error = outcome.error
    if _propagates(error):
        return outcome
    assert isinstance(error, Exception)
    error_object = ErrorObject.from_exception(error)
    if not virtual and not rebuilding:
        yield Emit(_update(ctx, op_id, desc, OperationAction.FAIL, error=error_object), True)
    return Failure(
        rebuild_error(ChildContextError, error_object, op_id=op_id, name=desc.name, what=desc.label)
    )
