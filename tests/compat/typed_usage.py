"""Checked by mypy --strict in test_typing.py: the imperative API infers result types.

Not a test module itself (no test functions); it only has to type-check.
"""

from __future__ import annotations

from typing import assert_type

from durable.compat import DurableContext, StepContext, durable_execution, durable_step
from durable.compat.config import Duration, StepConfig


@durable_step
def price(step_context: StepContext, sku: str, quantity: int) -> float:
    return 9.5 * quantity


def label(step_context: StepContext) -> str:
    return "label"


def child(context: DurableContext) -> list[int]:
    return [context.step(lambda _: 1, name="one")]


@durable_execution
def handler(event: dict[str, str], context: DurableContext) -> dict[str, object]:
    total = context.step(price("sku-1", 3))
    assert_type(total, float)
    text = context.step(label, name="label", config=StepConfig())
    assert_type(text, str)
    numbers = context.run_in_child_context(child, name="child")
    assert_type(numbers, list[int])
    context.wait(Duration.from_seconds(5))
    context.logger.info("done")
    return {"total": total, "text": text, "numbers": numbers}
