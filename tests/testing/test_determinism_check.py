"""check_determinism catches workflows that do not replay the same way, and
passes those that do.

The workflows are at module level so that the runs in another process
(another PYTHONHASHSEED, a reduced environment) can load them.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
from datetime import datetime
from typing import Any

import pytest
from hypothesis import strategies as st

import durable
from durable import (
    Duration,
    RetryPresets,
    StepConfig,
    StepSemantics,
)
from durable.core import RunStep, operation_id
from durable.imperative import DurableContext, durable_execution
from durable.runtime import run_step_body
from durable.testing import LocalRunner, LocalService
from durable.testing.determinism import (
    CrashPoint,
    NondeterminismFound,
    all_crash_points,
    check_determinism,
)

FIRST, SECOND, THIRD = (operation_id(None, n) for n in (1, 2, 3))

# -- nondeterministic workflows ---------------------------------------------------------


@durable.workflow
def ships_at_random(event: Any, ctx: durable.Context) -> Any:
    """Picks a carrier with `random` in workflow code: the resume after the
    wait asks for another step than the log holds."""
    yield ctx.step(lambda _: "packed", name=f"ship-{random.randrange(10**9)}")
    yield ctx.wait(Duration(60), name="cool-off")
    return "shipped"


@durable.workflow
def stamps_with_clock(event: Any, ctx: durable.Context) -> Any:
    """Names a step after the wall clock."""
    yield ctx.step(lambda _: 1, name="load")
    yield ctx.step(lambda _: 2, name=f"report-{datetime.now():%H%M%S%f}")
    return "ok"


REGIONS = {
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "eu-west-1",
    "eu-west-2",
    "eu-central-1",
    "ap-south-1",
    "ap-northeast-1",
    "sa-east-1",
    "ca-central-1",
    "me-south-1",
}


@durable.workflow
def deploys_in_set_order(event: Any, ctx: durable.Context) -> Any:
    """Iterates a set of strings: its order depends on PYTHONHASHSEED."""
    done = []
    for region in {*REGIONS}:
        done.append((yield ctx.step(lambda _, r=region: r, name=f"deploy-{region}")))
    return len(done)


@durable.workflow
def reads_the_environment(event: Any, ctx: durable.Context) -> Any:
    """Branches on an environment variable in workflow code."""
    yield ctx.step(lambda _: 1, name="load")
    if os.environ.get("DURABLE_DEMO_BETA") == "on":
        yield ctx.step(lambda _: 2, name="beta-feature")
    yield ctx.step(lambda _: 3, name="finish")
    return "ok"


@durable.workflow
def clock_for_big_orders(event: Any, ctx: durable.Context) -> Any:
    """Deterministic below 6 items, clock-dependent from 6 on."""
    yield ctx.step(lambda _: 1, name="load")
    if event["items"] > 5:
        yield ctx.step(lambda _: 2, name=f"split-{datetime.now():%H%M%S%f}")
    return event["items"]


@durable.workflow
def audits_when_live(event: Any, ctx: durable.Context) -> Any:
    """Skips a step when replaying: a replay meets another step at its id."""
    if not ctx.is_replaying():
        yield ctx.step(lambda _: "live", name="audit")
    yield ctx.step(lambda _: 1, name="work")
    return "ok"


@durable.workflow
def reconciles_on_replay(event: Any, ctx: durable.Context) -> Any:
    """Adds a step when replaying: a replay goes beyond the finished log."""
    replaying = ctx.is_replaying()
    yield ctx.step(lambda _: 1, name="work")
    if replaying:
        yield ctx.step(lambda _: 2, name="reconcile")
    return "ok"


# -- deterministic workflows --------------------------------------------------------------


@durable.step
def reserve(step_ctx: durable.StepContext, sku: str) -> dict[str, Any]:
    # Fails on its first attempt: exercises a retry (in virtual time).
    if step_ctx.attempt < 2:
        raise ConnectionError("inventory service busy")
    return {"sku": sku, "held": True}


def _price(step_ctx: durable.StepContext) -> float:
    return round(random.random(), 6)  # a nondeterministic body is fine: it is checkpointed


@durable.workflow
def orders(event: Any, ctx: durable.Context) -> Any:
    """Steps with a retry and a nondeterministic body, a wait, a child context
    and a map, each over the input."""
    held = yield reserve(event["sku"])
    price = yield ctx.step(_price, name="price")
    yield ctx.wait(Duration.from_minutes(5), name="cool-off")

    def pack(child: durable.Context) -> Any:
        box = yield child.step(lambda _: f"box-{event['sku']}", name="box")
        return {"box": box}

    packed = yield ctx.run_in_child_context(pack, name="pack")

    def notify(branch: durable.Context, who: str, index: int, items: Any) -> Any:
        return (yield branch.step(lambda _: f"told {who}", name="notify"))

    told = yield ctx.map(event["people"], notify, name="notify-all")
    return {
        "held": held["held"],
        "priced": price >= 0,
        "packed": packed,
        "told": told.get_results(),
    }


@durable_execution
def orders_imperative(event: Any, context: DurableContext) -> Any:
    """`orders` in the imperative style."""
    held = context.step(reserve(event["sku"]))
    price = context.step(_price, name="price")
    context.wait(Duration.from_minutes(5), name="cool-off")
    packed = context.run_in_child_context(
        lambda child: {"box": child.step(lambda _: f"box-{event['sku']}", name="box")},
        name="pack",
    )
    told = context.map(
        event["people"],
        lambda branch, who, index, items: branch.step(lambda _: f"told {who}", name="notify"),
        name="notify-all",
    )
    return {
        "held": held["held"],
        "priced": price >= 0,
        "packed": packed,
        "told": told.get_results(),
    }


ORDER_INPUTS = st.fixed_dictionaries(
    {
        "sku": st.text("abcdef", min_size=1, max_size=4),
        "people": st.lists(st.sampled_from(["ann", "bob", "cy"]), max_size=2),
    }
)

AT_MOST_ONCE = StepConfig(
    step_semantics=StepSemantics.AT_MOST_ONCE_PER_RETRY,
    retry_strategy=RetryPresets.fixed(1),
)


@durable.workflow
def charges_once(event: Any, ctx: durable.Context) -> Any:
    """An at-most-once charge between two ordinary steps."""
    yield ctx.step(lambda _: "quote", name="quote")
    charged = yield ctx.step(
        lambda _: {"charged": event["amount"]}, name="charge", config=AT_MOST_ONCE
    )
    yield ctx.step(lambda _: "mail", name="receipt")
    return charged


# -- the checks ---------------------------------------------------------------------------


def test_randomness_in_workflow_code_is_caught_with_the_operation_named() -> None:
    """The resume after the wait contradicts the log; the interpreter's
    NonDeterminismError is surfaced with the operation."""
    with pytest.raises(NondeterminismFound) as caught:
        check_determinism(ships_at_random, {"order": 1}, max_examples=2, other_process=False)
    message = str(caught.value)
    assert caught.value.operation_id == FIRST
    assert f"id={FIRST!r}" in message
    assert "NonDeterminismError" in message and "name checkpoint='ship-" in message
    assert "first divergent operation: STEP 'ship-" in message
    assert 'input: {"order": 1}' in message


def test_the_clock_in_workflow_code_is_caught_by_a_second_run() -> None:
    with pytest.raises(NondeterminismFound) as caught:
        check_determinism(stamps_with_clock, None, max_examples=2, other_process=False)
    error = caught.value
    assert error.operation_id == SECOND
    assert error.run == "a second fresh run in this process"
    message = str(error)
    assert "first run had:  START STEP 'report-" in message
    assert "this run had:   START STEP 'report-" in message
    assert f"(id {SECOND})" in message


def test_set_iteration_order_is_caught_in_a_process_with_another_hash_seed() -> None:
    """One process iterates a set of strings in one order; another
    PYTHONHASHSEED gives another order, hence other step names."""
    with pytest.raises(NondeterminismFound) as caught:
        check_determinism(
            deploys_in_set_order, {}, max_examples=1, crash_points=2, other_process=True
        )
    error = caught.value
    assert "PYTHONHASHSEED" in error.run
    assert "START STEP 'deploy-" in str(error)
    assert error.operation_id is not None


def test_the_environment_is_caught_in_a_process_with_a_reduced_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DURABLE_DEMO_BETA", "on")
    with pytest.raises(NondeterminismFound) as caught:
        check_determinism(
            reads_the_environment, None, max_examples=1, crash_points=2, other_process=True
        )
    error = caught.value
    assert "another process" in error.run
    assert error.operation_id == SECOND
    assert "first run had:  START STEP 'beta-feature'" in str(error)
    assert "this run had:   START STEP 'finish'" in str(error)


def test_the_environment_is_not_blamed_when_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DURABLE_DEMO_BETA", "on")
    report = check_determinism(
        reads_the_environment,
        None,
        max_examples=1,
        keep_env=["DURABLE_DEMO_BETA"],
        hash_seeds=[5],
    )
    assert report.other_process_runs == 1


def test_a_replay_of_the_finished_log_that_meets_another_step_is_caught() -> None:
    with pytest.raises(NondeterminismFound) as caught:
        check_determinism(audits_when_live, None, max_examples=1, other_process=False)
    error = caught.value
    assert error.run == "a replay of the first run's finished log by durable.core.Replay"
    assert error.operation_id == FIRST
    assert f"first divergent operation: STEP 'audit' (id {FIRST})" in str(error)
    assert "name checkpoint='audit' current='work'" in str(error)


def test_a_replay_of_the_finished_log_that_runs_a_body_is_caught() -> None:
    with pytest.raises(NondeterminismFound) as caught:
        check_determinism(reconciles_on_replay, None, max_examples=1, other_process=False)
    error = caught.value
    assert error.run == "a replay of the first run's finished log by durable.core.Replay"
    assert error.operation_id == SECOND
    message = str(error)
    assert "the replay ran a step body (attempt 1)" in message
    assert f"first divergent operation: STEP 'reconcile' (id {SECOND})" in message
    assert "first run had:  no such operation" in message


def test_hypothesis_shrinks_to_the_smallest_failing_input() -> None:
    with pytest.raises(NondeterminismFound) as caught:
        check_determinism(
            clock_for_big_orders,
            st.fixed_dictionaries({"items": st.integers(0, 1000)}),
            max_examples=30,
            other_process=False,
        )
    assert caught.value.input == {"items": 6}
    assert 'input: {"items": 6}' in str(caught.value)


@pytest.mark.parametrize("workflow", [orders, orders_imperative], ids=["generator", "imperative"])
def test_a_deterministic_workflow_passes_every_check(workflow: Any) -> None:
    """Retries, a nondeterministic step body, a wait, a child context and a
    map: every crash point resumes to the same log, and other processes agree."""
    report = check_determinism(workflow, ORDER_INPUTS, max_examples=4, hash_seeds=[7])
    assert report.examples >= 1
    assert report.crash_runs >= report.examples * 10  # crash points were really tried
    assert report.replays == report.examples
    assert report.other_process_runs == report.examples


def test_every_crash_point_is_tried_when_there_are_few() -> None:
    bodies = 0

    def count(action: RunStep) -> Any:
        nonlocal bodies
        bodies += 1
        return run_step_body(action)

    service = LocalService()
    LocalRunner(charges_once, service=service, run_body=count).run({"amount": 3})
    expected = len(all_crash_points(service.calls, bodies))
    report = check_determinism(charges_once, {"amount": 3}, max_examples=1, other_process=False)
    assert expected == 2 * service.calls + bodies > 0
    assert report.crash_runs == expected
    # one input: the first run, a second run, and one run per crash point
    assert report.runs == expected + 2


def test_an_interrupted_at_most_once_step_is_not_reported() -> None:
    """A crash between the START of an at-most-once attempt and its result
    fails that attempt (StepInterruptedError) and retries: a different log,
    but no nondeterminism, and the body never ran twice for one attempt."""
    report = check_determinism(charges_once, {"amount": 3}, max_examples=1, other_process=False)
    # after its START was applied, inside its body, and before its SUCCEED was applied
    assert report.interrupted == 3


def test_an_at_most_once_body_run_twice_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    """If the interpreter re-ran an interrupted at-most-once body (here: it
    is made to treat such steps as at-least-once), the check says so."""
    import durable.core._handlers as handlers

    monkeypatch.setattr(handlers, "_AT_MOST_ONCE", object())
    with pytest.raises(NondeterminismFound) as caught:
        check_determinism(charges_once, {"amount": 3}, max_examples=1, other_process=False)
    error = caught.value
    assert error.operation_id == SECOND
    assert "at-most-once step ran 2 times for attempt 1" in str(error)
    assert error.run.startswith("resumed after a crash")


def test_crash_points_cover_both_sides_of_every_request_and_every_body() -> None:
    points = all_crash_points(2, 1)
    assert points == [
        CrashPoint("before", 1),
        CrashPoint("after", 1),
        CrashPoint("before", 2),
        CrashPoint("after", 2),
        CrashPoint("body", 1),
    ]
    assert str(points[0]) == "a crash before checkpoint request 1 was applied"


def test_local_workflows_skip_other_processes_unless_required() -> None:
    @durable.workflow
    def local(event: Any, ctx: durable.Context) -> Any:
        return (yield ctx.step(lambda _: 1, name="one"))

    assert check_determinism(local, None, max_examples=1).other_process_runs == 0
    with pytest.raises(durable.errors.UsageError, match="cannot be loaded in another process"):
        check_determinism(local, None, max_examples=1, other_process=True)


def test_importing_the_testing_package_does_not_import_hypothesis() -> None:
    code = (
        "import sys, durable.testing, durable.testing.unit, durable.testing.determinism; "
        "assert 'hypothesis' not in sys.modules, 'hypothesis was imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
