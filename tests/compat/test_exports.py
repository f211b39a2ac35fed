"""The public surface: durable's names, and durable.compat against the AWS SDK's."""

from __future__ import annotations

import importlib

import pytest

import durable
import durable.compat

COMPAT_MODULES = [
    "",
    ".config",
    ".context",
    ".types",
    ".retries",
    ".waits",
    ".serdes",
    ".exceptions",
    ".execution",
    ".lambda_service",
    ".state",
    ".concurrency.models",
]


@pytest.mark.parametrize("suffix", COMPAT_MODULES)
def test_every_compat_name_exists_in_the_same_aws_module(suffix: str) -> None:
    """Each name durable.compat<suffix> exports is importable from the AWS SDK's
    module of the same path, so rewriting the import line is all a user does."""
    reference = pytest.importorskip(f"aws_durable_execution_sdk_python{suffix}")
    mine = importlib.import_module(f"durable.compat{suffix}")
    names = set(mine.__all__) - {"__version__"}
    missing = sorted(name for name in names if not hasattr(reference, name))
    assert missing == []
    for name in names:
        assert getattr(mine, name) is not None


def test_every_aws_top_level_name_is_in_compat() -> None:
    """Every AWS top-level name is in durable.compat."""
    reference = pytest.importorskip("aws_durable_execution_sdk_python")
    absent = set(reference.__all__) - set(durable.compat.__all__)
    assert absent == set()


def test_compat_names_are_durables_own_objects() -> None:
    """durable.compat re-exports; it never defines a second implementation."""
    from durable.compat import config, context, exceptions

    assert context.durable_step is durable.step
    assert context.DurableContext is durable.DurableContext
    assert config.Duration is durable.Duration
    assert exceptions.NonDeterministicExecutionError is durable.NonDeterminismError
    assert durable.compat.BatchResult is durable.BatchResult
    assert config.MapConfig is durable.MapConfig


def test_durables_public_names_are_pinned() -> None:
    """A change to durable.__all__ is a deliberate API change."""
    assert sorted(durable.__all__) == sorted(
        [
            "BatchCompletionError",
            "BatchItem",
            "BatchItemStatus",
            "BatchResult",
            "BatchedInput",
            "CompensationError",
            "CompensationFailure",
            "CompensationReport",
            "CompletionConfig",
            "CompletionDecision",
            "CompletionItemStatus",
            "CompletionOutcome",
            "CompletionReason",
            "CompletionStatus",
            "ItemBatcher",
            "Map",
            "MapConfig",
            "NestingType",
            "Parallel",
            "ParallelBranch",
            "ParallelConfig",
            "complete_batch",
            "continue_batch",
            "durable_parallel_branch",
            "Callback",
            "CallbackConfig",
            "InvokeConfig",
            "WaitForCallbackConfig",
            "WaitForCallbackContext",
            "WaitForConditionCheckContext",
            "WaitForConditionConfig",
            "WaitForConditionDecision",
            "WaitStrategyConfig",
            "create_wait_strategy",
            "durable_wait_for_callback",
            "CallbackError",
            "CallbackExternalError",
            "CallbackSubmitterError",
            "CallbackTimeoutError",
            "WaitForConditionError",
            "ChildConfig",
            "ChildContext",
            "ChildContextError",
            "ChildFunction",
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
            "InvokeError",
            "JitterStrategy",
            "LinearRetryStrategyConfig",
            "NonDeterminismError",
            "OperationStatus",
            "OperationType",
            "RetryDecision",
            "RetryPresets",
            "RetryStrategyConfig",
            "Saga",
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
            "WithRetryConfig",
            "child_context",
            "create_linear_retry_strategy",
            "create_retry_strategy",
            "durable_execution",
            "durable_step",
            "durable_with_child_context",
            "step",
            "with_retry",
            "workflow",
        ]
    )
    for name in durable.__all__:
        assert hasattr(durable, name), name
