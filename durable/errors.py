"""Every exception `durable` raises, split by whose fault it is.

Responsibility: the exception classes and the mapping between exceptions and
the wire's ``ErrorType`` strings.  This module imports nothing but the
standard library.

The tree mirrors the reference SDK (protocol.md §7.5) so that code written
against the AWS documentation catches the same names::

    DurableError (alias DurableExecutionsError)
    ├── ValidationError (also ValueError)       bad arguments to an operation or a config
    ├── UsageError (also TypeError)             the API was used wrongly
    ├── InvalidStateError                       the service state contradicts an operation's rules
    ├── SerDesError                             a value could not be (de)serialized; permanent
    ├── UnrecoverableError
    │   ├── ExecutionError                      ends the execution FAILED
    │   │   ├── NonDeterminismError             the code contradicts the checkpoint log
    │   │   └── ServiceProtocolError            the service sent something impossible or malformed
    │   └── InvocationError                     ends the invocation with an error; Lambda retries it
    │       ├── ServiceApiError                 a call to the durable-execution API failed
    │       │   ├── CheckpointError
    │       │   └── GetExecutionStateError
    │       ├── StepInterruptedError            an at-most-once attempt was interrupted
    │       └── RetryableSerDesError
    └── DurableOperationError                   a durable operation failed (user failures are data)
        ├── StepError
        ├── InvokeError
        ├── ChildContextError
        ├── WaitForConditionError
        ├── CallbackError (+ External / Timeout / Submitter)
        └── BatchCompletionError

    BaseException
    └── SuspendExecution                        control flow; users cannot build it
        └── TimedSuspendExecution

``ErrorType`` strings (protocol.md Q10): for its own exception classes
`durable` writes the reference SDK's fully-qualified names (for example
``aws_durable_execution_sdk_python.exceptions.StepError``), so that histories
written by either SDK read the same in the other and in the console.  On read,
both those names and ``durable.errors.<Name>`` rebuild the same class.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import Any, ClassVar

__all__ = [
    "BackgroundThreadError",
    "BatchCompletionError",
    "CallbackError",
    "CallbackExternalError",
    "CallbackSubmitterError",
    "CallbackTimeoutError",
    "CheckpointError",
    "ChildContextError",
    "DurableApiErrorCategory",
    "DurableError",
    "DurableExecutionsError",
    "DurableOperationError",
    "ExecutionError",
    "GetExecutionStateError",
    "InvalidStateError",
    "InvocationError",
    "InvokeError",
    "NonDeterminismError",
    "NonDeterministicExecutionError",
    "OrderedLockError",
    "OrphanedChildException",
    "PluginLoadError",
    "RetryableSerDesError",
    "SerDesError",
    "ServiceApiError",
    "ServiceProtocolError",
    "StepError",
    "StepInterruptedError",
    "SuspendExecution",
    "TerminationReason",
    "TimedSuspendExecution",
    "UnrecoverableError",
    "UsageError",
    "ValidationError",
    "WaitForConditionError",
    "qualified_name",
    "wire_type_of",
]

_REF = "aws_durable_execution_sdk_python.exceptions."


class TerminationReason(enum.Enum):
    """Why an unrecoverable error ended an invocation or execution."""

    UNHANDLED_ERROR = "UNHANDLED_ERROR"
    INVOCATION_ERROR = "INVOCATION_ERROR"
    EXECUTION_ERROR = "EXECUTION_ERROR"
    CHECKPOINT_FAILED = "CHECKPOINT_FAILED"
    NON_DETERMINISTIC_EXECUTION = "NON_DETERMINISTIC_EXECUTION"
    STEP_INTERRUPTED = "STEP_INTERRUPTED"
    SERIALIZATION_ERROR = "SERIALIZATION_ERROR"


class DurableApiErrorCategory(enum.Enum):
    """Whether a failed API call should be retried by a new invocation."""

    INVOCATION = "INVOCATION"
    EXECUTION = "EXECUTION"


class DurableError(Exception):
    """Root of every exception `durable` raises.

    ``wire_type`` is the ``ErrorType`` written to checkpoints when an
    exception of exactly this class is recorded.
    """

    wire_type: ClassVar[str] = _REF + "DurableExecutionsError"


DurableExecutionsError = DurableError


class ValidationError(DurableError, ValueError):
    """Raised when an operation or a config is built with bad arguments.

    Raised eagerly, before any operation id is allocated, so a bad argument
    never shifts the ids of later operations.
    """

    wire_type = _REF + "ValidationError"


class UsageError(DurableError, TypeError):
    """Raised when the API is used wrongly: a workflow yields something that is
    not a durable operation, a handler is called with the wrong arguments, or
    the interpreter is driven out of order."""

    wire_type = _REF + "DurableExecutionsError"


class InvalidStateError(DurableError):
    """Raised when the service's record of an operation contradicts the
    operation's rules (e.g. an at-most-once step not STARTED after its START)."""

    wire_type = _REF + "InvalidStateError"


class SerDesError(DurableError):
    """A value could not be serialized or deserialized; retrying will not help.

    Raised into the workflow at the operation that produced the value; the
    operation is checkpointed FAILED with this error.
    """

    wire_type = _REF + "SerDesError"

    def __init__(
        self,
        message: str,
        error_type: str | None = None,
        data: str | None = None,
        stack_trace: Sequence[str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.error_type = error_type or self.wire_type
        self.data = data
        self.stack_trace = list(stack_trace) if stack_trace is not None else None


class UnrecoverableError(DurableError):
    """An error that ends the invocation; user workflow code should not catch it."""

    termination_reason: TerminationReason = TerminationReason.UNHANDLED_ERROR

    def __init__(self, message: str, termination_reason: TerminationReason | None = None) -> None:
        super().__init__(message)
        self.message = message
        if termination_reason is not None:
            self.termination_reason = termination_reason


class ExecutionError(UnrecoverableError):
    """Ends the execution: the invocation returns FAILED with this error."""

    wire_type = _REF + "ExecutionError"
    termination_reason = TerminationReason.EXECUTION_ERROR


class NonDeterminismError(ExecutionError):
    """The workflow code asked for an operation that contradicts the checkpoint log.

    Raised into the workflow at the operation whose identity (type, sub-type,
    name, parent) differs from what the log holds at the same id. The message
    names the id, what the log holds and what the code asked for.
    ``operation_id`` is the id; ``step_id`` is the same value under the
    reference SDK's attribute name.
    """

    wire_type = _REF + "NonDeterministicExecutionError"
    termination_reason = TerminationReason.NON_DETERMINISTIC_EXECUTION

    def __init__(self, message: str, operation_id: str | None = None) -> None:
        super().__init__(message)
        self.operation_id = operation_id

    @property
    def step_id(self) -> str | None:
        return self.operation_id


NonDeterministicExecutionError = NonDeterminismError


class ServiceProtocolError(ExecutionError):
    """The service (or whatever produced the invocation event) sent something
    that cannot be valid: a malformed event, an unknown enum value, a record
    missing a required field. The message lists the path of each bad field.

    Where it is found decides the outcome.  A malformed invocation event, or
    a malformed answer to a checkpoint or state request, is raised out of the
    Lambda handler: the fault is the service's and may be passing, so
    Lambda's retry of the invocation, with a fresh event, is the remedy, as
    for a transport error.  State that decodes but cannot belong to this
    execution (another execution's log, an input that is not JSON) fails the
    execution: the invocation returns FAILED, before any workflow code runs.
    """

    wire_type = _REF + "ExecutionError"


class InvocationError(UnrecoverableError):
    """Ends the invocation with an error so that Lambda retries it."""

    wire_type = _REF + "InvocationError"
    termination_reason = TerminationReason.INVOCATION_ERROR

    def is_retryable(self) -> bool:
        return True


class ServiceApiError(InvocationError):
    """A call to the durable-execution API failed.

    ``retryable`` follows protocol.md §3.5: throttling, 5xx, transport errors
    and an invalid checkpoint token are retryable (the invocation is retried);
    other 4xx errors are not (the execution fails).
    """

    wire_type = _REF + "BotoClientError"

    def __init__(
        self,
        message: str,
        *,
        retryable: bool,
        error_code: str | None = None,
        status_code: int | None = None,
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.error_code = error_code
        self.status_code = status_code

    def is_retryable(self) -> bool:
        return self.retryable


class CheckpointError(ServiceApiError):
    """``CheckpointDurableExecution`` failed."""

    wire_type = _REF + "CheckpointError"
    termination_reason = TerminationReason.CHECKPOINT_FAILED


class GetExecutionStateError(ServiceApiError):
    """``GetDurableExecutionState`` failed while paging in the execution state."""

    wire_type = _REF + "GetExecutionStateError"


class StepInterruptedError(InvocationError):
    """An at-most-once step attempt started but never reported an outcome.

    It is not raised out of the invocation: it is handed to the step's retry
    strategy as the failure of the interrupted attempt (protocol.md §5.1).
    """

    wire_type = _REF + "StepInterruptedError"
    termination_reason = TerminationReason.STEP_INTERRUPTED

    def __init__(self, message: str, step_id: str | None = None) -> None:
        super().__init__(message)
        self.step_id = step_id


class RetryableSerDesError(InvocationError):
    """A (de)serialization failure that may succeed if the invocation is retried."""

    wire_type = _REF + "RetryableSerDesError"
    termination_reason = TerminationReason.SERIALIZATION_ERROR


class DurableOperationError(DurableError):
    """A durable operation failed. User failures are data: this carries the
    recorded ``ErrorObject`` fields.

    ``error_type`` is the type of the error that escaped the operation (for
    example ``"ValueError"``), ``data`` the machine-readable payload and
    ``stack_trace`` the recorded trace lines, if any. ``operation_id`` and
    ``operation_name`` name the operation that raised it, when known.
    """

    wire_type = _REF + "DurableOperationError"

    def __init__(
        self,
        message: str | None = None,
        error_type: str | None = None,
        data: str | None = None,
        stack_trace: Sequence[str] | None = None,
        *,
        operation_id: str | None = None,
        operation_name: str | None = None,
    ) -> None:
        message = "" if message is None else message
        super().__init__(message)
        self.message = message
        self.error_type = error_type if error_type is not None else type(self).wire_type
        self.data = data
        self.stack_trace = list(stack_trace) if stack_trace is not None else None
        self.operation_id = operation_id
        self.operation_name = operation_name

    def __repr__(self) -> str:
        where = ""
        if self.operation_name or self.operation_id:
            where = f", operation={self.operation_name!r}, id={self.operation_id!r}"
        return f"{type(self).__name__}({self.message!r}, error_type={self.error_type!r}{where})"


class StepError(DurableOperationError):
    """A step failed and its retry strategy gave up (or it failed on replay)."""

    wire_type = _REF + "StepError"


class InvokeError(DurableOperationError):
    """A chained invoke failed, timed out or was stopped."""

    wire_type = _REF + "InvokeError"


class ChildContextError(DurableOperationError):
    """A child context (or a map/parallel branch) raised."""

    wire_type = _REF + "ChildContextError"


class WaitForConditionError(DurableOperationError):
    """A wait_for_condition check or its wait strategy raised, or polling was exhausted."""

    wire_type = _REF + "WaitForConditionError"


class CallbackError(DurableOperationError):
    """A callback could not deliver a result."""

    wire_type = _REF + "CallbackError"


class CallbackExternalError(CallbackError):
    """The external system reported a failure for the callback."""

    wire_type = _REF + "CallbackExternalError"


class CallbackTimeoutError(CallbackError):
    """The callback timed out (overall or heartbeat timeout)."""

    wire_type = _REF + "CallbackTimeoutError"


class CallbackSubmitterError(CallbackError):
    """The submitter of wait_for_callback failed after its retries."""

    wire_type = _REF + "CallbackSubmitterError"


class BatchCompletionError(DurableOperationError):
    """A map or parallel finished by a custom completion predicate with a FAILED outcome."""

    wire_type = "aws_durable_execution_sdk_python.concurrency.models.BatchCompletionError"

    def __init__(
        self,
        message: str | None = None,
        error_type: str | None = None,
        data: str | None = None,
        stack_trace: Sequence[str] | None = None,
        *,
        completion_reason: Any = None,
        operation_id: str | None = None,
        operation_name: str | None = None,
    ) -> None:
        super().__init__(
            message,
            error_type,
            data,
            stack_trace,
            operation_id=operation_id,
            operation_name=operation_name,
        )
        self.completion_reason = completion_reason


class PluginLoadError(DurableError):
    """Never raised by `durable`, which has no plugin mechanism; defined so that
    code written for the AWS SDK that catches it still imports."""

    wire_type = _REF + "PluginLoadError"


class OrderedLockError(DurableError):
    """Never raised by `durable` (ids follow program order without locks);
    defined for code written against the AWS SDK."""

    wire_type = _REF + "OrderedLockError"


class BackgroundThreadError(BaseException):
    """Never raised by `durable`, which checkpoints without a background
    thread; defined for code written against the AWS SDK."""


class OrphanedChildException(BaseException):
    """Never raised by `durable`: it stops driving the branches of a finished
    map or parallel instead of refusing their updates."""


class SuspendExecution(BaseException):
    """The current line of execution must wait for the service.

    A ``BaseException`` so that ``except Exception`` in user code cannot
    swallow it. Only `durable` raises it; constructing one in user code raises
    ``UsageError``.
    """

    def __init__(self, message: str, *, _token: object = None) -> None:
        if _token is not _SUSPEND_TOKEN:
            raise UsageError("SuspendExecution is raised by durable only; do not construct it")
        super().__init__(message)
        self.message = message


class TimedSuspendExecution(SuspendExecution):
    """A suspension with a resume time (epoch seconds)."""

    def __init__(self, message: str, scheduled_timestamp: float, *, _token: object = None) -> None:
        super().__init__(message, _token=_token)
        self.scheduled_timestamp = scheduled_timestamp


_SUSPEND_TOKEN = object()


def qualified_name(cls: type) -> str:
    """``QualName`` for builtins, ``module.QualName`` otherwise (protocol.md §7.4)."""
    module = cls.__module__
    if module == "builtins":
        return cls.__qualname__
    return f"{module}.{cls.__qualname__}"


def wire_type_of(exc: BaseException) -> str:
    """The ``ErrorType`` recorded for ``exc``.

    `durable`'s own classes record the reference SDK's names (see the module
    docstring); ``SerDesError`` and its subclasses always record the base
    name; any other exception records its qualified class name.
    """
    cls = type(exc)
    if isinstance(exc, SerDesError):
        return SerDesError.wire_type
    own = cls.__dict__.get("wire_type")
    if isinstance(own, str) and cls.__module__ == __name__:
        return own
    return qualified_name(cls)


_REBUILDABLE: tuple[type[DurableOperationError], ...] = (
    DurableOperationError,
    StepError,
    InvokeError,
    ChildContextError,
    WaitForConditionError,
    CallbackError,
    CallbackExternalError,
    CallbackTimeoutError,
    CallbackSubmitterError,
    BatchCompletionError,
)

#: ErrorType string -> operation error class, for rebuilding stored errors (§7.6).
OPERATION_ERROR_REGISTRY: dict[str, type[DurableOperationError]] = {}
for _cls in _REBUILDABLE:
    OPERATION_ERROR_REGISTRY[_cls.wire_type] = _cls
    OPERATION_ERROR_REGISTRY[f"{__name__}.{_cls.__name__}"] = _cls
del _cls
