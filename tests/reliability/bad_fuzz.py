"""Malformed invocation events and checkpoint logs, and the outcomes they may have.

The fuzz test of ``test_bad_input.py`` takes a genuine invocation event of
``fuzz_workflow`` (from an in-memory ``LocalService``, at one of a few points
of its life), breaks it with 1-3 generated ``Mutation``s, hands it to
``durable.lambda_.handle`` (through ``BotoService`` over a boto3-shaped
client of that service, whose answers can be broken too), and classifies what
came out with ``classify``.

Documented outcomes (anything else is a failure of the test):

raised out of ``handle``
    * ``ServiceProtocolError``: the event (or a service answer) is malformed.
      Documented by ``durable.errors.ServiceProtocolError``, ``durable.wire``
      (module docstring: every decoding failure) and ``durable.lambda_.handle``.
    * an ``InvocationError`` whose ``is_retryable()`` is true (for example a
      ``CheckpointError`` for a checkpoint token the service does not know):
      ``durable.runtime.run_invocation`` ("Raises ... only for retryable
      failures"), ``durable.errors.ServiceApiError`` (protocol.md §3.5).

returned ``FAILED`` envelopes, by ``ErrorType``
    * ``ExecutionError`` (the wire name of ``ExecutionError`` and
      ``ServiceProtocolError``): the log cannot belong to this execution, or
      its input is not JSON (``durable.runtime.decode_input``).
    * ``NonDeterministicExecutionError``: the log contradicts the code
      (``durable.errors.NonDeterminismError``).
    * ``CheckpointError`` / ``GetExecutionStateError``: the service refused a
      request (non-retryable, ``durable.errors.ServiceApiError``); here,
      because the broken event contradicts what the service holds.
    * ``SerDesError``: a stored payload cannot be decoded (``SerDesError``).
    * ``InvalidStateError``: the service's record contradicts an operation's
      rules (``durable.errors.InvalidStateError``).
    * the operation errors rebuilt from a record the log says FAILED or
      ended by the service (``StepError``, ``ChildContextError``, ...:
      ``durable.errors.DurableOperationError``, protocol.md §7.6, Q6).

``PENDING``
    the log says something is still running or waiting.

``SUCCEEDED``
    only with nothing lost: every value the workflow returns is the clean
    run's, unless a mutation touched the record that value was read from
    (then the log itself says otherwise); and every operation the service
    held SUCCEEDED is unchanged.

Every message must say something (no empty ``ErrorMessage``); a raised
``ServiceProtocolError`` names the member path it rejects.
"""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Callable
from typing import Any

import attrs
from hypothesis import strategies as st

import durable
from durable import (
    Duration,
    JitterStrategy,
    RetryStrategyConfig,
    StepConfig,
    StepSemantics,
    create_retry_strategy,
    errors,
    wire,
)
from durable.lambda_ import BotoService, handle
from durable.model import Operation, OperationStatus
from durable.testing import LocalLambdaClient, LocalRunner, LocalService, SimulatedCrash

# -- the workflow ------------------------------------------------------------------------


def _value(name: str) -> Callable[[durable.StepContext], Any]:
    def body(step_ctx: durable.StepContext) -> Any:
        return {"step": name, "size": len(name)}

    return body


AT_MOST_ONCE = StepConfig(
    step_semantics=StepSemantics.AT_MOST_ONCE_PER_RETRY,
    retry_strategy=create_retry_strategy(
        RetryStrategyConfig(
            max_attempts=2, initial_delay=Duration(1), jitter_strategy=JitterStrategy.NONE
        )
    ),
)


def _kid(ctx: durable.Context) -> Any:
    return (yield ctx.step(_value("k"), name="k"))


def _item(ctx: durable.Context, x: int, index: int, items: Any) -> Any:
    return (yield ctx.step(_value(f"m{x}"), name=f"m{x}"))


@durable.workflow
def fuzz_workflow(event: Any, ctx: durable.Context) -> Any:
    """Steps of both semantics, a wait, a child context and a map: the
    result has one key per top-level operation that produces a value."""
    out: dict[str, Any] = {}
    out["a"] = yield ctx.step(_value("a"), name="a")
    out["b"] = yield ctx.step(_value("b"), name="b", config=AT_MOST_ONCE)
    yield ctx.wait(Duration(5), name="w")
    out["kid"] = yield ctx.run_in_child_context(_kid, name="kid")
    batch = yield ctx.map([1, 2], _item, name="fan")
    out["fan"] = batch.get_results()
    return out


def clean_run() -> tuple[Any, dict[str, str]]:
    """The clean result, and the id of the top-level operation behind each key."""
    result = LocalRunner(fuzz_workflow).run({"x": 1})
    assert result.succeeded, result.summary()
    ids = {op.name: op.id for op in result.operations if op.name is not None}
    return result.result, {key: ids[key] for key in ("a", "b", "kid", "fan")}


# -- genuine events at a few points of the execution's life ------------------------------

BASES = ("first", "after-wait", "interrupted", "paged")


@attrs.define
class Base:
    """A service holding one execution, and the event of its next invocation."""

    service: LocalService
    arn: str
    event: dict[str, Any]


def make_base(kind: str) -> Base:
    """``first``: the first invocation (only the EXECUTION operation);
    ``after-wait``: a, b and the wait done, the rest to run; ``interrupted``:
    the at-most-once step b STARTED but never finished (a crash right after
    its START); ``paged``: as ``after-wait`` on a service whose pages hold 2
    operations, so most of the log comes through GetDurableExecutionState."""
    fired: list[bool] = []

    def crash_after_b_start(call: int, phase: str) -> None:
        if kind == "interrupted" and call == 2 and phase == "after" and not fired:
            fired.append(True)
            raise SimulatedCrash("killed after b's START")

    service = LocalService(page_size=2 if kind == "paged" else 1000, fault=crash_after_b_start)
    runner = LocalRunner(fuzz_workflow, service=service)
    arn = runner.start({"x": 1})
    if kind != "first":
        runner.invoke_once(arn)
        service.clock.advance(10)
        service.fire_due(arn)
    invocation = service.begin_invocation(arn)
    event = json.loads(json.dumps(wire.invocation_input_to_dict(invocation)))
    return Base(service, arn, event)


# -- mutations ----------------------------------------------------------------------------

Path = tuple[str | int, ...]


def locations(doc: Any, path: Path = ()) -> list[Path]:
    """Every member and element of ``doc``, parents before children."""
    out: list[Path] = []
    if isinstance(doc, dict):
        for key, value in doc.items():
            out.append((*path, key))
            out.extend(locations(value, (*path, key)))
    elif isinstance(doc, list):
        for index, value in enumerate(doc):
            out.append((*path, index))
            out.extend(locations(value, (*path, index)))
    return out


def _get(doc: Any, path: Path) -> Any:
    for step in path:
        doc = doc[step]
    return doc


WRONG_VALUES: list[Any] = [None, 0, -1, 1.5, 10**30, True, "", "x", [], {}, ["x"], {"a": 1}]
BAD_IDS: list[Any] = ["", " ", "a b", "a/b", "x" * 65, "ü", 7, None, "1ced8f5b"]
HUGE = 1_100_000  # characters: over several limits, still fast to build


@attrs.frozen
class Mutation:
    """One change to a JSON document: ``kind`` at ``path`` with ``value``."""

    kind: str
    path: Path
    value: Any = None

    def apply(self, doc: Any) -> Any:
        """The mutated document (``doc`` itself is changed where possible)."""
        if self.kind == "as-text":
            text = json.dumps(doc)
            return text[: int(self.value * len(text))]
        if self.kind == "not-an-object":
            return self.value
        if self.kind in ("truncate", "duplicate", "reverse", "extra"):
            target = _get(doc, self.path)
            if self.kind == "truncate":
                del target[self.value :]
            elif self.kind == "duplicate":
                target.append(copy.deepcopy(target[self.value]))
            elif self.kind == "reverse":
                target.reverse()
            else:
                target[f"Unexpected{self.value[0]}"] = copy.deepcopy(self.value[1])
            return doc
        parent = _get(doc, self.path[:-1])
        key = self.path[-1]
        if self.kind == "drop":
            del parent[key]
        else:
            assert self.kind in ("set", "bad-enum", "bad-id", "garbage"), self.kind
            # A copy: a later mutation may change what it put in place.
            parent[key] = copy.deepcopy(self.value)
        return doc


_ENUM_KEYS = ("Type", "Status")
_ID_KEYS = ("Id", "ParentId")
_PAYLOAD_KEYS = ("Result", "InputPayload", "ErrorMessage", "Name", "SubType", "NextMarker")

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=5,
)


@st.composite
def mutations(draw: Any, doc: Any) -> Mutation:
    """One mutation of the JSON document ``doc``."""
    paths = locations(doc)
    kinds = ["drop", "set", "extra", "as-text", "not-an-object"]
    if any(p[-1] in _ENUM_KEYS for p in paths):
        kinds.append("bad-enum")
    if any(p[-1] in _ID_KEYS for p in paths):
        kinds.append("bad-id")
    if any(p[-1] in _PAYLOAD_KEYS for p in paths):
        kinds.append("garbage")
    if any(isinstance(_get(doc, p), list) and _get(doc, p) for p in paths):
        kinds += ["truncate", "duplicate", "reverse"]
    kind = draw(st.sampled_from(kinds))
    if kind == "as-text":
        return Mutation(kind, (), draw(st.floats(0, 0.99)))
    if kind == "not-an-object":
        return Mutation(kind, (), draw(st.sampled_from([None, [], "event", 42])))
    if kind in ("drop", "set"):
        path = draw(st.sampled_from(paths))
        value = draw(st.sampled_from(WRONG_VALUES) | json_values) if kind == "set" else None
        return Mutation(kind, path, value)
    if kind == "bad-enum":
        path = draw(st.sampled_from([p for p in paths if p[-1] in _ENUM_KEYS]))
        value = draw(st.sampled_from(["DONE", "TIMER", "step", "", "SUCCEEDED ", "RETRY"]))
        return Mutation(kind, path, value)
    if kind == "bad-id":
        path = draw(st.sampled_from([p for p in paths if p[-1] in _ID_KEYS]))
        return Mutation(kind, path, draw(st.sampled_from(BAD_IDS) | st.text(max_size=70)))
    if kind == "garbage":
        path = draw(st.sampled_from([p for p in paths if p[-1] in _PAYLOAD_KEYS]))
        value = draw(
            st.sampled_from(["{", "null", "[1,", '{"t":"?"}', "\x00", "x" * HUGE]) | st.text()
        )
        return Mutation(kind, path, value)
    if kind == "extra":
        path = draw(st.sampled_from([()] + [p for p in paths if isinstance(_get(doc, p), dict)]))
        return Mutation(kind, path, (draw(st.integers(0, 9)), draw(json_values)))
    lists = [p for p in paths if isinstance(_get(doc, p), list) and _get(doc, p)]
    path = draw(st.sampled_from(lists))
    size = len(_get(doc, path))
    return Mutation(kind, path, draw(st.integers(0, size - 1)) if kind != "reverse" else None)


def touched_id(doc: Any, mutation: Mutation) -> str | None:
    """The ``Id`` of the operation record of ``doc`` that ``mutation`` will
    change (anything inside ``Operations[i]``), before it is applied."""
    path = mutation.path
    if path[:2] != ("InitialExecutionState", "Operations") or len(path) < 3:
        return None
    ops = doc["InitialExecutionState"]["Operations"]
    index = path[2]
    if not isinstance(index, int) or not isinstance(ops, list) or index >= len(ops):
        return None
    record = ops[index]
    return str(record.get("Id")) if isinstance(record, dict) else None


def _records(doc: Any) -> dict[str, Any] | None:
    """The operation records of a service answer (a checkpoint answer or a
    page of state), by ``Id``; ``None`` if it has no list of them."""
    if not isinstance(doc, dict):
        return None
    ops = doc.get("Operations")
    state = doc.get("NewExecutionState")
    if ops is None and isinstance(state, dict):
        ops = state.get("Operations")
    if not isinstance(ops, list):
        return None
    return {str(op.get("Id")) if isinstance(op, dict) else repr(op): op for op in ops}


def answer_touched(original: Any, broken: Any) -> set[str] | None:
    """Ids of the records a broken answer changed, dropped or added; ``None``
    when it no longer holds a list of records at all."""
    before, after = _records(original), _records(broken)
    if before is None or after is None:
        return None
    return {i for i in before.keys() | after.keys() if before.get(i) != after.get(i)}


# -- running and classifying ------------------------------------------------------------


class BrokenAnswers(LocalLambdaClient):
    """``LocalLambdaClient`` whose ``number``-th answer (checkpoint or state
    page, counted together) is broken by ``mutate``."""

    def __init__(
        self, service: LocalService, number: int = 0, mutate: Callable[[Any], Any] | None = None
    ) -> None:
        super().__init__(service)
        self.number = number
        self.mutate = mutate
        self.answers = 0

    def _maybe_break(self, response: dict[str, Any]) -> Any:
        self.answers += 1
        if self.mutate is not None and self.answers == self.number:
            return self.mutate(json.loads(json.dumps(response, default=str)))
        return response

    def checkpoint_durable_execution(self, **kwargs: Any) -> Any:
        return self._maybe_break(super().checkpoint_durable_execution(**kwargs))

    def get_durable_execution_state(self, **kwargs: Any) -> Any:
        return self._maybe_break(super().get_durable_execution_state(**kwargs))


@attrs.frozen
class Outcome:
    kind: str  # "raised" | "SUCCEEDED" | "FAILED" | "PENDING" | "hang"
    error_type: str | None = None
    message: str = ""
    result: Any = None
    exception: BaseException | None = None


def run_handle(base: Base, event: Any, client: LocalLambdaClient, timeout: float = 20.0) -> Outcome:
    """``handle`` the event in a thread; ``hang`` if it does not end in ``timeout`` s."""
    box: list[Outcome] = []

    def target() -> None:
        try:
            out = handle(
                fuzz_workflow,
                event,
                None,
                service=BotoService(client),
                clock=base.service.clock.now,
            )
        except BaseException as exc:
            box.append(Outcome("raised", type(exc).__name__, str(exc), exception=exc))
            return
        status = out.get("Status")
        error = out.get("Error") or {}
        result = json.loads(out["Result"]) if out.get("Result") else None
        box.append(Outcome(status, error.get("ErrorType"), error.get("ErrorMessage") or "", result))

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout)
    if not box:
        return Outcome("hang")
    return box[0]


#: ``ErrorType``s a FAILED envelope may carry (see the module docstring).
DOCUMENTED_FAILURES = frozenset(
    {
        errors.ExecutionError.wire_type,
        errors.NonDeterminismError.wire_type,
        errors.CheckpointError.wire_type,
        errors.GetExecutionStateError.wire_type,
        errors.SerDesError.wire_type,
        errors.InvalidStateError.wire_type,
    }
    | set(errors.OPERATION_ERROR_REGISTRY)
)


def check_outcome(
    outcome: Outcome,
    *,
    clean: Any,
    key_ids: dict[str, str],
    touched: set[str],
    before: dict[str, Operation],
    after: dict[str, Operation],
) -> None:
    """Assert that ``outcome`` is one of the documented ones (module docstring)."""
    assert outcome.kind != "hang", "handle did not return within the time limit"
    if outcome.kind == "raised":
        exc = outcome.exception
        assert outcome.message, f"{outcome.error_type} without a message"
        if isinstance(exc, errors.ServiceProtocolError):
            assert outcome.message.startswith("Malformed "), outcome.message
        else:
            assert isinstance(exc, errors.InvocationError) and exc.is_retryable(), (
                f"undocumented exception {outcome.error_type}: {outcome.message}"
            )
    elif outcome.kind == "FAILED":
        assert outcome.error_type in DOCUMENTED_FAILURES, (
            f"undocumented failure {outcome.error_type}: {outcome.message}"
        )
        assert outcome.message, f"FAILED with an empty message ({outcome.error_type})"
    elif outcome.kind == "SUCCEEDED":
        assert isinstance(outcome.result, dict) and set(outcome.result) == set(clean)
        for key, value in outcome.result.items():
            if value != clean[key]:
                assert key_ids[key] in touched or any(
                    _descends(i, key_ids[key], before) for i in touched
                ), f"SUCCEEDED with {key}={value!r}, not {clean[key]!r}, from an untouched record"
    else:
        assert outcome.kind == "PENDING", f"unknown status {outcome.kind!r}"
    for op_id, op in before.items():
        if op.status is OperationStatus.SUCCEEDED:
            assert after.get(op_id) == op, f"the service's SUCCEEDED record {op_id} changed"


def _descends(op_id: str, ancestor: str, ops: dict[str, Operation]) -> bool:
    seen = 0
    current = ops.get(op_id)
    while current is not None and seen < 100:
        if current.parent_id == ancestor:
            return True
        current = ops.get(current.parent_id or "")
        seen += 1
    return False
