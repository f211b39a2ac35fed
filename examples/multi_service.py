"""Multi-service integration: one order, three services, three retry policies.

Placing an order calls an inventory service (reserve the items), a payments
service (charge the card) and a shipping service (book a courier).  Each
call is a step, so a result is checkpointed once it arrives and never
fetched twice; each step has the retry strategy that suits its service:

* inventory: ``RetryPresets.transient()``: 3 attempts, exponential back-off
  with half jitter;
* payments: a custom strategy, a plain ``(error, attempts_made) ->
  RetryDecision`` function.  A 4xx answer (card declined, bad request) says
  the request itself is wrong, so it is never retried; 5xx and 429 answers
  are retried up to 5 attempts, 10 s doubling;
* shipping: ``RetryPresets.fixed(Duration.from_minutes(1))``: 5 attempts,
  one minute apart.

A retry is a durable pause: the invocation ends and the service invokes the
function again when the delay is over, so waiting costs nothing.

The services are plain functions that fail like HTTP services do, driven by
a fault plan in the event: ``{"faults": {"payments": [500, 429]}}`` makes
the first payment attempt answer 500 and the second 429 (``0`` in a plan
means that attempt succeeds).  When a step gives up, the workflow fails with
``OrderFailedError`` naming the step.

Running this file places three orders on the local runner, with virtual
time: one with flaky services that recovers, one whose card is declined
(no retry), and one whose inventory service stays down.

Run it:  python examples/multi_service.py
"""

from __future__ import annotations

from typing import Any

import durable
from durable import (
    Context,
    Duration,
    RetryDecision,
    RetryPresets,
    StepConfig,
    StepContext,
    StepError,
)

REASONS = {
    400: "Bad Request",
    402: "Payment Required",
    404: "Not Found",
    409: "Conflict",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}

#: Every call the simulated services received: (service, attempt, outcome).
CALLS: list[tuple[str, int, str]] = []


class ServiceError(Exception):
    """An HTTP-style error answer from one of the services."""

    def __init__(self, service: str, status: int) -> None:
        super().__init__(f"{service} answered {status} {REASONS.get(status, 'Error')}")
        self.service = service
        self.status = status


class OrderFailedError(Exception):
    """A step of the order gave up; the message names the step."""


# -- the simulated services -----------------------------------------------------


def answer(service: str, attempt: int, faults: dict[str, list[int]]) -> None:
    """Raise the fault the plan gives for this attempt of ``service``, if any."""
    plan = faults.get(service, [])
    status = plan[attempt - 1] if attempt <= len(plan) else 0
    if status:
        CALLS.append((service, attempt, f"{status} {REASONS.get(status, 'Error')}"))
        raise ServiceError(service, status)
    CALLS.append((service, attempt, "200 OK"))


def inventory_reserve(order: dict[str, Any], attempt: int, faults: dict[str, Any]) -> str:
    answer("inventory", attempt, faults)
    return f"res-{order['id']}"


def payments_charge(order: dict[str, Any], attempt: int, faults: dict[str, Any]) -> str:
    answer("payments", attempt, faults)
    return f"ch-{order['id']}"


def shipping_book(order: dict[str, Any], attempt: int, faults: dict[str, Any]) -> str:
    answer("shipping", attempt, faults)
    return f"TRACK-{order['id'].upper()}"


# -- the retry policies -----------------------------------------------------------


def payments_retry(error: Exception, attempts_made: int) -> RetryDecision:
    """Never retry a 4xx answer (except 429); retry the rest up to 5 attempts."""
    status = getattr(error, "status", None)
    if status is not None and 400 <= status < 500 and status != 429:
        return RetryDecision.no_retry()  # another try would get the same answer
    if attempts_made >= 5:
        return RetryDecision.no_retry()
    return RetryDecision.retry(Duration.from_seconds(10 * 2 ** (attempts_made - 1)))


# -- the steps --------------------------------------------------------------------


@durable.step(name="reserve-stock", config=StepConfig(retry_strategy=RetryPresets.transient()))
def reserve_stock(step_ctx: StepContext, order: dict[str, Any], faults: dict[str, Any]) -> Any:
    reservation = inventory_reserve(order, step_ctx.attempt, faults)
    return {"reservation": reservation, "attempts": step_ctx.attempt}


@durable.step(name="charge-card", config=StepConfig(retry_strategy=payments_retry))
def charge_card(step_ctx: StepContext, order: dict[str, Any], faults: dict[str, Any]) -> Any:
    charge = payments_charge(order, step_ctx.attempt, faults)
    return {"charge": charge, "amount": order["amount"], "attempts": step_ctx.attempt}


@durable.step(
    name="book-courier",
    config=StepConfig(retry_strategy=RetryPresets.fixed(Duration.from_minutes(1))),
)
def book_courier(step_ctx: StepContext, order: dict[str, Any], faults: dict[str, Any]) -> Any:
    tracking = shipping_book(order, step_ctx.attempt, faults)
    return {"tracking": tracking, "attempts": step_ctx.attempt}


@durable.workflow
def place_order(event: dict[str, Any], ctx: Context) -> Any:
    order = event["order"]
    faults = event.get("faults", {})
    try:
        stock = yield reserve_stock(order, faults)
        payment = yield charge_card(order, faults)
        shipment = yield book_courier(order, faults)
    except StepError as err:
        ctx.logger.error("order %s: step %s gave up", order["id"], err.operation_name)
        raise OrderFailedError(
            f"order {order['id']}: step {err.operation_name!r} gave up: {err.message}"
        ) from err
    return {
        "order": order["id"],
        "status": "placed",
        "reservation": stock["reservation"],
        "charge": payment["charge"],
        "tracking": shipment["tracking"],
        "attempts": {
            "reserve-stock": stock["attempts"],
            "charge-card": payment["attempts"],
            "book-courier": shipment["attempts"],
        },
    }


ORDER = {"id": "o-77", "amount": 42.5}

SCENARIOS: dict[str, dict[str, Any]] = {
    "flaky services recover": {
        "order": ORDER,
        "faults": {"inventory": [503], "payments": [500, 429], "shipping": [502, 504, 503]},
    },
    "card declined (4xx, not retried)": {
        "order": ORDER,
        "faults": {"payments": [402]},
    },
    "inventory stays down": {
        "order": ORDER,
        "faults": {"inventory": [503, 503, 503, 503]},
    },
}


def main() -> None:
    from durable.testing import LocalRunner

    for title, event in SCENARIOS.items():
        CALLS.clear()
        runner = LocalRunner(place_order)
        started = runner.clock.now()
        result = runner.run(event)
        print(f"== {title}")
        for service, attempt, outcome in CALLS:
            print(f"  {service:9} attempt {attempt}: {outcome}")
        print(f"  virtual time spent retrying: {runner.clock.now() - started}")
        print()
        print(result.summary())
        print()


if __name__ == "__main__":
    main()
