"""durable: AWS Lambda durable functions as generators and coroutines.

Write a workflow as a generator that yields operations (or an ``async def``
that awaits them); a pure interpreter replays it against the checkpoint log::

    import durable
    from durable import Duration

    @durable.step
    def charge(step_ctx, order_id: str, amount: float) -> dict:
        ...

    @durable.workflow
    def process_order(event, ctx):
        payment = yield charge(event["order_id"], event["amount"])
        yield ctx.wait(Duration.from_seconds(30), name="cool-off")
        return {"status": "done", "payment": payment}

Run it locally with ``durable.testing.run(process_order, {...})``.

``import durable`` loads neither boto3 nor cattrs.
"""

from durable._workflow import DurableWorkflow, workflow
from durable.batch import (
    BatchedInput,
    BatchItem,
    BatchItemStatus,
    BatchResult,
    CompletionConfig,
    CompletionDecision,
    CompletionItemStatus,
    CompletionOutcome,
    CompletionReason,
    CompletionStatus,
    ItemBatcher,
    MapConfig,
    NestingType,
    ParallelBranch,
    ParallelConfig,
    complete_batch,
    continue_batch,
    durable_parallel_branch,
)
from durable.config import (
    CallbackConfig,
    ChildConfig,
    Duration,
    InvokeConfig,
    StepConfig,
    StepSemantics,
    WaitForCallbackConfig,
)
from durable.core import Context
from durable.errors import (
    BatchCompletionError,
    CallbackError,
    CallbackExternalError,
    CallbackSubmitterError,
    CallbackTimeoutError,
    ChildContextError,
    DurableError,
    DurableOperationError,
    ExecutionError,
    InvocationError,
    InvokeError,
    NonDeterminismError,
    SerDesError,
    StepError,
    UsageError,
    ValidationError,
    WaitForConditionError,
)
from durable.imperative import (
    DurableContext,
    WithRetryConfig,
    durable_execution,
    durable_wait_for_callback,
    durable_with_child_context,
    with_retry,
)
from durable.model import (
    ErrorObject,
    ExecutionStatus,
    InvocationStatus,
    OperationStatus,
    OperationType,
)
from durable.ops import (
    Callback,
    ChildContext,
    ChildFunction,
    Map,
    Parallel,
    Step,
    StepContext,
    StepFunction,
    Wait,
    WaitForCallbackContext,
    WaitForConditionCheckContext,
    child_context,
    step,
)
from durable.retries import (
    JitterStrategy,
    LinearRetryStrategyConfig,
    RetryDecision,
    RetryPresets,
    RetryStrategyConfig,
    create_linear_retry_strategy,
    create_retry_strategy,
)
from durable.saga import CompensationError, CompensationFailure, CompensationReport, Saga
from durable.waits import (
    WaitForConditionConfig,
    WaitForConditionDecision,
    WaitStrategyConfig,
    create_wait_strategy,
)

__version__ = "0.1.0"

__all__ = [
    "CompensationError",
    "CompensationFailure",
    "CompensationReport",
    "Saga",
    "BatchCompletionError",
    "BatchItem",
    "BatchItemStatus",
    "BatchResult",
    "BatchedInput",
    "Callback",
    "CallbackConfig",
    "CallbackError",
    "CallbackExternalError",
    "CallbackSubmitterError",
    "CallbackTimeoutError",
    "ChildConfig",
    "ChildContext",
    "ChildContextError",
    "ChildFunction",
    "CompletionConfig",
    "CompletionDecision",
    "CompletionItemStatus",
    "CompletionOutcome",
    "CompletionReason",
    "CompletionStatus",
    "Context",
    "DurableContext",
    "DurableError",
    "DurableOperationError",
    "DurableWorkflow",
    "Duration",
    "ErrorObject",
    "ExecutionError",
    "ExecutionStatus",
    "InvocationError",
    "InvocationStatus",
    "InvokeConfig",
    "InvokeError",
    "ItemBatcher",
    "JitterStrategy",
    "LinearRetryStrategyConfig",
    "Map",
    "MapConfig",
    "NestingType",
    "NonDeterminismError",
    "OperationStatus",
    "OperationType",
    "Parallel",
    "ParallelBranch",
    "ParallelConfig",
    "RetryDecision",
    "RetryPresets",
    "RetryStrategyConfig",
    "SerDesError",
    "Step",
    "StepConfig",
    "StepContext",
    "StepError",
    "StepFunction",
    "StepSemantics",
    "UsageError",
    "ValidationError",
    "Wait",
    "WaitForCallbackConfig",
    "WaitForCallbackContext",
    "WaitForConditionCheckContext",
    "WaitForConditionConfig",
    "WaitForConditionDecision",
    "WaitForConditionError",
    "WaitStrategyConfig",
    "WithRetryConfig",
    "child_context",
    "complete_batch",
    "continue_batch",
    "create_linear_retry_strategy",
    "create_retry_strategy",
    "create_wait_strategy",
    "durable_execution",
    "durable_parallel_branch",
    "durable_step",
    "durable_wait_for_callback",
    "durable_with_child_context",
    "step",
    "with_retry",
    "workflow",
]

#: The AWS SDK's name for ``durable.step``: a step function for both styles.
durable_step = step
