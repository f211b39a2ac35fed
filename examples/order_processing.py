"""Order processing: validate, charge with retries, a cool-off wait, ship.

The same workflow is written twice, as a generator (``yield``) and as a
coroutine (``await``); both write the same checkpoint log.  Running this file
processes one order on the local runner, with virtual time, and prints what
happened: the result and every operation with its status and attempts.

Run it:  python examples/order_processing.py
"""

from __future__ import annotations

from typing import Any

import durable
from durable import (
    Context,
    Duration,
    RetryPresets,
    RetryStrategyConfig,
    StepConfig,
    StepContext,
    StepError,
    create_retry_strategy,
)


class PaymentGatewayBusyError(Exception):
    """The (simulated) payment gateway asks us to come back later."""


@durable.step(config=StepConfig(retry_strategy=RetryPresets.none()))
def validate_order(step_ctx: StepContext, order: dict[str, Any]) -> dict[str, Any]:
    if order.get("amount", 0) <= 0:
        raise ValueError(f"order {order.get('order_id')} has no positive amount")
    return {"order_id": order["order_id"], "amount": round(float(order["amount"]), 2)}


@durable.step(
    name="charge-card",
    config=StepConfig(
        retry_strategy=create_retry_strategy(
            RetryStrategyConfig(
                max_attempts=4,
                initial_delay=Duration.from_seconds(10),
                retryable_error_types=[PaymentGatewayBusyError],
            )
        )
    ),
)
def charge(step_ctx: StepContext, order_id: str, amount: float) -> dict[str, Any]:
    # The gateway is busy on the first two attempts: the step retries with
    # exponential back-off, each retry a new invocation after a durable pause.
    if step_ctx.attempt <= 2:
        raise PaymentGatewayBusyError(f"gateway busy (attempt {step_ctx.attempt})")
    return {"payment_id": f"pay-{order_id}", "amount": amount, "attempt": step_ctx.attempt}


@durable.step
def ship(step_ctx: StepContext, order_id: str) -> str:
    return f"TRACK-{order_id.upper()}"


@durable.workflow
def process_order(event: dict[str, Any], ctx: Context) -> Any:
    order = yield validate_order(event)
    try:
        payment = yield charge(order["order_id"], order["amount"])
    except StepError as err:
        ctx.logger.warning("payment failed: %s", err)
        return {"status": "payment-failed", "reason": err.message}
    yield ctx.wait(Duration.from_minutes(30), name="cool-off")
    tracking = yield ship(order["order_id"])
    return {"status": "shipped", "payment": payment, "tracking": tracking}


@durable.workflow
async def process_order_async(event: dict[str, Any], ctx: Context) -> dict[str, Any]:
    order = await validate_order(event)
    try:
        payment = await charge(order["order_id"], order["amount"])
    except StepError as err:
        ctx.logger.warning("payment failed: %s", err)
        return {"status": "payment-failed", "reason": err.message}
    await ctx.wait(Duration.from_minutes(30), name="cool-off")
    tracking = await ship(order["order_id"])
    return {"status": "shipped", "payment": payment, "tracking": tracking}


def main() -> None:
    from durable.testing import run

    order = {"order_id": "o-42", "amount": 19.99}
    result = run(process_order, order)
    print("process_order (yield style)")
    print(result.summary())
    again = run(process_order_async, order)
    same = [r.updates for r in again.requests] == [r.updates for r in result.requests]
    print()
    print(
        f"process_order_async (await style): {again.execution_status.value}, "
        f"identical checkpoint log: {same}"
    )


if __name__ == "__main__":
    main()
