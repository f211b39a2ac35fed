"""The shell around the interpreter: one invocation, from state to output envelope.

Responsibility: everything an invocation does besides deciding: load the
whole execution state (paging, protocol.md §1.3), decode the input (§1.4),
pump ``Replay`` (run step bodies, send checkpoints through the batcher, hand
the service's answers back), and turn the workflow's end into the output
envelope (§1.5-§1.8).  It talks to the service only through the ``Service``
protocol below, so the same code runs against the in-memory service of
``durable.testing`` and against the boto3 client of the Lambda adapter.  It
never imports boto3 or cattrs.

Checkpoint batching (§3.4): non-blocking updates wait in a FIFO queue; a
blocking update flushes the whole queue at once, in as few requests as the
limits allow (250 updates, 768,000 bytes of JSON per request).  There is no
timer: nothing waits for a batch to fill, and a step whose SUCCEED must be
confirmed is sent the moment it is ready, together with whatever is queued.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, Protocol

from durable.core import Checkpoint, Failure, Finish, Replay, RunStep, Suspend, Value, Workflow
from durable.errors import (
    CheckpointError,
    ExecutionError,
    GetExecutionStateError,
    InvocationError,
    ServiceApiError,
    ServiceProtocolError,
)
from durable.model import CheckpointOutput as CheckpointOutput
from durable.model import (
    ErrorObject,
    InvocationInput,
    InvocationOutput,
    InvocationStatus,
    Operation,
    OperationAction,
    OperationType,
    OperationUpdate,
    StatePage,
)
from durable.ops import LoggerLike

__all__ = [
    "LAMBDA_RESPONSE_SIZE_LIMIT",
    "MAX_REQUEST_BYTES",
    "MAX_UPDATES_PER_REQUEST",
    "DEFAULT_MAX_WORKERS",
    "CheckpointBatcher",
    "Service",
    "run_invocation",
]

#: 6 MiB minus 50 bytes for the envelope (protocol.md §1.6).
LAMBDA_RESPONSE_SIZE_LIMIT = 6 * 1024 * 1024 - 50
MAX_UPDATES_PER_REQUEST = 250
#: Threads for the step bodies of concurrent branches, by default.
DEFAULT_MAX_WORKERS = 16
MAX_REQUEST_BYTES = 768_000
STATE_PAGE_SIZE = 1000


class Service(Protocol):
    """The durable-execution API, as the runtime needs it.

    Implementations raise ``ServiceApiError`` (or its subclasses) for failed
    calls, with ``retryable`` set as protocol.md §3.5 classifies the error.
    """

    def checkpoint(
        self, execution_arn: str, checkpoint_token: str, updates: Sequence[OperationUpdate]
    ) -> CheckpointOutput: ...

    def get_execution_state(
        self, execution_arn: str, checkpoint_token: str, marker: str, max_items: int = 1000
    ) -> StatePage: ...


def utc_now() -> datetime:
    return datetime.now(UTC)


def _json_len(text: str | None) -> int:
    return 0 if text is None else len(json.dumps(text))


#: Room for member names, enum values, numbers and punctuation of one update.
_UPDATE_OVERHEAD = 420


def update_size(update: OperationUpdate) -> int:
    """An upper bound of the JSON size of ``update`` in bytes, close to exact.

    Payloads are measured as JSON string literals (escapes included), so a
    request assembled from these sizes never exceeds ``MAX_REQUEST_BYTES``.
    """
    size = _UPDATE_OVERHEAD + len(update.id) + len(update.parent_id or "")
    size += _json_len(update.name) + _json_len(update.payload)
    if update.error is not None:
        size += update.error.json_size()
    options = update.chained_invoke_options
    if options is not None:
        size += _json_len(options.function_name) + _json_len(options.tenant_id)
    return size


class _Revoked(Exception):  # noqa: N818 - internal signal
    """The service withheld the checkpoint token: end the invocation PENDING (§1.8)."""


class CheckpointBatcher:
    """Queues updates in order and sends them, chaining checkpoint tokens.

    ``calls`` counts checkpoint requests, ``bytes_sent`` their estimated size.
    """

    def __init__(
        self,
        service: Service,
        execution_arn: str,
        checkpoint_token: str,
        *,
        max_updates: int = MAX_UPDATES_PER_REQUEST,
        max_bytes: int = MAX_REQUEST_BYTES,
    ) -> None:
        self._service = service
        self._arn = execution_arn
        self.token: str | None = checkpoint_token
        self._queue: list[OperationUpdate] = []
        self._max_updates = max_updates
        self._max_bytes = max_bytes
        self.calls = 0
        self.bytes_sent = 0
        self.revoked = False
        self.completed = False

    @property
    def pending(self) -> int:
        return len(self._queue)

    def add(self, updates: Sequence[OperationUpdate]) -> None:
        self._queue.extend(updates)

    def flush(self) -> list[Operation]:
        """Send everything queued; return the operations the service reported.

        Raises ``_Revoked`` if the token was withheld and ``CheckpointError``
        (retryable or not) if a request failed.
        """
        changed: list[Operation] = []
        queue = self._queue
        while queue:
            batch, size = self._take_batch(queue)
            changed.extend(self._send(batch, size))
        return changed

    def refresh(self) -> list[Operation]:
        """An empty checkpoint: a new token and whatever changed meanwhile."""
        return self._send([], 0)

    def _take_batch(self, queue: list[OperationUpdate]) -> tuple[list[OperationUpdate], int]:
        size = 0
        count = 0
        for update in queue:
            grown = size + update_size(update)
            if count and (count >= self._max_updates or grown > self._max_bytes):
                break
            size = grown
            count += 1
            if update.type is OperationType.EXECUTION:
                break  # the EXECUTION update must end its request
        batch = queue[:count]
        del queue[:count]
        return batch, size

    def _send(self, batch: list[OperationUpdate], size: int) -> list[Operation]:
        if self.revoked or self.completed:
            raise _Revoked()
        token = self.token
        if token is None:
            raise CheckpointError("Cannot checkpoint without a checkpoint token.", retryable=True)
        try:
            answer = self._service.checkpoint(self._arn, token, batch)
        except CheckpointError:
            raise
        except ServiceApiError as exc:
            raise CheckpointError(
                str(exc),
                retryable=exc.retryable,
                error_code=exc.error_code,
                status_code=exc.status_code,
            ) from exc
        self.calls += 1
        self.bytes_sent += size
        self.token = answer.checkpoint_token
        state = answer.new_execution_state
        operations = list(state.operations)
        if self.token is None:
            if batch and batch[-1].type is OperationType.EXECUTION:
                self.completed = True
                return operations
            self.revoked = True
            raise _Revoked()
        marker = state.next_marker
        while marker:
            page = _get_state(self._service, self._arn, self.token, marker)
            operations.extend(page.operations)
            marker = page.next_marker
        return operations


def _get_state(service: Service, arn: str, token: str, marker: str) -> StatePage:
    try:
        return service.get_execution_state(arn, token, marker, STATE_PAGE_SIZE)
    except GetExecutionStateError:
        raise
    except ServiceApiError as exc:
        raise GetExecutionStateError(
            str(exc),
            retryable=exc.retryable,
            error_code=exc.error_code,
            status_code=exc.status_code,
        ) from exc


def load_state(service: Service, invocation: InvocationInput) -> list[Operation]:
    """The complete operation state of the invocation (protocol.md §1.3)."""
    state = invocation.initial_execution_state
    operations = list(state.operations)
    marker = state.next_marker
    while marker:
        page = _get_state(
            service, invocation.durable_execution_arn, invocation.checkpoint_token, marker
        )
        operations.extend(page.operations)
        marker = page.next_marker
    return operations


def decode_input(arn: str, operations: Sequence[Operation]) -> Any:
    """The user's input: the EXECUTION operation's payload, JSON-decoded (§1.4).

    A state that holds the EXECUTION operation of another execution (one
    whose id is not the last segment of ``arn``) is a checkpoint log from
    another execution, whether it came in the event or in a state page: it is
    refused with a ``ServiceProtocolError`` naming both, before any workflow
    code runs on it.
    """
    execution_id = arn.rsplit("/", 1)[-1]
    execution = None
    for op in operations:
        if op.id == execution_id:
            execution = op
        elif op.type is OperationType.EXECUTION:
            raise _foreign_log(arn, execution_id, op)
    if execution is None:
        return {}
    if execution.type is not OperationType.EXECUTION:
        raise ServiceProtocolError(
            f"operation {execution_id!r} (the last segment of the execution ARN) is a "
            f"{execution.type.value}, not the EXECUTION operation"
        )
    details = execution.execution_details
    payload = details.input_payload if details is not None else None
    if payload is None or not payload.strip():
        return {}
    try:
        return json.loads(payload)
    except ValueError as exc:
        raise ServiceProtocolError(
            f"the execution input (EXECUTION operation {execution_id!r}, "
            f"ExecutionDetails.InputPayload) is not valid JSON: {exc}"
        ) from exc


def _foreign_log(arn: str, execution_id: str, op: Operation) -> ServiceProtocolError:
    named = f" (named {op.name!r})" if op.name else ""
    return ServiceProtocolError(
        f"refusing a checkpoint log from another execution: the state of {arn!r} "
        f"(execution id {execution_id!r}) holds the EXECUTION operation {op.id!r}{named}, "
        "which belongs to a different execution"
    )


def _failed(error: ErrorObject) -> InvocationOutput:
    return InvocationOutput(status=InvocationStatus.FAILED, error=error)


def _api_failure(exc: ServiceApiError) -> InvocationOutput:
    return _failed(ErrorObject(message=str(exc), type=type(exc).wire_type))


def run_step_body(action: RunStep) -> Value | Failure:
    """Run one step body, turning what it raises into a ``Failure``.

    ``BaseException``s that are not ``Exception``s (``KeyboardInterrupt``,
    ``SystemExit``) are not failures of the step: they propagate.
    """
    try:
        return Value(action.call(action.step_context))
    except Exception as exc:
        return Failure(exc)


def run_invocation(
    workflow: Workflow,
    invocation: InvocationInput,
    service: Service,
    *,
    clock: Callable[[], datetime] = utc_now,
    random: Callable[[], float] | None = None,
    logger: LoggerLike | None = None,
    run_body: Callable[[RunStep], Value | Failure] = run_step_body,
    lambda_context: Any = None,
    max_workers: int = DEFAULT_MAX_WORKERS,
) -> InvocationOutput:
    """Run one invocation of ``workflow`` and return its output envelope.

    ``max_workers`` bounds the threads that run the step bodies of
    concurrent branches (map and parallel); it never changes the log.

    Raises (so that Lambda retries the invocation) only for retryable
    failures: throttled or failed service calls, and ``InvocationError``s
    whose ``is_retryable()`` is true.  Everything else becomes a FAILED
    envelope, and a revoked checkpoint token always becomes PENDING.
    """
    arn = invocation.durable_execution_arn
    try:
        operations = load_state(service, invocation)
    except GetExecutionStateError as exc:
        if exc.retryable:
            raise
        return _api_failure(exc)
    try:
        event = decode_input(arn, operations)
    except ServiceProtocolError as exc:
        return _failed(ErrorObject.from_exception(exc))

    if random is None:
        import random as _random

        random = _random.random
    replay = Replay(
        workflow,
        event,
        operations,
        clock(),
        execution_arn=arn,
        random=random,
        logger=logger,
        lambda_context=lambda_context,
    )
    batcher = CheckpointBatcher(service, arn, invocation.checkpoint_token)
    try:
        return _pump(replay, batcher, clock, run_body, max_workers)
    except _Revoked:
        return InvocationOutput(status=InvocationStatus.PENDING)
    except ServiceApiError as exc:
        if exc.retryable:
            raise
        return _api_failure(exc)
    finally:
        # However the invocation ends (a service error, a crash, a
        # KeyboardInterrupt), unwind the workflow so its ``finally`` blocks
        # run and no imperative thread stays blocked; a no-op once it has
        # finished or suspended.
        replay.close()


_OUTCOME_ACTIONS = frozenset({OperationAction.SUCCEED, OperationAction.FAIL})


def _pump(
    replay: Replay,
    batcher: CheckpointBatcher,
    clock: Callable[[], datetime],
    run_body: Callable[[RunStep], Value | Failure],
    max_workers: int,
) -> InvocationOutput:
    """Drive ``replay`` to the end of the invocation, one *round* at a time.

    A round is what ``next_actions`` returns: everything the interpreter can
    do before it needs an answer.  Its updates go out together, in at most
    one series of requests (a blocking update anywhere in the round flushes
    the queue once, at the end); then the step bodies it asked for run, those
    of concurrent branches in a pool of at most ``max_workers`` threads, and
    their outcomes are reported in the order they were asked for.  What the
    interpreter sees therefore never depends on thread timing, so the log is
    the same for any pool size.  A blocking flush waits for the round's
    bodies, so their outcomes share its request.  The price: a round's
    bodies are reported together, so a slow body holds back the branches
    whose bodies were asked for in the same round.  A body whose branch was
    abandoned (early completion) is not run.
    """
    pool: ThreadPoolExecutor | None = None
    # A blocking flush put off until the bodies of its round have run, so
    # that their outcomes ride in the same request (see below).
    deferred = False
    try:
        while True:
            actions = replay.next_actions()
            bodies: list[RunStep] = []
            blocking = deferred
            # Whether every blocking update of the round only reports an
            # outcome; one that starts a clock at the service (a wait, a
            # retry, a callback's timeouts, an invoke) is never held back.
            deferrable = True
            for action in actions:
                kind = type(action)
                if kind is Checkpoint:
                    assert isinstance(action, Checkpoint)
                    batcher.add(action.updates)
                    if action.blocking:
                        blocking = True
                        deferrable = deferrable and all(
                            u.action in _OUTCOME_ACTIONS for u in action.updates
                        )
                elif kind is RunStep:
                    assert isinstance(action, RunStep)
                    bodies.append(action)
                elif kind is Finish:
                    assert isinstance(action, Finish)
                    return _finish(action, batcher, clock)
                elif kind is Suspend:
                    # Queued (non-blocking) updates are sent rather than dropped:
                    # the next invocation then replays from a fuller log.
                    if batcher.pending:
                        batcher.flush()
                    return InvocationOutput(status=InvocationStatus.PENDING)
            bodies = [body for body in bodies if replay.wants_body(body.op_id)]
            flushed = False
            if blocking and (deferred or not deferrable or not bodies):
                # An empty blocking checkpoint with nothing queued is a
                # refresh: what the service changed meanwhile (§5.9).
                changed = batcher.flush() if batcher.pending else batcher.refresh()
                replay.checkpointed(changed, clock())
                deferred, flushed = False, True
            elif blocking:
                # The bodies asked for in this round never depend on its
                # blocking updates (a step whose START must be durable first
                # is only asked for after the flush), and the branches waiting
                # on the flush could not run before those bodies end anyway;
                # so the bodies run first and the flush waits one round to
                # carry their outcomes too: one request, not two.  Never
                # deferred twice in a row.
                deferred = True
            if not bodies:
                if not actions and not flushed:
                    raise ExecutionError(
                        "the interpreter stopped without finishing or suspending "
                        f"(running steps: {sorted(replay.running_steps)})"
                    )
                continue
            if len(bodies) == 1 or max_workers <= 1:
                outcomes = [run_body(body) for body in bodies]
            else:
                if pool is None:
                    pool = ThreadPoolExecutor(max_workers, thread_name_prefix="durable-step")
                outcomes = list(pool.map(run_body, bodies))
            now = clock()
            for body, outcome in zip(bodies, outcomes, strict=True):
                replay.step_finished(body.op_id, outcome, now)
    finally:
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)


def _finish(
    action: Finish, batcher: CheckpointBatcher, clock: Callable[[], datetime]
) -> InvocationOutput:
    outcome = action.outcome
    if isinstance(outcome, Value):
        try:
            result = json.dumps(outcome.value)
        except (TypeError, ValueError) as exc:
            outcome = Failure(exc)
        else:
            if batcher.pending:
                batcher.flush()
            if len(result) > LAMBDA_RESPONSE_SIZE_LIMIT:
                _checkpoint_execution(batcher, clock, OperationAction.SUCCEED, payload=result)
                return InvocationOutput(status=InvocationStatus.SUCCEEDED, result="")
            return InvocationOutput(status=InvocationStatus.SUCCEEDED, result=result)
    error = outcome.error
    if isinstance(error, InvocationError) and error.is_retryable():
        raise error
    if isinstance(error, ServiceApiError):
        return _api_failure(error)
    # ErrorObject.from_exception fits errors to 32 KiB, so a FAILED envelope
    # never reaches the response limit: the EXECUTION FAIL path of §1.6 is
    # not needed (the service would refuse such an error anyway).
    error_object = ErrorObject.from_exception(error)
    if batcher.pending:
        batcher.flush()
    return _failed(error_object)


def _checkpoint_execution(
    batcher: CheckpointBatcher,
    clock: Callable[[], datetime],
    action: OperationAction,
    *,
    payload: str | None = None,
) -> None:
    """Record an oversized result or error on the EXECUTION operation (§1.6)."""
    millis = int(clock().timestamp() * 1000)
    batcher.add(
        [
            OperationUpdate(
                id=f"execution-result-{millis}",
                type=OperationType.EXECUTION,
                action=action,
                payload=payload,
            )
        ]
    )
    batcher.flush()
