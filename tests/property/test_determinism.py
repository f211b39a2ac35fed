"""Properties of generated workflow programs on the local runner (issue 2, item 9)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from durable.core import Checkpoint, Finish, Replay, RunStep, Value
from durable.testing import LocalRunner, LocalService, SimulatedCrash
from durable.testing._service import EPOCH
from tests.programs import (
    NESTED,
    STYLES,
    BodyCounter,
    Spec,
    StepSpec,
    echo,
    essence,
    generator_workflow,
    has_batches,
    programs,
    respond,
)

PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def run_program(
    program: list[Spec],
    *,
    style: str = "generator",
    fault: Any = None,
    counter: BodyCounter | None = None,
    max_workers: int | None = None,
) -> Any:
    build = STYLES[style]
    service = LocalService(fault=fault)
    runner = LocalRunner(
        build(program),
        service=service,
        run_body=counter or BodyCounter(),
        on_callback=respond,
        max_workers=max_workers,
    )
    runner.register_function("echo", echo)
    return runner.run({"program": len(program)})


class CrashOnce:
    """Kill the process once, at checkpoint call ``call``, before or after it is applied."""

    def __init__(self, call: int, phase: str) -> None:
        self.call = call
        self.phase = phase
        self.fired = False

    def __call__(self, call: int, phase: str) -> None:
        if not self.fired and call == self.call and phase == self.phase:
            self.fired = True
            raise SimulatedCrash(f"killed at checkpoint {call} ({phase})")


def _no_body(action: RunStep) -> Any:
    raise AssertionError(f"replay ran the body of {action.name or action.op_id}")


def _preloaded(done: Any) -> LocalService:
    """A service holding a finished execution's log, ready for one more invocation."""
    service = LocalService()
    arn = service.start_execution(done.log[0].execution_details.input_payload)
    service.execution(arn).operations.update(
        {op.id: op for op in done.log if op.type.value != "EXECUTION"}
    )
    return service


def draw_crash(data: Any, checkpoints: int, bodies: int) -> tuple[CrashOnce, BodyCounter]:
    """One crash point: before or after a checkpoint request is applied, or inside a body."""
    phases = ["before", "after"] if checkpoints else []
    if bodies:
        phases.append("body")
    if not phases:
        return CrashOnce(0, "never"), BodyCounter()
    phase = data.draw(st.sampled_from(phases))
    if phase == "body":
        return CrashOnce(0, "never"), BodyCounter(crash_at=data.draw(st.integers(1, bodies)))
    return CrashOnce(data.draw(st.integers(1, checkpoints)), phase), BodyCounter()


@PROPERTY
@example(program=NESTED).via("map in a parallel in a child")
@given(programs(external=True, children=True, batches=True))
def test_replaying_a_complete_log_runs_no_step_body(program: list[Spec]) -> None:
    """(a) With the whole log in hand, the workflow finishes without any body or checkpoint."""
    first = run_program(program)
    assert first.succeeded
    replay = Replay(generator_workflow(program), {"program": len(program)}, first.log, EPOCH)
    actions = replay.next_actions()
    assert not any(isinstance(a, RunStep | Checkpoint) for a in actions)
    (finish,) = actions
    assert isinstance(finish, Finish) and isinstance(finish.outcome, Value)
    assert json.loads(json.dumps(finish.outcome.value)) == first.result


def by_id(log: Any) -> dict[str, Any]:
    """A log as the service holds it: a map from operation id to operation."""
    return {entry[0]: entry for entry in essence(log)}


@PROPERTY
@example(program=NESTED, data=None).via("map in a parallel in a child")
@given(
    programs(at_most_once=False, external=True, children=True, batches=True, early=False), st.data()
)
def test_a_crash_after_any_checkpoint_prefix_changes_nothing(
    program: list[Spec], data: Any
) -> None:
    """(b) Killing the process at any checkpoint (before or after it is applied) or
    inside any step body, then re-invoking, gives the same result and the same log.

    With maps and parallels, two things a crash legitimately changes are left out:

    * *When* things happen.  The service re-invokes a crashed invocation 5 s
      later, so timers of concurrent branches (waits, step retries, polls)
      can fall due in a different invocation than in the clean run, and
      branches then interleave differently.  The log is therefore compared
      as the service holds it, by operation id, not in order of creation.
    * *Which branch wins a race.*  A policy that completes a batch while
      branches still run (min_successful, any failure tolerance, the
      fail-fast default) reports the outcome of a race between branches, and
      the crash's 5 s can change the winner.  Such policies are generated
      only with ``max_concurrency=1``, where there is no race (``early=False``).
      Without timers in play a crash does not change the winner; the
      regression tests in ``test_concurrency_properties`` pin the two cases
      that once did (a branch finishing in the deciding round, and branches
      still STARTED when the parent's SUCCEED is lost).

    Step bodies run on one worker so that the crash point inside a body is
    reproducible.
    """
    clean_counter = BodyCounter()
    clean = run_program(program, counter=clean_counter, max_workers=1)
    if data is None:  # the explicit example: crash before the third checkpoint
        crash, counter = CrashOnce(3, "before"), BodyCounter()
    else:
        crash, counter = draw_crash(data, clean.checkpoint_calls, clean_counter.calls)
    crashed = run_program(program, fault=crash, counter=counter, max_workers=1)
    assert crash.fired or crash.phase == "never" or counter.calls >= (counter.crash_at or 0)
    assert crashed.succeeded and crashed.result == clean.result
    if has_batches(program):
        assert by_id(crashed.log) == by_id(clean.log)
    else:
        assert essence(crashed.log) == essence(clean.log)


@PROPERTY
@example(program=NESTED).via("map in a parallel in a child")
@given(programs(children=True, external=True, batches=True))
def test_the_three_styles_write_identical_logs(program: list[Spec]) -> None:
    """(c) The yield, await and imperative forms of a program, child contexts, maps and
    parallels (with every completion policy) included,
    send the same updates in the same requests and return the same result, and
    each form's final log replays in every form with no body run and nothing sent."""
    runs = {style: run_program(program, style=style) for style in STYLES}
    reference = runs["generator"]
    for style, result in runs.items():
        assert result.result == reference.result, style
        assert [r.updates for r in result.requests] == [r.updates for r in reference.requests], (
            style
        )
        assert essence(result.log) == essence(reference.log), style
    for style in STYLES:
        replay = LocalRunner(
            STYLES[style](program), service=_preloaded(reference), run_body=_no_body
        )
        outcome = replay.resume(next(iter(replay.service._executions)))
        assert outcome.result == reference.result, style
        assert outcome.checkpoint_calls == 0, style


@PROPERTY
@given(programs(), st.data())
def test_an_at_most_once_body_never_runs_twice(program: list[Spec], data: Any) -> None:
    """(d) Whatever the crash point, no at-most-once attempt's body runs more than once."""
    clean_counter = BodyCounter()
    clean = run_program(program, counter=clean_counter)
    crash, counter = draw_crash(data, clean.checkpoint_calls, clean_counter.calls)
    result = run_program(program, fault=crash, counter=counter)
    assert result.succeeded
    at_most_once = {
        op.id
        for op, spec in zip(
            [o for o in result.log if o.sub_type == "Step"],
            [s for s in program if isinstance(s, StepSpec)],
            strict=False,
        )
        if spec.at_most_once
    }
    for (op_id, attempt), runs in counter.runs.items():
        if op_id in at_most_once:
            assert runs == 1, f"at-most-once step {op_id} attempt {attempt} ran {runs} times"
