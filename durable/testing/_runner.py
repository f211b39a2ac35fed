"""The local runner: run a workflow end to end on the in-memory service.

Responsibility: play Lambda's part around invocations.  Start an execution,
invoke the workflow through the same runtime a Lambda invocation uses, and
after each PENDING answer move the virtual clock to the next timer and invoke
again; after a failed invocation (an exception, a simulated crash) wait five
virtual seconds and invoke again, up to five times in a row, as the service
does.  Then describe the execution: status, result or error, and every
operation with its attempts and result.
"""

from __future__ import annotations

import json
import random as _random
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import attrs

from durable._workflow import workflow_function
from durable.core import Failure, RunStep, Value
from durable.errors import ValidationError
from durable.model import (
    ErrorObject,
    ExecutionStatus,
    InvocationInput,
    InvocationOutput,
    InvocationStatus,
    Operation,
    OperationStatus,
    OperationType,
    to_datetime,
)
from durable.ops import LoggerLike
from durable.runtime import run_invocation, run_step_body
from durable.serdes import EXTENDED_TYPES_SERDES, SerDesContext
from durable.testing._service import (
    RETRY_INVOCATION_AFTER,
    CheckpointRequest,
    LocalService,
    VirtualClock,
)

__all__ = ["ExecutionResult", "LocalRunner", "OperationResult", "RunnerError", "run"]


class RunnerError(Exception):
    """The local runner could not bring the execution to an end (for example
    it exceeded ``max_invocations``)."""


def _decode(payload: str | None) -> Any:
    if payload is None:
        return None
    try:
        return EXTENDED_TYPES_SERDES.deserialize(payload, SerDesContext())
    except Exception:
        return payload


@attrs.frozen(kw_only=True)
class OperationResult:
    """One operation of a finished (or paused) execution, as tests inspect it."""

    id: str
    name: str | None
    type: OperationType
    sub_type: str | None
    status: OperationStatus
    parent_id: str | None
    #: Finished attempts of a step (``StepDetails.Attempt``); 0 for other types.
    attempts: int
    #: The stored result, decoded with the default serializer (the raw text
    #: if it is not in that format).
    result: Any
    raw_result: str | None
    error: ErrorObject | None
    start_timestamp: datetime | None
    end_timestamp: datetime | None
    children: tuple[OperationResult, ...] = ()

    @classmethod
    def from_operation(
        cls, op: Operation, children: tuple[OperationResult, ...] = ()
    ) -> OperationResult:
        step = op.step_details
        raw = op.result
        return cls(
            id=op.id,
            name=op.name,
            type=op.type,
            sub_type=op.sub_type,
            status=op.status,
            parent_id=op.parent_id,
            attempts=(step.attempt or 0) if step is not None else 0,
            result=_decode(raw),
            raw_result=raw,
            error=op.error,
            start_timestamp=None if op.start_timestamp is None else to_datetime(op.start_timestamp),
            end_timestamp=None if op.end_timestamp is None else to_datetime(op.end_timestamp),
            children=children,
        )

    def walk(self) -> Iterator[OperationResult]:
        """This operation and all its descendants, depth first."""
        yield self
        for child in self.children:
            yield from child.walk()


@attrs.frozen(kw_only=True)
class ExecutionResult:
    """What a local run produced.

    ``status`` is the last invocation's status (``SUCCEEDED``, ``FAILED`` or
    ``PENDING`` if the execution still waits for something external);
    ``execution_status`` the execution's.  ``result`` is the workflow's return
    value (decoded from JSON), ``error`` why it failed.  ``operations`` are
    the top-level operations in start order, each with its ``children``.
    """

    arn: str
    status: InvocationStatus
    execution_status: ExecutionStatus
    result: Any
    raw_result: str | None
    error: ErrorObject | None
    operations: tuple[OperationResult, ...]
    invocations: int
    checkpoint_calls: int
    requests: tuple[CheckpointRequest, ...]
    log: tuple[Operation, ...]

    @property
    def succeeded(self) -> bool:
        return self.execution_status is ExecutionStatus.SUCCEEDED

    def all_operations(self) -> list[OperationResult]:
        """Every operation, parents before their children."""
        return [op for top in self.operations for op in top.walk()]

    def get_operation(self, name: str, *, type: OperationType | None = None) -> OperationResult:
        """The first operation called ``name`` (of ``type``, if given)."""
        matches = [
            op
            for op in self.all_operations()
            if op.name == name and (type is None or op.type is type)
        ]
        if not matches:
            known = sorted({op.name for op in self.all_operations() if op.name})
            kind = f" of type {type.value}" if type is not None else ""
            raise KeyError(f"no operation named {name!r}{kind}; the execution has {known}")
        return matches[0]

    def get_step(self, name: str) -> OperationResult:
        return self.get_operation(name, type=OperationType.STEP)

    def get_wait(self, name: str) -> OperationResult:
        return self.get_operation(name, type=OperationType.WAIT)

    def get_context(self, name: str) -> OperationResult:
        return self.get_operation(name, type=OperationType.CONTEXT)

    def summary(self) -> str:
        """A plain-text report: the outcome, then one line per operation."""
        lines = [
            f"execution {self.execution_status.value} after {self.invocations} invocation(s), "
            f"{self.checkpoint_calls} checkpoint call(s)"
        ]
        if self.execution_status is ExecutionStatus.SUCCEEDED:
            lines.append(f"result: {self.raw_result}")
        elif self.error is not None:
            lines.append(f"error: {self.error.type}: {self.error.message}")
        rows = [("operation", "type", "status", "attempts", "result / error")]

        def add(op: OperationResult, depth: int) -> None:
            outcome = (
                f"{op.error.type}: {op.error.message}"
                if op.error is not None
                else ("" if op.raw_result is None else json.dumps(op.result, default=repr))
            )
            if len(outcome) > 60:
                outcome = outcome[:57] + "..."
            rows.append(
                (
                    "  " * depth + (op.name or f"<{op.id[:8]}>"),
                    op.sub_type or op.type.value,
                    op.status.value,
                    str(op.attempts) if op.type is OperationType.STEP else "",
                    outcome,
                )
            )
            for child in op.children:
                add(child, depth + 1)

        for op in self.operations:
            add(op, 0)
        widths = [max(len(row[i]) for row in rows) for i in range(4)]
        for row in rows:
            cells = [row[i].ljust(widths[i]) for i in range(4)]
            lines.append("  ".join([*cells, row[4]]).rstrip())
        return "\n".join(lines)


def _tree(operations: list[Operation]) -> tuple[OperationResult, ...]:
    children: dict[str | None, list[Operation]] = {}
    for op in operations:
        if op.type is OperationType.EXECUTION:
            continue
        children.setdefault(op.parent_id, []).append(op)

    def build(op: Operation) -> OperationResult:
        kids = tuple(build(child) for child in children.get(op.id, ()))
        return OperationResult.from_operation(op, kids)

    return tuple(build(op) for op in children.get(None, ()))


class LocalRunner:
    """Runs a workflow on a ``LocalService`` with virtual time.

    Args:
        workflow: a ``@durable.workflow`` or a plain ``(event, ctx)`` function.
        service: the service to run on (a fresh ``LocalService`` by default).
        seed: seeds the jitter of retry strategies, so runs repeat exactly.
        max_invocations: a bound on invocations per execution, against
            workflows that never end.
        logger: where the workflow's replay-safe logger writes.
        run_body: how a step body is run (tests use it to count or to fail
            bodies).
        through_handler: invoke through the Lambda handler instead of the
            runtime directly: each event is encoded to JSON form, handed to
            ``durable.lambda_.handle`` with this service injected, and the
            output envelope decoded again, as on AWS.
    """

    def __init__(
        self,
        workflow: Any,
        *,
        service: LocalService | None = None,
        seed: int = 0,
        max_invocations: int = 10_000,
        logger: LoggerLike | None = None,
        run_body: Callable[[RunStep], Value | Failure] = run_step_body,
        through_handler: bool = False,
    ) -> None:
        self._workflow = workflow
        self._fn = workflow_function(workflow)
        self._through_handler = through_handler
        self._name: str = (
            getattr(workflow, "name", None) or getattr(self._fn, "__name__", None) or "workflow"
        )
        self.service = service if service is not None else LocalService()
        self._rng = _random.Random(seed)
        self._max_invocations = max_invocations
        self._logger = logger
        self._run_body = run_body

    @property
    def clock(self) -> VirtualClock:
        return self.service.clock

    def start(self, input: Any = None, *, execution_name: str | None = None) -> str:
        """Create an execution without running it; return its ARN."""
        try:
            payload = json.dumps(input)
        except (TypeError, ValueError) as exc:
            raise ValidationError(f"the workflow input must be JSON-serializable: {exc}") from exc
        return self.service.start_execution(
            payload, function_name=_function_name(self._name), execution_name=execution_name
        )

    def run(self, input: Any = None, *, execution_name: str | None = None) -> ExecutionResult:
        """Run a new execution until it ends or waits for something external."""
        return self.resume(self.start(input, execution_name=execution_name))

    def resume(self, arn: str) -> ExecutionResult:
        """Invoke the execution again and again until it ends or nothing is scheduled."""
        service = self.service
        execution = service.execution(arn)
        last = InvocationStatus.PENDING
        while not execution.done:
            if execution.invocations >= self._max_invocations:
                raise RunnerError(
                    f"{self._name}: still running after {execution.invocations} invocations "
                    "(max_invocations)"
                )
            last = self.invoke_once(arn)
            if execution.done:
                break
            if last is InvocationStatus.PENDING:
                wake = service.next_wakeup(arn)
                if wake is None:
                    if service._something_pending(execution):
                        break  # waits for an external event (a callback, an invoke)
                    continue  # an invalid PENDING: the service re-invokes
                self.clock.advance_to(wake)
                service.fire_due(arn)
        return self.result(arn, last)

    def invoke_once(self, arn: str) -> InvocationStatus:
        """One invocation, exactly as the Lambda service would make it."""
        service = self.service
        invocation = service.begin_invocation(arn)
        try:
            if self._through_handler:
                output = self._invoke_handler(invocation)
            else:
                output = run_invocation(
                    self._fn,
                    invocation,
                    service,
                    clock=self.clock.now,
                    random=self._rng.random,
                    logger=self._logger,
                    run_body=self._run_body,
                )
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt):
                raise
            service.fail_invocation(arn, exc)
            self.clock.advance(RETRY_INVOCATION_AFTER)
            return InvocationStatus.FAILED
        service.end_invocation(arn, output)
        return output.status

    def _invoke_handler(self, invocation: InvocationInput) -> InvocationOutput:
        from durable import wire
        from durable.lambda_ import handle

        event = json.loads(json.dumps(wire.invocation_input_to_dict(invocation)))
        answer = handle(
            self._workflow,
            event,
            None,
            service=self.service,
            clock=self.clock.now,
            random=self._rng.random,
            logger=self._logger,
            run_body=self._run_body,
        )
        return wire.invocation_output_from_dict(json.loads(json.dumps(answer)))

    def result(
        self, arn: str, last: InvocationStatus = InvocationStatus.PENDING
    ) -> ExecutionResult:
        """Describe the execution as it stands."""
        execution = self.service.execution(arn)
        operations = self.service.operations(arn)
        status = {
            ExecutionStatus.SUCCEEDED: InvocationStatus.SUCCEEDED,
            ExecutionStatus.RUNNING: InvocationStatus.PENDING,
        }.get(execution.status, InvocationStatus.FAILED)
        result: Any = None
        if execution.result is not None and execution.result != "":
            result = json.loads(execution.result)
        return ExecutionResult(
            arn=arn,
            status=status,
            execution_status=execution.status,
            result=result,
            raw_result=execution.result,
            error=execution.error,
            operations=_tree(operations),
            invocations=execution.invocations,
            checkpoint_calls=execution.checkpoint_calls,
            requests=tuple(execution.journal),
            log=tuple(operations),
        )


def _function_name(name: str) -> str:
    cleaned = "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in name)
    return cleaned[:64] or "workflow"


def run(workflow: Any, input: Any = None, **options: Any) -> ExecutionResult:
    """Run ``workflow`` locally to its end and return the ``ExecutionResult``."""
    return LocalRunner(workflow, **options).run(input)
