"""``aws_durable_execution_sdk_python.waits``: polling for wait_for_condition."""

from durable.waits import (
    WaitForConditionConfig,
    WaitForConditionDecision,
    WaitStrategyConfig,
    create_wait_strategy,
)

__all__ = [
    "WaitForConditionConfig",
    "WaitForConditionDecision",
    "WaitStrategyConfig",
    "create_wait_strategy",
]
