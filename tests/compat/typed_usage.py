"""Checked by mypy --strict in test_typing.py: the imperative API infers result types.

Not a test module itself (no test functions); it only has to type-check.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import assert_type

from durable.compat import (
    BatchResult,
    DurableContext,
    StepContext,
    durable_execution,
    durable_step,
)
from durable.compat.config import Duration, MapConfig, StepConfig


@durable_step
def price(step_context: StepContext, sku: str, quantity: int) -> float:
    return 9.5 * quantity


def label(step_context: StepContext) -> str:
    return "label"


def child(context: DurableContext) -> list[int]:
    return [context.step(lambda _: 1, name="one")]


def square(context: DurableContext, item: int, index: int, items: Sequence[int]) -> int:
    return context.step(lambda _: item * item, name=f"square-{index}")


def fetch_a(context: DurableContext) -> str:
    return "a"


@durable_execution
def handler(event: dict[str, str], context: DurableContext) -> dict[str, object]:
    total = context.step(price("sku-1", 3))
    assert_type(total, float)
    text = context.step(label, name="label", config=StepConfig())
    assert_type(text, str)
    numbers = context.run_in_child_context(child, name="child")
    assert_type(numbers, list[int])
    squares = context.map([1, 2, 3], square, name="squares", config=MapConfig(max_concurrency=2))
    assert_type(squares, BatchResult[int])
    fetched = context.parallel([fetch_a, fetch_a], name="fetch")
    assert_type(fetched, BatchResult[str])
    context.wait(Duration.from_seconds(5))
    context.logger.info("done")
    return {
        "total": total,
        "text": text,
        "numbers": numbers,
        "squares": squares.get_results(),
        "fetched": fetched.get_results(),
    }
