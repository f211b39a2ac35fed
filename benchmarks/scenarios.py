"""Benchmark scenarios, each runnable on durable and on the reference SDK.

Every scenario builds the same workflow for both SDKs, runs one Lambda
invocation (or a whole execution) through each SDK's own handler against the
same in-memory service, reached through a boto3-shaped client
(``durable.testing.LocalLambdaClient``) that counts checkpoint calls and
bytes. Nothing here measures; ``benchmarks.harness`` does.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from hashlib import blake2b
from typing import Any

import attrs

import durable
from durable import wire
from durable.compat import DurableContext
from durable.core import operation_id
from durable.model import (
    ContextDetails,
    InvocationStatus,
    Operation,
    OperationStatus,
    OperationType,
    StepDetails,
    WaitDetails,
    timestamp,
)
from durable.serdes import EXTENDED_TYPES_SERDES, SerDesContext
from durable.testing import LocalLambdaClient, LocalService

SDKS = ("durable", "durable-imperative", "reference")
NOW = timestamp(datetime(2025, 1, 1, tzinfo=UTC))


def _reference() -> Any:
    import aws_durable_execution_sdk_python as ref

    return ref


def result_of(i: int) -> dict[str, Any]:
    """What every benchmark step returns: a small record, tagged by the serializer."""
    return {"order": i, "ok": True}


# -- building handlers for each SDK ---------------------------------------------


def durable_handler(fn: Callable[..., Any], client: Any) -> Callable[[Any, Any], Any]:
    return durable.workflow(boto3_client=client)(fn)


def imperative_handler(fn: Callable[..., Any], client: Any) -> Callable[[Any, Any], Any]:
    return durable.durable_execution(fn, boto3_client=client)


def reference_handler(fn: Callable[..., Any], client: Any) -> Callable[[Any, Any], Any]:
    return _reference().durable_execution(fn, boto3_client=client)  # type: ignore[no-any-return]


@attrs.define
class Prepared:
    """One invocation ready to run: the handler, its event, and the client to count."""

    handler: Callable[[Any, Any], Any]
    event: dict[str, Any]
    client: LocalLambdaClient
    service: LocalService
    arn: str


def _service_with(operations: list[Operation]) -> tuple[LocalService, str]:
    service = LocalService(page_size=1_000_000)
    arn = service.start_execution("{}")
    service.execution(arn).operations.update({op.id: op for op in operations})
    return service, arn


def prepare(
    sdk: str, workflows: dict[str, Callable[..., Any]], operations: list[Operation]
) -> Prepared:
    """An invocation of the ``sdk`` version of a workflow over a log holding ``operations``."""
    service, arn = _service_with(operations)
    client = LocalLambdaClient(service)
    build = {
        "durable": durable_handler,
        "durable-imperative": imperative_handler,
        "reference": reference_handler,
    }[sdk]
    handler = build(workflows[sdk], client)
    invocation = service.begin_invocation(arn)
    event = json.loads(json.dumps(wire.invocation_input_to_dict(invocation)))
    return Prepared(handler, event, client, service, arn)


def invoke(prepared: Prepared) -> dict[str, Any]:
    output: dict[str, Any] = prepared.handler(prepared.event, None)
    if output.get("Status") == "FAILED":
        raise RuntimeError(f"benchmark invocation failed: {output.get('Error')}")
    return output


def run_execution(sdk: str, workflows: dict[str, Callable[..., Any]]) -> LocalLambdaClient:
    """A whole execution, invocation after invocation, with virtual time."""
    return execute(sdk, workflows)[0]


def execute(sdk: str, workflows: dict[str, Callable[..., Any]]) -> tuple[LocalLambdaClient, str]:
    """``run_execution``, also returning the execution's ARN on ``client.service``."""
    service = LocalService(page_size=1_000_000)
    client = LocalLambdaClient(service)
    handler = {
        "durable": durable_handler,
        "durable-imperative": imperative_handler,
        "reference": reference_handler,
    }[sdk](workflows[sdk], client)
    arn = service.start_execution("{}")
    execution = service.execution(arn)
    for _ in range(100):
        invocation = service.begin_invocation(arn)
        event = json.loads(json.dumps(wire.invocation_input_to_dict(invocation)))
        output = wire.invocation_output_from_dict(handler(event, None))
        service.end_invocation(arn, output)
        if execution.done:
            if output.status is not InvocationStatus.SUCCEEDED:
                raise RuntimeError(f"{sdk}: execution failed: {output.error}")
            return client, arn
        wake = service.next_wakeup(arn)
        if wake is not None:
            service.clock.advance_to(wake)
            service.fire_due(arn)
    raise RuntimeError(f"{sdk}: execution did not finish")


# -- logs -----------------------------------------------------------------------


def _payload(value: Any) -> str:
    text = EXTENDED_TYPES_SERDES.serialize(value, SerDesContext())
    assert text is not None
    return text


def step_record(op_id: str, name: str | None, value: Any, parent: str | None = None) -> Operation:
    return Operation(
        id=op_id,
        type=OperationType.STEP,
        status=OperationStatus.SUCCEEDED,
        name=name,
        sub_type="Step",
        parent_id=parent,
        start_timestamp=NOW,
        end_timestamp=NOW,
        step_details=StepDetails(attempt=1, result=_payload(value)),
    )


def wait_record(op_id: str, name: str | None) -> Operation:
    return Operation(
        id=op_id,
        type=OperationType.WAIT,
        status=OperationStatus.SUCCEEDED,
        name=name,
        sub_type="Wait",
        start_timestamp=NOW,
        end_timestamp=NOW,
        wait_details=WaitDetails(scheduled_end_timestamp=NOW),
    )


# -- 1. replay: N completed steps, then one new one -----------------------------


def sequential_steps(n: int) -> dict[str, Callable[..., Any]]:
    """N + 1 steps in a row, named s0 ... sN."""

    def gen(event: Any, ctx: durable.Context) -> Any:
        last = None
        for i in range(n + 1):
            last = yield ctx.step(lambda _, i=i: result_of(i), name=f"s{i}")
        return last

    def blocking(event: Any, context: DurableContext) -> Any:
        last = None
        for i in range(n + 1):
            last = context.step(lambda _, i=i: result_of(i), name=f"s{i}")
        return last

    return {"durable": gen, "durable-imperative": blocking, "reference": blocking}


def replay_log(n: int) -> list[Operation]:
    return [step_record(operation_id(None, i + 1), f"s{i}", result_of(i)) for i in range(n)]


# -- 3. waits between steps ---------------------------------------------------------


def steps_and_waits(n: int) -> dict[str, Callable[..., Any]]:
    """N (step, wait) pairs, then one more step."""

    def gen(event: Any, ctx: durable.Context) -> Any:
        for i in range(n):
            yield ctx.step(lambda _, i=i: result_of(i), name=f"s{i}")
            yield ctx.wait(1, name=f"w{i}")
        return (yield ctx.step(lambda _: result_of(n), name="last"))

    def blocking(event: Any, context: DurableContext) -> Any:
        ref_duration = durable.Duration(1)
        for i in range(n):
            context.step(lambda _, i=i: result_of(i), name=f"s{i}")
            context.wait(ref_duration, name=f"w{i}")
        return context.step(lambda _: result_of(n), name="last")

    def reference(event: Any, context: Any) -> Any:
        duration = _reference().config.Duration.from_seconds(1)
        for i in range(n):
            context.step(lambda _, i=i: result_of(i), name=f"s{i}")
            context.wait(duration, name=f"w{i}")
        return context.step(lambda _: result_of(n), name="last")

    return {"durable": gen, "durable-imperative": blocking, "reference": reference}


def waits_log(n: int) -> list[Operation]:
    ops = []
    for i in range(n):
        ops.append(step_record(operation_id(None, 2 * i + 1), f"s{i}", result_of(i)))
        ops.append(wait_record(operation_id(None, 2 * i + 2), f"w{i}"))
    return ops


def flaky_step() -> dict[str, Callable[..., Any]]:
    """One step that fails on attempts 1 and 2 and succeeds on attempt 3 (1 s back-off)."""

    def body(step_ctx: Any) -> Any:
        if step_ctx.attempt < 3:
            raise ConnectionError(f"attempt {step_ctx.attempt}")
        return result_of(step_ctx.attempt)

    strategy = durable.create_retry_strategy(
        durable.RetryStrategyConfig(
            max_attempts=3,
            initial_delay=durable.Duration(1),
            jitter_strategy=durable.JitterStrategy.NONE,
        )
    )
    config = durable.StepConfig(retry_strategy=strategy)

    def gen(event: Any, ctx: durable.Context) -> Any:
        return (yield ctx.step(body, name="flaky", config=config))

    def blocking(event: Any, context: DurableContext) -> Any:
        return context.step(body, name="flaky", config=config)

    def reference(event: Any, context: Any) -> Any:
        ref = _reference()
        import aws_durable_execution_sdk_python.retries as ref_retries

        strategy = ref_retries.create_retry_strategy(
            ref_retries.RetryStrategyConfig(
                max_attempts=3,
                initial_delay=ref.config.Duration.from_seconds(1),
                jitter_strategy=ref.config.JitterStrategy.NONE,
            )
        )
        return context.step(
            body, name="flaky", config=ref.config.StepConfig(retry_strategy=strategy)
        )

    return {"durable": gen, "durable-imperative": blocking, "reference": reference}


# -- 5. nesting: child contexts D deep ------------------------------------------------


def nested(depth: int) -> dict[str, Callable[..., Any]]:
    def gen_level(ctx: durable.Context, level: int) -> Any:
        if level == depth:
            return (yield ctx.step(lambda _: result_of(level), name="leaf"))
        return (yield ctx.run_in_child_context(lambda c: gen_level(c, level + 1), name=f"l{level}"))

    def gen(event: Any, ctx: durable.Context) -> Any:
        return (yield from gen_level(ctx, 0))

    def blocking_level(context: Any, level: int) -> Any:
        if level == depth:
            return context.step(lambda _: result_of(level), name="leaf")
        return context.run_in_child_context(
            lambda c: blocking_level(c, level + 1), name=f"l{level}"
        )

    def blocking(event: Any, context: Any) -> Any:
        return blocking_level(context, 0)

    return {"durable": gen, "durable-imperative": blocking, "reference": blocking}


def nested_log(depth: int) -> list[Operation]:
    """A completed nesting: every context SUCCEEDED with its payload."""
    ops: list[Operation] = []
    parent: str | None = None
    payload = _payload(result_of(depth))
    for level in range(depth):
        op_id = operation_id(parent, 1)
        ops.append(
            Operation(
                id=op_id,
                type=OperationType.CONTEXT,
                status=OperationStatus.SUCCEEDED,
                name=f"l{level}",
                sub_type="RunInChildContext",
                parent_id=parent,
                start_timestamp=NOW,
                end_timestamp=NOW,
                context_details=ContextDetails(result=payload, replay_children=False),
            )
        )
        parent = op_id
    return ops


# -- 7. the floor ---------------------------------------------------------------------


def floor_replay(event: dict[str, Any], n: int) -> Any:
    """The least any Python replay engine must do per operation: index the
    event's operations, derive each id (§4), look it up, decode the stored
    payload with the default serializer and send it into a generator."""
    index = {op["Id"]: op for op in event["InitialExecutionState"]["Operations"]}

    def workflow() -> Any:
        last = None
        for _ in range(n):
            last = yield
        return last

    gen = workflow()
    gen.send(None)
    decode = EXTENDED_TYPES_SERDES.deserialize
    context = SerDesContext()
    result = None
    try:
        for i in range(1, n + 1):
            op = index[blake2b(str(i).encode()).hexdigest()[:64]]
            gen.send(decode(op["StepDetails"]["Result"], context))
    except StopIteration as stop:
        result = stop.value
    return result


def recursion_limit() -> int:
    return sys.getrecursionlimit()


# -- 8. fan-out: map over N items, parallel with N branches -----------------------------

#: Calls of fan-out branch functions and of their step bodies, so a replay can
#: show that no step body ran (and whether the branch functions were re-run).
FANOUT_CALLS = {"branches": 0, "bodies": 0}


def _double(item: int) -> Callable[[Any], int]:
    def body(_: Any) -> int:
        FANOUT_CALLS["bodies"] += 1
        return item * 2

    return body


def _summary(batch: Any) -> dict[str, int]:
    return {"succeeded": batch.success_count, "sum": sum(batch.get_results())}


def fanout_map(n: int, max_concurrency: int | None = None) -> dict[str, Callable[..., Any]]:
    """``map`` over ``range(n)``: each item one step returning ``item * 2``."""
    items = list(range(n))

    def gen_item(c: durable.Context, item: int, i: int, items: Any) -> Any:
        FANOUT_CALLS["branches"] += 1
        return (yield c.step(_double(item), name="double"))

    def gen(event: Any, ctx: durable.Context) -> Any:
        config = durable.MapConfig(max_concurrency=max_concurrency)
        batch = yield ctx.map(items, gen_item, name="fanout", config=config)
        return _summary(batch)

    def blocking_item(context: Any, item: int, i: int, items: Any) -> Any:
        FANOUT_CALLS["branches"] += 1
        return context.step(_double(item), name="double")

    def blocking(event: Any, context: DurableContext) -> Any:
        config = durable.MapConfig(max_concurrency=max_concurrency)
        return _summary(context.map(items, blocking_item, name="fanout", config=config))

    def reference(event: Any, context: Any) -> Any:
        config = _reference().config.MapConfig(max_concurrency=max_concurrency)
        return _summary(context.map(items, blocking_item, name="fanout", config=config))

    return {"durable": gen, "durable-imperative": blocking, "reference": reference}


def fanout_parallel(n: int) -> dict[str, Callable[..., Any]]:
    """``parallel`` with ``n`` branches, branch ``i`` one step returning ``i * 2``."""

    def gen_branch(i: int) -> Callable[[durable.Context], Any]:
        def branch(c: durable.Context) -> Any:
            FANOUT_CALLS["branches"] += 1
            return (yield c.step(_double(i), name="double"))

        return branch

    def blocking_branch(i: int) -> Callable[[Any], Any]:
        def branch(context: Any) -> Any:
            FANOUT_CALLS["branches"] += 1
            return context.step(_double(i), name="double")

        return branch

    def gen(event: Any, ctx: durable.Context) -> Any:
        batch = yield ctx.parallel([gen_branch(i) for i in range(n)], name="fanout")
        return _summary(batch)

    def blocking(event: Any, context: Any) -> Any:
        return _summary(context.parallel([blocking_branch(i) for i in range(n)], name="fanout"))

    return {"durable": gen, "durable-imperative": blocking, "reference": blocking}


def fanout_expected(n: int) -> dict[str, int]:
    """What a fan-out workflow over ``n`` items or branches returns."""
    return {"succeeded": n, "sum": n * (n - 1)}


def completed_log(workflows: dict[str, Callable[..., Any]]) -> list[Operation]:
    """The log of a finished execution of ``workflows`` (durable's run; every
    SDK writes the same one, which the smoke test checks), without its
    EXECUTION operation."""
    client, arn = execute("durable", workflows)
    return [op for op in client.service.operations(arn) if op.type is not OperationType.EXECUTION]


def run_on_local_runner(sdk: str, workflows: dict[str, Callable[..., Any]]) -> Any:
    """A whole execution on the SDK's own in-process test runner: durable's
    ``durable.testing.LocalRunner``, the reference's ``DurableFunctionTestRunner``
    (from ``aws-durable-execution-sdk-python-testing``); returns the result."""
    if sdk == "reference":
        from aws_durable_execution_sdk_python_testing.runner import DurableFunctionTestRunner

        handler = _reference().durable_execution(workflows[sdk])
        with DurableFunctionTestRunner(handler) as runner:
            outcome = runner.run(input="{}", execution_timeout=3600)
        if outcome.error is not None or outcome.result is None:
            raise RuntimeError(f"reference runner: execution failed: {outcome.error}")
        return json.loads(outcome.result)
    from durable.testing import LocalRunner

    workflow = workflows[sdk]
    if sdk == "durable-imperative":
        workflow = durable.durable_execution(workflow)
    result = LocalRunner(workflow).run({})
    if not result.succeeded:
        raise RuntimeError(f"{sdk} LocalRunner: execution failed: {result.error}")
    return result.result
