"""One workflow, three styles: generator, coroutine and the AWS SDK's imperative API.

Each style books a trip: a step, a child context with two steps and a wait,
then a confirmation. Running this file runs all three on the local runner and
checks that they wrote the same checkpoint log.

Run it:  python examples/three_styles.py
"""

from __future__ import annotations

from typing import Any

import durable
from durable import Context, Duration, StepContext
from durable.compat import DurableContext, durable_execution, durable_with_child_context


@durable.step
def quote(step_ctx: StepContext, destination: str) -> float:
    return 120.0 if destination == "Lisbon" else 200.0


# 1. Generator style: yield each operation.
@durable.child_context(name="reserve")
def reserve(ctx: Context, destination: str) -> Any:
    hotel = yield ctx.step(lambda _: f"hotel in {destination}", name="hotel")
    yield ctx.wait(Duration.from_hours(1), name="hold")
    car = yield ctx.step(lambda _: f"car in {destination}", name="car")
    return [hotel, car]


@durable.workflow
def book_trip(event: dict[str, Any], ctx: Context) -> Any:
    price = yield quote(event["to"])
    booking = yield reserve(event["to"])
    confirmed = yield ctx.step(lambda _: "confirmed", name="confirm")
    return {"price": price, "booking": booking, "status": confirmed}


# 2. Coroutine style: await each operation; results are typed.
@durable.child_context(name="reserve")
async def reserve_async(ctx: Context, destination: str) -> list[str]:
    hotel: str = await ctx.step(lambda _: f"hotel in {destination}", name="hotel")
    await ctx.wait(Duration.from_hours(1), name="hold")
    car: str = await ctx.step(lambda _: f"car in {destination}", name="car")
    return [hotel, car]


@durable.workflow
async def book_trip_async(event: dict[str, Any], ctx: Context) -> dict[str, Any]:
    price = await quote(event["to"])
    booking = await reserve_async(event["to"])
    confirmed = await ctx.step(lambda _: "confirmed", name="confirm")
    return {"price": price, "booking": booking, "status": confirmed}


# 3. Imperative style, as the AWS documentation writes it: each call blocks.
@durable_with_child_context
def reserve_blocking(context: DurableContext, destination: str) -> list[str]:
    hotel = context.step(lambda _: f"hotel in {destination}", name="hotel")
    context.wait(Duration.from_hours(1), name="hold")
    car = context.step(lambda _: f"car in {destination}", name="car")
    return [hotel, car]


@durable_execution
def book_trip_blocking(event: dict[str, Any], context: DurableContext) -> dict[str, Any]:
    price = context.step(quote(event["to"]))
    booking = context.run_in_child_context(reserve_blocking(event["to"]), name="reserve")
    confirmed = context.step(lambda _: "confirmed", name="confirm")
    return {"price": price, "booking": booking, "status": confirmed}


STYLES = {
    "generator": book_trip,
    "coroutine": book_trip_async,
    "imperative": book_trip_blocking,
}


def main() -> None:
    from durable.testing import run

    results = {name: run(workflow, {"to": "Lisbon"}) for name, workflow in STYLES.items()}
    print(results["generator"].summary())
    logs = {name: [r.updates for r in result.requests] for name, result in results.items()}
    same = all(log == logs["generator"] for log in logs.values())
    print()
    for name, result in results.items():
        print(f"{name:10} {result.execution_status.value} {result.result}")
    print(f"identical checkpoint logs: {same}")


if __name__ == "__main__":
    main()
