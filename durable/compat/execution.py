"""``aws_durable_execution_sdk_python.execution``: the entry point and envelopes."""

from durable.imperative import durable_execution
from durable.model import InvocationInput as DurableExecutionInvocationInput
from durable.model import InvocationOutput as DurableExecutionInvocationOutput
from durable.model import InvocationStatus
from durable.model import StatePage as InitialExecutionState
from durable.runtime import LAMBDA_RESPONSE_SIZE_LIMIT

__all__ = [
    "LAMBDA_RESPONSE_SIZE_LIMIT",
    "DurableExecutionInvocationInput",
    "DurableExecutionInvocationOutput",
    "InitialExecutionState",
    "InvocationStatus",
    "durable_execution",
]
