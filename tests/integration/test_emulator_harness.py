"""The emulator harness itself: the Invoke endpoint, recording, lifecycle.

No SDK is involved: the durable handler here is written against the raw
boto3 client, which is all the harness assumes of a handler.
"""

from __future__ import annotations

import datetime as dt
import json
import socket
import threading
import time
from typing import Any

import boto3
import pytest
from botocore.config import Config

from tests.integration.conftest import EmulatorFactory
from tests.integration.emulator import (
    EmulatorHarness,
    FakeLambdaContext,
    LambdaEndpoint,
    split_function_name,
    to_jsonable,
)


@pytest.mark.parametrize(
    ("identifier", "expected"),
    [
        ("orders", ("orders", None)),
        ("orders:live", ("orders", "live")),
        ("orders:$LATEST", ("orders", "$LATEST")),
        ("123456789012:function:orders", ("orders", None)),
        ("arn:aws:lambda:us-east-1:123456789012:function:orders", ("orders", None)),
        ("arn:aws:lambda:us-east-1:123456789012:function:orders:7", ("orders", "7")),
        ("arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Aorders", ("orders", None)),
    ],
)
def test_split_function_name(identifier: str, expected: tuple[str, str | None]) -> None:
    assert split_function_name(identifier) == expected


def test_to_jsonable() -> None:
    moment = dt.datetime(2025, 1, 2, 3, 4, 5, 678000, tzinfo=dt.UTC)
    parsed = {
        "ResponseMetadata": {"HTTPStatusCode": 200},
        "Operations": [{"StartTimestamp": moment, "Blob": b"abc", "Nested": ({"N": 1},)}],
    }
    assert to_jsonable(parsed) == {
        "Operations": [{"StartTimestamp": 1735787045678, "Blob": "abc", "Nested": [{"N": 1}]}]
    }


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def test_lambda_endpoint_behaves_like_invoke() -> None:
    endpoint = LambdaEndpoint(delay=0.0)
    seen: list[FakeLambdaContext] = []

    def echo(event: Any, context: FakeLambdaContext) -> dict[str, Any]:
        seen.append(context)
        return {"event": event, "remaining": context.get_remaining_time_in_millis() > 0}

    def boom(event: Any, context: FakeLambdaContext) -> dict[str, Any]:
        msg = "kaput"
        raise ValueError(msg)

    endpoint.register("echo", echo)
    endpoint.register("slow", echo, delay=0.2)
    endpoint.register("boom", boom)
    endpoint.start()
    port = endpoint.port
    client = boto3.session.Session().client(
        "lambda",
        endpoint_url=endpoint.url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"total_max_attempts": 1}, read_timeout=5),
    )
    try:
        answer = client.invoke(FunctionName="echo", Payload=json.dumps({"a": 1}))
        assert answer["StatusCode"] == 200
        assert "FunctionError" not in answer
        assert json.loads(answer["Payload"].read()) == {"event": {"a": 1}, "remaining": True}
        assert seen[-1].function_name == "echo"
        assert (
            seen[-1].invoked_function_arn == "arn:aws:lambda:us-east-1:123456789012:function:echo"
        )
        assert answer["ResponseMetadata"]["RequestId"] == seen[-1].aws_request_id

        arn = "arn:aws:lambda:us-east-1:123456789012:function:echo:live"
        client.invoke(FunctionName=arn, Payload=b"{}")
        assert seen[-1].invoked_function_arn == arn
        assert seen[-1].function_version == "live"

        started = time.monotonic()
        client.invoke(FunctionName="slow", Payload=b"{}")
        assert time.monotonic() - started >= 0.2

        failed = client.invoke(FunctionName="boom", Payload=b"{}")
        assert failed["StatusCode"] == 200
        assert failed["FunctionError"] == "Unhandled"
        body = json.loads(failed["Payload"].read())
        assert body["errorType"] == "ValueError"
        assert body["errorMessage"] == "kaput"
        assert isinstance(body["stackTrace"], list) and body["stackTrace"]

        with pytest.raises(client.exceptions.ResourceNotFoundException):
            client.invoke(FunctionName="missing", Payload=b"{}")

        records = endpoint.recorder.other_invocations()
        assert [r.function_name for r in records] == ["echo", "echo", "slow", "boom"]
        assert records[-1].function_error is not None
        assert not any(r.handler_invoke for r in records)
    finally:
        client.close()
        endpoint.stop()
    assert _port_is_free(port)


@pytest.mark.interop
def test_harness_with_a_hand_written_handler(emulator_factory: EmulatorFactory) -> None:
    """Records traffic from any code given the client; a run that never ends
    times out; stop() releases the ports and joins the threads."""
    harness = emulator_factory(skip_time=False, invoke_delay=0.01)

    def handler(event: dict[str, Any], context: FakeLambdaContext) -> dict[str, Any]:
        harness.client.checkpoint_durable_execution(
            DurableExecutionArn=event["DurableExecutionArn"],
            CheckpointToken=event["CheckpointToken"],
            Updates=[
                {
                    "Id": "wait-1",
                    "Type": "WAIT",
                    "Action": "START",
                    "Name": "long",
                    "WaitOptions": {"WaitSeconds": 3600},
                }
            ],
        )
        return {"Status": "PENDING"}

    harness.register("raw", handler)
    arn = harness.start_execution("raw", {"k": "v"}, execution_name="raw-1")
    with pytest.raises(TimeoutError, match="still RUNNING"):
        harness.wait(arn, timeout=0.5)

    (invocation,) = harness.invocations(arn)
    assert invocation.handler_invoke
    assert invocation.output == {"Status": "PENDING"}
    (call,) = harness.checkpoint_calls(arn)
    assert call.invocation == 0
    assert call.request["Updates"][0]["Id"] == "wait-1"
    assert call.request["ClientToken"]  # botocore's idempotency token is recorded too
    final = harness.final_operations(arn)
    assert [(op["Type"], op["Status"]) for op in final] == [
        ("EXECUTION", "STARTED"),
        ("WAIT", "STARTED"),
    ]
    assert final[0]["Name"] == "raw-1"
    assert isinstance(final[1]["WaitDetails"]["ScheduledEndTimestamp"], int)
    assert harness.describe(arn)["Status"] == "RUNNING"
    with pytest.raises(LookupError):
        harness.final_operations("no-such-execution")

    ports = (int(harness.endpoint_url.rsplit(":", 1)[1]), harness.lambda_endpoint.port)
    harness.stop()
    assert all(_port_is_free(port) for port in ports)
    names = {thread.name for thread in threading.enumerate()}
    assert not any(name.startswith(("emulator-", "lambda-endpoint-")) for name in names)


def test_harness_requires_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID", raising=False)
    with pytest.raises(RuntimeError, match="credentials"):
        EmulatorHarness().start()


def test_a_stalled_skipped_time_execution_is_invoked_once_more(
    emulator_factory: EmulatorFactory,
) -> None:
    """With nothing running and no wake-up pending, ``wait`` asks the emulator
    for one more invocation (the lost wake-up of a skipped-time timer); the
    stall here is a callback nobody answers, so the execution stays RUNNING
    and the second invocation suspends again."""
    import durable
    from durable.lambda_ import handle

    @durable.workflow
    def waits_for_a_person(event: Any, ctx: durable.Context) -> Any:
        callback = yield ctx.create_callback(name="person")
        return (yield callback.result())

    harness = emulator_factory()
    harness.register(
        "person",
        lambda event, context: handle(
            waits_for_a_person, event, context, boto3_client=harness.client
        ),
    )
    arn = harness.start_execution("person", {})
    with pytest.raises(TimeoutError, match="RUNNING"):
        harness.wait(arn, timeout=harness.STALL_SECONDS + 2.5)
    nudges = harness.nudges[arn]
    assert 1 <= nudges <= harness.MAX_NUDGES
    assert [r.output_status for r in harness.invocations(arn)] == ["PENDING"] * (1 + nudges)
