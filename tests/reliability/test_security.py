"""Security (issue 9, part 4): reading a checkpoint never runs code, logs keep
secrets out, and a checkpoint log from another execution is refused.

* (a) the default serializer's ``deserialize`` is fed adversarial payloads
  (crafted pickles, base64 of pickles, envelopes with every tag around
  ``__reduce__``-style objects, strings naming modules, nested tags, nesting
  far past the limit) inside tripwires that record any import, ``eval``,
  ``exec``, unpickling or process spawn; only values of the documented types
  or a ``SerDesError`` may come back;
* (b) an ``ErrorType`` read from a log (a FAILED step, a failed branch of a
  stored ``BatchResult``) is only looked up in `durable`'s own table, never
  imported;
* (c) workflows that fail with secrets in exception messages, inputs and step
  results, run with every logger at DEBUG: no secret and no stack trace
  reaches the logs or the process's stdout/stderr unless the workflow itself
  logs them (the opt-in: ``ctx.logger`` / ``step_ctx.logger``; `durable`
  writes nothing else to ``logging``);
* (d) an invocation whose state (event or ``GetDurableExecutionState`` page)
  holds another execution's EXECUTION operation ends FAILED with a
  ``ServiceProtocolError`` naming both, before any workflow code runs.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import decimal
import json
import logging
import subprocess
import sys
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import durable
from durable import Duration, RetryStrategyConfig, StepConfig, create_retry_strategy, wire
from durable.batch import BatchItem, BatchItemStatus, BatchResult, CompletionReason
from durable.errors import (
    OPERATION_ERROR_REGISTRY,
    ChildContextError,
    DurableError,
    SerDesError,
    ServiceProtocolError,
)
from durable.lambda_ import handle
from durable.model import (
    CheckpointOutput,
    ErrorObject,
    InvocationStatus,
    Operation,
    OperationUpdate,
    StatePage,
)
from durable.serdes import EXTENDED_TYPES_SERDES, deserialize
from durable.testing import LocalRunner, LocalService
from durable.testing.logs import LogBuilder
from tests.reliability import report
from tests.reliability.sec_guard import (
    SENTINEL,
    Tripped,
    Tripwires,
    anything_but,
    assert_sentinel_untouched,
)
from tests.reliability.sec_payloads import (
    ALL_TAGS,
    MODULE_NAMES,
    PICKLES,
    SENTINEL_PICKLES,
    deep_payloads,
    payloads,
)

ROOT = Path(__file__).resolve().parents[2]

#: What the default serializer may import while decoding: its lazily loaded
#: value types, and the codec modules ``json.loads`` looks up for bytes input.
LAZY_MODULES = frozenset({"uuid", "decimal", "datetime", "binascii"})


def _serdes_imports(name: str) -> bool:
    return name in LAZY_MODULES or name == "encodings" or name.startswith("encodings.")


#: Exact types a decoded value may be built from.
_LEAF_TYPES = (
    type(None),
    bool,
    int,
    float,
    str,
    bytes,
    decimal.Decimal,
    uuid.UUID,
    dt.datetime,
    dt.date,
)


def _check_value(value: Any) -> None:
    """Fail unless ``value`` is made only of the serializer's documented types."""
    stack = [value]
    while stack:
        node = stack.pop()
        cls = type(node)
        if cls in _LEAF_TYPES:
            continue
        if cls is list or cls is tuple:
            stack.extend(node)
        elif cls is dict:
            assert all(type(k) is str for k in node), f"non-string key in {node!r:.200}"
            stack.extend(node.values())
        elif cls is BatchResult:
            for item in node.all:
                assert type(item) is BatchItem
                stack.append(item.result)
                assert item.error is None or type(item.error) is ErrorObject
        else:
            raise AssertionError(f"decoding produced a {cls!r}: {node!r:.200}")


@pytest.fixture(autouse=True)
def _sentinel_never_imported() -> Iterator[None]:
    assert_sentinel_untouched()
    yield
    assert_sentinel_untouched()


# -- (a) the default serializer never runs payload code ----------------------


def test_the_crafted_pickles_are_live() -> None:
    """Canary: unpickled for real (in a child process), the payloads do import
    and call the sentinel, so the tests below would notice if anything did."""
    script = (
        "import pickle, sys, json\n"
        "from tests.reliability import sec_guard\n"
        f"blobs = {list(SENTINEL_PICKLES)!r}\n"
        "for blob in blobs:\n"
        "    pickle.loads(blob)\n"
        "print(json.dumps(sec_guard.EVENTS))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    events = json.loads(done.stdout)
    assert events[0] == f"imported {SENTINEL}"
    assert sum(e.startswith(f"called {SENTINEL}.boom") for e in events) == 3
    assert any(e.startswith(f"constructed {SENTINEL}.Boom") for e in events)


def test_the_tripwires_catch_what_they_guard() -> None:
    """Canary: inside the tripwires, unpickling, eval and imports are recorded and refused."""
    import pickle

    with Tripwires() as wires:
        for attempt in (
            lambda: pickle.loads(PICKLES[0]),
            lambda: eval("1 + 1"),
            lambda: __import__(SENTINEL),
            lambda: __import__("os"),
        ):
            with pytest.raises(Tripped):
                attempt()
    assert len(wires.hits) == 4
    assert wires.hits[0].startswith("pickle.loads(")
    assert wires.hits[2] == f"import {SENTINEL}"
    assert pickle.loads(pickle.dumps([1])) == [1]  # restored on exit


def _decode_guarded(payload: str | bytes, **where: str) -> tuple[Any, SerDesError | None]:
    error: SerDesError | None = None
    value: Any = None
    with Tripwires(allow=_serdes_imports) as wires:
        try:
            if where:
                value = deserialize(None, payload, where["op"], what=where["what"])  # type: ignore[arg-type]
            else:
                value = EXTENDED_TYPES_SERDES.deserialize(payload)  # type: ignore[arg-type]
        except SerDesError as exc:
            error = exc
    assert wires.hits == [], f"reading {payload!r:.200} ran: {wires.hits}"
    assert_sentinel_untouched()
    return value, error


def _warm_up_lazy_types() -> None:
    """Decode each lazily imported type once, outside the tripwires."""
    for tag, text in (("u", str(uuid.UUID(int=1))), ("d", "1.5"), ("D", "2025-01-01")):
        EXTENDED_TYPES_SERDES.deserialize(json.dumps({"t": tag, "v": text}))
    EXTENDED_TYPES_SERDES.deserialize('{"t":"dt","v":"2025-01-01T00:00:00Z"}')
    EXTENDED_TYPES_SERDES.deserialize('{"t":"B","v":"AAE="}')


@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(payload=payloads)
def test_the_default_serializer_never_runs_payload_code(payload: str | bytes) -> None:
    """Whatever a log holds, reading it imports nothing it names, unpickles
    nothing, evaluates nothing: a value of the documented types or a
    ``SerDesError`` comes back (any other exception fails the test)."""
    _warm_up_lazy_types()
    value, error = _decode_guarded(payload)
    if error is None:
        _check_value(value)
    else:
        assert str(error), "a SerDesError must say what was wrong"
        assert "Traceback" not in str(error)
    # The engine's helper: the same outcome, and the message names the operation.
    _, error2 = _decode_guarded(payload, op="op-7", what="step 'charge'")
    assert (error2 is None) == (error is None)
    if error2 is not None:
        assert "step 'charge' (id: op-7)" in str(error2)


def test_every_tag_around_a_pickle_is_refused_or_inert() -> None:
    """Each known tag wrapping each crafted pickle: bytes stay bytes (never
    unpickled), strings stay strings, everything else is a SerDesError."""
    _warm_up_lazy_types()
    import base64

    for blob in PICKLES:
        for text in (base64.b64encode(blob).decode("ascii"), blob.decode("latin-1")):
            for tag in ALL_TAGS:
                value, error = _decode_guarded(json.dumps({"t": tag, "v": text}))
                if tag == "B" and error is None:
                    assert type(value) is bytes  # the pickle's bytes, as data
                elif tag == "s":
                    assert value == text
                else:
                    assert error is not None, (tag, value)
                    assert f'"{tag}"' in str(error)
    for name in MODULE_NAMES:
        value, error = _decode_guarded(json.dumps({"t": name, "v": []}))
        assert error is not None and f'Unknown type tag: "{name}"' in str(error)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=deep_payloads())
def test_nesting_past_the_limit_is_a_clear_error(case: tuple[str, str, int]) -> None:
    """Deep payloads never crash the reader (no RecursionError, no
    MemoryError): within the limit they decode, past it they are refused."""
    payload, shape, json_depth = case
    value, error = _decode_guarded(payload)
    if shape in ("list", "l", "t", "m"):
        if json_depth <= 500:
            assert error is None, str(error)
            _check_value(value)
        elif json_depth >= 520:
            assert error is not None and "nested too deeply" in str(error), json_depth
    if error is None:
        _check_value(value)


# -- (b) ErrorType strings are looked up, never imported ----------------------

ERROR_TYPES = st.one_of(
    st.sampled_from(MODULE_NAMES),
    st.sampled_from(sorted(OPERATION_ERROR_REGISTRY)),
    st.sampled_from(
        [
            "aws_durable_execution_sdk_python.exceptions.SerDesError",
            "aws_durable_execution_sdk_python.exceptions.ExecutionError",
            "durable.errors.SuspendExecution",
            "durable.errors.TimedSuspendExecution",
            "ValueError",
        ]
    ),
    st.text(max_size=30),
)


class NoCalls:
    """A ``durable.runtime.Service`` that must not be called."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def checkpoint(
        self, execution_arn: str, checkpoint_token: str, updates: Sequence[OperationUpdate]
    ) -> CheckpointOutput:
        self.calls.append("checkpoint")
        raise AssertionError("unexpected checkpoint")

    def get_execution_state(
        self, execution_arn: str, checkpoint_token: str, marker: str, max_items: int = 1000
    ) -> StatePage:
        self.calls.append("get_execution_state")
        raise AssertionError("unexpected state read")


def _describe(exc: BaseException | None) -> str | None:
    if exc is None:
        return None
    return f"{type(exc).__module__}.{type(exc).__qualname__}"


@durable.workflow
def catches_the_stored_failure(event: Any, ctx: durable.Context) -> Any:
    try:
        yield ctx.step(lambda _: "never runs", name="charge")
    except DurableError as exc:
        return {
            "raised": _describe(exc),
            "cause": _describe(exc.__cause__),
            "error_type": getattr(exc, "error_type", None),
        }
    return "the step did not fail"


def _event(log: LogBuilder) -> dict[str, Any]:
    return {
        "DurableExecutionArn": log.arn,
        "CheckpointToken": "token-1",
        "InitialExecutionState": {
            "Operations": [wire.operation_to_dict(op) for op in log.operations],
        },
    }


def _failed_step_event(error_type: str) -> dict[str, Any]:
    log = LogBuilder(input={})
    log.step("charge", error=ErrorObject(message="declined", type=error_type))
    return _event(log)


@settings(max_examples=150, deadline=None)
@given(error_type=ERROR_TYPES)
def test_a_stored_error_type_never_imports_what_it_names(error_type: str) -> None:
    """A FAILED step whose ``ErrorType`` names a module or class comes back as
    one of `durable`'s own exceptions carrying the string as data."""
    # Once outside the tripwires: cattrs compiles its (un)structure functions
    # from `durable`'s record classes on first use, never from data.
    handle(catches_the_stored_failure, _failed_step_event("ValueError"), None, service=NoCalls())
    event = _failed_step_event(error_type)
    service = NoCalls()
    with Tripwires(allow=anything_but()) as wires:
        output = handle(catches_the_stored_failure, event, None, service=service)
    assert wires.hits == []
    assert service.calls == []
    assert output["Status"] == "SUCCEEDED", output
    seen = json.loads(output["Result"])
    assert seen["error_type"] == error_type
    assert seen["raised"].startswith("durable.errors.")
    expected_cause = OPERATION_ERROR_REGISTRY.get(error_type)
    if expected_cause is not None:
        assert seen["cause"] == _describe(expected_cause("x"))
    else:
        assert seen["cause"] in (None, "durable.errors.DurableOperationError")


@settings(max_examples=100, deadline=None)
@given(error_type=ERROR_TYPES, message=st.text(max_size=20))
def test_a_stored_batch_error_type_never_imports_what_it_names(
    error_type: str, message: str
) -> None:
    """A failed branch inside a stored ``BatchResult`` (tag ``br``) raises
    ``ChildContextError`` caused by one of `durable`'s classes."""
    _warm_up_lazy_types()
    stored: BatchResult[Any] = BatchResult(
        [
            BatchItem(0, BatchItemStatus.SUCCEEDED, result={"ok": SENTINEL}),
            BatchItem(
                1, BatchItemStatus.FAILED, error=ErrorObject(message=message, type=error_type)
            ),
        ],
        CompletionReason.ALL_COMPLETED,
    )
    payload = EXTENDED_TYPES_SERDES.serialize(stored)
    value, error = _decode_guarded(payload)
    assert error is None and isinstance(value, BatchResult)
    with Tripwires(allow=_serdes_imports) as wires, pytest.raises(ChildContextError) as caught:
        value.throw_if_error()
    assert wires.hits == []
    assert caught.value.error_type == error_type
    assert type(caught.value.__cause__).__module__ == "durable.errors"


def test_a_batch_error_type_that_is_not_a_string_is_a_clear_error() -> None:
    payload = (
        '{"t":"br","v":{"all":{"t":"l","v":[{"t":"m","v":{"index":{"t":"i","v":0},'
        '"status":{"t":"s","v":"FAILED"},"error":{"t":"m","v":{"ErrorType":'
        '{"t":"l","v":["os.system"]}}}}}]},"completionReason":{"t":"s","v":"ALL_COMPLETED"}}}'
    )

    def read_and_raise() -> None:
        EXTENDED_TYPES_SERDES.deserialize(payload).throw_if_error()

    with pytest.raises((SerDesError, DurableError), match="ErrorType must be a string"):
        read_and_raise()


# -- (c) no secrets and no stack traces in logs -------------------------------

SECRET = f"s3cr3t-{uuid.uuid4().hex}"


class _Collect(logging.Handler):
    """Every record, fully rendered: message, arguments, extra fields,
    exception text and stack."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.texts: list[str] = []
        self._formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")

    def emit(self, record: logging.LogRecord) -> None:
        text = self._formatter.format(record)
        if record.stack_info:
            text += "\n" + record.stack_info
        self.texts.append(f"{text}\n{record.__dict__!r}")


@contextlib.contextmanager
def every_logger_at_debug() -> Iterator[_Collect]:
    """Collect everything logged anywhere in the process, with the root and
    every ``durable*`` logger set to DEBUG."""
    collect = _Collect()
    root = logging.getLogger()
    names = ["durable", *(n for n in logging.root.manager.loggerDict if n.startswith("durable"))]
    loggers = [root, *(logging.getLogger(n) for n in names)]
    saved = [(lg, lg.level, lg.disabled) for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.DEBUG)
        lg.disabled = False
    root.addHandler(collect)
    try:
        yield collect
    finally:
        root.removeHandler(collect)
        for lg, level, disabled in saved:
            lg.setLevel(level)
            lg.disabled = disabled


NO_RETRY = StepConfig(retry_strategy=create_retry_strategy(RetryStrategyConfig(max_attempts=2)))


@durable.workflow
def leaky(event: Any, ctx: durable.Context) -> Any:
    """Secrets everywhere: the input, a step result, exception messages in a
    step, in a map branch and in the workflow itself."""
    ctx.logger.info("order received")
    token = yield ctx.step(lambda _: {"token": SECRET, "n": 1}, name="fetch")
    yield ctx.wait(Duration.from_seconds(1), name="pause")

    def item(c: durable.Context, x: int, i: int, items: Any) -> Any:
        def body(_: Any) -> int:
            if x == 2:
                raise KeyError(f"branch {SECRET}")
            return x

        return (yield c.step(body, name="work"))

    batch = yield ctx.map([1, 2, 3], item, name="fan-out")
    try:
        batch.throw_if_error()
    except ChildContextError:
        ctx.logger.info("a branch failed")

    def charge(_: Any) -> None:
        raise ValueError(f"card {event['card']} declined; token {token['token']}")

    yield ctx.step(charge, name="charge", config=NO_RETRY)
    return "unreachable"


@durable.workflow
def opted_in(event: Any, ctx: durable.Context) -> Any:
    """The opt-in: the workflow logs the failure (with its trace) itself."""

    def charge(step_ctx: durable.StepContext) -> None:
        try:
            raise ValueError(f"card {event['card']} declined")
        except ValueError:
            step_ctx.logger.exception("charge failed")
            raise

    try:
        yield ctx.step(charge, name="charge", config=NO_RETRY)
    except durable.StepError as exc:
        ctx.logger.error("workflow saw %s", exc.message)
    return "done"


@pytest.mark.parametrize("through_handler", [False, True], ids=["runtime", "handler"])
def test_failures_with_secrets_log_nothing_secret(
    through_handler: bool, capfd: pytest.CaptureFixture[str]
) -> None:
    """The secrets reach the checkpoints (where they belong) but neither the
    logs, at DEBUG everywhere, nor stdout/stderr; no stack trace is logged."""
    with every_logger_at_debug() as logs:
        result = LocalRunner(leaky, through_handler=through_handler).run({"card": SECRET})
    out, err = capfd.readouterr()
    # The secrets really went through the system...
    assert result.status is InvocationStatus.FAILED
    assert result.error is not None and SECRET in (result.error.message or "")
    assert SECRET in str(result.get_step("fetch").result)
    # ...and the capture works: the workflow's own lines are there, once each
    # although the workflow was replayed.
    joined = "\n".join(logs.texts)
    assert joined.count("durable INFO order received") == 1, logs.texts
    assert joined.count("durable INFO a branch failed") == 1, logs.texts
    assert len(logs.texts) == 2, logs.texts
    assert SECRET not in joined
    assert "Traceback" not in joined and 'File "' not in joined
    assert SECRET not in out and SECRET not in err
    assert "Traceback" not in err


def test_the_opt_in_logs_the_secret_and_the_trace() -> None:
    """Control for the test above: when the workflow asks (``logger.exception``),
    the message and the trace do reach the logs, so the capture would see them."""
    with every_logger_at_debug() as logs:
        result = LocalRunner(opted_in).run({"card": SECRET})
    assert result.result == "done"
    joined = "\n".join(logs.texts)
    assert "durable ERROR charge failed" in joined
    assert "Traceback" in joined and f"ValueError: card {SECRET} declined" in joined
    assert f"workflow saw card {SECRET} declined" in joined


# -- (d) a checkpoint log from another execution is refused -------------------

ran: list[str] = []


@durable.workflow
def two_steps(event: Any, ctx: durable.Context) -> Any:
    ran.append(event.get("who", "?") if isinstance(event, dict) else "?")
    first = yield ctx.step(lambda _: f"first for {event['who']}", name="first")
    yield ctx.wait(Duration.from_seconds(5), name="pause")
    second = yield ctx.step(lambda _: "second", name="second")
    return [first, second]


def _exec_id(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]


def _foreign_event(service: LocalService, victim: str, other: str) -> dict[str, Any]:
    """The next invocation event of ``victim``, carrying ``other``'s log."""
    event = wire.invocation_input_to_dict(service.begin_invocation(victim))
    event["InitialExecutionState"] = {
        "Operations": [wire.operation_to_dict(op) for op in service.operations(other)]
    }
    decoded: dict[str, Any] = json.loads(json.dumps(event))
    return decoded


def _assert_refused(output: dict[str, Any], victim: str, other: str) -> None:
    assert output["Status"] == "FAILED", output
    error = output["Error"]
    assert error["ErrorType"] == ServiceProtocolError.wire_type
    message = error["ErrorMessage"]
    assert "another execution" in message
    assert victim in message and repr(_exec_id(victim)) in message
    assert repr(_exec_id(other)) in message


def _two_executions() -> tuple[LocalService, str, str]:
    """Execution ``other`` ran up to its wait; ``victim`` has not run yet."""
    service = LocalService()
    runner = LocalRunner(two_steps, service=service)
    other = runner.start({"who": "other"})
    assert runner.invoke_once(other).value == "PENDING"
    victim = runner.start({"who": "victim"})
    return service, victim, other


def test_an_event_carrying_another_executions_log_is_refused() -> None:
    service, victim, other = _two_executions()
    ran.clear()
    before = service.execution(victim).checkpoint_calls
    output = handle(two_steps, _foreign_event(service, victim, other), None, service=service)
    _assert_refused(output, victim, other)
    assert ran == []  # no workflow code ran on the foreign log
    assert service.execution(victim).checkpoint_calls == before
    report.count("security: foreign checkpoint log refused (event)")


def test_a_log_mixing_both_executions_is_refused() -> None:
    service, victim, other = _two_executions()
    event = _foreign_event(service, victim, other)
    own = [wire.operation_to_dict(op) for op in service.operations(victim)]
    event["InitialExecutionState"]["Operations"] = (
        own + event["InitialExecutionState"]["Operations"]
    )
    ran.clear()
    output = handle(two_steps, event, None, service=service)
    _assert_refused(output, victim, other)
    assert ran == []


class ForeignPages:
    """Answers ``GetDurableExecutionState`` with another execution's operations."""

    def __init__(self, service: LocalService, other: str) -> None:
        self.service = service
        self.other = other
        self.asked: list[tuple[str, str]] = []

    def get_execution_state(
        self, execution_arn: str, checkpoint_token: str, marker: str, max_items: int = 1000
    ) -> StatePage:
        self.asked.append((execution_arn, marker))
        return StatePage(operations=tuple(self.service.operations(self.other)))

    def checkpoint(
        self, execution_arn: str, checkpoint_token: str, updates: Sequence[OperationUpdate]
    ) -> CheckpointOutput:
        raise AssertionError("no checkpoint may follow a refused state")


def test_a_state_page_from_another_execution_is_refused() -> None:
    service, victim, other = _two_executions()
    event = wire.invocation_input_to_dict(service.begin_invocation(victim))
    event["InitialExecutionState"]["NextMarker"] = "page-2"
    pages = ForeignPages(service, other)
    ran.clear()
    output = handle(two_steps, json.loads(json.dumps(event)), None, service=pages)
    assert pages.asked == [(victim, "page-2")]
    _assert_refused(output, victim, other)
    assert ran == []
    report.count("security: foreign checkpoint log refused (state page)")


def test_the_executions_own_log_is_accepted() -> None:
    """Control: the same invocation with its own log runs normally."""
    service, victim, _ = _two_executions()
    ran.clear()
    event = json.loads(json.dumps(wire.invocation_input_to_dict(service.begin_invocation(victim))))
    output = handle(two_steps, event, None, service=service)
    assert output == {"Status": "PENDING"}
    assert ran == ["victim"]
    steps = [op for op in service.operations(victim) if op.name == "first"]
    assert len(steps) == 1 and isinstance(steps[0], Operation)
