"""``aws_durable_execution_sdk_python.state``: the replay status."""

from durable.core import ReplayStatus

__all__ = ["ReplayStatus"]
