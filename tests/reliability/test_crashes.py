"""Crashes at any point lose nothing and run nothing twice (issue 9, item 2).

The process of a generated workflow is killed (``SimulatedCrash``) before or
after any checkpoint request is applied, and before, inside or after any step
body (after: the body returned but its outcome was never checkpointed), in
the middle of maps, parallels and child contexts too; the local runner then
re-invokes it as the service would.  ``tests/reliability/crash_harness.py``
checks the guarantees after every run:

* every operation SUCCEEDED at a checkpoint is SUCCEEDED with the same record
  in the end, and nothing is sent or run again for a finished operation;
* an at-most-once attempt's body runs at most once; an attempt found STARTED
  after the crash surfaces as ``StepInterruptedError`` handed to the retry
  strategy (protocol.md §5.1: the next update is RETRY or FAIL with that
  error), and no interruption is reported that did not happen;
* an at-least-once body re-runs at most once per crash that interrupted it,
  without a new START;
* the execution still succeeds, with the clean run's result and log (by id)
  whenever no at-most-once attempt was interrupted.

``tests/property/test_determinism.py`` (b) and (d) check the weaker
"same result, at-most-once body never twice" for single crashes;
``tests/reliability/test_sigkill.py`` kills real processes.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from durable.model import OperationAction, OperationStatus, OperationType
from tests.programs import (
    NESTED,
    STYLES,
    BranchSpec,
    ChildSpec,
    MapSpec,
    ParallelSpec,
    Spec,
    StepSpec,
    WaitSpec,
    essence,
    programs,
)
from tests.reliability import report
from tests.reliability.crash_harness import (
    BODY_PHASES,
    CHECKPOINT_PHASES,
    INTERRUPTED,
    CrashingRun,
    CrashPoint,
    check_crash_guarantees,
    crash_points_of,
    interruptions,
)

CRASHES = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def by_id(log: Any) -> dict[str, Any]:
    return {entry[0]: entry for entry in essence(log)}


def _record(run: CrashingRun) -> None:
    for crash in run.crashes:
        report.count(f"crash (in-process): {crash.point.where}")


def _check(clean: CrashingRun, clean_result: Any, crashed: CrashingRun) -> None:
    """Run ``crashed`` and check it against the clean run of the same program."""
    result = crashed.run()
    _record(crashed)
    check_crash_guarantees(crashed, result, clean.semantics)
    if not interruptions(crashed):
        where = [str(c.point) for c in crashed.crashes]
        assert result.result == clean_result.result, where
        assert by_id(result.log) == by_id(clean_result.log), where


def _crash_and_check(program: list[Spec], points: list[CrashPoint]) -> CrashingRun:
    clean = CrashingRun(program)
    clean_result = clean.run()
    assert clean_result.succeeded, clean_result.summary()
    crashed = CrashingRun(program, points)
    _check(clean, clean_result, crashed)
    return crashed


@st.composite
def crash_plans(draw: Any, checkpoints: int, bodies: int) -> list[CrashPoint]:
    """One to three distinct crash points within the clean run's checkpoint
    requests and bodies (a later point may not be reached: the crashes shift
    the numbering).  ``bodies=0``: checkpoints only."""
    options: list[st.SearchStrategy[CrashPoint]] = []
    if checkpoints:
        options.append(
            st.builds(CrashPoint, st.sampled_from(CHECKPOINT_PHASES), st.integers(1, checkpoints))
        )
    if bodies:
        options.append(st.builds(CrashPoint, st.sampled_from(BODY_PHASES), st.integers(1, bodies)))
    if not options:
        return []
    return draw(st.lists(st.one_of(options), min_size=1, max_size=3, unique=True))


@CRASHES
@given(
    programs(external=True, children=True, batches=True, early=False, max_size=5),
    st.sampled_from(sorted(STYLES)),
    st.data(),
)
def test_crashes_anywhere_keep_every_guarantee(program: list[Spec], style: str, data: Any) -> None:
    """Generated programs (at-most-once and at-least-once steps, waits, child
    contexts, maps, parallels, callbacks, invokes, polls) in every style,
    killed at 1-3 points drawn over checkpoints and bodies.

    With 4 workers the bodies of concurrent branches run on threads; which
    body is the n-th then depends on timing, so those runs crash at
    checkpoints only (whose order never depends on threads)."""
    workers = data.draw(st.sampled_from([1, 4]), "max_workers")
    clean = CrashingRun(program, style=style, max_workers=workers)
    clean_result = clean.run()
    assert clean_result.succeeded
    bodies = clean.body_calls if workers == 1 else 0
    points = data.draw(crash_plans(clean_result.checkpoint_calls, bodies), "crashes")
    _check(clean, clean_result, CrashingRun(program, points, style=style, max_workers=workers))


#: At-most-once and at-least-once steps inside a map, a parallel and a child
#: context, with a retry and a wait, for the exhaustive single-crash sweep.
MIXED: list[Spec] = [
    StepSpec("first", failures=0, max_attempts=1, at_most_once=True, value="f"),
    MapSpec(
        "fan",
        (
            BranchSpec((StepSpec("once", 0, 2, True, 1),), value=1),
            BranchSpec((StepSpec(None, 1, 2, False, 2), WaitSpec(None, 3)), value=2),
            BranchSpec((StepSpec("once-strict", 0, 1, True, 3),), value=3),
        ),
        max_concurrency=2,
        policy=("all_completed", None),
    ),
    ChildSpec(
        "child",
        (
            ParallelSpec(
                "par",
                (
                    BranchSpec((StepSpec("p-once", 1, 3, True, "x"),), name="left"),
                    BranchSpec((StepSpec("p-least", 0, 1, False, "y"),), name="right"),
                ),
                policy=("all_completed", None),
            ),
        ),
    ),
    StepSpec("last", failures=0, max_attempts=2, at_most_once=True, value="l"),
]


def _sweep(program: list[Spec]) -> list[CrashingRun]:
    clean = CrashingRun(program)
    clean_result = clean.run()
    points = crash_points_of(clean_result.checkpoint_calls, clean.body_calls)
    assert len(points) > 20
    return [_crash_and_check(program, [point]) for point in points]


def test_every_single_crash_point_of_a_mixed_batch_program() -> None:
    """Each checkpoint (before/after) and each body (before/inside/after) of
    ``MIXED``, one crash at a time, with the interrupted at-most-once attempts
    checked by name."""
    runs = _sweep(MIXED)
    assert all(run.crashes for run in runs)
    # Some crash interrupted an at-most-once step inside the map with a single
    # attempt: its body did not run again and the map recorded the failure.
    strict = [
        run
        for run in runs
        if any(
            u.error is not None and u.error.type == INTERRUPTED and u.action is OperationAction.FAIL
            for u in interruptions(run)
        )
    ]
    assert strict
    for run in strict:
        final = {op.name: op for op in run.service.operations(run.arn)}
        failed = [
            op
            for op in final.values()
            if op.type is OperationType.STEP and op.status is OperationStatus.FAILED
        ]
        assert any(op.error is not None and op.error.type == INTERRUPTED for op in failed)


def test_every_single_crash_point_of_a_nested_program() -> None:
    """The same sweep over ``NESTED`` (a map in a flat parallel in a child
    context, an empty map, a fail-fast parallel), at-least-once only: every
    crash leaves the clean run's result and log."""
    runs = _sweep(NESTED)
    assert not any(interruptions(run) for run in runs)


def test_an_interrupted_at_most_once_step_retries_or_fails_per_its_strategy() -> None:
    """Killed after its body returned: with attempts left the interrupted
    attempt is a RETRY carrying StepInterruptedError and attempt 2 runs once;
    without, the step FAILs and the workflow sees a StepError."""
    for max_attempts, expected_action in ((2, OperationAction.RETRY), (1, OperationAction.FAIL)):
        program: list[Spec] = [StepSpec("charge", 0, max_attempts, True, 42)]
        run = _crash_and_check(program, [CrashPoint("body-after", 1)])
        (update,) = interruptions(run)
        assert update.action is expected_action
        assert update.error.message.endswith("was previously interrupted")
        assert "name=charge" in update.error.message
        result = run.runner.result(run.arn)
        if max_attempts == 2:
            assert [(b.attempt, b.invocation) for b in run.bodies] == [(1, 1), (2, 3)]
            assert result.result == [42]
        else:
            assert [(b.attempt, b.invocation) for b in run.bodies] == [(1, 1)]
            ((kind, _message, error_type),) = result.result
            assert kind == "failed" and error_type == INTERRUPTED
