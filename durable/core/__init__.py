"""The pure replay core: workflows in, actions out, no I/O.

This package never imports boto3, threads, sockets, the clock or ``random``.
It is driven through the contract below (design.md, "The core contract")::

    replay = Replay(workflow, input, log, now)
    replay.next_actions()              -> [RunStep | Checkpoint | Suspend | Finish, ...]
    replay.step_finished(op_id, outcome)
    replay.checkpointed(updated_operations, now)
"""

from durable.core._actions import (
    Action,
    Checkpoint,
    Failure,
    Finish,
    Outcome,
    RunStep,
    Suspend,
    Value,
)
from durable.core._context import Context, ReplayStatus
from durable.core._ids import branch_id, operation_id
from durable.core._logger import ReplaySafeLogger
from durable.core._replay import Replay, Workflow
from durable.ops import StepContext

__all__ = [
    "Action",
    "Checkpoint",
    "Context",
    "Failure",
    "Finish",
    "Outcome",
    "Replay",
    "ReplaySafeLogger",
    "ReplayStatus",
    "RunStep",
    "StepContext",
    "Suspend",
    "Value",
    "Workflow",
    "branch_id",
    "operation_id",
]
