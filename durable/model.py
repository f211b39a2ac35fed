"""Wire records and enums of the durable-execution protocol, as plain data.

Responsibility: the typed shape of what crosses the wire (protocol.md §1-§3):
``Operation`` as the service delivers it, ``OperationUpdate`` as the SDK sends
it, ``ErrorObject``, the invocation envelopes and the API responses.  Field
names are Python's; the JSON names live only in ``durable.wire``.  Records are
frozen, slotted attrs classes with meaningful equality.  This module never
imports cattrs, boto3 or anything that does I/O.

``Operation`` and its details classes are slotted but not frozen: an
invocation may decode thousands of them, and a frozen attrs class costs
twice as much to build (about 1 µs per operation).  Treat them as read-only
all the same: nothing in `durable` changes a record; it replaces it.

Timestamps are ``Timestamp`` values: integer milliseconds since the Unix
epoch, the form the invocation event carries them in, so decoding a large
event does not build a ``datetime`` per operation; ``to_datetime`` and
``timestamp`` convert.  Optional members are ``None`` when absent; the wire
omits them.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, NewType

import attrs

from durable.errors import (
    DurableOperationError,
    SerDesError,
    wire_type_of,
)

__all__ = [
    "CallbackDetails",
    "CallbackOptions",
    "ChainedInvokeDetails",
    "ChainedInvokeOptions",
    "CheckpointOutput",
    "ContextDetails",
    "ContextOptions",
    "ErrorObject",
    "ExecutionDetails",
    "ExecutionStatus",
    "InvocationInput",
    "InvocationOutput",
    "InvocationStatus",
    "MAX_ERROR_BYTES",
    "Operation",
    "OperationAction",
    "OperationStatus",
    "OperationType",
    "OperationUpdate",
    "StatePage",
    "StepDetails",
    "StepOptions",
    "TERMINAL_STATUSES",
    "Timestamp",
    "WaitDetails",
    "WaitOptions",
    "timestamp",
    "to_datetime",
]

#: Milliseconds since the Unix epoch (UTC).
Timestamp = NewType("Timestamp", int)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)


def timestamp(moment: datetime) -> Timestamp:
    """The ``Timestamp`` of an aware ``datetime`` (a naive one is taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return Timestamp((moment - _EPOCH) // _ONE_MS)


def to_datetime(value: int) -> datetime:
    """The aware UTC ``datetime`` of a ``Timestamp``."""
    return _EPOCH + timedelta(milliseconds=value)


class OperationType(enum.Enum):
    EXECUTION = "EXECUTION"
    CONTEXT = "CONTEXT"
    STEP = "STEP"
    WAIT = "WAIT"
    CALLBACK = "CALLBACK"
    CHAINED_INVOKE = "CHAINED_INVOKE"


class OperationStatus(enum.Enum):
    STARTED = "STARTED"
    PENDING = "PENDING"
    READY = "READY"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    TIMED_OUT = "TIMED_OUT"
    STOPPED = "STOPPED"


#: Statuses after which the service never changes an operation again.
TERMINAL_STATUSES = frozenset(
    {
        OperationStatus.SUCCEEDED,
        OperationStatus.FAILED,
        OperationStatus.CANCELLED,
        OperationStatus.TIMED_OUT,
        OperationStatus.STOPPED,
    }
)


class OperationAction(enum.Enum):
    START = "START"
    SUCCEED = "SUCCEED"
    FAIL = "FAIL"
    RETRY = "RETRY"
    CANCEL = "CANCEL"


class InvocationStatus(enum.Enum):
    """Status of one invocation's output envelope."""

    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    PENDING = "PENDING"


class ExecutionStatus(enum.Enum):
    """Status of a whole durable execution."""

    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    TIMED_OUT = "TIMED_OUT"
    STOPPED = "STOPPED"


def _tuple_or_none(value: Sequence[str] | None) -> tuple[str, ...] | None:
    return None if value is None else tuple(value)


def _operations(value: Iterable[Operation]) -> tuple[Operation, ...]:
    return tuple(value)


def _strings(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(value)


#: The largest ErrorObject the service accepts, as JSON (protocol.md §2.3).
MAX_ERROR_BYTES = 32_768
#: Room for the member names and punctuation of an ErrorObject's JSON.
_ERROR_OVERHEAD = 80
#: Room kept for the note that says what ``fitted`` cut.
_NOTE_ROOM = 200


def _fitting_prefix(text: str, budget: int) -> int:
    """The longest prefix length of ``text`` whose JSON literal fits ``budget`` bytes."""
    low, high = 0, len(text)
    while low < high:
        mid = (low + high + 1) // 2
        if len(json.dumps(text[:mid])) <= budget:
            low = mid
        else:
            high = mid - 1
    return low


def _text_of(exc: BaseException) -> str:
    """``str(exc)``, or a description of the failure when ``__str__`` itself
    raises (the error must still be recorded under its own type)."""
    try:
        return str(exc)
    except Exception as failure:
        return f"<str() of the {type(exc).__name__} raised {type(failure).__name__}: {failure}>"


@attrs.frozen(kw_only=True)
class ErrorObject:
    """Why an operation or an execution failed (protocol.md §2.3)."""

    message: str | None = None
    type: str | None = None
    data: str | None = None
    stack_trace: tuple[str, ...] | None = attrs.field(default=None, converter=_tuple_or_none)

    @classmethod
    def from_exception(cls, exc: BaseException) -> ErrorObject:
        """Record ``exc`` as protocol.md §7.4 prescribes.

        Operation errors and serdes errors keep their recorded message, data
        and trace; any other exception records ``str(exc)`` and its qualified
        class name, with no trace.
        """
        if isinstance(exc, SerDesError | DurableOperationError):
            error = cls(
                message=exc.message,
                type=wire_type_of(exc),
                data=exc.data,
                stack_trace=exc.stack_trace,
            )
        else:
            error = cls(message=_text_of(exc), type=wire_type_of(exc))
        return error.fitted()

    def json_size(self) -> int:
        """An upper bound of this error's size as JSON, in bytes (ASCII-escaped)."""
        size = _ERROR_OVERHEAD
        for text in (self.message, self.type, self.data):
            if text is not None:
                size += len(json.dumps(text))
        for line in self.stack_trace or ():
            size += len(json.dumps(line)) + 2
        return size

    def fitted(self, limit: int = MAX_ERROR_BYTES) -> ErrorObject:
        """This error, cut down to at most ``limit`` bytes of JSON if needed.

        The service refuses an error over 32 KiB, which would fail the whole
        execution for an exception with a long message.  Rather than that, the
        stack trace loses its oldest lines, then an oversized ``data`` is
        dropped, then the message is shortened; each cut is said at the end of
        the message.  The type is never changed.
        """
        if self.json_size() <= limit:
            return self
        error = self
        notes: list[str] = []
        trace = list(error.stack_trace or ())
        target = limit - _NOTE_ROOM  # leaves room to say what was cut
        while trace and error.json_size() > target:
            trace.pop(0)
            error = attrs.evolve(error, stack_trace=tuple(trace) or None)
        if len(trace) < len(self.stack_trace or ()):
            notes.append(f"{len(self.stack_trace or ()) - len(trace)} oldest stack trace lines")
        if error.json_size() > target and error.data is not None:
            notes.append(f"ErrorData of {len(error.data)} characters")
            error = attrs.evolve(error, data=None)
        message = error.message or ""
        suffix = f" [truncated by durable: {'; '.join(notes)}]" if notes else ""
        if error.json_size() + len(json.dumps(suffix)) > limit:
            room = target - (error.json_size() - len(json.dumps(message)))
            keep = _fitting_prefix(message, room)
            notes.append(f"{len(message) - keep} characters of the message")
            message = message[:keep]
            suffix = f" [truncated by durable: {'; '.join(notes)}]"
        return attrs.evolve(error, message=message + suffix)

    @classmethod
    def from_message(cls, message: str, type: str | None = None) -> ErrorObject:
        return cls(message=message, type=type)


@attrs.define(kw_only=True)
class ExecutionDetails:
    input_payload: str | None = None


@attrs.define(kw_only=True)
class ContextDetails:
    replay_children: bool | None = None
    result: str | None = None
    error: ErrorObject | None = None


@attrs.define(kw_only=True)
class StepDetails:
    attempt: int | None = None
    next_attempt_timestamp: Timestamp | None = None
    result: str | None = None
    error: ErrorObject | None = None


@attrs.define(kw_only=True)
class WaitDetails:
    scheduled_end_timestamp: Timestamp | None = None


@attrs.define(kw_only=True)
class CallbackDetails:
    callback_id: str | None = None
    result: str | None = None
    error: ErrorObject | None = None


@attrs.define(kw_only=True)
class ChainedInvokeDetails:
    result: str | None = None
    error: ErrorObject | None = None


@attrs.define(kw_only=True)
class Operation:
    """One operation as the service delivers it (protocol.md §2.2)."""

    id: str
    type: OperationType
    status: OperationStatus
    parent_id: str | None = None
    name: str | None = None
    sub_type: str | None = None
    start_timestamp: Timestamp | None = None
    end_timestamp: Timestamp | None = None
    execution_details: ExecutionDetails | None = None
    context_details: ContextDetails | None = None
    step_details: StepDetails | None = None
    wait_details: WaitDetails | None = None
    callback_details: CallbackDetails | None = None
    chained_invoke_details: ChainedInvokeDetails | None = None

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @property
    def result(self) -> str | None:
        """The stored result payload, from the details member of this type."""
        details: Any = self._details()
        return None if details is None else getattr(details, "result", None)

    @property
    def error(self) -> ErrorObject | None:
        """The stored error, from the details member of this type."""
        details: Any = self._details()
        return None if details is None else getattr(details, "error", None)

    def _details(self) -> object | None:
        kind = self.type
        if kind is OperationType.STEP:
            return self.step_details
        if kind is OperationType.CONTEXT:
            return self.context_details
        if kind is OperationType.CALLBACK:
            return self.callback_details
        if kind is OperationType.CHAINED_INVOKE:
            return self.chained_invoke_details
        return None


@attrs.frozen(kw_only=True)
class ContextOptions:
    replay_children: bool = False


@attrs.frozen(kw_only=True)
class StepOptions:
    next_attempt_delay_seconds: int


@attrs.frozen(kw_only=True)
class WaitOptions:
    wait_seconds: int


@attrs.frozen(kw_only=True)
class CallbackOptions:
    timeout_seconds: int = 0
    heartbeat_timeout_seconds: int = 0


@attrs.frozen(kw_only=True)
class ChainedInvokeOptions:
    function_name: str
    tenant_id: str | None = None


@attrs.frozen(kw_only=True)
class OperationUpdate:
    """One change the SDK asks the service to make (protocol.md §2.4)."""

    id: str
    type: OperationType
    action: OperationAction
    parent_id: str | None = None
    name: str | None = None
    sub_type: str | None = None
    payload: str | None = None
    error: ErrorObject | None = None
    context_options: ContextOptions | None = None
    step_options: StepOptions | None = None
    wait_options: WaitOptions | None = None
    callback_options: CallbackOptions | None = None
    chained_invoke_options: ChainedInvokeOptions | None = None


@attrs.frozen(kw_only=True)
class StatePage:
    """A page of operations: the event's initial state, a ``GetDurableExecutionState``
    answer, or the ``NewExecutionState`` of a checkpoint response."""

    operations: tuple[Operation, ...] = attrs.field(default=(), converter=_operations)
    next_marker: str | None = None


@attrs.frozen(kw_only=True)
class CheckpointOutput:
    """Answer to ``CheckpointDurableExecution``. ``checkpoint_token`` is ``None``
    when the service withheld it (execution complete, or token revoked: §1.8)."""

    checkpoint_token: str | None
    new_execution_state: StatePage = StatePage()


@attrs.frozen(kw_only=True)
class InvocationInput:
    """The event Lambda hands a durable function (protocol.md §1.1)."""

    durable_execution_arn: str
    checkpoint_token: str
    initial_execution_state: StatePage = StatePage()
    updated_operation_ids: tuple[str, ...] = attrs.field(default=(), converter=_strings)


@attrs.frozen(kw_only=True)
class InvocationOutput:
    """What a durable function returns to Lambda (protocol.md §1.5)."""

    status: InvocationStatus
    result: str | None = None
    error: ErrorObject | None = None
