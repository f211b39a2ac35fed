"""Workflows the runner and plugin tests run, locally and on the emulator.

Each is importable by the test files pytester generates, so that a local run
and a "deployed" run (the emulator serving the same function) execute the
same code.
"""

from __future__ import annotations

from typing import Any

import durable
from durable import (
    CallbackConfig,
    Duration,
    JitterStrategy,
    RetryPresets,
    RetryStrategyConfig,
    StepConfig,
    WaitForConditionCheckContext,
    WaitForConditionConfig,
    WaitStrategyConfig,
    create_retry_strategy,
    create_wait_strategy,
)
from durable.imperative import DurableContext, durable_execution


class PaymentDeclinedError(Exception):
    """A payment provider refused the charge."""


@durable.step
def charge(step_ctx: durable.StepContext, order_id: str, amount: float) -> dict[str, Any]:
    if amount <= 0:
        raise PaymentDeclinedError(f"cannot charge {amount} for {order_id}")
    return {"order_id": order_id, "charged": amount}


@durable.workflow
def process_order(event: dict[str, Any], ctx: durable.Context) -> Any:
    """Charge, let a 30-minute cool-off pass, send a receipt."""
    payment = yield charge(event["order_id"], event.get("amount", 10))
    yield ctx.wait(Duration.from_minutes(30), name="cool-off")
    receipt = yield ctx.step(lambda _: f"receipt-{event['order_id']}", name="receipt")
    return {"status": "done", "payment": payment, "receipt": receipt}


@durable.workflow
async def process_order_async(event: dict[str, Any], ctx: durable.Context) -> Any:
    """``process_order`` as a coroutine."""
    payment = await charge(event["order_id"], event.get("amount", 10))
    await ctx.wait(Duration.from_minutes(30), name="cool-off")
    receipt = await ctx.step(lambda _: f"receipt-{event['order_id']}", name="receipt")
    return {"status": "done", "payment": payment, "receipt": receipt}


@durable_execution
def process_order_imperative(event: dict[str, Any], context: DurableContext) -> Any:
    """``process_order`` written the way the AWS documentation writes handlers."""
    payment = context.step(charge(event["order_id"], event.get("amount", 10)))
    context.wait(Duration.from_minutes(30), name="cool-off")
    receipt = context.step(lambda _: f"receipt-{event['order_id']}", name="receipt")
    return {"status": "done", "payment": payment, "receipt": receipt}


@durable.workflow
def approval(event: dict[str, Any], ctx: durable.Context) -> Any:
    """Wait for a person to answer a callback; ``timeout`` (seconds) is optional."""
    timeout = event.get("timeout")
    config = CallbackConfig(timeout=Duration(timeout)) if timeout else None
    callback = yield ctx.create_callback(name="approval", config=config)
    decision = yield callback.result()
    recorded = yield ctx.step(lambda _: {"decision": decision}, name="record")
    return recorded


_FLAKY = create_retry_strategy(
    RetryStrategyConfig(
        max_attempts=3,
        initial_delay=Duration(1),
        backoff_rate=1,
        jitter_strategy=JitterStrategy.NONE,
    )
)


def _flaky(step_ctx: durable.StepContext) -> dict[str, int]:
    if step_ctx.attempt < 3:
        raise ConnectionError(f"transient failure {step_ctx.attempt}")
    return {"attempt": step_ctx.attempt}


def _declined(_: durable.StepContext) -> None:
    raise PaymentDeclinedError("card expired")


def _check(state: dict[str, Any], context: WaitForConditionCheckContext) -> dict[str, Any]:
    return {"polls": state["polls"] + 1}


_POLLING = create_wait_strategy(
    WaitStrategyConfig(
        should_continue_polling=lambda state: state["polls"] < 3,
        max_attempts=10,
        initial_delay=Duration(1),
        jitter_strategy=JitterStrategy.NONE,
    )
)


@durable.workflow
def tour(event: dict[str, Any], ctx: durable.Context) -> Any:
    """Most operation kinds: a retried step, a failed step caught, a child
    context, a map, a parallel, a wait and a wait_for_condition."""
    flaky = yield ctx.step(_flaky, name="flaky", config=StepConfig(retry_strategy=_FLAKY))
    try:
        yield ctx.step(
            _declined, name="declined", config=StepConfig(retry_strategy=RetryPresets.none())
        )
    except Exception as exc:  # the step's error, as the SDK raises it
        declined = type(exc).__name__
    yield ctx.wait(1, name="pause")

    def child(c: durable.Context) -> Any:
        return (yield c.step(lambda _: 7, name="seven"))

    seven = yield ctx.run_in_child_context(child, name="child")

    def square(c: durable.Context, item: int, index: int, items: Any) -> Any:
        return (yield c.step(lambda _: item * item, name="square"))

    squares = yield ctx.map([2, 3], square, name="squares")
    both = yield ctx.parallel([lambda c: "left", lambda c: "right"], name="both")
    polled = yield ctx.wait_for_condition(
        _check,
        config=WaitForConditionConfig(wait_strategy=_POLLING, initial_state={"polls": 0}),
        name="poll",
    )
    return {
        "flaky": flaky,
        "declined": declined,
        "seven": seven,
        "squares": squares.get_results(),
        "both": both.get_results(),
        "polled": polled,
    }


@durable.workflow
def declined_order(event: dict[str, Any], ctx: durable.Context) -> Any:
    """A workflow that fails: its step raises and is not retried."""
    yield ctx.step(lambda _: "reserved", name="reserve")
    return (
        yield ctx.step(
            _declined, name="charge", config=StepConfig(retry_strategy=RetryPresets.none())
        )
    )
