"""What the interpreter asks of its shell, and how the shell reports back.

Responsibility: the data of the core contract (design.md).  Actions are
imperative verbs the shell carries out; outcomes are what a step body (or any
operation) produced.  All immutable attrs classes: data only.  ``Value`` and
``Failure`` (one per operation) refuse assignment through ``on_setattr``
rather than ``frozen=True``, which is slower to construct.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import attrs

from durable.model import OperationUpdate
from durable.ops import StepContext

__all__ = [
    "Action",
    "Checkpoint",
    "Failure",
    "Finish",
    "Outcome",
    "RunStep",
    "Suspend",
    "Value",
]


@attrs.define(on_setattr=attrs.setters.frozen, hash=True)
class Value:
    """An operation (or a step body) produced ``value``."""

    value: Any = None


@attrs.define(on_setattr=attrs.setters.frozen, hash=True)
class Failure:
    """An operation (or a step body) raised ``error``."""

    error: BaseException


Outcome = Value | Failure


@attrs.frozen(kw_only=True)
class RunStep:
    """Run a step body: ``call(step_context)``, then report the outcome with
    ``Replay.step_finished(op_id, outcome)``. Bodies of different operations
    may run concurrently; the interpreter never depends on their timing."""

    op_id: str
    call: Callable[[StepContext], Any]
    attempt: int
    step_context: StepContext
    name: str | None = None


@attrs.frozen(kw_only=True)
class Checkpoint:
    """Send ``updates`` to the service, in order, after every update emitted before.

    ``blocking=False``: the updates may wait in a queue and ride along with
    the next request.  ``blocking=True``: flush the queue now, then call
    ``Replay.checkpointed`` with what the service answered; the line of
    execution that emitted it waits until then.
    """

    updates: tuple[OperationUpdate, ...]
    blocking: bool


@attrs.frozen(kw_only=True)
class Suspend:
    """Nothing more can happen in this invocation: return PENDING.

    ``resume_at`` is the earliest time the service should re-invoke (a wait's
    end, a retry's next attempt), or ``None`` when only an external event
    (a callback, a chained invoke) can wake the execution.
    """

    reason: str
    resume_at: datetime | None = None


@attrs.frozen(kw_only=True)
class Finish:
    """The workflow returned (``Value``) or raised (``Failure``)."""

    outcome: Outcome

    @property
    def result(self) -> Any:
        return self.outcome.value if isinstance(self.outcome, Value) else None

    @property
    def error(self) -> BaseException | None:
        return self.outcome.error if isinstance(self.outcome, Failure) else None


Action = RunStep | Checkpoint | Suspend | Finish
