"""The AWS Lambda adapter: the only code that talks to boto3.

A ``@durable.workflow`` object *is* the Lambda handler; ``handle`` is the
function behind it, and ``BotoService`` the boto3-backed durable-execution
API the runtime checkpoints through.
"""

from durable.lambda_._client import BotoService, classify, default_client
from durable.lambda_._handler import handle

__all__ = ["BotoService", "classify", "default_client", "handle"]
