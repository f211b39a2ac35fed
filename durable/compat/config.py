"""``aws_durable_execution_sdk_python.config``: configuration classes."""

from durable.config import ChildConfig, Duration, StepConfig, StepSemantics
from durable.retries import JitterStrategy

__all__ = ["ChildConfig", "Duration", "JitterStrategy", "StepConfig", "StepSemantics"]
