"""Tests of durable.wire, the JSON edge (protocol.md §1-§3)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from durable import wire
from durable.errors import ServiceProtocolError
from durable.model import (
    CallbackDetails,
    CallbackOptions,
    ChainedInvokeDetails,
    ChainedInvokeOptions,
    CheckpointOutput,
    ContextDetails,
    ContextOptions,
    ErrorObject,
    ExecutionDetails,
    InvocationInput,
    InvocationOutput,
    InvocationStatus,
    Operation,
    OperationAction,
    OperationStatus,
    OperationType,
    OperationUpdate,
    StatePage,
    StepDetails,
    StepOptions,
    WaitDetails,
    WaitOptions,
    timestamp,
    to_datetime,
)

# ---------------------------------------------------------------------------
# Documents from protocol.md
# ---------------------------------------------------------------------------

EVENT_1_1 = r"""
{
  "DurableExecutionArn": "arn:aws:lambda:us-east-1:123456789012:function:orders:$LATEST/durable-execution/order-42/5f0c2b1e-8d7a-4c1f-9a55-0f3e7d1b2c3a",
  "CheckpointToken": "AAABBBcccDDD==",
  "InitialExecutionState": {
    "Operations": [
      {
        "Id": "5f0c2b1e-8d7a-4c1f-9a55-0f3e7d1b2c3a",
        "Type": "EXECUTION",
        "Name": "order-42",
        "Status": "STARTED",
        "StartTimestamp": 1733000000000,
        "ExecutionDetails": { "InputPayload": "{\"orderId\": 42}" }
      }
    ],
    "NextMarker": ""
  }
}
"""  # noqa: E501

STEP_ID = "1ced8f5be2db23a6513eba4d819c73806424748a7bc6fa0d792cc1c7d1775a97"

CHECKPOINT_REQUEST_3_2 = r"""
{"CheckpointToken": "AAABBBcccDDD==",
 "Updates": [
  {"Id": "1ced8f5be2db23a6513eba4d819c73806424748a7bc6fa0d792cc1c7d1775a97", "Type": "STEP",
   "Action": "START", "Name": "greet", "SubType": "Step"},
  {"Id": "1ced8f5be2db23a6513eba4d819c73806424748a7bc6fa0d792cc1c7d1775a97", "Type": "STEP",
   "Action": "SUCCEED", "Name": "greet", "SubType": "Step",
   "Payload": "{\"t\":\"m\",\"v\":{\"msg\":{\"t\":\"s\",\"v\":\"Hello Bob\"}}}"}],
 "ClientToken": "3328892f-9300-4f56-a05a-8c97443455a5"}
"""

CHECKPOINT_RESPONSE_3_2 = r"""
{"CheckpointToken": "AAABBBcccEEE==",
 "NewExecutionState": {"Operations": [
   {"Id": "1ced8f5be2db23a6513eba4d819c73806424748a7bc6fa0d792cc1c7d1775a97", "Type": "STEP",
    "Name": "greet", "SubType": "Step", "Status": "SUCCEEDED",
    "StartTimestamp": 1733000000.512, "EndTimestamp": 1733000000.731,
    "StepDetails": {"Attempt": 1,
                    "Result": "{\"t\":\"m\",\"v\":{\"msg\":{\"t\":\"s\",\"v\":\"Hello Bob\"}}}"}}]}}
"""

UPDATE_2_4 = """
{"Id": "1ced8f5be2db23a6513eba4d819c73806424748a7bc6fa0d792cc1c7d1775a97",
 "Type": "STEP", "Action": "RETRY", "Name": "charge-card", "SubType": "Step",
 "Error": {"ErrorMessage": "gateway timeout", "ErrorType": "TimeoutError"},
 "StepOptions": {"NextAttemptDelaySeconds": 4}}
"""

OUTPUTS_1_5 = [
    '{"Status": "SUCCEEDED", "Result": "[{\\"msg\\": \\"Hello Bob\\"}, 5]"}',
    '{"Status": "FAILED", "Error": {"ErrorMessage": "top level boom", "ErrorType": "ValueError"}}',
    '{"Status": "PENDING"}',
]

MS = 1733000000512  # 2024-11-30T20:53:20.512Z
WHEN = datetime(2024, 11, 30, 20, 53, 20, 512000, tzinfo=UTC)
#: The model holds timestamps as integer epoch milliseconds.
WHEN_MS = timestamp(WHEN)

GOOD_ARN = "arn:aws:lambda:us-east-1:123456789012:function:f:$LATEST/durable-execution/n/exec-1"


def _event(operations: list[Any]) -> dict[str, Any]:
    return {
        "DurableExecutionArn": GOOD_ARN,
        "CheckpointToken": "tok",
        "InitialExecutionState": {"Operations": operations},
    }


def _step(index: int, **extra: Any) -> dict[str, Any]:
    return {"Id": f"op-{index}", "Type": "STEP", "Status": "STARTED", **extra}


# ---------------------------------------------------------------------------
# Round trips of the documented examples
# ---------------------------------------------------------------------------


def test_event_example_round_trips() -> None:
    """The §1.1 example event decodes and encodes back to the same document."""
    doc = json.loads(EVENT_1_1)
    decoded = wire.invocation_input_from_dict(doc)
    (execution,) = decoded.initial_execution_state.operations
    assert execution.type is OperationType.EXECUTION
    assert execution.status is OperationStatus.STARTED
    assert execution.start_timestamp == timestamp(datetime(2024, 11, 30, 20, 53, 20, tzinfo=UTC))
    assert execution.execution_details == ExecutionDetails(input_payload='{"orderId": 42}')
    assert decoded.initial_execution_state.next_marker == ""
    assert decoded.updated_operation_ids == ()
    assert wire.invocation_input_to_dict(decoded) == doc


def test_checkpoint_request_updates_round_trip() -> None:
    """Each update of the §3.2 request decodes and encodes back unchanged, omissions kept."""
    doc = json.loads(CHECKPOINT_REQUEST_3_2)
    start, succeed = (wire.update_from_dict(item) for item in doc["Updates"])
    assert start == OperationUpdate(
        id=STEP_ID,
        type=OperationType.STEP,
        action=OperationAction.START,
        name="greet",
        sub_type="Step",
    )
    assert succeed.payload is not None
    assert json.loads(succeed.payload)["v"]["msg"]["v"] == "Hello Bob"
    assert [wire.update_to_dict(u) for u in (start, succeed)] == doc["Updates"]


def test_checkpoint_response_round_trips_with_millisecond_timestamps() -> None:
    """The §3.2 response (epoch seconds) decodes, and encodes back with the timestamps in ms."""
    doc = json.loads(CHECKPOINT_RESPONSE_3_2)
    decoded = wire.checkpoint_output_from_dict(doc)
    assert decoded.checkpoint_token == "AAABBBcccEEE=="
    (op,) = decoded.new_execution_state.operations
    assert op.start_timestamp == timestamp(datetime(2024, 11, 30, 20, 53, 20, 512000, tzinfo=UTC))
    assert op.end_timestamp == timestamp(datetime(2024, 11, 30, 20, 53, 20, 731000, tzinfo=UTC))
    assert op.step_details is not None
    assert op.step_details.attempt == 1
    expected = json.loads(CHECKPOINT_RESPONSE_3_2)
    raw_op = expected["NewExecutionState"]["Operations"][0]
    raw_op["StartTimestamp"] = 1733000000512
    raw_op["EndTimestamp"] = 1733000000731
    assert wire.checkpoint_output_to_dict(decoded) == expected


def test_update_example_round_trips() -> None:
    """The §2.4 RETRY update decodes to the expected record and encodes back unchanged."""
    doc = json.loads(UPDATE_2_4)
    update = wire.update_from_dict(doc)
    assert update.action is OperationAction.RETRY
    assert update.error == ErrorObject(message="gateway timeout", type="TimeoutError")
    assert update.step_options == StepOptions(next_attempt_delay_seconds=4)
    assert wire.update_to_dict(update) == doc


@pytest.mark.parametrize("text", OUTPUTS_1_5)
def test_output_envelopes_round_trip(text: str) -> None:
    """Each §1.5 output envelope decodes and encodes back to the same document."""
    doc = json.loads(text)
    assert wire.invocation_output_to_dict(wire.invocation_output_from_dict(doc)) == doc


def test_output_envelope_omits_absent_members() -> None:
    """A PENDING envelope has no Result or Error member, not even a null one."""
    out = wire.invocation_output_to_dict(InvocationOutput(status=InvocationStatus.PENDING))
    assert out == {"Status": "PENDING"}


def test_empty_payload_and_result_are_sent() -> None:
    """An empty-string Payload or Result is written, only None is omitted."""
    update = OperationUpdate(
        id="x", type=OperationType.STEP, action=OperationAction.SUCCEED, payload=""
    )
    assert wire.update_to_dict(update)["Payload"] == ""
    assert wire.update_from_dict(wire.update_to_dict(update)).payload == ""
    envelope = InvocationOutput(status=InvocationStatus.SUCCEEDED, result="")
    assert wire.invocation_output_to_dict(envelope) == {"Status": "SUCCEEDED", "Result": ""}


def test_option_members_with_falsy_values_are_sent() -> None:
    """ReplayChildren false and zero callback timeouts are written, not omitted."""
    context = OperationUpdate(
        id="c",
        type=OperationType.CONTEXT,
        action=OperationAction.SUCCEED,
        context_options=ContextOptions(replay_children=False),
    )
    callback = OperationUpdate(
        id="b",
        type=OperationType.CALLBACK,
        action=OperationAction.START,
        callback_options=CallbackOptions(),
    )
    assert wire.update_to_dict(context)["ContextOptions"] == {"ReplayChildren": False}
    assert wire.update_to_dict(callback)["CallbackOptions"] == {
        "TimeoutSeconds": 0,
        "HeartbeatTimeoutSeconds": 0,
    }


def test_every_member_name() -> None:
    """A fully populated update and operation use the protocol's PascalCase member names."""
    error = ErrorObject(message="m", type="t", data="d", stack_trace=("a", "b"))
    update = OperationUpdate(
        id="i",
        type=OperationType.CHAINED_INVOKE,
        action=OperationAction.START,
        parent_id="p",
        name="n",
        sub_type="s",
        payload="x",
        error=error,
        context_options=ContextOptions(replay_children=True),
        step_options=StepOptions(next_attempt_delay_seconds=3),
        wait_options=WaitOptions(wait_seconds=5),
        callback_options=CallbackOptions(timeout_seconds=7, heartbeat_timeout_seconds=8),
        chained_invoke_options=ChainedInvokeOptions(function_name="fn", tenant_id="t1"),
    )
    assert wire.update_to_dict(update) == {
        "Id": "i",
        "Type": "CHAINED_INVOKE",
        "Action": "START",
        "ParentId": "p",
        "Name": "n",
        "SubType": "s",
        "Payload": "x",
        "Error": {
            "ErrorMessage": "m",
            "ErrorType": "t",
            "ErrorData": "d",
            "StackTrace": ["a", "b"],
        },
        "ContextOptions": {"ReplayChildren": True},
        "StepOptions": {"NextAttemptDelaySeconds": 3},
        "WaitOptions": {"WaitSeconds": 5},
        "CallbackOptions": {"TimeoutSeconds": 7, "HeartbeatTimeoutSeconds": 8},
        "ChainedInvokeOptions": {"FunctionName": "fn", "TenantId": "t1"},
    }
    op = Operation(
        id="i",
        type=OperationType.STEP,
        status=OperationStatus.PENDING,
        start_timestamp=WHEN_MS,
        step_details=StepDetails(attempt=2, next_attempt_timestamp=WHEN_MS, error=error),
        wait_details=WaitDetails(scheduled_end_timestamp=WHEN_MS),
        callback_details=CallbackDetails(callback_id="cb=", result="r"),
        context_details=ContextDetails(replay_children=True, result="r"),
        chained_invoke_details=ChainedInvokeDetails(result="r"),
    )
    out = wire.operation_to_dict(op)
    assert out["StepDetails"]["NextAttemptTimestamp"] == MS
    assert out["WaitDetails"] == {"ScheduledEndTimestamp": MS}
    assert out["CallbackDetails"] == {"CallbackId": "cb=", "Result": "r"}
    assert out["ContextDetails"] == {"ReplayChildren": True, "Result": "r"}
    assert out["ChainedInvokeDetails"] == {"Result": "r"}


def _shape_member_names(shape: Any, seen: set[str] | None = None) -> set[str]:
    """Every member name reachable from a botocore structure shape."""
    seen = set() if seen is None else seen
    names: set[str] = set()
    if shape.name in seen:
        return names
    seen.add(shape.name)
    if shape.type_name == "structure":
        for member_name, member in shape.members.items():
            names.add(member_name)
            names |= _shape_member_names(member, seen)
    elif shape.type_name == "list":
        names |= _shape_member_names(shape.member, seen)
    return names


def _keys(doc: Any) -> set[str]:
    if isinstance(doc, dict):
        return set(doc) | {k for v in doc.values() for k in _keys(v)}
    if isinstance(doc, list):
        return {k for v in doc for k in _keys(v)}
    return set()


def test_member_names_exist_in_the_service_model() -> None:
    """Every key written for updates and operations is a member of botocore's lambda model."""
    botocore_session = pytest.importorskip("botocore.session")
    model = botocore_session.get_session().get_service_model("lambda")
    error = ErrorObject(message="m", type="t", data="d", stack_trace=("a",))
    update = OperationUpdate(
        id="i",
        type=OperationType.STEP,
        action=OperationAction.RETRY,
        parent_id="p",
        name="n",
        sub_type="s",
        payload="x",
        error=error,
        context_options=ContextOptions(),
        step_options=StepOptions(next_attempt_delay_seconds=3),
        wait_options=WaitOptions(wait_seconds=5),
        callback_options=CallbackOptions(),
        chained_invoke_options=ChainedInvokeOptions(function_name="fn", tenant_id="t1"),
    )
    assert _keys(wire.update_to_dict(update)) <= _shape_member_names(
        model.shape_for("OperationUpdate")
    )
    op = Operation(
        id="i",
        type=OperationType.STEP,
        status=OperationStatus.PENDING,
        parent_id="p",
        name="n",
        sub_type="s",
        start_timestamp=WHEN_MS,
        end_timestamp=WHEN_MS,
        execution_details=ExecutionDetails(input_payload="{}"),
        step_details=StepDetails(
            attempt=2, next_attempt_timestamp=WHEN_MS, result="r", error=error
        ),
        wait_details=WaitDetails(scheduled_end_timestamp=WHEN_MS),
        callback_details=CallbackDetails(callback_id="cb=", result="r", error=error),
        context_details=ContextDetails(replay_children=True, result="r", error=error),
        chained_invoke_details=ChainedInvokeDetails(result="r", error=error),
    )
    assert _keys(wire.operation_to_dict(op)) == _shape_member_names(model.shape_for("Operation"))


def test_botocore_parsed_checkpoint_response() -> None:
    """A response parsed by botocore (datetimes, ResponseMetadata) decodes like the raw JSON."""
    botocore_session = pytest.importorskip("botocore.session")
    parsers = pytest.importorskip("botocore.parsers")
    model = botocore_session.get_session().get_service_model("lambda")
    output_shape = model.operation_model("CheckpointDurableExecution").output_shape
    parsed = parsers.RestJSONParser().parse(
        {
            "status_code": 200,
            "headers": {"x-amzn-requestid": "req-1"},
            "body": CHECKPOINT_RESPONSE_3_2.encode(),
        },
        output_shape,
    )
    assert "ResponseMetadata" in parsed
    assert isinstance(parsed["NewExecutionState"]["Operations"][0]["StartTimestamp"], datetime)
    from_botocore = wire.checkpoint_output_from_dict(parsed)
    from_json = wire.checkpoint_output_from_dict(json.loads(CHECKPOINT_RESPONSE_3_2))
    assert from_botocore == from_json
    start = from_botocore.new_execution_state.operations[0].start_timestamp
    assert start == 1733000000512


def test_checkpoint_response_without_token() -> None:
    """A checkpoint response with no CheckpointToken decodes to token None (protocol.md §1.8)."""
    decoded = wire.checkpoint_output_from_dict(
        {"ResponseMetadata": {"HTTPStatusCode": 200}, "NewExecutionState": {"Operations": []}}
    )
    assert decoded == CheckpointOutput(checkpoint_token=None)
    assert wire.checkpoint_output_to_dict(decoded) == {"NewExecutionState": {"Operations": []}}


def test_state_page_response() -> None:
    """A GetDurableExecutionState response decodes to a StatePage with its marker."""
    page = wire.state_page_from_dict(
        {"Operations": [_step(1, StartTimestamp=MS)], "NextMarker": "m2", "ResponseMetadata": {}}
    )
    assert page.next_marker == "m2"
    assert page.operations[0].id == "op-1"
    assert wire.state_page_from_dict({"Operations": []}) == StatePage()


# ---------------------------------------------------------------------------
# Lenient input: null, absent, unknown members
# ---------------------------------------------------------------------------


def test_minimal_event_defaults() -> None:
    """An event with only the ARN and the token has an empty state and no updated ids."""
    decoded = wire.invocation_input_from_dict(
        {"DurableExecutionArn": GOOD_ARN, "CheckpointToken": "tok"}
    )
    assert decoded == InvocationInput(durable_execution_arn=GOOD_ARN, checkpoint_token="tok")
    assert decoded.initial_execution_state.operations == ()


def test_null_members_mean_absent() -> None:
    """A null optional member decodes exactly like an absent one, defaults included."""
    with_nulls = {
        "DurableExecutionArn": GOOD_ARN,
        "CheckpointToken": "tok",
        "InitialExecutionState": {
            "Operations": [
                _step(
                    1,
                    ParentId=None,
                    Name=None,
                    StartTimestamp=None,
                    StepDetails={"Attempt": None, "Error": None},
                )
            ],
            "NextMarker": None,
        },
        "UpdatedOperationIds": None,
    }
    without = _event([_step(1, StepDetails={})])
    assert wire.invocation_input_from_dict(with_nulls) == wire.invocation_input_from_dict(without)
    assert (
        wire.invocation_input_from_dict(
            {"DurableExecutionArn": GOOD_ARN, "CheckpointToken": "t", "InitialExecutionState": None}
        ).initial_execution_state
        == StatePage()
    )
    callback_options = wire.update_from_dict(
        {
            "Id": "i",
            "Type": "CALLBACK",
            "Action": "START",
            "CallbackOptions": {"TimeoutSeconds": None},
            "ContextOptions": {"ReplayChildren": None},
        }
    )
    assert callback_options.callback_options == CallbackOptions()
    assert callback_options.context_options == ContextOptions(replay_children=False)


def test_unknown_members_are_ignored() -> None:
    """Members the model does not know, at any depth, are ignored (forward compatibility)."""
    event = _event(
        [_step(1, StartTimestamp=MS, Future=1, StepDetails={"Attempt": 0, "NewThing": [1]})]
    )
    event["SomethingNew"] = {"x": 1}
    decoded = wire.invocation_input_from_dict(event)
    assert decoded.initial_execution_state.operations[0] == Operation(
        id="op-1",
        type=OperationType.STEP,
        status=OperationStatus.STARTED,
        start_timestamp=WHEN_MS,
        step_details=StepDetails(attempt=0),
    )


def test_updated_operation_ids_round_trip() -> None:
    """UpdatedOperationIds decodes to a tuple and is written back only when non-empty."""
    event = {**_event([]), "UpdatedOperationIds": ["a", "b"]}
    decoded = wire.invocation_input_from_dict(event)
    assert decoded.updated_operation_ids == ("a", "b")
    assert wire.invocation_input_to_dict(decoded) == event


# ---------------------------------------------------------------------------
# Timestamps
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(MS, id="int-milliseconds"),
        pytest.param(float(MS), id="float-milliseconds"),
        pytest.param(MS / 1000, id="float-seconds"),
        pytest.param("2024-11-30T20:53:20.512Z", id="iso-z"),
        pytest.param("2024-11-30T22:53:20.512+02:00", id="iso-offset"),
        pytest.param("2024-11-30T20:53:20.512", id="iso-naive-is-utc"),
        pytest.param(WHEN, id="datetime-utc"),
        pytest.param(WHEN.astimezone(timezone(timedelta(hours=-5))), id="datetime-offset"),
        pytest.param(WHEN.replace(tzinfo=None), id="datetime-naive-is-utc"),
    ],
)
def test_timestamp_forms(raw: object) -> None:
    """Every accepted timestamp form decodes to the same epoch milliseconds, in every member."""
    op = wire.operation_from_dict(
        _step(
            1,
            StartTimestamp=raw,
            EndTimestamp=raw,
            StepDetails={"NextAttemptTimestamp": raw},
            WaitDetails={"ScheduledEndTimestamp": raw},
        )
    )
    assert op.step_details is not None
    assert op.wait_details is not None
    for value in (
        op.start_timestamp,
        op.end_timestamp,
        op.step_details.next_attempt_timestamp,
        op.wait_details.scheduled_end_timestamp,
    ):
        assert value == MS
        assert type(value) is int


def test_timestamp_from_dateutil_tz() -> None:
    """A datetime in botocore's dateutil tzutc decodes like any aware datetime."""
    tz = pytest.importorskip("dateutil.tz")
    op = wire.operation_from_dict(_step(1, StartTimestamp=WHEN.replace(tzinfo=tz.tzutc())))
    assert op.start_timestamp == MS
    assert op.start_timestamp is not None
    assert to_datetime(op.start_timestamp) == WHEN


def test_timestamp_seconds_versus_milliseconds_boundary() -> None:
    """Numbers at or above 1e11 are milliseconds; smaller numbers, integer or not, are seconds."""
    threshold = wire.MILLISECONDS_THRESHOLD
    assert threshold == 100_000_000_000

    def start_of(raw: object) -> int | None:
        return wire.operation_from_dict(_step(1, StartTimestamp=raw)).start_timestamp

    assert start_of(threshold) == threshold
    assert start_of(threshold - 1) == (threshold - 1) * 1000
    assert start_of(1733000000) == 1733000000000
    assert start_of(1733000000.5119) == 1733000000511  # sub-millisecond parts are dropped
    far = 10**13 + 1  # year 2286
    assert start_of(far) == far


def test_timestamps_are_written_as_integer_milliseconds() -> None:
    """Timestamps are written as int epoch milliseconds, sub-millisecond parts truncated."""
    op = Operation(
        id="x",
        type=OperationType.WAIT,
        status=OperationStatus.STARTED,
        start_timestamp=timestamp(WHEN + timedelta(microseconds=999)),
        wait_details=WaitDetails(scheduled_end_timestamp=WHEN_MS),
    )
    out = wire.operation_to_dict(op)
    assert out["StartTimestamp"] == MS
    assert type(out["StartTimestamp"]) is int
    assert out["WaitDetails"]["ScheduledEndTimestamp"] == MS


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ("yesterday", "not an ISO-8601 timestamp"),
        (True, "expected a timestamp"),
        ([MS], "expected a timestamp"),
        (float("nan"), "out of range"),
        (10**30, "out of range"),
    ],
)
def test_bad_timestamps(raw: object, fragment: str) -> None:
    """An undecodable timestamp raises ServiceProtocolError naming the member."""
    with pytest.raises(ServiceProtocolError) as info:
        wire.operation_from_dict(_step(1, StartTimestamp=raw))
    assert "StartTimestamp: " in str(info.value)
    assert fragment in str(info.value)


# ---------------------------------------------------------------------------
# Malformed events
# ---------------------------------------------------------------------------


def _protocol_error(event: object) -> str:
    with pytest.raises(ServiceProtocolError) as info:
        wire.invocation_input_from_dict(event)
    return str(info.value)


@pytest.mark.parametrize("event", [None, [], "event", 42])
def test_event_not_an_object(event: object) -> None:
    """An event that is not a JSON object is rejected with the durability hint."""
    message = _protocol_error(event)
    assert "expected an object" in message
    assert "durable execution is enabled" in message


def test_event_missing_arn() -> None:
    """An event without DurableExecutionArn names the member and suggests durability is off."""
    message = _protocol_error({"CheckpointToken": "tok"})
    assert "DurableExecutionArn: required member missing" in message
    assert "CheckpointToken" not in message.split(" (")[0]
    assert "durable execution is enabled" in message


def test_event_null_token() -> None:
    """An event whose CheckpointToken is null is rejected like a missing token."""
    message = _protocol_error({"DurableExecutionArn": GOOD_ARN, "CheckpointToken": None})
    assert "CheckpointToken: " in message
    assert "durable execution is enabled" in message


def test_event_wrong_typed_token() -> None:
    """A non-string CheckpointToken is rejected with its path and the offending type."""
    message = _protocol_error({"DurableExecutionArn": GOOD_ARN, "CheckpointToken": 12345})
    assert "CheckpointToken: expected a string, got number 12345" in message
    assert "durable execution is enabled" not in message


def test_event_bad_enum_deep_inside() -> None:
    """An unknown status deep in the state is reported with its full wire path."""
    operations = [_step(i) for i in range(3)] + [_step(3, Status="DONE")]
    message = _protocol_error(_event(operations))
    assert (
        "InitialExecutionState.Operations[3].Status: 'DONE' is not a valid OperationStatus"
        in message
    )


def test_event_operations_not_a_list() -> None:
    """Operations given as an object (or a string) is rejected, not iterated."""
    assert "InitialExecutionState.Operations: expected an array, got object" in _protocol_error(
        _event({"0": _step(0)})  # type: ignore[arg-type]
    )
    assert "InitialExecutionState.Operations: expected an array" in _protocol_error(
        _event("abc")  # type: ignore[arg-type]
    )


def test_event_lists_every_bad_member_in_one_message() -> None:
    """Several problems are reported together, each with its own path."""
    operations = [
        _step(0),
        {"Id": 7, "Type": "NAP", "Status": "STARTED"},
        _step(2, StepDetails={"Attempt": "2", "Error": {"StackTrace": "line"}}),
        "not-an-operation",
        {"Type": "STEP", "Status": "STARTED"},
    ]
    message = _protocol_error({**_event(operations), "UpdatedOperationIds": "abc"})
    for fragment in (
        "InitialExecutionState.Operations[1].Id: expected a string, got number 7",
        "InitialExecutionState.Operations[1].Type: 'NAP' is not a valid OperationType",
        "InitialExecutionState.Operations[2].StepDetails.Attempt: expected an integer",
        "InitialExecutionState.Operations[2].StepDetails.Error.StackTrace: expected an array",
        "InitialExecutionState.Operations[3]: expected an object, got string",
        "InitialExecutionState.Operations[4].Id: required member missing",
        "UpdatedOperationIds: expected an array, got string",
    ):
        assert fragment in message
    assert message.startswith("Malformed invocation event: ")


@pytest.mark.parametrize(
    ("member", "value", "fragment"),
    [
        ("Attempt", True, "expected an integer, got boolean true"),
        ("Attempt", 1.5, "expected an integer, got number 1.5"),
        ("Result", 5, "expected a string, got number 5"),
        ("Result", {"a": 1}, "expected a string, got object"),
    ],
)
def test_strict_primitive_types(member: str, value: object, fragment: str) -> None:
    """Strings, integers and booleans are not coerced from other JSON types."""
    message = _protocol_error(_event([_step(0, StepDetails={member: value})]))
    assert f"InitialExecutionState.Operations[0].StepDetails.{member}: {fragment}" in message


def test_integral_float_is_accepted_as_integer() -> None:
    """An integral float where an integer is expected is tolerated."""
    op = wire.operation_from_dict(_step(0, StepDetails={"Attempt": 2.0}))
    assert op.step_details == StepDetails(attempt=2)


def test_other_decoders_raise_service_protocol_error() -> None:
    """Every decoding entry point raises ServiceProtocolError, never a raw cattrs error."""
    cases: list[tuple[Callable[[Any], object], object]] = [
        (wire.operation_from_dict, {"Id": "x"}),
        (wire.update_from_dict, {"Id": "x", "Type": "STEP", "Action": "JUMP"}),
        (wire.error_from_dict, {"StackTrace": [1]}),
        (wire.invocation_output_from_dict, {"Status": "RETRY"}),
        (wire.checkpoint_output_from_dict, {"NewExecutionState": {"Operations": [3]}}),
        (wire.state_page_from_dict, {"Operations": None, "NextMarker": 3}),
    ]
    for decode, value in cases:
        with pytest.raises(ServiceProtocolError, match=r"^Malformed "):
            decode(value)


def test_wire_level_examples_of_error_messages() -> None:
    """Error messages name wire members, not Python field names."""
    with pytest.raises(ServiceProtocolError) as info:
        wire.error_from_dict({"ErrorMessage": 1, "StackTrace": ["ok", 2]})
    message = str(info.value)
    assert "ErrorMessage: expected a string, got number 1" in message
    assert "StackTrace[1]: expected a string, got number 2" in message
    assert "message" not in message.replace("ErrorMessage", "")


# ---------------------------------------------------------------------------
# update_size
# ---------------------------------------------------------------------------


def test_update_size_is_the_json_length() -> None:
    """update_size is the length of json.dumps of the update with default separators."""
    update = wire.update_from_dict(json.loads(UPDATE_2_4))
    text = json.dumps(json.loads(UPDATE_2_4))
    assert wire.update_size(update) == len(text.encode("utf-8"))


def test_update_size_counts_escaped_non_ascii() -> None:
    """Non-ASCII payload characters count as the bytes of their \\uXXXX escapes."""
    update = OperationUpdate(
        id="a", type=OperationType.STEP, action=OperationAction.SUCCEED, payload="é€😀"
    )
    expected = (
        '{"Id": "a", "Type": "STEP", "Action": "SUCCEED", '
        '"Payload": "\\u00e9\\u20ac\\ud83d\\ude00"}'
    )
    assert wire.update_size(update) == len(expected.encode("utf-8")) == 87
    raw_utf8 = json.dumps(wire.update_to_dict(update), ensure_ascii=False).encode("utf-8")
    assert wire.update_size(update) == len(raw_utf8) + 24 - 9  # escapes, not raw bytes


# ---------------------------------------------------------------------------
# Performance-oriented Operation hook agrees with the generic one
# ---------------------------------------------------------------------------


def test_fast_operation_hook_matches_generic_on_odd_inputs() -> None:
    """The hand-tuned Operation decoder accepts and rejects exactly what the generic one does."""
    generic = wire.make_converter(detailed_validation=True)
    samples: list[Any] = [
        _step(1, StartTimestamp=MS, EndTimestamp=MS, StepDetails={"Attempt": 1, "Result": "r"}),
        _step(1, StartTimestamp="2024-11-30T20:53:20.512Z", StepDetails={"Attempt": 0}),
        _step(1, ParentId=None, Extra=1, StepDetails={"Result": None}),
        _step(1, StepDetails=None, WaitDetails={"ScheduledEndTimestamp": MS / 1000}),
        _step(1, StepDetails={"Attempt": True}),
        _step(1, StepDetails={"Attempt": 1, "Bogus": 2}),
        _step(1, Type="CALLBACK", CallbackDetails={"CallbackId": "abc="}),
        _step(1, Name=3),
        _step(1, Status=["STARTED"]),
        _step(1, StartTimestamp=True),
        {"Id": "x"},
    ]
    for sample in samples:
        try:
            expected: object = generic.structure(sample, Operation)
        except Exception:
            expected = ServiceProtocolError
        try:
            actual: object = wire.operation_from_dict(sample)
        except ServiceProtocolError:
            actual = ServiceProtocolError
        assert actual == expected, sample


# ---------------------------------------------------------------------------
# Hypothesis round trips
# ---------------------------------------------------------------------------

texts = st.text(max_size=12)
opt_texts = st.none() | texts
ints = st.integers(min_value=0, max_value=2**40)
timestamps = st.datetimes(
    min_value=datetime(2000, 1, 1),
    max_value=datetime(2100, 1, 1),
    timezones=st.just(UTC),
).map(timestamp)
opt_timestamps = st.none() | timestamps

errors = st.builds(
    ErrorObject,
    message=opt_texts,
    type=opt_texts,
    data=opt_texts,
    stack_trace=st.none() | st.lists(texts, max_size=3).map(tuple),
)
opt_errors = st.none() | errors

#: Operation ids as the service model defines them (1-64 of [A-Za-z0-9_-]).
operation_ids = st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True)

operations = st.builds(
    Operation,
    id=operation_ids,
    type=st.sampled_from(OperationType),
    status=st.sampled_from(OperationStatus),
    parent_id=st.none() | operation_ids,
    name=opt_texts,
    sub_type=opt_texts,
    start_timestamp=opt_timestamps,
    end_timestamp=opt_timestamps,
    execution_details=st.none() | st.builds(ExecutionDetails, input_payload=opt_texts),
    context_details=st.none()
    | st.builds(
        ContextDetails,
        replay_children=st.none() | st.booleans(),
        result=opt_texts,
        error=opt_errors,
    ),
    step_details=st.none()
    | st.builds(
        StepDetails,
        attempt=st.none() | ints,
        next_attempt_timestamp=opt_timestamps,
        result=opt_texts,
        error=opt_errors,
    ),
    wait_details=st.none() | st.builds(WaitDetails, scheduled_end_timestamp=opt_timestamps),
    callback_details=st.none()
    | st.builds(CallbackDetails, callback_id=opt_texts, result=opt_texts, error=opt_errors),
    chained_invoke_details=st.none()
    | st.builds(ChainedInvokeDetails, result=opt_texts, error=opt_errors),
)

updates = st.builds(
    OperationUpdate,
    id=texts,
    type=st.sampled_from(OperationType),
    action=st.sampled_from(OperationAction),
    parent_id=opt_texts,
    name=opt_texts,
    sub_type=opt_texts,
    payload=opt_texts,
    error=opt_errors,
    context_options=st.none() | st.builds(ContextOptions, replay_children=st.booleans()),
    step_options=st.none() | st.builds(StepOptions, next_attempt_delay_seconds=ints),
    wait_options=st.none() | st.builds(WaitOptions, wait_seconds=ints),
    callback_options=st.none()
    | st.builds(CallbackOptions, timeout_seconds=ints, heartbeat_timeout_seconds=ints),
    chained_invoke_options=st.none()
    | st.builds(ChainedInvokeOptions, function_name=texts, tenant_id=opt_texts),
)

state_pages = st.builds(
    StatePage, operations=st.lists(operations, max_size=3).map(tuple), next_marker=opt_texts
)

invocation_inputs = st.builds(
    InvocationInput,
    durable_execution_arn=texts,
    checkpoint_token=texts,
    initial_execution_state=state_pages,
    updated_operation_ids=st.lists(texts, max_size=3).map(tuple),
)

invocation_outputs = st.builds(
    InvocationOutput,
    status=st.sampled_from(InvocationStatus),
    result=opt_texts,
    error=opt_errors,
)

checkpoint_outputs = st.builds(
    CheckpointOutput, checkpoint_token=opt_texts, new_execution_state=state_pages
)


def _through_json(doc: dict[str, Any]) -> Any:
    """The document as a JSON text would bring it back (and proof it is JSON-serializable)."""
    return json.loads(json.dumps(doc))


def _no_nulls(doc: Any) -> bool:
    if isinstance(doc, dict):
        return all(v is not None and _no_nulls(v) for v in doc.values())
    if isinstance(doc, list):
        return all(_no_nulls(v) for v in doc)
    return True


@given(errors)
def test_error_round_trip(value: ErrorObject) -> None:
    """error_from_dict inverts error_to_dict, through JSON text."""
    doc = wire.error_to_dict(value)
    assert _no_nulls(doc)
    assert wire.error_from_dict(_through_json(doc)) == value


@given(operations)
def test_operation_round_trip(value: Operation) -> None:
    """operation_from_dict inverts operation_to_dict, through JSON text, with no null members."""
    doc = wire.operation_to_dict(value)
    assert _no_nulls(doc)
    assert wire.operation_from_dict(_through_json(doc)) == value


@given(operations)
def test_fast_operation_hook_matches_generic(value: Operation) -> None:
    """On every well-formed operation the hand-tuned decoder equals the generic cattrs one."""
    doc = _through_json(wire.operation_to_dict(value))
    generic = wire.make_converter(detailed_validation=True)
    assert wire.operation_from_dict(doc) == generic.structure(doc, Operation)


@given(updates)
def test_update_round_trip(value: OperationUpdate) -> None:
    """update_from_dict inverts update_to_dict, through JSON text, and update_size measures it."""
    doc = wire.update_to_dict(value)
    assert _no_nulls(doc)
    assert wire.update_from_dict(_through_json(doc)) == value
    assert wire.update_size(value) == len(json.dumps(doc).encode("utf-8"))


@given(invocation_inputs)
def test_invocation_input_round_trip(value: InvocationInput) -> None:
    """invocation_input_from_dict inverts invocation_input_to_dict, through JSON text."""
    doc = wire.invocation_input_to_dict(value)
    assert _no_nulls(doc)
    assert wire.invocation_input_from_dict(_through_json(doc)) == value


@given(invocation_outputs)
def test_invocation_output_round_trip(value: InvocationOutput) -> None:
    """invocation_output_from_dict inverts invocation_output_to_dict, through JSON text."""
    doc = wire.invocation_output_to_dict(value)
    assert _no_nulls(doc)
    assert wire.invocation_output_from_dict(_through_json(doc)) == value


@given(checkpoint_outputs)
def test_checkpoint_output_round_trip(value: CheckpointOutput) -> None:
    """checkpoint_output_from_dict inverts checkpoint_output_to_dict, through JSON text."""
    doc = wire.checkpoint_output_to_dict(value)
    assert _no_nulls(doc)
    assert wire.checkpoint_output_from_dict(_through_json(doc)) == value


@given(state_pages)
def test_state_page_round_trip(value: StatePage) -> None:
    """state_page_from_dict inverts state_page_to_dict, through JSON text."""
    doc = wire.state_page_to_dict(value)
    assert _no_nulls(doc)
    assert wire.state_page_from_dict(_through_json(doc)) == value


# ---------------------------------------------------------------------------
# Converter construction
# ---------------------------------------------------------------------------


def test_make_converter_returns_independent_converters() -> None:
    """make_converter builds a fresh converter each time, never cattrs' global one."""
    import cattrs

    first, second = wire.make_converter(), wire.make_converter(detailed_validation=True)
    assert first is not second
    assert first is not cattrs.global_converter
    assert second.detailed_validation
    assert first.unstructure(ErrorObject(message="m")) == {"ErrorMessage": "m"}


class TestErrorFitting:
    def test_a_small_error_is_left_alone(self) -> None:
        """Errors under 32 KiB are not touched."""
        from durable.model import ErrorObject

        error = ErrorObject(message="m", type="T", data="d", stack_trace=("a", "b"))
        assert error.fitted() is error

    def test_the_estimate_bounds_the_exact_json_size(self) -> None:
        """json_size is never below the size of the wire JSON."""
        from durable.model import ErrorObject
        from durable.wire import error_to_dict

        error = ErrorObject(
            message='a"\u00e9\n' * 30, type="x.Y", data="{}", stack_trace=("l1", "l\u20ac")
        )
        exact = len(json.dumps(error_to_dict(error)).encode())
        assert exact <= error.json_size() <= exact + 100

    def test_oversized_errors_lose_trace_then_data_then_message_tail(self) -> None:
        """Cuts happen in that order and are listed in the message; the type survives."""
        from durable.model import ErrorObject

        trace_only = ErrorObject(
            message="m", type="T", stack_trace=tuple("x" * 100 for _ in range(500))
        )
        fitted = trace_only.fitted()
        assert fitted.json_size() <= 32_768 and fitted.type == "T"
        assert fitted.stack_trace and fitted.stack_trace[-1] == "x" * 100
        assert "oldest stack trace lines" in (fitted.message or "")

        everything = ErrorObject(message="\u00e9" * 50_000, type="T", data="d" * 40_000)
        fitted = everything.fitted()
        assert fitted.json_size() <= 32_768 and fitted.data is None
        assert "ErrorData of 40000 characters" in (fitted.message or "")
        assert "characters of the message" in (fitted.message or "")
        assert (fitted.message or "").startswith("\u00e9" * 100)
