"""Bad input: each kind gives one clear exception naming what and where (issue 9, item 3).

Part 1 is a table with one row per kind of bad input the issue lists.  Each
row asserts the exception's exact type (raised, or the ``ErrorType`` of the
FAILED envelope ``durable.lambda_.handle`` returned) and that its message
names what was wrong and where: the operation's name and id, the member path,
the size and the limit.  ``covered_by`` points at the test that goes deeper.

Part 2 fuzzes ``handle`` with generated malformed invocation events and
broken service answers (``bad_fuzz.py`` lists the documented outcomes and
where each is documented) and checks that every outcome is one of them: never
another exception type, never a hang, never a SUCCEEDED that lost data.

Sizes are those of protocol.md §9, measured as the service does (protocol
decision Q9): bytes of the ASCII-only JSON text, so a non-ASCII character
counts as the six bytes of its ``\\uXXXX`` escape.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import durable
from durable import (
    CallbackConfig,
    ChildConfig,
    CompletionConfig,
    Duration,
    MapConfig,
    ParallelConfig,
    RetryStrategyConfig,
    StepConfig,
    WaitStrategyConfig,
    errors,
)
from durable.core import Replay, branch_id, operation_id
from durable.lambda_ import BotoService, handle
from durable.model import ExecutionStatus, OperationType
from durable.serdes import PassThroughSerDes
from durable.testing import LocalLambdaClient, LocalRunner, LocalService
from durable.testing._service import EPOCH
from tests.reliability import report
from tests.reliability.bad_fuzz import (
    BASES,
    BrokenAnswers,
    Mutation,
    answer_touched,
    check_outcome,
    clean_run,
    make_base,
    mutations,
    run_handle,
    touched_id,
)

ARN = (
    "arn:aws:lambda:us-east-1:123456789012:function:orders:$LATEST"
    "/durable-execution/order-42/5f0c2b1e-8d7a-4c1f-9a55-0f3e7d1b2c3a"
)
EXEC_ID = "5f0c2b1e-8d7a-4c1f-9a55-0f3e7d1b2c3a"
FIRST = operation_id(None, 1)
SECOND = operation_id(None, 2)
MiB = 1024 * 1024


# -- observing an outcome -------------------------------------------------------------------


@attrs.frozen
class Observed:
    """The exception type (raised) or ErrorType (FAILED envelope), and the message."""

    error: str
    message: str


def raises(fn: Callable[[], Any]) -> Callable[[], Observed]:
    def observe() -> Observed:
        try:
            fn()
        except Exception as exc:
            return Observed(errors.qualified_name(type(exc)), str(exc))
        raise AssertionError("nothing was raised")

    return observe


def fails(workflow: Any, input: Any = None) -> Callable[[], Observed]:
    """Run ``workflow`` through the Lambda handler on the local service; it must FAIL."""

    def observe() -> Observed:
        result = LocalRunner(workflow, through_handler=True).run(input)
        assert result.execution_status is ExecutionStatus.FAILED, result.summary()
        assert result.error is not None
        return Observed(result.error.type or "", result.error.message or "")

    return observe


def handled(event: Any, workflow: Any = None) -> Callable[[], Observed]:
    """``handle`` a hand-made event (no service call is needed to get there)."""

    def observe() -> Observed:
        try:
            out = handle(workflow or _noop, event, None, service=BotoService(object()))
        except Exception as exc:
            return Observed(errors.qualified_name(type(exc)), str(exc))
        assert out["Status"] == "FAILED", out
        return Observed(out["Error"]["ErrorType"], out["Error"]["ErrorMessage"])

    return observe


def changed(v1: Any, v2: Any) -> Callable[[], Observed]:
    """Run ``v1`` up to its wait, then invoke ``v2`` (a changed deployment) on that log."""

    def observe() -> Observed:
        service = LocalService()
        first = LocalRunner(v1, service=service, through_handler=True)
        arn = first.start({})
        first.invoke_once(arn)
        service.clock.advance(120)
        service.fire_due(arn)
        second = LocalRunner(v2, service=service, through_handler=True)
        second.invoke_once(arn)
        error = second.result(arn).error
        assert error is not None, "the changed workflow was not refused"
        return Observed(error.type or "", error.message or "")

    return observe


def wire_name(cls: type[BaseException]) -> str:
    """What a FAILED envelope records for ``cls`` (protocol.md Q10)."""
    own = cls.__dict__.get("wire_type")
    return own if isinstance(own, str) else errors.qualified_name(cls)


# -- workflows and events for the rows ------------------------------------------------------


@durable.workflow
def _noop(event: Any, ctx: durable.Context) -> Any:
    return (yield ctx.step(lambda c: 1, name="one"))


def _event(*ops: dict[str, Any], payload: str = "{}", **top: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "DurableExecutionArn": ARN,
        "CheckpointToken": "AAAB",
        "InitialExecutionState": {
            "Operations": [
                {
                    "Id": EXEC_ID,
                    "Type": "EXECUTION",
                    "Status": "STARTED",
                    "StartTimestamp": 1733000000000,
                    "ExecutionDetails": {"InputPayload": payload},
                },
                *ops,
            ]
        },
    }
    event.update(top)
    return event


def _step(**fields: Any) -> dict[str, Any]:
    record = {
        "Id": FIRST,
        "Type": "STEP",
        "SubType": "Step",
        "Name": "one",
        "Status": "SUCCEEDED",
        "StartTimestamp": 1733000000000,
        "StepDetails": {"Attempt": 1, "Result": '{"t":"i","v":"1"}'},
    }
    record.update(fields)
    return record


class UnprintableError(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no text for you")


def _returning(value: Callable[[], Any], **options: Any) -> Any:
    @durable.workflow
    def workflow(event: Any, ctx: durable.Context) -> Any:
        got = yield ctx.step(lambda c: value(), name="make", **options)
        return len(got) if isinstance(got, str) else got

    return workflow


def _workflow_returning(value: Callable[[], Any]) -> Any:
    @durable.workflow
    def workflow(event: Any, ctx: durable.Context) -> Any:
        yield ctx.step(lambda c: 1, name="one")
        return value()

    return workflow


def _raising_step(error: Callable[[], BaseException]) -> Any:
    no_retry = StepConfig(retry_strategy=durable.RetryPresets.none())

    def body(step_ctx: durable.StepContext) -> Any:
        raise error()

    @durable.workflow
    def workflow(event: Any, ctx: durable.Context) -> Any:
        return (yield ctx.step(body, name="explode", config=no_retry))

    return workflow


@durable.workflow
def _yields_junk(event: Any, ctx: durable.Context) -> Any:
    got = yield {"not": "an operation"}
    return got


@durable.workflow
async def _awaits_asyncio(event: Any, ctx: durable.Context) -> Any:
    import asyncio

    await asyncio.sleep(0)


@durable.workflow
def _swallows_suspension(event: Any, ctx: durable.Context) -> Any:
    try:
        yield ctx.wait(Duration(30), name="nap")
    except BaseException:  # the mistake under test
        got = None
    else:
        got = "woke"
    return (yield ctx.step(lambda c: got, name="too-early"))


@durable.workflow
def _invokes_big(event: Any, ctx: durable.Context) -> Any:
    # 180,000 code points, but 1,080,002 bytes of ASCII-escaped JSON (Q9).
    return (yield ctx.invoke("target", "\u00e9" * 180_000, name="call"))


def _v(*ops: Callable[[durable.Context], Any]) -> Any:
    """A workflow running ``ops`` (each a function of ctx returning a descriptor)."""

    @durable.workflow
    def workflow(event: Any, ctx: durable.Context) -> Any:
        for op in ops:
            yield op(ctx)
        return "done"

    return workflow


def step(name: str, **kw: Any) -> Callable[[durable.Context], Any]:
    return lambda ctx: ctx.step(lambda c: name, name=name, **kw)


def wait(name: str, seconds: int = 60) -> Callable[[durable.Context], Any]:
    return lambda ctx: ctx.wait(Duration(seconds), name=name)


def child(name: str, *ops: Callable[[durable.Context], Any]) -> Callable[[durable.Context], Any]:
    def body(c: durable.Context) -> Any:
        for op in ops:
            yield op(c)

    return lambda ctx: ctx.run_in_child_context(body, name=name)


def mapped(name: str, item_step: str) -> Callable[[durable.Context], Any]:
    """A map of one item that runs a step, then waits (so the map is still
    open when the changed code replays it)."""

    def item(c: durable.Context, x: int, i: int, items: Any) -> Any:
        got = yield c.step(lambda s: x, name=item_step)
        yield c.wait(Duration(30), name="pause")
        return got

    return lambda ctx: ctx.map([1], item, name=name)


V1 = _v(step("a"), step("b"), wait("w"), step("c"))
V1_MAP = _v(step("a"), mapped("fan", "item"))
MAP_ID = SECOND
BRANCH_ID = branch_id(MAP_ID, 0)
ITEM_ID = operation_id(BRANCH_ID, 1)


# -- the table -------------------------------------------------------------------------------


@attrs.frozen
class Bad:
    """One kind of bad input: ``observe`` must give ``error`` with every fragment."""

    item: str
    label: str
    observe: Callable[[], Observed]
    error: type[BaseException]
    fragments: tuple[str, ...]
    covered_by: str = ""
    #: The FAILED envelope's ErrorType (wire name) instead of the raised type.
    envelope: bool = False


EVENTS = "1 malformed event"
LOGS = "2 checkpoint log"
SERDES = "3 serialization"
LIMITS = "4 size limits"
NAMES = "5 names"
CONFIGS = "6 configs"
NOT_DESCRIPTOR = "7 not a descriptor"
SWALLOW = "8 swallowed suspension"
NONDET = "9 non-determinism"

TABLE: list[Bad] = [
    # 1. Malformed or truncated invocation events (raised, protocol.md §1.1).
    Bad(EVENTS, "truncated JSON text", handled('{"DurableExecutionArn": "arn:aws:lam'),
        errors.ServiceProtocolError, ("expected an object", "durable execution is enabled"),
        "tests/unit/test_lambda_adapter.py::test_a_malformed_event_raises_one_error_naming_the_field"),
    Bad(EVENTS, "no checkpoint token", handled({"DurableExecutionArn": ARN}),
        errors.ServiceProtocolError, ("CheckpointToken: required member missing",),
        "tests/unit/test_wire.py::test_event_missing_arn"),
    Bad(EVENTS, "operation cut short", handled(_event({"Id": FIRST, "Type": "STEP"})),
        errors.ServiceProtocolError, ("InitialExecutionState.Operations[1].Status", "missing"),
        "tests/unit/test_wire.py::test_event_lists_every_bad_member_in_one_message"),
    Bad(EVENTS, "wrong-typed member", handled(_event(UpdatedOperationIds="all")),
        errors.ServiceProtocolError, ("UpdatedOperationIds", "expected an array"),
        "tests/unit/test_wire.py::test_strict_primitive_types"),
    Bad(EVENTS, "input payload not JSON", handled(_event(payload="{'x': 1")),
        errors.ExecutionError, ("ExecutionDetails.InputPayload", EXEC_ID, "not valid JSON"),
        "tests/unit/test_runtime.py::TestEnvelope::test_invalid_json_input_fails_with_a_clear_error",
        envelope=True),
    # 2. Checkpoint logs: unknown enum values, missing members, ids of the wrong form.
    Bad(LOGS, "unknown operation type", handled(_event(_step(Type="TIMER"))),
        errors.ServiceProtocolError, ("Operations[1].Type", "'TIMER'", "OperationType"),
        "tests/unit/test_wire.py::test_event_bad_enum_deep_inside"),
    Bad(LOGS, "unknown status", handled(_event(_step(Status="DONE"))),
        errors.ServiceProtocolError, ("Operations[1].Status", "'DONE'", "OperationStatus")),
    Bad(LOGS, "missing id", handled(_event({k: v for k, v in _step().items() if k != "Id"})),
        errors.ServiceProtocolError, ("Operations[1].Id: required member missing",)),
    Bad(LOGS, "id that is not a string", handled(_event(_step(Id=7))),
        errors.ServiceProtocolError, ("Operations[1].Id", "expected a string")),
    Bad(LOGS, "EXECUTION id held by a step", handled(_event(_step(Id=EXEC_ID))),
        errors.ExecutionError, (EXEC_ID, "STEP", "not the EXECUTION operation"), envelope=True),
    Bad(LOGS, "stored result not decodable", handled(_event(_step(
        StepDetails={"Attempt": 1, "Result": "{oops"})), _noop),
        errors.SerDesError, ("Deserialization failed", "step 'one'", FIRST), envelope=True),
    Bad(LOGS, "malformed checkpoint answer", lambda: _broken_answer(),
        errors.ServiceProtocolError,
        ("Malformed CheckpointDurableExecution response",
         "NewExecutionState.Operations[0].Status")),
    # 3. Results and errors that cannot be serialized.
    Bad(SERDES, "step result", fails(_returning(lambda: object())),
        errors.SerDesError, ("Serialization failed", "step 'make'", FIRST, "Unsupported type"),
        "tests/unit/core/test_replay.py::TestSerialization", envelope=True),
    Bad(SERDES, "workflow result", fails(_workflow_returning(lambda: {1, 2})),
        TypeError, ("not JSON serializable",),
        "tests/unit/test_runtime.py::TestEnvelope::test_a_result_json_cannot_encode_fails_with_type_error",
        envelope=True),
    Bad(SERDES, "an error whose str() raises", fails(_raising_step(UnprintableError)),
        errors.StepError, ("str() of the UnprintableError raised RuntimeError: no text for you",),
        envelope=True),
    # 4. Payloads over the limits of protocol.md §9 (bytes of ASCII-escaped JSON).
    Bad(LIMITS, "step result over 6 MiB", fails(_returning(lambda: "x" * (6 * MiB + 1))),
        errors.CheckpointError, (FIRST, "STEP SUCCEED", "Payload is 6291459", "6291456"),
        envelope=True),
    Bad(LIMITS, "step result over 6 MiB once escaped", fails(_returning(lambda: "\u00e9" * MiB)),
        errors.CheckpointError, (FIRST, "Payload is 6291458", "6291456"), envelope=True),
    Bad(LIMITS, "workflow result over 6 MiB", fails(_workflow_returning(lambda: "r" * 6 * MiB)),
        errors.CheckpointError, ("EXECUTION SUCCEED", "Payload is 6291458", "6291456"),
        "tests/unit/test_runtime.py::TestEnvelope::test_an_oversized_result_is_checkpointed_on_the_execution",
        envelope=True),
    Bad(LIMITS, "invoke input over 1 MiB once escaped", fails(_invokes_big),
        errors.ValidationError, ("invoke 'call'", FIRST, "1080002 bytes", "1048576"),
        envelope=True),
    Bad(LIMITS, "callback answer over 256 KiB", lambda: _big_callback_answer(),
        errors.ServiceApiError, ("262145 bytes", "262144")),
    Bad(LIMITS, "wait over 366 days", raises(lambda: _ctx().wait(Duration(31_622_401))),
        errors.ValidationError, ("31622401 s", "31622400"),
        "tests/unit/test_config.py::TestWaitValidation"),
    # 5. Names and sub-types.
    Bad(NAMES, "name of 257 characters", raises(lambda: _ctx().step(lambda c: 1, name="n" * 257)),
        errors.ValidationError, ("257 characters", "the limit is 256"),
        "tests/unit/test_config.py::TestNames"),
    Bad(NAMES, "non-ASCII name", raises(lambda: _ctx().wait(Duration(1), name="caf\u00e9")),
        errors.ValidationError, ("'caf\u00e9'", "printable ASCII")),
    Bad(NAMES, "control character in a name", raises(lambda: _ctx().step(lambda c: 1, name="a\nb")),
        errors.ValidationError, ("'\\n'", "printable ASCII")),
    Bad(NAMES, "sub-type with a space", raises(lambda: StepConfig(sub_type="My Step")),
        errors.ValidationError, ("StepConfig sub_type 'My Step'", "letters, digits")),
    Bad(NAMES, "sub-type of 33 characters", raises(lambda: ChildConfig(sub_type="s" * 33)),
        errors.ValidationError, ("33 characters", "the limit is 32")),
    # 6. Invalid configs.
    Bad(CONFIGS, "negative duration", raises(lambda: Duration(-1)),
        errors.ValidationError, ("Duration.seconds", "negative", "-1"),
        "tests/unit/test_config.py::TestDuration"),
    Bad(CONFIGS, "max_concurrency 0", raises(lambda: MapConfig(max_concurrency=0)),
        errors.ValidationError, ("MapConfig.max_concurrency", "at least 1", "got 0")),
    Bad(CONFIGS, "parallel max_concurrency 0", raises(lambda: ParallelConfig(max_concurrency=0)),
        errors.ValidationError, ("ParallelConfig.max_concurrency", "got 0")),
    Bad(CONFIGS, "percentage over 100",
        raises(lambda: CompletionConfig(tolerated_failure_percentage=101)),
        errors.ValidationError, ("tolerated_failure_percentage", "between 0 and 100", "101")),
    Bad(CONFIGS, "min_successful 0", raises(lambda: CompletionConfig(min_successful=0)),
        errors.ValidationError, ("min_successful", "at least 1")),
    Bad(CONFIGS, "no attempts", raises(lambda: RetryStrategyConfig(max_attempts=0)),
        errors.ValidationError, ("RetryStrategyConfig.max_attempts", "at least 1")),
    Bad(CONFIGS, "retry delay as a bare number",
        raises(lambda: RetryStrategyConfig(initial_delay=-3)),  # type: ignore[arg-type]
        errors.ValidationError, ("RetryStrategyConfig.initial_delay", "must be a Duration", "-3")),
    Bad(CONFIGS, "negative back-off rate", raises(lambda: RetryStrategyConfig(backoff_rate=-2)),
        errors.ValidationError, ("RetryStrategyConfig.backoff_rate", "above 0", "-2")),
    Bad(CONFIGS, "polling back-off NaN",
        raises(lambda: WaitStrategyConfig(lambda s: True, backoff_rate=float("nan"))),
        errors.ValidationError, ("WaitStrategyConfig.backoff_rate", "nan")),
    Bad(CONFIGS, "negative callback timeout", raises(lambda: CallbackConfig(timeout=-5)),  # type: ignore[arg-type]
        errors.ValidationError, ("CallbackConfig.timeout", "-5")),
    Bad(CONFIGS, "wait of 0 s", raises(lambda: _ctx().wait(Duration(0), name="nap")),
        errors.ValidationError, ("wait 'nap'", "at least 1")),
    # 7. A workflow that yields something that is not a descriptor.
    Bad(NOT_DESCRIPTOR, "a dict", fails(_yields_junk),
        errors.UsageError,
        ("workflow _yields_junk", "{'not': 'an operation'}", "not a durable operation"),
        "tests/unit/core/test_replay.py::TestMisuse", envelope=True),
    Bad(NOT_DESCRIPTOR, "an asyncio awaitable", fails(_awaits_asyncio),
        errors.UsageError, ("workflow _awaits_asyncio", "not a durable operation"), envelope=True),
    # 8. A generator that swallows the suspension.
    Bad(SWALLOW, "except BaseException around a wait", fails(_swallows_suspension),
        errors.UsageError, ("_swallows_suspension", "kept running after it was suspended", "'nap'"),
        "tests/unit/core/test_replay.py::TestSuspension", envelope=True),
    # 9. Non-determinism of every kind.
    Bad(NONDET, "renamed", changed(V1, _v(step("a"), step("B"), wait("w"), step("c"))),
        errors.NonDeterminismError, (SECOND, "name checkpoint='b' current='B'", "Operation #2"),
        "tests/unit/core/test_replay.py::TestNonDeterminism", envelope=True),
    Bad(NONDET, "reordered", changed(V1, _v(step("b"), step("a"), wait("w"), step("c"))),
        errors.NonDeterminismError, (FIRST, "name checkpoint='a' current='b'"), envelope=True),
    Bad(NONDET, "removed", changed(V1, _v(step("b"), wait("w"), step("c"))),
        errors.NonDeterminismError, (FIRST, "name checkpoint='a' current='b'"), envelope=True),
    Bad(NONDET, "inserted", changed(V1, _v(step("a"), wait("new"), step("b"), wait("w"))),
        errors.NonDeterminismError, (SECOND, "type checkpoint='STEP' current='WAIT'"),
        envelope=True),
    Bad(NONDET, "changed type", changed(V1, _v(step("a"), wait("b"), wait("w"))),
        errors.NonDeterminismError, (SECOND, "type checkpoint='STEP' current='WAIT'", "'b'"),
        envelope=True),
    Bad(NONDET, "changed sub-type",
        changed(V1, _v(step("a"), step("b", config=StepConfig(sub_type="Charge")), wait("w"))),
        errors.NonDeterminismError, (SECOND, "subtype checkpoint='Step' current='Charge'"),
        envelope=True),
    Bad(NONDET, "moved into a child context",
        changed(V1, _v(step("a"), child("b", step("b")), wait("w"))),
        errors.NonDeterminismError, (SECOND, "type checkpoint='STEP' current='CONTEXT'"),
        envelope=True),
    Bad(NONDET, "renamed inside a map branch",
        changed(V1_MAP, _v(step("a"), mapped("fan", "element"))),
        errors.NonDeterminismError,
        (ITEM_ID, "name checkpoint='item' current='element'", f"context {BRANCH_ID!r}"),
        envelope=True),
]  # fmt: skip


def _ctx() -> durable.Context:
    """A context to build descriptors with (validation happens when they are built)."""
    replay = Replay(lambda event, ctx: None, {}, [], EPOCH)
    return replay.root_context


def _broken_answer() -> Observed:
    """A checkpoint answer whose operation has a status the protocol does not know."""
    base = make_base("first")

    def corrupt(doc: Any) -> Any:
        doc["NewExecutionState"]["Operations"][0]["Status"] = "HALF_DONE"
        return doc

    client = BrokenAnswers(base.service, 1, corrupt)
    outcome = run_handle(base, base.event, client)
    assert outcome.kind == "raised"
    return Observed(errors.qualified_name(type(outcome.exception)), outcome.message)


def _big_callback_answer() -> Observed:
    @durable.workflow
    def waits_for_answer(event: Any, ctx: durable.Context) -> Any:
        cb = yield ctx.create_callback(name="approval")
        return (yield cb.result())

    runner = LocalRunner(waits_for_answer)
    result = runner.run()
    callback = result.get_callback("approval")
    assert callback.callback_id is not None
    try:
        runner.send_callback_success(callback.callback_id, "a" * (256 * 1024 + 1))
    except Exception as exc:
        return Observed(errors.qualified_name(type(exc)), str(exc))
    raise AssertionError("an oversized callback answer was accepted")


@pytest.mark.parametrize("bad", TABLE, ids=[f"{b.item}: {b.label}" for b in TABLE])
def test_bad_input_gives_one_clear_exception(bad: Bad) -> None:
    observed = bad.observe()
    expected = wire_name(bad.error) if bad.envelope else errors.qualified_name(bad.error)
    assert observed.error == expected, f"{bad.label}: got {observed}"
    for fragment in bad.fragments:
        assert fragment in observed.message, (
            f"{bad.label}: {fragment!r} not in {observed.message!r}"
        )
    report.count(f"bad input: {bad.item}")


def test_the_table_covers_every_kind_the_issue_lists() -> None:
    kinds = {b.item for b in TABLE}
    assert kinds == {EVENTS, LOGS, SERDES, LIMITS, NAMES, CONFIGS, NOT_DESCRIPTOR, SWALLOW, NONDET}
    labels = {b.label for b in TABLE if b.item == NONDET}
    for kind in ("renamed", "reordered", "removed", "inserted", "changed type"):
        assert kind in labels


@pytest.mark.parametrize("bad_id", ["", "a b", "x" * 65])
def test_an_operation_id_of_the_wrong_form_is_refused_by_name(bad_id: str) -> None:
    observed = handled(_event(_step(Id=bad_id)))()
    assert observed.error == errors.qualified_name(errors.ServiceProtocolError)
    assert "InitialExecutionState.Operations[1].Id" in observed.message


def test_limits_that_are_handled_rather_than_refused() -> None:
    """Over the other §9 limits nothing fails: a child context result over
    256 KiB is rebuilt by replay (ReplayChildren), an error over 32 KiB is cut
    down and says what was cut, and a response over 6 MiB - 50 is checkpointed
    on the EXECUTION operation (tests/unit/test_runtime.py::TestEnvelope goes
    deeper)."""

    def kid(ctx: durable.Context) -> Any:
        return (yield ctx.step(lambda c: "k" * 300_000, name="inner"))

    @durable.workflow
    def big(event: Any, ctx: durable.Context) -> Any:
        inner = yield ctx.run_in_child_context(kid, name="kid")
        try:
            yield ctx.step(
                lambda c: (_ for _ in ()).throw(ValueError("e" * 100_000)),
                name="loud",
                config=StepConfig(retry_strategy=durable.RetryPresets.none()),
            )
        except durable.StepError as err:
            cut = err.message
        # A response between 6 MiB - 50 and 6 MiB bytes: checkpointed, not refused.
        rest = [len(inner), len(cut), cut[-60:]]
        padding = 6 * MiB - 20 - len(json.dumps(["", *rest]))
        return ["r" * padding, *rest]

    result = LocalRunner(big, through_handler=True).run()
    assert result.succeeded, result.summary()
    kid_op = result.get_context("kid")
    assert kid_op.raw_result is not None and len(kid_op.raw_result) < 1000  # a summary
    _, inner, cut_length, tail = result.result
    assert inner == 300_000
    assert cut_length < 32_768 and "truncated by durable" in tail
    assert len(json.dumps(result.result)) == 6 * MiB - 20
    assert result.raw_result is not None and len(result.raw_result) == 6 * MiB - 20
    assert result.requests[-1].updates[-1].type is OperationType.EXECUTION


def test_a_raw_non_ascii_payload_is_measured_in_bytes() -> None:
    workflow = _returning(
        lambda: "\u00e9" * (3 * MiB + 8), config=StepConfig(serdes=PassThroughSerDes())
    )
    observed = fails(workflow)()
    assert observed.error == wire_name(errors.CheckpointError)


def test_undetectable_changes_are_the_documented_ones() -> None:
    """protocol.md §6.3: a removed trailing operation and a changed body
    behind the same identity are not non-determinism; the run goes on."""
    service = LocalService()
    first = LocalRunner(V1, service=service)
    arn = first.start({})
    first.invoke_once(arn)
    service.clock.advance(120)
    service.fire_due(arn)
    shorter = _v(step("a"), step("b"), wait("w"))
    result = LocalRunner(shorter, service=service).resume(arn)
    assert result.succeeded and result.result == "done"


# -- the fuzz test ----------------------------------------------------------------------------

FUZZ = settings(
    max_examples=500,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
_CLEAN: list[Any] = []


def _clean() -> tuple[Any, dict[str, str]]:
    if not _CLEAN:
        _CLEAN.extend(clean_run())
    return _CLEAN[0], _CLEAN[1]


def _mutate(doc: Any, data: Any, label: str) -> tuple[Any, set[str], list[Mutation]]:
    touched: set[str] = set()
    applied: list[Mutation] = []
    for _ in range(data.draw(st.integers(1, 3), f"{label} mutations")):
        if not isinstance(doc, dict) or not doc:
            break
        mutation = data.draw(mutations(doc), label)
        op_id = touched_id(doc, mutation)
        if op_id is not None:
            touched.add(op_id)
        doc = mutation.apply(doc)
        applied.append(mutation)
    return doc, touched, applied


def _check(base: Any, event: Any, client: LocalLambdaClient, touched: set[str]) -> None:
    clean, key_ids = _clean()
    before = dict(base.service.execution(base.arn).operations)
    outcome = run_handle(base, event, client)
    after = dict(base.service.execution(base.arn).operations)
    check_outcome(
        outcome, clean=clean, key_ids=key_ids, touched=touched, before=before, after=after
    )


@FUZZ
@given(st.sampled_from(BASES), st.data())
def test_malformed_events_have_documented_outcomes(kind: str, data: Any) -> None:
    """1-3 generated mutations of a genuine invocation event (any member
    dropped or set to a wrong-typed value, unknown enum strings, ids of the
    wrong form, garbage and 1 MB payloads, lists cut, duplicated or reversed,
    unknown members, the event as truncated JSON text or not an object)."""
    base = make_base(kind)
    event, touched, _ = _mutate(base.event, data, "event")
    _check(base, event, LocalLambdaClient(base.service), touched)
    report.count("malformed input: fuzzed invocation event")


@FUZZ
@given(st.sampled_from(["after-wait", "paged", "interrupted"]), st.integers(1, 4), st.data())
def test_malformed_service_answers_have_documented_outcomes(
    kind: str, number: int, data: Any
) -> None:
    """The same mutations applied to the ``number``-th answer of the service
    (a checkpoint answer or a page of the log read with
    GetDurableExecutionState) while the event itself is intact."""
    seen: list[Any] = []
    probe = make_base(kind)
    run_handle(
        probe, probe.event, BrokenAnswers(probe.service, number, lambda d: seen.append(d) or d)
    )
    if not seen:
        return  # the invocation made fewer calls
    original = seen[0]
    broken, _, _ = _mutate(copy.deepcopy(original), data, "answer")
    base = make_base(kind)
    client = BrokenAnswers(base.service, number, lambda doc: copy.deepcopy(broken))
    # A value may differ from the clean run's only if the broken answer
    # changed the record it was read from (or the records it descends from).
    touched = answer_touched(original, broken)
    if touched is None:
        touched = set(base.service.execution(base.arn).operations)
    _check(base, base.event, client, touched)
    report.count("malformed input: fuzzed service answer")
