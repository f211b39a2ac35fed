"""The in-memory service's chained invokes: START, the function registry and completion (§5.6)."""

from __future__ import annotations

from typing import Any

import pytest

import durable
from durable.errors import ServiceApiError
from durable.model import (
    ChainedInvokeOptions,
    ErrorObject,
    ExecutionStatus,
    InvocationOutput,
    InvocationStatus,
    Operation,
    OperationAction,
    OperationStatus,
    OperationType,
    OperationUpdate,
)
from durable.testing import LocalRunner, LocalService, PendingInvoke

A = "a" * 64
B = "b" * 64
ARN_PREFIX = "arn:aws:lambda:us-east-1:123456789012:function:"


def invoke_start(
    op_id: str = A,
    function_name: str = "payments",
    payload: str | None = '{"amount": 5}',
    tenant_id: str | None = None,
    name: str = "pay",
) -> OperationUpdate:
    return OperationUpdate(
        id=op_id,
        type=OperationType.CHAINED_INVOKE,
        action=OperationAction.START,
        sub_type="ChainedInvoke",
        name=name,
        payload=payload,
        chained_invoke_options=ChainedInvokeOptions(
            function_name=function_name, tenant_id=tenant_id
        ),
    )


def plain_target(payload: Any) -> Any:
    return payload


@durable.workflow
def durable_target(event: Any, ctx: durable.Context) -> Any:
    return event


@pytest.fixture
def service() -> LocalService:
    service = LocalService()
    service.register_function("payments", plain_target)
    return service


def begin(service: LocalService) -> tuple[str, str]:
    arn = service.start_execution("{}")
    return arn, service.begin_invocation(arn).checkpoint_token


def start(service: LocalService, *updates: OperationUpdate) -> tuple[str, list[Operation]]:
    arn, token = begin(service)
    answer = service.checkpoint(arn, token, list(updates or [invoke_start()]))
    return arn, list(answer.new_execution_state.operations)


def stored(service: LocalService, arn: str, op_id: str = A) -> Operation:
    return service.execution(arn).operations[op_id]


def test_an_unknown_function_fails_the_invoke_at_once(service: LocalService) -> None:
    """The START answer already shows FAILED with ResourceNotFoundException; nothing is queued."""
    arn, (op,) = start(service, invoke_start(function_name="no-such-function"))
    assert op.status is OperationStatus.FAILED and op.end_timestamp is not None
    assert op.chained_invoke_details is not None
    error = op.chained_invoke_details.error
    assert error is not None and error.type == "ResourceNotFoundException"
    assert "no-such-function" in (error.message or "")
    assert service.pending_invokes(arn) == []


def test_a_known_function_starts_the_invoke_and_queues_it(service: LocalService) -> None:
    """A resolvable target comes back STARTED and waits in pending_invokes for the runner."""
    arn, (op,) = start(service, invoke_start(tenant_id="tenant-7"))
    assert op.status is OperationStatus.STARTED and op.end_timestamp is None
    assert service.pending_invokes(arn) == [
        PendingInvoke(
            op_id=A, function_name="payments", payload='{"amount": 5}', tenant_id="tenant-7"
        )
    ]
    service.end_invocation(arn, InvocationOutput(status=InvocationStatus.PENDING))
    service.begin_invocation(arn)
    service.end_invocation(arn, InvocationOutput(status=InvocationStatus.PENDING))
    service.begin_invocation(arn)
    service.end_invocation(arn, InvocationOutput(status=InvocationStatus.PENDING))
    assert not service.execution(arn).done  # a STARTED invoke makes PENDING valid


@pytest.mark.parametrize(
    "function_name",
    [
        "payments",
        "payments:prod",
        "payments:$LATEST",
        "123456789012:function:payments",
        ARN_PREFIX + "payments",
        ARN_PREFIX + "payments:7",
    ],
)
def test_every_form_of_function_name_resolves_to_the_bare_name(
    service: LocalService, function_name: str
) -> None:
    """A name, name:qualifier, partial or full ARN all reach the function registered by name."""
    arn, (op,) = start(service, invoke_start(function_name=function_name))
    assert op.status is OperationStatus.STARTED
    registered = service.function(function_name)
    assert registered is not None and registered.name == "payments"
    assert [p.function_name for p in service.pending_invokes(arn)] == [function_name]


def test_a_function_registered_by_arn_is_found_by_name() -> None:
    """register_function also reduces an ARN with a qualifier to the bare name."""
    service = LocalService()
    registered = service.register_function(ARN_PREFIX + "ledger:live", plain_target)
    assert registered.name == "ledger" and service.function("ledger") == registered


def test_durability_defaults_to_whether_the_target_is_a_workflow() -> None:
    """A @durable.workflow is durable; a plain callable is not unless durable=True."""
    service = LocalService()
    assert service.register_function("wf", durable_target).durable
    assert not service.register_function("fn", plain_target).durable
    assert service.register_function("gen", plain_target, durable=True).durable
    with pytest.raises(ValueError, match="not a Lambda function name"):
        service.register_function("bad name!", plain_target)


@pytest.mark.parametrize(
    ("update", "message"),
    [
        (invoke_start(function_name=""), "FunctionName must be 1-256 characters"),
        (invoke_start(function_name="f" * 257), "FunctionName must be 1-256 characters"),
        (invoke_start(function_name="bad name"), "is not a function name or ARN"),
        (
            invoke_start(function_name="arn:aws:lambda:us-east-1:999999999999:function:payments"),
            "not in this account",
        ),
        (
            invoke_start(function_name="arn:aws:lambda:eu-west-1:123456789012:function:payments"),
            "not in this region",
        ),
        (invoke_start(tenant_id=""), "TenantId must be 1-256 characters"),
        (invoke_start(tenant_id="t" * 257), "TenantId must be 1-256 characters"),
        (invoke_start(tenant_id="bad#tenant"), "TenantId must be 1-256 characters"),
        (invoke_start(payload="x" * 1_048_577), "1048577 bytes; the limit is 1048576"),
        (invoke_start(payload="é" * 524_289), "1048578 bytes; the limit is 1048576"),
        (
            OperationUpdate(
                id=A,
                type=OperationType.CHAINED_INVOKE,
                action=OperationAction.START,
                sub_type="ChainedInvoke",
            ),
            "requires ChainedInvokeOptions",
        ),
        (
            OperationUpdate(
                id=A,
                type=OperationType.CHAINED_INVOKE,
                action=OperationAction.SUCCEED,
                sub_type="ChainedInvoke",
                payload="1",
            ),
            "not a valid action for CHAINED_INVOKE",
        ),
    ],
)
def test_invalid_invoke_starts_are_rejected(
    service: LocalService, update: OperationUpdate, message: str
) -> None:
    """Each §2.5 violation is a non-retryable 400 naming the field and limit, changing nothing."""
    arn, token = begin(service)
    before = service.operations(arn)
    with pytest.raises(ServiceApiError, match=message) as info:
        service.checkpoint(arn, token, [update])
    assert info.value.error_code == "InvalidParameterValueException"
    assert info.value.status_code == 400 and not info.value.retryable
    assert service.operations(arn) == before and service.pending_invokes(arn) == []


@pytest.mark.parametrize("tenant_id", ["t", "Tenant_1.a:b/c=d+e-f@g h", "x" * 256])
def test_valid_tenant_ids_are_accepted(service: LocalService, tenant_id: str) -> None:
    """TenantId may use the whole documented alphabet, up to 256 characters."""
    arn, (op,) = start(service, invoke_start(tenant_id=tenant_id))
    assert op.status is OperationStatus.STARTED
    assert service.pending_invokes(arn)[0].tenant_id == tenant_id


def test_a_payload_of_exactly_one_mib_is_accepted(service: LocalService) -> None:
    """The input limit is inclusive: 1,048,576 bytes pass."""
    _, (op,) = start(service, invoke_start(payload="x" * 1_048_576))
    assert op.status is OperationStatus.STARTED


def test_an_invoke_cannot_be_started_twice(service: LocalService) -> None:
    """A second START of an existing invoke is rejected."""
    arn, token = begin(service)
    token = service.checkpoint(arn, token, [invoke_start()]).checkpoint_token or ""
    with pytest.raises(ServiceApiError, match="the chained invoke already exists"):
        service.checkpoint(arn, token, [invoke_start()])
    assert len(service.pending_invokes(arn)) == 1


def test_complete_invoke_succeeds_with_the_result_and_marks_it_changed(
    service: LocalService,
) -> None:
    """SUCCEEDED stores ChainedInvokeDetails.Result and reaches the next UpdatedOperationIds."""
    arn, _ = start(service)
    service.end_invocation(arn, InvocationOutput(status=InvocationStatus.PENDING))
    service.clock.advance(3)
    service.complete_invoke(arn, A, result='{"paid": true}')
    op = stored(service, arn)
    assert op.status is OperationStatus.SUCCEEDED and op.result == '{"paid": true}'
    assert op.end_timestamp is not None and op.error is None
    assert service.pending_invokes(arn) == []
    assert service.begin_invocation(arn).updated_operation_ids == (A,)


def test_a_completion_during_an_invocation_rides_on_the_next_checkpoint(
    service: LocalService,
) -> None:
    """While an invocation runs, the completed invoke is in its next checkpoint answer."""
    arn, token = begin(service)
    token = service.checkpoint(arn, token, [invoke_start()]).checkpoint_token or ""
    service.complete_invoke(arn, A, result="1")
    answer = service.checkpoint(arn, token, [])
    assert [(op.id, op.status) for op in answer.new_execution_state.operations] == [
        (A, OperationStatus.SUCCEEDED)
    ]


@pytest.mark.parametrize(
    ("status", "error", "expected"),
    [
        (
            OperationStatus.FAILED,
            ErrorObject(message="card declined", type="PaymentError"),
            ErrorObject(message="card declined", type="PaymentError"),
        ),
        (
            OperationStatus.TIMED_OUT,
            None,
            ErrorObject(type="ChainedInvoke.Timeout", message="The chained invoke timed out"),
        ),
        (
            OperationStatus.STOPPED,
            ErrorObject(message="stopped by operator"),
            ErrorObject(message="stopped by operator"),
        ),
    ],
)
def test_complete_invoke_records_unsuccessful_ends(
    service: LocalService,
    status: OperationStatus,
    error: ErrorObject | None,
    expected: ErrorObject,
) -> None:
    """FAILED, TIMED_OUT and STOPPED store ChainedInvokeDetails.Error (a default for a timeout)."""
    arn, _ = start(service)
    service.complete_invoke(arn, A, error=error, status=status)
    op = stored(service, arn)
    assert op.status is status and op.error == expected and op.result is None
    assert service.execution(arn).unseen == {A}


def test_an_oversized_result_fails_the_invoke(service: LocalService) -> None:
    """A result over 1 MiB completes the invoke FAILED with an error naming the limit."""
    arn, _ = start(service)
    service.complete_invoke(arn, A, result='"' + "x" * 1_048_575 + '"')
    op = stored(service, arn)
    assert op.status is OperationStatus.FAILED and op.result is None
    assert op.error is not None and "the limit is 1048576" in (op.error.message or "")


def test_complete_invoke_refuses_misuse(service: LocalService) -> None:
    """Only a STARTED chained invoke can be completed, once, with a consistent outcome."""
    arn, _ = start(service)
    with pytest.raises(KeyError):
        service.complete_invoke(arn, B, result="1")
    with pytest.raises(ValueError, match="carries no error"):
        service.complete_invoke(arn, A, result="1", error=ErrorObject(message="x"))
    with pytest.raises(ValueError, match="carries no result"):
        service.complete_invoke(arn, A, result="1", status=OperationStatus.FAILED)
    with pytest.raises(ValueError, match="cannot end PENDING"):
        service.complete_invoke(arn, A, status=OperationStatus.PENDING)
    service.complete_invoke(arn, A, result="1")
    with pytest.raises(ValueError, match="not a STARTED CHAINED_INVOKE"):
        service.complete_invoke(arn, A, result="2")
    assert stored(service, arn).result == "1"


def test_a_child_execution_completes_its_invoke_when_it_ends(service: LocalService) -> None:
    """The end of the execution started for an invoke completes that invoke with its result."""
    service.register_function("child", durable_target)
    arn, _ = start(service, invoke_start(function_name=ARN_PREFIX + "child:1", payload="[1]"))
    child_arn = service.start_child_execution(arn, A)
    assert service.pending_invokes(arn) == []
    assert service.execution(arn).children == {A: child_arn}
    child = service.execution(child_arn)
    assert (child.parent_arn, child.parent_operation_id, child.input_payload) == (arn, A, "[1]")
    assert stored(service, arn).status is OperationStatus.STARTED
    service.begin_invocation(child_arn)
    service.end_invocation(
        child_arn, InvocationOutput(status=InvocationStatus.SUCCEEDED, result="[2]")
    )
    op = stored(service, arn)
    assert op.status is OperationStatus.SUCCEEDED and op.result == "[2]"
    assert A in service.execution(arn).unseen


def test_a_failed_child_fails_its_invoke_with_the_childs_error(service: LocalService) -> None:
    """A child execution that fails passes its error to the invoke."""
    service.register_function("child", durable_target)
    arn, _ = start(service, invoke_start(function_name="child"))
    child_arn = service.start_child_execution(arn, A)
    service.begin_invocation(child_arn)
    error = ErrorObject(message="boom", type="ValueError")
    service.end_invocation(child_arn, InvocationOutput(status=InvocationStatus.FAILED, error=error))
    op = stored(service, arn)
    assert op.status is OperationStatus.FAILED and op.error == error


def test_a_childs_output_over_one_mib_fails_child_and_invoke(service: LocalService) -> None:
    """The output of an execution started by an invoke is limited to 1 MiB (§2.5)."""
    service.register_function("child", durable_target)
    arn, _ = start(service, invoke_start(function_name="child"))
    child_arn = service.start_child_execution(arn, A)
    service.begin_invocation(child_arn)
    big = '"' + "x" * 1_048_575 + '"'
    service.end_invocation(
        child_arn, InvocationOutput(status=InvocationStatus.SUCCEEDED, result=big)
    )
    assert service.execution(child_arn).status is ExecutionStatus.FAILED
    op = stored(service, arn)
    assert op.status is OperationStatus.FAILED
    assert op.error is not None and "the limit is 1048576" in (op.error.message or "")


def test_a_child_refuses_an_oversized_execution_update(service: LocalService) -> None:
    """An EXECUTION SUCCEED over 1 MiB from a child is a 400, as the emulator answers."""
    service.register_function("child", durable_target)
    arn, _ = start(service, invoke_start(function_name="child"))
    child_arn = service.start_child_execution(arn, A)
    token = service.begin_invocation(child_arn).checkpoint_token
    update = OperationUpdate(
        id="execution-result-1",
        type=OperationType.EXECUTION,
        action=OperationAction.SUCCEED,
        payload="x" * 1_048_577,
    )
    with pytest.raises(ServiceApiError, match="the limit is 1048576"):
        service.checkpoint(child_arn, token, [update])


def test_the_runner_registers_functions_on_its_service() -> None:
    """LocalRunner.register_function fills the service's registry, durable or plain."""
    runner = LocalRunner(durable_target)
    assert runner.register_function("child", durable_target).durable
    assert not runner.register_function(ARN_PREFIX + "fn:1", plain_target).durable
    assert runner.service.function("fn") is not None
