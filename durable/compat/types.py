"""``aws_durable_execution_sdk_python.types``: what operations hand user code."""

from durable.ops import LoggerLike as LoggerInterface
from durable.ops import StepContext

__all__ = ["LoggerInterface", "StepContext"]
