"""Run and test durable workflows locally.

``run(workflow, input)`` runs a workflow end to end on an in-memory service
with virtual time and returns an ``ExecutionResult``; ``LocalRunner`` gives
more control (the service, the seed of retry jitter, fault injection).
"""

from durable.testing._boto import LocalLambdaClient
from durable.testing._runner import (
    ExecutionResult,
    LocalRunner,
    OperationResult,
    RunnerError,
    run,
)
from durable.testing._service import (
    CheckpointRequest,
    Execution,
    LocalService,
    SimulatedCrash,
    VirtualClock,
)

__all__ = [
    "CheckpointRequest",
    "Execution",
    "ExecutionResult",
    "LocalLambdaClient",
    "LocalRunner",
    "LocalService",
    "OperationResult",
    "RunnerError",
    "SimulatedCrash",
    "VirtualClock",
    "run",
]
