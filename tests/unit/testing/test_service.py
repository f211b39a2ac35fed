"""The in-memory service applies the rules of protocol.md §2.5-§2.6."""

from __future__ import annotations

from datetime import timedelta

import pytest

from durable.errors import ServiceApiError
from durable.model import (
    ContextOptions,
    ErrorObject,
    OperationAction,
    OperationStatus,
    OperationType,
    OperationUpdate,
    StepOptions,
    WaitOptions,
    timestamp,
)
from durable.testing import LocalService

A = "a" * 64
B = "b" * 64


def step(action: OperationAction, op_id: str = A, **fields: object) -> OperationUpdate:
    return OperationUpdate(
        id=op_id, type=OperationType.STEP, action=action, sub_type="Step", name="s", **fields
    )


@pytest.fixture
def service() -> LocalService:
    return LocalService()


def begin(service: LocalService) -> tuple[str, str]:
    arn = service.start_execution('{"x": 1}')
    return arn, service.begin_invocation(arn).checkpoint_token


def test_an_invocation_sees_the_execution_operation_with_the_input(service: LocalService) -> None:
    """The first event holds only the EXECUTION operation, whose id ends the ARN."""
    arn = service.start_execution('{"x": 1}')
    event = service.begin_invocation(arn)
    (op,) = event.initial_execution_state.operations
    assert op.type is OperationType.EXECUTION and arn.endswith("/" + op.id)
    assert op.execution_details is not None and op.execution_details.input_payload == '{"x": 1}'


def test_checkpoint_tokens_chain_and_old_ones_are_refused(service: LocalService) -> None:
    """Each call consumes its token; reusing one is an 'Invalid checkpoint token' error."""
    arn, token = begin(service)
    answer = service.checkpoint(arn, token, [step(OperationAction.START)])
    assert answer.checkpoint_token and answer.checkpoint_token != token
    with pytest.raises(ServiceApiError, match="Invalid checkpoint token") as info:
        service.checkpoint(arn, token, [])
    assert info.value.retryable  # a fresh invocation gets a fresh token


def test_step_updates_move_the_step_and_count_attempts(service: LocalService) -> None:
    """START does not count an attempt; RETRY, SUCCEED and FAIL each do."""
    arn, token = begin(service)
    error = ErrorObject(message="boom", type="ValueError")
    answer = service.checkpoint(
        arn,
        token,
        [
            step(OperationAction.START),
            step(
                OperationAction.RETRY,
                error=error,
                step_options=StepOptions(next_attempt_delay_seconds=5),
            ),
        ],
    )
    (op,) = answer.new_execution_state.operations
    assert op.status is OperationStatus.PENDING
    assert op.step_details is not None and op.step_details.attempt == 1
    assert op.step_details.next_attempt_timestamp == timestamp(
        service.clock.now() + timedelta(seconds=5)
    )
    assert service.next_wakeup(arn) == service.clock.now() + timedelta(seconds=5)
    service.clock.advance(5)
    assert service.fire_due(arn) == [A]
    assert service.operations(arn)[-1].status is OperationStatus.READY


def test_a_wait_fires_when_the_clock_reaches_its_end(service: LocalService) -> None:
    """WAIT START schedules the end; the service marks it SUCCEEDED at that time."""
    arn, token = begin(service)
    service.checkpoint(
        arn,
        token,
        [
            OperationUpdate(
                id=B,
                type=OperationType.WAIT,
                action=OperationAction.START,
                sub_type="Wait",
                wait_options=WaitOptions(wait_seconds=60),
            )
        ],
    )
    service.clock.advance(59)
    assert service.fire_due(arn) == []
    service.clock.advance(1)
    assert service.fire_due(arn) == [B]
    assert service.operations(arn)[-1].status is OperationStatus.SUCCEEDED


@pytest.mark.parametrize(
    ("updates", "message"),
    [
        ([step(OperationAction.START), step(OperationAction.START)], "appears twice"),
        (
            [step(OperationAction.SUCCEED, error=ErrorObject(message="x"))],
            "must not carry an Error",
        ),
        ([step(OperationAction.FAIL, payload="1")], "must not carry a Payload"),
        ([step(OperationAction.RETRY)], "RETRY requires StepOptions"),
        ([step(OperationAction.CANCEL)], "not a valid action for STEP"),
        ([step(OperationAction.START, parent_id=B)], "is not a CONTEXT operation"),
        (
            [
                OperationUpdate(
                    id=B, type=OperationType.WAIT, action=OperationAction.START, sub_type="Wait"
                )
            ],
            "WaitSeconds",
        ),
        (
            [
                step(
                    OperationAction.FAIL,
                    error=ErrorObject(message="x" * 40_000, type="ValueError"),
                )
            ],
            "the limit is 32768",
        ),
    ],
)
def test_invalid_requests_are_rejected_whole(
    service: LocalService, updates: list[OperationUpdate], message: str
) -> None:
    """A request breaking a §2.5 rule is a non-retryable 400 and changes nothing."""
    arn, token = begin(service)
    before = service.operations(arn)
    with pytest.raises(ServiceApiError, match=message) as info:
        service.checkpoint(arn, token, updates)
    assert not info.value.retryable and info.value.status_code == 400
    assert service.operations(arn) == before


def test_a_stored_operation_cannot_change_identity(service: LocalService) -> None:
    """A later update with another Name for the same Id is refused."""
    arn, token = begin(service)
    token = service.checkpoint(arn, token, [step(OperationAction.START)]).checkpoint_token or ""
    renamed = OperationUpdate(
        id=A, type=OperationType.STEP, action=OperationAction.SUCCEED, sub_type="Step", name="t"
    )
    with pytest.raises(ServiceApiError, match="Name 't' differs"):
        service.checkpoint(arn, token, [renamed])


def test_children_of_a_closed_context_are_not_delivered(service: LocalService) -> None:
    """Without ReplayChildren a completed context's children stay out of later events."""
    arn, token = begin(service)
    ctx = dict(type=OperationType.CONTEXT, sub_type="RunInChildContext", name="c")
    service.checkpoint(
        arn,
        token,
        [
            OperationUpdate(id=B, action=OperationAction.START, **ctx),  # type: ignore[arg-type]
            step(OperationAction.START, parent_id=B),
            step(OperationAction.SUCCEED, parent_id=B, payload="1"),
            OperationUpdate(
                id=B,
                action=OperationAction.SUCCEED,
                payload="1",
                context_options=ContextOptions(replay_children=False),
                **ctx,  # type: ignore[arg-type]
            ),
        ],
    )
    service.end_invocation(arn, _pending())
    ids = [op.id for op in service.begin_invocation(arn).initial_execution_state.operations]
    assert B in ids and A not in ids


def test_large_states_are_paged(service: LocalService) -> None:
    """Operations beyond page_size arrive through NextMarker and GetDurableExecutionState."""
    small = LocalService(page_size=2)
    arn, token = begin(small)
    updates = []
    for i in range(5):
        op_id = f"{i:064d}"
        updates += [
            step(OperationAction.START, op_id),
            step(OperationAction.SUCCEED, op_id, payload=str(i)),
        ]
    answer = small.checkpoint(arn, token, updates)
    state = answer.new_execution_state
    assert len(state.operations) == 2 and state.next_marker
    rest = small.get_execution_state(arn, answer.checkpoint_token or "", state.next_marker)
    assert len(rest.operations) == 2 and rest.next_marker


def test_an_execution_update_completes_the_execution_without_a_token(service: LocalService) -> None:
    """The EXECUTION update ends the execution; the answer carries no token (§1.6, §1.8)."""
    arn, token = begin(service)
    answer = service.checkpoint(
        arn,
        token,
        [
            OperationUpdate(
                id="execution-result-1",
                type=OperationType.EXECUTION,
                action=OperationAction.SUCCEED,
                payload='"big"',
            )
        ],
    )
    assert answer.checkpoint_token is None
    execution = service.execution(arn)
    assert execution.done and execution.result == '"big"'


def test_pending_with_nothing_pending_fails_after_three_tries(service: LocalService) -> None:
    """An invalid PENDING is tolerated twice; the third fails the execution."""
    arn = service.start_execution(None)
    for _ in range(3):
        service.begin_invocation(arn)
        service.end_invocation(arn, _pending())
    execution = service.execution(arn)
    assert execution.done and execution.error is not None
    assert "nothing pending" in (execution.error.message or "")


def _pending():  # type: ignore[no-untyped-def]
    from durable.model import InvocationOutput, InvocationStatus

    return InvocationOutput(status=InvocationStatus.PENDING)
