"""The cloud runner without a network: history decoding, API calls (checked against
botocore's service model with its Stubber) and polling (against a fake client)."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from durable.errors import ServiceApiError, ServiceProtocolError, ValidationError
from durable.model import timestamp
from durable.testing import (
    CloudRunnerError,
    DurableFunctionCloudTestRunner,
    DurableTestRunner,
    ErrorObject,
    ExecutionStatus,
    InvocationStatus,
    OperationStatus,
    OperationType,
    RunnerError,
    operations_from_history,
    result_from_history,
)

boto3 = pytest.importorskip("boto3")
from botocore.exceptions import ClientError  # noqa: E402
from botocore.stub import ANY, Stubber  # noqa: E402

ARN = "arn:aws:lambda:us-east-1:123456789012:function:orders:$LATEST/durable-execution/n-1/e-1"
T0 = datetime(2025, 1, 1, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def error(message: str, type: str = "ValueError") -> dict[str, Any]:
    return {"Payload": {"ErrorMessage": message, "ErrorType": type}, "Truncated": False}


def payload(text: str) -> dict[str, Any]:
    return {"Payload": text, "Truncated": False}


STEP = "1ced8f5be2db23a6"
WAIT = "c5faca15ac2f9357"
CALLBACK = "6f760b9e9eac89f0"
CONTEXT = "e8e70dc170e14333"
CHILD = "2fafa5ab7b31687e"
INVOKE = "9d0a1f3b7c2e4d55"

#: A history in the service's shape: a step retried once then failed, a
#: cancelled wait, a timed-out callback, a child context with a step, a chained
#: invoke, and events that belong to no operation.
HISTORY: list[dict[str, Any]] = [
    {
        "EventType": "ExecutionStarted",
        "EventId": 1,
        "Id": "exec",
        "Name": "n-1",
        "EventTimestamp": at(0),
        "ExecutionStartedDetails": {"Input": payload('{"x": 1}'), "ExecutionTimeout": 300},
    },
    {"EventType": "StepStarted", "Id": STEP, "Name": "charge", "SubType": "Step",
     "EventTimestamp": at(1), "StepStartedDetails": {}},
    {"EventType": "StepFailed", "Id": STEP, "Name": "charge", "SubType": "Step",
     "EventTimestamp": at(2), "StepFailedDetails": {
         "Error": error("boom 1"),
         "RetryDetails": {"CurrentAttempt": 1, "NextAttemptDelaySeconds": 5}}},
    {"EventType": "InvocationCompleted", "EventTimestamp": at(2),
     "InvocationCompletedDetails": {"StartTimestamp": at(0), "EndTimestamp": at(2),
                                    "RequestId": "r-1"}},
    {"EventType": "StepStarted", "Id": STEP, "Name": "charge", "SubType": "Step",
     "EventTimestamp": at(7), "StepStartedDetails": {}},
    {"EventType": "StepFailed", "Id": STEP, "Name": "charge", "SubType": "Step",
     "EventTimestamp": at(8), "StepFailedDetails": {
         "Error": error("boom 2"),
         "RetryDetails": {"CurrentAttempt": 2, "NextAttemptDelaySeconds": 0}}},
    {"EventType": "WaitStarted", "Id": WAIT, "Name": "pause", "SubType": "Wait",
     "EventTimestamp": at(9), "WaitStartedDetails": {"Duration": 60,
                                                     "ScheduledEndTimestamp": at(69)}},
    {"EventType": "WaitCancelled", "Id": WAIT, "SubType": "Wait", "EventTimestamp": at(10),
     "WaitCancelledDetails": {}},
    {"EventType": "CallbackStarted", "Id": CALLBACK, "Name": "approval",
     "SubType": "Callback", "EventTimestamp": at(11),
     "CallbackStartedDetails": {"CallbackId": "cb-1", "Timeout": 30}},
    {"EventType": "CallbackTimedOut", "Id": CALLBACK, "Name": "approval",
     "SubType": "Callback", "EventTimestamp": at(41),
     "CallbackTimedOutDetails": {"Error": error("Callback timed out", "Callback.Timeout")}},
    {"EventType": "ContextStarted", "Id": CONTEXT, "Name": "child",
     "SubType": "RunInChildContext", "EventTimestamp": at(42), "ContextStartedDetails": {}},
    {"EventType": "StepStarted", "Id": CHILD, "Name": "seven", "SubType": "Step",
     "ParentId": CONTEXT, "EventTimestamp": at(42), "StepStartedDetails": {}},
    {"EventType": "StepSucceeded", "Id": CHILD, "Name": "seven", "SubType": "Step",
     "ParentId": CONTEXT, "EventTimestamp": at(43),
     "StepSucceededDetails": {"Result": payload("7"),
                              "RetryDetails": {"CurrentAttempt": 1}}},
    {"EventType": "ContextSucceeded", "Id": CONTEXT, "Name": "child",
     "SubType": "RunInChildContext", "EventTimestamp": at(43),
     "ContextSucceededDetails": {"Result": payload("7")}},
    {"EventType": "ChainedInvokeStarted", "Id": INVOKE, "Name": "price",
     "SubType": "ChainedInvoke", "EventTimestamp": at(44),
     "ChainedInvokeStartedDetails": {"FunctionName": "pricing", "Input": payload("{}")}},
    {"EventType": "ChainedInvokeSucceeded", "Id": INVOKE, "Name": "price",
     "SubType": "ChainedInvoke", "EventTimestamp": at(45),
     "ChainedInvokeSucceededDetails": {"Result": payload('{"price": 3}')}},
    {"EventType": "ExecutionPaused", "EventTimestamp": at(46),
     "ExecutionPausedDetails": {"PauseRequestTimestamp": at(46),
                                "ExecutionTimeoutPaused": False}},
    {"EventType": "SomethingNew", "Id": "zzz", "EventTimestamp": at(47)},
    {"EventType": "ExecutionFailed", "Id": "exec", "Name": "n-1", "EventTimestamp": at(48),
     "ExecutionFailedDetails": {"Error": error("boom 2")}},
]  # fmt: skip


def test_history_rebuilds_every_operation_in_start_order() -> None:
    ops = operations_from_history(HISTORY)
    assert [(op.id, op.type, op.status) for op in ops] == [
        ("exec", OperationType.EXECUTION, OperationStatus.FAILED),
        (STEP, OperationType.STEP, OperationStatus.FAILED),
        (WAIT, OperationType.WAIT, OperationStatus.CANCELLED),
        (CALLBACK, OperationType.CALLBACK, OperationStatus.TIMED_OUT),
        (CONTEXT, OperationType.CONTEXT, OperationStatus.SUCCEEDED),
        (CHILD, OperationType.STEP, OperationStatus.SUCCEEDED),
        (INVOKE, OperationType.CHAINED_INVOKE, OperationStatus.SUCCEEDED),
    ]
    by_id = {op.id: op for op in ops}
    assert by_id["exec"].execution_details is not None
    assert by_id["exec"].execution_details.input_payload == '{"x": 1}'
    step = by_id[STEP]
    assert step.step_details is not None and step.step_details.attempt == 2
    assert step.error == ErrorObject(message="boom 2", type="ValueError")
    assert (step.start_timestamp, step.end_timestamp) == (timestamp(at(1)), timestamp(at(8)))
    wait = by_id[WAIT]
    assert wait.name == "pause"  # the name comes from the start event
    assert wait.wait_details is not None
    assert wait.wait_details.scheduled_end_timestamp == timestamp(at(69))
    callback = by_id[CALLBACK]
    assert callback.callback_details is not None
    assert callback.callback_details.callback_id == "cb-1"
    assert callback.error == ErrorObject(message="Callback timed out", type="Callback.Timeout")
    assert (by_id[CHILD].parent_id, by_id[CHILD].result) == (CONTEXT, "7")
    assert by_id[INVOKE].result == '{"price": 3}'


def test_a_step_to_be_retried_is_pending_until_it_starts_again() -> None:
    after_retry = operations_from_history(HISTORY[:3])[1]
    assert after_retry.status is OperationStatus.PENDING
    assert after_retry.step_details is not None
    assert after_retry.step_details.attempt == 1
    assert after_retry.step_details.next_attempt_timestamp == timestamp(at(7))
    assert after_retry.error == ErrorObject(message="boom 1", type="ValueError")
    assert after_retry.end_timestamp is None
    restarted = operations_from_history(HISTORY[:5])[1]
    assert restarted.status is OperationStatus.STARTED
    assert restarted.error is None
    assert restarted.step_details is not None and restarted.step_details.attempt == 1


def test_attempts_are_counted_when_retry_details_are_missing() -> None:
    events = [
        {"EventType": "StepStarted", "Id": "s", "Name": "s", "EventTimestamp": 1_700_000_000_000},
        {"EventType": "StepFailed", "Id": "s", "EventTimestamp": 1_700_000_001_000,
         "StepFailedDetails": {"Error": error("x"),
                               "RetryDetails": {"NextAttemptDelaySeconds": 2}}},
        {"EventType": "StepStarted", "Id": "s", "EventTimestamp": 1_700_000_003_000},
        {"EventType": "StepSucceeded", "Id": "s", "EventTimestamp": 1_700_000_004_000,
         "StepSucceededDetails": {"Result": payload('"ok"')}},
    ]  # fmt: skip
    [step] = operations_from_history(events)
    assert step.status is OperationStatus.SUCCEEDED
    assert step.step_details is not None and step.step_details.attempt == 2
    assert (step.name, step.result, step.end_timestamp) == ("s", '"ok"', 1_700_000_004_000)


def test_a_polling_retry_with_a_payload_is_pending_and_keeps_the_state() -> None:
    events = [
        {"EventType": "StepStarted", "Id": "p", "SubType": "WaitForCondition",
         "EventTimestamp": at(0)},
        {"EventType": "StepSucceeded", "Id": "p", "SubType": "WaitForCondition",
         "EventTimestamp": at(1), "StepSucceededDetails": {
             "Result": payload('{"polls": 1}'),
             "RetryDetails": {"CurrentAttempt": 1, "NextAttemptDelaySeconds": 10}}},
    ]  # fmt: skip
    [poll] = operations_from_history(events)
    assert (poll.status, poll.result) == (OperationStatus.PENDING, '{"polls": 1}')


def test_a_malformed_event_is_a_protocol_error_naming_the_member() -> None:
    events = [{"EventType": "WaitStarted", "Id": "w", "EventTimestamp": "yesterday"}]
    with pytest.raises(ServiceProtocolError, match="StartTimestamp"):
        operations_from_history(events)


def test_result_from_history_builds_the_same_result_shape() -> None:
    execution = {"Status": "FAILED", "Error": {"ErrorMessage": "boom 2", "ErrorType": "E"}}
    result = result_from_history(ARN, execution, HISTORY)
    assert (result.status, result.execution_status) == (
        InvocationStatus.FAILED,
        ExecutionStatus.FAILED,
    )
    assert result.error == ErrorObject(message="boom 2", type="E")
    assert result.invocations == 1
    assert (result.checkpoint_calls, result.requests) == (0, ())
    assert result.history == tuple(HISTORY)
    assert [op.name for op in result.operations] == [
        "charge",
        "pause",
        "approval",
        "child",
        "price",
    ]
    assert result.get_context("child").get_step("seven").result == 7
    assert result.get_invoke("price").result == {"price": 3}
    assert result.get_callback("approval").callback_id == "cb-1"
    assert [op.name for op in result.failed_operations()] == ["charge", "approval"]
    assert "execution FAILED after 1 invocation(s)" in result.summary()


def test_result_from_history_falls_back_on_the_end_event() -> None:
    events = [
        {"EventType": "ExecutionStarted", "Id": "e", "EventTimestamp": at(0)},
        {"EventType": "ExecutionSucceeded", "Id": "e", "EventTimestamp": at(1),
         "ExecutionSucceededDetails": {"Result": payload('{"ok": true}')}},
    ]  # fmt: skip
    result = result_from_history(ARN, {"Status": "SUCCEEDED"}, events)
    assert (result.status, result.result, result.raw_result) == (
        InvocationStatus.SUCCEEDED,
        {"ok": True},
        '{"ok": true}',
    )
    text = result_from_history(ARN, {"Status": "SUCCEEDED", "Result": "plain"}, events)
    assert text.result == "plain"
    late = {"Error": error("late", "Timeout")}
    failed = [
        events[0],
        {"EventType": "ExecutionTimedOut", "Id": "e", "EventTimestamp": at(2),
         "ExecutionTimedOutDetails": late},
    ]  # fmt: skip
    timed_out = result_from_history(ARN, {"Status": "TIMED_OUT"}, failed)
    assert timed_out.status is InvocationStatus.FAILED
    assert timed_out.error == ErrorObject(message="late", type="Timeout")


@pytest.mark.parametrize("status", ["RUNNING", "PAUSED", "PAUSING"])
def test_an_execution_not_over_is_pending(status: str) -> None:
    result = result_from_history(ARN, {"Status": status}, HISTORY[:2])
    assert (result.status, result.execution_status) == (
        InvocationStatus.PENDING,
        ExecutionStatus.RUNNING,
    )
    assert result.get_step("charge").status is OperationStatus.STARTED


# -- API calls, checked against the service model -----------------------------------------


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    client = boto3.session.Session().client(
        "lambda",
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    yield client
    client.close()


@pytest.fixture
def stub(client: Any) -> Iterator[Stubber]:
    with Stubber(client) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


def test_run_invokes_asynchronously_then_reads_status_and_every_history_page(
    client: Any, stub: Stubber
) -> None:
    stub.add_response(
        "invoke",
        {"StatusCode": 202, "DurableExecutionArn": ARN},
        {
            "FunctionName": "orders:$LATEST",
            "InvocationType": "Event",
            "DurableExecutionName": "order-1",
            "Payload": b'{"order_id": "o-1"}',
        },
    )
    stub.add_response(
        "get_durable_execution",
        {
            "DurableExecutionArn": ARN,
            "DurableExecutionName": "order-1",
            "FunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:orders",
            "Status": "SUCCEEDED",
            "Result": '{"ok": 1}',
            "StartTimestamp": at(0),
        },
        {"DurableExecutionArn": ARN, "IncludeExecutionData": True},
    )
    first = {"DurableExecutionArn": ARN, "IncludeExecutionData": True, "MaxItems": 1000}
    stub.add_response(
        "get_durable_execution_history", {"Events": HISTORY[:4], "NextMarker": "m"}, first
    )
    stub.add_response(
        "get_durable_execution_history",
        {"Events": HISTORY[4:]},
        {**first, "Marker": "m"},
    )
    runner = DurableFunctionCloudTestRunner("orders:$LATEST", client=client)
    result = runner.run({"order_id": "o-1"}, timeout=5, execution_name="order-1")
    assert result.result == {"ok": 1}
    assert result.arn == ARN
    assert len(result.history) == len(HISTORY)
    assert result.get_step("charge").attempts == 2


def test_the_default_execution_name_is_unique_and_valid(client: Any, stub: Stubber) -> None:
    for _ in range(2):
        stub.add_response(
            "invoke",
            {"StatusCode": 202, "DurableExecutionArn": ARN},
            {"FunctionName": "orders", "InvocationType": "Event",
             "DurableExecutionName": ANY, "Payload": b"null"},
        )  # fmt: skip
    captured: list[str] = []

    def capture(params: dict[str, Any], **_: Any) -> None:
        captured.append(params["DurableExecutionName"])

    client.meta.events.register("provide-client-params.lambda.Invoke", capture)
    try:
        runner = DurableFunctionCloudTestRunner("orders", client=client)
        names = [runner.run_async() for _ in range(2)]
    finally:
        client.meta.events.unregister("provide-client-params.lambda.Invoke", capture)
    assert names == [ARN, ARN]
    assert len(set(captured)) == 2
    assert all(re.fullmatch(r"[a-zA-Z0-9_-]{1,64}", name) for name in captured)


def test_an_invoke_without_a_durable_execution_is_a_clear_error(client: Any, stub: Stubber) -> None:
    stub.add_response("invoke", {"StatusCode": 202})
    runner = DurableFunctionCloudTestRunner("orders", client=client)
    with pytest.raises(CloudRunnerError, match=r"started no durable execution.*orders:\$LATEST"):
        runner.run_async({})


def test_api_errors_are_service_api_errors_naming_the_call(client: Any, stub: Stubber) -> None:
    stub.add_client_error(
        "send_durable_execution_callback_success",
        service_error_code="ResourceNotFoundException",
        service_message="no such callback",
        http_status_code=404,
    )
    runner = DurableFunctionCloudTestRunner("orders", client=client)
    with pytest.raises(ServiceApiError, match=r"callback 'cb-9'.*no such callback") as caught:
        runner.send_callback_success("cb-9", "x")
    assert (caught.value.error_code, caught.value.status_code) == ("ResourceNotFoundException", 404)


@pytest.mark.parametrize(
    ("result", "body"),
    [(b"\x00raw", b"\x00raw"), ("ok", b"ok"), ({"a": 1}, b'{"a": 1}'), (None, b"null")],
)
def test_callback_results_are_sent_as_the_local_runner_sends_them(
    client: Any, stub: Stubber, result: Any, body: bytes
) -> None:
    stub.add_response(
        "send_durable_execution_callback_success", {}, {"CallbackId": "cb-1", "Result": body}
    )
    DurableFunctionCloudTestRunner("orders", client=client).send_callback_success("cb-1", result)


def test_callback_failures_and_heartbeats(client: Any, stub: Stubber) -> None:
    stub.add_response(
        "send_durable_execution_callback_failure",
        {},
        {"CallbackId": "cb-1", "Error": {"ErrorMessage": "refused", "ErrorType": "ValueError"}},
    )
    stub.add_response("send_durable_execution_callback_failure", {}, {"CallbackId": "cb-2"})
    stub.add_response("send_durable_execution_callback_heartbeat", {}, {"CallbackId": "cb-3"})
    runner = DurableFunctionCloudTestRunner("orders", client=client)
    runner.send_callback_failure("cb-1", ValueError("refused"))
    runner.send_callback_failure("cb-2")
    runner.send_callback_heartbeat("cb-3")


def test_bad_arguments_fail_before_any_call(client: Any, stub: Stubber) -> None:
    runner = DurableFunctionCloudTestRunner("orders", client=client)
    with pytest.raises(ValueError, match="not a valid DurableExecutionName"):
        runner.run_async({}, execution_name="has space")
    with pytest.raises(ValidationError, match="JSON-serializable"):
        runner.run_async({"when": datetime.now(UTC)})
    with pytest.raises(ValueError, match="timeout"):
        runner.run({}, timeout=0)
    with pytest.raises(ValueError, match="function_name"):
        DurableFunctionCloudTestRunner("", client=client)
    with pytest.raises(ValueError, match="poll_interval must be a positive"):
        DurableFunctionCloudTestRunner("orders", client=client, poll_interval=0)


def test_a_closed_runner_says_so(client: Any) -> None:
    with DurableFunctionCloudTestRunner("orders", client=client) as runner:
        assert isinstance(runner, DurableTestRunner) and runner.mode == "cloud"
    with pytest.raises(CloudRunnerError, match="closed"):
        runner.run_async({})


def test_no_region_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    with pytest.raises(CloudRunnerError, match="set AWS_REGION"):
        DurableFunctionCloudTestRunner("orders")


def test_the_region_and_endpoint_come_from_arguments_or_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_REGION", "eu-west-3")
    monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", "http://127.0.0.1:9")
    with DurableFunctionCloudTestRunner("orders") as runner:
        assert runner.client.meta.region_name == "eu-west-3"
        assert runner.client.meta.endpoint_url == "http://127.0.0.1:9"
    explicit = DurableFunctionCloudTestRunner(
        "orders", region="ap-south-1", endpoint_url="http://127.0.0.1:8"
    )
    assert explicit.client.meta.region_name == "ap-south-1"
    assert explicit.client.meta.endpoint_url == "http://127.0.0.1:8"
    explicit.close()


# -- polling, against a fake client ----------------------------------------------------------


def not_found(operation: str) -> ClientError:
    return ClientError(
        {
            "Error": {"Code": "ResourceNotFoundException", "Message": "unknown execution"},
            "ResponseMetadata": {"HTTPStatusCode": 404},
        },
        operation,
    )


class FakeLambda:
    """Answers GetDurableExecution with ``statuses`` in turn (the last one
    forever) and the history with ``events`` (growing with the status index)."""

    def __init__(self, statuses: list[str | None], events: list[list[dict[str, Any]]]) -> None:
        self.statuses = statuses
        self.events = events
        self.polls = 0

    def get_durable_execution(self, **kwargs: Any) -> dict[str, Any]:
        index = min(self.polls, len(self.statuses) - 1)
        self.polls += 1
        status = self.statuses[index]
        if status is None:
            raise not_found("GetDurableExecution")
        return {"DurableExecutionArn": kwargs["DurableExecutionArn"], "Status": status}

    def get_durable_execution_history(self, **kwargs: Any) -> dict[str, Any]:
        index = min(max(self.polls - 1, 0), len(self.events) - 1)
        return {"Events": self.events[index]}

    def close(self) -> None:
        raise AssertionError("a client the runner was given is not the runner's to close")


def test_polling_waits_for_the_execution_to_show_and_to_end() -> None:
    done = [*HISTORY[:2], {"EventType": "ExecutionSucceeded", "Id": "exec",
                           "EventTimestamp": at(3),
                           "ExecutionSucceededDetails": {"Result": payload("1")}}]  # fmt: skip
    fake = FakeLambda([None, "RUNNING", "RUNNING", "SUCCEEDED"], [HISTORY[:2], done])
    with DurableFunctionCloudTestRunner("orders", client=fake, poll_interval=0.01) as runner:
        result = runner.wait_for_result(ARN, timeout=5)
    assert fake.polls == 4
    assert (result.status, result.result) == (InvocationStatus.SUCCEEDED, 1)


def test_polling_gives_up_with_the_arn_and_the_last_status() -> None:
    fake = FakeLambda(["RUNNING"], [HISTORY[:2]])
    runner = DurableFunctionCloudTestRunner("orders", client=fake, poll_interval=0.05)
    message = re.escape(
        f"execution {ARN} of orders did not end within 0.2 s (last status: RUNNING)"
    )
    with pytest.raises(TimeoutError, match=message):
        runner.wait_for_result(ARN, timeout=0.2)
    never = DurableFunctionCloudTestRunner("orders", client=FakeLambda([None], [[]]))
    with pytest.raises(TimeoutError, match="last status: not visible yet"):
        never.wait_for_result(ARN, timeout=0.1)


def test_wait_for_callback_returns_the_first_open_one_by_name() -> None:
    open_ = [
        *HISTORY[:1],
        {"EventType": "CallbackStarted", "Id": "a", "Name": "first", "EventTimestamp": at(1),
         "CallbackStartedDetails": {"CallbackId": "cb-a"}},
        {"EventType": "CallbackSucceeded", "Id": "a", "EventTimestamp": at(2),
         "CallbackSucceededDetails": {"Result": payload("1")}},
        {"EventType": "CallbackStarted", "Id": "b", "Name": "second", "EventTimestamp": at(3),
         "CallbackStartedDetails": {"CallbackId": "cb-b"}},
    ]  # fmt: skip
    fake = FakeLambda(["RUNNING"], [HISTORY[:1], open_[:3], open_])
    runner = DurableFunctionCloudTestRunner("orders", client=fake, poll_interval=0.01)
    assert runner.wait_for_callback(ARN, timeout=5) == "cb-b"
    assert runner.wait_for_callback(ARN, "second", timeout=5) == "cb-b"
    with pytest.raises(TimeoutError, match=r"no callback named 'third'.*first \(SUCCEEDED\)"):
        runner.wait_for_callback(ARN, "third", timeout=0.1)


def test_wait_for_callback_fails_when_the_execution_ends_without_one() -> None:
    ended = [*HISTORY[:2], HISTORY[-1]]
    runner = DurableFunctionCloudTestRunner("orders", client=FakeLambda(["FAILED"], [ended]))
    with pytest.raises(RunnerError, match=r"ended \(ExecutionFailed\) without an open callback"):
        runner.wait_for_callback(ARN, timeout=5)


def test_describe_reads_the_execution_as_it_stands() -> None:
    runner = DurableFunctionCloudTestRunner("orders", client=FakeLambda(["RUNNING"], [HISTORY[:3]]))
    snapshot = runner.describe(ARN)
    assert snapshot.status is InvocationStatus.PENDING
    assert snapshot.get_step("charge").status is OperationStatus.PENDING
    assert json.loads(json.dumps(snapshot.result)) is None
