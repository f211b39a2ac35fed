"""The local runner: run a workflow end to end on the in-memory service.

Responsibility: play Lambda's part around invocations.  Start an execution,
invoke the workflow through the same runtime a Lambda invocation uses, and
after each PENDING answer move the virtual clock to the next timer and invoke
again; after a failed invocation (an exception, a simulated crash) wait five
virtual seconds and invoke again, up to five times in a row, as the service
does.  Then describe the execution: status, result or error, and every
operation with its attempts and result.

It also plays the parties around an execution: it runs the targets of chained
invokes (``register_function``; a durable target as a child execution on the
same service and clock), delivers callback answers sent by hand
(``send_callback_success`` and friends) or by an ``on_callback`` responder,
and re-invokes the execution after each such change, as the service would.
"""

from __future__ import annotations

import contextlib
import json
import random as _random
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any, Literal

import attrs

from durable._workflow import workflow_function
from durable.config import Duration
from durable.core import Failure, RunStep, Value
from durable.errors import ServiceApiError, ValidationError
from durable.model import (
    TERMINAL_STATUSES,
    ErrorObject,
    ExecutionStatus,
    InvocationInput,
    InvocationOutput,
    InvocationStatus,
    Operation,
    OperationStatus,
    OperationType,
    to_datetime,
)
from durable.ops import LoggerLike
from durable.runtime import DEFAULT_MAX_WORKERS, run_invocation, run_step_body
from durable.serdes import EXTENDED_TYPES_SERDES, SerDesContext
from durable.testing._service import (
    RETRY_INVOCATION_AFTER,
    CheckpointRequest,
    LocalService,
    PendingInvoke,
    RegisteredFunction,
    SimulatedCrash,
    VirtualClock,
)

__all__ = [
    "CallbackAnswer",
    "ExecutionResult",
    "LocalRunner",
    "OperationResult",
    "RunnerError",
    "run",
]


class RunnerError(Exception):
    """The local runner could not bring the execution to an end (for example
    it exceeded ``max_invocations``)."""


def _decode(payload: str | None) -> Any:
    if payload is None:
        return None
    try:
        return EXTENDED_TYPES_SERDES.deserialize(payload, SerDesContext())
    except Exception:
        # Written by a custom serializer: plain JSON if it is that, else the text.
        return _decode_json(payload)


def _decode_json(payload: str | None) -> Any:
    """Text written by a third party (a callback answer, an invoked function's
    output): its JSON value if it parses, else the text itself."""
    if payload is None:
        return None
    try:
        return json.loads(payload)
    except ValueError:
        return payload


def _callback_body(result: Any) -> bytes:
    """The request body a callback answer is sent as: bytes as they are, a
    ``str`` as its UTF-8 encoding, anything else as its ``json.dumps``."""
    if isinstance(result, bytes | bytearray | memoryview):
        return bytes(result)
    if isinstance(result, str):
        return result.encode("utf-8")
    try:
        return json.dumps(result).encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"a callback result must be JSON-serializable: {exc}") from exc


def _seconds(value: float | timedelta | Duration) -> float:
    if isinstance(value, Duration):
        seconds = float(value.seconds)
    elif isinstance(value, timedelta):
        seconds = value.total_seconds()
    else:
        seconds = float(value)
    if seconds < 0:
        raise ValueError(f"a callback answer cannot come {seconds} s before it is asked for")
    return seconds


@attrs.frozen(kw_only=True)
class CallbackAnswer:
    """What an ``on_callback`` responder does about one open callback.

    Build it with ``CallbackAnswer.success(result)``, ``.failure(error)`` or
    ``.heartbeat()``; the responder returns ``None`` to leave the callback
    alone (it then waits, and times out if it has a timeout).  ``after`` is
    how many virtual seconds after the responder was asked the answer
    arrives; a timeout falling at or before that instant wins.  After a
    heartbeat has been delivered the responder is asked about the callback
    again, so it can heartbeat a few times and then answer.
    """

    kind: Literal["success", "failure", "heartbeat"]
    #: For ``success``: sent as ``LocalRunner.send_callback_success`` sends it.
    result: Any = b""
    #: For ``failure``.
    error: ErrorObject | None = None
    after: float = 0.0

    @classmethod
    def success(
        cls, result: Any = b"", *, after: float | timedelta | Duration = 0
    ) -> CallbackAnswer:
        """Complete the callback with ``result`` (bytes, ``str`` or a JSON-able value)."""
        return cls(kind="success", result=result, after=_seconds(after))

    @classmethod
    def failure(
        cls,
        error: ErrorObject | BaseException | None = None,
        *,
        after: float | timedelta | Duration = 0,
    ) -> CallbackAnswer:
        """Fail the callback with ``error`` (an exception is recorded with
        ``ErrorObject.from_exception``)."""
        if isinstance(error, BaseException):
            error = ErrorObject.from_exception(error)
        return cls(kind="failure", error=error, after=_seconds(after))

    @classmethod
    def heartbeat(cls, *, after: float | timedelta | Duration = 0) -> CallbackAnswer:
        """Send a heartbeat (restarting the heartbeat timeout), then ask again."""
        return cls(kind="heartbeat", after=_seconds(after))


@attrs.frozen
class _ScheduledAnswer:
    due: datetime
    number: int
    arn: str
    callback_id: str
    answer: CallbackAnswer


@attrs.frozen(kw_only=True)
class OperationResult:
    """One operation of a finished (or paused) execution, as tests inspect it."""

    id: str
    name: str | None
    type: OperationType
    sub_type: str | None
    status: OperationStatus
    parent_id: str | None
    #: Finished attempts of a step (``StepDetails.Attempt``); 0 for other types.
    attempts: int
    #: The stored result, decoded with the default serializer (the raw text
    #: if it is not in that format).  CALLBACK and CHAINED_INVOKE results are
    #: written by other parties, not by that serializer: they are decoded as
    #: plain JSON, again falling back to the raw text.
    result: Any
    raw_result: str | None
    error: ErrorObject | None
    start_timestamp: datetime | None
    end_timestamp: datetime | None
    #: The service-assigned ``CallbackId`` of a CALLBACK operation.
    callback_id: str | None = None
    children: tuple[OperationResult, ...] = ()

    @classmethod
    def from_operation(
        cls, op: Operation, children: tuple[OperationResult, ...] = ()
    ) -> OperationResult:
        step = op.step_details
        raw = op.result
        external = op.type in (OperationType.CALLBACK, OperationType.CHAINED_INVOKE)
        callback = op.callback_details
        return cls(
            id=op.id,
            name=op.name,
            type=op.type,
            sub_type=op.sub_type,
            status=op.status,
            parent_id=op.parent_id,
            attempts=(step.attempt or 0) if step is not None else 0,
            result=_decode_json(raw) if external else _decode(raw),
            raw_result=raw,
            error=op.error,
            start_timestamp=None if op.start_timestamp is None else to_datetime(op.start_timestamp),
            end_timestamp=None if op.end_timestamp is None else to_datetime(op.end_timestamp),
            callback_id=callback.callback_id if callback is not None else None,
            children=children,
        )

    def walk(self) -> Iterator[OperationResult]:
        """This operation and all its descendants, depth first."""
        yield self
        for child in self.children:
            yield from child.walk()

    # -- inspection ---------------------------------------------------------

    @property
    def label(self) -> str:
        """How messages name this operation: its name and id (or the id alone)."""
        return f"{self.name!r} (id {self.id})" if self.name else f"id {self.id}"

    @property
    def is_terminal(self) -> bool:
        """``True`` once the operation can no longer change (succeeded, failed,
        cancelled, timed out or stopped)."""
        return self.status in TERMINAL_STATUSES

    @property
    def succeeded(self) -> bool:
        return self.status is OperationStatus.SUCCEEDED

    @property
    def failed(self) -> bool:
        """``True`` if the operation ended unsuccessfully (FAILED, TIMED_OUT or
        STOPPED); a step waiting to retry is not failed yet."""
        return self.status in (
            OperationStatus.FAILED,
            OperationStatus.TIMED_OUT,
            OperationStatus.STOPPED,
        )

    def descendants(self) -> list[OperationResult]:
        """Every operation nested under this one, parents before their children."""
        return [op for child in self.children for op in child.walk()]

    def get_operations(
        self,
        name: str | None = None,
        *,
        type: OperationType | str | None = None,
        status: OperationStatus | str | None = None,
    ) -> list[OperationResult]:
        """The operations nested under this one (at any depth) that are called
        ``name``, of ``type`` and in ``status`` (each filter only if given),
        parents before their children.  ``type`` and ``status`` may be given
        as enum members or as their wire values (``"STEP"``)."""
        return OperationResult._select(self.descendants(), name, type, status)

    def get_operation(
        self, name: str, *, type: OperationType | str | None = None
    ) -> OperationResult:
        """The first operation called ``name`` (of ``type``, if given) nested
        under this one, at any depth; ``KeyError`` naming what exists if none."""
        return OperationResult._first(self.descendants(), name, type, f" under {self.label}")

    def get_child(self, name: str, *, type: OperationType | str | None = None) -> OperationResult:
        """The first *direct* child called ``name`` (of ``type``, if given)."""
        return OperationResult._first(
            list(self.children), name, type, f" directly under {self.label}"
        )

    def get_step(self, name: str) -> OperationResult:
        """The first STEP called ``name`` nested under this operation."""
        return self.get_operation(name, type=OperationType.STEP)

    def get_wait(self, name: str) -> OperationResult:
        """The first WAIT called ``name`` nested under this operation."""
        return self.get_operation(name, type=OperationType.WAIT)

    def get_context(self, name: str) -> OperationResult:
        """The first CONTEXT called ``name`` nested under this operation."""
        return self.get_operation(name, type=OperationType.CONTEXT)

    def get_callback(self, name: str) -> OperationResult:
        """The first CALLBACK called ``name`` nested under this operation."""
        return self.get_operation(name, type=OperationType.CALLBACK)

    def get_invoke(self, name: str) -> OperationResult:
        """The first CHAINED_INVOKE called ``name`` nested under this operation."""
        return self.get_operation(name, type=OperationType.CHAINED_INVOKE)

    @staticmethod
    def _select(
        operations: list[OperationResult],
        name: str | None,
        type: OperationType | str | None,
        status: OperationStatus | str | None,
    ) -> list[OperationResult]:
        kind = OperationResult._enum(OperationType, type, "type")
        state = OperationResult._enum(OperationStatus, status, "status")
        return [
            op
            for op in operations
            if (name is None or op.name == name)
            and (kind is None or op.type is kind)
            and (state is None or op.status is state)
        ]

    @staticmethod
    def _first(
        operations: list[OperationResult],
        name: str,
        type: OperationType | str | None,
        where: str,
    ) -> OperationResult:
        matches = OperationResult._select(operations, name, type, None)
        if matches:
            return matches[0]
        kind = OperationResult._enum(OperationType, type, "type")
        known = sorted({f"{op.name} ({op.type.value})" for op in operations if op.name})
        of_type = f" of type {kind.value}" if kind is not None else ""
        raise KeyError(f"no operation named {name!r}{of_type}{where}; there are {known}")

    @staticmethod
    def _enum(cls: Any, value: Any, what: str) -> Any:
        if value is None or isinstance(value, cls):
            return value
        try:
            return cls(value)
        except ValueError:
            valid = ", ".join(member.value for member in cls)
            raise ValueError(
                f"unknown operation {what} {value!r}; expected one of {valid}"
            ) from None


@attrs.frozen(kw_only=True)
class ExecutionResult:
    """What a local run produced.

    ``status`` is the last invocation's status (``SUCCEEDED``, ``FAILED`` or
    ``PENDING`` if the execution still waits for something external);
    ``execution_status`` the execution's.  ``result`` is the workflow's return
    value (decoded from JSON), ``error`` why it failed.  ``operations`` are
    the top-level operations in start order, each with its ``children``.
    """

    arn: str
    status: InvocationStatus
    execution_status: ExecutionStatus
    result: Any
    raw_result: str | None
    error: ErrorObject | None
    operations: tuple[OperationResult, ...]
    invocations: int
    checkpoint_calls: int
    requests: tuple[CheckpointRequest, ...]
    log: tuple[Operation, ...]

    @property
    def succeeded(self) -> bool:
        return self.execution_status is ExecutionStatus.SUCCEEDED

    def all_operations(self) -> list[OperationResult]:
        """Every operation, parents before their children."""
        return [op for top in self.operations for op in top.walk()]

    def get_operation(self, name: str, *, type: OperationType | None = None) -> OperationResult:
        """The first operation called ``name`` (of ``type``, if given)."""
        matches = [
            op
            for op in self.all_operations()
            if op.name == name and (type is None or op.type is type)
        ]
        if not matches:
            known = sorted({op.name for op in self.all_operations() if op.name})
            kind = f" of type {type.value}" if type is not None else ""
            raise KeyError(f"no operation named {name!r}{kind}; the execution has {known}")
        return matches[0]

    def get_operations(
        self,
        name: str | None = None,
        *,
        type: OperationType | str | None = None,
        status: OperationStatus | str | None = None,
    ) -> list[OperationResult]:
        """Every operation called ``name``, of ``type`` and in ``status`` (each
        filter only if given), parents before their children.  ``type`` and
        ``status`` may be enum members or their wire values (``"STEP"``)::

            result.get_operations(type="STEP", status="FAILED")
        """
        return OperationResult._select(self.all_operations(), name, type, status)

    def get_operation_by_id(self, id: str) -> OperationResult:
        """The operation with the operation id ``id``."""
        for op in self.all_operations():
            if op.id == id:
                return op
        raise KeyError(f"no operation has the id {id!r} in execution {self.arn}")

    def failed_operations(self) -> list[OperationResult]:
        """The operations that ended unsuccessfully (FAILED, TIMED_OUT or
        STOPPED), parents before their children; each has its ``error``."""
        return [op for op in self.all_operations() if op.failed]

    def get_step(self, name: str) -> OperationResult:
        """The first STEP operation called ``name``."""
        return self.get_operation(name, type=OperationType.STEP)

    def get_wait(self, name: str) -> OperationResult:
        """The first WAIT operation called ``name``."""
        return self.get_operation(name, type=OperationType.WAIT)

    def get_context(self, name: str) -> OperationResult:
        """The first CONTEXT operation called ``name``."""
        return self.get_operation(name, type=OperationType.CONTEXT)

    def get_callback(self, name: str) -> OperationResult:
        """The first CALLBACK operation called ``name`` (its ``callback_id`` is
        what ``LocalRunner.send_callback_success`` takes)."""
        return self.get_operation(name, type=OperationType.CALLBACK)

    def get_invoke(self, name: str) -> OperationResult:
        """The first CHAINED_INVOKE operation called ``name``."""
        return self.get_operation(name, type=OperationType.CHAINED_INVOKE)

    def summary(self) -> str:
        """A plain-text report: the outcome, then one line per operation."""
        lines = [
            f"execution {self.execution_status.value} after {self.invocations} invocation(s), "
            f"{self.checkpoint_calls} checkpoint call(s)"
        ]
        if self.execution_status is ExecutionStatus.SUCCEEDED:
            lines.append(f"result: {self.raw_result}")
        elif self.error is not None:
            lines.append(f"error: {self.error.type}: {self.error.message}")
        rows = [("operation", "type", "status", "attempts", "result / error")]

        def add(op: OperationResult, depth: int) -> None:
            outcome = (
                f"{op.error.type}: {op.error.message}"
                if op.error is not None
                else ("" if op.raw_result is None else json.dumps(op.result, default=repr))
            )
            if len(outcome) > 60:
                outcome = outcome[:57] + "..."
            rows.append(
                (
                    "  " * depth + (op.name or f"<{op.id[:8]}>"),
                    op.sub_type or op.type.value,
                    op.status.value,
                    str(op.attempts) if op.type is OperationType.STEP else "",
                    outcome,
                )
            )
            for child in op.children:
                add(child, depth + 1)

        for op in self.operations:
            add(op, 0)
        widths = [max(len(row[i]) for row in rows) for i in range(4)]
        for row in rows:
            cells = [row[i].ljust(widths[i]) for i in range(4)]
            lines.append("  ".join([*cells, row[4]]).rstrip())
        return "\n".join(lines)


def _tree(operations: list[Operation]) -> tuple[OperationResult, ...]:
    children: dict[str | None, list[Operation]] = {}
    for op in operations:
        if op.type is OperationType.EXECUTION:
            continue
        children.setdefault(op.parent_id, []).append(op)

    def build(op: Operation) -> OperationResult:
        kids = tuple(build(child) for child in children.get(op.id, ()))
        return OperationResult.from_operation(op, kids)

    return tuple(build(op) for op in children.get(None, ()))


class LocalRunner:
    """Runs a workflow on a ``LocalService`` with virtual time.

    Args:
        workflow: a ``@durable.workflow`` or a plain ``(event, ctx)`` function.
        service: the service to run on (a fresh ``LocalService`` by default).
        seed: seeds the jitter of retry strategies, so runs repeat exactly.
        max_invocations: a bound on invocations per execution, against
            workflows that never end.
        logger: where the workflow's replay-safe logger writes.
        run_body: how a step body is run (tests use it to count or to fail
            bodies).
        through_handler: invoke through the Lambda handler instead of the
            runtime directly: each event is encoded to JSON form, handed to
            ``durable.lambda_.handle`` with this service injected, and the
            output envelope decoded again, as on AWS.
        on_callback: a responder for callbacks: when an execution is about to
            wait, it is called once with each callback that has newly become
            STARTED (as an ``OperationResult``, ``callback_id`` set) and
            returns a ``CallbackAnswer`` or ``None`` (no answer: the callback
            waits, and times out if it has a timeout).
        max_workers: threads for the step bodies of concurrent map and
            parallel branches (default: the workflow's ``max_workers``, else
            16); the checkpoint log is the same whatever the number.

    Virtual time and callbacks: a callback with a timeout is a timer like any
    other, but while a callback is open and there is no ``on_callback``
    responder, the runner does not move the clock on its own: ``resume``
    returns PENDING so the test can answer the callback
    (``send_callback_success`` / ``_failure`` / ``_heartbeat``) or let time
    pass with ``advance`` (which fires the timeout, or a retry of the
    submitter step, when due).  With a responder, the runner moves the clock
    to the next timer, timeout or scheduled answer by itself; a step body may
    also answer from inside the execution.

    Chained invokes: targets registered with ``register_function`` run after
    the invocation that started them; a durable target runs as a child
    execution, by a runner like this one (same options, same service, same
    clock), until it ends or waits for something external, before the parent
    is re-invoked.  Timers of the parent that fall due meanwhile fire when
    the parent continues.
    """

    def __init__(
        self,
        workflow: Any,
        *,
        service: LocalService | None = None,
        seed: int = 0,
        max_invocations: int = 10_000,
        logger: LoggerLike | None = None,
        run_body: Callable[[RunStep], Value | Failure] = run_step_body,
        through_handler: bool = False,
        on_callback: Callable[[OperationResult], CallbackAnswer | None] | None = None,
        max_workers: int | None = None,
    ) -> None:
        self._workflow = workflow
        if max_workers is None:
            max_workers = getattr(workflow, "max_workers", None) or DEFAULT_MAX_WORKERS
        self._max_workers: int = max_workers
        self._fn = workflow_function(workflow)
        self._through_handler = through_handler
        self._name: str = (
            getattr(workflow, "name", None) or getattr(self._fn, "__name__", None) or "workflow"
        )
        self.service = service if service is not None else LocalService()
        self._seed = seed
        self._rng = _random.Random(seed)
        self._max_invocations = max_invocations
        self._logger = logger
        self._run_body = run_body
        self._on_callback = on_callback
        # Shared by this runner and the runners of its child executions:
        # which runner drives which execution, and which are being invoked.
        self._runners: dict[str, LocalRunner] = {}
        self._busy: set[str] = set()
        # Callback ids the responder has been asked about, and answers that
        # arrive later in virtual time.
        self._asked: set[str] = set()
        self._scheduled: list[_ScheduledAnswer] = []
        self._answers_made = 0

    @property
    def clock(self) -> VirtualClock:
        """The service's virtual clock."""
        return self.service.clock

    def register_function(
        self, name: str, target: Callable[..., Any], *, durable: bool | None = None
    ) -> RegisteredFunction:
        """Make ``target`` the function chained invokes of ``name`` reach.

        A durable target (a ``@durable.workflow``, or any ``(event, ctx)``
        function with ``durable=True``) runs as a child execution whose input
        is the invoke's payload and whose result becomes the invoke's result.
        Any other callable is a plain Lambda function: it is called once with
        the JSON-decoded payload, and its return value, JSON-encoded, is the
        result; an exception it raises fails the invoke with
        ``ErrorObject.from_exception``.  ``name`` may be an ARN; invokes reach
        the target by its bare name, whatever qualifier or ARN form they use.
        """
        return self.service.register_function(name, target, durable=durable)

    def start(self, input: Any = None, *, execution_name: str | None = None) -> str:
        """Create an execution without running it; return its ARN."""
        try:
            payload = json.dumps(input)
        except (TypeError, ValueError) as exc:
            raise ValidationError(f"the workflow input must be JSON-serializable: {exc}") from exc
        arn = self.service.start_execution(
            payload, function_name=_function_name(self._name), execution_name=execution_name
        )
        self._runners[arn] = self
        return arn

    def run(self, input: Any = None, *, execution_name: str | None = None) -> ExecutionResult:
        """Run a new execution until it ends or waits for something external."""
        return self.resume(self.start(input, execution_name=execution_name))

    def resume(self, arn: str) -> ExecutionResult:
        """Invoke the execution again and again until it ends or nothing is scheduled.

        Between invocations the runner runs the targets of new chained invokes,
        asks ``on_callback`` about new callbacks, and moves the virtual clock to
        the next timer, timeout or scheduled answer.  It returns PENDING when
        the execution waits only for something outside (a callback answer, a
        child execution that itself waits for one).
        """
        self._runners.setdefault(arn, self)
        with self._driving(arn):
            last = self._drive(arn)
        return self.result(arn, last)

    def _drive(self, arn: str) -> InvocationStatus:
        service = self.service
        execution = service.execution(arn)
        last = InvocationStatus.PENDING
        while not execution.done:
            if execution.invocations >= self._max_invocations:
                raise RunnerError(
                    f"{self._name}: still running after {execution.invocations} invocations "
                    "(max_invocations)"
                )
            last = self.invoke_once(arn)
            if execution.done:
                break
            if self._run_invokes(arn):
                service.fire_due(arn)  # the targets may have taken virtual time
            if (
                last is InvocationStatus.PENDING
                and not self._await_change(arn)
                and service._something_pending(execution)
            ):
                break  # waits for an external event (a callback, an invoke)
            # otherwise something changed, or the PENDING was invalid and the
            # service re-invokes (and fails the execution in the end)
        return last

    @contextlib.contextmanager
    def _driving(self, arn: str) -> Iterator[None]:
        """Mark the execution as being driven, so that answers sent meanwhile
        (from a step body, a responder, an invoked function) are only recorded:
        the loop already driving it picks them up."""
        if arn in self._busy:
            yield
            return
        self._busy.add(arn)
        try:
            yield
        finally:
            self._busy.discard(arn)

    def invoke_once(self, arn: str) -> InvocationStatus:
        """One invocation, exactly as the Lambda service would make it."""
        service = self.service
        invocation = service.begin_invocation(arn)
        try:
            with self._driving(arn):
                output = self._invoke(invocation)
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt):
                raise
            service.fail_invocation(arn, exc)
            self.clock.advance(RETRY_INVOCATION_AFTER)
            return InvocationStatus.FAILED
        service.end_invocation(arn, output)
        return output.status

    def _invoke(self, invocation: InvocationInput) -> InvocationOutput:
        if self._through_handler:
            return self._invoke_handler(invocation)
        return run_invocation(
            self._fn,
            invocation,
            self.service,
            clock=self.clock.now,
            random=self._rng.random,
            logger=self._logger,
            run_body=self._run_body,
            max_workers=self._max_workers,
        )

    # -- callbacks, as the external system answers them ------------------------

    def send_callback_success(self, callback_id: str, result: Any = b"") -> ExecutionResult:
        """Complete a callback successfully, then continue the execution.

        ``result`` is sent as the body of ``SendDurableExecutionCallbackSuccess``:
        ``bytes`` as they are, a ``str`` as its UTF-8 encoding (so ``"ok"``
        arrives as the text ``ok``, not as the JSON string ``"ok"``), and any
        other value as its ``json.dumps`` (``None`` is ``null``).  The default,
        an empty body, stores the result ``""``.

        The execution that owns the callback is then re-invoked until it ends
        or waits again; when it is a child execution that thereby ended, its
        parent continues too.  Returns the ``ExecutionResult`` of the top-most
        execution (the one this runner started).  Called while the owning
        execution is being invoked (from a step body), it only records the
        answer, which that invocation sees at its next checkpoint.  Service
        errors (unknown id, callback already closed, body too large) are
        raised as ``ServiceApiError``.
        """
        body = _callback_body(result)
        return self._answer(
            callback_id, lambda: self.service.send_callback_success(callback_id, body)
        )

    def send_callback_failure(
        self, callback_id: str, error: ErrorObject | BaseException
    ) -> ExecutionResult:
        """Fail a callback with ``error`` (an exception is recorded with
        ``ErrorObject.from_exception``), then continue as ``send_callback_success``."""
        record = ErrorObject.from_exception(error) if isinstance(error, BaseException) else error
        return self._answer(
            callback_id, lambda: self.service.send_callback_failure(callback_id, record)
        )

    def send_callback_heartbeat(self, callback_id: str) -> ExecutionResult:
        """Send a heartbeat for a callback, restarting its heartbeat timeout.

        A heartbeat changes no operation, so nothing is re-invoked and the
        clock does not move; returns the ``ExecutionResult`` as it stands.
        """
        return self._answer(callback_id, lambda: self.service.send_callback_heartbeat(callback_id))

    def _answer(self, callback_id: str, send: Callable[[], None]) -> ExecutionResult:
        arn, _ = self.service.callback_owner(callback_id)
        if arn not in self._runners:
            raise RunnerError(
                f"callback {callback_id!r} belongs to {arn}, which this runner does not drive"
            )
        send()
        current = arn
        while True:
            execution = self.service.execution(current)
            if current not in self._busy and execution.unseen and not execution.done:
                self._runners[current].resume(current)
            parent = execution.parent_arn
            if parent is None or parent not in self._runners:
                break
            current = parent
        return self._runners[current].result(current)

    def _await_change(self, arn: str) -> bool:
        """Let virtual time pass until the service changes something the
        execution waits for; ``False`` if nothing will change by itself."""
        service = self.service
        execution = service.execution(arn)
        rounds = 0
        while not execution.unseen:
            rounds += 1
            if rounds > self._max_invocations:
                raise RunnerError(
                    f"{self._name}: the clock moved {rounds - 1} times without the execution "
                    "changing (does on_callback only ever heartbeat?)"
                )
            self._ask_responder(arn)
            if execution.unseen:
                break
            wake = service.next_wakeup(arn)
            answer = min(
                (a.due for a in self._scheduled if a.arn == arn),
                default=None,
            )
            if answer is not None and (wake is None or answer < wake):
                wake = answer
            if wake is None:
                return False
            if self._on_callback is None and self._has_open_callback(arn):
                # Without a responder an open callback waits for the test to
                # answer it (send_callback_*) or to let time pass (advance).
                return False
            self.clock.advance_to(wake)
            service.fire_due(arn)  # a timeout at the answer's instant wins
            self._deliver_due_answers(arn)
        return True

    def _has_open_callback(self, arn: str) -> bool:
        return any(
            op.type is OperationType.CALLBACK and op.status is OperationStatus.STARTED
            for op in self.service.operations(arn)
        )

    def advance(self, arn: str, by: Duration | timedelta | float) -> ExecutionResult:
        """Let virtual time pass for the execution ``arn`` (its callbacks may
        time out, its waits end), then resume it as the service would."""
        seconds = _seconds(by)
        if seconds < 0:
            raise ValueError(f"advance: cannot go back in time ({seconds} s)")
        self.clock.advance(seconds)
        self.service.fire_due(arn)
        self._deliver_due_answers(arn)
        return self.resume(arn)

    def _ask_responder(self, arn: str) -> None:
        respond = self._on_callback
        if respond is None:
            return
        for op in self.service.operations(arn):
            details = op.callback_details
            if (
                op.type is not OperationType.CALLBACK
                or op.status is not OperationStatus.STARTED
                or details is None
                or details.callback_id is None
                or details.callback_id in self._asked
            ):
                continue
            callback_id = details.callback_id
            self._asked.add(callback_id)
            answer = respond(OperationResult.from_operation(op))
            if answer is None:
                continue
            if answer.after > 0:
                self._answers_made += 1
                due = self.clock.now() + timedelta(seconds=answer.after)
                self._scheduled.append(
                    _ScheduledAnswer(due, self._answers_made, arn, callback_id, answer)
                )
            else:
                self._deliver(callback_id, answer)

    def _deliver_due_answers(self, arn: str) -> None:
        now = self.clock.now()
        due = sorted(
            (a for a in self._scheduled if a.arn == arn and a.due <= now),
            key=lambda a: (a.due, a.number),
        )
        for scheduled in due:
            self._scheduled.remove(scheduled)
            self._deliver(scheduled.callback_id, scheduled.answer)

    def _deliver(self, callback_id: str, answer: CallbackAnswer) -> None:
        service = self.service
        try:
            if answer.kind == "success":
                service.send_callback_success(callback_id, _callback_body(answer.result))
            elif answer.kind == "failure":
                service.send_callback_failure(callback_id, answer.error)
            else:
                service.send_callback_heartbeat(callback_id)
                self._asked.discard(callback_id)  # ask again what comes next
        except ServiceApiError as exc:
            if exc.error_code != "CallbackTimeoutException":
                raise
            # The callback timed out before the answer arrived.

    # -- chained invokes, as Lambda runs their targets -------------------------

    def _run_invokes(self, arn: str) -> bool:
        """Run the targets of the execution's new chained invokes; ``True`` if any."""
        service = self.service
        pending = service.pending_invokes(arn)
        for invoke in pending:
            function = service.function(invoke.function_name)
            if function is None:  # START found it; nothing unregisters functions
                raise RunnerError(f"no function is registered as {invoke.function_name!r}")
            if function.durable:
                child_arn = service.start_child_execution(arn, invoke.op_id)
                child = self._child_runner(function)
                self._runners[child_arn] = child
                child.resume(child_arn)
            else:
                self._call_plain(arn, invoke, function)
        return bool(pending)

    def _child_runner(self, function: RegisteredFunction) -> LocalRunner:
        child = LocalRunner(
            function.target,
            service=self.service,
            seed=self._seed,
            max_invocations=self._max_invocations,
            logger=self._logger,
            run_body=self._run_body,
            through_handler=self._through_handler,
            on_callback=self._on_callback,
        )
        child._name = function.name
        child._runners = self._runners
        child._busy = self._busy
        return child

    def _call_plain(self, arn: str, invoke: PendingInvoke, function: RegisteredFunction) -> None:
        service = self.service
        try:
            event = None if invoke.payload is None else json.loads(invoke.payload)
        except ValueError as exc:
            service.complete_invoke(
                arn,
                invoke.op_id,
                status=OperationStatus.FAILED,
                error=ErrorObject(
                    type="InvalidRequestContentException",
                    message=f"Could not parse request body into json: {exc}",
                ),
            )
            return
        try:
            text = json.dumps(function.target(event))
        except (Exception, SimulatedCrash) as exc:
            error = (
                ErrorObject(message=str(exc) or "process exited", type="Runtime.ExitError")
                if isinstance(exc, SimulatedCrash)
                else ErrorObject.from_exception(exc)
            )
            service.complete_invoke(arn, invoke.op_id, status=OperationStatus.FAILED, error=error)
            return
        service.complete_invoke(arn, invoke.op_id, result=text)

    def _invoke_handler(self, invocation: InvocationInput) -> InvocationOutput:
        from durable import wire
        from durable.lambda_ import handle

        event = json.loads(json.dumps(wire.invocation_input_to_dict(invocation)))
        answer = handle(
            self._workflow,
            event,
            None,
            service=self.service,
            clock=self.clock.now,
            random=self._rng.random,
            logger=self._logger,
            run_body=self._run_body,
            max_workers=self._max_workers,
        )
        return wire.invocation_output_from_dict(json.loads(json.dumps(answer)))

    def result(
        self, arn: str, last: InvocationStatus = InvocationStatus.PENDING
    ) -> ExecutionResult:
        """Describe the execution as it stands."""
        execution = self.service.execution(arn)
        operations = self.service.operations(arn)
        status = {
            ExecutionStatus.SUCCEEDED: InvocationStatus.SUCCEEDED,
            ExecutionStatus.RUNNING: InvocationStatus.PENDING,
        }.get(execution.status, InvocationStatus.FAILED)
        result: Any = None
        if execution.result is not None and execution.result != "":
            result = json.loads(execution.result)
        return ExecutionResult(
            arn=arn,
            status=status,
            execution_status=execution.status,
            result=result,
            raw_result=execution.result,
            error=execution.error,
            operations=_tree(operations),
            invocations=execution.invocations,
            checkpoint_calls=execution.checkpoint_calls,
            requests=tuple(execution.journal),
            log=tuple(operations),
        )


def _function_name(name: str) -> str:
    cleaned = "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in name)
    return cleaned[:64] or "workflow"


def run(workflow: Any, input: Any = None, **options: Any) -> ExecutionResult:
    """Run ``workflow`` locally to its end and return the ``ExecutionResult``."""
    return LocalRunner(workflow, **options).run(input)
