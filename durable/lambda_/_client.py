"""The durable-execution API through boto3: the runtime's ``Service`` on AWS.

Responsibility: turn the runtime's typed calls into boto3 ``lambda`` client
calls (``checkpoint_durable_execution``, ``get_durable_execution_state``),
their answers back into records (through ``durable.wire``), and botocore's
failures into ``ServiceApiError``s classified as protocol.md §3.5 says.

Retries of throttling, 5xx and transport errors are botocore's own
("standard" retry mode: capped exponential back-off with jitter, and one
idempotency ``ClientToken`` reused across the retries of a call).  What is
still failing after those retries is reported retryable, so the invocation
raises and Lambda retries it; a 4xx (other than throttling and an invalid
checkpoint token) is permanent and fails the execution.

boto3 is imported when the first call needs a client, never at import time:
an invocation that only replays (nothing to checkpoint) never loads it.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from durable import wire
from durable.errors import CheckpointError, GetExecutionStateError, ServiceApiError
from durable.model import CheckpointOutput, OperationUpdate, StatePage

__all__ = ["BotoService", "classify", "default_client"]

USER_AGENT = "durable/0.1.0"
#: botocore attempts per call (the first included) before the invocation gives up.
MAX_ATTEMPTS = 5

_KMS_CODES = frozenset(
    {
        "KMSAccessDeniedException",
        "KMSDisabledException",
        "KMSInvalidStateException",
        "KMSNotFoundException",
    }
)

_client_lock = threading.Lock()
_default_client: Any = None


def default_client() -> Any:
    """The process-wide boto3 Lambda client, created from the environment on
    first use and kept for warm invocations (protocol.md §3.1)."""
    global _default_client
    with _client_lock:
        if _default_client is None:
            import boto3
            from botocore.config import Config

            _default_client = boto3.client(
                "lambda",
                config=Config(
                    connect_timeout=5,
                    read_timeout=50,
                    user_agent_extra=USER_AGENT,
                    # total_max_attempts counts the first attempt; botocore's
                    # max_attempts would count retries only (MAX_ATTEMPTS + 1).
                    retries={"mode": "standard", "total_max_attempts": MAX_ATTEMPTS},
                ),
            )
        return _default_client


def classify(exc: BaseException) -> tuple[bool, str | None, int | None]:
    """``(retryable, error_code, http_status)`` of a botocore failure (§3.5).

    Anything without an HTTP status (connection refused, read timeout, a
    botocore-internal failure) is retryable.
    """
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return True, type(exc).__name__, None
    error = response.get("Error") or {}
    code = error.get("Code")
    message = str(error.get("Message") or "")
    status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
    if code in _KMS_CODES:
        return False, code, status
    if isinstance(status, int) and 400 <= status < 500:
        if status == 429:
            return True, code, status
        if code == "InvalidParameterValueException" and message.startswith(
            "Invalid checkpoint token"
        ):
            return True, code, status
        return False, code, status
    return True, code, status


class BotoService:
    """``durable.runtime.Service`` over a boto3 ``lambda`` client.

    ``client`` may be given (for example one pointed at a local emulator);
    otherwise ``default_client()`` is used when the first call is made.
    """

    def __init__(self, client: Any = None) -> None:
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = default_client()
        return self._client

    def checkpoint(
        self, execution_arn: str, checkpoint_token: str, updates: Sequence[OperationUpdate]
    ) -> CheckpointOutput:
        try:
            response = self.client.checkpoint_durable_execution(
                DurableExecutionArn=execution_arn,
                CheckpointToken=checkpoint_token,
                Updates=[wire.update_to_dict(update) for update in updates],
            )
        except ServiceApiError:
            raise
        except Exception as exc:
            raise _api_error(CheckpointError, "CheckpointDurableExecution", exc) from exc
        return wire.checkpoint_output_from_dict(response)

    def get_execution_state(
        self, execution_arn: str, checkpoint_token: str, marker: str, max_items: int = 1000
    ) -> StatePage:
        try:
            response = self.client.get_durable_execution_state(
                DurableExecutionArn=execution_arn,
                CheckpointToken=checkpoint_token,
                Marker=marker,
                MaxItems=max_items,
            )
        except ServiceApiError:
            raise
        except Exception as exc:
            raise _api_error(GetExecutionStateError, "GetDurableExecutionState", exc) from exc
        return wire.state_page_from_dict(response)


def _api_error(
    kind: type[CheckpointError] | type[GetExecutionStateError], call: str, exc: Exception
) -> ServiceApiError:
    retryable, code, status = classify(exc)
    return kind(f"{call} failed: {exc}", retryable=retryable, error_code=code, status_code=status)
