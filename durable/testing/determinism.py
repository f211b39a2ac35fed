"""``check_determinism``: property-test that a workflow replays the same way.

A durable workflow is re-run from the top on every invocation and must take
the same path each time, given the same step results.  ``check_determinism``
tests that with Hypothesis, for inputs it generates::

    from hypothesis import strategies as st
    from durable.testing.determinism import check_determinism

    def test_process_order_is_deterministic():
        check_determinism(
            process_order,
            st.fixed_dictionaries({"order_id": st.text(min_size=1), "amount": st.floats(0, 1e6)}),
            max_examples=20,
        )

For each input it:

1. runs the workflow to its end on a ``LocalRunner`` (virtual time; callbacks
   answered by ``on_callback``, by default successfully with an empty
   answer; chained invokes served by ``functions``), recording every
   checkpoint request, the final log and every step body's outcome;
2. runs it again in a fresh runner in this process, and in one fresh
   process per ``hash_seeds`` entry, with another ``PYTHONHASHSEED`` (so the
   iteration order of sets of strings changes) and an environment reduced
   to a few variables (so code that reads the environment shows); each run
   must send the same updates, in the same order, and end the same way:
   this catches branching on ``random``, the clock, set order or the
   environment even without a crash;
3. replays the finished log once more with the pure interpreter
   (``durable.core.Replay``): no step body may run, no checkpoint may be sent
   and the outcome must be the same;
4. crashes the process at checkpoint prefixes (before a checkpoint request
   is applied, after it was applied with its answer lost, or inside a step
   body; every point when there are at most ``crash_points`` of them, else
   ``crash_points`` points Hypothesis chooses) and lets the runner resume it:
   the final log, as the service holds it (ids, types, names, statuses,
   attempts, results, errors; not timestamps), and the outcome must be those
   of step 1;
5. in every run, checks that no at-most-once step
   (``StepSemantics.AT_MOST_ONCE_PER_RETRY``) had its body run twice for the
   same attempt.

Step bodies may be nondeterministic (that is what checkpoints are for): in
the runs after the first, a body that already ran for the same operation id
and attempt is not run again; its recorded outcome is reused, so only the
workflow code between operations is under test.  A crash that interrupts an
at-most-once attempt legitimately changes the log (the attempt fails with
``StepInterruptedError`` and its retry strategy decides); at those points only
the at-most-once guarantee and the execution's end are checked.

On a failure it raises ``NondeterminismFound`` (an ``AssertionError``) that
names the input, the run or crash point, and the first divergent operation
with what the first run had and what the other run had; when the
interpreter itself caught the divergence (``NonDeterminismError``), its
message, which names the operation, is included.  Hypothesis shrinks the
input first.

Runs in another process need the workflow (and ``on_callback`` and the
``functions`` targets) to be importable by module and qualified name, and
their arguments to pickle; with ``other_process=None`` (the default) they
are skipped when that is not so, ``True`` requires them and ``False`` turns
them off.  Limits: a batch whose completion policy ends it while branches
still race (``min_successful``, failure tolerance with concurrency above 1)
can legitimately end differently after a crash, which delays the run by
the service's 5-second re-invoke; such workflows are reported as
nondeterministic.  Do not call ``check_determinism`` inside a ``@given`` test.

Hypothesis is imported only when ``check_determinism`` is called.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import pickle
import struct
import subprocess
import sys
import tempfile
import threading
import traceback
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import IO, TYPE_CHECKING, Any, Literal

import attrs

from durable._workflow import workflow_function
from durable.config import StepSemantics
from durable.core import Checkpoint, Failure, Finish, Outcome, Replay, RunStep, Suspend, Value
from durable.errors import NonDeterminismError, UsageError
from durable.model import (
    ErrorObject,
    ExecutionStatus,
    Operation,
    OperationStatus,
    OperationType,
    OperationUpdate,
)
from durable.ops import Step
from durable.runtime import run_step_body
from durable.testing._runner import CallbackAnswer, LocalRunner, OperationResult
from durable.testing._service import LocalService, SimulatedCrash

if TYPE_CHECKING:
    from hypothesis import settings as HypothesisSettings  # noqa: N812
    from hypothesis.strategies import DataObject, SearchStrategy

__all__ = [
    "CrashPoint",
    "DeterminismReport",
    "NondeterminismFound",
    "check_determinism",
]

#: Environment variables a run in another process keeps (plus ``keep_env``).
BASE_ENVIRONMENT = ("PATH", "SYSTEMROOT", "TMPDIR", "TEMP", "TMP", "LANG", "LC_ALL", "LC_CTYPE")
_NONDETERMINISM_TYPES = frozenset(
    {NonDeterminismError.wire_type, f"{NonDeterminismError.__module__}.NonDeterminismError"}
)


class NondeterminismFound(AssertionError):  # noqa: N818 - reads as a finding, not a fault
    """``check_determinism`` found a run that diverged.

    ``input`` is the workflow input, ``run`` describes the diverging run (a
    crash point, a second run...), ``operation_id`` the first divergent
    operation (``None`` when only the outcome differed).
    """

    def __init__(
        self,
        message: str,
        *,
        input: Any = None,
        run: str = "",
        operation_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.input = input
        self.run = run
        self.operation_id = operation_id


# -- crash points ---------------------------------------------------------------------


@attrs.frozen(order=True)
class CrashPoint:
    """Where a simulated process crash strikes.

    ``phase`` is ``"before"`` (checkpoint request ``number`` is never
    applied), ``"after"`` (it was applied but its answer is lost) or
    ``"body"`` (the process dies inside the ``number``-th step body run).
    Numbers are 1-based and count across all invocations of a run.
    """

    phase: Literal["before", "after", "body"]
    number: int

    def __attrs_post_init__(self) -> None:
        if self.phase not in ("before", "after", "body"):
            raise ValueError(f"CrashPoint.phase must be before, after or body, got {self.phase!r}")
        if self.number < 1:
            raise ValueError(f"CrashPoint.number must be at least 1, got {self.number}")

    def __str__(self) -> str:
        if self.phase == "before":
            return f"a crash before checkpoint request {self.number} was applied"
        if self.phase == "after":
            return f"a crash after checkpoint request {self.number} was applied (answer lost)"
        return f"a crash inside step body run {self.number}"

    def runner_options(
        self, run_body: Callable[[RunStep], Value | Failure] = run_step_body
    ) -> dict[str, Any]:
        """``service`` and ``run_body`` for a ``LocalRunner`` that crashes here
        once: ``LocalRunner(workflow, **point.runner_options())``."""
        injector = _Injector(self)

        def body(action: RunStep) -> Value | Failure:
            injector.body()
            return run_body(action)

        return {"service": LocalService(fault=injector.fault), "run_body": body}


def all_crash_points(checkpoints: int, bodies: int) -> list[CrashPoint]:
    """Every crash point of a run that made ``checkpoints`` checkpoint
    requests and ran ``bodies`` step bodies."""
    points = [
        CrashPoint(phase, n) for n in range(1, checkpoints + 1) for phase in ("before", "after")
    ]
    points.extend(CrashPoint("body", n) for n in range(1, bodies + 1))
    return points


class _Injector:
    """Raises ``SimulatedCrash`` once, at its crash point."""

    def __init__(self, point: CrashPoint | None, on_fire: Callable[[], None] | None = None) -> None:
        self.point = point
        self.fired = False
        self.bodies = 0
        self._on_fire = on_fire

    def _fire(self) -> None:
        self.fired = True
        if self._on_fire is not None:
            self._on_fire()
        raise SimulatedCrash(str(self.point))

    def fault(self, call: int, phase: str) -> None:
        point = self.point
        if point is not None and not self.fired and point.phase == phase and point.number == call:
            self._fire()

    def body(self) -> None:
        self.bodies += 1
        point = self.point
        if (
            point is not None
            and not self.fired
            and point.phase == "body"
            and point.number == self.bodies
        ):
            self._fire()


# -- one run -------------------------------------------------------------------------------

_Memo = dict[tuple[str, int], Outcome]


def _is_at_most_once(action: RunStep) -> bool:
    descriptor = getattr(action.call, "__self__", None)
    return (
        isinstance(descriptor, Step)
        and descriptor.semantics is StepSemantics.AT_MOST_ONCE_PER_RETRY
    )


class _Bodies:
    """The ``run_body`` hook of a checked run: counts body runs per (step,
    attempt), reuses recorded outcomes, records new ones, crashes on cue."""

    def __init__(self, injector: _Injector, memo: _Memo | None) -> None:
        self.injector = injector
        self.memo = memo
        self.recorded: _Memo = {}
        self.runs: Counter[tuple[str, int]] = Counter()
        self.at_most_once: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, action: RunStep) -> Value | Failure:
        key = (action.op_id, action.attempt)
        with self._lock:
            self.runs[key] += 1
            if _is_at_most_once(action):
                self.at_most_once.add(action.op_id)
        self.injector.body()
        memo = self.memo
        if memo is not None and key in memo:
            return memo[key]
        outcome = _run_body(action)
        self.recorded[key] = outcome
        return outcome


def _run_body(action: RunStep) -> Value | Failure:
    """Run a step body for real (a seam the tests of this module use)."""
    return run_step_body(action)


def _answer_callbacks(op: OperationResult) -> CallbackAnswer:
    """The default responder: every callback succeeds with an empty answer."""
    return CallbackAnswer.success()


@attrs.frozen
class _Setup:
    workflow: Any
    on_callback: Callable[[OperationResult], CallbackAnswer | None]
    functions: Mapping[str, Callable[..., Any]]
    jitter_seed: int
    max_invocations: int


@attrs.frozen
class _Summary:
    """What a checked run produced, in a form that pickles."""

    arn: str
    status: ExecutionStatus
    result: Any
    error: ErrorObject | None
    requests: tuple[tuple[OperationUpdate, ...], ...]
    log: tuple[Operation, ...]
    checkpoint_calls: int
    body_runs: int
    runs: dict[tuple[str, int], int]
    at_most_once: frozenset[str]
    #: At-most-once steps that were STARTED when the crash struck.
    interrupted: frozenset[str]
    fired: bool
    ended_at: datetime


def _execute(
    setup: _Setup,
    input_json: str,
    *,
    memo: _Memo | None,
    point: CrashPoint | None = None,
    known_at_most_once: frozenset[str] = frozenset(),
) -> tuple[_Summary, _Memo]:
    interrupted: set[str] = set()
    where: dict[str, Any] = {}

    def on_fire() -> None:
        service, arn = where["service"], where["arn"]
        watched = known_at_most_once | bodies.at_most_once
        interrupted.update(
            op.id
            for op in service.operations(arn)
            if op.type is OperationType.STEP
            and op.status is OperationStatus.STARTED
            and op.id in watched
        )

    injector = _Injector(point, on_fire)
    bodies = _Bodies(injector, memo)
    service = LocalService(fault=injector.fault)
    runner = LocalRunner(
        setup.workflow,
        service=service,
        seed=setup.jitter_seed,
        run_body=bodies,
        on_callback=setup.on_callback,
        max_workers=1,
        max_invocations=setup.max_invocations,
    )
    for name, target in setup.functions.items():
        runner.register_function(name, target)
    arn = runner.start(json.loads(input_json))
    where.update(service=service, arn=arn)
    result = runner.resume(arn)
    summary = _Summary(
        arn=arn,
        status=result.execution_status,
        result=result.result,
        error=result.error,
        requests=tuple(request.updates for request in result.requests),
        log=tuple(result.log),
        checkpoint_calls=service.calls,
        body_runs=injector.bodies,
        runs=dict(bodies.runs),
        at_most_once=frozenset(bodies.at_most_once),
        interrupted=frozenset(interrupted),
        fired=injector.fired,
        ended_at=runner.clock.now(),
    )
    return summary, bodies.recorded


# -- describing differences ----------------------------------------------------------------


def _short(value: Any, limit: int = 120) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _error_key(error: ErrorObject | None) -> tuple[Any, ...] | None:
    return None if error is None else (error.type, error.message, error.data)


def _essence(op: Operation) -> tuple[Any, ...]:
    """What the service holds for ``op``, without timestamps."""
    step = op.step_details
    wait = op.wait_details
    wait_ms = None
    if wait is not None and wait.scheduled_end_timestamp is not None and op.start_timestamp:
        wait_ms = wait.scheduled_end_timestamp - op.start_timestamp
    return (
        op.type,
        op.sub_type,
        op.name,
        op.parent_id,
        op.status,
        step.attempt if step is not None else None,
        op.result,
        _error_key(op.error),
        wait_ms,
    )


def _op_label(op_type: OperationType, name: str | None, op_id: str) -> str:
    named = f"{op_type.value} {name!r}" if name else f"unnamed {op_type.value}"
    return f"{named} (id {op_id})"


def _describe_op(op: Operation | None) -> str:
    if op is None:
        return "no such operation"
    parts = [f"{op.type.value} {op.name!r} [{op.sub_type}] {op.status.value}"]
    if op.step_details is not None and op.step_details.attempt:
        parts.append(f"attempt {op.step_details.attempt}")
    if op.result is not None:
        parts.append(f"result {_short(op.result)}")
    if op.error is not None:
        parts.append(f"error {op.error.type}: {_short(op.error.message)}")
    essence = _essence(op)
    if essence[-1] is not None:
        parts.append(f"wait {essence[-1] // 1000} s")
    if op.parent_id:
        parts.append(f"parent {op.parent_id}")
    return ", ".join(parts)


def _describe_update(update: OperationUpdate | None) -> str:
    if update is None:
        return "nothing (no such update)"
    parts = [f"{update.action.value} {update.type.value} {update.name!r} [{update.sub_type}]"]
    if update.payload is not None:
        parts.append(f"payload {_short(update.payload)}")
    if update.error is not None:
        parts.append(f"error {update.error.type}: {_short(update.error.message)}")
    if update.wait_options is not None:
        parts.append(f"wait {update.wait_options.wait_seconds} s")
    if update.step_options is not None:
        parts.append(f"retry in {update.step_options.next_attempt_delay_seconds} s")
    if update.chained_invoke_options is not None:
        parts.append(f"function {update.chained_invoke_options.function_name!r}")
    if update.parent_id:
        parts.append(f"parent {update.parent_id}")
    return ", ".join(parts)


def _outcome_text(summary: _Summary) -> str:
    if summary.status is ExecutionStatus.SUCCEEDED:
        return f"SUCCEEDED with {_short(json.dumps(summary.result))}"
    if summary.error is not None:
        return f"{summary.status.value}: {summary.error.type}: {_short(summary.error.message)}"
    return str(summary.status.value)


def _is_nondeterminism(error: ErrorObject | None) -> bool:
    return error is not None and error.type in _NONDETERMINISM_TYPES


# -- runs in another process --------------------------------------------------------------

_WORKER_MAIN = "from durable.testing.determinism import _serve; _serve()"
_FRAME = struct.Struct(">Q")


def _write_frame(stream: IO[bytes], data: bytes) -> None:
    stream.write(_FRAME.pack(len(data)) + data)
    stream.flush()


def _read_frame(stream: IO[bytes]) -> bytes | None:
    head = stream.read(_FRAME.size)
    if len(head) < _FRAME.size:
        return None
    (size,) = _FRAME.unpack(head)
    data = stream.read(size)
    return data if len(data) == size else None


def _reference(obj: Any) -> tuple[str, str] | None:
    """``(module, qualified name)`` under which another process finds ``obj``."""
    module = getattr(obj, "__module__", None)
    qualname = getattr(obj, "__qualname__", None)
    if not isinstance(module, str) or not isinstance(qualname, str):
        return None
    if module == "__main__" or "<" in qualname:
        return None
    try:
        target: Any = importlib.import_module(module)
        for part in qualname.split("."):
            target = getattr(target, part)
    except Exception:
        return None
    return (module, qualname) if target is obj else None


def _resolve(reference: tuple[str, str]) -> Any:
    target: Any = importlib.import_module(reference[0])
    for part in reference[1].split("."):
        target = getattr(target, part)
    return target


def _portable_memo(memo: _Memo) -> list[tuple[tuple[str, int], bytes]]:
    """The outcomes that survive a pickle round trip (the other process runs
    the bodies of the rest)."""
    portable = []
    for key, outcome in memo.items():
        try:
            blob = pickle.dumps(outcome)
            pickle.loads(blob)
        except Exception:
            continue
        portable.append((key, blob))
    return portable


def _serve() -> None:
    """Main loop of a run in another process: read requests, answer summaries."""
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # what the workflow prints goes to stderr, not into the protocol
    source = sys.stdin.buffer
    while True:
        frame = _read_frame(source)
        if frame is None:
            return
        try:
            request = pickle.loads(frame)
            memo: _Memo = {}
            for key, blob in request["memo"]:
                try:
                    memo[key] = pickle.loads(blob)
                except Exception:
                    continue
            setup = _Setup(
                workflow=_resolve(request["workflow"]),
                on_callback=(
                    _answer_callbacks
                    if request["on_callback"] is None
                    else _resolve(request["on_callback"])
                ),
                functions={name: _resolve(ref) for name, ref in request["functions"].items()},
                jitter_seed=request["jitter_seed"],
                max_invocations=request["max_invocations"],
            )
            summary, _ = _execute(setup, request["input"], memo=memo)
            reply = pickle.dumps(("ok", summary))
        except BaseException:
            reply = pickle.dumps(("error", traceback.format_exc()))
        _write_frame(out, reply)


class _OtherProcess:
    """A Python process with another hash seed and a reduced environment,
    running the workflow on request."""

    def __init__(self, hash_seed: int, keep_env: Sequence[str]) -> None:
        self.hash_seed = hash_seed
        names = [*BASE_ENVIRONMENT, *keep_env]
        env = {name: os.environ[name] for name in names if name in os.environ}
        env["PYTHONHASHSEED"] = str(hash_seed)
        env["PYTHONPATH"] = os.pathsep.join(path or os.getcwd() for path in sys.path)
        self.kept = sorted(name for name in names if name in os.environ)
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - open until close()
        self._process = subprocess.Popen(
            [sys.executable, "-c", _WORKER_MAIN],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env=env,
        )

    def describe(self) -> str:
        kept = ", ".join(self.kept) or "nothing"
        return (
            f"a fresh run in another process (PYTHONHASHSEED={self.hash_seed}, environment "
            f"reduced to {kept})"
        )

    def run(self, request: dict[str, Any]) -> _Summary:
        process = self._process
        assert process.stdin is not None and process.stdout is not None
        try:
            _write_frame(process.stdin, pickle.dumps(request))
            reply = _read_frame(process.stdout)
        except OSError:
            reply = None
        if reply is None:
            raise UsageError(
                "check_determinism: the process running the workflow with "
                f"PYTHONHASHSEED={self.hash_seed} exited; its stderr ends with:\n"
                f"{self._stderr_tail()}"
            )
        kind, payload = pickle.loads(reply)
        if kind != "ok":
            raise UsageError(
                "check_determinism: running the workflow in another process failed (pass "
                "keep_env=[...] for environment variables it needs, or other_process=False):\n"
                f"{payload}"
            )
        summary: _Summary = payload
        return summary

    def _stderr_tail(self) -> str:
        self._stderr.seek(0)
        return self._stderr.read().decode("utf-8", "replace")[-2000:]

    def close(self) -> None:
        process = self._process
        if process.stdin is not None:
            with contextlib.suppress(OSError):
                process.stdin.close()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()
        self._stderr.close()


# -- the checker ---------------------------------------------------------------------------


@attrs.define
class DeterminismReport:
    """What ``check_determinism`` did: ``examples`` inputs checked, ``runs``
    runs in all, ``crash_runs`` of them crashed and resumed (``interrupted``
    of those interrupted an at-most-once attempt), ``other_process_runs``
    in another process, and ``replays`` of a finished log by the pure
    interpreter."""

    examples: int = 0
    runs: int = 0
    crash_runs: int = 0
    interrupted: int = 0
    other_process_runs: int = 0
    replays: int = 0


class _Checker:
    def __init__(
        self,
        setup: _Setup,
        *,
        crash_points: int | None,
        other_process: bool | None,
        hash_seeds: Sequence[int],
        keep_env: Sequence[str],
    ) -> None:
        self.setup = setup
        self.crash_points = crash_points
        self.keep_env = tuple(keep_env)
        self.hash_seeds = tuple(hash_seeds)
        self.report = DeterminismReport()
        workflow = setup.workflow
        self.label = str(
            getattr(workflow, "name", None) or getattr(workflow, "__name__", None) or "workflow"
        )
        self.fn = workflow_function(workflow)
        self.request: dict[str, Any] | None = None
        self.workers: list[_OtherProcess] | None = None
        if other_process is not False and self.hash_seeds:
            request, missing = self._portable_request()
            if request is None and other_process:
                raise UsageError(
                    f"check_determinism({self.label}, other_process=True): {missing} cannot be "
                    "loaded in another process; define it at module level (not in a function "
                    "or __main__)"
                )
            self.request = request

    def _portable_request(self) -> tuple[dict[str, Any] | None, str]:
        setup = self.setup
        workflow = _reference(setup.workflow)
        if workflow is None:
            return None, f"the workflow {self.label!r}"
        on_callback = None
        if setup.on_callback is not _answer_callbacks:
            on_callback = _reference(setup.on_callback)
            if on_callback is None:
                return None, f"on_callback {setup.on_callback!r}"
        functions = {}
        for name, target in setup.functions.items():
            ref = _reference(target)
            if ref is None:
                return None, f"the function registered as {name!r}"
            functions[name] = ref
        return {
            "workflow": workflow,
            "on_callback": on_callback,
            "functions": functions,
            "jitter_seed": setup.jitter_seed,
            "max_invocations": setup.max_invocations,
        }, ""

    def close(self) -> None:
        for worker in self.workers or ():
            worker.close()

    # -- failures --------------------------------------------------------------------

    def _found(
        self,
        what: str,
        *,
        input_json: str,
        run: str,
        op_id: str | None = None,
        op_label: str | None = None,
        first: str | None = None,
        other: str | None = None,
        detail: str | None = None,
    ) -> NondeterminismFound:
        lines = [
            f"check_determinism({self.label}): {what}",
            f"  input: {_short(input_json, 300)}",
            f"  run: {run}",
        ]
        if op_label is not None:
            lines.append(f"  first divergent operation: {op_label}")
        if first is not None:
            lines.append(f"    first run had:  {first}")
        if other is not None:
            lines.append(f"    this run had:   {other}")
        if detail:
            lines.append(f"  {detail}")
        return NondeterminismFound(
            "\n".join(lines), input=json.loads(input_json), run=run, operation_id=op_id
        )

    def _check_at_most_once(self, summary: _Summary, input_json: str, run: str) -> None:
        watched = summary.at_most_once
        for (op_id, attempt), count in summary.runs.items():
            if op_id in watched and count > 1:
                op = next((o for o in summary.log if o.id == op_id), None)
                label = _op_label(OperationType.STEP, op.name if op else None, op_id)
                raise self._found(
                    f"the body of an at-most-once step ran {count} times for attempt {attempt}",
                    input_json=input_json,
                    run=run,
                    op_id=op_id,
                    op_label=label,
                    detail=(
                        "StepSemantics.AT_MOST_ONCE_PER_RETRY promises at most one run per attempt"
                    ),
                )

    def _check_core_verdict(self, summary: _Summary, input_json: str, run: str) -> None:
        if _is_nondeterminism(summary.error):
            assert summary.error is not None
            op_id = _mentioned_id(summary.error.message)
            op = _find(summary.log, op_id) if op_id is not None else None
            raise self._found(
                "the interpreter found the workflow contradicting its own checkpoint log",
                input_json=input_json,
                run=run,
                op_id=op_id,
                op_label=_op_label(op.type, op.name, op.id) if op is not None else None,
                detail=f"NonDeterminismError: {summary.error.message}",
            )

    def _compare_fresh(self, first: _Summary, other: _Summary, input_json: str, run: str) -> None:
        self._check_at_most_once(other, input_json, run)
        self._check_core_verdict(other, input_json, run)
        sent = [u for request in first.requests for u in request]
        again = [u for request in other.requests for u in request]
        for index in range(max(len(sent), len(again))):
            a = sent[index] if index < len(sent) else None
            b = again[index] if index < len(again) else None
            if a != b:
                pick = a if a is not None else b
                assert pick is not None
                raise self._found(
                    f"checkpoint update #{index + 1} differs between two runs of the same input",
                    input_json=input_json,
                    run=run,
                    op_id=pick.id,
                    op_label=_op_label(pick.type, pick.name, pick.id),
                    first=_describe_update(a),
                    other=_describe_update(b),
                )
        self._compare_outcomes(first, other, input_json, run)

    def _compare_outcomes(
        self, first: _Summary, other: _Summary, input_json: str, run: str
    ) -> None:
        if (
            first.status is not other.status
            or first.result != other.result
            or _error_key(first.error) != _error_key(other.error)
        ):
            raise self._found(
                "the execution ended differently",
                input_json=input_json,
                run=run,
                first=_outcome_text(first),
                other=_outcome_text(other),
            )

    def _compare_crashed(
        self, first: _Summary, crashed: _Summary, input_json: str, point: CrashPoint
    ) -> None:
        run = f"resumed after {point} (the first run made {first.checkpoint_calls} checkpoint "
        run += f"requests and {first.body_runs} body runs)"
        self._check_at_most_once(crashed, input_json, run)
        self._check_core_verdict(crashed, input_json, run)
        if crashed.interrupted:
            # The interrupted attempt failed with StepInterruptedError; what
            # follows is the retry strategy's business, not nondeterminism.
            self.report.interrupted += 1
            if crashed.status is ExecutionStatus.RUNNING and first.status is not crashed.status:
                raise self._found(
                    "after an interrupted at-most-once attempt the execution did not end",
                    input_json=input_json,
                    run=run,
                    first=_outcome_text(first),
                    other=_outcome_text(crashed),
                )
            return
        expected = {op.id: op for op in first.log if op.type is not OperationType.EXECUTION}
        found = {op.id: op for op in crashed.log if op.type is not OperationType.EXECUTION}
        order = [*expected, *(op_id for op_id in found if op_id not in expected)]
        for op_id in order:
            a, b = expected.get(op_id), found.get(op_id)
            if a is None or b is None or _essence(a) != _essence(b):
                pick = a if a is not None else b
                assert pick is not None
                raise self._found(
                    "the final checkpoint log differs after a crash and resume",
                    input_json=input_json,
                    run=run,
                    op_id=op_id,
                    op_label=_op_label(pick.type, pick.name, op_id),
                    first=_describe_op(a),
                    other=_describe_op(b),
                )
        self._compare_outcomes(first, crashed, input_json, run)

    def _replay_log(self, first: _Summary, input_json: str) -> None:
        """Replay the finished log with the pure interpreter: nothing may run
        or be sent, and the outcome must be the same."""
        run = "a replay of the first run's finished log by durable.core.Replay"
        replay = Replay(
            self.fn,
            json.loads(input_json),
            first.log,
            first.ended_at,
            execution_arn=first.arn,
        )
        try:
            self._drive_replay(replay, first, input_json, run)
        finally:
            _abandon(replay)

    def _drive_replay(self, replay: Replay, first: _Summary, input_json: str, run: str) -> None:
        for _ in range(10_000):
            actions = replay.next_actions()
            if not actions:
                raise self._found(
                    "the replay stopped without finishing", input_json=input_json, run=run
                )
            body = next((a for a in actions if isinstance(a, RunStep)), None)
            if body is not None:
                raise self._found(
                    f"the replay ran a step body (attempt {body.attempt}) that the finished "
                    "log does not account for",
                    input_json=input_json,
                    run=run,
                    op_id=body.op_id,
                    op_label=_op_label(OperationType.STEP, body.name, body.op_id),
                    first=_describe_op(_find(first.log, body.op_id)),
                    other=f"RunStep attempt {body.attempt}",
                )
            for action in actions:
                if isinstance(action, Checkpoint):
                    if not action.updates:
                        replay.checkpointed([], first.ended_at)
                        continue
                    update = action.updates[0]
                    raise self._found(
                        "the replay sent a checkpoint that the finished log does not account for",
                        input_json=input_json,
                        run=run,
                        op_id=update.id,
                        op_label=_op_label(update.type, update.name, update.id),
                        first=_describe_op(_find(first.log, update.id)),
                        other=_describe_update(update),
                    )
                if isinstance(action, Suspend):
                    if first.status is ExecutionStatus.RUNNING:
                        return
                    raise self._found(
                        "the replay suspended although the log is finished",
                        input_json=input_json,
                        run=run,
                        first=_outcome_text(first),
                        other=f"suspended: {action.reason}",
                    )
                if isinstance(action, Finish):
                    self._compare_finish(first, action, input_json, run)
                    return
        raise self._found(  # pragma: no cover - a replay of a finite log ends
            "the replay never ended", input_json=input_json, run=run
        )

    def _compare_finish(self, first: _Summary, finish: Finish, input_json: str, run: str) -> None:
        outcome = finish.outcome
        if isinstance(outcome, Failure) and isinstance(outcome.error, NonDeterminismError):
            op_id = outcome.error.operation_id
            op = _find(first.log, op_id) if op_id is not None else None
            raise self._found(
                "the interpreter found the workflow contradicting its own checkpoint log",
                input_json=input_json,
                run=run,
                op_id=op_id,
                op_label=_op_label(op.type, op.name, op.id) if op is not None else None,
                detail=f"NonDeterminismError: {outcome.error}",
            )
        if isinstance(outcome, Value):
            try:
                value = json.loads(json.dumps(outcome.value))
            except (TypeError, ValueError):
                same = first.status is ExecutionStatus.FAILED
                value = None
            else:
                same = first.status is ExecutionStatus.SUCCEEDED and value == first.result
            other = f"returned {_short(json.dumps(value))}"
        else:
            error = ErrorObject.from_exception(outcome.error)
            same = first.status is not ExecutionStatus.SUCCEEDED and _error_key(
                error
            ) == _error_key(first.error)
            other = f"raised {error.type}: {_short(error.message)}"
        if not same:
            raise self._found(
                "replaying the finished log ended differently",
                input_json=input_json,
                run=run,
                first=_outcome_text(first),
                other=other,
            )

    # -- one input ---------------------------------------------------------------------

    def check(self, value: Any, data: DataObject | None) -> None:
        try:
            input_json = json.dumps(value)
        except (TypeError, ValueError) as exc:
            raise UsageError(
                f"check_determinism({self.label}): the input {value!r} is not JSON-serializable: "
                f"{exc}"
            ) from exc
        report = self.report
        report.examples += 1
        first, memo = _execute(self.setup, input_json, memo=None)
        report.runs += 1
        self._check_at_most_once(first, input_json, "the first run")
        self._check_core_verdict(first, input_json, "the first run (resuming after a pause)")

        second, _ = _execute(self.setup, input_json, memo=memo)
        report.runs += 1
        self._compare_fresh(first, second, input_json, "a second fresh run in this process")

        if self.request is not None:
            if self.workers is None:
                self.workers = [_OtherProcess(seed, self.keep_env) for seed in self.hash_seeds]
            request = dict(self.request, input=input_json, memo=_portable_memo(memo))
            for worker in self.workers:
                other = worker.run(request)
                report.runs += 1
                report.other_process_runs += 1
                self._compare_fresh(first, other, input_json, worker.describe())

        self._replay_log(first, input_json)
        report.replays += 1

        points = all_crash_points(first.checkpoint_calls, first.body_runs)
        if self.crash_points is not None and len(points) > self.crash_points:
            assert data is not None
            from hypothesis import strategies as st

            points = data.draw(
                st.lists(
                    st.sampled_from(points),
                    min_size=self.crash_points,
                    max_size=self.crash_points,
                    unique=True,
                ).map(sorted),
                label="crash points",
            )
        for point in points:
            crashed, _ = _execute(
                self.setup,
                input_json,
                memo=memo,
                point=point,
                known_at_most_once=first.at_most_once,
            )
            report.runs += 1
            report.crash_runs += 1
            self._compare_crashed(first, crashed, input_json, point)


def _abandon(replay: Replay) -> None:
    """Unwind a Replay stopped half-way (an imperative handler's thread
    ends), where the core offers it."""
    close = getattr(replay, "close", None)
    if close is not None and not replay.done:
        with contextlib.suppress(Exception):
            close()


def _find(log: Sequence[Operation], op_id: str) -> Operation | None:
    return next((op for op in log if op.id == op_id), None)


def _mentioned_id(message: str | None) -> str | None:
    """The operation id a NonDeterminismError message names (``id='...'``)."""
    if not message:
        return None
    marker = "id='"
    start = message.find(marker)
    if start < 0:
        return None
    end = message.find("'", start + len(marker))
    return message[start + len(marker) : end] if end > 0 else None


def _default_hash_seeds() -> tuple[int, ...]:
    """Two hash seeds that differ from this process's, if it has a fixed one."""
    own = os.environ.get("PYTHONHASHSEED")
    return tuple(seed for seed in (1, 2, 3) if str(seed) != own)[:2]


def check_determinism(
    workflow: Any,
    inputs: Any = None,
    *,
    max_examples: int = 20,
    crash_points: int | None = 24,
    on_callback: Callable[[OperationResult], CallbackAnswer | None] | None = None,
    functions: Mapping[str, Callable[..., Any]] | None = None,
    other_process: bool | None = None,
    hash_seeds: Sequence[int] | None = None,
    keep_env: Sequence[str] = (),
    jitter_seed: int = 0,
    max_invocations: int = 1_000,
    settings: HypothesisSettings | None = None,
) -> DeterminismReport:
    """Property-test that ``workflow`` is deterministic (see the module docstring).

    Args:
        workflow: a ``@durable.workflow`` (generator or ``async def``), an
            imperative ``@durable_execution`` handler or a plain
            ``(event, ctx)`` function.
        inputs: a Hypothesis strategy of workflow inputs, or one input
            (JSON-serializable either way).
        max_examples: how many inputs Hypothesis tries.
        crash_points: with at most this many crash points in a run, every one
            is tried; with more, Hypothesis picks this many (``None``: always
            every one).
        on_callback: answers callbacks, as ``LocalRunner(on_callback=...)``;
            by default every callback succeeds with an empty answer.
        functions: targets of chained invokes, by name, as
            ``LocalRunner.register_function`` takes them.
        other_process: run fresh copies in other processes (``None``: when the
            workflow and the callables above can be loaded there).
        hash_seeds: the ``PYTHONHASHSEED`` of each other process (default:
            two seeds other than this process's).
        keep_env: environment variables the other processes keep, besides
            ``BASE_ENVIRONMENT``.
        jitter_seed: seed of retry jitter in every run.
        max_invocations: bound on invocations per run.
        settings: Hypothesis settings to use instead of the defaults
            (``max_examples``, no deadline, no example database, one bug
            reported).

    Returns a ``DeterminismReport``; raises ``NondeterminismFound`` on a
    divergence.
    """
    from hypothesis import HealthCheck, given
    from hypothesis import settings as hypothesis_settings
    from hypothesis import strategies as st
    from hypothesis.errors import Flaky
    from hypothesis.strategies import SearchStrategy

    if crash_points is not None and crash_points < 0:
        raise UsageError(f"check_determinism: crash_points must be >= 0, got {crash_points}")
    strategy: SearchStrategy[Any] = (
        inputs if isinstance(inputs, SearchStrategy) else st.just(inputs)
    )
    setup = _Setup(
        workflow=workflow,
        on_callback=on_callback if on_callback is not None else _answer_callbacks,
        functions=dict(functions or {}),
        jitter_seed=jitter_seed,
        max_invocations=max_invocations,
    )
    checker = _Checker(
        setup,
        crash_points=crash_points,
        other_process=other_process,
        hash_seeds=_default_hash_seeds() if hash_seeds is None else hash_seeds,
        keep_env=keep_env,
    )
    chosen = settings or hypothesis_settings(
        max_examples=max_examples,
        deadline=None,
        database=None,
        report_multiple_bugs=False,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )

    @chosen
    @given(value=strategy, data=st.data())
    def check(value: Any, data: DataObject) -> None:
        checker.check(value, data)

    try:
        check()
    except Flaky as flaky:
        found = _first_found(flaky)
        if found is None:
            raise
        raise NondeterminismFound(
            f"{found}\n  (Hypothesis could not repeat this failure with the same input: the "
            "nondeterminism is itself random)",
            input=found.input,
            run=found.run,
            operation_id=found.operation_id,
        ) from flaky
    finally:
        checker.close()
    return checker.report


def _first_found(error: BaseException) -> NondeterminismFound | None:
    if isinstance(error, NondeterminismFound):
        return error
    for inner in getattr(error, "exceptions", ()):
        found = _first_found(inner)
        if found is not None:
            return found
    return None
