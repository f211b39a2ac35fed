"""The docs-style workflows run on durable's local runner, directly and through
the Lambda handler's JSON path."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from durable.model import ExecutionStatus
from durable.testing import LocalRunner
from tests.compat import docs_workflows as docs


@pytest.mark.parametrize("through_handler", [False, True], ids=["runtime", "handler"])
@pytest.mark.parametrize("name", sorted(docs.HANDLERS))
def test_each_docs_workflow_runs_locally(name: str, through_handler: bool) -> None:
    """Every workflow written against the AWS API reaches its documented result."""
    handler, event = docs.HANDLERS[name]
    result = LocalRunner(handler, through_handler=through_handler).run(event)
    if name == "failing":
        assert result.execution_status is ExecutionStatus.FAILED
        assert result.error is not None
        assert (result.error.type, result.error.message) == ("ValueError", "refusing to continue")
        assert result.get_step("audit").sub_type == "Audit"
    else:
        assert result.execution_status is ExecutionStatus.SUCCEEDED, result.error
        assert result.result == docs.EXPECTED[name]


def test_the_docs_logging_workflow_logs_each_line_once(caplog: pytest.LogCaptureFixture) -> None:
    """Across its two invocations each line appears exactly once."""
    handler, event = docs.HANDLERS["logging"]
    with caplog.at_level(logging.INFO, logger="durable"):
        result = LocalRunner(handler).run(event)
    assert result.invocations == 2
    assert [r.getMessage() for r in caplog.records] == [
        "starting logging_handler",
        "inside the step, attempt 1",
        "finished with logged",
    ]


def test_with_retry_waits_between_attempts() -> None:
    """The failed first attempt is followed by a durable back-off wait."""
    handler, event = docs.HANDLERS["with-retry"]
    result = LocalRunner(handler).run(event)
    refresh = result.get_context("refresh")
    assert [c.name for c in refresh.children] == [
        "fetch-token-1",
        "refresh-backoff-1",
        "fetch-token-2",
        "use-token-2",
    ]
    assert refresh.children[1].type.value == "WAIT"


def test_handlers_keep_their_names_and_wrap_the_function() -> None:
    """@durable_execution keeps __name__ and exposes the function as __wrapped__."""
    handler: Any = docs.greeting_handler
    assert handler.__name__ == "greeting_handler"
    assert handler.__wrapped__.__name__ == "greeting_handler"


def test_a_docs_callback_is_answered_or_expires() -> None:
    """The approval handler returns the approver's raw answer, or 'expired' after 2 h."""
    from durable.testing import CallbackAnswer

    answered = LocalRunner(
        docs.approval_handler, on_callback=lambda op: CallbackAnswer.success("approved")
    ).run({})
    assert answered.result == "approved"
    runner = LocalRunner(docs.approval_handler)
    pending = runner.run({})
    assert pending.status.value == "PENDING"
    assert runner.advance(pending.arn, 3 * 3600).result == "expired"


def test_a_docs_wait_for_callback_names_its_wrapper_after_the_submitter() -> None:
    """The decorated submitter gets the id and names the WaitForCallback context."""
    runner = LocalRunner(docs.signature_handler)
    pending = runner.run({"document": "nda.pdf"})
    wrapper = pending.get_context("request_signature")
    assert wrapper.sub_type == "WaitForCallback"
    callback_id = docs.SUBMITTED[-1]
    done = runner.send_callback_success(callback_id, "signed")
    assert done.result == "signed"


def test_a_docs_invoke_reaches_a_registered_function() -> None:
    """The pricing function answers; the missing one fails with ResourceNotFoundException."""
    runner = LocalRunner(docs.invoke_handler)
    runner.register_function("pricing", lambda payload: {"sku": payload["sku"], "eur": 12})
    result = runner.run({"sku": "A-1"})
    assert result.result == {
        "price": {"sku": "A-1", "eur": 12},
        "missing": "ResourceNotFoundException",
    }
