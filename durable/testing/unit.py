"""Unit-test helpers: test a workflow's logic with no service, no runner and no clock.

Two helpers, for two kinds of test:

* ``WorkflowScript`` pins the exact sequence of operations a workflow starts
  and supplies each one's outcome::

      total = (
          WorkflowScript(process_order, {"order_id": "o-1", "amount": 9.5})
          .expect(step("charge"), returns={"id": "ch-1"})
          .expect(wait("cool-off"))
          .expect(step("receipt"), raises=TimeoutError("smtp down"))
          .run()
      )

  It fails (``ScriptError``, an ``AssertionError``) naming the position,
  what the script expected and what the workflow started, and when the
  workflow starts more or fewer operations than scripted.

* ``simulate`` answers operations by matcher and lets everything else run as
  it would, so the test survives a step added to the workflow::

      outcome = simulate(
          process_order,
          {"order_id": "o-1", "amount": 9.5},
          providers={step("charge"): {"id": "ch-1"}, invoke("bill"): {"invoice": 7}},
      )
      assert outcome.result == {...}
      assert outcome.ran == [("step", "charge"), ("wait", "cool-off"), ...]
      assert outcome.calls("charge")[0].args == ("o-1", 9.5)

Matchers (``step``, ``wait``, ``callback``, ``invoke``, ``child``, ``map``,
``parallel``, ``condition``) select operations by kind, name (``None``: any)
and an optional predicate ``where(descriptor) -> bool``.

How it works (and why)
----------------------
Both helpers run the workflow through the real interpreter
(``durable.core.Replay``), exactly as production does, against a small
in-memory stand-in for the service that applies each checkpoint update the
way the service would and answers at once.  Operation ids, names, retries,
serialization round trips and the exceptions the workflow sees
(``StepError``, ``CallbackTimeoutError``, ``InvokeError``...) are therefore
those of production.  The only things replaced are outcomes:

* a step's (or a ``wait_for_condition`` check's) *body*: a provided outcome
  is handed to the interpreter with ``step_finished`` instead of running the
  body, attempt by attempt, so the step's retry strategy still decides
  whether a raised error is retried (in virtual time);
* the answers of *callbacks* and *chained invokes*, which the stand-in
  service completes as soon as they start;
* the results of *child contexts, maps, parallels, wait_for_callback and
  wait_for_condition*: a provided outcome is recorded as that operation's
  finished checkpoint before the interpreter reaches it, so it replays the
  stored value (its body, branches or submitter never run).

Waits always elapse: virtual time jumps to the next timer and the workflow
is invoked again, replaying its log, as Lambda does.  Because the same
interpreter drives every style, generator, ``async def`` and imperative
(``@durable_execution``) workflows are all supported.

Positions: each operation counts once, when the workflow first starts it
(replays in later invocations and retries of a step do not count again).
Operations inside child contexts and map/parallel branches count too, in the
deterministic order the interpreter starts them; the branch contexts
themselves and the internal operations of ``wait_for_callback`` do not.
``callback.result()`` reads an existing operation and is not a position.

Inputs and results go through JSON as on Lambda: the workflow receives
``json.loads(json.dumps(input))`` and ``result`` is the JSON form of what it
returned.
"""

from __future__ import annotations

import contextlib
import itertools
import json
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs

from durable._workflow import workflow_function
from durable.batch import BatchItem, BatchItemStatus, BatchResult, MapConfig, ParallelConfig
from durable.core import (
    Checkpoint,
    Context,
    Failure,
    Finish,
    Outcome,
    Replay,
    RunStep,
    Suspend,
    Value,
)
from durable.errors import (
    CallbackError,
    CallbackExternalError,
    CallbackTimeoutError,
    SerDesError,
    UsageError,
)
from durable.model import (
    CallbackDetails,
    ChainedInvokeDetails,
    ContextDetails,
    ErrorObject,
    Operation,
    OperationAction,
    OperationStatus,
    OperationType,
    OperationUpdate,
    StepDetails,
    WaitDetails,
    timestamp,
    to_datetime,
)
from durable.ops import (
    ChildContext,
    CreateCallback,
    Descriptor,
    Invoke,
    Map,
    Parallel,
    Step,
    Wait,
    WaitForCallback,
    WaitForCondition,
)
from durable.runtime import run_step_body
from durable.serdes import deserialize, serialize
from durable.testing._service import step_after_update

__all__ = [
    "Call",
    "Matcher",
    "ScriptError",
    "SimulationError",
    "SimulationResult",
    "WorkflowScript",
    "callback",
    "child",
    "condition",
    "invoke",
    "map",
    "parallel",
    "simulate",
    "step",
    "wait",
]

#: The virtual time a simulation starts at.
START_TIME = datetime(2025, 1, 1, tzinfo=UTC)
_ARN = (
    "arn:aws:lambda:us-east-1:123456789012:function:unit:$LATEST"
    "/durable-execution/unit/00000000-0000-4000-8000-000000000000"
)
#: Invocations after which a simulation gives up (a workflow that never ends).
MAX_INVOCATIONS = 10_000

_KINDS: dict[type, str] = {
    Step: "step",
    Wait: "wait",
    ChildContext: "child",
    CreateCallback: "callback",
    WaitForCallback: "callback",
    Invoke: "invoke",
    WaitForCondition: "condition",
    Map: "map",
    Parallel: "parallel",
}


class ScriptError(AssertionError):
    """The workflow did not start the operations a ``WorkflowScript`` expected."""


class SimulationError(AssertionError):
    """A simulated workflow needed something the test did not provide (an
    answer for a callback or invoke, a provider in ``strict`` mode), or never
    ended."""


# -- matchers -------------------------------------------------------------------------


def _where_name(where: Callable[..., Any]) -> str:
    return getattr(where, "__name__", None) or repr(where)


@attrs.frozen
class Matcher:
    """Selects operations by kind and name (``None``: any name), an invoke
    also by its target ``function``, and optionally by a predicate
    ``where(descriptor) -> bool``.  Build it with ``step()``, ``wait()``,
    ``callback()``, ``invoke()``, ``child()``, ``map()``, ``parallel()`` or
    ``condition()``; matchers are hashable, so they can key a ``providers``
    dict."""

    kind: str
    name: str | None = None
    function: str | None = None
    where: Callable[[Any], bool] | None = None

    def matches(self, descriptor: Any) -> bool:
        """Whether ``descriptor`` (what a workflow yielded) is selected."""
        if _KINDS.get(type(descriptor)) != self.kind:
            return False
        if self.name is not None and getattr(descriptor, "name", None) != self.name:
            return False
        if self.function is not None and (
            not isinstance(descriptor, Invoke) or descriptor.function_name != self.function
        ):
            return False
        return self.where is None or bool(self.where(descriptor))

    def __repr__(self) -> str:
        parts = [] if self.name is None else [repr(self.name)]
        if self.function is not None:
            parts.append(f"function={self.function!r}")
        if self.where is not None:
            parts.append(f"where={_where_name(self.where)}")
        return f"{self.kind}({', '.join(parts)})"


def step(name: str | None = None, *, where: Callable[[Step[Any]], bool] | None = None) -> Matcher:
    """Matches a step (``yield ctx.step(...)`` or a ``@durable.step`` call)."""
    return Matcher("step", name, where=where)


def wait(name: str | None = None, *, where: Callable[[Wait], bool] | None = None) -> Matcher:
    """Matches a wait.  Waits always elapse (in virtual time); a provider for
    a wait must be ``None``."""
    return Matcher("wait", name, where=where)


def callback(name: str | None = None, *, where: Callable[[Any], bool] | None = None) -> Matcher:
    """Matches ``create_callback`` and ``wait_for_callback``.

    The outcome is the external system's answer: a ``str`` or ``bytes`` is
    the body sent, any other value is sent as its JSON text (without a serdes
    in the callback's config the workflow receives that text, as on AWS); an
    exception fails the callback (``CallbackExternalError``), a
    ``CallbackTimeoutError`` times it out.  A provided ``wait_for_callback``
    does not run its submitter.
    """
    return Matcher("callback", name, where=where)


def invoke(
    name: str | None = None,
    *,
    function: str | None = None,
    where: Callable[[Invoke[Any]], bool] | None = None,
) -> Matcher:
    """Matches a chained invoke, by operation name and/or target ``function``
    (as written in ``ctx.invoke``).  The outcome is what the target returned
    (sent as JSON) or an exception it raised (the workflow sees ``InvokeError``)."""
    return Matcher("invoke", name, function=function, where=where)


def child(
    name: str | None = None, *, where: Callable[[ChildContext[Any]], bool] | None = None
) -> Matcher:
    """Matches a child context.  With an outcome its body does not run."""
    return Matcher("child", name, where=where)


def map(name: str | None = None, *, where: Callable[[Map[Any]], bool] | None = None) -> Matcher:
    """Matches a map.  An outcome is a ``BatchResult`` or a list with one
    value (or exception) per item; then no branch runs."""
    return Matcher("map", name, where=where)


def parallel(
    name: str | None = None, *, where: Callable[[Parallel[Any]], bool] | None = None
) -> Matcher:
    """Matches a parallel.  An outcome is a ``BatchResult`` or a list with one
    value (or exception) per branch; then no branch runs."""
    return Matcher("parallel", name, where=where)


def condition(
    name: str | None = None, *, where: Callable[[WaitForCondition[Any]], bool] | None = None
) -> Matcher:
    """Matches a ``wait_for_condition``.  An outcome is its final state (or
    an exception: the workflow sees ``WaitForConditionError``); then no check
    runs."""
    return Matcher("condition", name, where=where)


# -- what the helpers record ------------------------------------------------------------


@attrs.define(eq=False)
class Call:
    """One operation the workflow started, as the helpers saw it.

    ``position`` is 1-based in start order (``None`` for the internal
    operations of a ``wait_for_callback``); ``outcomes`` are the outcomes
    of its body runs (steps, ``wait_for_condition`` checks), provided or
    real, one per attempt; ``attempt`` is the attempt being (or last) run.
    A callable provider receives this object.
    """

    kind: str
    name: str | None
    op_id: str
    parent_id: str | None
    descriptor: Any
    position: int | None
    provided: bool = False
    attempt: int = 0
    outcomes: list[Outcome] = attrs.Factory(list)

    @property
    def args(self) -> tuple[Any, ...]:
        """The positional arguments of a step or child (after its context);
        a map's items; an invoke's payload as a 1-tuple; else ``()``."""
        desc = self.descriptor
        if isinstance(desc, Step | ChildContext):
            return tuple(desc.args)
        if isinstance(desc, Map):
            return tuple(desc.inputs)
        if isinstance(desc, Invoke):
            return (desc.payload,)
        return ()

    @property
    def kwargs(self) -> dict[str, Any]:
        """The keyword arguments of a step or child context."""
        desc = self.descriptor
        if isinstance(desc, Step | ChildContext):
            return dict(desc.kwargs)
        return {}

    @property
    def payload(self) -> Any:
        """An invoke's payload (``None`` for other operations)."""
        return self.descriptor.payload if isinstance(self.descriptor, Invoke) else None

    @property
    def attempts(self) -> int:
        """How many times the body ran or its provider was asked."""
        return len(self.outcomes)

    @property
    def label(self) -> str:
        """How messages name it: ``step 'charge' (id ...)``."""
        named = f"{self.kind} {self.name!r}" if self.name else f"unnamed {self.kind}"
        return f"{named} (id {self.op_id})"


_UNSET: Any = object()


@attrs.frozen
class _Answer:
    """How an operation's outcome is produced: a value, an exception, or a
    callable of the ``Call``."""

    value: Any = None
    error: BaseException | None = None
    compute: Callable[[Call], Any] | None = None

    @classmethod
    def of(cls, provided: Any) -> _Answer:
        if isinstance(provided, BaseException):
            return cls(error=provided)
        if callable(provided) and not isinstance(provided, type):
            return cls(compute=provided)
        return cls(value=provided)

    def outcome(self, call: Call) -> Outcome:
        if self.error is not None:
            return Failure(self.error)
        if self.compute is None:
            return Value(self.value)
        try:
            return Value(self.compute(call))
        except AssertionError:
            raise  # a failed check inside a provider fails the test
        except Exception as exc:
            return Failure(exc)


@attrs.frozen
class SimulationResult:
    """What a simulated run produced.

    ``result`` is the JSON form of the workflow's return value, ``error`` the
    exception it ended with (as the workflow raised it, e.g. ``StepError``),
    ``operations`` the ``Call`` of every operation it started, in order,
    ``log`` the checkpoint log at the end, ``invocations`` how many times it
    was invoked (each wait or retry ends one) and ``unused`` the provider
    matchers that selected nothing.
    """

    result: Any
    error: BaseException | None
    operations: tuple[Call, ...]
    log: tuple[Operation, ...]
    invocations: int
    unused: tuple[Matcher, ...] = ()

    @property
    def succeeded(self) -> bool:
        return self.error is None

    @property
    def ran(self) -> list[tuple[str, str | None]]:
        """``(kind, name)`` of every operation started, in order."""
        return [(call.kind, call.name) for call in self.operations]

    def calls(self, name: str) -> list[Call]:
        """The operations called ``name``, in start order."""
        return [call for call in self.operations if call.name == name]

    def value(self) -> Any:
        """``result``, or raise ``error`` if the workflow failed."""
        if self.error is not None:
            raise self.error
        return self.result


# -- the engine: the real interpreter against a stand-in service --------------------------------


class _Interpreter(Replay):
    """``Replay`` that shows the engine every operation it begins."""

    def __init__(self, engine: _Engine, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._engine = engine

    def begin_operation(self, ctx: Context, request: Any) -> Any:
        kind = _KINDS.get(type(request))
        if kind is not None:
            self._engine.begin(self, ctx, request, kind)
        return super().begin_operation(ctx, request)


Resolver = Callable[[Call], "_Answer | None"]


class _Engine:
    def __init__(
        self,
        workflow: Any,
        input: Any,
        *,
        label: str,
        resolve: Resolver,
        resolve_internal: Resolver,
        strict: bool,
    ) -> None:
        self.fn = workflow_function(workflow)
        try:
            self.event = json.loads(json.dumps(input))
        except (TypeError, ValueError) as exc:
            raise UsageError(
                f"{label}: the workflow input must be JSON-serializable: {exc}"
            ) from exc
        self.label = label
        self.resolve = resolve
        self.resolve_internal = resolve_internal
        self.strict = strict
        self.log: dict[str, Operation] = {}
        self.now = START_TIME
        self.seen: dict[str, Call] = {}
        self.answers: dict[str, _Answer] = {}
        self.calls: list[Call] = []
        #: Operation ids of wait_for_callback operations (their operations are internal).
        self.internal_parents: dict[str, Call] = {}
        self.failure: AssertionError | None = None
        self.invocations = 0
        self._callback_ids = itertools.count(1)

    # -- failing ------------------------------------------------------------------

    def fail(self, error: AssertionError) -> AssertionError:
        """Remember the first failure: user code (an imperative handler) may
        catch what ``begin`` raises, but the run still fails with it."""
        if self.failure is None:
            self.failure = error
        return error

    def check(self) -> None:
        if self.failure is not None:
            raise self.failure

    # -- operations ------------------------------------------------------------------

    def begin(self, rp: Replay, ctx: Context, request: Descriptor, kind: str) -> None:
        op_id = ctx._peek_next_id()
        if op_id in self.seen:
            return  # replayed, or asked again after a retry
        owner = self.internal_parents.get(ctx.operation_id or "")
        call = Call(
            kind=kind,
            name=request.name,
            op_id=op_id,
            parent_id=ctx.parent_id,
            descriptor=request,
            position=None if owner is not None else len(self.calls) + 1,
        )
        self.seen[op_id] = call
        if owner is None:
            self.calls.append(call)
            answer = self.resolve(call)
        else:
            answer = self.resolve_internal(call)
        if isinstance(request, WaitForCallback):
            self.internal_parents[op_id] = call
        if answer is None:
            return
        call.provided = True
        self.answers[op_id] = answer
        if kind == "wait":
            if answer.error is not None or answer.compute is not None or answer.value is not None:
                raise self.fail(
                    SimulationError(
                        f"{self.label}: {call.label} was given the outcome {answer!r}; a wait "
                        "has no outcome (waits always elapse): provide None"
                    )
                )
            return
        record = self._stored(call, request, answer, ctx)
        if record is not None:
            self.log[op_id] = record
            rp.log[op_id] = record

    def _stored(
        self, call: Call, desc: Descriptor, answer: _Answer, ctx: Context
    ) -> Operation | None:
        """The finished record of a provided child, map, parallel,
        wait_for_callback or wait_for_condition (``None`` for the others)."""
        if not isinstance(desc, ChildContext | Map | Parallel | WaitForCallback | WaitForCondition):
            return None
        if isinstance(desc, ChildContext) and desc.virtual:
            raise self.fail(
                SimulationError(
                    f"{self.label}: {call.label} is a virtual child context, which has no "
                    "checkpoint to stand in for its result; provide its operations instead"
                )
            )
        call.attempt = 1
        outcome = answer.outcome(call)
        base = Operation(
            id=call.op_id,
            type=desc.op_type,
            status=OperationStatus.SUCCEEDED,
            parent_id=ctx.parent_id,
            name=desc.name,
            sub_type=desc.sub_type,
            start_timestamp=timestamp(self.now),
            end_timestamp=timestamp(self.now),
        )
        if isinstance(outcome, Failure):
            error = outcome.error
            if isinstance(desc, WaitForCallback) and not isinstance(error, CallbackError):
                error = CallbackExternalError(
                    str(error), operation_id=call.op_id, operation_name=desc.name
                )
            record = ErrorObject.from_exception(error)
            if isinstance(desc, WaitForCondition):
                return attrs.evolve(
                    base,
                    status=OperationStatus.FAILED,
                    step_details=StepDetails(attempt=1, error=record),
                )
            return attrs.evolve(
                base, status=OperationStatus.FAILED, context_details=ContextDetails(error=record)
            )
        value = outcome.value
        serdes: Any = None
        if isinstance(desc, WaitForCondition):
            serdes = desc.config.serdes
        elif isinstance(desc, ChildContext):
            serdes = desc.config.serdes if desc.config is not None else None
        elif isinstance(desc, Map | Parallel):
            config = desc.config or (MapConfig() if isinstance(desc, Map) else ParallelConfig())
            serdes = config.serdes
            value = self._batch_result(call, desc, value, config)
        else:  # wait_for_callback: the workflow receives the answer as a callback gives it
            text = _callback_text(self.label, call, value)
            config = desc.config
            try:
                value = (
                    text
                    if config is None or config.serdes is None
                    else deserialize(config.serdes, text, call.op_id, _ARN, what=call.label)
                )
            except SerDesError as exc:
                raise self.fail(
                    SimulationError(
                        f"{self.label}: the answer provided for {call.label} cannot be read by "
                        f"its serdes: {exc}"
                    )
                ) from exc
        try:
            payload = serialize(serdes, value, call.op_id, _ARN, what=call.label)
        except SerDesError as exc:
            raise self.fail(
                SimulationError(
                    f"{self.label}: the outcome provided for {call.label} cannot be "
                    f"serialized as the operation's result: {exc}"
                )
            ) from exc
        if isinstance(desc, WaitForCondition):
            return attrs.evolve(base, step_details=StepDetails(attempt=1, result=payload))
        return attrs.evolve(base, context_details=ContextDetails(result=payload))

    def _batch_result(
        self, call: Call, desc: Map[Any] | Parallel[Any], value: Any, config: Any
    ) -> BatchResult[Any]:
        if isinstance(value, BatchResult):
            return value
        if isinstance(value, list | tuple):
            items = [
                BatchItem(index, BatchItemStatus.FAILED, error=ErrorObject.from_exception(item))
                if isinstance(item, BaseException)
                else BatchItem(index, BatchItemStatus.SUCCEEDED, result=item)
                for index, item in enumerate(value)
            ]
            return BatchResult.from_items(items, config.completion_config)
        raise self.fail(
            SimulationError(
                f"{self.label}: the outcome of {call.label} must be a BatchResult or a list "
                f"with one result (or exception) per branch, got {value!r}"
            )
        )

    def run_body(self, action: RunStep) -> Outcome:
        call = self.seen.get(action.op_id)
        if call is None:  # pragma: no cover - every body belongs to a begun operation
            return run_step_body(action)
        call.attempt = action.attempt
        answer = self.answers.get(action.op_id)
        if answer is None:
            if self.strict:
                owner = self.internal_parents.get(call.parent_id or "")
                hint = f"providers={{{call.kind}({call.name!r}): ...}}"
                if owner is not None:
                    hint = (
                        f"providers={{callback({owner.name!r}): ...}} (then the submitter does "
                        f"not run) or {hint}"
                    )
                    what = f"{call.label}, the submitter of {owner.label},"
                else:
                    what = call.label
                raise self.fail(
                    SimulationError(
                        f"{self.label}: {what} has no provider and strict=True forbids running "
                        f"its body; add {hint}"
                    )
                )
            outcome = run_step_body(action)
        else:
            outcome = answer.outcome(call)
        call.outcomes.append(outcome)
        return outcome

    # -- the stand-in service ------------------------------------------------------------

    def apply(self, updates: Sequence[OperationUpdate]) -> list[Operation]:
        """Apply checkpoint updates as the service would; return the changed records."""
        changed: dict[str, Operation] = {}
        for update in updates:
            record = self._record(update, self.log.get(update.id))
            if record is None:
                continue
            self.log[update.id] = record
            changed[update.id] = record
        return list(changed.values())

    def _record(self, update: OperationUpdate, previous: Operation | None) -> Operation | None:
        now = timestamp(self.now)
        kind = update.type
        action = update.action
        if kind is OperationType.EXECUTION:
            return None  # an oversized result: the Finish action carries it anyway
        base = previous or Operation(
            id=update.id,
            type=kind,
            status=OperationStatus.STARTED,
            parent_id=update.parent_id,
            name=update.name,
            sub_type=update.sub_type,
            start_timestamp=now,
        )
        if kind is OperationType.STEP:
            # Exactly as the service applies it (the local service's rules).
            return step_after_update(
                base, previous.status if previous else None, update, now, f"update {update.id}"
            )
        if kind is OperationType.CONTEXT:
            if action is OperationAction.START:
                return base
            options = update.context_options
            if action is OperationAction.SUCCEED:
                return attrs.evolve(
                    base,
                    status=OperationStatus.SUCCEEDED,
                    end_timestamp=now,
                    context_details=ContextDetails(
                        result=update.payload,
                        replay_children=options.replay_children if options else None,
                    ),
                )
            return attrs.evolve(
                base,
                status=OperationStatus.FAILED,
                end_timestamp=now,
                context_details=ContextDetails(error=update.error),
            )
        if kind is OperationType.WAIT:
            if action is OperationAction.CANCEL:
                return attrs.evolve(base, status=OperationStatus.CANCELLED, end_timestamp=now)
            seconds = update.wait_options.wait_seconds if update.wait_options else 1
            end = timestamp(self.now + timedelta(seconds=seconds))
            return attrs.evolve(base, wait_details=WaitDetails(scheduled_end_timestamp=end))
        if kind is OperationType.CALLBACK:
            callback_id = f"unit-callback-{next(self._callback_ids)}"
            started = attrs.evolve(base, callback_details=CallbackDetails(callback_id=callback_id))
            return self._answer_callback(update.id, started)
        started = attrs.evolve(base, chained_invoke_details=ChainedInvokeDetails())
        return self._answer_invoke(update.id, started)

    def _answer_callback(self, op_id: str, record: Operation) -> Operation:
        answer = self.answers.get(op_id)
        call = self.seen.get(op_id)
        if answer is None or call is None:
            return record  # stays open: the workflow fails if it waits for it
        call.attempt = 1
        outcome = answer.outcome(call)
        details = record.callback_details or CallbackDetails()
        now = timestamp(self.now)
        if isinstance(outcome, Failure):
            error = outcome.error
            status = (
                OperationStatus.TIMED_OUT
                if isinstance(error, CallbackTimeoutError)
                else OperationStatus.FAILED
            )
            message = error.message if isinstance(error, CallbackError) else str(error)
            return attrs.evolve(
                record,
                status=status,
                end_timestamp=now,
                callback_details=attrs.evolve(
                    details,
                    error=ErrorObject(message=message, type=ErrorObject.from_exception(error).type),
                ),
            )
        text = _callback_text(self.label, call, outcome.value)
        return attrs.evolve(
            record,
            status=OperationStatus.SUCCEEDED,
            end_timestamp=now,
            callback_details=attrs.evolve(details, result=text),
        )

    def _answer_invoke(self, op_id: str, record: Operation) -> Operation:
        answer = self.answers.get(op_id)
        call = self.seen.get(op_id)
        if answer is None or call is None:
            return record
        call.attempt = 1
        outcome = answer.outcome(call)
        now = timestamp(self.now)
        if isinstance(outcome, Failure):
            return attrs.evolve(
                record,
                status=OperationStatus.FAILED,
                end_timestamp=now,
                chained_invoke_details=ChainedInvokeDetails(
                    error=ErrorObject.from_exception(outcome.error)
                ),
            )
        try:
            text = json.dumps(outcome.value)
        except (TypeError, ValueError) as exc:
            raise self.fail(
                SimulationError(
                    f"{self.label}: the result provided for {call.label} must be "
                    f"JSON-serializable (a Lambda function's output is JSON): {exc}"
                )
            ) from exc
        return attrs.evolve(
            record,
            status=OperationStatus.SUCCEEDED,
            end_timestamp=now,
            chained_invoke_details=ChainedInvokeDetails(result=text),
        )

    def fire_due(self) -> list[Operation]:
        """End the waits and release the retries whose time has come."""
        changed = []
        for op_id, op in list(self.log.items()):
            if op.type is OperationType.WAIT and op.status is OperationStatus.STARTED:
                details = op.wait_details
                end = details.scheduled_end_timestamp if details is not None else None
                if end is None or to_datetime(end) <= self.now:
                    op = attrs.evolve(
                        op, status=OperationStatus.SUCCEEDED, end_timestamp=timestamp(self.now)
                    )
                    self.log[op_id] = op
                    changed.append(op)
            elif op.type is OperationType.STEP and op.status is OperationStatus.PENDING:
                step_details = op.step_details
                due = step_details.next_attempt_timestamp if step_details is not None else None
                if due is None or to_datetime(due) <= self.now:
                    op = attrs.evolve(op, status=OperationStatus.READY)
                    self.log[op_id] = op
                    changed.append(op)
        return changed

    # -- invocations --------------------------------------------------------------------

    def run(self) -> Finish:
        while True:
            self.invocations += 1
            if self.invocations > MAX_INVOCATIONS:
                raise SimulationError(
                    f"{self.label}: still running after {MAX_INVOCATIONS} invocations"
                )
            end = self._invoke()
            if isinstance(end, Finish):
                return end
            self._advance(end)

    def _invoke(self) -> Finish | Suspend:
        replay = _Interpreter(
            self, self.fn, self.event, list(self.log.values()), self.now, execution_arn=_ARN
        )
        try:
            return self._pump(replay)
        except BaseException:
            _abandon(replay)
            raise

    def _pump(self, replay: Replay) -> Finish | Suspend:
        queue: list[OperationUpdate] = []
        while True:
            actions = replay.next_actions()
            self.check()
            if not actions and not replay.running_steps:
                raise SimulationError(  # pragma: no cover - an interpreter bug
                    f"{self.label}: the interpreter stopped without finishing or suspending"
                )
            bodies: list[RunStep] = []
            for action in actions:
                if isinstance(action, Checkpoint):
                    queue.extend(action.updates)
                    if action.blocking:
                        changed = self.apply(queue)
                        queue = []
                        changed.extend(self.fire_due())
                        self.check()
                        replay.checkpointed(changed, self.now)
                elif isinstance(action, RunStep):
                    bodies.append(action)
                else:
                    self.apply(queue)
                    self.check()
                    return action
            for body in bodies:
                if replay.wants_body(body.op_id):
                    outcome = self.run_body(body)
                    replay.step_finished(body.op_id, outcome, self.now)

    def _advance(self, suspend: Suspend) -> None:
        if suspend.resume_at is not None:
            if suspend.resume_at > self.now:
                self.now = suspend.resume_at
            if self.fire_due():
                return
        waiting = [
            op
            for op in self.log.values()
            if op.status is OperationStatus.STARTED
            and op.type in (OperationType.CALLBACK, OperationType.CHAINED_INVOKE)
        ]
        if not waiting:
            raise SimulationError(  # pragma: no cover - the core suspends only with a reason
                f"{self.label}: the workflow suspended ({suspend.reason}) with nothing to wait for"
            )
        names = []
        for op in waiting:
            call = self.seen.get(op.id)
            owner = self.internal_parents.get(op.parent_id or "")
            if owner is not None:
                names.append(f"{owner.label}")
            elif call is not None:
                names.append(call.label)
            else:  # pragma: no cover
                names.append(f"operation {op.id}")
        raise SimulationError(
            f"{self.label}: the workflow waits for {', '.join(names)}, which nothing answers; "
            "give it an outcome (callback(name) / invoke(name) in providers or the script)"
        )

    def result(self, finish: Finish, unused: tuple[Matcher, ...] = ()) -> SimulationResult:
        outcome = finish.outcome
        result: Any = None
        error: BaseException | None = None
        if isinstance(outcome, Value):
            try:
                result = json.loads(json.dumps(outcome.value))
            except (TypeError, ValueError) as exc:
                error = exc  # Lambda could not return it either
        else:
            error = outcome.error
        return SimulationResult(
            result=result,
            error=error,
            operations=tuple(self.calls),
            log=tuple(self.log.values()),
            invocations=self.invocations,
            unused=unused,
        )


def _abandon(replay: Replay) -> None:
    """Unwind a Replay stopped half-way (its generators' ``finally`` blocks
    run, an imperative handler's thread ends), where the core offers it."""
    close = getattr(replay, "close", None)
    if close is not None and not replay.done:
        with contextlib.suppress(Exception):
            close()


def _callback_text(label: str, call: Call, value: Any) -> str:
    """The body an external system sends for ``value``: bytes and ``str`` as
    they are, anything else as JSON."""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8")
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value)
    except (TypeError, ValueError) as exc:
        raise SimulationError(
            f"{label}: the answer provided for {call.label} must be str, bytes or "
            f"JSON-serializable: {exc}"
        ) from exc


def _label(workflow: Any) -> str:
    name = getattr(workflow, "name", None) or getattr(workflow, "__name__", None)
    return str(name or "workflow")


# -- the two helpers -------------------------------------------------------------------------


@attrs.frozen
class _Expectation:
    matcher: Matcher
    answer: _Answer | None


class WorkflowScript:
    """Assert the exact sequence of operations ``workflow`` starts for
    ``input``, supplying each one's outcome.

    Chain ``expect(matcher, returns=... | raises=... | answer=...)`` once per
    operation, in order, then call ``run()``.  Without an outcome the
    operation behaves as in a real run: a step or condition runs its body, a
    child, map or parallel runs its operations (which then are the next
    positions), a wait elapses; a callback or invoke must be given one if the
    workflow waits for it.  ``returns=`` is the value (a step's body result,
    a callback's answer...), ``raises=`` an exception, ``answer=`` a callable
    of the ``Call`` returning the value or raising, asked once per attempt.
    A step whose body raises is retried as its retry strategy says; every
    attempt gets the same scripted outcome (use ``answer=`` to vary it).
    """

    def __init__(self, workflow: Any, input: Any = None) -> None:
        self._workflow = workflow
        self._input = input
        self._expected: list[_Expectation] = []

    def expect(
        self,
        matcher: Matcher,
        *,
        returns: Any = _UNSET,
        raises: BaseException | None = None,
        answer: Callable[[Call], Any] | None = None,
    ) -> WorkflowScript:
        """Expect the next operation to match ``matcher``; return ``self``."""
        if not isinstance(matcher, Matcher):
            raise UsageError(
                f"expect() needs a matcher such as step('charge') or wait(), got {matcher!r}"
            )
        given = [returns is not _UNSET, raises is not None, answer is not None]
        if sum(given) > 1:
            raise UsageError(f"expect({matcher!r}): give at most one of returns=, raises=, answer=")
        outcome: _Answer | None = None
        if returns is not _UNSET:
            outcome = _Answer(value=returns)
        elif raises is not None:
            if not isinstance(raises, BaseException):
                raise UsageError(f"expect({matcher!r}): raises= needs an exception, got {raises!r}")
            outcome = _Answer(error=raises)
        elif answer is not None:
            if not callable(answer):
                raise UsageError(f"expect({matcher!r}): answer= must be callable, got {answer!r}")
            outcome = _Answer(compute=answer)
        self._expected.append(_Expectation(matcher, outcome))
        return self

    def outcome(self) -> SimulationResult:
        """Run the script; return the ``SimulationResult`` (the workflow's
        error, if any, is in ``error``, not raised).  Raises ``ScriptError``
        when the workflow departs from the script."""
        label = f"WorkflowScript({_label(self._workflow)})"
        expected = self._expected

        def resolve(call: Call) -> _Answer | None:
            assert call.position is not None
            index = call.position - 1
            if index >= len(expected):
                raise engine.fail(
                    ScriptError(
                        f"{label}: operation #{call.position}: the workflow started "
                        f"{call.label}, but the script ends after {len(expected)} operation(s)"
                    )
                )
            expectation = expected[index]
            if not expectation.matcher.matches(call.descriptor):
                raise engine.fail(
                    ScriptError(
                        f"{label}: operation #{call.position}: expected "
                        f"{expectation.matcher!r}, but the workflow started {call.label}"
                    )
                )
            return expectation.answer

        engine = _Engine(
            self._workflow,
            self._input,
            label=label,
            resolve=resolve,
            resolve_internal=lambda call: None,
            strict=False,
        )
        finish = engine.run()
        done = len(engine.calls)
        if done < len(expected):
            ended = (
                f"raised {finish.error!r}"
                if finish.error is not None
                else f"returned {finish.result!r}"
            )
            raise ScriptError(
                f"{label}: the workflow {ended} after {done} operation(s), but the script "
                f"expects {len(expected)}; the first missing: {expected[done].matcher!r}"
            )
        return engine.result(finish)

    def run(self) -> Any:
        """Run the script and return the workflow's result (JSON form); the
        workflow's own exception, if it failed, is raised as is."""
        return self.outcome().value()


def simulate(
    workflow: Any,
    input: Any = None,
    *,
    providers: Mapping[Matcher, Any] | None = None,
    strict: bool = False,
) -> SimulationResult:
    """Run ``workflow`` on ``input`` with operations answered by ``providers``.

    ``providers`` maps matchers to outcomes: a value, an exception instance
    (raised), or a callable ``(Call) -> value`` (may raise; asked once per
    attempt).  The first matcher, in the mapping's order, that selects an
    operation supplies its outcome.  Unmatched operations behave as in a
    real run: steps and ``wait_for_condition`` checks run their real bodies,
    children, maps and parallels run their operations, waits elapse; a
    callback or invoke the workflow waits for must be provided (there is no
    one to answer it), else ``SimulationError``.  With ``strict=True`` no real
    body runs: an unmatched step or check raises ``SimulationError`` instead.
    A ``wait_for_callback``'s submitter is a step named ``"<name> submitter"``.

    Returns a ``SimulationResult``; the workflow's own failure is in its
    ``error``, not raised.
    """
    table = list((providers or {}).items())
    for matcher, _ in table:
        if not isinstance(matcher, Matcher):
            raise UsageError(
                f"simulate(): providers keys must be matchers such as step('charge'), "
                f"got {matcher!r}"
            )
    answers = [(matcher, _Answer.of(value)) for matcher, value in table]
    used: set[int] = set()

    def resolve(call: Call) -> _Answer | None:
        for index, (matcher, answer) in enumerate(answers):
            if matcher.matches(call.descriptor):
                used.add(index)
                return answer
        return None

    engine = _Engine(
        workflow,
        input,
        label=f"simulate({_label(workflow)})",
        resolve=resolve,
        resolve_internal=resolve,
        strict=strict,
    )
    finish = engine.run()
    unused = tuple(matcher for index, (matcher, _) in enumerate(answers) if index not in used)
    return engine.result(finish, unused)
