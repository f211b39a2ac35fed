"""The AWS SDK's public names, for code written against the AWS documentation.

Change ``aws_durable_execution_sdk_python`` to ``durable.compat`` in the
import lines and the code runs on `durable`, unchanged otherwise.  The
sub-modules mirror the AWS SDK's (``durable.compat.config``,
``.context``, ``.types``, ``.retries``, ``.waits``, ``.serdes``, ``.exceptions``,
``.execution``, ``.lambda_service``, ``.state``).  Everything here is a
re-export of `durable`'s own objects: there is no second implementation.
"""

from durable.compat.context import (
    DurableContext,
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
    "CallbackError",
    "CallbackExternalError",
    "CallbackSubmitterError",
    "CallbackTimeoutError",
    "ChildContextError",
    "DurableContext",
    "DurableExecutionsError",
    "DurableOperationError",
    "ExecutionError",
    "InvocationError",
    "InvokeError",
    "PluginLoadError",
    "RetryableSerDesError",
    "SerDesError",
    "StepContext",
    "StepError",
    "ValidationError",
    "WaitForConditionError",
    "WithRetryConfig",
    "__version__",
    "durable_execution",
    "durable_step",
    "durable_wait_for_callback",
    "durable_with_child_context",
    "with_retry",
]
