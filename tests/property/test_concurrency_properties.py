"""Properties of maps and parallels: the log never depends on thread timing.

The step bodies of concurrent branches run on a pool of ``max_workers``
threads and finish in whatever order the threads do; the runtime reports
their outcomes in the order the interpreter asked for them, so the requests
sent and the final log must not depend on the number of workers.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import durable
from durable import CompletionConfig, MapConfig
from durable.testing import LocalRunner, LocalService, SimulatedCrash
from tests.programs import NESTED, STYLES, Spec, essence, programs
from tests.property.test_determinism import run_program

WORKERS = (1, 2, 8)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@example(program=NESTED, style="imperative").via("map in a parallel in a child")
@given(
    programs(children=True, external=True, batches=True, sleeps=True),
    st.sampled_from(sorted(STYLES)),
)
def test_the_log_does_not_depend_on_the_number_of_workers(program: list[Spec], style: str) -> None:
    """Step bodies that sleep 0-2 ms finish in a different order on 2 or 8
    threads than on one, yet every request, the final log and the result are
    the same, whatever the completion policy (early completion included)."""
    runs = {n: run_program(program, style=style, max_workers=n) for n in WORKERS}
    reference = runs[1]
    for n, result in runs.items():
        assert result.status == reference.status, n
        assert result.result == reference.result, n
        assert [(r.invocation, r.updates) for r in result.requests] == [
            (r.invocation, r.updates) for r in reference.requests
        ], n
        assert essence(result.log) == essence(reference.log), n


# -- regression tests of the batch coordinator (durable/core/_batch.py) ----------------


def _fail_first(ctx: durable.Context, value: int, index: int, items: Any) -> Any:
    if index == 0:
        raise ValueError("boom")
    return value
    yield  # a generator function  # pragma: no cover


def _wait_in_second(ctx: durable.Context, value: int, index: int, items: Any) -> Any:
    if index == 1:
        yield ctx.wait(60)
    return value


def test_a_branch_that_finished_with_the_deciding_one_is_reported_finished() -> None:
    """Fail-fast map of two branches that finish in the same round: branch 1's
    SUCCEED is checkpointed, so the BatchResult must not call it STARTED
    (protocol.md §5.8.4: terminal branches are listed with their status)."""

    def workflow(event: Any, ctx: durable.Context) -> Any:
        batch = yield ctx.map([10, 20], _fail_first, name="m")
        return batch.to_dict()

    result = LocalRunner(workflow).run({})
    logged = {op.name: op.status.value for op in result.log if op.sub_type == "MapIteration"}
    assert logged == {"map-item-0": "FAILED", "map-item-1": "SUCCEEDED"}
    assert [item["status"] for item in result.result["all"]] == ["FAILED", "SUCCEEDED"]


def test_a_crash_before_the_parent_succeeds_keeps_the_started_branches() -> None:
    """min_successful=1: branch 0 succeeds while branch 1 waits.  A crash before
    the Map's SUCCEED reaches the service must not drop branch 1 (STARTED in the
    log, and in the clean run's BatchResult) from the replayed BatchResult."""

    def workflow(event: Any, ctx: durable.Context) -> Any:
        config = MapConfig(completion_config=CompletionConfig(min_successful=1))
        batch = yield ctx.map([10, 20], _wait_in_second, name="m", config=config)
        return batch.to_dict()

    def crash(call: int, phase: str) -> None:
        if call == 2 and phase == "before":  # request 2 holds the Map's SUCCEED
            raise SimulatedCrash("killed before checkpoint 2")

    clean = LocalRunner(workflow).run({})
    crashed = LocalRunner(workflow, service=LocalService(fault=crash)).run({})
    assert [i["status"] for i in clean.result["all"]] == ["SUCCEEDED", "STARTED"]
    assert crashed.result == clean.result
