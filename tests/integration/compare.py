"""Comparing what two SDKs left on the emulator for the same workflow."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import boto3
from botocore.config import Config
from botocore.stub import Stubber

import durable
from durable.lambda_ import handle
from durable.model import CheckpointOutput, StatePage
from tests.integration.emulator import (
    DUMMY_ACCOUNT_ID,
    EmulatorHarness,
    ExecutionResult,
    FakeLambdaContext,
)

_TIMES = {"StartTimestamp", "EndTimestamp", "NextAttemptTimestamp", "ScheduledEndTimestamp"}


def _untimed(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _untimed(v) for k, v in value.items() if k not in _TIMES}
    if isinstance(value, list):
        return [_untimed(v) for v in value]
    return value


def log_essence(operations: list[dict[str, Any]]) -> list[Any]:
    """A final log without timestamps and without the execution's own identity."""
    out = []
    for op in operations:
        if op["Type"] == "EXECUTION":
            out.append({"Type": "EXECUTION", "ExecutionDetails": op.get("ExecutionDetails")})
        else:
            out.append(_untimed(op))
    return out


def updates_by_operation(harness: EmulatorHarness, arn: str) -> dict[str, list[dict[str, Any]]]:
    """Every update each operation received, in order (request boundaries ignored)."""
    per_op: dict[str, list[dict[str, Any]]] = {}
    for updates in harness.checkpoint_updates(arn):
        for update in updates:
            if update["Type"] != "EXECUTION":
                per_op.setdefault(update["Id"], []).append(update)
    return per_op


def outcome(result: ExecutionResult) -> tuple[Any, Any, Any]:
    return result.status, result.result, result.error


def replay_event(result: ExecutionResult) -> dict[str, Any]:
    """An invocation event holding the execution's complete final log."""
    return {
        "DurableExecutionArn": result.arn,
        "CheckpointToken": "cmVwbGF5",
        "InitialExecutionState": {"Operations": result.final_operations()},
    }


class RefusingService:
    """A service that fails the test if a replay tries to talk to it."""

    def checkpoint(
        self, execution_arn: str, checkpoint_token: str, updates: Any
    ) -> CheckpointOutput:
        kinds = [(u.type.value, u.action.value, u.name) for u in updates]
        raise AssertionError(f"a pure replay sent a checkpoint: {kinds}")

    def get_execution_state(
        self, execution_arn: str, checkpoint_token: str, marker: str, max_items: int = 1000
    ) -> StatePage:
        raise AssertionError("a pure replay read state")


def replay_in_durable(workflow_fn: Callable[..., Any], result: ExecutionResult) -> dict[str, Any]:
    """The output of durable's workflow ``workflow_fn`` replaying ``result``'s final log.

    The service refuses every call: a pure replay runs on the log alone.
    """
    workflow = durable.workflow(workflow_fn)
    return handle(workflow, replay_event(result), None, service=RefusingService())


def replay_in_reference(
    handler_fn: Callable[[Any, Any], Any], result: ExecutionResult, function_name: str
) -> dict[str, Any]:
    """The output of the reference SDK's handler ``handler_fn`` replaying ``result``'s final log.

    Its boto3 client is stubbed with no responses, so any call to the service
    raises.
    """
    from aws_durable_execution_sdk_python import durable_execution

    client = boto3.client(
        "lambda",
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
        config=Config(retries={"total_max_attempts": 1}),
    )
    handler = durable_execution(handler_fn, boto3_client=client)
    with Stubber(client) as stub:
        context: Any = FakeLambdaContext(
            function_name=function_name,
            aws_request_id="replay",
            invoked_function_arn=(
                f"arn:aws:lambda:us-east-1:{DUMMY_ACCOUNT_ID}:function:{function_name}"
            ),
        )
        output: dict[str, Any] = handler(replay_event(result), context)
        stub.assert_no_pending_responses()
    return output
