"""Inspecting an ExecutionResult: operations by name, type, status; children; attempts; errors."""

from __future__ import annotations

import re

import pytest

from durable.testing import (
    DurableFunctionTestRunner,
    ExecutionResult,
    OperationStatus,
    OperationType,
)
from tests.testing.workflows import tour


@pytest.fixture(scope="module")
def result() -> ExecutionResult:
    return DurableFunctionTestRunner(tour).run({})


def test_operations_by_type_accept_enum_members_and_wire_values(result: ExecutionResult) -> None:
    steps = result.get_operations(type=OperationType.STEP)
    assert steps == result.get_operations(type="STEP")
    # wait_for_condition is a STEP too (subtype WaitForCondition)
    assert [op.name for op in steps] == ["flaky", "declined", "seven", "square", "square", "poll"]
    assert result.get_operation("poll").sub_type == "WaitForCondition"
    contexts = {op.name for op in result.get_operations(type="CONTEXT")}
    assert {"child", "squares", "map-item-0", "map-item-1", "both"} <= contexts


def test_operations_by_name_type_and_status_combine(result: ExecutionResult) -> None:
    squares = result.get_operations("square")
    assert [op.result for op in squares] == [4, 9]
    assert [result.get_operation_by_id(op.parent_id or "").name for op in squares] == [
        "map-item-0",
        "map-item-1",
    ]
    failed_steps = result.get_operations(type="STEP", status=OperationStatus.FAILED)
    assert [op.name for op in failed_steps] == ["declined"]
    assert result.get_operations("square", status="FAILED") == []


def test_unknown_type_or_status_names_the_valid_ones(result: ExecutionResult) -> None:
    with pytest.raises(ValueError, match=r"unknown operation type 'STAP'.*STEP"):
        result.get_operations(type="STAP")
    with pytest.raises(ValueError, match=r"unknown operation status 'DONE'.*SUCCEEDED"):
        result.get_operations(status="DONE")


def test_operation_by_id(result: ExecutionResult) -> None:
    flaky = result.get_step("flaky")
    assert result.get_operation_by_id(flaky.id) is flaky
    expected = re.escape(f"no operation has the id 'nope' in execution {result.arn}")
    with pytest.raises(KeyError, match=expected):
        result.get_operation_by_id("nope")


def test_attempts_and_errors(result: ExecutionResult) -> None:
    flaky = result.get_step("flaky")
    assert (flaky.attempts, flaky.result, flaky.succeeded, flaky.failed) == (
        3,
        {"attempt": 3},
        True,
        False,
    )
    failures = result.failed_operations()
    assert [op.name for op in failures] == ["declined"]
    declined = failures[0]
    assert declined.failed and declined.is_terminal and not declined.succeeded
    assert declined.error is not None
    assert declined.error.message == "card expired"
    assert declined.attempts == 1
    # wait_for_condition counts its checks as attempts
    assert result.get_operation("poll").attempts == 3


def test_children_are_searched_below_an_operation(result: ExecutionResult) -> None:
    squares = result.get_context("squares")
    assert [child.name for child in squares.children] == ["map-item-0", "map-item-1"]
    assert [op.name for op in squares.descendants()] == [
        "map-item-0",
        "square",
        "map-item-1",
        "square",
    ]
    second = squares.get_child("map-item-1")
    assert second.get_step("square").result == 9
    assert squares.get_step("square").result == 4  # the first one below, depth first
    assert [op.result for op in squares.get_operations(type="STEP")] == [4, 9]
    assert result.get_context("child").get_step("seven").result == 7
    branch = result.get_context("both").get_child("parallel-branch-1", type="CONTEXT")
    assert branch.result == "right"


def test_lookups_that_find_nothing_say_what_exists(result: ExecutionResult) -> None:
    squares = result.get_context("squares")
    with pytest.raises(KeyError, match=r"directly under 'squares' \(id .*map-item-0 \(CONTEXT\)"):
        squares.get_child("square")
    with pytest.raises(KeyError, match=r"of type WAIT under 'squares'.*square \(STEP\)"):
        squares.get_wait("square")
    child = result.get_context("child")
    with pytest.raises(KeyError, match="no operation named 'eight'"):
        child.get_step("eight")
    with pytest.raises(KeyError):
        child.get_callback("seven")
    with pytest.raises(KeyError):
        child.get_invoke("seven")
    with pytest.raises(KeyError):
        child.get_context("seven")


def test_labels_name_the_operation_and_its_id(result: ExecutionResult) -> None:
    flaky = result.get_step("flaky")
    assert flaky.label == f"'flaky' (id {flaky.id})"
