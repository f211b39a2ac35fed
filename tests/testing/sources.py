"""Test files the plugin tests write and run with pytester, in local and in cloud mode.

The same text runs in both modes: that is the point of the plugin.
"""

#: Options of every inner run. Hypothesis's plugin imports hypothesis at the end of a
#: session, and pytester forgets modules an inner run imported: a second each, saved.
INNER_OPTIONS = ("--strict-markers", "-p", "no:cacheprovider", "-p", "no:hypothesispytest")

#: The user's example: passes in local mode and, against the emulator, in cloud mode.
ORDER_TESTS = """
import pytest
from durable.testing import InvocationStatus, OperationStatus
from tests.testing.workflows import approval, declined_order, process_order


@pytest.mark.durable_execution(handler=process_order, lambda_function_name="process_order")
def test_order(durable_runner):
    with durable_runner:
        result = durable_runner.run(input={"order_id": "o-1", "amount": 25}, timeout=10)
    assert result.status is InvocationStatus.SUCCEEDED
    assert result.get_step("charge").result == {"order_id": "o-1", "charged": 25}
    assert result.get_wait("cool-off").status is OperationStatus.SUCCEEDED
    assert result.result["receipt"] == "receipt-o-1"


@pytest.mark.durable_execution(handler=declined_order, lambda_function_name="declined_order")
def test_declined(durable_runner):
    with durable_runner:
        result = durable_runner.run(input={}, timeout=10)
    assert result.status is InvocationStatus.FAILED
    assert result.get_step("charge").error.message == "card expired"
    assert [op.name for op in result.failed_operations()] == ["charge"]


@pytest.mark.durable_execution(handler=approval, lambda_function_name="approval")
def test_approval(durable_runner):
    with durable_runner:
        arn = durable_runner.run_async(input={}, timeout=10)
        callback_id = durable_runner.wait_for_callback(arn, "approval", timeout=10)
        durable_runner.send_callback_success(callback_id, {"approved": True})
        result = durable_runner.wait_for_result(arn, timeout=10)
    assert result.status is InvocationStatus.SUCCEEDED
    assert result.result == {"decision": '{"approved": true}'}
"""

#: A test whose expectation is wrong: it must fail, showing why.
WRONG_EXPECTATION = """
import pytest
from tests.testing.workflows import process_order


@pytest.mark.durable_execution(handler=process_order, lambda_function_name="process_order")
def test_order_charges_too_much(durable_runner):
    with durable_runner:
        result = durable_runner.run(input={"order_id": "o-1", "amount": 25}, timeout=10)
    assert result.get_step("charge").result == {"order_id": "o-1", "charged": 99}
"""
