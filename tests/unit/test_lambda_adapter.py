"""The Lambda adapter: event decoding, the boto3 service and error classification."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, EndpointConnectionError
from botocore.stub import Stubber

import durable
from durable.errors import CheckpointError, ServiceProtocolError
from durable.lambda_ import BotoService, classify, handle
from durable.model import OperationType
from durable.testing import LocalRunner
from tests.programs import essence

ARN = (
    "arn:aws:lambda:us-east-1:123456789012:function:orders:$LATEST"
    "/durable-execution/order-42/5f0c2b1e-8d7a-4c1f-9a55-0f3e7d1b2c3a"
)
EXEC_ID = "5f0c2b1e-8d7a-4c1f-9a55-0f3e7d1b2c3a"
STEP_1 = "1ced8f5be2db23a6513eba4d819c73806424748a7bc6fa0d792cc1c7d1775a97"


def event(*extra_ops: dict[str, Any], payload: str = '{"name": "Bob"}') -> dict[str, Any]:
    return {
        "DurableExecutionArn": ARN,
        "CheckpointToken": "AAABBBcccDDD==",
        "InitialExecutionState": {
            "Operations": [
                {
                    "Id": EXEC_ID,
                    "Type": "EXECUTION",
                    "Status": "STARTED",
                    "StartTimestamp": 1733000000000,
                    "ExecutionDetails": {"InputPayload": payload},
                },
                *extra_ops,
            ],
            "NextMarker": "",
        },
    }


def client() -> Any:
    return boto3.client(
        "lambda",
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"mode": "standard", "max_attempts": 1}),
    )


@durable.step
def greet(step_ctx: durable.StepContext, name: str) -> dict[str, str]:
    return {"msg": f"Hello {name}"}


@durable.workflow
def hello(event: Any, ctx: durable.Context) -> Any:
    return (yield greet(event["name"]))


def test_a_first_invocation_checkpoints_and_succeeds() -> None:
    """The handler sends [START, SUCCEED] through boto3 and returns the JSON result."""
    lam = client()
    stub = Stubber(lam)
    stub.add_response(
        "checkpoint_durable_execution",
        {
            "CheckpointToken": "next-token",
            "NewExecutionState": {
                "Operations": [
                    {
                        "Id": STEP_1,
                        "Type": "STEP",
                        "Name": "greet",
                        "SubType": "Step",
                        "Status": "SUCCEEDED",
                        "StartTimestamp": datetime(2025, 1, 1, tzinfo=UTC),
                        "StepDetails": {"Attempt": 1, "Result": "x"},
                    }
                ]
            },
        },
        {
            "DurableExecutionArn": ARN,
            "CheckpointToken": "AAABBBcccDDD==",
            "Updates": [
                {
                    "Id": STEP_1,
                    "Type": "STEP",
                    "Action": "START",
                    "Name": "greet",
                    "SubType": "Step",
                },
                {
                    "Id": STEP_1,
                    "Type": "STEP",
                    "Action": "SUCCEED",
                    "Name": "greet",
                    "SubType": "Step",
                    "Payload": '{"t":"m","v":{"msg":{"t":"s","v":"Hello Bob"}}}',
                },
            ],
        },
    )
    with stub:
        output = handle(hello, event(), None, boto3_client=lam)
    stub.assert_no_pending_responses()
    assert output == {"Status": "SUCCEEDED", "Result": '{"msg": "Hello Bob"}'}


def test_a_pure_replay_needs_no_client_at_all() -> None:
    """With the step already SUCCEEDED nothing is sent, so no boto3 client is created."""
    done = {
        "Id": STEP_1,
        "Type": "STEP",
        "Name": "greet",
        "SubType": "Step",
        "Status": "SUCCEEDED",
        "StartTimestamp": 1733000000000,
        "StepDetails": {"Attempt": 1, "Result": '{"t":"m","v":{"msg":{"t":"s","v":"hi"}}}'},
    }
    service = BotoService()
    output = handle(hello, event(done), None, service=service)
    assert output == {"Status": "SUCCEEDED", "Result": '{"msg": "hi"}'}
    assert service._client is None


def test_the_decorated_workflow_is_the_lambda_handler() -> None:
    """Calling the @durable.workflow object with (event, context) runs an invocation."""

    @durable.workflow
    def echo(event: Any, ctx: durable.Context) -> Any:
        return {"got": event, "has_context": ctx.lambda_context is not None}

    assert echo(event(), object()) == {
        "Status": "SUCCEEDED",
        "Result": '{"got": {"name": "Bob"}, "has_context": true}',
    }


@pytest.mark.parametrize(
    ("bad", "names"),
    [
        ("not a dict", ["expected an object", "durable execution is enabled"]),
        ({"CheckpointToken": "t"}, ["DurableExecutionArn"]),
        ({"DurableExecutionArn": ARN, "CheckpointToken": 7}, ["CheckpointToken"]),
        (
            {
                "DurableExecutionArn": ARN,
                "CheckpointToken": "t",
                "InitialExecutionState": {
                    "Operations": [{"Id": "x", "Type": "STEP", "Status": "DONE"}]
                },
            },
            ["InitialExecutionState.Operations[0].Status", "DONE"],
        ),
    ],
)
def test_a_malformed_event_raises_one_error_naming_the_field(bad: Any, names: list[str]) -> None:
    """Not a durable invocation, missing or mistyped fields: one clear ServiceProtocolError."""
    with pytest.raises(ServiceProtocolError) as info:
        handle(hello, bad, None, service=BotoService())
    for name in names:
        assert name in str(info.value)


def _client_error(status: int, code: str, message: str = "m") -> ClientError:
    return ClientError(
        {
            "Error": {"Code": code, "Message": message},
            "ResponseMetadata": {"HTTPStatusCode": status},
        },
        "CheckpointDurableExecution",
    )


@pytest.mark.parametrize(
    ("error", "retryable"),
    [
        (_client_error(400, "InvalidParameterValueException", "bad update"), False),
        (_client_error(400, "InvalidParameterValueException", "Invalid checkpoint token: x"), True),
        (_client_error(429, "TooManyRequestsException"), True),
        (_client_error(500, "ServiceException"), True),
        (_client_error(502, "KMSDisabledException"), False),
        (_client_error(404, "ResourceNotFoundException"), False),
        (EndpointConnectionError(endpoint_url="http://x"), True),
    ],
)
def test_service_errors_are_classified_as_the_protocol_says(
    error: Exception, retryable: bool
) -> None:
    """4xx is permanent except throttling and an invalid token; 5xx and transport are transient."""
    assert classify(error)[0] is retryable


def test_a_rejected_checkpoint_fails_the_execution_with_checkpoint_error() -> None:
    """A 400 from CheckpointDurableExecution becomes FAILED, never SUCCEEDED."""
    lam = client()
    stub = Stubber(lam)
    stub.add_client_error(
        "checkpoint_durable_execution",
        service_error_code="InvalidParameterValueException",
        service_message="Name is too long",
        http_status_code=400,
    )
    with stub:
        output = handle(hello, event(), None, boto3_client=lam)
    assert output["Status"] == "FAILED"
    assert output["Error"]["ErrorType"] == CheckpointError.wire_type
    assert "Name is too long" in output["Error"]["ErrorMessage"]


def test_a_throttled_checkpoint_raises_so_lambda_retries() -> None:
    """After botocore's own retries a 429 escapes the handler as a retryable error."""
    lam = client()
    stub = Stubber(lam)
    stub.add_client_error(
        "checkpoint_durable_execution",
        service_error_code="TooManyRequestsException",
        http_status_code=429,
    )
    with stub, pytest.raises(CheckpointError) as info:
        handle(hello, event(), None, boto3_client=lam)
    assert info.value.retryable and info.value.status_code == 429


def test_state_pages_are_fetched_before_the_workflow_runs() -> None:
    """A NextMarker in the event makes the handler page in the rest of the state."""
    done = {
        "Id": STEP_1,
        "Type": "STEP",
        "Name": "greet",
        "SubType": "Step",
        "Status": "SUCCEEDED",
        "StartTimestamp": datetime(2025, 1, 1, tzinfo=UTC),
        "StepDetails": {"Attempt": 1, "Result": '"paged"'},
    }
    lam = client()
    stub = Stubber(lam)
    stub.add_response(
        "get_durable_execution_state",
        {"Operations": [done]},
        {
            "DurableExecutionArn": ARN,
            "CheckpointToken": "AAABBBcccDDD==",
            "Marker": "page-2",
            "MaxItems": 1000,
        },
    )
    first_page = event()
    first_page["InitialExecutionState"]["NextMarker"] = "page-2"
    with stub:
        output = handle(hello, first_page, None, boto3_client=lam)
    assert output == {"Status": "SUCCEEDED", "Result": '"paged"'}


def test_boto3_is_only_imported_by_the_adapter() -> None:
    """durable.lambda_ is where boto3 enters; import durable alone leaves it out."""
    assert "durable.lambda_._client" in sys.modules
    import subprocess

    out = subprocess.run(
        [sys.executable, "-c", "import sys, durable; print('boto3' in sys.modules)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert out == "False"


def test_running_through_the_handler_writes_the_same_log_as_the_runtime() -> None:
    """The JSON path (event -> wire -> handler -> wire) changes nothing in the log."""

    @durable.workflow
    def wf(event: Any, ctx: durable.Context) -> Any:
        a = yield greet("x")
        yield ctx.wait(30, name="w")
        return [a, (yield ctx.step(lambda _: (1, "t"), name="tuple"))]

    direct = LocalRunner(wf).run({"k": 1})
    via = LocalRunner(wf, through_handler=True).run({"k": 1})
    assert via.result == direct.result
    assert essence(via.log) == essence(direct.log)
    assert [r.updates for r in via.requests] == [r.updates for r in direct.requests]
    assert via.log[0].type is OperationType.EXECUTION
    assert json.loads(via.raw_result or "null") == direct.result
