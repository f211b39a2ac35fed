"""The cloud runner and --runner-mode=cloud against the service emulator over HTTP.

The emulator stands in for the Lambda service: the workflows of
``tests/testing/workflows.py`` are "deployed" on it (its Invoke endpoint runs
them through durable's Lambda adapter), and a ``LambdaApiFront`` gives the
test's client what the real service gives: an ``Invoke`` that starts a named
durable execution, and the durable-execution API. Then:

* the cloud runner rebuilds, from the service's history, the same
  ``ExecutionResult`` the local runner builds in-process (every operation,
  its status, attempts, result and error);
* callbacks are answered, waits time out, service errors surface;
* the same plugin-style test file passes with ``--runner-mode=cloud``.
"""

from __future__ import annotations

import contextlib
import re
import textwrap
from collections.abc import Iterator
from typing import Any

import pytest

from durable.errors import ServiceApiError
from durable.lambda_ import handle
from durable.testing import (
    DurableFunctionCloudTestRunner,
    DurableFunctionTestRunner,
    ExecutionResult,
    InvocationStatus,
    OperationStatus,
)
from tests.integration.conftest import EmulatorFactory
from tests.integration.emulator import EmulatorHarness, LambdaApiFront
from tests.testing import workflows
from tests.testing.sources import INNER_OPTIONS, ORDER_TESTS, WRONG_EXPECTATION

pytestmark = pytest.mark.interop
pytest_plugins = ["pytester"]
pytest.importorskip("aws_durable_execution_sdk_python_testing.runner")

DEPLOYED = (
    workflows.process_order,
    workflows.declined_order,
    workflows.approval,
    workflows.tour,
)


@contextlib.contextmanager
def deployed(emulator: EmulatorHarness) -> Iterator[LambdaApiFront]:
    """The workflows deployed on ``emulator`` under their names, behind a Lambda API front."""
    for workflow in DEPLOYED:
        emulator.register(
            workflow.name,
            lambda event, context, wf=workflow: handle(
                wf, event, context, boto3_client=emulator.client
            ),
        )
    with LambdaApiFront(emulator) as api:
        yield api


@pytest.fixture
def front(emulator: EmulatorHarness) -> Iterator[LambdaApiFront]:
    with deployed(emulator) as api:
        yield api


def cloud_runner(front: LambdaApiFront, workflow: Any) -> DurableFunctionCloudTestRunner:
    return DurableFunctionCloudTestRunner(
        f"{workflow.name}:$LATEST", endpoint_url=front.url, poll_interval=0.2
    )


def essence(result: ExecutionResult) -> list[tuple[Any, ...]]:
    return [
        (
            op.id,
            op.name,
            op.type,
            op.sub_type,
            op.status,
            op.parent_id,
            op.attempts,
            op.result,
            op.error,
            op.callback_id is not None,
        )
        for op in result.all_operations()
    ]


@pytest.mark.parametrize(
    ("workflow", "input", "skip_time"),
    [
        (workflows.tour, {}, False),
        (workflows.declined_order, {}, True),
        (workflows.process_order, {"order_id": "o-9", "amount": 4}, True),
    ],
    ids=["tour", "declined", "order"],
)
def test_the_cloud_result_is_the_local_result(
    emulator_factory: EmulatorFactory, workflow: Any, input: Any, skip_time: bool
) -> None:
    """Rebuilt from the history, every operation matches the local run's.

    ``tour`` (retries, a wait and polls, all 1-2 s) runs on the emulator's
    real clock: with time skipped, the emulator's timer can fire while the
    invocation that armed it is still returning (emulator.md), and ``tour``
    once stayed RUNNING past its timeout that way in CI.  ``order`` waits 30
    minutes, so it needs the skipped clock."""
    emulator = emulator_factory(skip_time=skip_time)
    with deployed(emulator) as front, cloud_runner(front, workflow) as runner:
        arn = runner.run_async(input, execution_name=f"{workflow.name}-cloud")
        try:
            cloud = runner.wait_for_result(arn, timeout=60)
        except TimeoutError as exc:
            raise AssertionError(f"{exc}\n{emulator.summary(arn)}") from exc
    local = DurableFunctionTestRunner(workflow).run(input)
    assert (cloud.status, cloud.execution_status, cloud.result) == (
        local.status,
        local.execution_status,
        local.result,
    )
    assert (cloud.error is None) == (local.error is None)
    if local.error is not None:
        assert cloud.error is not None and cloud.error.message == local.error.message
    assert essence(cloud) == essence(local)
    assert cloud.invocations >= 1
    assert cloud.history[0]["EventType"] == "ExecutionStarted"


def test_callbacks_are_answered_through_the_service(front: LambdaApiFront) -> None:
    with cloud_runner(front, workflows.approval) as runner:
        arn = runner.run_async({}, execution_name="approval-1")
        callback_id = runner.wait_for_callback(arn, "approval", timeout=10)
        waiting = runner.describe(arn)
        assert waiting.status is InvocationStatus.PENDING
        assert waiting.get_callback("approval").callback_id == callback_id
        runner.send_callback_heartbeat(callback_id)
        runner.send_callback_success(callback_id, {"approved": True})
        result = runner.wait_for_result(arn, timeout=10)
        with pytest.raises(ServiceApiError, match=re.escape(repr(callback_id))) as closed:
            runner.send_callback_success(callback_id, "again")
    assert closed.value.error_code is not None
    assert result.status is InvocationStatus.SUCCEEDED
    assert result.result == {"decision": '{"approved": true}'}
    assert result.get_callback("approval").result == {"approved": True}
    assert [start.execution_name for start in front.starts] == ["approval-1"]


def test_a_failed_callback_fails_the_execution(front: LambdaApiFront) -> None:
    with cloud_runner(front, workflows.approval) as runner:
        arn = runner.run_async({})
        runner.send_callback_failure(
            runner.wait_for_callback(arn, timeout=10), ValueError("refused")
        )
        result = runner.wait_for_result(arn, timeout=10)
    callback = result.get_callback("approval")
    assert callback.status is OperationStatus.FAILED
    assert callback.error is not None and callback.error.message == "refused"
    assert result.status is InvocationStatus.FAILED


def test_waiting_too_long_names_the_execution_and_its_status(front: LambdaApiFront) -> None:
    with cloud_runner(front, workflows.approval) as runner:
        arn = runner.run_async({})
        callback_id = runner.wait_for_callback(arn, timeout=10)
        with pytest.raises(TimeoutError, match=re.escape(f"{arn} of approval:$LATEST")) as late:
            runner.wait_for_result(arn, timeout=0.3)
        assert "last status: RUNNING" in str(late.value)
        with pytest.raises(TimeoutError, match="no callback named 'other' opened"):
            runner.wait_for_callback(arn, "other", timeout=0.3)
        runner.send_callback_success(callback_id, "ok")  # let it end before the emulator stops
        assert runner.wait_for_result(arn, timeout=10).succeeded


def test_unknown_callbacks_are_service_errors(front: LambdaApiFront) -> None:
    with cloud_runner(front, workflows.approval) as runner, pytest.raises(ServiceApiError) as bad:
        runner.send_callback_success("bm90LWEtY2FsbGJhY2s=", "x")
    assert "bm90LWEtY2FsbGJhY2s=" in str(bad.value)
    assert bad.value.error_code is not None


# -- the plugin, in cloud mode ---------------------------------------------------------------


@pytest.fixture
def cloud_environment(front: LambdaApiFront, monkeypatch: pytest.MonkeyPatch) -> None:
    """What a user sets to run their tests against the deployed functions."""
    for name in ("QUALIFIED_FUNCTION_NAME", "LAMBDA_FUNCTION_TEST_NAME", "LAMBDA_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("PYTEST_FUNCTION_NAME_MAP", raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", front.url)


def run_file(pytester: pytest.Pytester, source: str, *args: str) -> pytest.RunResult:
    pytester.makepyfile(test_generated=textwrap.dedent(source))
    return pytester.runpytest_inprocess(*INNER_OPTIONS, *args)


def test_the_same_test_file_passes_in_both_modes(
    pytester: pytest.Pytester, front: LambdaApiFront, cloud_environment: None
) -> None:
    run_file(pytester, ORDER_TESTS, "--runner-mode=cloud").assert_outcomes(passed=3)
    started = sorted(start.function_name for start in front.starts)
    assert started == ["approval", "declined_order", "process_order"]
    run_file(pytester, ORDER_TESTS).assert_outcomes(passed=3)
    assert len(front.starts) == 3  # local mode did not touch the service


def test_a_wrong_expectation_fails_in_cloud_mode_too(
    pytester: pytest.Pytester, front: LambdaApiFront, cloud_environment: None
) -> None:
    result = run_file(pytester, WRONG_EXPECTATION, "--runner-mode=cloud")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*assert *'charged': 25* == *'charged': 99*"])


def test_one_deployed_function_is_selected_by_the_environment(
    pytester: pytest.Pytester,
    front: LambdaApiFront,
    cloud_environment: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("QUALIFIED_FUNCTION_NAME", "approval:$LATEST")
    monkeypatch.setenv("LAMBDA_FUNCTION_TEST_NAME", "approval")
    result = run_file(pytester, ORDER_TESTS, "--runner-mode=cloud")
    result.assert_outcomes(passed=1, skipped=2)
    assert [start.function_name for start in front.starts] == ["approval"]
