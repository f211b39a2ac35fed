"""The saga helper: undos run last-first as checkpointed steps, in every style,
once each, through crashes, and report the ones that still fail."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import durable
from durable import (
    CompensationError,
    CompensationReport,
    DurableContext,
    RetryPresets,
    Saga,
    StepConfig,
    ValidationError,
    durable_execution,
)
from durable.core import Finish, Replay, RunStep, Value
from durable.testing import LocalRunner, LocalService, SimulatedCrash
from durable.testing._service import EPOCH

SERVICES = ("flight", "hotel", "car", "train", "insurance")
NO_RETRY = StepConfig(retry_strategy=RetryPresets.none())


class Calls:
    """What the step bodies did, across invocations and threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.log: list[str] = []

    def add(self, entry: str) -> None:
        with self.lock:
            self.log.append(entry)


def trip(calls: Calls, fail_at: int, undo_fails: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The same five-booking saga in the three styles; booking ``fail_at``
    fails (5: none does); the undos named in ``undo_fails`` fail too."""

    def book(step_ctx: Any, what: str) -> dict[str, str]:
        calls.add(f"book {what}")
        if SERVICES.index(what) == fail_at:
            raise RuntimeError(f"no {what} available")
        return {"id": f"{what}-1"}

    def cancel(step_ctx: Any, booking: str) -> str:
        calls.add(f"cancel {booking}")
        if booking.split("-")[0] in undo_fails:
            raise ConnectionError(f"cannot cancel {booking}")
        return booking

    def outcome(report: CompensationReport, exc: Exception) -> dict[str, Any]:
        return {"error": str(exc), "report": report.to_dict()}

    @durable.workflow
    def generator_trip(event: Any, ctx: durable.Context) -> Any:
        saga = Saga()
        booked = []
        try:
            for what in SERVICES:
                booking = yield ctx.step(lambda s, w=what: book(s, w), name=what, config=NO_RETRY)
                saga.add(cancel, booking["id"], name=f"cancel-{what}", config=NO_RETRY)
                booked.append(booking["id"])
        except Exception as exc:
            report = yield saga.compensate(ctx)
            return outcome(report, exc)
        return {"booked": booked}

    @durable.workflow
    async def async_trip(event: Any, ctx: durable.Context) -> Any:
        saga = Saga()
        booked = []
        try:
            for what in SERVICES:
                booking = await ctx.step(lambda s, w=what: book(s, w), name=what, config=NO_RETRY)
                saga.add(cancel, booking["id"], name=f"cancel-{what}", config=NO_RETRY)
                booked.append(booking["id"])
        except Exception as exc:
            report = await saga.compensate(ctx)
            return outcome(report, exc)
        return {"booked": booked}

    @durable_execution
    def imperative_trip(event: Any, context: DurableContext) -> Any:
        saga = Saga()
        booked = []
        try:
            for what in SERVICES:
                booking = context.step(lambda s, w=what: book(s, w), name=what, config=NO_RETRY)
                saga.add(cancel, booking["id"], name=f"cancel-{what}", config=NO_RETRY)
                booked.append(booking["id"])
        except Exception as exc:
            report = saga.compensate(context)
            return outcome(report, exc)
        return {"booked": booked}

    return {"generator": generator_trip, "async": async_trip, "imperative": imperative_trip}


class CrashOnce:
    """Kill the process once, at checkpoint call ``call``, before or after it is applied."""

    def __init__(self, call: int, phase: str) -> None:
        self.call, self.phase, self.fired = call, phase, False

    def __call__(self, call: int, phase: str) -> None:
        if not self.fired and call == self.call and phase == self.phase:
            self.fired = True
            raise SimulatedCrash(f"killed at checkpoint {call} ({phase})")


def essence(log: Any) -> list[Any]:
    return [
        (op.id, op.parent_id, op.type.value, op.sub_type, op.name, op.status.value)
        for op in log
        if op.type.value != "EXECUTION"
    ]


@settings(max_examples=30, deadline=None)
@given(
    fail_at=st.integers(0, len(SERVICES)),
    undo_fails=st.frozensets(st.sampled_from(SERVICES)),
)
def test_a_failure_at_any_position_undoes_exactly_what_was_booked(
    fail_at: int, undo_fails: frozenset[str]
) -> None:
    """Every style undoes the bookings made before the failure, last first,
    each once; a failing undo is reported and the others still run; the three
    styles write the same log."""
    results = {}
    for style in ("generator", "async", "imperative"):
        calls = Calls()
        result = LocalRunner(trip(calls, fail_at, undo_fails)[style]).run({})
        assert result.succeeded, (style, result.error)
        results[style] = result
        booked = [f"{what}-1" for what in SERVICES[:fail_at]]
        if fail_at == len(SERVICES):
            assert result.result == {"booked": booked}
            assert not any(c.startswith("cancel") for c in calls.log)
            continue
        expected_undos = [f"cancel {b}" for b in reversed(booked)]
        assert [c for c in calls.log if c.startswith("cancel")] == expected_undos, style
        report = CompensationReport.from_dict(result.result["report"])
        failed = {f.name for f in report.failed}
        assert failed == {f"cancel-{w}" for w in SERVICES[:fail_at] if w in undo_fails}
        assert set(report.compensated) == {f"cancel-{w}" for w in SERVICES[:fail_at]} - failed
        assert result.result["error"] == f"no {SERVICES[fail_at]} available"
    reference = essence(results["generator"].log)
    for style, result in results.items():
        assert essence(result.log) == reference, style
        assert result.result == results["generator"].result, style


@pytest.mark.parametrize("style", ["generator", "imperative"])
def test_a_crash_during_compensation_resumes_without_repeating_an_undo(style: str) -> None:
    """Kill the process before or after each checkpoint of the run: an undo
    whose success was checkpointed never runs again, and the outcome is the
    clean run's."""
    clean_calls = Calls()
    clean = LocalRunner(trip(clean_calls, fail_at=3)[style]).run({})
    for call in range(1, clean.checkpoint_calls + 1):
        for phase in ("before", "after"):
            calls = Calls()
            service = LocalService(fault=CrashOnce(call, phase))
            result = LocalRunner(trip(calls, fail_at=3)[style], service=service).run({})
            where = f"crash at checkpoint {call} {phase}"
            assert result.succeeded and result.result == clean.result, where
            undone = Counter(c for c in calls.log if c.startswith("cancel"))
            # At least once per crash: at most one undo runs a second time,
            # and only when the crash fell before its checkpoint was applied.
            assert sum(undone.values()) <= 3 + 1, (where, calls.log)
            assert set(undone) == {"cancel flight-1", "cancel hotel-1", "cancel car-1"}, where
            assert essence(result.log) == essence(clean.log), where


def test_an_undo_checkpointed_before_the_crash_is_not_run_again() -> None:
    """A crash after the second undo's SUCCEED was applied: the first two
    undos ran once, the third runs after the restart."""
    calls = Calls()
    wf = trip(calls, fail_at=3)["generator"]
    clean = LocalRunner(trip(Calls(), fail_at=3)["generator"]).run({})
    requests = clean.requests
    target = next(
        i
        for i, request in enumerate(requests, start=1)
        if any(u.name == "cancel-hotel" and u.action.value == "SUCCEED" for u in request.updates)
    )

    crash = CrashOnce(target, "after")  # once cancel-hotel's SUCCEED was applied
    result = LocalRunner(wf, service=LocalService(fault=crash)).run({})
    assert crash.fired
    assert result.succeeded
    assert Counter(c for c in calls.log if c.startswith("cancel")) == {
        "cancel car-1": 1,
        "cancel hotel-1": 1,
        "cancel flight-1": 1,
    }


def test_raise_if_failed_names_every_failed_undo() -> None:
    @durable.workflow
    def wf(event: Any, ctx: durable.Context) -> Any:
        saga = Saga(name="unwind")
        saga.add(lambda s: "ok", name="undo-a")
        saga.add(lambda s: 1 / 0, name="undo-b", config=NO_RETRY)
        try:
            yield ctx.step(lambda s: (_ for _ in ()).throw(KeyError("x")), name="boom")
        except Exception as exc:
            report = yield saga.compensate(ctx)
            report.raise_if_failed(exc)
        return "unreachable"

    result = LocalRunner(wf).run({})
    assert not result.succeeded
    assert result.error is not None
    assert "CompensationError" in (result.error.type or "")
    assert "undo-b: ZeroDivisionError: division by zero" in (result.error.message or "")
    assert "undone: undo-a" in (result.error.message or "")
    context = result.get_context("unwind")
    assert context.sub_type == "Saga"
    assert [op.name for op in context.children] == ["undo-b", "undo-a"]


def test_a_finished_compensation_replays_without_running_an_undo() -> None:
    calls = Calls()
    wf = trip(calls, fail_at=2)["generator"]
    done = LocalRunner(wf).run({})
    ran_before = list(calls.log)
    actions = Replay(wf.fn, {}, done.log, EPOCH).next_actions()
    assert not any(isinstance(a, RunStep) for a in actions)
    assert isinstance(actions[-1], Finish) and isinstance(actions[-1].outcome, Value)
    assert actions[-1].outcome.value == done.result
    assert calls.log == ran_before


def test_an_empty_saga_compensates_nothing() -> None:
    @durable.workflow
    def wf(event: Any, ctx: durable.Context) -> Any:
        report = yield Saga().compensate(ctx)
        return {"ok": report.ok, "report": report.to_dict()}

    result = LocalRunner(wf).run({})
    assert result.result == {"ok": True, "report": {"compensated": [], "failed": []}}


def test_step_functions_keep_their_name_and_config() -> None:
    @durable.step(config=NO_RETRY)
    def release(step_ctx: Any, seat: str) -> str:
        return f"released {seat}"

    saga = Saga()
    saga.add(release, "12A")
    saga.add(lambda s: None, name="undo-last")
    assert saga.pending == ["undo-last", "release"]


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda s: s.add("not a function"), "Saga.add needs a function"),
        (
            lambda s: (s.add(print, name="undo"), s.add(print, name="undo")),
            "already has an undo named 'undo'",
        ),
        (lambda s: s.add(print, name=""), "needs a non-empty name"),
    ],
)
def test_bad_registrations_are_refused_with_the_reason(build: Any, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        build(Saga())


def test_compensation_error_carries_the_report() -> None:
    report = CompensationReport.from_dict(
        {"compensated": ["a"], "failed": [{"name": "b", "error_type": "E", "message": "m"}]}
    )
    with pytest.raises(CompensationError) as caught:
        report.raise_if_failed()
    assert caught.value.report is report
    assert not report.ok
