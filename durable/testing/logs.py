"""Build checkpoint logs by hand, for tests and documentation.

``LogBuilder`` hands out operation ids exactly as a workflow's context
would (protocol.md §4), so a log built with it lines up with a workflow that
performs the same operations in the same order::

    log = LogBuilder(input={"name": "Bob"})
    log.step("greet", result={"msg": "Hello Bob"})
    log.wait("pause")                       # a wait that has fired
    replay = Replay(workflow, {"name": "Bob"}, log.operations, log.now)
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from durable.core import operation_id
from durable.model import (
    ErrorObject,
    ExecutionDetails,
    Operation,
    OperationStatus,
    OperationType,
    StepDetails,
    WaitDetails,
    timestamp,
)
from durable.serdes import EXTENDED_TYPES_SERDES, SerDesContext

__all__ = ["LogBuilder"]

_NO_RESULT = object()


class LogBuilder:
    """Operations of one context, numbered in the order they are added."""

    def __init__(
        self,
        *,
        input: Any = None,
        execution_id: str = "00000000-0000-4000-8000-000000000000",
        now: datetime | None = None,
    ) -> None:
        self.now = now or datetime(2025, 1, 1, tzinfo=UTC)
        self.arn = (
            "arn:aws:lambda:us-east-1:123456789012:function:test:$LATEST"
            f"/durable-execution/test/{execution_id}"
        )
        self._ops: list[Operation] = [
            Operation(
                id=execution_id,
                type=OperationType.EXECUTION,
                status=OperationStatus.STARTED,
                start_timestamp=timestamp(self.now),
                execution_details=ExecutionDetails(
                    input_payload=None if input is None else json.dumps(input)
                ),
            )
        ]
        self._counter = 0

    @property
    def operations(self) -> tuple[Operation, ...]:
        return tuple(self._ops)

    def next_id(self) -> str:
        """The id the next operation will get."""
        return operation_id(None, self._counter + 1)

    def _add(self, op: Operation) -> Operation:
        self._ops.append(op)
        return op

    def skip(self) -> str:
        """Consume an id without recording an operation; return the id."""
        self._counter += 1
        return operation_id(None, self._counter)

    def step(
        self,
        name: str | None = None,
        *,
        result: Any = _NO_RESULT,
        error: ErrorObject | None = None,
        status: OperationStatus | None = None,
        attempt: int | None = None,
        sub_type: str = "Step",
        next_attempt: datetime | None = None,
    ) -> Operation:
        """A STEP record. With ``result`` it SUCCEEDED, with ``error`` it
        FAILED, otherwise give ``status`` (STARTED, PENDING, READY ...)."""
        op_id = self.skip()
        payload = None
        if result is not _NO_RESULT:
            payload = EXTENDED_TYPES_SERDES.serialize(result, SerDesContext(op_id, self.arn))
        if status is None:
            if error is not None:
                status = OperationStatus.FAILED
            elif result is not _NO_RESULT:
                status = OperationStatus.SUCCEEDED
            else:
                status = OperationStatus.STARTED
        if attempt is None:
            attempt = 1 if status in (OperationStatus.SUCCEEDED, OperationStatus.FAILED) else 0
        return self._add(
            Operation(
                id=op_id,
                type=OperationType.STEP,
                status=status,
                name=name,
                sub_type=sub_type,
                start_timestamp=timestamp(self.now),
                step_details=StepDetails(
                    attempt=attempt,
                    result=payload,
                    error=error,
                    next_attempt_timestamp=None
                    if next_attempt is None
                    else timestamp(next_attempt),
                ),
            )
        )

    def wait(
        self,
        name: str | None = None,
        *,
        status: OperationStatus = OperationStatus.SUCCEEDED,
        scheduled_end: datetime | None = None,
    ) -> Operation:
        """A WAIT record; SUCCEEDED (the timer fired) unless told otherwise."""
        return self._add(
            Operation(
                id=self.skip(),
                type=OperationType.WAIT,
                status=status,
                name=name,
                sub_type="Wait",
                start_timestamp=timestamp(self.now),
                wait_details=WaitDetails(
                    scheduled_end_timestamp=timestamp(scheduled_end or self.now)
                ),
            )
        )

    def raw(self, op: Operation) -> Operation:
        """Append ``op`` as is (consuming one id of the counter)."""
        self._counter += 1
        return self._add(op)
