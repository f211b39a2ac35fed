"""Polling an external job with wait_for_condition.

A report is rendered by an outside service. The workflow submits the job,
then checks its status with durable pauses in between (exponential back-off
from 10 s up to 2 minutes, at most 20 checks); each check is a checkpoint, so
an invocation never sleeps and a crash loses no progress. When the job is
done the workflow fetches the result.

Running this file simulates a job that needs six checks, on the local runner
with virtual time.

Run it:  python examples/polling.py
"""

from __future__ import annotations

from typing import Any

import durable
from durable import (
    Context,
    Duration,
    JitterStrategy,
    StepContext,
    WaitForConditionCheckContext,
    WaitForConditionConfig,
    WaitStrategyConfig,
    create_wait_strategy,
)

# A stand-in for the external service: the job finishes on its sixth poll.
JOBS: dict[str, int] = {}


@durable.step
def submit_job(step_ctx: StepContext, report: str) -> str:
    job_id = f"job-{report}"
    JOBS[job_id] = 0
    return job_id


def check_job(state: dict[str, Any], context: WaitForConditionCheckContext) -> dict[str, Any]:
    JOBS[state["job_id"]] += 1
    done = JOBS[state["job_id"]] >= 6
    context.logger.info("check %d of %s: %s", context.attempt, state["job_id"], done)
    return {**state, "status": "DONE" if done else "RUNNING", "checks": context.attempt}


@durable.step
def fetch_result(step_ctx: StepContext, job_id: str) -> str:
    return f"s3://reports/{job_id}.pdf"


POLLING = create_wait_strategy(
    WaitStrategyConfig(
        should_continue_polling=lambda state: state["status"] != "DONE",
        max_attempts=20,
        initial_delay=Duration.from_seconds(10),
        max_delay=Duration.from_minutes(2),
        backoff_rate=2.0,
        jitter_strategy=JitterStrategy.NONE,
    )
)


@durable.workflow
def render_report(event: dict[str, Any], ctx: Context) -> Any:
    job_id = yield submit_job(event["report"])
    final = yield ctx.wait_for_condition(
        check_job,
        config=WaitForConditionConfig(
            wait_strategy=POLLING,
            initial_state={"job_id": job_id, "status": "SUBMITTED", "checks": 0},
        ),
        name="wait-for-job",
    )
    location = yield fetch_result(job_id)
    return {"job": job_id, "checks": final["checks"], "location": location}


def main() -> None:
    from durable.testing import LocalRunner

    runner = LocalRunner(render_report)
    result = runner.run({"report": "q3"})
    print(result.summary())
    poll = result.get_operation("wait-for-job")
    print(f"\nchecked {poll.attempts} times over {runner.clock.now():%H:%M:%S} of virtual time")


if __name__ == "__main__":
    main()
