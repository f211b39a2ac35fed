"""Workflows that ``test_sigkill.py`` runs with ``durable run`` and kills with SIGKILL.

The test copies this file into a scratch directory and runs it in a real
``durable`` subprocess.  Every step body appends ``<name> <attempt>`` to
``runs.log`` in the current directory before it does anything else, so the
test can count exactly which bodies ran, in which attempt, across processes.

Where to stop is chosen by the environment variable ``CRASH_PAUSE``; when the
process reaches that point it creates the file ``paused`` and sleeps, and
the test kills it there:

``in-body:NAME``
    inside the body of step NAME, after its line in ``runs.log``.
``before-send:ACTION:NAME``
    just before the checkpoint request that carries ACTION (``SUCCEED``,
    ``START``, ...) of the operation NAME reaches the store: with
    ``SUCCEED`` this is "after the body, before its checkpoint".
``after-commit:ACTION:NAME``
    just after that request was committed to the store: with ``START`` of an
    at-most-once step this is "before the body" (its START is durable, its
    body has not begun); with ``SUCCEED`` of one step it is "between
    checkpoints", before the next step's body.

The two checkpoint hooks wrap ``SqliteService.checkpoint`` of the ``durable``
process: the CLI builds its service itself and offers no fault hook, and the
wrapper only adds a sleep, it changes nothing that is stored.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from typing import Any

import durable
from durable import (
    Duration,
    JitterStrategy,
    MapConfig,
    RetryStrategyConfig,
    StepConfig,
    StepSemantics,
    create_retry_strategy,
)
from durable.model import OperationUpdate
from durable.testing._sqlite import SqliteService

PAUSE = os.environ.get("CRASH_PAUSE", "")
RUNS = "runs.log"
PAUSED = "paused"


def _pause() -> None:
    with open(PAUSED, "w") as marker:
        marker.write(str(os.getpid()))
    time.sleep(120)  # the test kills the process here


def _wrap_checkpoint() -> None:
    where, _, rest = PAUSE.partition(":")
    if where not in ("before-send", "after-commit"):
        return
    action, _, name = rest.partition(":")
    real = SqliteService.checkpoint

    def carries(updates: Sequence[OperationUpdate]) -> bool:
        return any(u.action.value == action and u.name == name for u in updates)

    def checkpoint(
        self: SqliteService, execution_arn: str, token: str, updates: Sequence[OperationUpdate]
    ) -> Any:
        if where == "before-send" and carries(updates):
            _pause()
        answer = real(self, execution_arn, token, updates)
        if where == "after-commit" and carries(updates):
            _pause()
        return answer

    SqliteService.checkpoint = checkpoint  # type: ignore[method-assign]


_wrap_checkpoint()


def body(name: str, value: Any) -> Callable[[durable.StepContext], Any]:
    def run(step_ctx: durable.StepContext) -> Any:
        with open(RUNS, "a") as log:
            log.write(f"{name} {step_ctx.attempt}\n")
        if f"in-body:{name}" == PAUSE:
            _pause()
        return value

    return run


AT_MOST_ONCE = StepConfig(
    step_semantics=StepSemantics.AT_MOST_ONCE_PER_RETRY,
    retry_strategy=create_retry_strategy(
        RetryStrategyConfig(
            max_attempts=3, initial_delay=Duration(1), jitter_strategy=JitterStrategy.NONE
        )
    ),
)


@durable.workflow
def order(event: Any, ctx: durable.Context) -> Any:
    """prep (at-least-once), charge (at-most-once, 3 attempts), ship (at-least-once)."""
    prep = yield ctx.step(body("prep", 1), name="prep")
    charge = yield ctx.step(body("charge", 10), name="charge", config=AT_MOST_ONCE)
    ship = yield ctx.step(body("ship", 100), name="ship")
    return {"total": event["base"] + prep + charge + ship}


def _item(ctx: durable.Context, value: int, index: int, items: Any) -> Any:
    first = yield ctx.step(body(f"item-{value}", value), name=f"item-{value}")
    once = yield ctx.step(body(f"mark-{value}", 1), name=f"mark-{value}", config=AT_MOST_ONCE)
    return first + once


@durable.workflow
def fanout(event: Any, ctx: durable.Context) -> Any:
    """A map of 6 items, two at a time; each item runs an at-least-once step
    then an at-most-once one; then a final step."""
    batch = yield ctx.map(
        [1, 2, 3, 4, 5, 6], _item, name="fan", config=MapConfig(max_concurrency=2)
    )
    done = yield ctx.step(body("done", 1000), name="done")
    return sum(batch.get_results()) + done
