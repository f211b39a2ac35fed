"""The runtime shell: state loading, batching, envelopes and service errors (§1, §3)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pytest

import durable
from durable.errors import CheckpointError, RetryableSerDesError, ServiceApiError
from durable.model import (
    CheckpointOutput,
    InvocationStatus,
    OperationType,
    OperationUpdate,
    StatePage,
)
from durable.runtime import (
    LAMBDA_RESPONSE_SIZE_LIMIT,
    MAX_REQUEST_BYTES,
    CheckpointBatcher,
    run_invocation,
    update_size,
)
from durable.testing import LocalRunner, LocalService
from durable.wire import update_size as exact_update_size


def steps(n: int) -> Any:
    def workflow(event: Any, ctx: durable.Context) -> Any:
        total = 0
        for i in range(n):
            total += yield ctx.step(lambda _, i=i: i, name=f"s{i}")
        return total

    return workflow


def invoke_once(workflow: Any, service: LocalService, payload: str | None = "{}") -> Any:
    arn = service.start_execution(payload)
    event = service.begin_invocation(arn)
    output = run_invocation(workflow, event, service, clock=service.clock.now, random=lambda: 0.5)
    return arn, output


class Wrapped:
    """A service that delegates to a LocalService and lets a test rewrite answers."""

    def __init__(self, inner: LocalService, on_checkpoint: Any = None) -> None:
        self.inner = inner
        self.on_checkpoint = on_checkpoint
        self.calls = 0

    def checkpoint(
        self, arn: str, token: str, updates: Sequence[OperationUpdate]
    ) -> CheckpointOutput:
        self.calls += 1
        if self.on_checkpoint is not None:
            replaced = self.on_checkpoint(self.calls, arn, token, updates)
            if replaced is not None:
                return replaced  # type: ignore[no-any-return]
        return self.inner.checkpoint(arn, token, updates)

    def get_execution_state(
        self, arn: str, token: str, marker: str, max_items: int = 1000
    ) -> StatePage:
        return self.inner.get_execution_state(arn, token, marker, max_items)


class TestEnvelope:
    def test_the_result_is_plain_json_with_default_separators(self) -> None:
        """SUCCEEDED carries json.dumps(value), not the extended serdes (§1.5)."""
        _, output = invoke_once(lambda e, c: {"a": [1, 2]}, LocalService())
        assert output.status is InvocationStatus.SUCCEEDED
        assert output.result == '{"a": [1, 2]}'

    def test_a_result_json_cannot_encode_fails_with_type_error(self) -> None:
        """Returning a set fails the execution with a TypeError record."""
        _, output = invoke_once(lambda e, c: {1, 2}, LocalService())
        assert output.status is InvocationStatus.FAILED
        assert output.error is not None and output.error.type == "TypeError"

    def test_an_oversized_result_is_checkpointed_on_the_execution(self) -> None:
        """Above 6 MiB - 50 the result goes in an EXECUTION update and Result is ''."""
        service = LocalService()
        big = "x" * LAMBDA_RESPONSE_SIZE_LIMIT
        arn, output = invoke_once(lambda e, c: big, service)
        assert (output.status, output.result) == (InvocationStatus.SUCCEEDED, "")
        (request,) = service.execution(arn).journal
        (update,) = request.updates
        assert update.type is OperationType.EXECUTION and update.id.startswith("execution-result-")
        assert update.payload == json.dumps(big)
        assert service.execution(arn).result == json.dumps(big)

    def test_a_huge_error_message_is_truncated_not_fatal(self) -> None:
        """An exception with a 7 MB message fails the execution with its type and a
        truncated message that says so, within the service's 32 KiB error limit."""

        def workflow(event: Any, ctx: durable.Context) -> Any:
            raise ValueError("e" * LAMBDA_RESPONSE_SIZE_LIMIT)

        _, output = invoke_once(workflow, LocalService())
        assert output.status is InvocationStatus.FAILED
        assert output.error is not None and output.error.type == "ValueError"
        assert output.error.json_size() <= durable.model.MAX_ERROR_BYTES
        assert "truncated by durable" in (output.error.message or "")

    def test_a_step_failing_with_a_huge_message_still_retries(self) -> None:
        """The RETRY update carries a fitted error, so the service accepts it."""

        def workflow(event: Any, ctx: durable.Context) -> Any:
            def body(step_ctx: durable.StepContext) -> int:
                if step_ctx.attempt == 1:
                    raise RuntimeError("\u2603" * 100_000)
                return 1

            return (yield ctx.step(body, name="big-error"))

        result = LocalRunner(workflow).run()
        assert result.succeeded and result.get_step("big-error").attempts == 2
        retry = result.requests[0].updates[1]
        assert retry.error is not None and retry.error.json_size() <= 32_768

    def test_an_empty_input_is_an_empty_dict(self) -> None:
        """No payload, or whitespace, is handed to the workflow as {} (§1.4)."""
        seen: list[Any] = []
        for payload in (None, "  "):
            invoke_once(lambda e, c: seen.append(e), LocalService(), payload)
        assert seen == [{}, {}]

    def test_invalid_json_input_fails_with_a_clear_error(self) -> None:
        """A malformed InputPayload names the field instead of crashing."""
        _, output = invoke_once(lambda e, c: e, LocalService(), "{nope")
        assert output.status is InvocationStatus.FAILED
        assert output.error is not None and "InputPayload" in (output.error.message or "")

    def test_retryable_invocation_errors_are_raised_for_lambda_to_retry(self) -> None:
        """A RetryableSerDesError escaping the workflow is raised, not reported FAILED."""

        def workflow(event: Any, ctx: durable.Context) -> Any:
            raise RetryableSerDesError("store unavailable")

        with pytest.raises(RetryableSerDesError):
            invoke_once(workflow, LocalService())


class TestStateLoading:
    def test_the_initial_state_is_paged_in_before_the_workflow_runs(self) -> None:
        """With a small page size the replay still sees every stored operation."""
        service = LocalService(page_size=3)
        runner = LocalRunner(steps(10), service=service)
        first = runner.run()
        assert first.succeeded and first.result == 45
        bodies: list[str] = []

        def no_bodies(action: Any) -> Any:
            bodies.append(action.op_id)
            raise AssertionError("no body should run on replay")

        replay_service = LocalService(page_size=3)
        arn = replay_service.start_execution("{}")
        replay_service.execution(arn).operations.update(
            {op.id: op for op in first.log if op.type is not OperationType.EXECUTION}
        )
        event = replay_service.begin_invocation(arn)
        assert event.initial_execution_state.next_marker
        output = run_invocation(
            steps(10), event, replay_service, clock=replay_service.clock.now, run_body=no_bodies
        )
        assert output.result == "45" and bodies == []


class TestBatching:
    def test_a_batch_never_holds_more_than_250_updates(self) -> None:
        """Flushing 600 queued updates takes three requests."""
        service = LocalService()
        arn = service.start_execution(None)
        token = service.begin_invocation(arn).checkpoint_token
        batcher = CheckpointBatcher(service, arn, token)
        batcher.add(
            [
                OperationUpdate(
                    id=f"{i:064d}",
                    type=OperationType.WAIT,
                    action=durable.model.OperationAction.START,
                    sub_type="Wait",
                    wait_options=durable.model.WaitOptions(wait_seconds=5),
                )
                for i in range(600)
            ]
        )
        changed = batcher.flush()
        assert batcher.calls == 3 and len(changed) == 600
        assert [len(r.updates) for r in service.execution(arn).journal] == [250, 250, 100]

    def test_a_batch_stays_under_the_request_size_limit(self) -> None:
        """Large payloads split requests so none exceeds 768,000 bytes of JSON."""

        def big_steps(event: Any, ctx: durable.Context) -> Any:
            for i in range(4):
                yield ctx.step(lambda _: "y" * 300_000, name=f"big{i}")

        runner = LocalRunner(big_steps)
        result = runner.run()
        assert result.succeeded and result.checkpoint_calls >= 2
        for request in result.requests:
            assert sum(exact_update_size(u) for u in request.updates) <= MAX_REQUEST_BYTES

    def test_the_size_estimate_is_an_upper_bound_of_the_json(self) -> None:
        """The batcher's estimate is never below the exact JSON size."""
        update = OperationUpdate(
            id="a" * 64,
            type=OperationType.STEP,
            action=durable.model.OperationAction.FAIL,
            name="n\u00e9",
            sub_type="Step",
            error=durable.ErrorObject(message='q"\u2603' * 50, type="ValueError", data="\n"),
        )
        assert exact_update_size(update) <= update_size(update) <= exact_update_size(update) + 500


class TestServiceErrors:
    def test_a_revoked_token_ends_the_invocation_pending(self) -> None:
        """A checkpoint answer without a token overrides any result with PENDING (§1.8)."""

        def revoke(call: int, arn: str, token: str, updates: Any) -> Any:
            if call == 2:
                return CheckpointOutput(checkpoint_token=None)
            return None

        inner = LocalService()
        service = Wrapped(inner, revoke)
        arn = inner.start_execution("{}")
        output = run_invocation(
            steps(3), inner.begin_invocation(arn), service, clock=inner.clock.now
        )
        assert output.status is InvocationStatus.PENDING
        assert service.calls == 2

    def test_a_rejected_checkpoint_fails_the_execution(self) -> None:
        """A non-retryable 4xx becomes FAILED with the CheckpointError type."""

        def reject(call: int, arn: str, token: str, updates: Any) -> Any:
            raise ServiceApiError("InvalidParameterValueException: nope", retryable=False)

        inner = LocalService()
        arn = inner.start_execution("{}")
        output = run_invocation(
            steps(1), inner.begin_invocation(arn), Wrapped(inner, reject), clock=inner.clock.now
        )
        assert output.status is InvocationStatus.FAILED
        assert output.error is not None
        assert output.error.type == CheckpointError.wire_type
        assert "nope" in (output.error.message or "")

    def test_a_throttled_checkpoint_is_raised_for_lambda_to_retry(self) -> None:
        """A retryable error propagates out of the invocation."""

        def throttle(call: int, arn: str, token: str, updates: Any) -> Any:
            raise ServiceApiError("TooManyRequestsException", retryable=True, status_code=429)

        inner = LocalService()
        arn = inner.start_execution("{}")
        with pytest.raises(CheckpointError) as info:
            run_invocation(
                steps(1),
                inner.begin_invocation(arn),
                Wrapped(inner, throttle),
                clock=inner.clock.now,
            )
        assert info.value.retryable and info.value.status_code == 429
