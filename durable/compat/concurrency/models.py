"""``aws_durable_execution_sdk_python.concurrency.models``: ``BatchResult`` and friends."""

from durable.batch import (
    BatchItem,
    BatchItemStatus,
    BatchResult,
    CompletionDecision,
    CompletionItemStatus,
    CompletionOutcome,
    CompletionReason,
    CompletionStatus,
)
from durable.errors import BatchCompletionError, ChildContextError, DurableOperationError
from durable.model import ErrorObject

__all__ = [
    "BatchCompletionError",
    "BatchItem",
    "BatchItemStatus",
    "BatchResult",
    "ChildContextError",
    "CompletionDecision",
    "CompletionItemStatus",
    "CompletionOutcome",
    "CompletionReason",
    "CompletionStatus",
    "DurableOperationError",
    "ErrorObject",
]
