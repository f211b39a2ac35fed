"""A boto3-shaped Lambda client over the in-memory service.

Responsibility: let any code that checkpoints through a boto3 ``lambda``
client (``durable``'s Lambda adapter, or the AWS SDK's handler) run against a
``LocalService`` in-process: the calls take and return the same dictionaries
botocore would (timestamps as ``datetime`` objects in answers), and errors are
botocore ``ClientError``s with the service's codes.  It counts the calls and
the bytes sent, which is what the benchmarks compare.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from durable import wire
from durable.errors import ServiceApiError
from durable.testing._service import LocalService

__all__ = ["LocalLambdaClient"]

_TIMESTAMPS = frozenset(
    {"StartTimestamp", "EndTimestamp", "NextAttemptTimestamp", "ScheduledEndTimestamp"}
)


def _datetimes(value: Any) -> Any:
    """Timestamps in botocore's response form (aware datetimes), recursively."""
    if isinstance(value, dict):
        return {
            k: (
                datetime.fromtimestamp(v / 1000, tz=UTC)
                if k in _TIMESTAMPS and isinstance(v, int)
                else _datetimes(v)
            )
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_datetimes(v) for v in value]
    return value


class LocalLambdaClient:
    """The two durable-execution calls of a boto3 ``lambda`` client, served
    by ``service``.  ``calls`` counts checkpoint requests and
    ``bytes_sent`` the JSON size of their ``Updates``."""

    def __init__(self, service: LocalService) -> None:
        self.service = service
        self.calls = 0
        self.state_calls = 0
        self.bytes_sent = 0

    def checkpoint_durable_execution(
        self,
        *,
        DurableExecutionArn: str,  # noqa: N803 - boto3's parameter names
        CheckpointToken: str,  # noqa: N803
        Updates: list[dict[str, Any]] | None = None,  # noqa: N803
        ClientToken: str | None = None,  # noqa: N803
    ) -> dict[str, Any]:
        updates = Updates or []
        self.calls += 1
        self.bytes_sent += len(json.dumps(updates).encode())
        try:
            answer = self.service.checkpoint(
                DurableExecutionArn,
                CheckpointToken,
                [wire.update_from_dict(update) for update in updates],
            )
        except ServiceApiError as exc:
            raise _client_error(exc, "CheckpointDurableExecution") from exc
        response: dict[str, Any] = _datetimes(wire.checkpoint_output_to_dict(answer))
        response["ResponseMetadata"] = {"HTTPStatusCode": 200}
        return response

    def get_durable_execution_state(
        self,
        *,
        DurableExecutionArn: str,  # noqa: N803
        CheckpointToken: str,  # noqa: N803
        Marker: str = "",  # noqa: N803
        MaxItems: int = 1000,  # noqa: N803
    ) -> dict[str, Any]:
        self.state_calls += 1
        try:
            page = self.service.get_execution_state(
                DurableExecutionArn, CheckpointToken, Marker, MaxItems
            )
        except ServiceApiError as exc:
            raise _client_error(exc, "GetDurableExecutionState") from exc
        response: dict[str, Any] = _datetimes(wire.state_page_to_dict(page))
        response["ResponseMetadata"] = {"HTTPStatusCode": 200}
        return response


def _client_error(exc: ServiceApiError, operation: str) -> Exception:
    from botocore.exceptions import ClientError

    message = str(exc).split(": ", 1)[-1]
    error: Exception = ClientError(
        {
            "Error": {"Code": exc.error_code or "ServiceException", "Message": message},
            "ResponseMetadata": {"HTTPStatusCode": exc.status_code or 500},
        },
        operation,
    )
    return error
