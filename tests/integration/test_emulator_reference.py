"""The emulator harness validated end to end with the reference SDK.

Each workflow is a reference-SDK Lambda handler served by the harness's Invoke
endpoint; the emulator drives it over HTTP and the handler talks back through
the harness's recorded boto3 client. The assertions pin what the reference
puts on the wire (checkpoint calls and their updates, invocation outputs, the
final operation log, the history), so that durable's adapter can be compared
against the same numbers.
"""

from __future__ import annotations

import itertools
import json
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from tests.integration.conftest import EmulatorFactory
from tests.integration.emulator import (
    EmulatorHarness,
    ExecutionResult,
    FakeLambdaContext,
    Handler,
)

pytestmark = pytest.mark.interop

pytest.importorskip("aws_durable_execution_sdk_python_testing.runner")
reference = pytest.importorskip("aws_durable_execution_sdk_python")

from aws_durable_execution_sdk_python import (  # noqa: E402
    DurableContext,
    StepContext,
    durable_execution,
    durable_step,
)
from aws_durable_execution_sdk_python.config import (  # noqa: E402
    Duration,
    JitterStrategy,
    StepConfig,
    StepSemantics,
)
from aws_durable_execution_sdk_python.retries import (  # noqa: E402
    RetryStrategyConfig,
    create_retry_strategy,
)

# Operation IDs of the first three root operations (protocol.md §4.4).
ID_1 = "1ced8f5be2db23a6513eba4d819c73806424748a7bc6fa0d792cc1c7d1775a97"
ID_2 = "c5faca15ac2f93578b39ef4b6bbb871bdedce4ddd584fd31f0bb66fade3947e6"
ID_3 = "6f760b9e9eac89f07ab0223b0f4acb04d1e355d893a1b86a83f4d4b405adee99"


def reference_handler(
    harness: EmulatorHarness,
) -> Callable[[Callable[[Any, DurableContext], Any]], Handler]:
    """``@durable_execution(boto3_client=harness.client)``, spelt so type checkers follow it."""

    def decorate(func: Callable[[Any, DurableContext], Any]) -> Handler:
        return durable_execution(func, boto3_client=harness.client)

    return decorate


def shapes(updates: list[dict[str, Any]]) -> list[tuple[str, str, str | None]]:
    return [(u["Type"], u["Action"], u.get("Name")) for u in updates]


def call_shapes(harness: EmulatorHarness, arn: str) -> list[list[tuple[str, str, str | None]]]:
    return [shapes(updates) for updates in harness.checkpoint_updates(arn)]


def statuses(operations: list[dict[str, Any]]) -> dict[str | None, tuple[str, str]]:
    """``Name -> (Type, Status)``; the EXECUTION operation is listed under ``None``."""
    return {
        (None if op["Type"] == "EXECUTION" else op.get("Name")): (op["Type"], op["Status"])
        for op in operations
    }


def assert_consistent(result: ExecutionResult) -> list[dict[str, Any]]:
    """Checks every scenario shares; returns the final operation log."""
    harness = result.harness
    final = result.final_operations()
    json.dumps(final)  # wire form: no datetimes left
    # The log holds exactly the operations the history mentions.
    history_ids = {event["Id"] for event in result.history() if "Id" in event}
    assert {op["Id"] for op in final} == history_ids
    # Each operation appears once; the EXECUTION operation comes first and its
    # Id is the ARN's last segment.
    assert len({op["Id"] for op in final}) == len(final)
    assert final[0]["Type"] == "EXECUTION"
    assert final[0]["Id"] == result.arn.split("/")[-1]
    # Every checkpoint call after the first used the token the previous one
    # returned, and all calls were attributed to an invocation.
    for call in harness.checkpoint_calls(result.arn):
        assert call.error is None and call.http_status == 200
        assert call.invocation is not None
    # The last output is the execution's outcome.
    assert harness.outputs(result.arn)[-1]["Status"] == result.status
    return final


# ---------------------------------------------------------------------------
# Two steps and a wait: the trace of protocol.md §5.11
# ---------------------------------------------------------------------------


@durable_step
def greet(step_ctx: StepContext, name: str) -> dict[str, str]:
    return {"msg": f"Hello {name}"}


def trace_handler(harness: EmulatorHarness, wait_seconds: int) -> Any:
    @reference_handler(harness)
    def handler(event: dict[str, Any], ctx: DurableContext) -> list[Any]:
        r = ctx.step(greet(event["name"]))
        ctx.wait(Duration.from_seconds(wait_seconds), name="w")
        n = ctx.step(lambda _: 5, name="five")
        return [r, n]

    return handler


TRACE_CALLS = [
    [("STEP", "START", "greet"), ("STEP", "SUCCEED", "greet")],
    [("WAIT", "START", "w")],
    [("STEP", "START", "five"), ("STEP", "SUCCEED", "five")],
]


def assert_trace(harness: EmulatorHarness, result: ExecutionResult, wait_seconds: int) -> None:
    assert result.status == "SUCCEEDED", result.error
    assert result.result == [{"msg": "Hello Bob"}, 5]
    arn = result.arn

    assert harness.outputs(arn) == [
        {"Status": "PENDING"},
        {"Status": "SUCCEEDED", "Result": '[{"msg": "Hello Bob"}, 5]'},
    ]
    assert harness.checkpoint_count(arn) == 3
    assert call_shapes(harness, arn) == TRACE_CALLS
    assert harness.checkpoint_counts_per_invocation(arn) == [2, 1]
    assert harness.state_calls(arn) == []

    first, wait, five = (u for updates in harness.checkpoint_updates(arn) for u in updates[-1:])
    assert first["Id"] == ID_1 and first["SubType"] == "Step"
    assert json.loads(first["Payload"]) == {"t": "m", "v": {"msg": {"t": "s", "v": "Hello Bob"}}}
    assert wait["Id"] == ID_2 and wait["WaitOptions"] == {"WaitSeconds": wait_seconds}
    assert five["Id"] == ID_3 and five["Payload"] == "5"

    # Invocation 1 sees only the EXECUTION operation; invocation 2 sees greet
    # and the fired wait, and is told the wait changed.
    events = harness.invocation_events(arn)
    assert [len(e["InitialExecutionState"]["Operations"]) for e in events] == [1, 3]
    assert events[0]["InitialExecutionState"]["Operations"][0]["ExecutionDetails"] == {
        "InputPayload": '{"name": "Bob"}'
    }
    assert events[1]["UpdatedOperationIds"] == [ID_2]

    final = assert_consistent(result)
    assert [op["Id"] for op in final[1:]] == [ID_1, ID_2, ID_3]
    assert statuses(final) == {
        # The result travels in the output, so EXECUTION is never closed by a checkpoint.
        None: ("EXECUTION", "STARTED"),
        "greet": ("STEP", "SUCCEEDED"),
        "w": ("WAIT", "SUCCEEDED"),
        "five": ("STEP", "SUCCEEDED"),
    }
    wait_op = final[2]
    scheduled = wait_op["WaitDetails"]["ScheduledEndTimestamp"]
    assert isinstance(scheduled, int)
    assert scheduled - wait_op["StartTimestamp"] == pytest.approx(wait_seconds * 1000, abs=5)


TRACE_HISTORY = [
    "ExecutionStarted",
    "StepStarted",
    "StepSucceeded",
    "WaitStarted",
    "InvocationCompleted",
    "WaitSucceeded",
    "StepStarted",
    "StepSucceeded",
    "InvocationCompleted",
    "ExecutionSucceeded",
]


def test_two_steps_and_a_wait(emulator: EmulatorHarness) -> None:
    emulator.register("trace", trace_handler(emulator, wait_seconds=2))
    result = emulator.run("trace", {"name": "Bob"})
    assert_trace(emulator, result, wait_seconds=2)
    # Timer quirk (emulator.md): with skipped time the wait may fire before
    # the first invocation is recorded as completed, so only the multiset of
    # events is stable here; the real-time test below pins the order.
    assert Counter(result.event_types()) == Counter(TRACE_HISTORY)


def test_two_steps_and_a_wait_in_real_time(emulator_factory: EmulatorFactory) -> None:
    harness = emulator_factory(skip_time=False)
    harness.register("trace", trace_handler(harness, wait_seconds=1))
    result = harness.run("trace", {"name": "Bob"})
    assert_trace(harness, result, wait_seconds=1)
    assert result.event_types() == TRACE_HISTORY


# ---------------------------------------------------------------------------
# Retries, at-most-once, failures
# ---------------------------------------------------------------------------


def test_step_failing_twice_then_succeeding(emulator: EmulatorHarness) -> None:
    attempts: list[int] = []

    def flaky(step_ctx: StepContext) -> int:
        attempts.append(len(attempts) + 1)
        if len(attempts) < 3:
            msg = f"boom {len(attempts)}"
            raise ValueError(msg)
        return len(attempts)

    retry = create_retry_strategy(
        RetryStrategyConfig(
            max_attempts=3,
            initial_delay=Duration.from_seconds(1),
            backoff_rate=1,
            jitter_strategy=JitterStrategy.NONE,
        )
    )

    @reference_handler(emulator)
    def handler(event: Any, ctx: DurableContext) -> int:
        return ctx.step(flaky, name="flaky", config=StepConfig(retry_strategy=retry))

    emulator.register("flaky", handler)
    result = emulator.run("flaky")
    arn = result.arn

    assert result.status == "SUCCEEDED", result.error
    assert result.result == 3
    assert len(attempts) == 3
    # Each attempt is its own invocation: a retry suspends with PENDING.
    assert [o["Status"] for o in emulator.outputs(arn)] == ["PENDING", "PENDING", "SUCCEEDED"]
    assert emulator.checkpoint_count(arn) == 3
    assert call_shapes(emulator, arn) == [
        [("STEP", "START", "flaky"), ("STEP", "RETRY", "flaky")],
        [("STEP", "START", "flaky"), ("STEP", "RETRY", "flaky")],
        [("STEP", "START", "flaky"), ("STEP", "SUCCEED", "flaky")],
    ]
    for n, updates in enumerate(emulator.checkpoint_updates(arn)[:2], start=1):
        assert updates[1]["Error"] == {"ErrorMessage": f"boom {n}", "ErrorType": "ValueError"}
        assert updates[1]["StepOptions"] == {"NextAttemptDelaySeconds": 1}

    # Later invocations find the step READY with the previous attempt's error.
    seen = [e["InitialExecutionState"]["Operations"][1:] for e in emulator.invocation_events(arn)]
    assert seen[0] == []
    for n, ops in enumerate(seen[1:], start=1):
        (op,) = ops
        assert op["Status"] == "READY"
        assert op["StepDetails"]["Attempt"] == n
        assert op["StepDetails"]["Error"]["ErrorMessage"] == f"boom {n}"

    final = assert_consistent(result)
    assert statuses(final)["flaky"] == ("STEP", "SUCCEEDED")
    assert final[1]["StepDetails"]["Attempt"] == 3
    assert final[1]["StepDetails"]["Result"] == "3"
    failed = [e for e in result.history() if e["EventType"] == "StepFailed"]
    assert [e["StepFailedDetails"]["RetryDetails"] for e in failed] == [
        {"CurrentAttempt": 1, "NextAttemptDelaySeconds": 1},
        {"CurrentAttempt": 2, "NextAttemptDelaySeconds": 1},
    ]


def test_at_most_once_step(emulator: EmulatorHarness) -> None:
    config = StepConfig(step_semantics=StepSemantics.AT_MOST_ONCE_PER_RETRY)

    @reference_handler(emulator)
    def handler(event: Any, ctx: DurableContext) -> str:
        return ctx.step(lambda _: "once", name="once", config=config)

    emulator.register("amo", handler)
    result = emulator.run("amo")
    arn = result.arn

    assert result.status == "SUCCEEDED", result.error
    assert result.result == "once"
    # START is confirmed on its own before the body runs, then SUCCEED.
    assert emulator.checkpoint_count(arn) == 2
    assert call_shapes(emulator, arn) == [
        [("STEP", "START", "once")],
        [("STEP", "SUCCEED", "once")],
    ]
    (started,) = emulator.checkpoint_calls(arn)[0].returned_operations
    assert started["Status"] == "STARTED"
    final = assert_consistent(result)
    assert statuses(final)["once"] == ("STEP", "SUCCEEDED")


def test_failing_workflow(emulator: EmulatorHarness) -> None:
    @reference_handler(emulator)
    def handler(event: Any, ctx: DurableContext) -> None:
        ctx.step(lambda _: 1, name="ok")
        msg = "top level boom"
        raise ValueError(msg)

    emulator.register("fails", handler)
    result = emulator.run("fails")
    arn = result.arn

    error = {"ErrorMessage": "top level boom", "ErrorType": "ValueError"}
    assert result.status == "FAILED"
    assert result.error == error
    assert result.result is None
    assert emulator.outputs(arn) == [{"Status": "FAILED", "Error": error}]
    assert emulator.checkpoint_count(arn) == 1
    assert call_shapes(emulator, arn) == [[("STEP", "START", "ok"), ("STEP", "SUCCEED", "ok")]]
    final = assert_consistent(result)
    assert statuses(final) == {None: ("EXECUTION", "STARTED"), "ok": ("STEP", "SUCCEEDED")}
    assert result.event_types()[-1] == "ExecutionFailed"


def test_failed_step_fails_the_workflow(emulator: EmulatorHarness) -> None:
    def bad(_: StepContext) -> None:
        raise KeyError("nope")

    no_retry = create_retry_strategy(RetryStrategyConfig(max_attempts=1))

    @reference_handler(emulator)
    def handler(event: Any, ctx: DurableContext) -> None:
        ctx.step(lambda _: 1, name="ok")
        ctx.step(bad, name="bad", config=StepConfig(retry_strategy=no_retry))

    emulator.register("step-fails", handler)
    result = emulator.run("step-fails")
    arn = result.arn

    assert result.status == "FAILED"
    assert result.error == {
        "ErrorMessage": "'nope'",
        "ErrorType": "aws_durable_execution_sdk_python.exceptions.StepError",
    }
    assert emulator.checkpoint_count(arn) == 2
    assert call_shapes(emulator, arn) == [
        [("STEP", "START", "ok"), ("STEP", "SUCCEED", "ok")],
        [("STEP", "START", "bad"), ("STEP", "FAIL", "bad")],
    ]
    assert emulator.checkpoint_updates(arn)[1][1]["Error"] == {
        "ErrorMessage": "'nope'",
        "ErrorType": "KeyError",
    }
    final = assert_consistent(result)
    assert statuses(final)["bad"] == ("STEP", "FAILED")


# ---------------------------------------------------------------------------
# State paging
# ---------------------------------------------------------------------------


def test_state_paging(emulator_factory: EmulatorFactory) -> None:
    # The emulator sizes pages by payload bytes; 300 bytes holds two of
    # these step results, so the second invocation's state spans many pages.
    harness = emulator_factory(max_invocation_page_bytes=300)
    count = 20

    def padded(i: int) -> Callable[[StepContext], str]:
        return lambda _: "x" * 100 + str(i)

    @reference_handler(harness)
    def handler(event: Any, ctx: DurableContext) -> int:
        results = [ctx.step(padded(i), name=f"s{i}") for i in range(count)]
        ctx.wait(Duration.from_seconds(1), name="w")
        results.append(ctx.step(lambda _: "last", name="last"))
        return len(results)

    harness.register("paging", handler)
    result = harness.run("paging")
    arn = result.arn

    assert result.status == "SUCCEEDED", result.error
    assert result.result == count + 1
    assert harness.checkpoint_count(arn) == count + 2
    expected_calls = [
        [("STEP", "START", f"s{i}"), ("STEP", "SUCCEED", f"s{i}")] for i in range(count)
    ]
    expected_calls += [
        [("WAIT", "START", "w")],
        [("STEP", "START", "last"), ("STEP", "SUCCEED", "last")],
    ]
    assert call_shapes(harness, arn) == expected_calls

    # Invocation 2 gets a first page and a marker, then fetches every other
    # page with the event's token before it checkpoints anything.
    events = harness.invocation_events(arn)
    assert len(events) == 2
    second = events[1]
    assert second["InitialExecutionState"]["NextMarker"]
    pages = harness.state_calls(arn)
    assert len(pages) >= 2
    assert all(call.invocation == 1 for call in pages)
    assert all(call.request["CheckpointToken"] == second["CheckpointToken"] for call in pages)
    assert pages[0].request["Marker"] == second["InitialExecutionState"]["NextMarker"]
    responses = [call.response or {} for call in pages]
    for previous, page in itertools.pairwise(zip(pages, responses, strict=True)):
        assert page[0].request["Marker"] == previous[1]["NextMarker"]
    assert not responses[-1].get("NextMarker")
    delivered = len(second["InitialExecutionState"]["Operations"]) + sum(
        len(call.returned_operations) for call in pages
    )
    assert delivered == 1 + count + 1  # EXECUTION, the steps and the wait
    last_page_seq = pages[-1].seq
    assert all(
        call.seq > last_page_seq for call in harness.checkpoint_calls(arn) if call.invocation == 1
    )

    final = assert_consistent(result)
    assert len(final) == 1 + count + 2
    expected: dict[str | None, tuple[str, str]] = {
        None: ("EXECUTION", "STARTED"),
        **{f"s{i}": ("STEP", "SUCCEEDED") for i in range(count)},
        "w": ("WAIT", "SUCCEEDED"),
        "last": ("STEP", "SUCCEEDED"),
    }
    assert statuses(final) == expected


# ---------------------------------------------------------------------------
# A function error (not an output) is retried by the service
# ---------------------------------------------------------------------------


def test_function_error_then_recovery(emulator_factory: EmulatorFactory) -> None:
    harness = emulator_factory(function_error_retry_delay=0.05)

    @reference_handler(harness)
    def durable_handler(event: Any, ctx: DurableContext) -> str:
        return ctx.step(lambda _: "done", name="work")

    crashed: list[str] = []

    def handler(event: Any, lambda_context: FakeLambdaContext) -> Any:
        if not crashed:
            crashed.append(lambda_context.aws_request_id)
            msg = "runtime went away"
            raise RuntimeError(msg)
        return durable_handler(event, lambda_context)

    harness.register("crashy", handler)
    result = harness.run("crashy")
    arn = result.arn

    assert result.status == "SUCCEEDED", result.error
    assert result.result == "done"
    first, second = harness.invocations(arn)
    assert first.request_id == crashed[0]
    assert first.output is None
    assert first.function_error is not None
    assert first.function_error["errorType"] == "RuntimeError"
    assert first.function_error["errorMessage"] == "runtime went away"
    assert second.function_error is None
    assert second.output == {"Status": "SUCCEEDED", "Result": '"done"'}
    # The retried invocation gets the same state (nothing was checkpointed).
    assert first.initial_operations == second.initial_operations
    assert harness.checkpoint_count(arn) == 1
    assert call_shapes(harness, arn) == [[("STEP", "START", "work"), ("STEP", "SUCCEED", "work")]]
    assert_consistent(result)
