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

import itertools
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta

import attrs

from durable.config import MAX_WAIT_SECONDS
from durable.errors import ServiceApiError
from durable.model import (
    TERMINAL_STATUSES,
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

__all__ = ["CheckpointRequest", "Execution", "LocalService", "SimulatedCrash", "VirtualClock"]

#: Where virtual time starts: a fixed instant, so runs are reproducible.
EPOCH = datetime(2025, 1, 1, tzinfo=UTC)
MAX_ERROR_BYTES = 32_768
MAX_PAYLOAD_CHARS = 6 * 1024 * 1024
#: Failed invocations in a row after which the service fails the execution.
MAX_FAILED_INVOCATIONS = 5
#: Seconds the service waits before re-invoking after a failed invocation.
RETRY_INVOCATION_AFTER = 5
#: PENDING answers in a row with nothing pending before the execution fails.
MAX_INVALID_PENDING = 3

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
    #: Ids of the operations changed before the current invocation began.
    updated_ids: list[str] = attrs.Factory(list)
    pages: dict[str, list[Operation]] = attrs.Factory(dict)
    last_invocation_error: ErrorObject | None = None

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
            execution.status = ExecutionStatus.SUCCEEDED
            execution.result = output.result
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
        ends, a retry becomes due), or ``None``."""
        due: list[datetime] = []
        for op in self.execution(arn).operations.values():
            if op.status is OperationStatus.STARTED and op.type is OperationType.WAIT:
                details = op.wait_details
                if details is not None and details.scheduled_end_timestamp is not None:
                    due.append(to_datetime(details.scheduled_end_timestamp))
            elif op.status is OperationStatus.PENDING and op.type is OperationType.STEP:
                step = op.step_details
                if step is not None and step.next_attempt_timestamp is not None:
                    due.append(to_datetime(step.next_attempt_timestamp))
        return min(due) if due else None

    def fire_due(self, arn: str) -> list[str]:
        """Apply every timer due at the current time; return the changed ids."""
        execution = self.execution(arn)
        now = timestamp(self.clock.now())
        changed: list[str] = []
        for op in list(execution.operations.values()):
            new: Operation | None = None
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
        execution.checkpoint_calls += 1
        execution.journal.append(CheckpointRequest(execution.invocations, tuple(updates)))
        completed = any(u.type is OperationType.EXECUTION for u in updates)
        if completed:
            self._complete_from_update(execution, updates[-1])
            execution.token = None
        else:
            execution.token = self._new_token()
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
        rest = execution.pages.pop(marker, None)
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

    def _fail(self, execution: Execution, error: ErrorObject) -> None:
        execution.status = ExecutionStatus.FAILED
        execution.error = error

    def _complete_from_update(self, execution: Execution, update: OperationUpdate) -> None:
        if update.action is OperationAction.SUCCEED:
            execution.status = ExecutionStatus.SUCCEEDED
            execution.result = update.payload
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
                continue
            self._check_request_duplicates(update, seen_in_request, where)
            staged[update.id] = self._apply(view, update, now, where)
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
        if update.payload is not None and len(update.payload) > MAX_PAYLOAD_CHARS:
            raise _invalid(
                f"{where}: Payload is {len(update.payload)} characters; "
                f"the limit is {MAX_PAYLOAD_CHARS}"
            )

    def _apply(
        self, view: _Overlay, update: OperationUpdate, now: Timestamp, where: str
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
            return self._apply_step(base, existing, status, update, now, where)
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
        raise _invalid(f"{where}: {kind.value} operations are not supported by this service yet")

    def _apply_step(
        self,
        base: Operation,
        existing: Operation | None,
        status: OperationStatus | None,
        update: OperationUpdate,
        now: Timestamp,
        where: str,
    ) -> Operation:
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


def _output_error(message: str) -> ErrorObject:
    return ErrorObject(message=message, type="InvalidParameterValueException")
