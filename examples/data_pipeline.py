"""A data pipeline: fan out over thousands of records, tolerate some failures.

The workflow loads the ids of 3,000 users in a child context, enriches each
user in a ``map`` (eight at a time; the batch may lose up to 10 % of the
users before it gives up), fetches orders and invoices side by side with a
``parallel``, and returns a summary.

Each enriched user is a branch of its own: its step is checkpointed, so a
crash or a timeout re-runs only the users not done yet, and a replay of the
finished pipeline runs no enrichment at all.  Some users have a broken
profile (1 in 37); their steps fail without retries (only timeouts are
retried), their branches fail, and the ``BatchResult`` records them without
failing the workflow.  The batch's result is too large to store
whole (over 256 KiB), so the map stores a short summary instead and rebuilds
the result from its branches on replay.

Run it:  python examples/data_pipeline.py
"""

from __future__ import annotations

from typing import Any

import durable
from durable import (
    BatchResult,
    CompletionConfig,
    Context,
    MapConfig,
    RetryStrategyConfig,
    StepConfig,
    StepContext,
    create_retry_strategy,
)

USERS = 3_000
BROKEN_EVERY = 37  # a user whose id is a multiple of this has a broken profile


class BrokenProfileError(Exception):
    """The profile service could not enrich this user."""


@durable.step
def read_user_ids(step_ctx: StepContext, count: int) -> list[int]:
    return list(range(1, count + 1))


@durable.child_context
def load_users(ctx: Context, count: int) -> Any:
    ids = yield read_user_ids(count)
    ctx.logger.info("loaded %d users", len(ids))
    return ids


# Retry the profile service when it times out; a broken profile fails at once.
RETRY_TIMEOUTS = StepConfig(
    retry_strategy=create_retry_strategy(
        RetryStrategyConfig(max_attempts=3, retryable_error_types=[TimeoutError])
    )
)


def enrich(ctx: Context, user_id: int, index: int, users: list[int]) -> Any:
    def call_profile_service(step_ctx: StepContext) -> dict[str, Any]:
        if user_id % BROKEN_EVERY == 0:
            raise BrokenProfileError(f"profile of user {user_id} is corrupt")
        return {"id": user_id, "tier": "gold" if user_id % 10 == 0 else "basic"}

    return (yield ctx.step(call_profile_service, name="profile", config=RETRY_TIMEOUTS))


def fetch_orders(ctx: Context) -> Any:
    return (yield ctx.step(lambda _: 12_345, name="count-orders"))


def fetch_invoices(ctx: Context) -> Any:
    return (yield ctx.step(lambda _: 11_987, name="count-invoices"))


def describe(batch: BatchResult[Any]) -> str:
    return f"{batch.success_count} enriched, {batch.failure_count} failed"


@durable.workflow
def pipeline(event: dict[str, Any], ctx: Context) -> Any:
    users = yield ctx.run_in_child_context(load_users(event["users"]), name="load")
    batch = yield ctx.map(
        users,
        enrich,
        name="enrich",
        config=MapConfig(
            max_concurrency=8,
            completion_config=CompletionConfig(
                tolerated_failure_percentage=event.get("max_failure_percent", 10)
            ),
            summary_generator=describe,
        ),
    )
    orders, invoices = (
        yield ctx.parallel([fetch_orders, fetch_invoices], name="fetch")
    ).get_results()
    profiles = batch.get_results()
    return {
        "users": len(users),
        "enriched": len(profiles),
        "gold": sum(1 for p in profiles if p["tier"] == "gold"),
        "failed": [item.index for item in batch.failed()][:5],
        "failures": batch.failure_count,
        "completion": batch.completion_reason.value,
        "orders": orders,
        "invoices": invoices,
    }


def main() -> None:
    import time

    from durable.testing import LocalRunner

    runner = LocalRunner(pipeline)
    started = time.perf_counter()
    result = runner.run({"users": USERS})
    elapsed = time.perf_counter() - started
    print(result.summary().splitlines()[0])
    for key, value in (result.result or {}).items():
        print(f"  {key}: {value}")
    enrich_op = result.get_context("enrich")
    print(f"\n'enrich' stored: {enrich_op.result}")
    print(
        f"{len(runner.service.operations(result.arn))} operations, "
        f"{result.invocations} invocation(s), "
        f"{runner.service.execution(result.arn).checkpoint_calls} checkpoint calls, "
        f"{elapsed:.2f} s"
    )


if __name__ == "__main__":
    main()
