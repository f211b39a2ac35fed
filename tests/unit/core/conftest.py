"""Helpers that drive the pure core with plain data: no service, no threads."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs

from durable.core import (
    Action,
    Checkpoint,
    Failure,
    Finish,
    Replay,
    RunStep,
    Suspend,
    Value,
)
from durable.model import (
    CallbackDetails,
    ChainedInvokeDetails,
    ContextDetails,
    Operation,
    OperationAction,
    OperationStatus,
    OperationType,
    OperationUpdate,
    StepDetails,
    WaitDetails,
    timestamp,
)

NOW = datetime(2025, 1, 1, tzinfo=UTC)


def record_of(
    update: OperationUpdate, previous: Operation | None, now: datetime = NOW
) -> Operation:
    """What a well-behaved service stores after ``update`` (protocol.md §2.6), reduced
    to what the core reads."""
    base = previous or Operation(
        id=update.id,
        type=update.type,
        status=OperationStatus.STARTED,
        parent_id=update.parent_id,
        name=update.name,
        sub_type=update.sub_type,
        start_timestamp=timestamp(now),
    )
    attempt = (base.step_details.attempt or 0) if base.step_details else 0
    action = update.action
    if update.type is OperationType.CALLBACK:
        return attrs.evolve(
            base, callback_details=CallbackDetails(callback_id=f"cb{update.id[:8]}=")
        )
    if update.type is OperationType.CHAINED_INVOKE:
        return attrs.evolve(base, chained_invoke_details=ChainedInvokeDetails())
    if update.type is OperationType.CONTEXT:
        if action is OperationAction.START:
            return base
        if action is OperationAction.SUCCEED:
            options = update.context_options
            return attrs.evolve(
                base,
                status=OperationStatus.SUCCEEDED,
                context_details=ContextDetails(
                    result=update.payload,
                    replay_children=options.replay_children if options else None,
                ),
            )
        return attrs.evolve(
            base, status=OperationStatus.FAILED, context_details=ContextDetails(error=update.error)
        )
    if update.type is OperationType.WAIT:
        assert update.wait_options is not None
        end = timestamp(now + timedelta(seconds=update.wait_options.wait_seconds))
        return attrs.evolve(base, wait_details=WaitDetails(scheduled_end_timestamp=end))
    if action is OperationAction.START:
        return attrs.evolve(
            base, status=OperationStatus.STARTED, step_details=StepDetails(attempt=attempt)
        )
    if action is OperationAction.SUCCEED:
        return attrs.evolve(
            base,
            status=OperationStatus.SUCCEEDED,
            step_details=StepDetails(attempt=attempt + 1, result=update.payload),
        )
    if action is OperationAction.FAIL:
        return attrs.evolve(
            base,
            status=OperationStatus.FAILED,
            step_details=StepDetails(attempt=attempt + 1, error=update.error),
        )
    assert action is OperationAction.RETRY and update.step_options is not None
    return attrs.evolve(
        base,
        status=OperationStatus.PENDING,
        step_details=StepDetails(
            attempt=attempt + 1,
            error=update.error,
            result=update.payload,
            next_attempt_timestamp=timestamp(
                now + timedelta(seconds=update.step_options.next_attempt_delay_seconds)
            ),
        ),
    )


@attrs.define
class Trace:
    """Everything one invocation asked for, in order."""

    actions: list[Action] = attrs.Factory(list)
    requests: list[list[OperationUpdate]] = attrs.Factory(list)
    bodies: list[tuple[str, int]] = attrs.Factory(list)
    end: Finish | Suspend | None = None
    log: dict[str, Operation] = attrs.Factory(dict)

    @property
    def updates(self) -> list[OperationUpdate]:
        return [u for request in self.requests for u in request]

    @property
    def wire(self) -> list[list[tuple[str, str]]]:
        """Requests as (type, action) pairs: the shape protocol.md describes."""
        return [[(u.type.value, u.action.value) for u in r] for r in self.requests]


def invoke(
    workflow: Callable[..., Any],
    log: Iterable[Operation] = (),
    *,
    event: Any = None,
    bodies: Callable[[RunStep], Value | Failure] | None = None,
    now: datetime = NOW,
    **options: Any,
) -> Trace:
    """Run one invocation of ``workflow`` against ``log`` with a fake service
    that batches like the runtime: non-blocking updates wait for the next
    blocking one."""
    store = {op.id: op for op in log}
    replay = Replay(workflow, event, list(store.values()), now, **options)
    trace = Trace(log=store)
    queue: list[OperationUpdate] = []

    def run_body(action: RunStep) -> Value | Failure:
        if bodies is not None:
            return bodies(action)
        try:
            return Value(action.call(action.step_context))
        except Exception as exc:
            return Failure(exc)

    while True:
        actions = replay.next_actions()
        assert actions, "the interpreter stalled: no actions and nothing running"
        trace.actions.extend(actions)
        pending: list[RunStep] = []
        for action in actions:
            if isinstance(action, Checkpoint):
                queue.extend(action.updates)
                if action.blocking:
                    changed = []
                    for update in queue:
                        store[update.id] = record_of(update, store.get(update.id), now)
                        changed.append(store[update.id])
                    trace.requests.append(queue)
                    queue = []
                    replay.checkpointed(changed, now)
            elif isinstance(action, RunStep):
                pending.append(action)
            else:
                assert isinstance(action, Finish | Suspend)
                if queue:
                    trace.requests.append(queue)
                    for update in queue:
                        store[update.id] = record_of(update, store.get(update.id), now)
                trace.end = action
                return trace
        for action in pending:
            trace.bodies.append((action.op_id, action.attempt))
            replay.step_finished(action.op_id, run_body(action))
