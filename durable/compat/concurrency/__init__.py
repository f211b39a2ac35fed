"""``aws_durable_execution_sdk_python.concurrency``: map and parallel results."""
