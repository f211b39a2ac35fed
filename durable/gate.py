"""The replay gate: does new workflow code still replay recorded executions?

Responsibility: take checkpoint logs recorded by earlier versions of a
workflow (files, or live executions read through a boto3 ``lambda`` client)
and replay the *current* code against each of them with the pure interpreter
(``durable.core.Replay``), without running a single step body and without
talking to any service.  Report, per execution, whether the code is
compatible with what the log holds, or the first operation where it
diverges.  ``durable replay`` is the command-line face of this module.

Verdicts
--------
``compatible``
    Every logged operation the code reached matched (type, sub-type, name,
    parent), and the code stops where the log stops: it returned, or it
    waits for the same pending wait, retry or callback the log waits for.
``compatible-more-work``
    Every logged operation matched, and then the code asks for work the log
    does not hold: a step body to run (a new step, or one whose attempt was
    in flight), or an operation to start.  An in-flight execution would
    simply go on with it.  This is still a pass.
``divergent``
    The code asks, at some operation id, for something other than what the
    log holds there (the interpreter's ``NonDeterminismError``); or it
    returns while logged operations remain that it never reached (a removed
    step); or it now fails where the logged execution succeeded.  The report
    names the operation id, what the log holds, what the code asks for, and
    how many logged operations were never visited.
``error``
    The log could not be replayed at all (the interpreter stopped with an
    internal error, or user code raised a ``BaseException``).

The gate never runs a body: when the code reaches a step whose outcome the
log does not hold, that line of execution stops there; concurrent branches
of a map or parallel go on as far as the log takes them.  Time is frozen at
the log's latest timestamp, so a wait the log shows pending stays pending.

Log formats (``load_log``)
--------------------------
A JSON file holding any of:

* a ``GetDurableExecutionState`` response: ``{"Operations": [...]}``
  (``NextMarker`` and ``ResponseMetadata`` are ignored);
* a durable invocation event: ``{"DurableExecutionArn": ...,
  "InitialExecutionState": {"Operations": [...]}}``;
* a ``GetDurableExecutionHistory`` response: ``{"Events": [...]}`` (the
  operations are rebuilt from the events; see ``operations_from_history``);
* what ``durable history --json`` writes: the state shape plus
  ``DurableExecutionArn``, ``Name``, ``Status``, ``Result`` and ``Error``;
* a bare JSON array of operations.

Operations use the wire form (protocol.md §2.2); timestamps may be epoch
numbers or ISO-8601 strings.  The input of the execution is the EXECUTION
operation's ``ExecutionDetails.InputPayload``.

Live executions (``fetch_log``)
-------------------------------
``GetDurableExecutionState`` requires a ``CheckpointToken``, which only the
Lambda service hands to an invocation (``GetDurableExecution`` does not
return one).  With a token the gate reads the state through it; without
one it reads ``GetDurableExecutionHistory`` (with execution data) and
rebuilds the operations from the events.  History payloads the service
truncated cannot be replayed: the gate says so.
"""

from __future__ import annotations

import contextlib
import enum
import json
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs

from durable._workflow import workflow_function
from durable.core import Checkpoint, Failure, Finish, Replay, RunStep, Suspend
from durable.errors import NonDeterminismError
from durable.model import (
    CallbackDetails,
    ChainedInvokeDetails,
    ContextDetails,
    ErrorObject,
    ExecutionDetails,
    ExecutionStatus,
    Operation,
    OperationStatus,
    OperationType,
    StepDetails,
    Timestamp,
    WaitDetails,
    to_datetime,
)

__all__ = [
    "ExecutionLog",
    "GateError",
    "OperationIdentity",
    "ReplayReport",
    "Verdict",
    "check_replay",
    "fetch_log",
    "lambda_client",
    "load_log",
    "log_from_json",
    "operations_from_history",
    "replay_log",
]

#: Rounds of ``next_actions`` after which the gate gives up on a workflow
#: that keeps going without ending (a loop of refresh checkpoints).
MAX_ROUNDS = 100_000


class GateError(Exception):
    """A log could not be read (unknown format, malformed JSON, truncated
    history payloads, a failed API call).  The message names the source."""


class Verdict(enum.Enum):
    """How the code relates to one recorded execution (see the module docs)."""

    COMPATIBLE = "compatible"
    COMPATIBLE_MORE_WORK = "compatible-more-work"
    DIVERGENT = "divergent"
    ERROR = "error"

    @property
    def passed(self) -> bool:
        """Whether this verdict lets the code ship."""
        return self in (Verdict.COMPATIBLE, Verdict.COMPATIBLE_MORE_WORK)


@attrs.frozen(kw_only=True)
class OperationIdentity:
    """What identifies an operation to the replay: type, sub-type and name."""

    type: OperationType
    sub_type: str | None = None
    name: str | None = None

    @classmethod
    def of(cls, op: Operation) -> OperationIdentity:
        return cls(type=op.type, sub_type=op.sub_type, name=op.name)

    def describe(self) -> str:
        """E.g. ``STEP 'charge' (sub-type 'Step')``."""
        label = f"{self.type.value} {self.name!r}" if self.name else f"unnamed {self.type.value}"
        return f"{label} (sub-type {self.sub_type!r})" if self.sub_type else label


def _operation_tuple(operations: Iterable[Operation]) -> tuple[Operation, ...]:
    return tuple(operations)


@attrs.frozen(kw_only=True)
class ExecutionLog:
    """One recorded execution: its operations and where they came from.

    ``status`` is the execution's status when the source says (``None``
    otherwise); ``arn`` its ARN when known.
    """

    source: str
    operations: tuple[Operation, ...] = attrs.field(converter=_operation_tuple)
    arn: str | None = None
    status: ExecutionStatus | None = None

    @property
    def execution_operation(self) -> Operation | None:
        """The EXECUTION operation, if the log holds it."""
        for op in self.operations:
            if op.type is OperationType.EXECUTION:
                return op
        return None

    @property
    def input_payload(self) -> str | None:
        """``ExecutionDetails.InputPayload`` of the EXECUTION operation."""
        op = self.execution_operation
        details = op.execution_details if op is not None else None
        return details.input_payload if details is not None else None

    def decode_input(self) -> Any:
        """The workflow's input as the runtime decodes it: JSON, ``{}`` when absent."""
        payload = self.input_payload
        if payload is None or not payload.strip():
            return {}
        try:
            return json.loads(payload)
        except ValueError as exc:
            raise GateError(
                f"{self.source}: the execution input (ExecutionDetails.InputPayload) "
                f"is not valid JSON: {exc}"
            ) from exc


@attrs.frozen(kw_only=True)
class ReplayReport:
    """The gate's finding for one execution.

    For ``divergent``: ``operation_id`` is the first divergent operation,
    ``logged`` what the log holds there (``None`` if nothing), ``requested``
    what the code asks for (``None`` when the code returned instead).  For
    ``compatible-more-work``: ``operation_id`` and ``requested`` are the first
    operation past the log.  ``remaining`` counts logged operations the replay
    never visited (children of a completed context count as visited with
    it); ``logged_operations`` counts all of them (the EXECUTION operation
    excluded).  ``message`` explains the verdict in one paragraph.
    """

    source: str
    verdict: Verdict
    message: str
    execution_arn: str | None = None
    operation_id: str | None = None
    logged: OperationIdentity | None = None
    requested: OperationIdentity | None = None
    logged_operations: int = 0
    remaining: int = 0
    #: How the replay ended: ``"returned"``, ``"failed"``, ``"waiting"``,
    #: ``"new work"`` or ``"diverged"``.
    ending: str = ""

    @property
    def passed(self) -> bool:
        """``True`` for ``compatible`` and ``compatible-more-work``."""
        return self.verdict.passed

    def describe(self) -> str:
        """A few lines of plain text for people (what ``durable replay`` prints)."""
        lines = [f"{self.source}: {self.verdict.value}"]
        if self.execution_arn and self.execution_arn != self.source:
            lines.append(f"  execution: {self.execution_arn}")
        if self.verdict is Verdict.DIVERGENT:
            lines.append(f"  operation: {self.operation_id or '-'}")
            lines.append(
                f"  log holds: {self.logged.describe() if self.logged else 'no operation'}"
            )
            lines.append(
                "  code asks: "
                + (self.requested.describe() if self.requested else "nothing (it returned)")
            )
            lines.append(
                f"  remaining: {self.remaining} of {self.logged_operations} logged "
                "operation(s) not visited"
            )
        lines.append(f"  {self.message}")
        return "\n".join(lines)


# -- reading logs ---------------------------------------------------------------


def _operations_from_dicts(items: object, source: str, where: str) -> tuple[Operation, ...]:
    from durable import wire
    from durable.errors import ServiceProtocolError

    if not isinstance(items, list):
        raise GateError(f"{source}: {where} must be a JSON array of operations")
    operations = []
    for index, item in enumerate(items):
        try:
            operations.append(wire.operation_from_dict(item))
        except ServiceProtocolError as exc:
            raise GateError(f"{source}: {where}[{index}]: {exc}") from exc
    return tuple(operations)


def _status(value: object) -> ExecutionStatus | None:
    if isinstance(value, str):
        try:
            return ExecutionStatus(value)
        except ValueError:
            return None
    return None


def log_from_json(data: object, source: str = "<json>") -> ExecutionLog:
    """An ``ExecutionLog`` from decoded JSON in any of the formats ``load_log`` reads."""
    if isinstance(data, list):
        return ExecutionLog(source=source, operations=_operations_from_dicts(data, source, "log"))
    if not isinstance(data, Mapping):
        raise GateError(
            f"{source}: expected a JSON object with Operations, InitialExecutionState or "
            f"Events, or an array of operations; got {type(data).__name__}"
        )
    arn = data.get("DurableExecutionArn")
    arn = arn if isinstance(arn, str) else None
    status = _status(data.get("Status"))
    if "Operations" in data:
        operations = _operations_from_dicts(data["Operations"], source, "Operations")
    elif "InitialExecutionState" in data:
        state = data["InitialExecutionState"]
        if not isinstance(state, Mapping):
            raise GateError(f"{source}: InitialExecutionState must be an object")
        operations = _operations_from_dicts(
            state.get("Operations") or [], source, "InitialExecutionState.Operations"
        )
        if state.get("NextMarker"):
            raise GateError(
                f"{source}: the invocation event is paged (InitialExecutionState.NextMarker is "
                "set); save the whole state instead (durable history --json, or every page of "
                "GetDurableExecutionState)"
            )
    elif "Events" in data:
        events = data["Events"]
        if not isinstance(events, list):
            raise GateError(f"{source}: Events must be a JSON array")
        operations, history_status = operations_from_history(events, source=source)
        status = status or history_status
    else:
        keys = ", ".join(sorted(str(k) for k in data)) or "none"
        raise GateError(
            f"{source}: not a checkpoint log: expected the member Operations (a "
            "GetDurableExecutionState response or `durable history --json`), "
            "InitialExecutionState (an invocation event) or Events (a "
            f"GetDurableExecutionHistory response); found {keys}"
        )
    return ExecutionLog(source=source, operations=operations, arn=arn, status=status)


def load_log(path: str | os.PathLike[str]) -> ExecutionLog:
    """Read one execution's log from a JSON file (formats: see the module docs)."""
    source = os.fspath(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise GateError(f"{source}: cannot read the file: {exc.strerror or exc}") from exc
    if raw.startswith(b"SQLite format 3\x00"):
        raise GateError(
            f"{source} is a SQLite database, not a JSON log; for the executions of a durable "
            "store, pass the store with --store and the executions by name or ARN"
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise GateError(f"{source}: not a UTF-8 text file ({exc.reason})") from exc
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise GateError(f"{source}: not valid JSON: {exc}") from exc
    return log_from_json(data, source)


# -- history events -> operations --------------------------------------------------

_KINDS: tuple[tuple[str, OperationType], ...] = (
    ("ChainedInvoke", OperationType.CHAINED_INVOKE),
    ("Execution", OperationType.EXECUTION),
    ("Callback", OperationType.CALLBACK),
    ("Context", OperationType.CONTEXT),
    ("Wait", OperationType.WAIT),
    ("Step", OperationType.STEP),
)
_OUTCOMES: dict[str, OperationStatus] = {
    "Started": OperationStatus.STARTED,
    "Succeeded": OperationStatus.SUCCEEDED,
    "Failed": OperationStatus.FAILED,
    "TimedOut": OperationStatus.TIMED_OUT,
    "Stopped": OperationStatus.STOPPED,
    "Cancelled": OperationStatus.CANCELLED,
}


def _event_kind(event_type: str) -> tuple[OperationType, OperationStatus] | None:
    for prefix, kind in _KINDS:
        if event_type.startswith(prefix):
            status = _OUTCOMES.get(event_type[len(prefix) :])
            if status is not None:
                return kind, status
    return None


def _timestamp(value: object) -> Timestamp | None:
    if isinstance(value, datetime):
        moment = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return Timestamp(int(moment.timestamp() * 1000))
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return Timestamp(int(value if value >= 100_000_000_000 else value * 1000))
    if isinstance(value, str):
        try:
            return _timestamp(datetime.fromisoformat(value))
        except ValueError:
            return None
    return None


def _payload(details: Mapping[str, Any], member: str, where: str) -> str | None:
    box = details.get(member)
    if not isinstance(box, Mapping):
        return None
    if box.get("Truncated"):
        raise GateError(
            f"{where}: {member} was truncated by the service, so the log cannot be replayed "
            "from the history; read the state with a checkpoint token instead"
        )
    payload = box.get("Payload")
    return payload if isinstance(payload, str) else None


def _error(details: Mapping[str, Any], where: str) -> ErrorObject | None:
    from durable import wire
    from durable.errors import ServiceProtocolError

    box = details.get("Error")
    if not isinstance(box, Mapping):
        return None
    if box.get("Truncated"):
        raise GateError(f"{where}: the Error was truncated by the service")
    payload = box.get("Payload")
    if not isinstance(payload, Mapping):
        return None
    try:
        return wire.error_from_dict(dict(payload))
    except ServiceProtocolError as exc:
        raise GateError(f"{where}: {exc}") from exc


def operations_from_history(
    events: Sequence[Mapping[str, Any]], *, source: str = "<history>"
) -> tuple[tuple[Operation, ...], ExecutionStatus | None]:
    """Rebuild the operations (and the execution's status) from history events.

    Each event names an operation by ``Id``; its ``EventType`` gives the type
    and the new status.  A step's ``StepFailed`` (or ``StepSucceeded``, when
    polling) with ``RetryDetails.NextAttemptDelaySeconds`` is a retry: the step
    is PENDING until its next ``StepStarted``.  What history does not carry is
    left out (a context's ``ReplayChildren``; a callback's or an invoke's
    options).  Events must include execution data (``IncludeExecutionData``).
    """
    ops: dict[str, Operation] = {}
    status: ExecutionStatus | None = None
    for index, event in enumerate(events):
        if not isinstance(event, Mapping):
            raise GateError(f"{source}: Events[{index}] is not an object")
        event_type = event.get("EventType")
        kind = _event_kind(event_type) if isinstance(event_type, str) else None
        op_id = event.get("Id")
        if kind is None or not isinstance(op_id, str):
            continue  # invocation records, pauses: not operations
        op_type, op_status = kind
        where = f"{source}: Events[{index}] ({event_type}, Id {op_id!r})"
        details_raw = event.get(f"{event_type}Details")
        details: Mapping[str, Any] = details_raw if isinstance(details_raw, Mapping) else {}
        when = _timestamp(event.get("EventTimestamp"))
        old = ops.get(op_id)
        op = old or Operation(
            id=op_id,
            type=op_type,
            status=op_status,
            parent_id=event.get("ParentId") or None,
            name=event.get("Name") or None,
            sub_type=event.get("SubType") or None,
            start_timestamp=when,
        )
        op = attrs.evolve(
            op,
            status=op_status,
            parent_id=op.parent_id or event.get("ParentId") or None,
            name=op.name or event.get("Name") or None,
            sub_type=op.sub_type or event.get("SubType") or None,
            end_timestamp=when if op_status is not OperationStatus.STARTED else None,
        )
        if op_type is OperationType.EXECUTION:
            if op_status is OperationStatus.STARTED:
                op = attrs.evolve(
                    op,
                    execution_details=ExecutionDetails(
                        input_payload=_payload(details, "Input", where)
                    ),
                )
            else:
                status = ExecutionStatus(op_status.value)
        elif op_type is OperationType.STEP:
            op = _step_event(op, op_status, details, when, where)
        elif op_type is OperationType.WAIT and op_status is OperationStatus.STARTED:
            op = attrs.evolve(
                op,
                wait_details=WaitDetails(
                    scheduled_end_timestamp=_timestamp(details.get("ScheduledEndTimestamp"))
                ),
            )
        elif op_type is OperationType.CALLBACK:
            previous = op.callback_details or CallbackDetails()
            callback_id = details.get("CallbackId")
            op = attrs.evolve(
                op,
                callback_details=CallbackDetails(
                    callback_id=callback_id
                    if isinstance(callback_id, str)
                    else previous.callback_id,
                    result=_payload(details, "Result", where),
                    error=_error(details, where),
                ),
            )
        elif op_type is OperationType.CONTEXT and op_status is not OperationStatus.STARTED:
            op = attrs.evolve(
                op,
                context_details=ContextDetails(
                    result=_payload(details, "Result", where), error=_error(details, where)
                ),
            )
        elif op_type is OperationType.CHAINED_INVOKE:
            op = attrs.evolve(
                op,
                chained_invoke_details=ChainedInvokeDetails(
                    result=_payload(details, "Result", where), error=_error(details, where)
                ),
            )
        ops[op_id] = op
    return tuple(ops.values()), status


def _step_event(
    op: Operation,
    status: OperationStatus,
    details: Mapping[str, Any],
    when: Timestamp | None,
    where: str,
) -> Operation:
    previous = op.step_details or StepDetails(attempt=0)
    if status is OperationStatus.STARTED:
        return attrs.evolve(
            op, status=status, end_timestamp=None, step_details=attrs.evolve(previous)
        )
    retry = details.get("RetryDetails")
    retry = retry if isinstance(retry, Mapping) else {}
    attempt = retry.get("CurrentAttempt")
    attempt = attempt if isinstance(attempt, int) else (previous.attempt or 0) + 1
    delay = retry.get("NextAttemptDelaySeconds")
    result = _payload(details, "Result", where)
    error = _error(details, where)
    if isinstance(delay, int) and delay > 0:
        return attrs.evolve(
            op,
            status=OperationStatus.PENDING,
            end_timestamp=None,
            step_details=StepDetails(
                attempt=attempt,
                next_attempt_timestamp=(
                    Timestamp(when + delay * 1000) if when is not None else None
                ),
                result=result,
                error=error,
            ),
        )
    return attrs.evolve(op, step_details=StepDetails(attempt=attempt, result=result, error=error))


# -- live executions -------------------------------------------------------------


def lambda_client(region: str | None = None, endpoint_url: str | None = None) -> Any:
    """A boto3 ``lambda`` client (boto3 is imported here, on first use)."""
    import boto3

    return boto3.client("lambda", region_name=region, endpoint_url=endpoint_url)


def _region_of(arn: str) -> str | None:
    parts = arn.split(":")
    return parts[3] if len(parts) > 4 and parts[3] else None


def fetch_log(
    arn: str,
    *,
    client: Any = None,
    checkpoint_token: str | None = None,
    endpoint_url: str | None = None,
) -> ExecutionLog:
    """Read a live execution's log through a boto3 ``lambda`` client.

    With ``checkpoint_token``: every page of ``GetDurableExecutionState``
    (the token is required by that API and only invocations receive one).
    Without: ``GetDurableExecutionHistory`` with execution data, every page,
    rebuilt into operations.  ``client`` defaults to ``lambda_client`` for
    the ARN's region (and ``endpoint_url``).  API failures raise
    ``GateError`` naming the call and the ARN.
    """
    if client is None:
        client = lambda_client(_region_of(arn), endpoint_url)
    if checkpoint_token:
        pages: list[Any] = []
        marker: str | None = None
        for _ in range(100_000):
            kwargs: dict[str, Any] = {
                "DurableExecutionArn": arn,
                "CheckpointToken": checkpoint_token,
                "MaxItems": 1000,
            }
            if marker:
                kwargs["Marker"] = marker
            page = _call(client, "get_durable_execution_state", arn, kwargs)
            pages.extend(page.get("Operations") or [])
            marker = page.get("NextMarker")
            if not marker:
                break
        operations = _operations_from_dicts(pages, arn, "Operations")
        return ExecutionLog(
            source=arn, operations=operations, arn=arn, status=_live_status(client, arn)
        )
    events: list[Any] = []
    marker = None
    for _ in range(100_000):
        kwargs = {"DurableExecutionArn": arn, "IncludeExecutionData": True, "MaxItems": 1000}
        if marker:
            kwargs["Marker"] = marker
        page = _call(client, "get_durable_execution_history", arn, kwargs)
        events.extend(page.get("Events") or [])
        marker = page.get("NextMarker")
        if not marker:
            break
    operations, status = operations_from_history(events, source=arn)
    return ExecutionLog(source=arn, operations=operations, arn=arn, status=status)


def _call(client: Any, method: str, arn: str, kwargs: dict[str, Any]) -> Mapping[str, Any]:
    call = getattr(client, method, None)
    if call is None:
        raise GateError(f"{arn}: the client {type(client).__name__} has no {method}")
    try:
        answer = call(**kwargs)
    except Exception as exc:
        raise GateError(f"{arn}: {method} failed: {exc}") from exc
    if not isinstance(answer, Mapping):
        raise GateError(f"{arn}: {method} returned {type(answer).__name__}, not an object")
    return answer


def _live_status(client: Any, arn: str) -> ExecutionStatus | None:
    describe = getattr(client, "get_durable_execution", None)
    if describe is None:
        return None
    try:
        answer = describe(DurableExecutionArn=arn)
    except Exception:
        return None  # the status only refines the verdict; the log is what matters
    return _status(answer.get("Status")) if isinstance(answer, Mapping) else None


# -- the replay ----------------------------------------------------------------------


class _RecordingLog(dict[str, Operation]):
    """The interpreter's log, remembering which ids it looked up."""

    def __init__(self, operations: Mapping[str, Operation]) -> None:
        super().__init__(operations)
        self.visited: set[str] = set()

    def get(self, key: str, default: Any = None) -> Any:
        if key in self:
            self.visited.add(key)
        return super().get(key, default)


class _SilentLogger:
    """The workflow's logger during a gate replay: says nothing."""

    def debug(self, msg: object, *args: Any, **kwargs: Any) -> None:
        pass

    def info(self, msg: object, *args: Any, **kwargs: Any) -> None:
        pass

    def warning(self, msg: object, *args: Any, **kwargs: Any) -> None:
        pass

    def error(self, msg: object, *args: Any, **kwargs: Any) -> None:
        pass

    def exception(self, msg: object, *args: Any, **kwargs: Any) -> None:
        pass


@attrs.frozen
class _Mismatch:
    op_id: str | None
    requested: OperationIdentity | None
    error: NonDeterminismError


class _GateReplay(Replay):
    """A ``Replay`` that records what the gate needs to know: the first
    identity mismatch and every logged operation it looked at."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.recording = _RecordingLog(self.log)
        self.log = self.recording
        self.mismatch: _Mismatch | None = None

    def begin_operation(self, ctx: Any, request: Any) -> Any:
        answer = super().begin_operation(ctx, request)
        if (
            self.mismatch is None
            and isinstance(answer, Failure)
            and isinstance(answer.error, NonDeterminismError)
        ):
            op_type = getattr(request, "op_type", None)
            requested = None
            if isinstance(op_type, OperationType):
                requested = OperationIdentity(
                    type=op_type,
                    sub_type=getattr(request, "sub_type", None),
                    name=getattr(request, "name", None),
                )
            self.mismatch = _Mismatch(answer.error.operation_id, requested, answer.error)
        return answer

    def abandon(self) -> None:
        """Unwind the workflow's generators (and imperative threads) without
        finishing, as a suspension would."""
        self.close()


def _latest_time(operations: Iterable[Operation]) -> datetime:
    latest: int | None = None
    for op in operations:
        for value in (op.start_timestamp, op.end_timestamp):
            if value is not None and (latest is None or value > latest):
                latest = value
    return to_datetime(latest) if latest is not None else datetime.now(UTC)


def _find_nondeterminism(error: BaseException | None) -> NonDeterminismError | None:
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, NonDeterminismError):
            return error
        error = error.__cause__ or error.__context__
    return None


def _uncovered(operations: Sequence[Operation], visited: set[str]) -> list[Operation]:
    """Logged operations the replay did not visit, in log order.  A child of
    a visited, completed operation counts as visited: the interpreter
    replays a completed context from its own record."""
    by_id = {op.id: op for op in operations}
    memo: dict[str, bool] = {}

    def covered(op: Operation) -> bool:
        chain: list[Operation] = []
        current: Operation | None = op
        answer = False
        while current is not None:
            known = memo.get(current.id)
            if known is not None:
                answer = known
                break
            if current.id in visited:
                answer = True
                memo[current.id] = True
                break
            chain.append(current)
            parent = by_id.get(current.parent_id) if current.parent_id else None
            if parent is None or not parent.is_terminal:
                answer = False
                break
            current = parent
        # Every link of the chain hangs off a completed parent: it is covered
        # exactly when the first visited-or-known ancestor is.
        for link in chain:
            memo[link.id] = answer
        return answer

    return [op for op in operations if op.type is not OperationType.EXECUTION and not covered(op)]


@attrs.define
class _NewWork:
    op_id: str
    requested: OperationIdentity | None
    what: str


def replay_log(workflow: Any, log: ExecutionLog, *, now: datetime | None = None) -> ReplayReport:
    """Replay ``workflow`` against one log and judge it (see the module docs).

    ``now`` is the time the replay runs at (default: the log's latest
    timestamp, so what the log shows pending stays pending).
    """
    fn = workflow_function(workflow)
    logged = [op for op in log.operations if op.type is not OperationType.EXECUTION]

    def report(
        verdict: Verdict, message: str, ending: str, remaining: int = 0, **found: Any
    ) -> ReplayReport:
        return ReplayReport(
            source=log.source,
            execution_arn=log.arn,
            verdict=verdict,
            message=message,
            ending=ending,
            logged_operations=len(logged),
            remaining=remaining,
            **found,
        )

    try:
        event = log.decode_input()
    except GateError as exc:
        return report(Verdict.ERROR, str(exc), "error")
    moment = now or _latest_time(log.operations)
    replay = _GateReplay(
        fn, event, log.operations, moment, execution_arn=log.arn or "", logger=_SilentLogger()
    )
    try:
        run = _drive(replay, moment)
    except Exception as exc:
        return report(
            Verdict.ERROR,
            f"the replay stopped with an error: {type(exc).__name__}: {exc}",
            "error",
        )
    unvisited = _uncovered(log.operations, replay.recording.visited)
    remaining = len(unvisited)
    finish, new_work = run.finish, run.new_work
    mismatch = replay.mismatch
    if mismatch is None and finish is not None:
        found = _find_nondeterminism(finish.error)
        if found is not None:
            mismatch = _Mismatch(found.operation_id, None, found)
    if mismatch is not None:
        record = log_record(log, mismatch.op_id)
        return report(
            Verdict.DIVERGENT,
            str(mismatch.error),
            "diverged",
            remaining,
            operation_id=mismatch.op_id,
            logged=OperationIdentity.of(record) if record is not None else None,
            requested=mismatch.requested,
        )
    if finish is not None:
        ending = "returned" if finish.error is None else "failed"
        if unvisited:
            first = unvisited[0]
            return report(
                Verdict.DIVERGENT,
                f"the workflow {ending} but the log holds {remaining} operation(s) it never "
                f"reached, the first being {OperationIdentity.of(first).describe()} (id "
                f"{first.id}); were operations removed since this execution ran?",
                ending,
                remaining,
                operation_id=first.id,
                logged=OperationIdentity.of(first),
            )
        if finish.error is not None:
            text = f"{type(finish.error).__name__}: {finish.error}"
            if log.status is ExecutionStatus.SUCCEEDED:
                return report(
                    Verdict.DIVERGENT,
                    "the logged execution SUCCEEDED, but the code now fails while replaying "
                    f"it: {text}",
                    ending,
                )
            return report(
                Verdict.COMPATIBLE,
                f"every logged operation matched; the workflow fails with {text}",
                ending,
            )
        if new_work is None:
            return report(
                Verdict.COMPATIBLE,
                f"all {len(logged)} logged operation(s) matched; the workflow returned",
                ending,
            )
    not_reached = (
        f"; {remaining} logged operation(s) were not reached on the way" if remaining else ""
    )
    if new_work is not None:
        return report(
            Verdict.COMPATIBLE_MORE_WORK,
            f"every logged operation the code reached matched; then the code {new_work.what}"
            f"{not_reached}",
            "new work",
            remaining,
            operation_id=new_work.op_id,
            requested=new_work.requested,
        )
    suspend = run.suspend
    reason = suspend.reason if suspend is not None and suspend.reason else "for the service"
    return report(
        Verdict.COMPATIBLE,
        "every logged operation the code reached matched; the workflow waits where the log "
        f"does ({reason}){not_reached}",
        "waiting",
        remaining,
    )


@attrs.define
class _Run:
    finish: Finish | None = None
    suspend: Suspend | None = None
    new_work: _NewWork | None = None


def _drive(replay: _GateReplay, moment: datetime) -> _Run:
    """Pump the interpreter without running bodies or talking to a service.

    Empty refresh checkpoints (a parked branch whose time came) are answered
    with no changes; anything carrying updates is work past the log, and a
    blocking one is never answered, so its line of execution stops there.
    """
    run = _Run()
    blocked = False
    try:
        for _ in range(MAX_ROUNDS):
            refresh = False
            for action in replay.next_actions():
                if isinstance(action, RunStep):
                    if run.new_work is None:
                        run.new_work = _body_work(replay, action)
                elif isinstance(action, Checkpoint):
                    if action.updates:
                        if run.new_work is None:
                            run.new_work = _checkpoint_work(replay, action)
                        blocked = blocked or action.blocking
                    elif action.blocking:
                        refresh = True
                elif isinstance(action, Finish):
                    run.finish = action
                elif isinstance(action, Suspend):
                    run.suspend = action
            if run.finish is not None or run.suspend is not None:
                return run
            if refresh and not blocked:
                replay.checkpointed([], moment)
                continue
            return run
        raise GateError(f"the workflow did not stop after {MAX_ROUNDS} rounds")
    finally:
        if run.finish is None and run.suspend is None:
            with contextlib.suppress(Exception):
                replay.abandon()


def _body_work(replay: _GateReplay, action: RunStep) -> _NewWork:
    record = replay.log.get(action.op_id)
    label = f"step {action.name!r}" if action.name else "an unnamed step"
    if record is None:
        return _NewWork(
            action.op_id,
            OperationIdentity(type=OperationType.STEP, name=action.name),
            f"runs the body of {label} (id {action.op_id}), which the log does not hold",
        )
    return _NewWork(
        action.op_id,
        OperationIdentity.of(record),
        f"runs attempt {action.attempt} of {label} (id {action.op_id}), which the log holds "
        f"{record.status.value}",
    )


_VERBS = {"START": "starts", "SUCCEED": "completes", "FAIL": "fails", "RETRY": "retries"}


def _checkpoint_work(replay: _GateReplay, action: Checkpoint) -> _NewWork:
    update = action.updates[0]
    identity = OperationIdentity(type=update.type, sub_type=update.sub_type, name=update.name)
    record = replay.log.get(update.id)
    if record is not None:
        identity = OperationIdentity.of(record)
        held = f"which the log holds {record.status.value}"
    else:
        held = "which the log does not hold"
    verb = _VERBS.get(update.action.value, update.action.value.lower() + "s")
    return _NewWork(update.id, identity, f"{verb} {identity.describe()} (id {update.id}), {held}")


def log_record(log: ExecutionLog, op_id: str | None) -> Operation | None:
    """The operation ``op_id`` of ``log``, or ``None``."""
    if op_id is None:
        return None
    for op in log.operations:
        if op.id == op_id:
            return op
    return None


LogSource = ExecutionLog | str | os.PathLike[str] | Mapping[str, Any] | Sequence[Operation]


def _as_log(item: LogSource, index: int) -> ExecutionLog:
    if isinstance(item, ExecutionLog):
        return item
    if isinstance(item, str | os.PathLike):
        return load_log(item)
    if isinstance(item, Mapping):
        return log_from_json(item, f"<log {index}>")
    operations = tuple(item)
    if not all(isinstance(op, Operation) for op in operations):
        raise GateError(f"<log {index}>: expected Operation records")
    return ExecutionLog(source=f"<log {index}>", operations=operations)


def check_replay(
    workflow: Any,
    logs: Iterable[LogSource],
    *,
    now: datetime | None = None,
    on_report: Callable[[ReplayReport], None] | None = None,
) -> list[ReplayReport]:
    """Replay ``workflow`` against every log and return one report per log.

    ``logs`` items may be ``ExecutionLog``s, paths of JSON files, decoded JSON
    objects, or sequences of ``Operation``s.  A log that cannot be read
    raises ``GateError``.  ``on_report`` is called with each report as it
    is made.  The gate passes when every report's ``passed`` is true::

        reports = check_replay(process_order, ["prod-1.json", "prod-2.json"])
        assert all(r.passed for r in reports), "\\n".join(r.describe() for r in reports)
    """
    reports = []
    for index, item in enumerate(logs):
        report = replay_log(workflow, _as_log(item, index), now=now)
        if on_report is not None:
            on_report(report)
        reports.append(report)
    return reports
