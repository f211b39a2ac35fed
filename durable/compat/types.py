"""``aws_durable_execution_sdk_python.types``: what operations hand user code.

``Callback`` is the imperative API's callback (``result()`` blocks).
"""

from durable.imperative import BlockingCallback as Callback
from durable.ops import LoggerLike as LoggerInterface
from durable.ops import StepContext, WaitForCallbackContext, WaitForConditionCheckContext

__all__ = [
    "Callback",
    "LoggerInterface",
    "StepContext",
    "WaitForCallbackContext",
    "WaitForConditionCheckContext",
]
