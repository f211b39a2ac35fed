"""A travel booking saga: flight, hotel and car, or nothing at all.

Booking a trip takes three reservations with three providers.  If one of
them fails, the ones already made must be cancelled: there is no
transaction across providers, so the workflow keeps a ``durable.Saga`` and
registers an undo (a cancellation) right after each booking succeeds.  When
a booking fails, ``saga.compensate(ctx)`` runs the registered undos, last
registered first, each as a checkpointed step with its own retries, and
returns a ``CompensationReport``.

* Every booking succeeds: the trip is booked, nothing is undone.
* A booking fails (the event's ``fail_at``: ``"flight"``, ``"hotel"`` or
  ``"car"``): the bookings made before it are cancelled in reverse order
  and the workflow returns the report.
* A cancellation fails too (the event's ``cancel_fails``): it is retried
  three times, the other cancellations still run, and
  ``report.raise_if_failed()`` fails the execution with a
  ``CompensationError`` naming the undo that could not be done.

The providers are simulated; ``LEDGER`` records what they were asked to do.

Run it:  python examples/travel_saga.py
"""

from __future__ import annotations

from typing import Any

import durable
from durable import (
    Context,
    Duration,
    JitterStrategy,
    RetryStrategyConfig,
    Saga,
    StepConfig,
    StepContext,
    StepError,
    create_retry_strategy,
)

#: What the simulated providers were asked to do, in order.
LEDGER: list[str] = []


class SoldOutError(Exception):
    """The provider has nothing left for these dates."""


class ProviderDownError(ConnectionError):
    """The provider did not answer."""


# A booking is retried only when the provider is down; sold out is final.
BOOKING = StepConfig(
    retry_strategy=create_retry_strategy(
        RetryStrategyConfig(max_attempts=3, retryable_error_types=[ProviderDownError])
    )
)

# A cancellation is retried three times, 30 s apart.
CANCELLATION = StepConfig(
    retry_strategy=create_retry_strategy(
        RetryStrategyConfig(
            max_attempts=3,
            initial_delay=Duration.from_seconds(30),
            backoff_rate=1.0,
            jitter_strategy=JitterStrategy.NONE,
        )
    )
)


@durable.step(config=BOOKING)
def book(step_ctx: StepContext, what: str, trip: dict[str, Any], fail_at: str | None) -> Any:
    LEDGER.append(f"book {what}")
    if what == fail_at:
        raise SoldOutError(f"no {what} left for {trip['to']} on {trip['date']}")
    return {"id": f"{what}-{trip['to'].lower()}-{trip['date']}", "what": what}


def cancel(step_ctx: StepContext, booking_id: str, cancel_fails: list[str]) -> str:
    LEDGER.append(f"cancel {booking_id} (attempt {step_ctx.attempt})")
    if booking_id.split("-")[0] in cancel_fails:
        raise ProviderDownError(f"could not cancel {booking_id}: provider not answering")
    return booking_id


@durable.workflow
def book_trip(event: dict[str, Any], ctx: Context) -> Any:
    trip = event["trip"]
    fail_at = event.get("fail_at")
    cancel_fails = event.get("cancel_fails", [])
    saga = Saga(config=CANCELLATION)
    try:
        flight = yield ctx.step(book("flight", trip, fail_at), name="book-flight")
        saga.add(cancel, flight["id"], cancel_fails, name="cancel-flight")
        hotel = yield ctx.step(book("hotel", trip, fail_at), name="book-hotel")
        saga.add(cancel, hotel["id"], cancel_fails, name="cancel-hotel")
        car = yield ctx.step(book("car", trip, fail_at), name="book-car")
        saga.add(cancel, car["id"], cancel_fails, name="cancel-car")
    except StepError as err:
        ctx.logger.warning("%s failed, undoing %s", err.operation_name, saga.pending)
        report = yield saga.compensate(ctx)
        report.raise_if_failed()  # a CompensationError, if an undo still failed
        return {
            "status": "not booked",
            "failed": err.operation_name,
            "reason": err.message,
            "compensation": report.to_dict(),
        }
    return {"status": "booked", "bookings": [flight["id"], hotel["id"], car["id"]]}


TRIP = {"to": "Kyoto", "date": "2025-04-02"}

SCENARIOS: dict[str, dict[str, Any]] = {
    "everything available": {"trip": TRIP},
    "no car left": {"trip": TRIP, "fail_at": "car"},
    "no car left, hotel cannot cancel": {
        "trip": TRIP,
        "fail_at": "car",
        "cancel_fails": ["hotel"],
    },
}


def main() -> None:
    from durable.testing import run

    for title, event in SCENARIOS.items():
        LEDGER.clear()
        result = run(book_trip, event)
        print(f"== {title}")
        for entry in LEDGER:
            print(f"  provider: {entry}")
        outcome = result.result or {}
        if "compensation" in outcome:
            report = outcome["compensation"]
            print(f"  {outcome['failed']} failed: {outcome['reason']}")
            print(f"  compensated (in order): {report['compensated']}")
            print(f"  compensations failed: {report['failed']}")
        print()
        print(result.summary())
        print()


if __name__ == "__main__":
    main()
