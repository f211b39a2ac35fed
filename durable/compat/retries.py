"""``aws_durable_execution_sdk_python.retries``: retry strategies and ``with_retry``."""

from durable.imperative import WithRetryConfig, with_retry
from durable.retries import (
    JitterStrategy,
    LinearRetryStrategyConfig,
    RetryDecision,
    RetryPresets,
    RetryStrategyConfig,
    create_linear_retry_strategy,
    create_retry_strategy,
)

__all__ = [
    "JitterStrategy",
    "LinearRetryStrategyConfig",
    "RetryDecision",
    "RetryPresets",
    "RetryStrategyConfig",
    "WithRetryConfig",
    "create_linear_retry_strategy",
    "create_retry_strategy",
    "with_retry",
]
