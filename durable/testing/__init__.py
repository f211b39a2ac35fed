"""Run and test durable workflows locally.

``run(workflow, input)`` runs a workflow end to end on an in-memory service
with virtual time and returns an ``ExecutionResult``; ``LocalRunner`` gives
more control (the service, the seed of retry jitter, fault injection), runs
the targets of chained invokes (``register_function``) and answers callbacks
(``send_callback_success`` / ``_failure`` / ``_heartbeat``, or an
``on_callback`` responder returning ``CallbackAnswer``s).

``DurableTestRunner`` is one interface over a local run and a deployed
function: ``DurableFunctionTestRunner`` runs a handler in-process,
``DurableFunctionCloudTestRunner`` runs a deployed function through the
Lambda API, and both describe executions with the same ``ExecutionResult``.
The pytest plugin (``durable.testing.pytest_plugin``, loaded automatically)
builds the right one for each test: the ``durable_execution`` marker, the
``durable_runner`` fixture and ``--runner-mode=local|cloud``.
"""

from durable.model import (
    ErrorObject,
    ExecutionStatus,
    InvocationStatus,
    OperationStatus,
    OperationType,
)
from durable.testing._boto import LocalLambdaClient
from durable.testing._cloud import (
    CloudExecutionResult,
    CloudRunnerError,
    DurableFunctionCloudTestRunner,
    operations_from_history,
    result_from_history,
)
from durable.testing._interface import DurableFunctionTestRunner, DurableTestRunner
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
from durable.testing._sqlite import (
    SqliteService,
    SqliteStore,
    StoredExecution,
    StoreError,
    WallClock,
)
from durable.testing.determinism import (
    CrashPoint,
    DeterminismReport,
    NondeterminismFound,
    check_determinism,
)
from durable.testing.unit import (
    Call,
    Matcher,
    ScriptError,
    SimulationError,
    SimulationResult,
    WorkflowScript,
    simulate,
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
    # one interface for local and deployed runs
    "CloudExecutionResult",
    "CloudRunnerError",
    "DurableFunctionCloudTestRunner",
    "DurableFunctionTestRunner",
    "DurableTestRunner",
    "operations_from_history",
    "result_from_history",
    # determinism checks (Hypothesis is imported when they run)
    "CrashPoint",
    "DeterminismReport",
    "NondeterminismFound",
    "check_determinism",
    # unit-test helpers; the matchers (step, wait, ...) live in durable.testing.unit
    "Call",
    "Matcher",
    "ScriptError",
    "SimulationError",
    "SimulationResult",
    "WorkflowScript",
    "simulate",
    # the SQLite store of the `durable` command line
    "SqliteService",
    "SqliteStore",
    "StoreError",
    "StoredExecution",
    "WallClock",
    # the records results are inspected with
    "ErrorObject",
    "ExecutionStatus",
    "InvocationStatus",
    "OperationStatus",
    "OperationType",
]


def __getattr__(name: str) -> object:
    # ``durable.testing.strategies`` needs Hypothesis: loaded on first use only.
    if name == "strategies":
        import importlib

        return importlib.import_module("durable.testing.strategies")
    raise AttributeError(f"module 'durable.testing' has no attribute {name!r}")
