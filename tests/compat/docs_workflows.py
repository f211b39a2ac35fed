"""Durable functions written the way the AWS documentation writes them.

Only the import lines name ``durable.compat``; the interoperability tests load
this same source with ``aws_durable_execution_sdk_python`` in their place and
run both versions side by side. Retry strategies use no jitter so that both
SDKs write the same delays.
"""

from __future__ import annotations

import datetime
import decimal
import json
from typing import Any

from durable.compat import (
    CallbackTimeoutError,
    DurableContext,
    InvokeError,
    StepContext,
    StepError,
    WithRetryConfig,
    durable_execution,
    durable_step,
    durable_wait_for_callback,
    durable_with_child_context,
    with_retry,
)
from durable.compat.config import (
    CallbackConfig,
    ChildConfig,
    Duration,
    InvokeConfig,
    StepConfig,
    StepSemantics,
    WaitForCallbackConfig,
)
from durable.compat.retries import (
    JitterStrategy,
    RetryPresets,
    RetryStrategyConfig,
    create_retry_strategy,
)
from durable.compat.serdes import SerDes, SerDesContext
from durable.compat.waits import (
    WaitForConditionConfig,
    WaitForConditionDecision,
    WaitStrategyConfig,
    create_wait_strategy,
)

NO_JITTER = create_retry_strategy(
    RetryStrategyConfig(
        max_attempts=3,
        initial_delay=Duration.from_seconds(2),
        jitter_strategy=JitterStrategy.NONE,
    )
)


# 1. The greeting of the developer guide: a decorated step, a wait, a lambda step.
@durable_step
def greet(step_context: StepContext, name: str) -> dict[str, str]:
    return {"msg": f"Hello {name}"}


@durable_execution
def greeting_handler(event: dict[str, Any], context: DurableContext) -> list[Any]:
    greeting = context.step(greet(event["name"]))
    context.wait(Duration.from_seconds(2), name="pause")
    length = context.step(lambda _: len(greeting["msg"]), name="count")
    return [greeting, length]


# 2. Order processing with a retried charge.
@durable_step
def validate_order(step_context: StepContext, order: dict[str, Any]) -> dict[str, Any]:
    return {"id": order["id"], "amount": order["amount"]}


@durable_step
def charge_card(step_context: StepContext, amount: float) -> str:
    if step_context.attempt < 2:
        raise ConnectionError("payment gateway timed out")
    return f"charged {amount}"


@durable_execution
def order_handler(event: dict[str, Any], context: DurableContext) -> dict[str, Any]:
    order = context.step(validate_order(event))
    receipt = context.step(
        charge_card(order["amount"]), config=StepConfig(retry_strategy=NO_JITTER)
    )
    context.wait(Duration.from_minutes(10), name="fulfilment-window")
    tracking = context.step(lambda _: f"TRACK-{order['id']}", name="ship")
    return {"receipt": receipt, "tracking": tracking}


# 3. A step that fails twice, then succeeds under the linear preset.
@durable_execution
def linear_retry_handler(event: Any, context: DurableContext) -> int:
    def flaky(step_context: StepContext) -> int:
        if step_context.attempt <= 2:
            raise RuntimeError(f"attempt {step_context.attempt} failed")
        return step_context.attempt

    return context.step(
        flaky, name="flaky", config=StepConfig(retry_strategy=RetryPresets.linear())
    )


# 4. An at-most-once step: its START is confirmed before the body runs.
@durable_execution
def at_most_once_handler(event: Any, context: DurableContext) -> str:
    config = StepConfig(
        retry_strategy=RetryPresets.none(),
        step_semantics=StepSemantics.AT_MOST_ONCE_PER_RETRY,
    )
    return context.step(lambda _: "paid once", name="pay", config=config)


# 5. A failed step caught by the handler, which falls back.
@durable_execution
def fallback_handler(event: Any, context: DurableContext) -> dict[str, Any]:
    def lookup(step_context: StepContext) -> str:
        raise KeyError("customer-7")

    try:
        tier = context.step(
            lookup, name="lookup", config=StepConfig(retry_strategy=RetryPresets.none())
        )
    except StepError as error:
        tier = context.step(lambda _: "standard", name="default-tier")
        return {"tier": tier, "because": error.message, "type": error.error_type}
    return {"tier": tier}


# 6. A child context built with the decorator, with a wait inside.
@durable_with_child_context
def reserve(context: DurableContext, trip: str) -> dict[str, str]:
    hotel = context.step(lambda _: f"hotel for {trip}", name="book-hotel")
    context.wait(Duration.from_seconds(30), name="hold")
    car = context.step(lambda _: f"car for {trip}", name="book-car")
    return {"hotel": hotel, "car": car}


@durable_execution
def child_context_handler(event: dict[str, Any], context: DurableContext) -> dict[str, Any]:
    booking = context.run_in_child_context(reserve(event["trip"]))
    confirmation = context.step(lambda _: "confirmed", name="confirm")
    return {"booking": booking, "status": confirmation}


# 7. Child contexts inside child contexts, with custom sub-types.
@durable_execution
def nested_handler(event: Any, context: DurableContext) -> list[int]:
    def inner(ctx: DurableContext) -> int:
        return ctx.step(lambda _: 2, name="inner-step")

    def outer(ctx: DurableContext) -> list[int]:
        first = ctx.step(lambda _: 1, name="outer-step")
        second = ctx.run_in_child_context(inner, name="inner", config=ChildConfig(sub_type="Inner"))
        return [first, second]

    return context.run_in_child_context(outer, name="outer")


# 8. with_retry: several operations per attempt, durable back-off between them.
@durable_execution
def with_retry_handler(event: Any, context: DurableContext) -> str:
    def attempt(ctx: DurableContext, number: int) -> str:
        token = ctx.step(lambda _: f"token-{number}", name=f"fetch-token-{number}")
        if number == 1:
            raise ValueError("token expired")
        return ctx.step(lambda _: f"used {token}", name=f"use-token-{number}")

    return with_retry(
        context,
        attempt,
        WithRetryConfig(retry_strategy=NO_JITTER),
        name="refresh",
    )


# 9. A custom serializer for one step.
class UpperCaseJson(SerDes[dict[str, str]]):
    def serialize(self, value: dict[str, str], serdes_context: SerDesContext) -> str:
        return json.dumps({k: v.upper() for k, v in value.items()})

    def deserialize(self, data: str, serdes_context: SerDesContext) -> dict[str, str]:
        return json.loads(data)  # type: ignore[no-any-return]


@durable_execution
def custom_serdes_handler(event: Any, context: DurableContext) -> dict[str, str]:
    return context.step(
        lambda _: {"name": "ada"}, name="profile", config=StepConfig(serdes=UpperCaseJson())
    )


# 10. Replay-safe logging from the handler and from a step.
@durable_execution
def logging_handler(event: Any, context: DurableContext) -> str:
    context.logger.info("starting %s", "logging_handler")

    def noisy(step_context: StepContext) -> str:
        step_context.logger.info("inside the step, attempt %d", step_context.attempt)
        return "logged"

    result = context.step(noisy, name="noisy")
    context.wait(Duration.from_seconds(5), name="settle")
    context.logger.info("finished with %s", result)
    return result


# 11. Values the JSON serializer alone could not carry.
@durable_execution
def typed_values_handler(event: Any, context: DurableContext) -> list[str]:
    stamp = context.step(
        lambda _: datetime.datetime(2025, 5, 1, 12, 30, tzinfo=datetime.UTC), name="when"
    )
    price = context.step(lambda _: decimal.Decimal("42.50"), name="price")
    pair = context.step(lambda _: ("sku-1", 3), name="pair")
    return [stamp.isoformat(), str(price), pair[0]]


# 12. Custom step sub-types, and a handler that fails after its steps.
@durable_execution
def failing_handler(event: Any, context: DurableContext) -> None:
    context.step(lambda _: "audit", name="audit", config=StepConfig(sub_type="Audit"))
    raise ValueError("refusing to continue")


# 13. Polling with wait_for_condition.
@durable_execution
def polling_handler(event: Any, context: DurableContext) -> dict[str, int]:
    def check(state: dict[str, int], check_context: Any) -> dict[str, int]:
        return {"progress": state["progress"] + 40}

    strategy = create_wait_strategy(
        WaitStrategyConfig(
            should_continue_polling=lambda state: state["progress"] < 100,
            max_attempts=10,
            initial_delay=Duration.from_seconds(5),
            jitter_strategy=JitterStrategy.NONE,
        )
    )
    return context.wait_for_condition(
        check,
        config=WaitForConditionConfig(wait_strategy=strategy, initial_state={"progress": 0}),
        name="progress",
    )


# 14. A hand-written wait strategy: poll every 2 seconds until "ready".
@durable_execution
def custom_strategy_handler(event: Any, context: DurableContext) -> str:
    def strategy(state: str, attempt: int) -> WaitForConditionDecision:
        if state == "ready":
            return WaitForConditionDecision.stop_polling()
        return WaitForConditionDecision.continue_waiting(Duration.from_seconds(2))

    return context.wait_for_condition(
        lambda state, _: "ready" if state == "warming" else "warming",
        config=WaitForConditionConfig(wait_strategy=strategy, initial_state="cold"),
    )


HANDLERS: dict[str, tuple[Any, Any]] = {
    "greeting": (greeting_handler, {"name": "Ada"}),
    "order": (order_handler, {"id": "o-9", "amount": 12.5}),
    "linear-retry": (linear_retry_handler, None),
    "at-most-once": (at_most_once_handler, None),
    "fallback": (fallback_handler, None),
    "child-context": (child_context_handler, {"trip": "Lisbon"}),
    "nested": (nested_handler, None),
    "with-retry": (with_retry_handler, None),
    "custom-serdes": (custom_serdes_handler, None),
    "logging": (logging_handler, None),
    "typed-values": (typed_values_handler, None),
    "failing": (failing_handler, None),
    "polling": (polling_handler, None),
    "custom-strategy": (custom_strategy_handler, None),
}

EXPECTED: dict[str, Any] = {
    "greeting": [{"msg": "Hello Ada"}, 9],
    "order": {"receipt": "charged 12.5", "tracking": "TRACK-o-9"},
    "linear-retry": 3,
    "at-most-once": "paid once",
    "fallback": {"tier": "standard", "because": "'customer-7'", "type": "KeyError"},
    "child-context": {
        "booking": {"hotel": "hotel for Lisbon", "car": "car for Lisbon"},
        "status": "confirmed",
    },
    "nested": [1, 2],
    "with-retry": "used token-2",
    "custom-serdes": {"name": "ADA"},
    "logging": "logged",
    "typed-values": ["2025-05-01T12:30:00+00:00", "42.50", "sku-1"],
    "failing": None,
    "polling": {"progress": 120},
    "custom-strategy": "ready",
}


# -- Workflows that talk to the outside world (answered by the tests) --------


# 15. A callback with a timeout, answered by an approver.
@durable_execution
def approval_handler(event: dict[str, Any], context: DurableContext) -> str:
    callback = context.create_callback(
        name="approval", config=CallbackConfig(timeout=Duration.from_hours(2))
    )
    context.step(lambda _: f"mail {callback.callback_id}", name="notify")
    try:
        return callback.result()
    except CallbackTimeoutError:
        return "expired"


# 16. wait_for_callback with a decorated submitter.
SUBMITTED: list[str] = []


@durable_wait_for_callback
def request_signature(callback_id: str, context: Any, document: str) -> None:
    SUBMITTED.append(callback_id)


@durable_execution
def signature_handler(event: dict[str, Any], context: DurableContext) -> Any:
    return context.wait_for_callback(
        request_signature(event["document"]),
        config=WaitForCallbackConfig(timeout=Duration.from_days(7)),
    )


# 17. A chained invoke of another function, failures handled.
@durable_execution
def invoke_handler(event: dict[str, Any], context: DurableContext) -> dict[str, Any]:
    price = context.invoke("pricing", {"sku": event["sku"]}, name="price")
    try:
        context.invoke("missing-function", None, name="missing", config=InvokeConfig())
        missing = "found"
    except InvokeError as error:
        missing = error.error_type or "?"
    return {"price": price, "missing": missing}
