"""The in-memory service's callbacks: START, the third-party APIs, timeouts (§3.6, §5.4)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from durable.errors import ServiceApiError
from durable.model import (
    CallbackOptions,
    ErrorObject,
    InvocationOutput,
    InvocationStatus,
    Operation,
    OperationAction,
    OperationStatus,
    OperationType,
    OperationUpdate,
    StatePage,
    timestamp,
)
from durable.testing import (
    CallbackAnswer,
    ExecutionResult,
    LocalRunner,
    LocalService,
    RunnerError,
)

A = "a" * 64
B = "b" * 64
CALLBACK_ID = re.compile(r"[A-Za-z0-9+/]+={0,2}")


def callback_start(
    op_id: str = A, *, timeout: int = 0, heartbeat: int = 0, name: str = "cb"
) -> OperationUpdate:
    return OperationUpdate(
        id=op_id,
        type=OperationType.CALLBACK,
        action=OperationAction.START,
        sub_type="Callback",
        name=name,
        callback_options=CallbackOptions(
            timeout_seconds=timeout, heartbeat_timeout_seconds=heartbeat
        ),
    )


@pytest.fixture
def service() -> LocalService:
    return LocalService()


def begin(service: LocalService) -> tuple[str, str]:
    arn = service.start_execution("{}")
    return arn, service.begin_invocation(arn).checkpoint_token


def open_callback(
    service: LocalService, op_id: str = A, **options: int
) -> tuple[str, str, str | None]:
    """Start a callback; return the ARN, the next token and the callback id."""
    arn, token = begin(service)
    answer = service.checkpoint(arn, token, [callback_start(op_id, **options)])
    (op,) = answer.new_execution_state.operations
    assert op.callback_details is not None
    return arn, answer.checkpoint_token or "", op.callback_details.callback_id


def stored(service: LocalService, arn: str, op_id: str = A) -> Operation:
    return service.execution(arn).operations[op_id]


def pending() -> InvocationOutput:
    return InvocationOutput(status=InvocationStatus.PENDING)


def test_callback_start_assigns_an_id_that_the_answer_carries(service: LocalService) -> None:
    """The checkpoint answer shows the callback STARTED with a base64-alphabet CallbackId."""
    arn, token = begin(service)
    answer = service.checkpoint(arn, token, [callback_start(A), callback_start(B, name="other")])
    first, second = answer.new_execution_state.operations
    for op in (first, second):
        assert op.status is OperationStatus.STARTED and op.type is OperationType.CALLBACK
        assert op.callback_details is not None
        callback_id = op.callback_details.callback_id or ""
        assert CALLBACK_ID.fullmatch(callback_id) and 1 <= len(callback_id) <= 1024
    assert first.callback_details and second.callback_details
    assert first.callback_details.callback_id != second.callback_details.callback_id
    assert service.callback_owner(first.callback_details.callback_id or "") == (arn, A)


def test_callback_ids_are_deterministic_per_service() -> None:
    """Two services fed the same requests issue the same ids (no randomness)."""
    assert open_callback(LocalService())[2] == open_callback(LocalService())[2]


def test_success_stores_the_body_as_text_and_ends_the_callback(service: LocalService) -> None:
    """send_callback_success makes the callback SUCCEEDED with the decoded body, unparsed."""
    arn, _, callback_id = open_callback(service)
    service.clock.advance(7)
    service.send_callback_success(callback_id or "", '{"ok": true, "name": "Zoë"}'.encode())
    op = stored(service, arn)
    assert op.status is OperationStatus.SUCCEEDED
    assert op.callback_details is not None
    assert op.callback_details.result == '{"ok": true, "name": "Zoë"}'
    assert op.callback_details.callback_id == callback_id
    assert op.end_timestamp == timestamp(service.clock.now())


def test_a_str_body_is_sent_as_utf8_and_an_empty_body_stores_empty_text(
    service: LocalService,
) -> None:
    """A str result is its UTF-8 bytes; an empty body is stored as "" (not absent)."""
    arn, token, first = open_callback(service)
    answer = service.checkpoint(arn, token, [callback_start(B)])
    (op,) = answer.new_execution_state.operations
    second = op.callback_details.callback_id if op.callback_details else None
    service.send_callback_success(first or "", "plain text")
    service.send_callback_success(second or "")
    assert stored(service, arn, A).result == "plain text"
    assert stored(service, arn, B).result == ""


def test_failure_stores_the_error(service: LocalService) -> None:
    """send_callback_failure makes the callback FAILED with the error as given."""
    arn, _, callback_id = open_callback(service)
    error = ErrorObject(message="rejected", type="Approval.Denied", data='{"by": "bob"}')
    service.send_callback_failure(callback_id or "", error)
    op = stored(service, arn)
    assert op.status is OperationStatus.FAILED
    assert op.callback_details is not None and op.callback_details.error == error
    assert op.callback_details.result is None and op.end_timestamp is not None


def test_an_unknown_callback_id_is_not_found(service: LocalService) -> None:
    """Every callback API answers an unknown id with a non-retryable 404."""
    open_callback(service)
    calls = [
        lambda: service.send_callback_success("bm90LWEtY2FsbGJhY2s=", b"x"),
        lambda: service.send_callback_failure("bm90LWEtY2FsbGJhY2s=", ErrorObject(message="x")),
        lambda: service.send_callback_heartbeat("bm90LWEtY2FsbGJhY2s="),
    ]
    for call in calls:
        with pytest.raises(ServiceApiError) as info:
            call()
        assert info.value.error_code == "ResourceNotFoundException"
        assert info.value.status_code == 404 and not info.value.retryable


def test_a_closed_callback_refuses_every_api_with_callback_timeout(service: LocalService) -> None:
    """After one completion, success, failure and heartbeat all raise CallbackTimeoutException."""
    arn, _, callback_id = open_callback(service)
    service.send_callback_success(callback_id or "", b"1")
    calls = [
        lambda: service.send_callback_success(callback_id or "", b"2"),
        lambda: service.send_callback_failure(callback_id or "", ErrorObject(message="x")),
        lambda: service.send_callback_heartbeat(callback_id or ""),
    ]
    for call in calls:
        with pytest.raises(ServiceApiError) as info:
            call()
        assert info.value.error_code == "CallbackTimeoutException"
        assert info.value.status_code == 400 and not info.value.retryable
    op = stored(service, arn)
    assert op.status is OperationStatus.SUCCEEDED and op.result == "1"


def test_a_callback_of_an_ended_execution_cannot_be_completed(service: LocalService) -> None:
    """Once the execution is over, its still-open callback is closed to answers."""
    arn, _, callback_id = open_callback(service)
    service.end_invocation(arn, InvocationOutput(status=InvocationStatus.SUCCEEDED, result="1"))
    with pytest.raises(ServiceApiError) as info:
        service.send_callback_success(callback_id or "", b"late")
    assert info.value.error_code == "CallbackTimeoutException"


@pytest.mark.parametrize("size", [262_144, 262_145])
def test_the_success_body_is_limited_to_256_kib(service: LocalService, size: int) -> None:
    """262,144 bytes are accepted; one more is a 400 naming the size and the limit."""
    arn, _, callback_id = open_callback(service)
    body = b"x" * size
    if size <= 262_144:
        service.send_callback_success(callback_id or "", body)
        assert stored(service, arn).result == "x" * size
        return
    with pytest.raises(ServiceApiError, match="262145 bytes; the limit is 262144") as info:
        service.send_callback_success(callback_id or "", body)
    assert info.value.error_code == "InvalidParameterValueException"
    assert info.value.status_code == 400 and not info.value.retryable
    assert stored(service, arn).status is OperationStatus.STARTED


def test_the_limit_counts_utf8_bytes_of_a_str(service: LocalService) -> None:
    """A str under 256 Ki characters but over 256 KiB in UTF-8 is refused."""
    arn, _, callback_id = open_callback(service)
    with pytest.raises(ServiceApiError, match="the limit is 262144"):
        service.send_callback_success(callback_id or "", "é" * 131_073)
    assert stored(service, arn).status is OperationStatus.STARTED


def test_a_body_that_is_not_utf8_is_refused(service: LocalService) -> None:
    """Bytes that do not decode as UTF-8 are an InvalidParameterValueException."""
    arn, _, callback_id = open_callback(service)
    with pytest.raises(ServiceApiError, match="not valid UTF-8") as info:
        service.send_callback_success(callback_id or "", b"\xff\xfe")
    assert info.value.error_code == "InvalidParameterValueException"
    assert info.value.status_code == 400
    assert stored(service, arn).status is OperationStatus.STARTED


def test_the_overall_timeout_fires_on_the_virtual_clock(service: LocalService) -> None:
    """TimeoutSeconds after START the callback is TIMED_OUT with Callback.Timeout."""
    arn, _, _ = open_callback(service, timeout=60)
    start = service.clock.now()
    assert service.next_wakeup(arn) == start + timedelta(seconds=60)
    service.clock.advance(59)
    assert service.fire_due(arn) == []
    service.clock.advance(1)
    assert service.fire_due(arn) == [A]
    op = stored(service, arn)
    assert op.status is OperationStatus.TIMED_OUT
    assert op.error == ErrorObject(type="Callback.Timeout", message="Callback timed out")
    assert op.end_timestamp == timestamp(start + timedelta(seconds=60))
    assert service.next_wakeup(arn) is None


def test_the_heartbeat_timeout_fires_first_when_it_is_shorter(service: LocalService) -> None:
    """Without heartbeats, HeartbeatTimeoutSeconds after START gives Callback.Heartbeat."""
    arn, _, _ = open_callback(service, timeout=60, heartbeat=10)
    assert service.next_wakeup(arn) == service.clock.now() + timedelta(seconds=10)
    service.clock.advance(10)
    assert service.fire_due(arn) == [A]
    op = stored(service, arn)
    assert op.status is OperationStatus.TIMED_OUT
    assert op.error == ErrorObject(
        type="Callback.Heartbeat", message="Callback timed out on heartbeat"
    )


def test_the_overall_timeout_wins_a_tie(service: LocalService) -> None:
    """When both deadlines fall on the same instant the error is Callback.Timeout."""
    arn, _, _ = open_callback(service, timeout=30, heartbeat=30)
    service.clock.advance(30)
    service.fire_due(arn)
    assert (stored(service, arn).error or ErrorObject()).type == "Callback.Timeout"


def test_a_heartbeat_pushes_the_heartbeat_deadline(service: LocalService) -> None:
    """Each heartbeat restarts the heartbeat timeout from the time it arrives."""
    arn, _, callback_id = open_callback(service, timeout=100, heartbeat=10)
    service.clock.advance(8)
    service.send_callback_heartbeat(callback_id or "")
    assert service.next_wakeup(arn) == service.clock.now() + timedelta(seconds=10)
    assert stored(service, arn).status is OperationStatus.STARTED
    assert service.execution(arn).unseen == set()  # a heartbeat changes no operation
    service.clock.advance(9)
    assert service.fire_due(arn) == []
    service.clock.advance(1)
    assert service.fire_due(arn) == [A]
    assert (stored(service, arn).error or ErrorObject()).type == "Callback.Heartbeat"


def test_heartbeats_do_not_extend_the_overall_timeout(service: LocalService) -> None:
    """The overall timeout counts from START whatever the heartbeats."""
    arn, _, callback_id = open_callback(service, timeout=25, heartbeat=10)
    for _ in range(3):
        service.clock.advance(8)
        assert service.fire_due(arn) == []
        service.send_callback_heartbeat(callback_id or "")
    service.clock.advance(1)
    assert service.fire_due(arn) == [A]
    assert (stored(service, arn).error or ErrorObject()).type == "Callback.Timeout"


def test_a_heartbeat_without_a_heartbeat_timeout_is_accepted_and_ignored(
    service: LocalService,
) -> None:
    """A callback with no timeouts takes heartbeats and has no deadline."""
    arn, _, callback_id = open_callback(service)
    service.send_callback_heartbeat(callback_id or "")
    assert service.next_wakeup(arn) is None
    assert stored(service, arn).status is OperationStatus.STARTED


def test_an_answer_after_an_unfired_deadline_finds_the_callback_timed_out(
    service: LocalService,
) -> None:
    """Past its deadline a callback is timed out even if fire_due has not run yet."""
    arn, _, callback_id = open_callback(service, timeout=5)
    service.clock.advance(5)  # the deadline itself is already too late
    with pytest.raises(ServiceApiError) as info:
        service.send_callback_success(callback_id or "", b"too late")
    assert info.value.error_code == "CallbackTimeoutException"
    assert stored(service, arn).status is OperationStatus.TIMED_OUT
    assert service.execution(arn).updated_ids == [A]


def test_a_completion_is_in_the_next_invocations_updated_operation_ids(
    service: LocalService,
) -> None:
    """Between invocations, a completed callback is listed in UpdatedOperationIds."""
    arn, _, callback_id = open_callback(service)
    service.end_invocation(arn, pending())
    service.send_callback_success(callback_id or "", b'"yes"')
    event = service.begin_invocation(arn)
    assert event.updated_operation_ids == (A,)
    (op,) = [o for o in event.initial_execution_state.operations if o.id == A]
    assert op.status is OperationStatus.SUCCEEDED and op.result == '"yes"'


def test_a_completion_during_an_invocation_is_in_the_next_checkpoint_answer(
    service: LocalService,
) -> None:
    """While an invocation runs, the completed callback rides on its next checkpoint answer."""
    arn, token, callback_id = open_callback(service)
    service.send_callback_failure(callback_id or "", ErrorObject(message="no"))
    answer = service.checkpoint(arn, token, [])
    assert [(op.id, op.status) for op in answer.new_execution_state.operations] == [
        (A, OperationStatus.FAILED)
    ]
    later = service.checkpoint(arn, answer.checkpoint_token or "", [])
    assert later.new_execution_state == StatePage()  # delivered once


def test_a_timeout_is_in_the_next_invocations_updated_operation_ids(
    service: LocalService,
) -> None:
    """A callback timed out by the clock is delivered like any service-side change."""
    arn, _, _ = open_callback(service, timeout=1)
    service.end_invocation(arn, pending())
    service.clock.advance(1)
    service.fire_due(arn)
    assert service.begin_invocation(arn).updated_operation_ids == (A,)


def test_an_open_callback_makes_pending_valid(service: LocalService) -> None:
    """PENDING while a callback is open is not an invalid PENDING, however often."""
    arn, _, _ = open_callback(service)
    for _ in range(5):
        service.end_invocation(arn, pending())
        service.begin_invocation(arn)
    assert not service.execution(arn).done


@pytest.mark.parametrize(
    ("updates", "message"),
    [
        ([callback_start(A), callback_start(A)], "appears twice"),
        ([callback_start(A, timeout=-1)], "TimeoutSeconds must be >= 0"),
        ([callback_start(A, heartbeat=-5)], "HeartbeatTimeoutSeconds must be >= 0"),
        (
            [
                OperationUpdate(
                    id=A,
                    type=OperationType.CALLBACK,
                    action=OperationAction.SUCCEED,
                    sub_type="Callback",
                    payload="1",
                )
            ],
            "not a valid action for CALLBACK",
        ),
    ],
)
def test_invalid_callback_updates_are_rejected(
    service: LocalService, updates: list[OperationUpdate], message: str
) -> None:
    """A duplicate START, negative options or a non-START action are 400s that change nothing."""
    arn, token = begin(service)
    before = service.operations(arn)
    with pytest.raises(ServiceApiError, match=message) as info:
        service.checkpoint(arn, token, updates)
    assert info.value.status_code == 400 and not info.value.retryable
    assert service.operations(arn) == before
    assert service.execution(arn).callbacks == {}


def test_a_callback_cannot_be_started_twice(service: LocalService) -> None:
    """A START for a callback that already exists, in a later request, is rejected."""
    arn, token, callback_id = open_callback(service)
    with pytest.raises(ServiceApiError, match="the callback already exists"):
        service.checkpoint(arn, token, [callback_start(A)])
    op = stored(service, arn)
    assert op.callback_details is not None and op.callback_details.callback_id == callback_id


def test_operation_results_expose_callback_ids_and_decode_results_as_json(
    service: LocalService,
) -> None:
    """The runner's view has callback_id, and a JSON answer decoded (else the raw text)."""
    arn, token, first = open_callback(service)
    answer = service.checkpoint(arn, token, [callback_start(B, name="raw")])
    second = answer.new_execution_state.operations[0].callback_details
    service.send_callback_success(first or "", b'{"ok": [1, 2]}')
    service.send_callback_success(second.callback_id or "" if second else "", b"not json")
    result = LocalRunner(lambda event, ctx: None, service=service).result(arn)
    assert isinstance(result, ExecutionResult)
    cb = result.get_callback("cb")
    assert (cb.callback_id, cb.result, cb.raw_result) == (first, {"ok": [1, 2]}, '{"ok": [1, 2]}')
    assert result.get_callback("raw").result == "not json"
    with pytest.raises(KeyError, match="of type CALLBACK"):
        result.get_callback("nope")


def test_callback_answers_are_built_by_kind() -> None:
    """CallbackAnswer helpers record the kind, payload and delay; exceptions become records."""
    assert CallbackAnswer.success({"a": 1}) == CallbackAnswer(kind="success", result={"a": 1})
    assert CallbackAnswer.heartbeat(after=timedelta(minutes=1)).after == 60.0
    failure = CallbackAnswer.failure(ValueError("nope"), after=2)
    assert failure.kind == "failure" and failure.after == 2.0
    assert failure.error is not None and failure.error.message == "nope"
    with pytest.raises(ValueError, match="before it is asked for"):
        CallbackAnswer.success(after=-1)


def test_the_runner_refuses_callbacks_of_executions_it_does_not_drive(
    service: LocalService,
) -> None:
    """Sending through a runner needs an execution it started or resumed; unknown ids are 404s."""
    _, _, callback_id = open_callback(service)
    runner = LocalRunner(lambda event, ctx: None, service=service)
    with pytest.raises(ServiceApiError) as info:
        runner.send_callback_success("bm9wZQ==", "x")
    assert info.value.error_code == "ResourceNotFoundException"
    with pytest.raises(RunnerError, match="does not drive"):
        runner.send_callback_success(callback_id or "", "x")
