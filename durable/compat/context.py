"""``aws_durable_execution_sdk_python.context``: the context and its decorators."""

from durable.batch import durable_parallel_branch
from durable.imperative import (
    DurableContext,
    ExecutionContext,
    durable_wait_for_callback,
    durable_with_child_context,
)
from durable.ops import step as durable_step

__all__ = [
    "DurableContext",
    "ExecutionContext",
    "durable_parallel_branch",
    "durable_step",
    "durable_wait_for_callback",
    "durable_with_child_context",
]
