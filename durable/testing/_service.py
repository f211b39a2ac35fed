"""An in-memory durable-execution service with a virtual clock.

Responsibility: play the service's part of the protocol for tests and the
local runner: keep each execution's operations, validate and apply checkpoint
updates with the rules of protocol.md §2.5 (rejecting what the service would
reject, with the same error classification), move operations between statuses
as §2.6 says (timers fire, retries become READY), chain checkpoint tokens,
page state, and record every accepted request.  Time is a ``VirtualClock``
that only moves when told to, so a one-year wait costs nothing.

It implements the ``durable.runtime.Service`` protocol, the same one the
boto3-backed client of the Lambda adapter implements.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs

from durable._workflow import DurableWorkflow
from durable.config import MAX_WAIT_SECONDS
from durable.errors import ServiceApiError
from durable.model import (
    TERMINAL_STATUSES,
    CallbackDetails,
    ChainedInvokeDetails,
    CheckpointOutput,
    ContextDetails,
    ErrorObject,
    ExecutionDetails,
    ExecutionStatus,
    InvocationInput,
    InvocationOutput,
    InvocationStatus,
    Operation,
    OperationAction,
    OperationStatus,
    OperationType,
    OperationUpdate,
    StatePage,
    StepDetails,
    Timestamp,
    WaitDetails,
    timestamp,
    to_datetime,
)

__all__ = [
    "CallbackTimer",
    "CheckpointRequest",
    "Execution",
    "LocalService",
    "PendingInvoke",
    "RegisteredFunction",
    "SimulatedCrash",
    "VirtualClock",
]

#: Where virtual time starts: a fixed instant, so runs are reproducible.
EPOCH = datetime(2025, 1, 1, tzinfo=UTC)
MAX_ERROR_BYTES = 32_768
MAX_PAYLOAD_BYTES = 6 * 1024 * 1024
#: Failed invocations in a row after which the service fails the execution.
MAX_FAILED_INVOCATIONS = 5
#: Seconds the service waits before re-invoking after a failed invocation.
RETRY_INVOCATION_AFTER = 5
#: PENDING answers in a row with nothing pending before the execution fails.
MAX_INVALID_PENDING = 3
#: The largest body ``SendDurableExecutionCallbackSuccess`` accepts (protocol.md §3.6).
MAX_CALLBACK_RESULT_BYTES = 262_144
#: The largest chained-invoke input, and the largest output of an execution
#: started by a chained invoke, in UTF-8 bytes (protocol.md §2.5).
MAX_INVOKE_PAYLOAD_BYTES = 1_048_576
MAX_FUNCTION_NAME_CHARS = 256
MAX_TENANT_ID_CHARS = 256
#: ``ErrorType`` of a callback past its overall timeout / its heartbeat timeout (§2.1).
CALLBACK_TIMEOUT_TYPE = "Callback.Timeout"
CALLBACK_HEARTBEAT_TYPE = "Callback.Heartbeat"
#: ``ErrorType`` of a chained invoke whose target timed out (§5.6).
CHAINED_INVOKE_TIMEOUT_TYPE = "ChainedInvoke.Timeout"

_TENANT_ID = re.compile(r"[a-zA-Z0-9._:/=+\-@ ]+")
# A function as Invoke names it: bare name, name:qualifier, partial ARN
# (account:function:name) or full ARN, each optionally with a qualifier.
_FUNCTION_NAME = re.compile(
    r"(?:arn:aws[a-zA-Z-]*:lambda:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):function:"
    r"|(?P<partial_account>\d{12}):function:)?"
    r"(?P<name>[a-zA-Z0-9_.-]+)"
    r"(?::(?P<qualifier>\$LATEST|[a-zA-Z0-9_-]+))?"
)

_ACTIONS: dict[OperationType, frozenset[OperationAction]] = {
    OperationType.STEP: frozenset(
        {
            OperationAction.START,
            OperationAction.SUCCEED,
            OperationAction.FAIL,
            OperationAction.RETRY,
        }
    ),
    OperationType.CONTEXT: frozenset(
        {OperationAction.START, OperationAction.SUCCEED, OperationAction.FAIL}
    ),
    OperationType.WAIT: frozenset({OperationAction.START, OperationAction.CANCEL}),
    OperationType.CALLBACK: frozenset({OperationAction.START}),
    OperationType.CHAINED_INVOKE: frozenset({OperationAction.START}),
    OperationType.EXECUTION: frozenset({OperationAction.SUCCEED, OperationAction.FAIL}),
}


class SimulatedCrash(BaseException):
    """The function's process died (raised by fault injection in tests).

    A ``BaseException``, so nothing in the workflow or in `durable` handles
    it: the invocation simply ends, as if the process had been killed.
    """


class VirtualClock:
    """Service time that moves only when told to."""

    def __init__(self, start: datetime = EPOCH) -> None:
        self._now = start

    def now(self) -> datetime:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += timedelta(seconds=seconds)

    def advance_to(self, when: datetime) -> None:
        if when > self._now:
            self._now = when


@attrs.frozen
class CheckpointRequest:
    """One accepted checkpoint request, as the journal records it."""

    invocation: int
    updates: tuple[OperationUpdate, ...]


@attrs.frozen(kw_only=True)
class PendingInvoke:
    """A chained invoke the service accepted but nobody has run yet.

    ``function_name`` is the ``FunctionName`` as the update sent it (a name,
    ``name:qualifier`` or an ARN); ``payload`` the input text.
    """

    op_id: str
    function_name: str
    payload: str | None
    tenant_id: str | None = None


@attrs.frozen(kw_only=True)
class RegisteredFunction:
    """A function chained invokes can reach, under its bare ``name``.

    ``durable`` says whether ``target`` runs as a durable execution of its own
    (a workflow) or as one plain call ``target(payload) -> result``.
    """

    name: str
    target: Callable[..., Any]
    durable: bool


@attrs.define(kw_only=True)
class CallbackTimer:
    """The service's clock-keeping for one open callback (protocol.md §5.4).

    Deadlines are ``Timestamp`` values; ``None`` means that timeout is
    disabled (its option was 0).
    """

    callback_id: str
    operation_id: str
    started: Timestamp
    timeout_at: Timestamp | None
    heartbeat_seconds: int
    heartbeat_at: Timestamp | None

    def deadline(self) -> tuple[Timestamp, ErrorObject] | None:
        """The first deadline and the error the callback times out with, if any.

        At equal instants the overall timeout wins.
        """
        found: tuple[Timestamp, ErrorObject] | None = None
        if self.timeout_at is not None:
            found = (
                self.timeout_at,
                ErrorObject(type=CALLBACK_TIMEOUT_TYPE, message="Callback timed out"),
            )
        if self.heartbeat_at is not None and (found is None or self.heartbeat_at < found[0]):
            found = (
                self.heartbeat_at,
                ErrorObject(
                    type=CALLBACK_HEARTBEAT_TYPE, message="Callback timed out on heartbeat"
                ),
            )
        return found


@attrs.define
class Execution:
    """Everything the service knows about one execution."""

    arn: str
    name: str
    input_payload: str | None
    operations: dict[str, Operation] = attrs.Factory(dict)
    status: ExecutionStatus = ExecutionStatus.RUNNING
    result: str | None = None
    error: ErrorObject | None = None
    token: str | None = None
    invocations: int = 0
    failed_invocations: int = 0
    invalid_pending: int = 0
    checkpoint_calls: int = 0
    journal: list[CheckpointRequest] = attrs.Factory(list)
    #: Ids the service changed (timers, READY steps) that the running
    #: invocation has not seen yet.
    unseen: set[str] = attrs.Factory(set)
    #: The virtual time of the last timer check on a checkpoint (epoch ms).
    timers_checked_at: int | None = None
    #: Ids of the operations changed before the current invocation began.
    updated_ids: list[str] = attrs.Factory(list)
    pages: dict[str, list[Operation]] = attrs.Factory(dict)
    last_invocation_error: ErrorObject | None = None
    #: Open callbacks by operation id.
    callbacks: dict[str, CallbackTimer] = attrs.Factory(dict)
    #: STARTED chained invokes nobody has run yet, by operation id.
    queued_invokes: dict[str, PendingInvoke] = attrs.Factory(dict)
    #: ARNs of the executions started for chained invokes, by operation id.
    children: dict[str, str] = attrs.Factory(dict)
    #: For an execution started by a chained invoke: the invoking execution
    #: and its CHAINED_INVOKE operation, which this execution's end completes.
    parent_arn: str | None = None
    parent_operation_id: str | None = None

    @property
    def done(self) -> bool:
        return self.status is not ExecutionStatus.RUNNING


def _invalid(message: str) -> ServiceApiError:
    return ServiceApiError(
        f"InvalidParameterValueException: {message}",
        retryable=False,
        error_code="InvalidParameterValueException",
        status_code=400,
    )


class LocalService:
    """The durable-execution API in memory, for one or many executions.

    ``page_size`` caps how many operations one page of state carries (the
    invocation's initial state, a checkpoint answer, a state read), so tests
    can force the paging paths.  ``fault`` is called before and after every
    checkpoint request is applied, as ``fault(call_number, "before" |
    "after")``; raising from it (e.g. ``SimulatedCrash``) simulates a process
    that died or a response that was lost.

    Callbacks: a CALLBACK ``START`` gets a fresh ``CallbackId``; third parties
    complete it with ``send_callback_success`` / ``send_callback_failure`` /
    ``send_callback_heartbeat`` (the APIs of protocol.md §3.6), and the
    virtual clock times it out (``next_wakeup`` / ``fire_due``).

    Chained invokes: targets are found in a registry (``register_function``).
    A START naming an unknown function comes back FAILED at once; a known one
    comes back STARTED and waits in ``pending_invokes`` until whoever plays
    Lambda (the ``LocalRunner``) runs it and reports with ``complete_invoke``,
    or starts it as a child execution (``start_child_execution``), whose end
    completes the invoke.
    """

    def __init__(
        self,
        *,
        clock: VirtualClock | None = None,
        page_size: int = 1000,
        fault: Callable[[int, str], None] | None = None,
    ) -> None:
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        self.clock = clock if clock is not None else VirtualClock()
        self.page_size = page_size
        self.fault = fault
        self._executions: dict[str, Execution] = {}
        self._tokens = itertools.count(1)
        self._markers = itertools.count(1)
        self._ids = itertools.count(1)
        self._callback_numbers = itertools.count(1)
        #: Every callback id ever issued -> (execution ARN, operation id).
        self._callbacks: dict[str, tuple[str, str]] = {}
        self._functions: dict[str, RegisteredFunction] = {}
        self.calls = 0

    # -- control (what the Lambda service does around invocations) -------------

    def start_execution(
        self,
        input_payload: str | None,
        *,
        function_name: str = "workflow",
        execution_name: str | None = None,
    ) -> str:
        """Create an execution and its EXECUTION operation; return its ARN."""
        number = next(self._ids)
        name = execution_name or f"execution-{number}"
        execution_id = f"{number:08d}-0000-4000-8000-000000000000"
        arn = (
            f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}:$LATEST"
            f"/durable-execution/{name}/{execution_id}"
        )
        if arn in self._executions:
            raise ValueError(f"execution {name!r} already exists")
        execution = Execution(arn=arn, name=name, input_payload=input_payload)
        execution.operations[execution_id] = Operation(
            id=execution_id,
            type=OperationType.EXECUTION,
            status=OperationStatus.STARTED,
            name=name,
            start_timestamp=timestamp(self.clock.now()),
            execution_details=ExecutionDetails(input_payload=input_payload),
        )
        self._executions[arn] = execution
        return arn

    def execution(self, arn: str) -> Execution:
        try:
            return self._executions[arn]
        except KeyError:
            raise KeyError(f"no execution {arn!r}") from None

    def operations(self, arn: str) -> list[Operation]:
        """Every operation of the execution, in start order."""
        return list(self.execution(arn).operations.values())

    def begin_invocation(self, arn: str) -> InvocationInput:
        """Issue a fresh token and the event of the next invocation."""
        execution = self.execution(arn)
        if execution.done:
            raise ValueError(f"execution {arn!r} is {execution.status.value}; it cannot be invoked")
        execution.invocations += 1
        execution.token = self._new_token()
        execution.unseen.clear()
        execution.pages.clear()
        updated = execution.updated_ids
        execution.updated_ids = []
        visible = _visible(execution.operations)
        return InvocationInput(
            durable_execution_arn=arn,
            checkpoint_token=execution.token,
            initial_execution_state=self._page(execution, visible),
            updated_operation_ids=tuple(updated),
        )

    def end_invocation(self, arn: str, output: InvocationOutput) -> None:
        """Apply what an invocation returned (protocol.md §1.5, §1.7)."""
        execution = self.execution(arn)
        execution.token = None
        if execution.done:
            return  # completed by an EXECUTION checkpoint (§1.6)
        execution.failed_invocations = 0
        status = output.status
        if status is InvocationStatus.SUCCEEDED:
            if output.error is not None:
                self._fail(execution, _output_error("SUCCEEDED output carries an Error"))
                return
            size = _utf8_len(output.result)
            if execution.parent_arn is not None and size > MAX_INVOKE_PAYLOAD_BYTES:
                self._fail(
                    execution,
                    _output_error(
                        f"the output of an execution started by a chained invoke is {size} "
                        f"bytes; the limit is {MAX_INVOKE_PAYLOAD_BYTES}"
                    ),
                )
                return
            self._succeed(execution, output.result)
        elif status is InvocationStatus.FAILED:
            if output.result is not None:
                self._fail(execution, _output_error("FAILED output carries a Result"))
                return
            self._fail(execution, output.error or ErrorObject(message="execution failed"))
        elif self._something_pending(execution):
            execution.invalid_pending = 0
        else:
            execution.invalid_pending += 1
            if execution.invalid_pending >= MAX_INVALID_PENDING:
                self._fail(
                    execution,
                    _output_error(
                        "the function returned PENDING with nothing pending "
                        f"{MAX_INVALID_PENDING} times in a row"
                    ),
                )

    def fail_invocation(self, arn: str, error: BaseException) -> None:
        """The invocation raised (or its process died): count it, and fail the
        execution after ``MAX_FAILED_INVOCATIONS`` in a row."""
        execution = self.execution(arn)
        execution.token = None
        if execution.done:
            return
        if isinstance(error, SimulatedCrash):
            record = ErrorObject(message=str(error) or "process exited", type="Runtime.ExitError")
        else:
            record = ErrorObject.from_exception(error)
        execution.last_invocation_error = record
        execution.failed_invocations += 1
        if execution.failed_invocations >= MAX_FAILED_INVOCATIONS:
            self._fail(execution, record)

    def next_wakeup(self, arn: str) -> datetime | None:
        """When the service will next change something on its own (a wait
        ends, a retry becomes due, a callback times out), or ``None``."""
        execution = self.execution(arn)
        due: list[datetime] = []
        for op in execution.operations.values():
            if op.status is OperationStatus.STARTED and op.type is OperationType.WAIT:
                details = op.wait_details
                if details is not None and details.scheduled_end_timestamp is not None:
                    due.append(to_datetime(details.scheduled_end_timestamp))
            elif op.status is OperationStatus.PENDING and op.type is OperationType.STEP:
                step = op.step_details
                if step is not None and step.next_attempt_timestamp is not None:
                    due.append(to_datetime(step.next_attempt_timestamp))
        for timer in execution.callbacks.values():
            deadline = timer.deadline()
            if deadline is not None:
                due.append(to_datetime(deadline[0]))
        return min(due) if due else None

    def fire_due(self, arn: str) -> list[str]:
        """Apply every timer due at the current time (waits end, retries
        become READY, callbacks time out); return the changed ids."""
        execution = self.execution(arn)
        now = timestamp(self.clock.now())
        changed: list[str] = []
        for op in list(execution.operations.values()):
            new: Operation | None = None
            if op.status is OperationStatus.STARTED and op.type is OperationType.CALLBACK:
                timer = execution.callbacks.get(op.id)
                deadline = timer.deadline() if timer is not None else None
                if deadline is not None and deadline[0] <= now:
                    self._close_callback(
                        execution, op, OperationStatus.TIMED_OUT, now, error=deadline[1]
                    )
                    changed.append(op.id)
                continue
            if op.status is OperationStatus.STARTED and op.type is OperationType.WAIT:
                details = op.wait_details
                end = details.scheduled_end_timestamp if details is not None else None
                if end is not None and end <= now:
                    new = attrs.evolve(op, status=OperationStatus.SUCCEEDED, end_timestamp=now)
            elif op.status is OperationStatus.PENDING and op.type is OperationType.STEP:
                step = op.step_details
                due = step.next_attempt_timestamp if step is not None else None
                if step is not None and due is not None and due <= now:
                    new = attrs.evolve(
                        op,
                        status=OperationStatus.READY,
                        step_details=attrs.evolve(step, next_attempt_timestamp=None),
                    )
            if new is not None:
                execution.operations[op.id] = new
                changed.append(op.id)
        self._mark_changed(execution, changed)
        return changed

    # -- callbacks: the APIs third parties call (protocol.md §3.6) ---------------

    def send_callback_success(self, callback_id: str, result: str | bytes = b"") -> None:
        """``SendDurableExecutionCallbackSuccess``: the callback SUCCEEDED with ``result``.

        ``result`` is the request body: bytes, or a ``str`` sent as its UTF-8
        encoding.  It must be at most 262,144 bytes of valid UTF-8, else an
        ``InvalidParameterValueException`` (400).  The decoded text becomes
        ``CallbackDetails.Result`` as is (it is not parsed); an empty body is
        stored as ``""``, not left absent (protocol.md Q7 leaves this open; the
        emulator leaves it absent).

        Raises ``ServiceApiError``: ``ResourceNotFoundException`` (404) for an
        unknown id, ``CallbackTimeoutException`` (400) for a callback that
        already completed or timed out, or whose execution has ended.
        """
        body = result.encode("utf-8") if isinstance(result, str) else bytes(result)
        if len(body) > MAX_CALLBACK_RESULT_BYTES:
            raise _invalid(
                f"the callback Result is {len(body)} bytes; "
                f"the limit is {MAX_CALLBACK_RESULT_BYTES}"
            )
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _invalid(f"the callback Result is not valid UTF-8 ({exc.reason})") from None
        execution, op = self._open_callback(callback_id)
        now = timestamp(self.clock.now())
        self._close_callback(execution, op, OperationStatus.SUCCEEDED, now, result=text)
        self._mark_changed(execution, [op.id])

    def send_callback_failure(self, callback_id: str, error: ErrorObject | None = None) -> None:
        """``SendDurableExecutionCallbackFailure``: the callback FAILED with ``error``.

        ``error`` becomes ``CallbackDetails.Error`` as given.  Raises
        ``ServiceApiError`` as ``send_callback_success`` does.
        """
        execution, op = self._open_callback(callback_id)
        now = timestamp(self.clock.now())
        self._close_callback(execution, op, OperationStatus.FAILED, now, error=error)
        self._mark_changed(execution, [op.id])

    def send_callback_heartbeat(self, callback_id: str) -> None:
        """``SendDurableExecutionCallbackHeartbeat``: restart the heartbeat timeout.

        The heartbeat deadline becomes now + ``HeartbeatTimeoutSeconds`` (a
        callback without a heartbeat timeout accepts heartbeats and ignores
        them).  The operation itself does not change.  Raises
        ``ServiceApiError`` as ``send_callback_success`` does.
        """
        execution, op = self._open_callback(callback_id)
        timer = execution.callbacks[op.id]
        if timer.heartbeat_seconds > 0:
            now = timestamp(self.clock.now())
            timer.heartbeat_at = Timestamp(now + timer.heartbeat_seconds * 1000)

    def callback_owner(self, callback_id: str) -> tuple[str, str]:
        """The execution ARN and operation id of the callback ``callback_id``.

        Raises ``ServiceApiError`` ``ResourceNotFoundException`` (404) for an
        id this service never issued.
        """
        owner = self._callbacks.get(callback_id)
        if owner is None:
            raise ServiceApiError(
                f"ResourceNotFoundException: no callback {callback_id!r}",
                retryable=False,
                error_code="ResourceNotFoundException",
                status_code=404,
            )
        return owner

    def _open_callback(self, callback_id: str) -> tuple[Execution, Operation]:
        """The execution and operation of a callback that may still be completed.

        A callback whose deadline has passed but which ``fire_due`` has not
        timed out yet times out now (the real service would have done it).
        """
        arn, op_id = self.callback_owner(callback_id)
        execution = self.execution(arn)
        op = execution.operations[op_id]
        timer = execution.callbacks.get(op_id)
        if op.status is OperationStatus.STARTED and timer is not None:
            now = timestamp(self.clock.now())
            deadline = timer.deadline()
            if deadline is not None and deadline[0] <= now:
                self._close_callback(
                    execution, op, OperationStatus.TIMED_OUT, now, error=deadline[1]
                )
                self._mark_changed(execution, [op_id])
            elif not execution.done:
                return execution, op
        state = execution.status.value if execution.done else "running"
        raise ServiceApiError(
            f"CallbackTimeoutException: the callback {callback_id!r} is closed "
            f"(callback {execution.operations[op_id].status.value}, execution {state})",
            retryable=False,
            error_code="CallbackTimeoutException",
            status_code=400,
        )

    def _close_callback(
        self,
        execution: Execution,
        op: Operation,
        status: OperationStatus,
        now: Timestamp,
        *,
        result: str | None = None,
        error: ErrorObject | None = None,
    ) -> None:
        details = op.callback_details or CallbackDetails()
        execution.operations[op.id] = attrs.evolve(
            op,
            status=status,
            end_timestamp=now,
            callback_details=CallbackDetails(
                callback_id=details.callback_id, result=result, error=error
            ),
        )
        execution.callbacks.pop(op.id, None)

    # -- chained invokes (the service's side of protocol.md §5.6) -----------------

    def register_function(
        self, name: str, target: Callable[..., Any], *, durable: bool | None = None
    ) -> RegisteredFunction:
        """Make ``target`` reachable by chained invokes naming ``name``.

        ``name`` is a function name (an ARN or a ``:qualifier`` is reduced to
        the bare name); invokes naming it in any form Invoke accepts reach
        ``target``.  ``durable`` says whether the target runs as a durable
        execution (``None``: durable exactly when ``target`` is a
        ``@durable.workflow``).  Registering a name again replaces it.
        """
        match = _FUNCTION_NAME.fullmatch(name)
        if match is None or len(name) > MAX_FUNCTION_NAME_CHARS:
            raise ValueError(f"{name!r} is not a Lambda function name or ARN")
        if not callable(target):
            raise TypeError(f"the target of {name!r} must be callable, got {target!r}")
        if durable is None:
            durable = isinstance(target, DurableWorkflow)
        function = RegisteredFunction(name=match.group("name"), target=target, durable=durable)
        self._functions[function.name] = function
        return function

    def function(self, function_name: str) -> RegisteredFunction | None:
        """The registered function a ``FunctionName`` (name, ``name:qualifier``,
        partial or full ARN) resolves to, or ``None``."""
        match = _FUNCTION_NAME.fullmatch(function_name)
        return None if match is None else self._functions.get(match.group("name"))

    def pending_invokes(self, arn: str) -> list[PendingInvoke]:
        """The execution's STARTED chained invokes that nobody has run yet,
        in start order."""
        return list(self.execution(arn).queued_invokes.values())

    def complete_invoke(
        self,
        arn: str,
        op_id: str,
        *,
        result: str | None = None,
        error: ErrorObject | None = None,
        status: OperationStatus = OperationStatus.SUCCEEDED,
    ) -> None:
        """Report the outcome of a chained invoke, as the invoked function's end would.

        ``status`` is ``SUCCEEDED`` (with ``result``, the target's JSON output
        text, stored in ``ChainedInvokeDetails.Result``) or ``FAILED``,
        ``TIMED_OUT`` or ``STOPPED`` (with ``error``; a ``TIMED_OUT`` without
        one gets the service's ``ChainedInvoke.Timeout`` error).  A result
        over 1,048,576 UTF-8 bytes completes the invoke ``FAILED`` instead
        (protocol.md §2.5).  The change is delivered like any service-side
        change: in the running invocation's next checkpoint answer, else in the
        next invocation's ``UpdatedOperationIds``.

        Raises ``KeyError`` for an unknown operation and ``ValueError`` for one
        that is not a STARTED chained invoke, or for a bad combination of
        arguments.
        """
        execution = self.execution(arn)
        op = execution.operations.get(op_id)
        if op is None:
            raise KeyError(f"execution {arn!r} has no operation {op_id!r}")
        if op.type is not OperationType.CHAINED_INVOKE or op.status is not OperationStatus.STARTED:
            raise ValueError(
                f"operation {op_id!r} is a {op.status.value} {op.type.value}, "
                "not a STARTED CHAINED_INVOKE"
            )
        if status is OperationStatus.SUCCEEDED:
            if error is not None:
                raise ValueError("a SUCCEEDED chained invoke carries no error")
            size = _utf8_len(result)
            if size > MAX_INVOKE_PAYLOAD_BYTES:
                status, result = OperationStatus.FAILED, None
                error = ErrorObject(
                    type="InvalidParameterValueException",
                    message=(
                        f"the chained invoke's result is {size} bytes; "
                        f"the limit is {MAX_INVOKE_PAYLOAD_BYTES}"
                    ),
                )
        elif status in (OperationStatus.FAILED, OperationStatus.TIMED_OUT, OperationStatus.STOPPED):
            if result is not None:
                raise ValueError(f"a {status.value} chained invoke carries no result")
            if error is None and status is OperationStatus.TIMED_OUT:
                error = ErrorObject(
                    type=CHAINED_INVOKE_TIMEOUT_TYPE, message="The chained invoke timed out"
                )
        else:
            raise ValueError(f"a chained invoke cannot end {status.value}")
        execution.queued_invokes.pop(op_id, None)
        execution.operations[op_id] = attrs.evolve(
            op,
            status=status,
            end_timestamp=timestamp(self.clock.now()),
            chained_invoke_details=ChainedInvokeDetails(result=result, error=error),
        )
        self._mark_changed(execution, [op_id])

    def start_child_execution(self, arn: str, op_id: str) -> str:
        """Start the durable execution a pending chained invoke asks for; return its ARN.

        The invoke leaves ``pending_invokes``; it stays STARTED until the new
        execution ends, which completes it (a result, or the child's error;
        a child output over 1,048,576 bytes fails the child).
        """
        execution = self.execution(arn)
        pending = execution.queued_invokes.get(op_id)
        if pending is None:
            raise ValueError(f"execution {arn!r} has no pending chained invoke {op_id!r}")
        function = self.function(pending.function_name)
        if function is None:
            raise ValueError(f"no function is registered as {pending.function_name!r}")
        del execution.queued_invokes[op_id]
        child_arn = self.start_execution(pending.payload, function_name=function.name)
        child = self.execution(child_arn)
        child.parent_arn = arn
        child.parent_operation_id = op_id
        execution.children[op_id] = child_arn
        return child_arn

    # -- the durable-execution API (durable.runtime.Service) ---------------------

    def checkpoint(
        self, execution_arn: str, checkpoint_token: str, updates: Sequence[OperationUpdate]
    ) -> CheckpointOutput:
        execution = self._executions.get(execution_arn)
        if execution is None:
            raise ServiceApiError(
                f"ResourceNotFoundException: no execution {execution_arn!r}",
                retryable=False,
                error_code="ResourceNotFoundException",
                status_code=404,
            )
        self._check_token(execution, checkpoint_token)
        self.calls += 1
        call = self.calls
        if self.fault is not None:
            self.fault(call, "before")
        now = timestamp(self.clock.now())
        staged = self._validate_and_stage(execution, updates, now)
        # Commit atomically.
        execution.operations.update(staged)
        self._register_started(execution, updates, staged, now)
        execution.checkpoint_calls += 1
        execution.journal.append(CheckpointRequest(execution.invocations, tuple(updates)))
        completed = any(u.type is OperationType.EXECUTION for u in updates)
        if completed:
            self._complete_from_update(execution, updates[-1])
            execution.token = None
        else:
            execution.token = self._new_token()
            # Timers that fell due while the invocation ran (a body may move
            # the virtual clock) fire before the answer, as the emulator's do,
            # so a refresh checkpoint sees them (protocol.md §5.9, Q16).  Only
            # a moved clock can make one due.
            if execution.timers_checked_at != now:
                execution.timers_checked_at = now
                self.fire_due(execution_arn)
        changed_ids = list(dict.fromkeys([*staged, *sorted(execution.unseen)]))
        execution.unseen.clear()
        changed = [execution.operations[i] for i in changed_ids if i in execution.operations]
        state = self._page(execution, changed) if not completed else StatePage(operations=changed)
        if self.fault is not None:
            self.fault(call, "after")
        return CheckpointOutput(checkpoint_token=execution.token, new_execution_state=state)

    def get_execution_state(
        self, execution_arn: str, checkpoint_token: str, marker: str, max_items: int = 1000
    ) -> StatePage:
        execution = self.execution(execution_arn)
        self._check_token(execution, checkpoint_token)
        if not marker:
            # No marker: the first page of the whole state (Marker is
            # optional, protocol.md §3.3).
            rest: list[Operation] | None = _visible(execution.operations)
        else:
            # A pure read: a retried request (its answer lost) gets the same
            # page again.  Markers are forgotten when the next invocation begins.
            rest = execution.pages.get(marker)
        if rest is None:
            raise _invalid(f"unknown or expired marker {marker!r}")
        return self._page(execution, rest, limit=min(max_items or 100, self.page_size))

    # -- internals -----------------------------------------------------------

    def _new_token(self) -> str:
        return f"dG9rZW4t{next(self._tokens):08d}"

    def _check_token(self, execution: Execution, token: str) -> None:
        if execution.token is None or token != execution.token:
            raise ServiceApiError(
                "InvalidParameterValueException: Invalid checkpoint token",
                retryable=True,
                error_code="InvalidParameterValueException",
                status_code=400,
            )

    def _page(
        self, execution: Execution, operations: Sequence[Operation], limit: int | None = None
    ) -> StatePage:
        size = limit or self.page_size
        if len(operations) <= size:
            return StatePage(operations=tuple(operations))
        marker = f"page-{next(self._markers)}"
        execution.pages[marker] = list(operations[size:])
        return StatePage(operations=tuple(operations[:size]), next_marker=marker)

    def _mark_changed(self, execution: Execution, ids: Sequence[str]) -> None:
        for op_id in ids:
            execution.unseen.add(op_id)
            if op_id not in execution.updated_ids:
                execution.updated_ids.append(op_id)

    def _something_pending(self, execution: Execution) -> bool:
        if execution.unseen:
            return True
        for op in execution.operations.values():
            if op.status is OperationStatus.PENDING and op.type is OperationType.STEP:
                return True
            if op.status is OperationStatus.STARTED and op.type in (
                OperationType.WAIT,
                OperationType.CALLBACK,
                OperationType.CHAINED_INVOKE,
            ):
                return True
        return False

    def _succeed(self, execution: Execution, result: str | None) -> None:
        execution.status = ExecutionStatus.SUCCEEDED
        execution.result = result
        self._ended(execution)

    def _fail(self, execution: Execution, error: ErrorObject) -> None:
        execution.status = ExecutionStatus.FAILED
        execution.error = error
        self._ended(execution)

    def _ended(self, execution: Execution) -> None:
        """An execution started by a chained invoke completes that invoke."""
        if execution.parent_arn is None or execution.parent_operation_id is None:
            return
        parent = self._executions.get(execution.parent_arn)
        if parent is None:
            return
        op = parent.operations.get(execution.parent_operation_id)
        if op is None or op.status is not OperationStatus.STARTED:
            return
        status = {
            ExecutionStatus.SUCCEEDED: OperationStatus.SUCCEEDED,
            ExecutionStatus.TIMED_OUT: OperationStatus.TIMED_OUT,
            ExecutionStatus.STOPPED: OperationStatus.STOPPED,
        }.get(execution.status, OperationStatus.FAILED)
        if status is OperationStatus.SUCCEEDED:
            self.complete_invoke(parent.arn, op.id, result=execution.result)
        else:
            self.complete_invoke(parent.arn, op.id, error=execution.error, status=status)

    def _complete_from_update(self, execution: Execution, update: OperationUpdate) -> None:
        if update.action is OperationAction.SUCCEED:
            self._succeed(execution, update.payload)
        else:
            self._fail(execution, update.error or ErrorObject(message="execution failed"))

    def _validate_and_stage(
        self, execution: Execution, updates: Sequence[OperationUpdate], now: Timestamp
    ) -> dict[str, Operation]:
        staged: dict[str, Operation] = {}
        seen_in_request: dict[str, list[OperationAction]] = {}
        view = _Overlay(execution.operations, staged)
        for index, update in enumerate(updates):
            where = (
                f"Updates[{index}] (Id {update.id!r}, {update.type.value} {update.action.value})"
            )
            if update.type is OperationType.EXECUTION:
                if index != len(updates) - 1:
                    raise _invalid(f"{where}: an EXECUTION update must be the last of its request")
                self._check_exclusive(update, where)
                size = _utf8_len(update.payload)
                if execution.parent_arn is not None and size > MAX_INVOKE_PAYLOAD_BYTES:
                    raise _invalid(
                        f"{where}: the output of an execution started by a chained invoke is "
                        f"{size} bytes; the limit is {MAX_INVOKE_PAYLOAD_BYTES}"
                    )
                continue
            self._check_request_duplicates(update, seen_in_request, where)
            staged[update.id] = self._apply(execution, view, update, now, where)
        return staged

    def _check_request_duplicates(
        self,
        update: OperationUpdate,
        seen: dict[str, list[OperationAction]],
        where: str,
    ) -> None:
        previous = seen.setdefault(update.id, [])
        if previous and not (
            len(previous) == 1
            and previous[0] is OperationAction.START
            and update.action is not OperationAction.START
            and update.type in (OperationType.STEP, OperationType.CONTEXT)
        ):
            raise _invalid(f"{where}: the same Id appears twice in one request")
        previous.append(update.action)

    def _check_exclusive(self, update: OperationUpdate, where: str) -> None:
        if update.action is OperationAction.SUCCEED and update.error is not None:
            raise _invalid(f"{where}: SUCCEED must not carry an Error")
        if update.action is OperationAction.FAIL and update.payload is not None:
            raise _invalid(f"{where}: FAIL must not carry a Payload")
        if update.error is not None:
            size = len(json.dumps(_error_json(update.error)).encode())
            if size > MAX_ERROR_BYTES:
                raise _invalid(f"{where}: Error is {size} bytes; the limit is {MAX_ERROR_BYTES}")
        if update.payload is not None:
            # Bytes of UTF-8, as the service counts them (protocol decision Q9).
            size = _utf8_len(update.payload)
            if size > MAX_PAYLOAD_BYTES:
                raise _invalid(
                    f"{where}: Payload is {size} bytes; the limit is {MAX_PAYLOAD_BYTES}"
                )

    def _apply(
        self,
        execution: Execution,
        view: _Overlay,
        update: OperationUpdate,
        now: Timestamp,
        where: str,
    ) -> Operation:
        kind = update.type
        action = update.action
        if action not in _ACTIONS[kind]:
            raise _invalid(f"{where}: {action.value} is not a valid action for {kind.value}")
        self._check_exclusive(update, where)
        existing = view.get(update.id)
        if existing is not None:
            for field, mine, theirs in (
                ("Type", update.type, existing.type),
                ("SubType", update.sub_type, existing.sub_type),
                ("Name", update.name, existing.name),
                ("ParentId", update.parent_id, existing.parent_id),
            ):
                if mine is not None and mine != theirs:
                    raise _invalid(f"{where}: {field} {mine!r} differs from the stored {theirs!r}")
        if update.parent_id is not None:
            parent = view.get(update.parent_id)
            if parent is None or parent.type is not OperationType.CONTEXT:
                raise _invalid(f"{where}: ParentId {update.parent_id!r} is not a CONTEXT operation")
        status = existing.status if existing is not None else None
        base = existing or Operation(
            id=update.id,
            type=kind,
            status=OperationStatus.STARTED,
            parent_id=update.parent_id,
            name=update.name,
            sub_type=update.sub_type,
            start_timestamp=now,
        )
        if kind is OperationType.STEP:
            return step_after_update(base, status, update, now, where)
        if kind is OperationType.WAIT:
            if action is OperationAction.START:
                if existing is not None:
                    raise _invalid(f"{where}: the wait already exists")
                options = update.wait_options
                if options is None or not 1 <= options.wait_seconds <= MAX_WAIT_SECONDS:
                    raise _invalid(f"{where}: WaitOptions.WaitSeconds must be 1-{MAX_WAIT_SECONDS}")
                return attrs.evolve(
                    base,
                    wait_details=WaitDetails(
                        scheduled_end_timestamp=Timestamp(now + options.wait_seconds * 1000)
                    ),
                )
            if status is not OperationStatus.STARTED:
                raise _invalid(f"{where}: only a STARTED wait can be cancelled")
            return attrs.evolve(base, status=OperationStatus.CANCELLED, end_timestamp=now)
        if kind is OperationType.CONTEXT:
            if action is OperationAction.START:
                if existing is not None:
                    raise _invalid(f"{where}: the context already exists")
                return base
            if status not in (None, OperationStatus.STARTED):
                raise _invalid(f"{where}: the context is already {status.value}")
            if action is OperationAction.SUCCEED:
                context_options = update.context_options
                return attrs.evolve(
                    base,
                    status=OperationStatus.SUCCEEDED,
                    end_timestamp=now,
                    context_details=ContextDetails(
                        result=update.payload,
                        replay_children=(
                            context_options.replay_children if context_options else None
                        ),
                    ),
                )
            return attrs.evolve(
                base,
                status=OperationStatus.FAILED,
                end_timestamp=now,
                context_details=ContextDetails(error=update.error),
            )
        if kind is OperationType.CALLBACK:
            return self._apply_callback_start(execution, base, existing, update, where)
        return self._apply_invoke_start(execution, base, existing, update, now, where)

    def _apply_callback_start(
        self,
        execution: Execution,
        base: Operation,
        existing: Operation | None,
        update: OperationUpdate,
        where: str,
    ) -> Operation:
        if existing is not None:
            raise _invalid(f"{where}: the callback already exists")
        options = update.callback_options
        if options is not None:
            for field, value in (
                ("TimeoutSeconds", options.timeout_seconds),
                ("HeartbeatTimeoutSeconds", options.heartbeat_timeout_seconds),
            ):
                if value < 0:
                    raise _invalid(f"{where}: CallbackOptions.{field} must be >= 0, not {value}")
        return attrs.evolve(
            base,
            callback_details=CallbackDetails(callback_id=self._new_callback_id(execution, base)),
        )

    def _apply_invoke_start(
        self,
        execution: Execution,
        base: Operation,
        existing: Operation | None,
        update: OperationUpdate,
        now: Timestamp,
        where: str,
    ) -> Operation:
        if existing is not None:
            raise _invalid(f"{where}: the chained invoke already exists")
        options = update.chained_invoke_options
        if options is None:
            raise _invalid(f"{where}: a CHAINED_INVOKE START requires ChainedInvokeOptions")
        name = options.function_name
        if not 1 <= len(name) <= MAX_FUNCTION_NAME_CHARS:
            raise _invalid(
                f"{where}: ChainedInvokeOptions.FunctionName must be "
                f"1-{MAX_FUNCTION_NAME_CHARS} characters, not {len(name)}"
            )
        match = _FUNCTION_NAME.fullmatch(name)
        if match is None:
            raise _invalid(
                f"{where}: ChainedInvokeOptions.FunctionName {name!r} is not a function name or ARN"
            )
        region, account = _region_and_account(execution.arn)
        target_account = match.group("account") or match.group("partial_account")
        if target_account is not None and target_account != account:
            raise _invalid(f"{where}: the function {name!r} is not in this account ({account})")
        target_region = match.group("region")
        if target_region is not None and target_region != region:
            raise _invalid(f"{where}: the function {name!r} is not in this region ({region})")
        tenant = options.tenant_id
        if tenant is not None and not (
            1 <= len(tenant) <= MAX_TENANT_ID_CHARS and _TENANT_ID.fullmatch(tenant)
        ):
            raise _invalid(
                f"{where}: ChainedInvokeOptions.TenantId must be 1-{MAX_TENANT_ID_CHARS} "
                "characters of [a-zA-Z0-9._:/=+-@ ]"
            )
        size = _utf8_len(update.payload)
        if size > MAX_INVOKE_PAYLOAD_BYTES:
            raise _invalid(
                f"{where}: the chained invoke Payload is {size} bytes; "
                f"the limit is {MAX_INVOKE_PAYLOAD_BYTES}"
            )
        if match.group("name") not in self._functions:
            # The emulator resolves the target at START: the answer already
            # shows the operation FAILED (protocol.md §2.6).
            return attrs.evolve(
                base,
                status=OperationStatus.FAILED,
                end_timestamp=now,
                chained_invoke_details=ChainedInvokeDetails(
                    error=ErrorObject(
                        type="ResourceNotFoundException", message=f"Function not found: {name}"
                    )
                ),
            )
        return attrs.evolve(base, chained_invoke_details=ChainedInvokeDetails())

    def _new_callback_id(self, execution: Execution, op: Operation) -> str:
        """An opaque, unique, deterministic id in the base64 alphabet (§2.2)."""
        number = next(self._callback_numbers)
        digest = hashlib.sha256(f"{execution.arn}\n{op.id}\n{number}".encode()).digest()
        return base64.b64encode(digest[:24] + number.to_bytes(8, "big")).decode("ascii")

    def _register_started(
        self,
        execution: Execution,
        updates: Sequence[OperationUpdate],
        staged: Mapping[str, Operation],
        now: Timestamp,
    ) -> None:
        """After a commit: arm the timers of new callbacks and queue new invokes."""
        for update in updates:
            if update.action is not OperationAction.START:
                continue
            op = staged.get(update.id)
            if op is None or op.status is not OperationStatus.STARTED:
                continue
            if update.type is OperationType.CALLBACK and op.callback_details is not None:
                callback_id = op.callback_details.callback_id or ""
                options = update.callback_options
                timeout = options.timeout_seconds if options is not None else 0
                heartbeat = options.heartbeat_timeout_seconds if options is not None else 0
                execution.callbacks[op.id] = CallbackTimer(
                    callback_id=callback_id,
                    operation_id=op.id,
                    started=now,
                    timeout_at=Timestamp(now + timeout * 1000) if timeout > 0 else None,
                    heartbeat_seconds=heartbeat,
                    heartbeat_at=Timestamp(now + heartbeat * 1000) if heartbeat > 0 else None,
                )
                self._callbacks[callback_id] = (execution.arn, op.id)
            elif update.type is OperationType.CHAINED_INVOKE:
                options_ = update.chained_invoke_options
                assert options_ is not None  # checked when staged
                execution.queued_invokes[op.id] = PendingInvoke(
                    op_id=op.id,
                    function_name=options_.function_name,
                    payload=update.payload,
                    tenant_id=options_.tenant_id,
                )


def step_after_update(
    base: Operation,
    status: OperationStatus | None,
    update: OperationUpdate,
    now: Timestamp,
    where: str,
) -> Operation:
    """The STEP record ``base`` (now ``status``; ``None`` if new) after
    ``update``, as the service applies it; ``where`` prefixes the message of
    the ``InvalidParameterValueException`` an invalid update gets."""
    action = update.action
    details = base.step_details or StepDetails(attempt=0)
    attempt = details.attempt or 0
    if action is OperationAction.START:
        if status not in (None, OperationStatus.READY):
            raise _invalid(f"{where}: a step can only start when new or READY, not {status}")
        return attrs.evolve(
            base, status=OperationStatus.STARTED, step_details=StepDetails(attempt=attempt)
        )
    if status not in (None, OperationStatus.STARTED, OperationStatus.READY):
        raise _invalid(f"{where}: the step is {status.value if status else status}")
    if action is OperationAction.SUCCEED:
        return attrs.evolve(
            base,
            status=OperationStatus.SUCCEEDED,
            end_timestamp=now,
            step_details=StepDetails(attempt=attempt + 1, result=update.payload),
        )
    if action is OperationAction.FAIL:
        return attrs.evolve(
            base,
            status=OperationStatus.FAILED,
            end_timestamp=now,
            step_details=StepDetails(attempt=attempt + 1, error=update.error),
        )
    options = update.step_options
    if options is None:
        raise _invalid(f"{where}: RETRY requires StepOptions")
    if update.error is not None and update.payload is not None:
        raise _invalid(f"{where}: RETRY must not carry both Error and Payload")
    delay = options.next_attempt_delay_seconds
    if not 1 <= delay <= MAX_WAIT_SECONDS:
        raise _invalid(f"{where}: NextAttemptDelaySeconds must be 1-{MAX_WAIT_SECONDS}")
    return attrs.evolve(
        base,
        status=OperationStatus.PENDING,
        step_details=StepDetails(
            attempt=attempt + 1,
            next_attempt_timestamp=Timestamp(now + delay * 1000),
            result=update.payload,
            error=update.error,
        ),
    )


class _Overlay(Mapping[str, Operation]):
    """The stored operations with a request's staged changes on top."""

    def __init__(self, base: Mapping[str, Operation], staged: Mapping[str, Operation]) -> None:
        self._base = base
        self._staged = staged

    def __getitem__(self, key: str) -> Operation:
        if key in self._staged:
            return self._staged[key]
        return self._base[key]

    def __iter__(self) -> Iterator[str]:
        yield from self._base
        yield from (k for k in self._staged if k not in self._base)

    def __len__(self) -> int:
        return len(self._base) + sum(1 for k in self._staged if k not in self._base)


def _visible(operations: Mapping[str, Operation]) -> list[Operation]:
    """Operations delivered to an invocation: children of a completed CONTEXT
    are withheld unless it completed with ReplayChildren (protocol.md §1.3)."""
    hidden: dict[str, bool] = {}

    def is_hidden(op: Operation) -> bool:
        parent_id = op.parent_id
        if parent_id is None:
            return False
        cached = hidden.get(parent_id)
        if cached is not None:
            return cached
        parent = operations.get(parent_id)
        result = False
        if parent is not None:
            details = parent.context_details
            closed = parent.status in TERMINAL_STATUSES and not (
                details is not None and details.replay_children
            )
            result = closed or is_hidden(parent)
        hidden[parent_id] = result
        return result

    return [op for op in operations.values() if not is_hidden(op)]


def _error_json(error: ErrorObject) -> dict[str, object]:
    out: dict[str, object] = {}
    if error.message is not None:
        out["m"] = error.message
    if error.type is not None:
        out["t"] = error.type
    if error.data is not None:
        out["d"] = error.data
    if error.stack_trace is not None:
        out["s"] = list(error.stack_trace)
    return out


def _utf8_len(text: str | None) -> int:
    return 0 if text is None else len(text.encode("utf-8"))


def _region_and_account(arn: str) -> tuple[str, str]:
    """The region and account of an ``arn:aws:lambda:<region>:<account>:...`` ARN."""
    parts = arn.split(":")
    return (parts[3], parts[4]) if len(parts) > 4 else ("", "")


def _output_error(message: str) -> ErrorObject:
    return ErrorObject(message=message, type="InvalidParameterValueException")
