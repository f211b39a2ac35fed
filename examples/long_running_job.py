"""A long-running job: a 30-day trial subscription, with waits of days.

Day 0: the customer signs up and gets a welcome message.  The workflow waits
7 days and sends a reminder with tips, then waits the 23 days left of the
trial.  On day 30 it asks the billing system whether the customer cancelled
during the trial (a step: its answer is checkpointed, so a replay never asks
again) and either charges the first month or closes the account.

Each wait is a durable timer: the invocation ends at the wait and costs
nothing while the days pass; when the timer fires the service invokes the
function again, which replays the finished operations from the checkpoint
log and carries on.  The whole month takes three invocations.

On the local runner time is virtual: the month passes at once, and every
operation's timestamps show the day it happened.  The billing system is
simulated: the event says on which day, if any, the customer cancels.

Run it:  python examples/long_running_job.py
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import durable
from durable import Context, Duration, StepContext

TRIAL_DAYS = 30
REMINDER_DAY = 7


@durable.step
def send_welcome(step_ctx: StepContext, customer: dict[str, Any]) -> str:
    return f"welcome sent to {customer['email']}"


@durable.step
def send_reminder(step_ctx: StepContext, customer: dict[str, Any]) -> str:
    left = TRIAL_DAYS - REMINDER_DAY
    return f"reminder sent to {customer['email']}: {left} days of trial left"


@durable.step
def check_cancellation(step_ctx: StepContext, customer: dict[str, Any]) -> dict[str, Any]:
    # Stands in for a query to the billing system.
    day = customer.get("cancels_on_day")
    cancelled = day is not None and day < TRIAL_DAYS
    return {"cancelled": cancelled, "on_day": day if cancelled else None}


@durable.step
def charge_first_month(step_ctx: StepContext, customer: dict[str, Any]) -> dict[str, Any]:
    return {"invoice": f"inv-{customer['id']}-1", "amount": customer["price"]}


@durable.step
def close_account(step_ctx: StepContext, customer: dict[str, Any]) -> str:
    return f"account {customer['id']} closed"


@durable.workflow
def trial_subscription(event: dict[str, Any], ctx: Context) -> Any:
    customer = event["customer"]
    yield send_welcome(customer)
    yield ctx.wait(Duration.from_days(REMINDER_DAY), name="first-week")
    yield send_reminder(customer)
    yield ctx.wait(Duration.from_days(TRIAL_DAYS - REMINDER_DAY), name="rest-of-trial")
    status = yield check_cancellation(customer)
    if status["cancelled"]:
        closed = yield close_account(customer)
        return {"customer": customer["id"], "outcome": "cancelled", "detail": closed}
    invoice = yield charge_first_month(customer)
    return {"customer": customer["id"], "outcome": "subscribed", "detail": invoice}


def timeline(result: Any, started: datetime) -> list[dict[str, Any]]:
    """Every operation, in start order, with its virtual start and end times
    and the same counted in days since ``started``."""

    def day(when: datetime | None) -> float | None:
        return None if when is None else (when - started) / timedelta(days=1)

    return [
        {
            "operation": op.name or op.id,
            "type": op.type.value,
            "started_at": op.start_timestamp,
            "ended_at": op.end_timestamp,
            "start_day": day(op.start_timestamp),
            "end_day": day(op.end_timestamp),
        }
        for op in result.all_operations()
    ]


def main() -> None:
    from durable.testing import LocalRunner

    customers = [
        {"id": "c-1", "email": "ada@example.com", "price": 9.0},
        {"id": "c-2", "email": "bo@example.com", "price": 9.0, "cancels_on_day": 12},
    ]
    for customer in customers:
        runner = LocalRunner(trial_subscription)
        started = runner.clock.now()
        result = runner.run({"customer": customer})
        print(f"== {customer['email']}")
        print(f"  {'started (virtual)':20}  ended")
        for row in timeline(result, started):
            print(
                f"  day {row['start_day']:4.1f} {row['started_at']:%m-%d %H:%M}  "
                f"day {row['end_day']:4.1f} {row['ended_at']:%m-%d %H:%M}  "
                f"{row['type']:4}  {row['operation']}"
            )
        elapsed = runner.clock.now() - started
        print(f"  {elapsed.days} days of virtual time, {result.invocations} invocations")
        print()
        print(result.summary())
        print()


if __name__ == "__main__":
    main()
