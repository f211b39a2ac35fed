"""``aws_durable_execution_sdk_python.config``: configuration classes."""

from durable.batch import (
    BatchItemStatus,
    CompletionConfig,
    CompletionDecision,
    CompletionItemStatus,
    CompletionOutcome,
    CompletionStatus,
    MapConfig,
    NestingType,
    ParallelBranch,
    ParallelConfig,
    complete_batch,
    continue_batch,
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
from durable.retries import JitterStrategy

__all__ = [
    "BatchItemStatus",
    "CallbackConfig",
    "ChildConfig",
    "CompletionConfig",
    "CompletionDecision",
    "CompletionItemStatus",
    "CompletionOutcome",
    "CompletionStatus",
    "Duration",
    "InvokeConfig",
    "JitterStrategy",
    "MapConfig",
    "NestingType",
    "ParallelBranch",
    "ParallelConfig",
    "StepConfig",
    "StepSemantics",
    "WaitForCallbackConfig",
    "complete_batch",
    "continue_batch",
]
