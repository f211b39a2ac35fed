"""The Lambda handler: invocation event in, output envelope out (protocol.md §1).

Responsibility: decode the event with ``durable.wire`` (a malformed event
raises one ``ServiceProtocolError`` naming every bad field), run the
invocation through ``durable.runtime`` against the boto3-backed service, and
encode the output envelope.  Everything else (paging, batching, the decision
table of §1.7) is the runtime's.
"""

from __future__ import annotations

import random
from typing import Any

from durable import wire
from durable.lambda_._client import BotoService
from durable.runtime import Service, run_invocation, utc_now

__all__ = ["handle"]


def handle(
    workflow: Any,
    event: Any,
    lambda_context: Any = None,
    *,
    boto3_client: Any = None,
    service: Service | None = None,
    **runtime_options: Any,
) -> dict[str, Any]:
    """Run one invocation of ``workflow`` for the Lambda ``event``.

    ``workflow`` is a ``@durable.workflow`` (or a plain ``(event, ctx)``
    function).  The service is, in order of preference: ``service`` (any
    ``durable.runtime.Service``, for tests), a ``BotoService`` over
    ``boto3_client``, over the workflow's own ``boto3_client``, or over the
    process-wide default client.  ``runtime_options`` (``clock``,
    ``random``, ``logger``, ``run_body``, ``max_workers``) are passed to
    ``durable.runtime.run_invocation``; the local runner uses them to keep its
    virtual clock and seeded jitter.
    """
    from durable._workflow import DurableWorkflow, workflow_function

    invocation = wire.invocation_input_from_dict(event)
    if service is None:
        client = boto3_client
        if client is None and isinstance(workflow, DurableWorkflow):
            client = workflow.boto3_client
        service = BotoService(client)
    if isinstance(workflow, DurableWorkflow) and workflow.max_workers is not None:
        runtime_options.setdefault("max_workers", workflow.max_workers)
    runtime_options.setdefault("clock", utc_now)
    runtime_options.setdefault("random", random.random)
    output = run_invocation(
        workflow_function(workflow),
        invocation,
        service,
        lambda_context=lambda_context,
        **runtime_options,
    )
    return wire.invocation_output_to_dict(output)
