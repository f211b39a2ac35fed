"""The AWS SDK's public names, for code written against the AWS documentation.

Change ``aws_durable_execution_sdk_python`` to ``durable.compat`` in the
import lines and the code runs on `durable`, unchanged otherwise.  The
sub-modules mirror the AWS SDK's (``durable.compat.config``,
``.context``, ``.types``, ``.retries``, ``.waits``, ``.serdes``, ``.exceptions``,
``.execution``, ``.lambda_service``, ``.state``, ``.concurrency.models``).  Everything here is a
re-export of `durable`'s own objects: there is no second implementation.
"""

from durable.compat.concurrency.models import BatchResult
from durable.compat.config import (
    BatchItemStatus,
    CompletionDecision,
    CompletionItemStatus,
    CompletionOutcome,
    CompletionStatus,
    ParallelBranch,
    complete_batch,
    continue_batch,
)
from durable.compat.context import (
    DurableContext,
    durable_parallel_branch,
    durable_step,
    durable_wait_for_callback,
    durable_with_child_context,
)
from durable.compat.exceptions import (
    CallbackError,
    CallbackExternalError,
    CallbackSubmitterError,
    CallbackTimeoutError,
    ChildContextError,
    DurableExecutionsError,
    DurableOperationError,
    ExecutionError,
    InvocationError,
    InvokeError,
    PluginLoadError,
    RetryableSerDesError,
    SerDesError,
    StepError,
    ValidationError,
    WaitForConditionError,
)
from durable.compat.execution import durable_execution
from durable.compat.retries import WithRetryConfig, with_retry
from durable.compat.types import StepContext
from durable.errors import BatchCompletionError

__version__ = "0.1.0"

__all__ = [
    "BatchCompletionError",
    "BatchItemStatus",
    "BatchResult",
    "CallbackError",
    "CallbackExternalError",
    "CallbackSubmitterError",
    "CallbackTimeoutError",
    "ChildContextError",
    "CompletionDecision",
    "CompletionItemStatus",
    "CompletionOutcome",
    "CompletionStatus",
    "DurableContext",
    "DurableExecutionsError",
    "DurableOperationError",
    "ExecutionError",
    "InvocationError",
    "InvokeError",
    "ParallelBranch",
    "PluginLoadError",
    "RetryableSerDesError",
    "SerDesError",
    "StepContext",
    "StepError",
    "ValidationError",
    "WaitForConditionError",
    "WithRetryConfig",
    "__version__",
    "complete_batch",
    "continue_batch",
    "durable_execution",
    "durable_parallel_branch",
    "durable_step",
    "durable_wait_for_callback",
    "durable_with_child_context",
    "with_retry",
]
