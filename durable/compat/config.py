"""``aws_durable_execution_sdk_python.config``: configuration classes."""

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
    "CallbackConfig",
    "ChildConfig",
    "Duration",
    "InvokeConfig",
    "JitterStrategy",
    "StepConfig",
    "StepSemantics",
    "WaitForCallbackConfig",
]
