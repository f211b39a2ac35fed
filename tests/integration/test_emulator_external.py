"""Operations that wait for the world, on the emulator, side by side with the reference SDK.

Callbacks answered through the public API (success, failure, heartbeat then
success, timeout), ``wait_for_callback``, chained invokes of a plain, a
durable and an unknown function, and ``wait_for_condition``. Each scenario is
written twice, once per SDK, with the same logic and the same names; each
runs on its own emulator over HTTP, the test playing the external system
through boto3 on the harness's control client. Then:

* the outcome (status, result, error) is the same;
* the updates each operation receives are the same, byte for byte;
* the final operation logs are the same apart from timestamps and the
  service-minted callback ids;
* durable makes no more checkpoint calls than the reference;
* each SDK's final log replays in the *other* SDK with no body run (step,
  submitter, check) and no call to the service.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import Any

import attrs
import boto3
import pytest
from botocore.config import Config
from botocore.stub import Stubber

import durable
from durable import (
    CallbackConfig,
    CallbackTimeoutError,
    Duration,
    JitterStrategy,
    WaitForCallbackConfig,
    WaitForConditionConfig,
    WaitStrategyConfig,
    create_wait_strategy,
)
from durable.lambda_ import handle
from durable.serdes import JsonSerDes
from tests.integration.compare import (
    RefusingService,
    log_essence,
    outcome,
    replay_event,
    updates_by_operation,
)
from tests.integration.conftest import EmulatorFactory
from tests.integration.emulator import (
    EmulatorHarness,
    ExecutionResult,
    FakeLambdaContext,
    Handler,
)

pytestmark = pytest.mark.interop

pytest.importorskip("aws_durable_execution_sdk_python_testing.runner")
ref = pytest.importorskip("aws_durable_execution_sdk_python")

from aws_durable_execution_sdk_python import config as ref_config  # noqa: E402
from aws_durable_execution_sdk_python import durable_execution as ref_durable_execution  # noqa: E402
from aws_durable_execution_sdk_python import exceptions as ref_exceptions  # noqa: E402
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


# -- playing the external system ---------------------------------------------------------


def _operations(harness: EmulatorHarness, arn: str) -> list[dict[str, Any]]:
    try:
        return harness.final_operations(arn)
    except LookupError:  # not invoked yet
        return []


def await_suspended_callback(
    harness: EmulatorHarness, arn: str, name: str, timeout: float = TIMEOUT
) -> str:
    """The id of callback ``name`` once it is STARTED and no invocation is running.

    Answering only once the invocation has returned keeps both SDKs on the
    same path (suspend, then be re-invoked with the answer).
    """
    deadline = time.monotonic() + timeout
    while True:
        invocations = harness.invocations(arn)
        idle = bool(invocations) and all(r.finished is not None for r in invocations)
        for op in _operations(harness, arn):
            if op["Type"] == "CALLBACK" and op.get("Name") == name and op["Status"] == "STARTED":
                if idle:
                    return str(op["CallbackDetails"]["CallbackId"])
        if time.monotonic() >= deadline:
            msg = f"callback {name!r} not waiting after {timeout}s; {harness.summary(arn)}"
            raise TimeoutError(msg)
        time.sleep(0.02)


def _answer(result: bytes) -> Callable[[str], Driver]:
    def for_callback(name: str) -> Driver:
        def drive(harness: EmulatorHarness, arn: str, probe: Probe) -> None:
            callback_id = await_suspended_callback(harness, arn, name)
            harness.control_client.send_durable_execution_callback_success(
                CallbackId=callback_id, Result=result
            )

        return drive

    return for_callback


APPROVAL = b'{"approved": true, "by": "caf\xc3\xa9"}'
DENIAL = {
    "ErrorMessage": "denied by the reviewer",
    "ErrorType": "Approval.Denied",
    "ErrorData": '{"ticket": 7}',
}


def _deny(harness: EmulatorHarness, arn: str, probe: Probe) -> None:
    callback_id = await_suspended_callback(harness, arn, "approval")
    harness.control_client.send_durable_execution_callback_failure(
        CallbackId=callback_id, Error=DENIAL
    )


HEARTBEAT_TIMEOUT = 2
HEARTBEAT_GAP = 1.2  # < HEARTBEAT_TIMEOUT, but two gaps are > HEARTBEAT_TIMEOUT


def _heartbeat_then_answer(harness: EmulatorHarness, arn: str, probe: Probe) -> None:
    """Answer later than the heartbeat timeout after START: only the heartbeat keeps it alive."""
    callback_id = await_suspended_callback(harness, arn, "approval")
    time.sleep(HEARTBEAT_GAP)
    harness.control_client.send_durable_execution_callback_heartbeat(CallbackId=callback_id)
    time.sleep(HEARTBEAT_GAP)
    harness.control_client.send_durable_execution_callback_success(
        CallbackId=callback_id, Result=APPROVAL
    )


def _answer_submitted(harness: EmulatorHarness, arn: str, probe: Probe) -> None:
    """Answer the id the submitter handed out (read from the probe, not from the log)."""
    logged = await_suspended_callback(harness, arn, "review create callback id")
    assert probe.callback_ids == [logged]
    harness.control_client.send_durable_execution_callback_success(
        CallbackId=probe.callback_ids[0], Result=b'"looks good"'
    )


# -- the scenarios -----------------------------------------------------------------------


def _callback_durable(config: CallbackConfig | None) -> Callable[[Probe], Callable[..., Any]]:
    def make(p: Probe) -> Callable[..., Any]:
        def wf(event: Any, ctx: durable.Context) -> Any:
            before = yield ctx.step(p.count(lambda _: "asked"), name="before")
            cb = yield ctx.create_callback(name="approval", config=config)
            answer = yield cb.result()
            after = yield ctx.step(p.count(lambda _: "done"), name="after")
            return [before, answer, after]

        return wf

    return make


def _callback_reference(config: Any) -> Callable[[Probe], Callable[..., Any]]:
    def make(p: Probe) -> Callable[..., Any]:
        def handler(event: Any, ctx: Any) -> Any:
            before = ctx.step(p.count(lambda _: "asked"), name="before")
            cb = ctx.create_callback(name="approval", config=config)
            answer = cb.result()
            after = ctx.step(p.count(lambda _: "done"), name="after")
            return [before, answer, after]

        return handler

    return make


def _timeout_durable(p: Probe) -> Callable[..., Any]:
    def wf(event: Any, ctx: durable.Context) -> Any:
        cb = yield ctx.create_callback(name="approval", config=CallbackConfig(timeout=Duration(1)))
        try:
            yield cb.result()
        except CallbackTimeoutError as exc:
            return (yield ctx.step(p.count(lambda _: ["timed out", exc.message]), name="fallback"))
        return "answered"

    return wf


def _timeout_reference(p: Probe) -> Callable[..., Any]:
    def handler(event: Any, ctx: Any) -> Any:
        cb = ctx.create_callback(
            name="approval",
            config=ref_config.CallbackConfig(timeout=ref_config.Duration.from_seconds(1)),
        )
        try:
            cb.result()
        except ref_exceptions.CallbackTimeoutError as exc:
            return ctx.step(p.count(lambda _: ["timed out", exc.message]), name="fallback")
        return "answered"

    return handler


def _submitter(p: Probe) -> Callable[[str, Any], None]:
    def submit(callback_id: str, context: Any) -> None:
        p.callback_ids.append(callback_id)

    return p.count(submit)


def _wait_for_callback_durable(p: Probe) -> Callable[..., Any]:
    config = WaitForCallbackConfig(timeout=Duration(60), serdes=JsonSerDes())

    def wf(event: Any, ctx: durable.Context) -> Any:
        verdict = yield ctx.wait_for_callback(_submitter(p), name="review", config=config)
        return {"verdict": verdict}

    return wf


def _wait_for_callback_reference(p: Probe) -> Callable[..., Any]:
    config = ref_config.WaitForCallbackConfig(
        timeout=ref_config.Duration.from_seconds(60), serdes=ref_serdes.JsonSerDes()
    )

    def handler(event: Any, ctx: Any) -> Any:
        verdict = ctx.wait_for_callback(_submitter(p), name="review", config=config)
        return {"verdict": verdict}

    return handler


def _plain_target(client: Any) -> Handler:
    def handler(event: Any, context: Any) -> Any:
        return {"doubled": event["n"] * 2, "seen": event}

    return handler


def _durable_target_durable(client: Any) -> Handler:
    def wf(event: Any, ctx: durable.Context) -> Any:
        n = yield ctx.step(lambda _: event["n"] + 1, name="increment")
        return {"incremented": n}

    return durable.workflow(boto3_client=client)(wf)


def _durable_target_reference(client: Any) -> Handler:
    def handler(event: Any, ctx: Any) -> Any:
        n = ctx.step(lambda _: event["n"] + 1, name="increment")
        return {"incremented": n}

    return ref_durable_execution(handler, boto3_client=client)  # type: ignore[no-any-return]


def _invoke_durable(target: str) -> Callable[[Probe], Callable[..., Any]]:
    def make(p: Probe) -> Callable[..., Any]:
        def wf(event: Any, ctx: durable.Context) -> Any:
            answer = yield ctx.invoke(target, {"n": event["n"], "tag": "é"}, name="call target")
            after = yield ctx.step(p.count(lambda _: "after"), name="after")
            return [answer, after]

        return wf

    return make


def _invoke_reference(target: str) -> Callable[[Probe], Callable[..., Any]]:
    def make(p: Probe) -> Callable[..., Any]:
        def handler(event: Any, ctx: Any) -> Any:
            answer = ctx.invoke(target, {"n": event["n"], "tag": "é"}, name="call target")
            after = ctx.step(p.count(lambda _: "after"), name="after")
            return [answer, after]

        return handler

    return make


def _check(p: Probe) -> Callable[[Any, Any], Any]:
    def check(state: Any, check_ctx: Any) -> Any:
        return {"count": state["count"] + 1, "attempts": [*state["attempts"], check_ctx.attempt]}

    return p.count(check)


def _keep_polling(state: Any) -> bool:
    return bool(state["count"] < 3)


INITIAL_STATE = {"count": 0, "attempts": []}


def _condition_durable(p: Probe) -> Callable[..., Any]:
    strategy = create_wait_strategy(
        WaitStrategyConfig(
            should_continue_polling=_keep_polling,
            initial_delay=Duration(1),
            max_delay=Duration(1),
            backoff_rate=1,
            jitter_strategy=JitterStrategy.NONE,
        )
    )
    config = WaitForConditionConfig(wait_strategy=strategy, initial_state=INITIAL_STATE)

    def wf(event: Any, ctx: durable.Context) -> Any:
        final = yield ctx.wait_for_condition(_check(p), config=config, name="counter")
        return final

    return wf


def _condition_reference(p: Probe) -> Callable[..., Any]:
    strategy = ref_waits.create_wait_strategy(
        ref_waits.WaitStrategyConfig(
            should_continue_polling=_keep_polling,
            initial_delay=ref_config.Duration.from_seconds(1),
            max_delay=ref_config.Duration.from_seconds(1),
            backoff_rate=1,
            jitter_strategy=ref_config.JitterStrategy.NONE,
        )
    )
    config = ref_waits.WaitForConditionConfig(wait_strategy=strategy, initial_state=INITIAL_STATE)

    def handler(event: Any, ctx: Any) -> Any:
        return ctx.wait_for_condition(_check(p), config=config, name="counter")

    return handler


TARGETS = {"plain-target": {}, "durable-target": {"DurableConfig": {"ExecutionTimeout": 60}}}

SCENARIOS = [
    Scenario(
        "callback-success",
        _callback_durable(CallbackConfig(timeout=Duration(60))),
        _callback_reference(
            ref_config.CallbackConfig(timeout=ref_config.Duration.from_seconds(60))
        ),
        drive=_answer(APPROVAL)("approval"),
    ),
    Scenario(
        "callback-success-json",
        _callback_durable(CallbackConfig(serdes=JsonSerDes())),
        _callback_reference(ref_config.CallbackConfig(serdes=ref_serdes.JsonSerDes())),
        drive=_answer(APPROVAL)("approval"),
    ),
    Scenario(
        "callback-failure",
        _callback_durable(None),
        _callback_reference(None),
        drive=_deny,
    ),
    Scenario(
        "callback-heartbeat",
        _callback_durable(CallbackConfig(heartbeat_timeout=Duration(HEARTBEAT_TIMEOUT))),
        _callback_reference(
            ref_config.CallbackConfig(
                heartbeat_timeout=ref_config.Duration.from_seconds(HEARTBEAT_TIMEOUT)
            )
        ),
        drive=_heartbeat_then_answer,
    ),
    Scenario("callback-timeout", _timeout_durable, _timeout_reference),
    Scenario(
        "wait-for-callback",
        _wait_for_callback_durable,
        _wait_for_callback_reference,
        drive=_answer_submitted,
    ),
    Scenario(
        "invoke-plain",
        _invoke_durable("plain-target"),
        _invoke_reference("plain-target"),
        input={"n": 20},
        harness_options={"function_configs": TARGETS},
        durable_targets={"plain-target": _plain_target},
        reference_targets={"plain-target": _plain_target},
    ),
    Scenario(
        "invoke-durable",
        _invoke_durable("durable-target"),
        _invoke_reference("durable-target"),
        input={"n": 20},
        harness_options={"function_configs": TARGETS},
        durable_targets={"durable-target": _durable_target_durable},
        reference_targets={"durable-target": _durable_target_reference},
    ),
    Scenario(
        "invoke-unknown",
        _invoke_durable("no-such-function"),
        _invoke_reference("no-such-function"),
        input={"n": 20},
        harness_options={"function_configs": TARGETS},
    ),
    Scenario("wait-for-condition", _condition_durable, _condition_reference),
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
    factory: EmulatorFactory,
    scenario: Scenario,
    handler: Handler,
    probe: Probe,
    targets: Mapping[str, TargetFactory],
    harness: EmulatorHarness,
) -> Run:
    harness.register(scenario.name, handler)
    for name, make in targets.items():
        harness.register(name, make(harness.client), delay=TARGET_DELAY)
    arn = harness.start_execution(scenario.name, scenario.input)
    scenario.drive(harness, arn, probe)
    return Run(harness, harness.wait(arn, timeout=TIMEOUT), probe)


def run_durable(factory: EmulatorFactory, scenario: Scenario) -> Run:
    harness = factory(**scenario.harness_options)
    probe = Probe()
    handler = durable.workflow(boto3_client=harness.client)(scenario.durable_fn(probe))
    return _run(factory, scenario, handler, probe, scenario.durable_targets, harness)


def run_reference(factory: EmulatorFactory, scenario: Scenario) -> Run:
    harness = factory(**scenario.harness_options)
    probe = Probe()
    handler = ref_durable_execution(scenario.reference_fn(probe), boto3_client=harness.client)
    return _run(factory, scenario, handler, probe, scenario.reference_targets, harness)


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
    workflow = durable.workflow(scenario.durable_fn(probe))
    output = handle(workflow, replay_event(source.result), None, service=RefusingService())
    return output, probe


def replay_in_reference(scenario: Scenario, source: Run) -> tuple[dict[str, Any], Probe]:
    client = boto3.client(
        "lambda",
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
        config=Config(retries={"total_max_attempts": 1}),
    )
    probe = Probe()
    handler = ref_durable_execution(scenario.reference_fn(probe), boto3_client=client)
    with Stubber(client) as stub:  # any call to the service raises
        context = FakeLambdaContext(
            function_name=scenario.name,
            aws_request_id="replay",
            invoked_function_arn=f"arn:aws:lambda:us-east-1:123456789012:function:{scenario.name}",
        )
        output = handler(replay_event(source.result), context)
        stub.assert_no_pending_responses()
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
    mine = run_durable(emulator_factory, scenario)
    theirs = run_reference(emulator_factory, scenario)

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
    assert len(my_children) == len(their_children)
    for my_child, their_child in zip(my_children, their_children, strict=True):
        assert updates_by_operation(mine.harness, my_child) == updates_by_operation(
            theirs.harness, their_child
        )
        assert essence(mine.harness.final_operations(my_child)) == essence(
            theirs.harness.final_operations(their_child)
        )


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_a_log_written_by_the_reference_replays_in_durable(
    emulator_factory: EmulatorFactory, scenario: Scenario
) -> None:
    """The reference's final log replays in durable: same outcome, no body, no call."""
    theirs = run_reference(emulator_factory, scenario)
    output, probe = replay_in_durable(scenario, theirs)
    assert probe.runs == 0
    assert probe.callback_ids == []
    _same_outcome(output, theirs.result)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_a_log_written_by_durable_replays_in_the_reference(
    emulator_factory: EmulatorFactory, scenario: Scenario
) -> None:
    """durable's final log replays in the reference SDK: same outcome, no body, no call."""
    mine = run_durable(emulator_factory, scenario)
    output, probe = replay_in_reference(scenario, mine)
    assert probe.runs == 0
    assert probe.callback_ids == []
    _same_outcome(output, mine.result)


def test_round_trip_report() -> None:
    """Print durable's and the reference's checkpoint calls per scenario (run with -s)."""
    if not ROUND_TRIPS:
        pytest.skip("the side-by-side tests did not run in this session")
    lines = [
        f"{name:22} durable {c['durable']:3}  reference {c['reference']:3}"
        for name, c in ROUND_TRIPS.items()
    ]
    print("\ncheckpoint calls per execution\n" + "\n".join(lines))
    assert all(c["durable"] <= c["reference"] for c in ROUND_TRIPS.values())
