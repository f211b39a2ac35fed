"""durable's Lambda adapter against the service emulator, side by side with the reference SDK.

Each scenario is written twice, once per SDK, with the same logic and the same
operation names. Both run on their own emulator (its skipped clock is global
to the runner), over HTTP, through a real boto3 client. Then:

* the outcome (status, result, error) is the same;
* the updates each operation receives are the same, in the same order, byte
  for byte (request boundaries may differ: that is the batching);
* durable makes no more checkpoint calls than the reference;
* the final operation logs are the same apart from timestamps;
* each SDK's final log replays in the *other* SDK with no step body run and
  no call to the service (cross-SDK replay, issue 3 item 5).
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import attrs
import pytest

import durable
from durable import (
    JitterStrategy,
    RetryPresets,
    RetryStrategyConfig,
    StepConfig,
    StepSemantics,
    create_retry_strategy,
)
from durable.runtime import LAMBDA_RESPONSE_SIZE_LIMIT
from tests.integration.compare import (
    log_essence,
    outcome,
    updates_by_operation,
)
from tests.integration.compare import replay_in_durable as durable_replay
from tests.integration.compare import replay_in_reference as reference_replay
from tests.integration.conftest import EmulatorFactory
from tests.integration.emulator import EmulatorHarness, ExecutionResult

pytestmark = pytest.mark.interop

pytest.importorskip("aws_durable_execution_sdk_python_testing.runner")
ref = pytest.importorskip("aws_durable_execution_sdk_python")

from aws_durable_execution_sdk_python import config as ref_config  # noqa: E402
from aws_durable_execution_sdk_python import durable_execution as ref_durable_execution  # noqa: E402
from aws_durable_execution_sdk_python import retries as ref_retries  # noqa: E402

Body = Callable[[Any], Any]
RefHandler = Callable[[Any, Any], Any]

#: Checkpoint calls per scenario, {"durable": n, "reference": m}, for the report.
ROUND_TRIPS: dict[str, dict[str, int]] = {}


class Bodies:
    """Step bodies shared by both SDKs' versions of a scenario, counting runs."""

    def __init__(self) -> None:
        self.runs = 0

    def __call__(self, fn: Body) -> Body:
        def counted(step_ctx: Any) -> Any:
            self.runs += 1
            return fn(step_ctx)

        return counted


@attrs.frozen
class Scenario:
    name: str
    #: (bodies) -> durable workflow function (event, ctx)
    durable_fn: Callable[[Bodies], Callable[[Any, durable.Context], Any]]
    #: (bodies) -> reference handler function (event, DurableContext)
    reference_fn: Callable[[Bodies], Callable[[Any, Any], Any]]
    input: Any = None
    harness_options: dict[str, Any] = attrs.field(factory=dict)
    #: False when even a replay must write (an oversized result is checkpointed
    #: again by whichever SDK finishes the execution).
    pure_replay: bool = True


# -- the scenarios ------------------------------------------------------------------


def _trace_durable(b: Bodies) -> Callable[..., Any]:
    @durable.step
    def greet(step_ctx: durable.StepContext, name: str) -> dict[str, str]:
        return b(lambda _: {"msg": f"Hello {name}"})(step_ctx)  # type: ignore[no-any-return]

    def wf(event: Any, ctx: durable.Context) -> Any:
        r = yield greet(event["name"])
        yield ctx.wait(2, name="w")
        n = yield ctx.step(b(lambda _: 5), name="five")
        return [r, n]

    return wf


def _trace_reference(b: Bodies) -> Callable[..., Any]:
    @ref.durable_step
    def greet(step_ctx: Any, name: str) -> dict[str, str]:
        return b(lambda _: {"msg": f"Hello {name}"})(step_ctx)  # type: ignore[no-any-return]

    def handler(event: Any, ctx: Any) -> Any:
        r = ctx.step(greet(event["name"]))
        ctx.wait(ref_config.Duration.from_seconds(2), name="w")
        n = ctx.step(b(lambda _: 5), name="five")
        return [r, n]

    return handler


def _flaky(b: Bodies) -> Body:
    def body(step_ctx: Any) -> int:
        if step_ctx.attempt < 3:
            raise ValueError(f"boom {step_ctx.attempt}")
        return int(step_ctx.attempt)

    return b(body)


def _retry_durable(b: Bodies) -> Callable[..., Any]:
    strategy = create_retry_strategy(
        RetryStrategyConfig(
            max_attempts=3,
            initial_delay=durable.Duration(1),
            backoff_rate=1,
            jitter_strategy=JitterStrategy.NONE,
        )
    )

    def wf(event: Any, ctx: durable.Context) -> Any:
        return (yield ctx.step(_flaky(b), name="flaky", config=StepConfig(retry_strategy=strategy)))

    return wf


def _retry_reference(b: Bodies) -> Callable[..., Any]:
    strategy = ref_retries.create_retry_strategy(
        ref_retries.RetryStrategyConfig(
            max_attempts=3,
            initial_delay=ref_config.Duration.from_seconds(1),
            backoff_rate=1,
            jitter_strategy=ref_config.JitterStrategy.NONE,
        )
    )

    def handler(event: Any, ctx: Any) -> Any:
        return ctx.step(
            _flaky(b), name="flaky", config=ref_config.StepConfig(retry_strategy=strategy)
        )

    return handler


def _at_most_once_durable(b: Bodies) -> Callable[..., Any]:
    config = StepConfig(step_semantics=StepSemantics.AT_MOST_ONCE_PER_RETRY)

    def wf(event: Any, ctx: durable.Context) -> Any:
        return (yield ctx.step(b(lambda _: "once"), name="once", config=config))

    return wf


def _at_most_once_reference(b: Bodies) -> Callable[..., Any]:
    config = ref_config.StepConfig(step_semantics=ref_config.StepSemantics.AT_MOST_ONCE_PER_RETRY)

    def handler(event: Any, ctx: Any) -> Any:
        return ctx.step(b(lambda _: "once"), name="once", config=config)

    return handler


def _key_error(_: Any) -> None:
    raise KeyError("nope")


def _failed_step_durable(b: Bodies) -> Callable[..., Any]:
    def wf(event: Any, ctx: durable.Context) -> Any:
        yield ctx.step(b(lambda _: 1), name="ok")
        yield ctx.step(
            b(_key_error), name="bad", config=StepConfig(retry_strategy=RetryPresets.none())
        )

    return wf


def _failed_step_reference(b: Bodies) -> Callable[..., Any]:
    config = ref_config.StepConfig(retry_strategy=ref_retries.RetryPresets.none())

    def handler(event: Any, ctx: Any) -> Any:
        ctx.step(b(lambda _: 1), name="ok")
        ctx.step(b(_key_error), name="bad", config=config)

    return handler


def _raise_durable(b: Bodies) -> Callable[..., Any]:
    def wf(event: Any, ctx: durable.Context) -> Any:
        yield ctx.step(b(lambda _: 1), name="ok")
        raise ValueError("top level boom")

    return wf


def _raise_reference(b: Bodies) -> Callable[..., Any]:
    def handler(event: Any, ctx: Any) -> Any:
        ctx.step(b(lambda _: 1), name="ok")
        raise ValueError("top level boom")

    return handler


def _typed_value(_: Any) -> Any:
    return {
        "when": dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
        "day": dt.date(2024, 2, 29),
        "price": decimal.Decimal("19.990"),
        "id": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "raw": b"\x00\x01\xff",
        "pair": (1, "a"),
        "nested": [{"k": None, "f": 1.5, "t": True}],
        "text": "caf\u00e9 \u2603",
    }


def _types_durable(b: Bodies) -> Callable[..., Any]:
    def wf(event: Any, ctx: durable.Context) -> Any:
        value = yield ctx.step(b(_typed_value), name="types")
        plain = yield ctx.step(b(lambda _: [1, [2, "x"], None]), name="plain")
        return [str(value["price"]), value["pair"][1], value["when"].isoformat(), plain]

    return wf


def _types_reference(b: Bodies) -> Callable[..., Any]:
    def handler(event: Any, ctx: Any) -> Any:
        value = ctx.step(b(_typed_value), name="types")
        plain = ctx.step(b(lambda _: [1, [2, "x"], None]), name="plain")
        return [str(value["price"]), value["pair"][1], value["when"].isoformat(), plain]

    return handler


PAGED_STEPS = 20


def _paging_durable(b: Bodies) -> Callable[..., Any]:
    def wf(event: Any, ctx: durable.Context) -> Any:
        results = []
        for i in range(PAGED_STEPS):
            results.append((yield ctx.step(b(lambda _, i=i: "x" * 100 + str(i)), name=f"s{i}")))
        yield ctx.wait(1, name="w")
        results.append((yield ctx.step(b(lambda _: "last"), name="last")))
        return len(results)

    return wf


def _paging_reference(b: Bodies) -> Callable[..., Any]:
    def handler(event: Any, ctx: Any) -> Any:
        results = [
            ctx.step(b(lambda _, i=i: "x" * 100 + str(i)), name=f"s{i}") for i in range(PAGED_STEPS)
        ]
        ctx.wait(ref_config.Duration.from_seconds(1), name="w")
        results.append(ctx.step(b(lambda _: "last"), name="last"))
        return len(results)

    return handler


def _slow(value: int) -> Body:
    def body(_: Any) -> int:
        time.sleep(0.15)  # longer than the reference SDK's 100 ms batching window
        return value

    return body


def _slow_durable(b: Bodies) -> Callable[..., Any]:
    def wf(event: Any, ctx: durable.Context) -> Any:
        total = 0
        for i in range(3):
            total += yield ctx.step(b(_slow(i)), name=f"slow{i}")
        return total

    return wf


def _slow_reference(b: Bodies) -> Callable[..., Any]:
    def handler(event: Any, ctx: Any) -> Any:
        return sum(ctx.step(b(_slow(i)), name=f"slow{i}") for i in range(3))

    return handler


BIG = LAMBDA_RESPONSE_SIZE_LIMIT  # json.dumps adds two quotes: just over the limit


def _oversized_durable(b: Bodies) -> Callable[..., Any]:
    def wf(event: Any, ctx: durable.Context) -> Any:
        n = yield ctx.step(b(lambda _: BIG), name="size")
        return "y" * n

    return wf


def _oversized_reference(b: Bodies) -> Callable[..., Any]:
    def handler(event: Any, ctx: Any) -> Any:
        n = ctx.step(b(lambda _: BIG), name="size")
        return "y" * n

    return handler


SCENARIOS = [
    Scenario("trace", _trace_durable, _trace_reference, input={"name": "Bob"}),
    Scenario("retries", _retry_durable, _retry_reference),
    Scenario("at-most-once", _at_most_once_durable, _at_most_once_reference),
    Scenario("failed-step", _failed_step_durable, _failed_step_reference),
    Scenario("workflow-raises", _raise_durable, _raise_reference),
    Scenario("typed-payloads", _types_durable, _types_reference),
    Scenario(
        "state-paging",
        _paging_durable,
        _paging_reference,
        harness_options={"max_invocation_page_bytes": 300},
    ),
    Scenario("slow-bodies", _slow_durable, _slow_reference),
    Scenario("oversized-result", _oversized_durable, _oversized_reference, pure_replay=False),
]
REPLAYABLE = [s for s in SCENARIOS if s.pure_replay]


# -- running and comparing -------------------------------------------------------------


@attrs.frozen
class Run:
    harness: EmulatorHarness
    result: ExecutionResult
    bodies: Bodies


def run_durable(factory: EmulatorFactory, scenario: Scenario) -> Run:
    harness = factory(**scenario.harness_options)
    bodies = Bodies()
    handler = durable.workflow(boto3_client=harness.client)(scenario.durable_fn(bodies))
    harness.register(scenario.name, handler)
    return Run(harness, harness.run(scenario.name, scenario.input, timeout=60), bodies)


def run_reference(factory: EmulatorFactory, scenario: Scenario) -> Run:
    harness = factory(**scenario.harness_options)
    bodies = Bodies()
    handler = ref_durable_execution(scenario.reference_fn(bodies), boto3_client=harness.client)
    harness.register(scenario.name, handler)
    return Run(harness, harness.run(scenario.name, scenario.input, timeout=60), bodies)


def _updates(run: Run) -> dict[str, list[dict[str, Any]]]:
    return updates_by_operation(run.harness, run.result.arn)


def replay_in_durable(scenario: Scenario, source: Run) -> tuple[dict[str, Any], int]:
    bodies = Bodies()
    return durable_replay(scenario.durable_fn(bodies), source.result), bodies.runs


def replay_in_reference(scenario: Scenario, source: Run) -> tuple[dict[str, Any], int]:
    bodies = Bodies()
    output = reference_replay(scenario.reference_fn(bodies), source.result, scenario.name)
    return output, bodies.runs


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_durable_matches_the_reference_on_the_emulator(
    emulator_factory: EmulatorFactory, scenario: Scenario
) -> None:
    """Same outcome, same per-operation updates, same final log, no more round trips."""
    mine = run_durable(emulator_factory, scenario)
    theirs = run_reference(emulator_factory, scenario)

    assert outcome(mine.result) == outcome(theirs.result)
    assert _updates(mine) == _updates(theirs)
    assert log_essence(mine.result.final_operations()) == log_essence(
        theirs.result.final_operations()
    )
    mine_calls = mine.harness.checkpoint_count(mine.result.arn)
    their_calls = theirs.harness.checkpoint_count(theirs.result.arn)
    ROUND_TRIPS[scenario.name] = {"durable": mine_calls, "reference": their_calls}
    assert mine_calls <= their_calls
    assert [o["Status"] for o in mine.harness.outputs(mine.result.arn)] == [
        o["Status"] for o in theirs.harness.outputs(theirs.result.arn)
    ]


@pytest.mark.parametrize("scenario", REPLAYABLE, ids=lambda s: s.name)
def test_a_log_written_by_the_reference_replays_in_durable(
    emulator_factory: EmulatorFactory, scenario: Scenario
) -> None:
    """The reference's final log replays in durable: same outcome, no body, no call."""
    theirs = run_reference(emulator_factory, scenario)
    output, runs = replay_in_durable(scenario, theirs)
    assert runs == 0
    assert output["Status"] == theirs.result.status
    if output["Status"] == "SUCCEEDED":
        assert json.loads(output["Result"]) == theirs.result.result
    else:
        assert output["Error"] == theirs.result.error


@pytest.mark.parametrize("scenario", REPLAYABLE, ids=lambda s: s.name)
def test_a_log_written_by_durable_replays_in_the_reference(
    emulator_factory: EmulatorFactory, scenario: Scenario
) -> None:
    """durable's final log replays in the reference SDK: same outcome, no body, no call."""
    mine = run_durable(emulator_factory, scenario)
    output, runs = replay_in_reference(scenario, mine)
    assert runs == 0
    assert output["Status"] == mine.result.status
    if output["Status"] == "SUCCEEDED":
        assert json.loads(output["Result"]) == mine.result.result
    else:
        assert output["Error"] == mine.result.error


def test_an_oversized_result_is_delivered_through_the_execution_checkpoint(
    emulator_factory: EmulatorFactory,
) -> None:
    """Above 6 MiB - 50 the output carries Result '' and the service holds the result."""
    scenario = next(s for s in SCENARIOS if s.name == "oversized-result")
    mine = run_durable(emulator_factory, scenario)
    assert mine.result.status == "SUCCEEDED"
    assert mine.harness.outputs(mine.result.arn)[-1] == {"Status": "SUCCEEDED", "Result": ""}
    last = mine.harness.checkpoint_updates(mine.result.arn)[-1]
    assert last[-1]["Type"] == "EXECUTION" and last[-1]["Id"].startswith("execution-result-")
    assert len(mine.result.result) == BIG


def test_round_trip_report(request: pytest.FixtureRequest) -> None:
    """Print durable's and the reference's checkpoint calls per scenario (run with -s)."""
    if not ROUND_TRIPS:
        pytest.skip("the side-by-side tests did not run in this session")
    lines = [
        f"{name:18} durable {c['durable']:3}  reference {c['reference']:3}"
        for name, c in ROUND_TRIPS.items()
    ]
    print("\ncheckpoint calls per execution\n" + "\n".join(lines))
    assert all(c["durable"] <= c["reference"] for c in ROUND_TRIPS.values())
