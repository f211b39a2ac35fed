"""Operations that wait for the world, on the emulator, side by side with the reference SDK.

Callbacks answered through the public API (success, failure, heartbeat then
success, timeouts, two answered in reverse order), ``wait_for_callback``
(answered by the test, by the submitter itself, failed, or with a failing
submitter), chained invokes of plain, durable, failing and unknown functions
(the targets served by the harness's Invoke endpoint, configured through the
emulator's function configurations), and ``wait_for_condition`` (met,
failing check, exhausted). Each scenario is written twice, once per SDK, with
the same logic and the same names; each runs on its own emulator over HTTP,
the test playing the external system through boto3 on the harness's control
client. Then:

* the outcome (status, result, error) is the same;
* the updates each operation receives are the same, byte for byte, and so
  are those of a durable target's own execution;
* the final operation logs are the same apart from timestamps and the
  service-minted callback ids;
* durable makes no more checkpoint calls than the reference;
* each SDK's final log replays in the *other* SDK with no body run (step,
  submitter, check) and no call to the service.

Timing: answers are sent only once the invocation that opened the callback
has returned (except where the submitter answers at once), so both SDKs take
the same path. Callback timeouts run on the emulator's real clock (1-2 s);
``wait_for_condition`` polls with 1 s delays under time skipping.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import attrs
import pytest

import durable
from durable import (
    CallbackConfig,
    DurableOperationError,
    Duration,
    InvokeConfig,
    JitterStrategy,
    RetryPresets,
    WaitForCallbackConfig,
    WaitForConditionConfig,
    WaitStrategyConfig,
    create_wait_strategy,
)
from durable.serdes import JsonSerDes
from tests.integration.compare import log_essence, outcome, updates_by_operation
from tests.integration.compare import replay_in_durable as durable_replay
from tests.integration.compare import replay_in_reference as reference_replay
from tests.integration.conftest import EmulatorFactory
from tests.integration.emulator import (
    EmulatorHarness,
    ExecutionResult,
    Handler,
)

pytestmark = pytest.mark.interop

pytest.importorskip("aws_durable_execution_sdk_python_testing.runner")
pytest.importorskip("aws_durable_execution_sdk_python")

from aws_durable_execution_sdk_python import config as ref_config  # noqa: E402
from aws_durable_execution_sdk_python import durable_execution as ref_durable_execution  # noqa: E402
from aws_durable_execution_sdk_python import exceptions as ref_exceptions  # noqa: E402
from aws_durable_execution_sdk_python import retries as ref_retries  # noqa: E402
from aws_durable_execution_sdk_python import serdes as ref_serdes  # noqa: E402
from aws_durable_execution_sdk_python import waits as ref_waits  # noqa: E402

#: Checkpoint calls per scenario, {"durable": n, "reference": m}, for the report.
ROUND_TRIPS: dict[str, dict[str, int]] = {}

#: Every wait on the emulator is bounded by this many seconds.
TIMEOUT = 20.0


class Probe:
    """What the bodies of one execution did: how many ran, which callback ids they saw."""

    def __init__(self) -> None:
        self.runs = 0
        self.callback_ids: list[str] = []
        #: the emulator the execution runs on, for submitters that answer at once
        self.harness: EmulatorHarness | None = None

    def count(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        def counted(*args: Any) -> Any:
            self.runs += 1
            return fn(*args)

        return counted


#: (harness, execution arn, probe): plays the external system while the execution runs.
Driver = Callable[[EmulatorHarness, str, Probe], None]
#: (boto3 client) -> a Lambda handler, for a chained-invoke target.
TargetFactory = Callable[[Any], Handler]


def _no_driver(harness: EmulatorHarness, arn: str, probe: Probe) -> None:
    return None


@attrs.frozen
class Scenario:
    name: str
    durable_fn: Callable[[Probe], Callable[[Any, durable.Context], Any]]
    reference_fn: Callable[[Probe], Callable[[Any, Any], Any]]
    drive: Driver = _no_driver
    input: Any = None
    harness_options: Mapping[str, Any] = attrs.field(factory=dict)
    #: chained-invoke targets served next to the workflow, per SDK
    durable_targets: Mapping[str, TargetFactory] = attrs.field(factory=dict)
    reference_targets: Mapping[str, TargetFactory] = attrs.field(factory=dict)
    #: executions started through chained invokes of durable targets
    children: int = 0


# -- playing the external system ---------------------------------------------------------


def _operations(harness: EmulatorHarness, arn: str) -> list[dict[str, Any]]:
    try:
        return harness.final_operations(arn)
    except LookupError:  # not invoked yet
        return []


def await_suspended_callback(
    harness: EmulatorHarness,
    arn: str,
    name: str,
    *,
    invocations: int = 1,
    timeout: float = TIMEOUT,
) -> str:
    """The id of callback ``name`` once it is STARTED, at least ``invocations``
    invocations have run and none is running.

    Answering only once the invocation has returned keeps both SDKs on the
    same path (suspend, then be re-invoked with the answer).
    """
    deadline = time.monotonic() + timeout
    while True:
        records = harness.invocations(arn)
        idle = len(records) >= invocations and all(r.finished is not None for r in records)
        for op in _operations(harness, arn) if idle else []:
            if op["Type"] == "CALLBACK" and op.get("Name") == name and op["Status"] == "STARTED":
                return str(op["CallbackDetails"]["CallbackId"])
        if time.monotonic() >= deadline:
            msg = f"callback {name!r} not waiting after {timeout}s; {harness.summary(arn)}"
            raise TimeoutError(msg)
        time.sleep(0.02)


def answer(name: str, result: bytes) -> Driver:
    """Send ``result`` as the success of callback ``name`` once the execution waits for it."""

    def drive(harness: EmulatorHarness, arn: str, probe: Probe) -> None:
        callback_id = await_suspended_callback(harness, arn, name)
        harness.control_client.send_durable_execution_callback_success(
            CallbackId=callback_id, Result=result
        )

    return drive


def fail(name: str, error: Mapping[str, str]) -> Driver:
    """Send ``error`` as the failure of callback ``name`` once the execution waits for it."""

    def drive(harness: EmulatorHarness, arn: str, probe: Probe) -> None:
        callback_id = await_suspended_callback(harness, arn, name)
        harness.control_client.send_durable_execution_callback_failure(
            CallbackId=callback_id, Error=dict(error)
        )

    return drive


HEARTBEAT_TIMEOUT = 2
HEARTBEAT_GAP = 1.2  # < HEARTBEAT_TIMEOUT, but two gaps are > HEARTBEAT_TIMEOUT


def heartbeat_then_answer(name: str, result: bytes) -> Driver:
    """Answer later than the heartbeat timeout after START: only the heartbeat keeps it alive."""

    def drive(harness: EmulatorHarness, arn: str, probe: Probe) -> None:
        callback_id = await_suspended_callback(harness, arn, name)
        time.sleep(HEARTBEAT_GAP)
        harness.control_client.send_durable_execution_callback_heartbeat(CallbackId=callback_id)
        time.sleep(HEARTBEAT_GAP)
        harness.control_client.send_durable_execution_callback_success(
            CallbackId=callback_id, Result=result
        )

    return drive


def answer_submitted(name: str, result: bytes) -> Driver:
    """Answer the id the submitter handed out (the probe's), checked against the log's."""

    def drive(harness: EmulatorHarness, arn: str, probe: Probe) -> None:
        logged = await_suspended_callback(harness, arn, name)
        assert probe.callback_ids == [logged]
        harness.control_client.send_durable_execution_callback_success(
            CallbackId=probe.callback_ids[0], Result=result
        )

    return drive


def answer_in_reverse(harness: EmulatorHarness, arn: str, probe: Probe) -> None:
    """Answer "second", let that re-invocation suspend on "first", then answer "first"."""
    second = await_suspended_callback(harness, arn, "second")
    harness.control_client.send_durable_execution_callback_success(
        CallbackId=second, Result=b'"two"'
    )
    first = await_suspended_callback(harness, arn, "first", invocations=2)
    harness.control_client.send_durable_execution_callback_success(
        CallbackId=first, Result=b'"one"'
    )


def fail_submitted(name: str, error: Mapping[str, str]) -> Driver:
    """Fail the id the submitter handed out, checked against the log's."""

    def drive(harness: EmulatorHarness, arn: str, probe: Probe) -> None:
        logged = await_suspended_callback(harness, arn, name)
        assert probe.callback_ids == [logged]
        harness.control_client.send_durable_execution_callback_failure(
            CallbackId=probe.callback_ids[0], Error=dict(error)
        )

    return drive


# -- the scenarios -----------------------------------------------------------------------

APPROVAL = b'{"approved": true, "by": "caf\xc3\xa9"}'
DENIAL = {
    "ErrorMessage": "denied by the reviewer",
    "ErrorType": "Approval.Denied",
    "ErrorData": '{"ticket": 7}',
}


def describe(exc: Any) -> list[Any]:
    """What a caught operation error carries, comparable across SDKs."""
    return [type(exc).__name__, exc.message, exc.error_type, exc.data]


def _callback_durable(
    config: CallbackConfig | None, *, catch: bool = False
) -> Callable[[Probe], Callable[..., Any]]:
    def make(p: Probe) -> Callable[..., Any]:
        def wf(event: Any, ctx: durable.Context) -> Any:
            before = yield ctx.step(p.count(lambda _: "asked"), name="before")
            cb = yield ctx.create_callback(name="approval", config=config)
            try:
                answer = yield cb.result()
            except DurableOperationError as exc:
                if not catch:
                    raise
                answer = describe(exc)
            after = yield ctx.step(p.count(lambda _: "done"), name="after")
            return [before, answer, after]

        return wf

    return make


def _callback_reference(
    config: Any, *, catch: bool = False
) -> Callable[[Probe], Callable[..., Any]]:
    def make(p: Probe) -> Callable[..., Any]:
        def handler(event: Any, ctx: Any) -> Any:
            before = ctx.step(p.count(lambda _: "asked"), name="before")
            cb = ctx.create_callback(name="approval", config=config)
            try:
                answer = cb.result()
            except ref_exceptions.DurableOperationError as exc:
                if not catch:
                    raise
                answer = describe(exc)
            after = ctx.step(p.count(lambda _: "done"), name="after")
            return [before, answer, after]

        return handler

    return make


def _two_callbacks_durable(p: Probe) -> Callable[..., Any]:
    def wf(event: Any, ctx: durable.Context) -> Any:
        first = yield ctx.create_callback(name="first", config=CallbackConfig(sub_type="Approval"))
        second = yield ctx.create_callback(name="second")
        return [(yield first.result()), (yield second.result())]

    return wf


def _two_callbacks_reference(p: Probe) -> Callable[..., Any]:
    def handler(event: Any, ctx: Any) -> Any:
        first = ctx.create_callback(
            name="first", config=ref_config.CallbackConfig(sub_type="Approval")
        )
        second = ctx.create_callback(name="second")
        return [first.result(), second.result()]

    return handler


def _ref_callback_config(timeout: int = 0, heartbeat_timeout: int = 0) -> Any:
    return ref_config.CallbackConfig(
        timeout=ref_config.Duration.from_seconds(timeout),
        heartbeat_timeout=ref_config.Duration.from_seconds(heartbeat_timeout),
    )


Submitter = Callable[[str, Any], Any]


def _recording(p: Probe) -> Submitter:
    def submit(callback_id: str, context: Any) -> None:
        p.callback_ids.append(callback_id)

    return p.count(submit)


def _answering(p: Probe) -> Submitter:
    """A submitter whose external system answers before the submitter returns."""

    def submit(callback_id: str, context: Any) -> None:
        p.callback_ids.append(callback_id)
        assert p.harness is not None
        p.harness.control_client.send_durable_execution_callback_success(
            CallbackId=callback_id, Result=b'"answered at once"'
        )

    return p.count(submit)


def _refusing(p: Probe) -> Submitter:
    def submit(callback_id: str, context: Any) -> None:
        p.callback_ids.append(callback_id)
        raise ConnectionError("the reviewer cannot be reached")

    return p.count(submit)


def _wait_for_callback_durable(
    submitter: Callable[[Probe], Submitter], config: WaitForCallbackConfig | None = None
) -> Callable[[Probe], Callable[..., Any]]:
    def make(p: Probe) -> Callable[..., Any]:
        def wf(event: Any, ctx: durable.Context) -> Any:
            try:
                verdict = yield ctx.wait_for_callback(submitter(p), name="review", config=config)
            except DurableOperationError as exc:
                verdict = describe(exc)
            return {"verdict": verdict}

        return wf

    return make


def _wait_for_callback_reference(
    submitter: Callable[[Probe], Submitter], config: Any = None
) -> Callable[[Probe], Callable[..., Any]]:
    def make(p: Probe) -> Callable[..., Any]:
        def handler(event: Any, ctx: Any) -> Any:
            try:
                verdict = ctx.wait_for_callback(submitter(p), name="review", config=config)
            except ref_exceptions.DurableOperationError as exc:
                verdict = describe(exc)
            return {"verdict": verdict}

        return handler

    return make


# Chained-invoke targets. The plain ones serve both SDKs; a durable one is
# written with the same SDK as its caller.


def _doubler(client: Any) -> Handler:
    def handler(event: Any, context: Any) -> Any:
        return {"doubled": event["n"] * 2, "seen": event}

    return handler


def _tenant_echo(client: Any) -> Handler:
    def handler(event: Any, context: Any) -> Any:
        return {"tenant": context.tenant_id, "seen": event}

    return handler


def _refuser(client: Any) -> Handler:
    def handler(event: Any, context: Any) -> Any:
        raise ValueError(f"target refused {event}")

    return handler


def _incrementer_durable(client: Any) -> Handler:
    def wf(event: Any, ctx: durable.Context) -> Any:
        n = yield ctx.step(lambda _: event["n"] + 1, name="increment")
        if n > 100:
            raise ValueError(f"{n} is too big")
        return {"incremented": n}

    return durable.workflow(boto3_client=client)(wf)


def _incrementer_reference(client: Any) -> Handler:
    def handler(event: Any, ctx: Any) -> Any:
        n = ctx.step(lambda _: event["n"] + 1, name="increment")
        if n > 100:
            raise ValueError(f"{n} is too big")
        return {"incremented": n}

    wrapped: Handler = ref_durable_execution(handler, boto3_client=client)
    return wrapped


TARGETS = {
    "doubler": {},
    "refuser": {},
    "tenant-echo": {},
    "incrementer": {"DurableConfig": {"ExecutionTimeout": 60}},
}
PLAIN_TARGETS = {"doubler": _doubler, "refuser": _refuser, "tenant-echo": _tenant_echo}
DURABLE_TARGETS = {**PLAIN_TARGETS, "incrementer": _incrementer_durable}
REFERENCE_TARGETS = {**PLAIN_TARGETS, "incrementer": _incrementer_reference}


def _invoke_durable(
    target: str, *, catch: bool = False, tenant: str | None = None
) -> Callable[[Probe], Callable[..., Any]]:
    config = InvokeConfig(tenant_id=tenant) if tenant is not None else None

    def make(p: Probe) -> Callable[..., Any]:
        def wf(event: Any, ctx: durable.Context) -> Any:
            payload = {"n": event["n"], "tag": "é"}
            try:
                answer = yield ctx.invoke(target, payload, name="call", config=config)
            except DurableOperationError as exc:
                if not catch:
                    raise
                answer = describe(exc)
            after = yield ctx.step(p.count(lambda _: "after"), name="after")
            return [answer, after]

        return wf

    return make


def _invoke_reference(
    target: str, *, catch: bool = False, tenant: str | None = None
) -> Callable[[Probe], Callable[..., Any]]:
    config: Any = ref_config.InvokeConfig(tenant_id=tenant) if tenant is not None else None

    def make(p: Probe) -> Callable[..., Any]:
        def handler(event: Any, ctx: Any) -> Any:
            payload = {"n": event["n"], "tag": "é"}
            try:
                answer = ctx.invoke(target, payload, name="call", config=config)
            except ref_exceptions.DurableOperationError as exc:
                if not catch:
                    raise
                answer = describe(exc)
            after = ctx.step(p.count(lambda _: "after"), name="after")
            return [answer, after]

        return handler

    return make


def _counting(p: Probe) -> Callable[[Any, Any], Any]:
    def check(state: Any, check_ctx: Any) -> Any:
        return {"count": state["count"] + 1, "attempts": [*state["attempts"], check_ctx.attempt]}

    return p.count(check)


def _flaky_sensor(p: Probe) -> Callable[[Any, Any], Any]:
    def check(state: Any, check_ctx: Any) -> Any:
        if check_ctx.attempt == 2:
            raise ConnectionError(f"sensor offline at {state['count']}")
        return {"count": state["count"] + 1, "attempts": [*state["attempts"], check_ctx.attempt]}

    return p.count(check)


def _keep_polling(state: Any) -> bool:
    return bool(state["count"] < 3)


INITIAL_STATE = {"count": 0, "attempts": []}


def _condition_durable(
    check: Callable[[Probe], Callable[[Any, Any], Any]], max_attempts: int = 60
) -> Callable[[Probe], Callable[..., Any]]:
    strategy = create_wait_strategy(
        WaitStrategyConfig(
            should_continue_polling=_keep_polling,
            max_attempts=max_attempts,
            initial_delay=Duration(1),
            max_delay=Duration(1),
            backoff_rate=1,
            jitter_strategy=JitterStrategy.NONE,
        )
    )
    config = WaitForConditionConfig(wait_strategy=strategy, initial_state=INITIAL_STATE)

    def make(p: Probe) -> Callable[..., Any]:
        def wf(event: Any, ctx: durable.Context) -> Any:
            try:
                return (yield ctx.wait_for_condition(check(p), config=config, name="counter"))
            except DurableOperationError as exc:
                return describe(exc)

        return wf

    return make


def _condition_reference(
    check: Callable[[Probe], Callable[[Any, Any], Any]], max_attempts: int = 60
) -> Callable[[Probe], Callable[..., Any]]:
    strategy = ref_waits.create_wait_strategy(
        ref_waits.WaitStrategyConfig(
            should_continue_polling=_keep_polling,
            max_attempts=max_attempts,
            initial_delay=ref_config.Duration.from_seconds(1),
            max_delay=ref_config.Duration.from_seconds(1),
            backoff_rate=1,
            jitter_strategy=ref_config.JitterStrategy.NONE,
        )
    )
    config = ref_waits.WaitForConditionConfig(wait_strategy=strategy, initial_state=INITIAL_STATE)

    def make(p: Probe) -> Callable[..., Any]:
        def handler(event: Any, ctx: Any) -> Any:
            try:
                return ctx.wait_for_condition(check(p), config=config, name="counter")
            except ref_exceptions.DurableOperationError as exc:
                return describe(exc)

        return handler

    return make


def invoke_scenario(
    name: str, target: str, *, catch: bool = False, n: int = 20, tenant: str | None = None
) -> Scenario:
    """A chained invoke of ``target``, served by the harness and configured in the emulator."""
    return Scenario(
        name,
        _invoke_durable(target, catch=catch, tenant=tenant),
        _invoke_reference(target, catch=catch, tenant=tenant),
        input={"n": n},
        harness_options={"function_configs": TARGETS},
        durable_targets=DURABLE_TARGETS,
        reference_targets=REFERENCE_TARGETS,
        children=1 if target == "incrementer" else 0,
    )


SCENARIOS = [
    # create_callback / Callback.result()
    Scenario(
        "callback-success",
        _callback_durable(CallbackConfig(timeout=Duration(60))),
        _callback_reference(_ref_callback_config(timeout=60)),
        drive=answer("approval", APPROVAL),
    ),
    Scenario(
        "callback-success-json",
        _callback_durable(CallbackConfig(serdes=JsonSerDes())),
        _callback_reference(ref_config.CallbackConfig(serdes=ref_serdes.JsonSerDes())),
        drive=answer("approval", APPROVAL),
    ),
    Scenario(
        "callback-empty-answer",
        _callback_durable(None),
        _callback_reference(None),
        drive=answer("approval", b""),
    ),
    Scenario(
        "callback-failure",
        _callback_durable(None),
        _callback_reference(None),
        drive=fail("approval", DENIAL),
    ),
    Scenario(
        "callback-failure-bare",
        _callback_durable(None, catch=True),
        _callback_reference(None, catch=True),
        drive=fail("approval", {}),
    ),
    Scenario(
        "callback-heartbeat",
        _callback_durable(CallbackConfig(heartbeat_timeout=Duration(HEARTBEAT_TIMEOUT))),
        _callback_reference(_ref_callback_config(heartbeat_timeout=HEARTBEAT_TIMEOUT)),
        drive=heartbeat_then_answer("approval", APPROVAL),
    ),
    Scenario(
        "callback-timeout",
        _callback_durable(CallbackConfig(timeout=Duration(1)), catch=True),
        _callback_reference(_ref_callback_config(timeout=1), catch=True),
    ),
    Scenario(
        "callback-heartbeat-timeout",
        _callback_durable(CallbackConfig(timeout=Duration(60), heartbeat_timeout=Duration(1))),
        _callback_reference(_ref_callback_config(timeout=60, heartbeat_timeout=1)),
    ),
    Scenario(
        "two-callbacks",
        _two_callbacks_durable,
        _two_callbacks_reference,
        drive=answer_in_reverse,
    ),
    # wait_for_callback
    Scenario(
        "wait-for-callback",
        _wait_for_callback_durable(
            _recording, WaitForCallbackConfig(timeout=Duration(60), serdes=JsonSerDes())
        ),
        _wait_for_callback_reference(
            _recording,
            ref_config.WaitForCallbackConfig(
                timeout=ref_config.Duration.from_seconds(60), serdes=ref_serdes.JsonSerDes()
            ),
        ),
        drive=answer_submitted("review create callback id", b'{"verdict": "looks good"}'),
    ),
    Scenario(
        "wait-for-callback-at-once",
        _wait_for_callback_durable(_answering),
        _wait_for_callback_reference(_answering),
    ),
    Scenario(
        "wait-for-callback-failure",
        _wait_for_callback_durable(_recording),
        _wait_for_callback_reference(_recording),
        drive=fail_submitted("review create callback id", DENIAL),
    ),
    Scenario(
        "wait-for-callback-submitter-fails",
        _wait_for_callback_durable(
            _refusing, WaitForCallbackConfig(retry_strategy=RetryPresets.none())
        ),
        _wait_for_callback_reference(
            _refusing,
            ref_config.WaitForCallbackConfig(retry_strategy=ref_retries.RetryPresets.none()),
        ),
    ),
    # invoke
    invoke_scenario("invoke-plain", "doubler"),
    invoke_scenario("invoke-plain-raises", "refuser", catch=True),
    invoke_scenario("invoke-tenant", "tenant-echo", tenant="acme-1"),
    invoke_scenario("invoke-durable", "incrementer"),
    invoke_scenario("invoke-durable-fails", "incrementer", catch=True, n=200),
    invoke_scenario("invoke-unknown", "no-such-function"),
    # wait_for_condition
    Scenario("wait-for-condition", _condition_durable(_counting), _condition_reference(_counting)),
    Scenario(
        "wait-for-condition-check-raises",
        _condition_durable(_flaky_sensor),
        _condition_reference(_flaky_sensor),
    ),
    Scenario(
        "wait-for-condition-exhausted",
        _condition_durable(_counting, max_attempts=2),
        _condition_reference(_counting, max_attempts=2),
    ),
]

# -- running and comparing -----------------------------------------------------------------

#: A target's Invoke is answered after this delay: a real function takes a
#: moment to start, and an instant one can race its caller (emulator.md).
TARGET_DELAY = 0.2


@attrs.frozen
class Run:
    harness: EmulatorHarness
    result: ExecutionResult
    probe: Probe


def _run(
    scenario: Scenario,
    handler: Handler,
    probe: Probe,
    targets: Mapping[str, TargetFactory],
    harness: EmulatorHarness,
) -> Run:
    probe.harness = harness
    harness.register(scenario.name, handler)
    for name, make in targets.items():
        harness.register(name, make(harness.client), delay=TARGET_DELAY)
    arn = harness.start_execution(scenario.name, scenario.input)
    scenario.drive(harness, arn, probe)
    return Run(harness, harness.wait(arn, timeout=TIMEOUT), probe)


#: Each SDK's run of each scenario, {(scenario, "durable" | "reference"): Run}: the
#: replay tests reuse the side-by-side test's runs (the recorder outlives the
#: emulator), which halves the file's time; run alone, they make their own.
RUNS: dict[tuple[str, str], Run] = {}


def run_durable(factory: EmulatorFactory, scenario: Scenario) -> Run:
    harness = factory(**scenario.harness_options)
    probe = Probe()
    handler = durable.workflow(boto3_client=harness.client)(scenario.durable_fn(probe))
    run = _run(scenario, handler, probe, scenario.durable_targets, harness)
    RUNS[scenario.name, "durable"] = run
    return run


def run_reference(factory: EmulatorFactory, scenario: Scenario) -> Run:
    harness = factory(**scenario.harness_options)
    probe = Probe()
    handler = ref_durable_execution(scenario.reference_fn(probe), boto3_client=harness.client)
    run = _run(scenario, handler, probe, scenario.reference_targets, harness)
    RUNS[scenario.name, "reference"] = run
    return run


def essence(operations: list[dict[str, Any]]) -> list[Any]:
    """:func:`log_essence`, with each (service-minted, per-execution) callback id masked."""
    out = log_essence(operations)
    for op in out:
        details = op.get("CallbackDetails")
        if details is not None:
            assert isinstance(details.get("CallbackId"), str) and details["CallbackId"]
            op["CallbackDetails"] = {**details, "CallbackId": "<callback id>"}
    return out


def children(run: Run) -> list[str]:
    """The ARNs of executions the run started through chained invokes."""
    return [arn for arn in run.harness.recorder.arns() if arn != run.result.arn]


def replay_in_durable(scenario: Scenario, source: Run) -> tuple[dict[str, Any], Probe]:
    probe = Probe()
    return durable_replay(scenario.durable_fn(probe), source.result), probe


def replay_in_reference(scenario: Scenario, source: Run) -> tuple[dict[str, Any], Probe]:
    probe = Probe()
    output = reference_replay(scenario.reference_fn(probe), source.result, scenario.name)
    return output, probe


def _same_outcome(output: dict[str, Any], result: ExecutionResult) -> None:
    assert output["Status"] == result.status
    if output["Status"] == "SUCCEEDED":
        assert json.loads(output["Result"]) == result.result
    else:
        assert output["Error"] == result.error


# -- the tests ---------------------------------------------------------------------------


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_durable_matches_the_reference_on_the_emulator(
    emulator_factory: EmulatorFactory, scenario: Scenario
) -> None:
    """Same outcome, same per-operation updates, same final log, no more round trips."""
    # The two executions run at the same time, each on its own emulator.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix=scenario.name) as pool:
        running = pool.submit(run_durable, emulator_factory, scenario)
        theirs = run_reference(emulator_factory, scenario)
        mine = running.result(timeout=2 * TIMEOUT)

    assert outcome(mine.result) == outcome(theirs.result)
    assert updates_by_operation(mine.harness, mine.result.arn) == updates_by_operation(
        theirs.harness, theirs.result.arn
    )
    assert essence(mine.result.final_operations()) == essence(theirs.result.final_operations())
    assert mine.probe.runs == theirs.probe.runs
    mine_calls = mine.harness.checkpoint_count(mine.result.arn)
    their_calls = theirs.harness.checkpoint_count(theirs.result.arn)
    ROUND_TRIPS[scenario.name] = {"durable": mine_calls, "reference": their_calls}
    assert mine_calls <= their_calls
    assert [o["Status"] for o in mine.harness.outputs(mine.result.arn)] == [
        o["Status"] for o in theirs.harness.outputs(theirs.result.arn)
    ]
    # A durable target is an execution of its own, written by the same SDK.
    my_children, their_children = children(mine), children(theirs)
    assert len(my_children) == len(their_children) == scenario.children
    for my_child, their_child in zip(my_children, their_children, strict=True):
        assert updates_by_operation(mine.harness, my_child) == updates_by_operation(
            theirs.harness, their_child
        )
        assert essence(mine.harness.final_operations(my_child)) == essence(
            theirs.harness.final_operations(their_child)
        )
        counts = {
            "durable": mine.harness.checkpoint_count(my_child),
            "reference": theirs.harness.checkpoint_count(their_child),
        }
        ROUND_TRIPS[f"{scenario.name} (target)"] = counts
        assert counts["durable"] <= counts["reference"]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_a_log_written_by_the_reference_replays_in_durable(
    emulator_factory: EmulatorFactory, scenario: Scenario
) -> None:
    """The reference's final log replays in durable: same outcome, no body, no call."""
    theirs = RUNS.get((scenario.name, "reference")) or run_reference(emulator_factory, scenario)
    output, probe = replay_in_durable(scenario, theirs)
    assert probe.runs == 0
    assert probe.callback_ids == []
    _same_outcome(output, theirs.result)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_a_log_written_by_durable_replays_in_the_reference(
    emulator_factory: EmulatorFactory, scenario: Scenario
) -> None:
    """durable's final log replays in the reference SDK: same outcome, no body, no call."""
    mine = RUNS.get((scenario.name, "durable")) or run_durable(emulator_factory, scenario)
    output, probe = replay_in_reference(scenario, mine)
    assert probe.runs == 0
    assert probe.callback_ids == []
    _same_outcome(output, mine.result)


def test_round_trip_report() -> None:
    """Print durable's and the reference's checkpoint calls per scenario (run with -s)."""
    if not ROUND_TRIPS:
        pytest.skip("the side-by-side tests did not run in this session")
    lines = [
        f"{name:34} durable {c['durable']:3}  reference {c['reference']:3}"
        for name, c in ROUND_TRIPS.items()
    ]
    print("\ncheckpoint calls per execution\n" + "\n".join(lines))
    assert all(c["durable"] <= c["reference"] for c in ROUND_TRIPS.values())
