"""Kill a generated program's process at chosen points and check what survived.

``CrashingRun`` runs a program of ``tests.programs`` on a ``LocalService``
and raises ``SimulatedCrash`` (the process died) at each planned
``CrashPoint``: before or after a checkpoint request is applied (after: the
service kept it, the answer was lost), or before, inside or after a step body
(after: the body returned but its outcome was never checkpointed).  It
records, for every crash, the service's state at that instant, and for every
body run the step, the attempt and the invocation that ran it.

``check_crash_guarantees`` then states what issue 9 asks of a crash:

* nothing checkpointed is lost: an operation SUCCEEDED at any checkpoint is
  SUCCEEDED with the same record in the end, and nothing is sent for it again;
* an at-most-once attempt's body never runs twice, and an attempt found
  STARTED after a crash surfaces as protocol.md §5.1 says: the next update of
  that step is a RETRY or FAIL carrying ``StepInterruptedError`` (and no
  interruption is ever reported that did not happen);
* an at-least-once attempt found STARTED is re-run without a new START, and
  an at-least-once body re-runs at most once per crash that interrupted it.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Literal

import attrs

from durable import StepSemantics
from durable.core import Failure, RunStep, Value
from durable.errors import StepInterruptedError
from durable.model import Operation, OperationAction, OperationStatus, OperationType
from durable.runtime import run_step_body
from durable.testing import ExecutionResult, LocalRunner, LocalService, SimulatedCrash
from tests.programs import STYLES, Spec, echo, respond

Where = Literal["checkpoint-before", "checkpoint-after", "body-before", "body-inside", "body-after"]
CHECKPOINT_PHASES: tuple[Where, ...] = ("checkpoint-before", "checkpoint-after")
BODY_PHASES: tuple[Where, ...] = ("body-before", "body-inside", "body-after")
INTERRUPTED = StepInterruptedError.wire_type


@attrs.frozen
class CrashPoint:
    """Where to die: at checkpoint request ``number`` (counted over the whole
    run) or at step body call ``number`` (likewise)."""

    where: Where
    number: int

    def __str__(self) -> str:
        return f"{self.where} #{self.number}"


@attrs.frozen
class Crash:
    """A crash that happened: in which invocation, and what the service held then."""

    point: CrashPoint
    invocation: int
    snapshot: dict[str, Operation]


@attrs.frozen
class BodyRun:
    op_id: str
    attempt: int
    invocation: int
    at_most_once: bool


def at_most_once(action: RunStep) -> bool:
    """Whether the step asking for this body runs at most once per attempt.

    A step's body ``call`` is the bound ``invoke`` of its descriptor, which
    carries the step's config; any other body (a wait_for_condition check) is
    at-least-once.
    """
    config = getattr(getattr(action.call, "__self__", None), "config", None)
    semantics = getattr(config, "step_semantics", StepSemantics.AT_LEAST_ONCE_PER_RETRY)
    return semantics is StepSemantics.AT_MOST_ONCE_PER_RETRY


class CrashingRun:
    """One run of ``program`` that dies at every point of ``points`` it reaches."""

    def __init__(
        self,
        program: list[Spec],
        points: list[CrashPoint] | tuple[CrashPoint, ...] = (),
        *,
        style: str = "generator",
        max_workers: int = 1,
    ) -> None:
        self.points = set(points)
        self.crashes: list[Crash] = []
        self.bodies: list[BodyRun] = []
        self.body_calls = 0
        #: Step id -> whether it is at-most-once, for every body asked for.
        self.semantics: dict[str, bool] = {}
        #: Every operation seen SUCCEEDED after an applied checkpoint, first sighting.
        self.committed: dict[str, Operation] = {}
        self.service = LocalService(fault=self._fault)
        self.runner = LocalRunner(
            STYLES[style](program),
            service=self.service,
            run_body=self._run_body,
            on_callback=respond,
            max_workers=max_workers,
        )
        self.runner.register_function("echo", echo)
        self.arn = self.runner.start({"program": len(program)})

    def run(self) -> ExecutionResult:
        return self.runner.resume(self.arn)

    # -- hooks -------------------------------------------------------------------

    def _operations(self) -> dict[str, Operation]:
        return dict(self.service.execution(self.arn).operations)

    def _die(self, point: CrashPoint) -> None:
        invocation = self.service.execution(self.arn).invocations
        self.crashes.append(Crash(point, invocation, self._operations()))
        raise SimulatedCrash(f"killed at {point}")

    def _fault(self, call: int, phase: str) -> None:
        if phase == "after":
            for op_id, op in self._operations().items():
                if op.status is OperationStatus.SUCCEEDED:
                    self.committed.setdefault(op_id, op)
        point = CrashPoint("checkpoint-before" if phase == "before" else "checkpoint-after", call)
        if point in self.points:
            self._die(point)

    def _run_body(self, action: RunStep) -> Value | Failure:
        self.body_calls += 1
        number = self.body_calls
        once = self.semantics.setdefault(action.op_id, at_most_once(action))
        run = BodyRun(
            action.op_id, action.attempt, self.service.execution(self.arn).invocations, once
        )
        if CrashPoint("body-before", number) in self.points:
            self._die(CrashPoint("body-before", number))
        self.bodies.append(run)
        if CrashPoint("body-inside", number) in self.points:
            # The body's side effects happened; it never returned.
            self._die(CrashPoint("body-inside", number))
        outcome = run_step_body(action)
        if CrashPoint("body-after", number) in self.points:
            self._die(CrashPoint("body-after", number))
        return outcome


def _updates_after(run: CrashingRun, invocation: int) -> list[Any]:
    journal = run.service.execution(run.arn).journal
    return [u for request in journal if request.invocation > invocation for u in request.updates]


def interruptions(run: CrashingRun) -> list[Any]:
    """Every update of the run that reports an interrupted at-most-once attempt."""
    journal = run.service.execution(run.arn).journal
    return [
        u
        for request in journal
        for u in request.updates
        if u.error is not None and u.error.type == INTERRUPTED
    ]


def check_crash_guarantees(
    run: CrashingRun, result: ExecutionResult, semantics: dict[str, bool]
) -> None:
    """Assert the crash guarantees of the module docstring for a finished ``run``.

    ``semantics`` tells for each step id whether it is at-most-once (the
    ``semantics`` of a clean run of the same program: a step whose body the
    crashed run never asked for still needs it).
    """
    semantics = semantics | run.semantics
    where = f"crashes at {[str(c.point) for c in run.crashes]}"
    assert result.succeeded, f"{where}: {result.summary()}"
    final = run._operations()

    # Nothing checkpointed is lost, nothing finished runs or is sent again.
    for op_id, op in run.committed.items():
        assert final.get(op_id) == op, f"{where}: SUCCEEDED record of {op_id} changed or vanished"
    for crash in run.crashes:
        done = {i for i, op in crash.snapshot.items() if op.is_terminal}
        resent = [u for u in _updates_after(run, crash.invocation) if u.id in done]
        assert not resent, f"{where}: updates sent again for finished operations: {resent}"
        rerun = [b for b in run.bodies if b.invocation > crash.invocation and b.op_id in done]
        assert not rerun, f"{where}: bodies of finished steps ran again: {rerun}"

    # Body counts per attempt.
    runs = Counter((b.op_id, b.attempt) for b in run.bodies)
    for (op_id, attempt), count in runs.items():
        invocations = [b.invocation for b in run.bodies if (b.op_id, b.attempt) == (op_id, attempt)]
        assert len(set(invocations)) == len(invocations), (
            f"{where}: step {op_id} attempt {attempt} ran twice in one invocation"
        )
        if semantics[op_id]:
            assert count == 1, f"{where}: at-most-once {op_id} attempt {attempt} ran {count} times"
        else:
            interrupting = sum(1 for c in run.crashes if c.invocation in invocations)
            assert count - 1 <= interrupting, (
                f"{where}: at-least-once {op_id} attempt {attempt} ran {count} times "
                f"for {interrupting} crash(es) that interrupted it"
            )

    # Steps found STARTED after a crash.
    expected_interruptions: set[tuple[str, int]] = set()
    for crash in run.crashes:
        for op_id, op in crash.snapshot.items():
            if op.type is not OperationType.STEP or op.status is not OperationStatus.STARTED:
                continue
            later = [u for u in _updates_after(run, crash.invocation) if u.id == op_id]
            assert later, f"{where}: step {op_id}, STARTED at the crash, was never resolved"
            first = later[0]
            attempt = (op.step_details.attempt if op.step_details else 0) or 0
            if semantics[op_id]:
                assert first.action in (OperationAction.RETRY, OperationAction.FAIL), (
                    f"{where}: interrupted at-most-once step {op_id} continued with {first}"
                )
                assert first.error is not None and first.error.type == INTERRUPTED, (
                    f"{where}: interrupted at-most-once step {op_id} reported {first.error}"
                )
                assert f"operation_id={op_id}" in (first.error.message or "")
                assert runs[(op_id, attempt + 1)] <= 1
                expected_interruptions.add((op_id, attempt))
            else:
                assert first.action is not OperationAction.START, (
                    f"{where}: interrupted at-least-once step {op_id} was STARTed again"
                )
    reported = interruptions(run)
    assert len(reported) == len(expected_interruptions), (
        f"{where}: interruptions reported {[u.id for u in reported]}, "
        f"expected {sorted(expected_interruptions)}"
    )


def crash_points_of(checkpoints: int, bodies: int) -> list[CrashPoint]:
    """Every single crash point of a run with that many checkpoint requests and bodies."""
    points = [CrashPoint(w, n) for n in range(1, checkpoints + 1) for w in CHECKPOINT_PHASES]
    points += [CrashPoint(w, n) for n in range(1, bodies + 1) for w in BODY_PHASES]
    return points
