"""Run and test durable workflows locally.

``run(workflow, input)`` runs a workflow end to end on an in-memory service
with virtual time and returns an ``ExecutionResult``; ``LocalRunner`` gives
more control (the service, the seed of retry jitter, fault injection), runs
the targets of chained invokes (``register_function``) and answers callbacks
(``send_callback_success`` / ``_failure`` / ``_heartbeat``, or an
``on_callback`` responder returning ``CallbackAnswer``s).
"""

from durable.testing._boto import LocalLambdaClient
from durable.testing._runner import (
    CallbackAnswer,
    ExecutionResult,
    LocalRunner,
    OperationResult,
    RunnerError,
    run,
)
from durable.testing._service import (
    CallbackTimer,
    CheckpointRequest,
    Execution,
    LocalService,
    PendingInvoke,
    RegisteredFunction,
    SimulatedCrash,
    VirtualClock,
)

__all__ = [
    "CallbackAnswer",
    "CallbackTimer",
    "CheckpointRequest",
    "Execution",
    "ExecutionResult",
    "LocalLambdaClient",
    "LocalRunner",
    "LocalService",
    "OperationResult",
    "PendingInvoke",
    "RegisteredFunction",
    "RunnerError",
    "SimulatedCrash",
    "VirtualClock",
    "run",
]
